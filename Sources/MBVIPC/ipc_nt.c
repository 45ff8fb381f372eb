/*
 * ipc_nt.c — the Windows NT backend of libmbvipc (see ipc_platform.h), on the
 * native API of ntdll.dll alone: no Win32 call, no C runtime call.
 *
 * The section holds the same bytes as on Linux. What Linux keeps inside the
 * object, NT keeps in named objects beside it under \BaseNamedObjects\: the
 * Section "ipcscope.<service>", the Mutant "<...>.mutex" (the client mutex; an
 * abandoned mutant is the EOWNERDEAD case, the pthread bytes at 128 stay zero),
 * and the auto-reset Events "<...>.request" and "<...>.response". The event
 * counters and waiting words in the section are still kept by the core.
 *
 * Backing. File-backed by \??\Z:\dev\shm\ipcscope.<service> when that folder
 * exists (under Wine it is Linux's /dev/shm, so `ipcscope` on Linux sees the
 * very same pages); liveness is then an exclusive NtLockFile on byte 0, which
 * Wine turns into a POSIX write lock that F_OFD_GETLK sees. Otherwise the
 * section is backed by the paging file and liveness is the Mutant
 * "<...>.server", held by the thread that created or took over the section.
 * MBVIPC_NT_BACKING=file or =section in the environment forces one of them.
 *
 * Security: objects get a descriptor that grants everything to the creating
 * user and nothing to anyone else, unless the mode asked for has group or
 * other bits (then the default descriptor of the process applies).
 */
#if defined(_WIN32) /* SwiftPM on Linux sees this folder too: the file is empty there */
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

/* MARK: - small helpers (no C runtime) */

