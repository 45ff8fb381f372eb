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
#include "ipc_nt.h"

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
    if (p->unlink_at_close) {
        /* A client that has just exited may still map the file for a moment (Wine releases a
         * dead process's views after its exit): retry for up to a second, 10 ms apart. */
        for (int i = 0; i < 100 && delete_if_ours(p, p->service) == STATUS_CANNOT_DELETE; i++) {
            LARGE_INTEGER pause;
            pause.QuadPart = -100000; /* 10 ms, relative, in 100 ns units */
            NtDelayExecution(0, &pause);
        }
    }
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
    nt_object_name(buf, FILES_DIR, service, "", &u);
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
    return nt_status(p, st);
}

/* The liveness Mutant "<...>.server" of a paging-file section, taken now. */
static NTSTATUS take_server_mutant(struct ipc_plat *p, void *sd) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    LARGE_INTEGER now;
    nt_object_name(buf, OBJECTS_DIR, p->service, ".server", &u);
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
    nt_remember(p, service);
    void *sd = nt_creator_only(p, mode);
    p->file_backed = file_backing_wanted();
    nt_object_name(buf, OBJECTS_DIR, service, "", &u);
    if (p->file_backed) {
        st = open_file(p, service, 1, FILE_CREATE, sd);
        if (!NT_SUCCESS(st)) return nt_status(p, st);
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
        if (!NT_SUCCESS(st)) return nt_status(p, st);
        st = take_server_mutant(p, sd);
    }
    if (NT_SUCCESS(st)) st = map_section(p, 1, size, base, mapped);
    if (!NT_SUCCESS(st)) return undo_create(p, st);
    return IPC_PLAT_OK;
}

int ipc_plat_open_existing(struct ipc_plat *p, const char *service, int writable, void **base, uint64_t *mapped) {
    NTSTATUS st;
    nt_remember(p, service);
    p->file_backed = file_backing_wanted();
    if (p->file_backed) {
        st = open_file(p, service, writable, FILE_OPEN, 0);
        if (!NT_SUCCESS(st)) return nt_status(p, st);
        p->file_id = file_id(p->file);
        IO_STATUS_BLOCK io;
        FILE_STANDARD_INFORMATION info;
        st = NtQueryInformationFile(p->file, &io, &info, sizeof info, FileStandardInformation);
        if (!NT_SUCCESS(st)) return nt_status(p, st);
        int64_t size = info.EndOfFile.QuadPart;
        if (info.Directory || size < (int64_t)IPCSCOPE_HEADER_SIZE || (uint64_t)size > NT_MAX_OBJECT)
            return nt_fail(p, STATUS_INVALID_PARAMETER, IPC_PLAT_INVALID);
        st = section_over_file(p, writable, (uint64_t)size, 0, 0);
        if (NT_SUCCESS(st)) st = map_section(p, writable, (uint64_t)size, base, mapped);
        return nt_status(p, st);
    }
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    nt_object_name(buf, OBJECTS_DIR, service, "", &u);
    nt_init_attributes(&oa, &u, 0, 0);
    ACCESS_MASK access = SECTION_MAP_READ | SECTION_QUERY | READ_CONTROL;  /* READ_CONTROL: object_owner */
    st = NtOpenSection(&p->section, writable ? access | SECTION_MAP_WRITE : access, &oa);
    if (!NT_SUCCESS(st)) return nt_status(p, st);
    /* A paging-file section has no size to ask cheaply: map it all and read the
     * header's own size, bounded by the view. */
    size_t view = 0;
    void *b = 0;
    st = NtMapViewOfSection(p->section, NtCurrentProcess(), &b, 0, 0, 0, &view, ViewUnmap, 0,
                            writable ? PAGE_READWRITE : PAGE_READONLY);
    if (!NT_SUCCESS(st)) return nt_status(p, st);
    p->base = b;
    p->size = view;
    if (view < IPCSCOPE_HEADER_SIZE || view > NT_MAX_OBJECT) return nt_fail(p, STATUS_INVALID_PARAMETER, IPC_PLAT_INVALID);
    *base = b;
    *mapped = view;
    return IPC_PLAT_OK;
}

/* Not asked on NT (0): a paging-file Section is created at its full size, and a
 * file-backed one is locked right after FILE_CREATE; this backend does not wait
 * through that moment (a client gets "not a section's size" and may retry). */
int ipc_plat_object_just_created(struct ipc_plat *p, uint64_t within_ns) {
    (void)p, (void)within_ns;
    return 0;
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
        nt_object_name(buf, OBJECTS_DIR, p->service, "", &u);
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
    if (!NT_SUCCESS(st)) return nt_status(p, st);
    void *owner = 0, *me = nt_token_user(p);
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
    nt_object_name(buf, FILES_DIR, service, "", &u);
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
 * our own view and handles are gone, retried for up to a second. (A client still
 * mapping it after that keeps it: the section is then stale, and `ipcscope clean`
 * removes it.) */
int ipc_plat_unlink_if_ours(struct ipc_plat *p, const char *service) {
    if (!p->file_backed) return IPC_PLAT_OK;  /* a named section goes away with its last handle */
    NTSTATUS st = delete_if_ours(p, service);
    if (st == STATUS_CANNOT_DELETE) {
        p->unlink_at_close = 1;
        return IPC_PLAT_OK;
    }
    return NT_SUCCESS(st) ? IPC_PLAT_OK : nt_status(p, st);
}

/* MARK: - liveness */

int ipc_plat_liveness_trylock(struct ipc_plat *p) {
    if (p->locked) return IPC_PLAT_OK;
    if (!p->file_backed) return nt_status(p, take_server_mutant(p, 0));
    NTSTATUS st = lock_byte0(p->file, 1);
    if (NT_SUCCESS(st)) p->locked = 1;
    return nt_status(p, st);
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
            return nt_status(p, st);
        }
        return IPC_PLAT_OK;
    }
    if (!p->server) {
        WCHAR_NT buf[NT_NAME_MAX];
        UNICODE_STRING u;
        OBJECT_ATTRIBUTES oa;
        nt_object_name(buf, OBJECTS_DIR, p->service, ".server", &u);
        nt_init_attributes(&oa, &u, 0, 0);
        NTSTATUS st = NtOpenMutant(&p->server, MUTANT_QUERY_STATE | SYNCHRONIZE, &oa);
        if (st == STATUS_OBJECT_NAME_NOT_FOUND) {
            *held = 0;
            return IPC_PLAT_OK;
        }
        if (!NT_SUCCESS(st)) return nt_status(p, st);
    }
    MUTANT_BASIC_INFORMATION info;
    NTSTATUS st = NtQueryMutant(p->server, MutantBasicInformation, &info, sizeof info, 0);
    if (!NT_SUCCESS(st)) return nt_status(p, st);
    *held = info.CurrentCount <= 0 && !info.AbandonedState && !info.OwnedByCaller;
    return IPC_PLAT_OK;
}

#endif /* _WIN32 */
