/*
 * agent_core.h — the portable core of mbvipc-agent (agent_core.c): framing, the bounded
 * decoding of every request, the snapshot (deltas, re-reads, pid roles) and the request
 * loop, written once for both agents. What differs per system is the platform part below,
 * implemented by agent_posix.c (Linux: /dev/shm, /proc, libc) and agent_nt.c (Windows NT:
 * named Sections, ntdll only, no C runtime). The fuzz target fuzz/agent_frames.c implements
 * it over memory.
 *
 * The core calls no C runtime function but memcpy/memset/memcmp/strlen/strcmp (nt_start.c
 * provides them without one) and allocates through ipc_plat_alloc/ipc_plat_free.
 */
#ifndef MBV_AGENT_CORE_H
#define MBV_AGENT_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "agent_protocol.h"

/* MARK: - options (set by the platform's main before agent_serve) */

struct agent_options {
    int allow_calls;
    int idle_timeout_ms;   /* no request for this long: exit (default 600 s) */
    int frame_timeout_ms;  /* a started frame must finish within this (default 10 s) */
};
extern struct agent_options agent_opt;

/* MARK: - payloads */

struct agent_out {
    uint8_t *data;
    size_t len, cap;
    int failed; /* out of memory or over AGENT_MAX_PAYLOAD */
};
void agent_put(struct agent_out *o, const void *p, size_t n);
void agent_put_u8(struct agent_out *o, uint8_t v);
void agent_put_u16(struct agent_out *o, uint16_t v);
void agent_put_u32(struct agent_out *o, uint32_t v);
void agent_put_u64(struct agent_out *o, uint64_t v);
/* A u16-length string, cut at AGENT_MAX_STRING. */
void agent_put_str(struct agent_out *o, const void *s, size_t n);
void agent_put_cstr(struct agent_out *o, const char *s);
/* Writes v at `at` (a count reserved earlier with agent_put_u32). */
void agent_patch_u32(struct agent_out *o, size_t at, uint32_t v);

/* A message for a person: %s, %u, %d, %x (with a width and 0 padding), %llu; always
 * NUL-terminated, cut at cap - 1. Returns the length written. */
size_t agent_fmt(char *buf, size_t cap, const char *format, ...);

/* MARK: - what the platform part provides */

/* Reads up to n bytes of the request stream, waiting at most timeout_ms (< 0: forever).
 * Returns the count (> 0), 0 at the end of the stream, -1 on an error, -2 on a timeout. */
long agent_plat_read(uint8_t *buf, size_t n, int timeout_ms);
/* Writes all n bytes to the answer stream within timeout_ms; 0, or -1 when it cannot. */
int agent_plat_write(const uint8_t *buf, size_t n, int timeout_ms);

struct agent_host {
    char host[256];
    char os[256];
    uint32_t ticks_per_second; /* the unit of a pid fact's start time */
    uint32_t uid;
};
void agent_plat_host(struct agent_host *h);

/* LIST: appends the entries (string name after "ipcscope.", u8 kind, u64 size, u32 uid,
 * u32 mode, u64 age) to o and sets *count; or returns an error code with `msg` set. */
uint32_t agent_plat_list(struct agent_out *o, uint32_t *count, char *msg, size_t cap);

/* The object of a snapshot, as the platform found it. */
struct agent_object {
    uint64_t size;
    uint32_t uid, mode;
    int held;               /* a server holds the liveness lock or Mutant */
    int reopened;           /* another object than the previous snapshot's (send it whole) */
    uint64_t boot_minus_mono;
    int32_t extra_pid;      /* a pid the platform knows beside the section's bytes (0: none) */
    uint32_t extra_roles;
};
/* Opens (or keeps) the object `name` (already checked as a service name) and reads its
 * facts; 0, or an error code with `msg` set (the core then calls agent_plat_close). */
uint32_t agent_plat_open(const char *name, struct agent_object *obj, char *msg, size_t cap);
/* Copies up to n bytes at `off` of the open object; returns how many. */
size_t agent_plat_pread(uint8_t *buf, size_t n, uint64_t off);
/* The snapshot is done (keep: the object may be kept for the next one). */
void agent_plat_release(int keep);
/* Appends a pid fact's u8 state, u64 start time, string command and string command line. */
void agent_plat_pid_fact(struct agent_out *o, int32_t pid, uint32_t roles);
/* A call as an ordinary client; 0, or an error code with `msg` set. */
uint32_t agent_plat_call(const char *name, uint32_t function, uint32_t timeout_ms, const uint8_t *request,
                         uint16_t size, int32_t *status, uint8_t *response, uint16_t *response_size, char *msg,
                         size_t cap);
extern const char *const agent_build;

/* A call as an ordinary client of the C library (MBV_IPCConnectA, MBV_IPCCallTimeout): what
 * both agents' agent_plat_call do. */
uint32_t agent_client_call(const char *name, uint32_t function, uint32_t timeout_ms, const uint8_t *request,
                           uint16_t size, int32_t *status, uint8_t *response, uint16_t *response_size, char *msg,
                           size_t cap);

/* MARK: - the core */

/* Serves requests until the stream ends (0), BYE (0), or a fatal frame error (1). */
int agent_serve(void);
/* Forgets what the last snapshot sent (for tests and the fuzz target between inputs). */
void agent_reset(void);

#endif /* MBV_AGENT_CORE_H */