static size_t c_len(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void zero(void *p, size_t n) {
    volatile uint8_t *b = (volatile uint8_t *)p;
    while (n--) *b++ = 0;
}

static int fail(struct ipc_plat *p, NTSTATUS st, int code) {
    if (p) p->os_error = (uint32_t)st;
    return code;
}

/* Maps an NTSTATUS to the seam's codes. */
static int status(struct ipc_plat *p, NTSTATUS st) {
    switch (st) {
    case STATUS_SUCCESS: return fail(p, st, IPC_PLAT_OK);
    case STATUS_OBJECT_NAME_COLLISION: return fail(p, st, IPC_PLAT_EXISTS);
    case STATUS_OBJECT_NAME_NOT_FOUND:
    case STATUS_OBJECT_PATH_NOT_FOUND:
    case STATUS_NO_SUCH_FILE:
    case STATUS_DELETE_PENDING: return fail(p, st, IPC_PLAT_NOENT);
    case STATUS_LOCK_NOT_GRANTED:
    case STATUS_FILE_LOCK_CONFLICT:
    case STATUS_SHARING_VIOLATION: return fail(p, st, IPC_PLAT_BUSY);
    case STATUS_TIMEOUT: return fail(p, st, IPC_PLAT_TIMEDOUT);
    case STATUS_ABANDONED: return fail(p, st, IPC_PLAT_OWNERDEAD);
    case STATUS_ACCESS_DENIED: return fail(p, st, IPC_PLAT_ACCESS);
    case STATUS_OBJECT_NAME_INVALID:
    case STATUS_OBJECT_TYPE_MISMATCH:
    case STATUS_INVALID_PARAMETER:
    case STATUS_FILE_IS_A_DIRECTORY:
    case STATUS_MAPPED_FILE_SIZE_ZERO: return fail(p, st, IPC_PLAT_INVALID);
    case STATUS_NO_MEMORY:
    case STATUS_SECTION_TOO_BIG: return fail(p, st, IPC_PLAT_NOMEM);
    default: return fail(p, st, NT_SUCCESS(st) ? IPC_PLAT_OK : IPC_PLAT_IO);
    }
}

/* Builds "<prefix>ipcscope.<service><suffix>" as UTF-16 into `out` (the service
 * is already validated ASCII). */
static void nt_name(WCHAR_NT *out, const char *prefix, const char *service, const char *suffix,
                    UNICODE_STRING *u) {
    size_t n = 0;
    const char *parts[4] = {prefix, "ipcscope.", service, suffix};
    for (int i = 0; i < 4; i++)
        for (const char *c = parts[i]; *c && n < NT_NAME_MAX - 1; c++) out[n++] = (WCHAR_NT)(uint8_t)*c;
    out[n] = 0;
    u->Buffer = out;
    u->Length = (uint16_t)(n * 2);
    u->MaximumLength = (uint16_t)(n * 2 + 2);
}

#define OBJECTS_DIR "\\BaseNamedObjects\\"
#define FILES_DIR "\\??\\Z:\\dev\\shm\\"

static void remember(struct ipc_plat *p, const char *service) {
    size_t n = c_len(service);
    if (n > IPCSCOPE_NAME_MAX) n = IPCSCOPE_NAME_MAX;
    for (size_t i = 0; i < n; i++) p->service[i] = service[i];
    p->service[n] = 0;
}

static int64_t relative_timeout(uint64_t ns) {
    uint64_t ticks = ns / 100;
    if (ticks > (uint64_t)INT64_MAX) ticks = (uint64_t)INT64_MAX;
    return -(int64_t)ticks;
}

/* MARK: - security: the creating user only */

/* The process token's user SID, copied into p->user. */
static void *token_user(struct ipc_plat *p) {
    HANDLE token = 0;
    uint32_t got = 0;
    if (!NT_SUCCESS(NtOpenProcessToken(NtCurrentProcess(), TOKEN_QUERY, &token))) return 0;
    NTSTATUS st = NtQueryInformationToken(token, TokenUser, p->user, sizeof p->user, &got);
    NtClose(token);
    if (!NT_SUCCESS(st)) return 0;
    return ((TOKEN_USER *)(void *)p->user)->User.Sid;
}

/* A descriptor that grants GENERIC_ALL to the creating user only, or NULL (the
 * process default) when `mode` opens the object to group or others. */
static void *creator_only(struct ipc_plat *p, uint32_t mode) {
    if (mode & 077) return 0;
    void *sid = token_user(p);
    if (!sid) return 0;
    NT_ACL *acl = (NT_ACL *)(void *)p->acl;
    if (!NT_SUCCESS(RtlCreateSecurityDescriptor(p->sd, SECURITY_DESCRIPTOR_REVISION)) ||
        !NT_SUCCESS(RtlCreateAcl(acl, sizeof p->acl, ACL_REVISION)) ||
        !NT_SUCCESS(RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, sid)) ||
        !NT_SUCCESS(RtlSetDaclSecurityDescriptor(p->sd, 1, acl, 0)) ||
        !NT_SUCCESS(RtlSetOwnerSecurityDescriptor(p->sd, sid, 0)))
        return 0;
    return p->sd;
}

/* MARK: - backing choice */

static int file_backing_wanted(void) {
    static const WCHAR_NT var[] = {'M','B','V','I','P','C','_','N','T','_','B','A','C','K','I','N','G',0};
    WCHAR_NT buf[16];
    UNICODE_STRING name, value = {0, sizeof buf, buf};
    RtlInitUnicodeString(&name, var);
    if (NT_SUCCESS(RtlQueryEnvironmentVariable_U(0, &name, &value)) && value.Length >= 2)
        return buf[0] == 'f' || buf[0] == 'F';  /* "file"; anything else ("section") is the paging file */
    /* Default: file-backed when Z:\dev\shm exists (Wine on Linux). */
    static const WCHAR_NT dir[] = {'\\','?','?','\\','Z',':','\\','d','e','v','\\','s','h','m',0};
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    IO_STATUS_BLOCK io;
    HANDLE h = 0;
    RtlInitUnicodeString(&u, dir);
    nt_init_attributes(&oa, &u, OBJ_CASE_INSENSITIVE, 0);
    if (!NT_SUCCESS(NtCreateFile(&h, FILE_READ_ATTRIBUTES | SYNCHRONIZE, &oa, &io, 0, 0,
                                 FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, FILE_OPEN,
                                 FILE_SYNCHRONOUS_IO_NONALERT, 0, 0)))
        return 0;
    NtClose(h);
    return 1;
}

/* MARK: - lifetime */

static void *process_heap(void) { return nt_current_teb()->ProcessEnvironmentBlock->ProcessHeap; }

