/*
 * ipc_nt.h — what the two files of the NT backend (ipc_nt.c: the section, its
 * backing, liveness and memory; ipc_nt_sync.c: the Mutant and Events, security, clocks,
 * identities, per-thread errors) share. Internal: not installed.
 */
#ifndef MBVIPC_IPC_NT_H
#define MBVIPC_IPC_NT_H

#include "ipc_platform.h"
#include "ipcscope_section.h"
#include "nt.h"

#define NT_MAX_OBJECT (64ull * 1024 * 1024)
#define NT_NAME_MAX 200

struct ipc_plat {
    HANDLE file, section, mutex, request, response, server;
    void *base;
    uint64_t size;
    uint64_t file_id;       /* FileInternalInformation of our file: the inode under Wine */
    int file_backed;
    int locked;             /* we hold the liveness lock (file lock or .server mutant) */
    int unlink_at_close;    /* the file could not be deleted while mapped: delete it in ipc_plat_close */
    uint32_t os_error;      /* last NTSTATUS */
    char service[IPCSCOPE_NAME_MAX + 1];
    /* the creator-only security descriptor, built on demand */
    uint8_t sd[SECURITY_DESCRIPTOR_MIN_LENGTH];
    uint8_t acl[128];
    uint8_t user[128];
};

#define OBJECTS_DIR "\\BaseNamedObjects\\"
#define FILES_DIR "\\??\\Z:\\dev\\shm\\"

/* Records `st` as the last system code and returns `code`. */
int nt_fail(struct ipc_plat *p, NTSTATUS st, int code);
/* Maps an NTSTATUS to the seam's codes (and records it). */
int nt_status(struct ipc_plat *p, NTSTATUS st);
/* "<prefix>ipcscope.<service><suffix>" as UTF-16 in `out` (NT_NAME_MAX units), described by `u`. */
void nt_object_name(WCHAR_NT *out, const char *prefix, const char *service, const char *suffix, UNICODE_STRING *u);
/* Keeps the service name in p->service. */
void nt_remember(struct ipc_plat *p, const char *service);
/* A relative NT timeout (negative 100 ns units) of `ns`. */
int64_t nt_relative_timeout(uint64_t ns);
void nt_zero(void *p, size_t n);
/* The process user's SID (stored in p->user), or NULL. */
void *nt_token_user(struct ipc_plat *p);
/* The creator-only descriptor (in p), or NULL when `mode` has group or other bits. */
void *nt_creator_only(struct ipc_plat *p, uint32_t mode);
/* Creates or opens the Mutant ".mutex" and the Events ".request" and ".response". */
int nt_open_objects(struct ipc_plat *p, void *sd);

#endif /* MBVIPC_IPC_NT_H */