void *ipc_plat_alloc(size_t size) { return RtlAllocateHeap(process_heap(), HEAP_ZERO_MEMORY, size ? size : 1); }
void ipc_plat_free(void *ptr) {
    if (ptr) RtlFreeHeap(process_heap(), 0, ptr);
}

struct ipc_plat *ipc_plat_new(void) { return (struct ipc_plat *)ipc_plat_alloc(sizeof(struct ipc_plat)); }

static void close_handle(HANDLE *h) {
    if (*h) NtClose(*h);
    *h = 0;
}

static NTSTATUS delete_if_ours(struct ipc_plat *p, const char *service);

void ipc_plat_close(struct ipc_plat *p) {
    if (!p) return;
    if (p->base) NtUnmapViewOfSection(NtCurrentProcess(), p->base);
    if (p->locked && p->server) NtReleaseMutant(p->server, 0);
    /* Closing the file handle drops its byte-range lock. */
    close_handle(&p->section);
    close_handle(&p->file);
    close_handle(&p->mutex);
    close_handle(&p->request);
    close_handle(&p->response);
    close_handle(&p->server);
    if (p->unlink_at_close) delete_if_ours(p, p->service);
    ipc_plat_free(p);
}

uint32_t ipc_plat_os_error(const struct ipc_plat *p) { return p ? p->os_error : 0; }

/* MARK: - the object */

static NTSTATUS open_file(struct ipc_plat *p, const char *service, int writable, uint32_t disposition,
                          void *sd) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    IO_STATUS_BLOCK io;
    nt_name(buf, FILES_DIR, service, "", &u);
    nt_init_attributes(&oa, &u, OBJ_CASE_INSENSITIVE, sd);
    ACCESS_MASK access = FILE_READ_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE;
    if (writable) access |= FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES;
    return NtCreateFile(&p->file, access, &oa, &io, 0, FILE_ATTRIBUTE_NORMAL,
                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, disposition,
                        FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT, 0, 0);
}

static uint64_t file_id(HANDLE file) {
    IO_STATUS_BLOCK io;
    FILE_INTERNAL_INFORMATION info;
    if (!NT_SUCCESS(NtQueryInformationFile(file, &io, &info, sizeof info, FileInternalInformation))) return 0;
    return (uint64_t)info.IndexNumber.QuadPart;
}

/* Exclusive (or, to probe, shared) lock on byte 0, never waiting. Wine refuses
 * an I/O status block here (STATUS_NOT_IMPLEMENTED); Windows wants one. */
static NTSTATUS lock_byte0(HANDLE file, int exclusive) {
    IO_STATUS_BLOCK io;
    LARGE_INTEGER off, len;
    off.QuadPart = 0;
    len.QuadPart = 1;
    NTSTATUS st = NtLockFile(file, 0, 0, 0, &io, &off, &len, 0, 1, (uint8_t)exclusive);
    if (st == STATUS_NOT_IMPLEMENTED) st = NtLockFile(file, 0, 0, 0, 0, &off, &len, 0, 1, (uint8_t)exclusive);
    return st;
}

static NTSTATUS unlock_byte0(HANDLE file) {
    IO_STATUS_BLOCK io;
    LARGE_INTEGER off, len;
    off.QuadPart = 0;
    len.QuadPart = 1;
    return NtUnlockFile(file, &io, &off, &len, 0);
}

static NTSTATUS map_section(struct ipc_plat *p, int writable, uint64_t size, void **base, uint64_t *mapped) {
    size_t view = 0;
    void *b = 0;
    NTSTATUS st = NtMapViewOfSection(p->section, NtCurrentProcess(), &b, 0, 0, 0, &view, ViewUnmap, 0,
                                     writable ? PAGE_READWRITE : PAGE_READONLY);
    if (!NT_SUCCESS(st)) return st;
    if (view < size) {
        NtUnmapViewOfSection(NtCurrentProcess(), b);
        return STATUS_SECTION_TOO_BIG;
    }
    p->base = b;
    p->size = size;
    *base = b;
    *mapped = size;
    return STATUS_SUCCESS;
}

/* A section over p->file (named when `name` is set, so NT clients may open it). */
static NTSTATUS section_over_file(struct ipc_plat *p, int writable, uint64_t size, UNICODE_STRING *name, void *sd) {
    OBJECT_ATTRIBUTES oa;
    LARGE_INTEGER max;
    max.QuadPart = (int64_t)size;
    nt_init_attributes(&oa, name, name ? OBJ_OPENIF : 0, sd);
    return NtCreateSection(&p->section, writable ? SECTION_ALL_ACCESS : SECTION_QUERY | SECTION_MAP_READ, &oa, &max,
                           writable ? PAGE_READWRITE : PAGE_READONLY, SEC_COMMIT, p->file);
}

static int undo_create(struct ipc_plat *p, NTSTATUS st) {
    if (p->file_backed && p->file) {
        IO_STATUS_BLOCK io;
        FILE_DISPOSITION_INFORMATION del = {1};
        NtSetInformationFile(p->file, &io, &del, sizeof del, FileDispositionInformation);
    }
    if (p->base) NtUnmapViewOfSection(NtCurrentProcess(), p->base);
    p->base = 0;
    close_handle(&p->section);
    close_handle(&p->file);
    close_handle(&p->server);
    p->locked = 0;
    return status(p, st);
}

/* The liveness Mutant "<...>.server" of a paging-file section, taken now. */
static NTSTATUS take_server_mutant(struct ipc_plat *p, void *sd) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    LARGE_INTEGER now;
    nt_name(buf, OBJECTS_DIR, p->service, ".server", &u);
    nt_init_attributes(&oa, &u, OBJ_OPENIF, sd);
    if (!p->server) {
        NTSTATUS st = NtCreateMutant(&p->server, MUTANT_ALL_ACCESS, &oa, 0);
        if (!NT_SUCCESS(st)) return st;
    }
    now.QuadPart = 0;
    NTSTATUS st = NtWaitForSingleObject(p->server, 0, &now);
    if (st == STATUS_SUCCESS || st == STATUS_ABANDONED) {
        p->locked = 1;
        return STATUS_SUCCESS;
    }
    return st == STATUS_TIMEOUT ? STATUS_LOCK_NOT_GRANTED : st;
}

int ipc_plat_create_exclusive(struct ipc_plat *p, const char *service, uint64_t size, uint32_t mode, void **base,
                              uint64_t *mapped) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    NTSTATUS st;
    remember(p, service);
    void *sd = creator_only(p, mode);
    p->file_backed = file_backing_wanted();
    nt_name(buf, OBJECTS_DIR, service, "", &u);
    if (p->file_backed) {
        st = open_file(p, service, 1, FILE_CREATE, sd);
        if (!NT_SUCCESS(st)) return status(p, st);
        p->file_id = file_id(p->file);
        st = lock_byte0(p->file, 1);
        if (!NT_SUCCESS(st)) return undo_create(p, st);
        p->locked = 1;
        IO_STATUS_BLOCK io;
        FILE_END_OF_FILE_INFORMATION eof;
        eof.EndOfFile.QuadPart = (int64_t)size;
        st = NtSetInformationFile(p->file, &io, &eof, sizeof eof, FileEndOfFileInformation);
        if (NT_SUCCESS(st)) st = section_over_file(p, 1, size, &u, sd);
    } else {
        OBJECT_ATTRIBUTES oa;
        LARGE_INTEGER max;
        max.QuadPart = (int64_t)size;
        nt_init_attributes(&oa, &u, 0, sd);  /* no OPENIF: a taken name is STATUS_OBJECT_NAME_COLLISION */
        st = NtCreateSection(&p->section, SECTION_ALL_ACCESS, &oa, &max, PAGE_READWRITE, SEC_COMMIT, 0);
        if (!NT_SUCCESS(st)) return status(p, st);
        st = take_server_mutant(p, sd);
    }
    if (NT_SUCCESS(st)) st = map_section(p, 1, size, base, mapped);
    if (!NT_SUCCESS(st)) return undo_create(p, st);
    return IPC_PLAT_OK;
}

int ipc_plat_open_existing(struct ipc_plat *p, const char *service, int writable, void **base, uint64_t *mapped) {
    NTSTATUS st;
    remember(p, service);
    p->file_backed = file_backing_wanted();
    if (p->file_backed) {
        st = open_file(p, service, writable, FILE_OPEN, 0);
        if (!NT_SUCCESS(st)) return status(p, st);
        p->file_id = file_id(p->file);
        IO_STATUS_BLOCK io;
        FILE_STANDARD_INFORMATION info;
        st = NtQueryInformationFile(p->file, &io, &info, sizeof info, FileStandardInformation);
        if (!NT_SUCCESS(st)) return status(p, st);
        int64_t size = info.EndOfFile.QuadPart;
        if (info.Directory || size < (int64_t)IPCSCOPE_HEADER_SIZE || (uint64_t)size > NT_MAX_OBJECT)
            return fail(p, STATUS_INVALID_PARAMETER, IPC_PLAT_INVALID);
        st = section_over_file(p, writable, (uint64_t)size, 0, 0);
        if (NT_SUCCESS(st)) st = map_section(p, writable, (uint64_t)size, base, mapped);
        return status(p, st);
    }
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    nt_name(buf, OBJECTS_DIR, service, "", &u);
    nt_init_attributes(&oa, &u, 0, 0);
    ACCESS_MASK access = SECTION_MAP_READ | SECTION_QUERY | READ_CONTROL;  /* READ_CONTROL: object_owner */
    st = NtOpenSection(&p->section, writable ? access | SECTION_MAP_WRITE : access, &oa);
    if (!NT_SUCCESS(st)) return status(p, st);
    /* A paging-file section has no size to ask cheaply: map it all and read the
     * header's own size, bounded by the view. */
    size_t view = 0;
    void *b = 0;
    st = NtMapViewOfSection(p->section, NtCurrentProcess(), &b, 0, 0, 0, &view, ViewUnmap, 0,
                            writable ? PAGE_READWRITE : PAGE_READONLY);
    if (!NT_SUCCESS(st)) return status(p, st);
    p->base = b;
    p->size = view;
    if (view < IPCSCOPE_HEADER_SIZE || view > NT_MAX_OBJECT) return fail(p, STATUS_INVALID_PARAMETER, IPC_PLAT_INVALID);
    *base = b;
    *mapped = view;
    return IPC_PLAT_OK;
}

/* The owner and DACL of the named Section (for a file-backed section: the
 * server's named Section over the file; a stale one has none, and then the
 * caller's own identity is reported: the liveness check refuses it anyway). */
int ipc_plat_object_owner(struct ipc_plat *p, uint32_t *uid, uint32_t *mode) {
    uint8_t sdbuf[512];
    uint32_t got = 0;
    HANDLE h = p->section, named = 0;
    if (p->file_backed) {
        WCHAR_NT buf[NT_NAME_MAX];
        UNICODE_STRING u;
        OBJECT_ATTRIBUTES oa;
        nt_name(buf, OBJECTS_DIR, p->service, "", &u);
        nt_init_attributes(&oa, &u, 0, 0);
        if (!NT_SUCCESS(NtOpenSection(&named, READ_CONTROL, &oa))) {
            *uid = ipc_plat_euid();
            *mode = 0600;
            return IPC_PLAT_OK;
        }
        h = named;
    }
    NTSTATUS st = NtQuerySecurityObject(h, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, sdbuf,
                                        sizeof sdbuf, &got);
    if (named) NtClose(named);
    if (!NT_SUCCESS(st)) return status(p, st);
    void *owner = 0, *me = token_user(p);
    uint8_t defaulted = 0, present = 0;
    NT_ACL *dacl = 0;
    RtlGetOwnerSecurityDescriptor(sdbuf, &owner, &defaulted);
    RtlGetDaclSecurityDescriptor(sdbuf, &present, &dacl, &defaulted);
    *uid = owner && me && RtlEqualSid(owner, me) ? ipc_plat_euid() : 0xFFFFFFFEu;
    /* One ACE (the creator's) is 0600; no DACL at all admits everyone. */
    *mode = present && dacl && dacl->AceCount == 1 ? 0600u : 0666u;
    return IPC_PLAT_OK;
}

/* Deletes the file named for `service` if it is still ours (same file id). */
static NTSTATUS delete_if_ours(struct ipc_plat *p, const char *service) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    IO_STATUS_BLOCK io;
    HANDLE h = 0;
    nt_name(buf, FILES_DIR, service, "", &u);
    nt_init_attributes(&oa, &u, OBJ_CASE_INSENSITIVE, 0);
    NTSTATUS st = NtCreateFile(&h, DELETE | FILE_READ_ATTRIBUTES | SYNCHRONIZE, &oa, &io, 0, 0,
                               FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, FILE_OPEN,
                               FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT, 0, 0);
    if (!NT_SUCCESS(st)) return STATUS_SUCCESS;  /* already gone (or not ours to open) */
    if (file_id(h) == p->file_id) {
        FILE_DISPOSITION_INFORMATION del = {1};
        st = NtSetInformationFile(h, &io, &del, sizeof del, FileDispositionInformation);
    }
    NtClose(h);
    return st;
}

/* NT refuses to delete a file while a section maps it (STATUS_CANNOT_DELETE), and
 * the core unlinks before it unmaps: then the name goes in ipc_plat_close, after
 * our own view and handles are gone. (A client still mapping it keeps it: the
 * section is then stale, and `ipcscope clean` removes it.) */
int ipc_plat_unlink_if_ours(struct ipc_plat *p, const char *service) {
    if (!p->file_backed) return IPC_PLAT_OK;  /* a named section goes away with its last handle */
    NTSTATUS st = delete_if_ours(p, service);
    if (st == STATUS_CANNOT_DELETE) {
        p->unlink_at_close = 1;
        return IPC_PLAT_OK;
    }
    return NT_SUCCESS(st) ? IPC_PLAT_OK : status(p, st);
}

/* MARK: - liveness */

int ipc_plat_liveness_trylock(struct ipc_plat *p) {
    if (p->locked) return IPC_PLAT_OK;
    if (!p->file_backed) return status(p, take_server_mutant(p, 0));
    NTSTATUS st = lock_byte0(p->file, 1);
    if (NT_SUCCESS(st)) p->locked = 1;
    return status(p, st);
}

int ipc_plat_liveness_held(struct ipc_plat *p, int *held) {
    if (p->file_backed) {
        /* NT has no lock query: a shared lock is refused while the server holds its exclusive one. */
        NTSTATUS st = lock_byte0(p->file, 0);
        if (NT_SUCCESS(st)) {
            unlock_byte0(p->file);
            *held = 0;
        } else if (st == STATUS_LOCK_NOT_GRANTED || st == STATUS_FILE_LOCK_CONFLICT) {
            *held = 1;
        } else {
            return status(p, st);
        }
        return IPC_PLAT_OK;
    }
    if (!p->server) {
        WCHAR_NT buf[NT_NAME_MAX];
        UNICODE_STRING u;
        OBJECT_ATTRIBUTES oa;
        nt_name(buf, OBJECTS_DIR, p->service, ".server", &u);
        nt_init_attributes(&oa, &u, 0, 0);
        NTSTATUS st = NtOpenMutant(&p->server, MUTANT_QUERY_STATE | SYNCHRONIZE, &oa);
        if (st == STATUS_OBJECT_NAME_NOT_FOUND) {
            *held = 0;
            return IPC_PLAT_OK;
        }
        if (!NT_SUCCESS(st)) return status(p, st);
    }
    MUTANT_BASIC_INFORMATION info;
    NTSTATUS st = NtQueryMutant(p->server, MutantBasicInformation, &info, sizeof info, 0);
    if (!NT_SUCCESS(st)) return status(p, st);
    *held = info.CurrentCount <= 0 && !info.AbandonedState && !info.OwnedByCaller;
    return IPC_PLAT_OK;
}

/* MARK: - the client mutex and the events: named NT objects */

/* Creates or opens "<...>.mutex", ".request" and ".response". */
static int open_objects(struct ipc_plat *p, void *sd) {
    static const char *const suffix[3] = {".mutex", ".request", ".response"};
    HANDLE *slot[3] = {&p->mutex, &p->request, &p->response};
    for (int i = 0; i < 3; i++) {
        if (*slot[i]) continue;
        WCHAR_NT buf[NT_NAME_MAX];
        UNICODE_STRING u;
        OBJECT_ATTRIBUTES oa;
        nt_name(buf, OBJECTS_DIR, p->service, suffix[i], &u);
        nt_init_attributes(&oa, &u, OBJ_OPENIF, sd);
        NTSTATUS st = i == 0 ? NtCreateMutant(slot[i], MUTANT_ALL_ACCESS, &oa, 0)
                             : NtCreateEvent(slot[i], EVENT_ALL_ACCESS, &oa, SynchronizationEvent, 0);
        if (!NT_SUCCESS(st)) return status(p, st);
    }
    return IPC_PLAT_OK;
}

int ipc_plat_mutex_init(struct ipc_plat *p, void *base) {
    zero((uint8_t *)base + IPCSCOPE_MUTEX_OFFSET, 64);  /* the pthread bytes are unused on NT */
    return open_objects(p, creator_only(p, 0600));
}

int ipc_plat_attach(struct ipc_plat *p, const char *service, void *base) {
    (void)base;
    if (!p->service[0]) remember(p, service);
    return open_objects(p, creator_only(p, 0600));
}

static int wait_mutex(struct ipc_plat *p, int64_t timeout_100ns) {
    if (!p->mutex && open_objects(p, creator_only(p, 0600)) != IPC_PLAT_OK) return IPC_PLAT_IO;
    LARGE_INTEGER t;
    t.QuadPart = timeout_100ns;
    NTSTATUS st = NtWaitForSingleObject(p->mutex, 0, &t);
    if (st == STATUS_TIMEOUT && timeout_100ns == 0) return fail(p, st, IPC_PLAT_BUSY);
    return status(p, st);
}

int ipc_plat_mutex_trylock(struct ipc_plat *p, void *base) {
    (void)base;
    return wait_mutex(p, 0);
}

int ipc_plat_mutex_lock(struct ipc_plat *p, void *base, uint64_t deadline) {
    (void)base;
    uint64_t now = ipc_plat_now_mono_ns();
    int r = wait_mutex(p, relative_timeout(deadline > now ? deadline - now : 0));
    return r == IPC_PLAT_BUSY ? fail(p, STATUS_TIMEOUT, IPC_PLAT_TIMEDOUT) : r;
}

/* An abandoned Mutant is owned by its new holder and usable at once. */
int ipc_plat_mutex_consistent(struct ipc_plat *p, void *base) {
    (void)p, (void)base;
    return IPC_PLAT_OK;
}

int ipc_plat_mutex_unlock(struct ipc_plat *p, void *base) {
    (void)base;
    return status(p, NtReleaseMutant(p->mutex, 0));
}

int ipc_plat_event_wait(struct ipc_plat *p, int which, volatile uint32_t *word, uint32_t expected,
                        uint64_t timeout_ns) {
    HANDLE ev = which == IPC_PLAT_REQUEST_EVENT ? p->request : p->response;
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected) return IPC_PLAT_OK;
    if (!ev) {
        if (open_objects(p, creator_only(p, 0600)) != IPC_PLAT_OK) return IPC_PLAT_IO;
        ev = which == IPC_PLAT_REQUEST_EVENT ? p->request : p->response;
    }
    /* Auto-reset: a signal set between the check above and this wait stays set
     * until one waiter takes it, so no wake-up is lost. */
    LARGE_INTEGER t;
    t.QuadPart = relative_timeout(timeout_ns);
    NTSTATUS st = NtWaitForSingleObject(ev, 0, &t);
    if (st == STATUS_TIMEOUT) return fail(p, st, IPC_PLAT_TIMEDOUT);
    return NT_SUCCESS(st) ? IPC_PLAT_OK : status(p, st);
}

/* One signal wakes one waiter; `all` has no NT equivalent on an auto-reset
 * Event, and the protocol never has more than one waiter per event that must
 * wake at once (clients wait for the response one at a time, under the mutex;
 * every waiter re-checks in slices of at most 100 ms). */
int ipc_plat_event_wake(struct ipc_plat *p, int which, volatile uint32_t *word, int all) {
    (void)word, (void)all;
    if (!p->request) open_objects(p, creator_only(p, 0600));
    HANDLE ev = which == IPC_PLAT_REQUEST_EVENT ? p->request : p->response;
    if (ev) NtSetEvent(ev, 0);
    return IPC_PLAT_OK;
}

uint32_t ipc_plat_server_flags(void) { return IPC_PLAT_FLAG_NT_OBJECTS; }

/* A section without the NT-objects bit was made by a POSIX server: its mutex
 * and events are inside the bytes, and an NT client cannot take part. */
uint32_t ipc_plat_foreign_flags(void) { return 0; }

/* MARK: - clocks, identities */

/* The performance counter (under Wine: CLOCK_MONOTONIC_RAW in 100 ns ticks). */
uint64_t ipc_plat_now_mono_ns(void) {
    LARGE_INTEGER c, f;
    NtQueryPerformanceCounter(&c, &f);
    uint64_t ticks = (uint64_t)c.QuadPart, freq = f.QuadPart > 0 ? (uint64_t)f.QuadPart : 1;
    return ticks / freq * 1000000000ull + ticks % freq * 1000000000ull / freq;
}

uint64_t ipc_plat_now_real_ns(void) {
    LARGE_INTEGER t;
    NtQuerySystemTime(&t);  /* 100 ns since 1601 */
    uint64_t ticks = (uint64_t)t.QuadPart, epoch = 116444736000000000ull;
    return ticks > epoch ? (ticks - epoch) * 100 : 0;
}

int32_t ipc_plat_self_pid(void) { return (int32_t)(uintptr_t)nt_current_teb()->ClientId.UniqueProcess; }
int32_t ipc_plat_self_tid(void) { return (int32_t)(uintptr_t)nt_current_teb()->ClientId.UniqueThread; }

/* The process creation time (100 ns since 1601); 0 when unknown. */
uint64_t ipc_plat_process_starttime(int32_t pid) {
    HANDLE h = NtCurrentProcess();
    if (pid != ipc_plat_self_pid()) {
        OBJECT_ATTRIBUTES oa;
        CLIENT_ID id = {(HANDLE)(intptr_t)pid, 0};
        nt_init_attributes(&oa, 0, 0, 0);
        if (!NT_SUCCESS(NtOpenProcess(&h, PROCESS_QUERY_LIMITED_INFORMATION, &oa, &id))) return 0;
    }
    KERNEL_USER_TIMES times;
    NTSTATUS st = NtQueryInformationProcess(h, ProcessTimes, &times, sizeof times, 0);
    if (h != NtCurrentProcess()) NtClose(h);
    return NT_SUCCESS(st) ? (uint64_t)times.CreateTime.QuadPart : 0;
}

/* The last sub-authority (RID) of the user's SID: 1000 for Wine's user,
 * 1001 and up for local accounts on Windows. */
uint32_t ipc_plat_euid(void) {
    static volatile uint32_t cached;
    uint32_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v) return v;
    struct ipc_plat tmp;
    zero(&tmp, sizeof tmp);
    void *sid = token_user(&tmp);
    uint8_t n = sid ? *RtlSubAuthorityCountSid(sid) : 0;
    v = n ? *RtlSubAuthoritySid(sid, n - 1u) : 0;
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    return v;
}

void ipc_plat_yield(void) { NtYieldExecution(); }

/* MARK: - per-thread error: a fiber-local slot, freed when the thread ends */

static struct ipc_plat_error fallback_error;
static volatile uint32_t fls_index = 0xFFFFFFFFu;

static void NTAPI free_thread_error(void *data) { ipc_plat_free(data); }

struct ipc_plat_error *ipc_plat_thread_error(void) {
    uint32_t index = __atomic_load_n(&fls_index, __ATOMIC_ACQUIRE);
    if (index == 0xFFFFFFFFu) {
        uint32_t fresh = 0;
        if (!NT_SUCCESS(RtlFlsAlloc(free_thread_error, &fresh))) return &fallback_error;
        uint32_t expected = 0xFFFFFFFFu;
        if (!__atomic_compare_exchange_n(&fls_index, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            fresh = expected;  /* another thread won; its slot is the one (ours leaks: one index) */
        index = fresh;
    }
    void *data = 0;
    if (NT_SUCCESS(RtlFlsGetValue(index, &data)) && data) return (struct ipc_plat_error *)data;
    data = ipc_plat_alloc(sizeof(struct ipc_plat_error));
    if (!data || !NT_SUCCESS(RtlFlsSetValue(index, data))) {
        ipc_plat_free(data);
        return &fallback_error;
    }
    return (struct ipc_plat_error *)data;
}

#endif /* _WIN32 */
