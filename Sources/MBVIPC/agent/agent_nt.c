/*
 * mbvipc-agent.exe — the agent for Windows NT (docs/agent-protocol.md), the NT
 * platform part of the portable core agent_core.c: ntdll.dll only, no C runtime
 * (built by Makefile.nt with nt_start.c as its entry point and libc pieces).
 *
 * Sections are the named Section objects \BaseNamedObjects\ipcscope.<service>
 * the NT backend creates in both of its modes. A snapshot opens the Section
 * with SECTION_MAP_READ | SECTION_QUERY | READ_CONTROL, maps a PAGE_READONLY
 * view, copies, unmaps and closes it again, so the agent never keeps a dead
 * server's section alive. Liveness: the Mutant "<...>.server" (paging-file
 * mode), else a shared-lock probe of byte 0 of Z:\dev\shm\ipcscope.<service>
 * (file mode, as ipc_nt.c does). Pid facts come from NtOpenProcess,
 * NtQueryInformationProcess and NtOpenThread. Calls (only with --allow-calls)
 * go through the C library's NT backend as an ordinary client.
 *
 * NT reads block: a watchdog thread enforces the idle and frame deadlines (it
 * sends ERROR 13 and ends the process when a read outlives its deadline, and
 * ends it when a write does).
 */
#if defined(_WIN32) /* SwiftPM on Linux sees this folder too: the file is empty there */
#include "agent_core.h"
#include "ipc_core.h"
#include "ipc_client.h"
#include "ipc_nt.h"
#include "nt_start.h"

const char *const agent_build = "mbvipc-agent.exe 1.0.0 (NT, ntdll only)";

static NT_RTL_USER_PROCESS_PARAMETERS_PREFIX *params(void) {
    return nt_current_teb()->ProcessEnvironmentBlock->ProcessParameters;
}

static void note(const char *msg) {
    IO_STATUS_BLOCK io;
    static const char prefix[] = "mbvipc-agent: ";
    NtWriteFile(params()->StandardError, 0, 0, 0, &io, prefix, sizeof prefix - 1, 0, 0);
    NtWriteFile(params()->StandardError, 0, 0, 0, &io, msg, (uint32_t)strlen(msg), 0, 0);
    NtWriteFile(params()->StandardError, 0, 0, 0, &io, "\n", 1, 0, 0);
}

/* UTF-16 to UTF-8 (surrogate pairs joined, lone ones as U+FFFD); returns the bytes written. */
static size_t utf8_of(const WCHAR_NT *w, size_t units, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < units; i++) {
        uint32_t c = w[i];
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < units && w[i + 1] >= 0xDC00 && w[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (w[i + 1] - 0xDC00);
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
        }
        uint8_t b[4];
        size_t n;
        if (c < 0x80) b[0] = (uint8_t)c, n = 1;
        else if (c < 0x800) b[0] = (uint8_t)(0xC0 | c >> 6), b[1] = (uint8_t)(0x80 | (c & 0x3F)), n = 2;
        else if (c < 0x10000)
            b[0] = (uint8_t)(0xE0 | c >> 12), b[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F)), b[2] = (uint8_t)(0x80 | (c & 0x3F)), n = 3;
        else
            b[0] = (uint8_t)(0xF0 | c >> 18), b[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F)),
            b[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F)), b[3] = (uint8_t)(0x80 | (c & 0x3F)), n = 4;
        if (o + n > cap) break;
        memcpy(out + o, b, n);
        o += n;
    }
    return o;
}

/* Whether a counted UTF-16 string is exactly the ASCII text `s`. */
static int wide_is(const UNICODE_STRING *u, const char *s) {
    size_t n = strlen(s);
    if (u->Length != n * 2) return 0;
    for (size_t i = 0; i < n; i++)
        if (u->Buffer[i] != (WCHAR_NT)(uint8_t)s[i]) return 0;
    return 1;
}

/* MARK: - deadlines: the watchdog */

/* The deadline (monotonic ns) of the read or write in progress; 0: none. */
static volatile uint64_t watch_deadline;
static volatile int watch_reading;

static NTSTATUS NTAPI watchdog(void *unused) {
    (void)unused;
    for (;;) {
        nt_sleep_ms(20);
        uint64_t d = __atomic_load_n(&watch_deadline, __ATOMIC_ACQUIRE);
        if (!d || ipc_plat_now_mono_ns() < d) continue;
        /* Claim it: the main thread clears the deadline when its I/O returns in time. */
        if (!__atomic_compare_exchange_n(&watch_deadline, &d, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) || d == 1) continue;
        if (watch_reading) {
            /* The main thread is blocked in a read: the answer stream is free. */
            static const char m[] = "no complete frame arrived in time (--idle or --frame-timeout): closing";
            uint8_t b[16 + 6 + sizeof m - 1];
            uint32_t length = (uint32_t)(6 + sizeof m - 1);
            uint32_t words[5] = {AGENT_MAGIC, AGENT_VERSION | (uint32_t)AGENT_ERROR << 16, length, 0, AGENT_ERR_TIMEOUT};
            for (int w = 0; w < 5; w++)
                for (int k = 0; k < 4; k++) b[w * 4 + k] = (uint8_t)(words[w] >> (8 * k));
            b[20] = (uint8_t)(sizeof m - 1);
            b[21] = 0;
            memcpy(b + 22, m, sizeof m - 1);
            IO_STATUS_BLOCK io;
            NtWriteFile(params()->StandardOutput, 0, 0, 0, &io, b, (uint32_t)sizeof b, 0, 0);
        }
        NtTerminateProcess(NtCurrentProcess(), 1);
    }
    return 0;
}

static void arm(int timeout_ms, int reading) {
    watch_reading = reading;
    uint64_t d = timeout_ms < 0 ? 0 : ipc_plat_now_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    __atomic_store_n(&watch_deadline, d, __ATOMIC_RELEASE);
}

static void disarm(void) {
    uint64_t d = __atomic_exchange_n(&watch_deadline, 0, __ATOMIC_ACQ_REL);
    if (d == 1) for (;;) nt_sleep_ms(1000); /* the watchdog claimed it and is ending the process */
}

/* MARK: - the byte stream */

long agent_plat_read(uint8_t *buf, size_t n, int timeout_ms) {
    IO_STATUS_BLOCK io;
    HANDLE in = params()->StandardInput;
    if (n > 0x7FFFFFFF) n = 0x7FFFFFFF;
    arm(timeout_ms, 1);
    io.u.Status = 0;
    io.Information = 0;
    NTSTATUS st = NtReadFile(in, 0, 0, 0, &io, buf, (uint32_t)n, 0, 0);
    if (st == STATUS_PENDING) {
        NtWaitForSingleObject(in, 0, 0);
        st = io.u.Status;
    }
    disarm();
    if (st == STATUS_END_OF_FILE || st == STATUS_PIPE_BROKEN) return 0;
    if (!NT_SUCCESS(st)) return -1;
    return (long)io.Information;
}

int agent_plat_write(const uint8_t *buf, size_t n, int timeout_ms) {
    HANDLE out = params()->StandardOutput;
    arm(timeout_ms, 0);
    while (n > 0) {
        IO_STATUS_BLOCK io;
        io.u.Status = 0;
        io.Information = 0;
        uint32_t chunk = n > 0x100000 ? 0x100000 : (uint32_t)n;
        NTSTATUS st = NtWriteFile(out, 0, 0, 0, &io, buf, chunk, 0, 0);
        if (st == STATUS_PENDING) {
            NtWaitForSingleObject(out, 0, 0);
            st = io.u.Status;
        }
        if (!NT_SUCCESS(st) || io.Information == 0 || io.Information > chunk) {
            disarm();
            return -1;
        }
        buf += io.Information;
        n -= io.Information;
    }
    disarm();
    return 0;
}

/* MARK: - hello */

static size_t env_utf8(const char *name, char *out, size_t cap) {
    WCHAR_NT wname[64], value[256];
    size_t k = 0;
    for (; name[k] && k < 63; k++) wname[k] = (WCHAR_NT)(uint8_t)name[k];
    wname[k] = 0;
    UNICODE_STRING n, v = {0, sizeof value, value};
    RtlInitUnicodeString(&n, wname);
    if (!NT_SUCCESS(RtlQueryEnvironmentVariable_U(0, &n, &v))) return 0;
    size_t len = utf8_of(value, v.Length / 2, out, cap - 1);
    out[len] = 0;
    return len;
}

void agent_plat_host(struct agent_host *h) {
    if (!env_utf8("COMPUTERNAME", h->host, sizeof h->host)) memcpy(h->host, "unknown", 8);
    RTL_OSVERSIONINFOW_NT v;
    memset(&v, 0, sizeof v);
    v.dwOSVersionInfoSize = sizeof v;
    RtlGetVersion(&v);
    agent_fmt(h->os, sizeof h->os, "Windows NT %u.%u.%u x86_64", v.dwMajorVersion, v.dwMinorVersion, v.dwBuildNumber);
    /* Start times are CreateTime, in 100 ns units since 1601 (see agent_plat_open's boot_minus_mono). */
    h->ticks_per_second = 10000000u;
    h->uid = ipc_plat_euid();
}

/* MARK: - opening a section */

/* One open section: its handle and read-only view, for one snapshot (or one LIST entry). */
struct view {
    HANDLE section, file;
    uint8_t *base;
    uint64_t mapped, size;
    uint32_t uid, mode;
};

static void view_close(struct view *v) {
    if (v->base) NtUnmapViewOfSection(NtCurrentProcess(), v->base);
    if (v->section) NtClose(v->section);
    if (v->file) NtClose(v->file);
    memset(v, 0, sizeof *v);
}

/* uid and mode as the NT backend reports them (ipc_plat_object_owner): the creator's RID
 * when the owner is this user, else 0xFFFFFFFE; one ACE 0600, anything else 0666. */
static void owner_of(HANDLE h, uint32_t *uid, uint32_t *mode) {
    uint8_t sdbuf[512];
    uint32_t got = 0;
    *uid = 0xFFFFFFFEu;
    *mode = 0666u;
    if (!NT_SUCCESS(NtQuerySecurityObject(h, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, sdbuf,
                                          sizeof sdbuf, &got)))
        return;
    static struct ipc_plat me;
    void *owner = 0, *sid = nt_token_user(&me);
    uint8_t defaulted = 0, present = 0;
    NT_ACL *dacl = 0;
    RtlGetOwnerSecurityDescriptor(sdbuf, &owner, &defaulted);
    RtlGetDaclSecurityDescriptor(sdbuf, &present, &dacl, &defaulted);
    if (owner && sid && RtlEqualSid(owner, sid)) *uid = ipc_plat_euid();
    *mode = present && dacl && dacl->AceCount == 1 ? 0600u : 0666u;
}

static uint32_t status_code(NTSTATUS st) {
    if (st == STATUS_OBJECT_NAME_NOT_FOUND || st == STATUS_OBJECT_PATH_NOT_FOUND || st == STATUS_NO_SUCH_FILE)
        return AGENT_ERR_NO_SECTION;
    if (st == STATUS_ACCESS_DENIED) return AGENT_ERR_UNREADABLE;
    if (st == STATUS_OBJECT_TYPE_MISMATCH || st == STATUS_FILE_IS_A_DIRECTORY) return AGENT_ERR_NOT_REGULAR;
    return AGENT_ERR_IO;
}

/* Opens the named Section, or (a file-backed section without one) the file in Z:\dev\shm,
 * and maps it read-only. The object size is the Section's; a paging-file Section is
 * page-granular, so when the header's own section_size rounds up to the same pages, that
 * is the size. */
static NTSTATUS view_open(const char *name, struct view *v, int *file_mode) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    memset(v, 0, sizeof *v);
    *file_mode = 0;
    nt_object_name(buf, OBJECTS_DIR, name, "", &u);
    nt_init_attributes(&oa, &u, 0, 0);
    NTSTATUS st = NtOpenSection(&v->section, SECTION_MAP_READ | SECTION_QUERY | READ_CONTROL, &oa);
    if (st == STATUS_ACCESS_DENIED) st = NtOpenSection(&v->section, SECTION_MAP_READ | SECTION_QUERY, &oa);
    if (st == STATUS_OBJECT_NAME_NOT_FOUND) {
        IO_STATUS_BLOCK io;
        nt_object_name(buf, FILES_DIR, name, "", &u);
        nt_init_attributes(&oa, &u, OBJ_CASE_INSENSITIVE, 0);
        st = NtCreateFile(&v->file, FILE_READ_DATA | FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE, &oa, &io, 0, 0,
                          FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, FILE_OPEN,
                          FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT, 0, 0);
        if (st == STATUS_OBJECT_PATH_NOT_FOUND) st = STATUS_OBJECT_NAME_NOT_FOUND;
        if (!NT_SUCCESS(st)) return st;
        *file_mode = 1;
        FILE_STANDARD_INFORMATION info;
        st = NtQueryInformationFile(v->file, &io, &info, sizeof info, FileStandardInformation);
        if (!NT_SUCCESS(st)) return st;
        if (info.Directory) return STATUS_FILE_IS_A_DIRECTORY;
        v->size = (uint64_t)info.EndOfFile.QuadPart;
        owner_of(v->file, &v->uid, &v->mode);
        if (v->size == 0) return STATUS_SUCCESS; /* nothing to map: an empty object */
        if (v->size > NT_MAX_OBJECT) return STATUS_SECTION_TOO_BIG;
        nt_init_attributes(&oa, 0, 0, 0);
        LARGE_INTEGER max;
        max.QuadPart = (int64_t)v->size;
        st = NtCreateSection(&v->section, SECTION_QUERY | SECTION_MAP_READ, &oa, &max, PAGE_READONLY, SEC_COMMIT, v->file);
        if (!NT_SUCCESS(st)) return st;
    } else {
        if (!NT_SUCCESS(st)) return st;
        SECTION_BASIC_INFORMATION info;
        size_t got = 0;
        memset(&info, 0, sizeof info);
        st = NtQuerySection(v->section, 0, &info, sizeof info, &got);
        v->size = NT_SUCCESS(st) && info.Size.QuadPart > 0 ? (uint64_t)info.Size.QuadPart : 0;
        owner_of(v->section, &v->uid, &v->mode);
    }
    size_t view = 0;
    void *b = 0;
    st = NtMapViewOfSection(v->section, NtCurrentProcess(), &b, 0, 0, 0, &view, ViewUnmap, 0, PAGE_READONLY);
    if (!NT_SUCCESS(st)) return st;
    v->base = (uint8_t *)b;
    v->mapped = view;
    if (!v->size || v->size > view) v->size = view;
    if (!*file_mode && v->size >= 64) {
        uint64_t said;
        memcpy(&said, v->base + IPCSCOPE_OFF_SECTION_SIZE, 8);
        if (said > 0 && said <= v->size && v->size - said < 4096 && (said + 4095) / 4096 == (v->size + 4095) / 4096)
            v->size = said;
    }
    return STATUS_SUCCESS;
}

/* Whether a server holds the section: the .server Mutant, else the file's byte-0 lock.
 * Sets *owner to the process holding the Mutant when the kernel tells (Windows 10 and
 * later answer MutantOwnerInformation; Wine does not). */
static int held_by_server(const char *name, HANDLE file, int32_t *owner) {
    WCHAR_NT buf[NT_NAME_MAX];
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    HANDLE m = 0;
    *owner = 0;
    nt_object_name(buf, OBJECTS_DIR, name, ".server", &u);
    nt_init_attributes(&oa, &u, 0, 0);
    if (NT_SUCCESS(NtOpenMutant(&m, MUTANT_QUERY_STATE, &oa))) {
        MUTANT_BASIC_INFORMATION info;
        memset(&info, 0, sizeof info);
        int held = NT_SUCCESS(NtQueryMutant(m, MutantBasicInformation, &info, sizeof info, 0)) && info.CurrentCount <= 0 &&
                   !info.AbandonedState;
        CLIENT_ID who;
        memset(&who, 0, sizeof who);
        if (held && NT_SUCCESS(NtQueryMutant(m, (MUTANT_INFORMATION_CLASS)MutantOwnerInformationClass, &who, sizeof who, 0)))
            *owner = (int32_t)(uintptr_t)who.UniqueProcess;
        NtClose(m);
        return held;
    }
    HANDLE f = file, opened = 0;
    if (!f) {
        IO_STATUS_BLOCK io;
        nt_object_name(buf, FILES_DIR, name, "", &u);
        nt_init_attributes(&oa, &u, OBJ_CASE_INSENSITIVE, 0);
        if (!NT_SUCCESS(NtCreateFile(&opened, FILE_READ_DATA | SYNCHRONIZE, &oa, &io, 0, 0,
                                     FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, FILE_OPEN,
                                     FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT, 0, 0)))
            return 0;
        f = opened;
    }
    /* NT has no lock query: a shared lock is refused while the server holds its exclusive one. */
    IO_STATUS_BLOCK io;
    LARGE_INTEGER off, len;
    off.QuadPart = 0;
    len.QuadPart = 1;
    NTSTATUS st = NtLockFile(f, 0, 0, 0, &io, &off, &len, 0, 1, 0);
    if (st == STATUS_NOT_IMPLEMENTED) st = NtLockFile(f, 0, 0, 0, 0, &off, &len, 0, 1, 0);
    int held = st == STATUS_LOCK_NOT_GRANTED || st == STATUS_FILE_LOCK_CONFLICT;
    if (NT_SUCCESS(st)) NtUnlockFile(f, &io, &off, &len, 0);
    if (opened) NtClose(opened);
    return held;
}

/* MARK: - list */

uint32_t agent_plat_list(struct agent_out *o, uint32_t *count, char *msg, size_t cap) {
    static const WCHAR_NT dirname[] = {'\\','B','a','s','e','N','a','m','e','d','O','b','j','e','c','t','s',0};
    UNICODE_STRING u;
    OBJECT_ATTRIBUTES oa;
    HANDLE dir = 0;
    RtlInitUnicodeString(&u, dirname);
    nt_init_attributes(&oa, &u, 0, 0);
    NTSTATUS st = NtOpenDirectoryObject(&dir, DIRECTORY_QUERY, &oa);
    if (!NT_SUCCESS(st)) {
        agent_fmt(msg, cap, "cannot open \\BaseNamedObjects (NTSTATUS 0x%08x)", (unsigned)st);
        return AGENT_ERR_IO;
    }
    /* One entry a call (Wine answers only that; Windows too), the context walking the directory. */
    static uint8_t buffer[4096];
    uint32_t context = 0, got = 0;
    uint64_t now = ipc_plat_now_real_ns();
    for (uint32_t rounds = 0; rounds < 65536 && *count < AGENT_MAX_LIST; rounds++) {
        st = NtQueryDirectoryObject(dir, buffer, sizeof buffer, 1, rounds == 0, &context, &got);
        if (st == STATUS_NO_MORE_ENTRIES || !NT_SUCCESS(st)) break;
        const OBJECT_DIRECTORY_INFORMATION *e = (const OBJECT_DIRECTORY_INFORMATION *)(void *)buffer;
        if (!e->Name.Buffer || !wide_is(&e->TypeName, "Section")) continue;
        char name[IPCSCOPE_NAME_MAX * 3 + 16];
        size_t n = utf8_of(e->Name.Buffer, e->Name.Length / 2, name, sizeof name - 1);
        name[n] = 0;
        if (n <= 9 || memcmp(name, "ipcscope.", 9) != 0) continue;
        char checked[IPCSCOPE_NAME_MAX + 1];
        if (ipc_name_check(name + 9, checked) != MBV_IPC_OK || strcmp(checked, name + 9) != 0) continue;
        /* Only those that validate as sections. */
        struct view v;
        int file_mode = 0;
        if (!NT_SUCCESS(view_open(checked, &v, &file_mode)) || v.size < IPCSCOPE_HEADER_SIZE) {
            view_close(&v);
            continue;
        }
        struct ipc_section s;
        memset(&s, 0, sizeof s);
        s.base = v.base;
        s.size = v.size;
        memcpy(s.service, checked, sizeof checked);
        if (ipc_section_validate(&s) != MBV_IPC_OK) {
            view_close(&v);
            continue;
        }
        uint64_t created;
        memcpy(&created, v.base + IPCSCOPE_OFF_CREATED_UNIX_NS, 8);
        agent_put_str(o, checked, strlen(checked));
        agent_put_u8(o, AGENT_KIND_REGULAR);
        agent_put_u64(o, v.size);
        agent_put_u32(o, v.uid);
        agent_put_u32(o, v.mode);
        agent_put_u64(o, created && now >= created ? now - created : 0);
        (*count)++;
        view_close(&v);
    }
    NtClose(dir);
    return 0;
}

/* MARK: - snapshots */

static struct view cur;

uint32_t agent_plat_open(const char *name, struct agent_object *obj, char *m, size_t cap) {
    view_close(&cur);
    int file_mode = 0;
    NTSTATUS st = view_open(name, &cur, &file_mode);
    if (!NT_SUCCESS(st)) {
        uint32_t code = status_code(st);
        if (code == AGENT_ERR_NO_SECTION)
            agent_fmt(m, cap, "no service named '%s' (no Section \\BaseNamedObjects\\ipcscope.%s, no file "
                      "Z:\\dev\\shm\\ipcscope.%s): start its server, or see 'ipcscope list'", name, name, name);
        else if (code == AGENT_ERR_UNREADABLE)
            agent_fmt(m, cap, "the section of '%s' is not readable by the agent's user: run the agent as its owner", name);
        else if (code == AGENT_ERR_NOT_REGULAR)
            agent_fmt(m, cap, "\\BaseNamedObjects\\ipcscope.%s is not a Section, so it is not a section", name);
        else
            agent_fmt(m, cap, "cannot open or map the section of '%s' (NTSTATUS 0x%08x)", name, (unsigned)st);
        return code;
    }
    obj->size = cur.size;
    obj->uid = cur.uid;
    obj->mode = cur.mode;
    obj->reopened = 0; /* the core compares names; deltas are against the bytes sent, whatever the object */
    int32_t owner = 0;
    obj->held = held_by_server(name, cur.file, &owner);
    if (owner > 0) {
        obj->extra_pid = owner;
        obj->extra_roles = AGENT_ROLE_MUTANT_OWNER;
    }
    /* The pid facts' start time is CreateTime (100 ns since 1601, as the NT backend records
     * the server's); "boot - monotonic" is that clock minus the monotonic one, so that a lock
     * time (monotonic) plus it is on the start times' clock. */
    uint64_t real1601 = ipc_plat_now_real_ns() + 11644473600ull * 1000000000ull, mono = ipc_plat_now_mono_ns();
    obj->boot_minus_mono = real1601 >= mono ? real1601 - mono : 0;
    return 0;
}

size_t agent_plat_pread(uint8_t *buf, size_t n, uint64_t off) {
    if (!cur.base || off >= cur.size) return 0;
    if (n > cur.size - off) n = (size_t)(cur.size - off);
    /* The view is shared with the server: copy with plain byte loads (nt_start's memcpy). */
    memcpy(buf, cur.base + off, n);
    return n;
}

void agent_plat_release(int keep) {
    (void)keep; /* never kept: a held handle would keep a dead server's Section alive */
    view_close(&cur);
}

/* MARK: - pid facts */

static size_t image_of(HANDLE h, int cls, char *out, size_t cap) {
    static uint8_t info[8192];
    uint32_t got = 0;
    if (!NT_SUCCESS(NtQueryInformationProcess(h, (PROCESSINFOCLASS)cls, info, sizeof info, &got))) return 0;
    const UNICODE_STRING *u = (const UNICODE_STRING *)(void *)info;
    if (!u->Buffer || u->Length > sizeof info) return 0;
    return utf8_of(u->Buffer, u->Length / 2, out, cap);
}

/* The command line from the process's own parameters block, for systems that do not answer
 * ProcessCommandLineInformation (Windows before 8.1, Wine): needs PROCESS_VM_READ. */
static size_t command_line_from_peb(int32_t pid, char *out, size_t cap) {
    OBJECT_ATTRIBUTES oa;
    CLIENT_ID id = {(HANDLE)(intptr_t)pid, 0};
    HANDLE h = 0;
    nt_init_attributes(&oa, 0, 0, 0);
    if (!NT_SUCCESS(NtOpenProcess(&h, PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, &oa, &id))) return 0;
    size_t n = 0, got = 0;
    PROCESS_BASIC_INFORMATION_NT basic;
    uint8_t *params_at = 0;
    UNICODE_STRING line;
    static WCHAR_NT wide[AGENT_MAX_STRING];
    if (NT_SUCCESS(NtQueryInformationProcess(h, ProcessBasicInformation, &basic, sizeof basic, 0)) && basic.PebBaseAddress &&
        NT_SUCCESS(NtReadVirtualMemory(h, (uint8_t *)basic.PebBaseAddress + 0x20, &params_at, sizeof params_at, &got)) &&
        params_at && NT_SUCCESS(NtReadVirtualMemory(h, params_at + 0x70, &line, sizeof line, &got)) && line.Buffer) {
        size_t bytes = line.Length < sizeof wide ? line.Length : sizeof wide;
        if (NT_SUCCESS(NtReadVirtualMemory(h, line.Buffer, wide, bytes, &got))) n = utf8_of(wide, got / 2, out, cap);
    }
    NtClose(h);
    return n;
}

void agent_plat_pid_fact(struct agent_out *o, int32_t pid, uint32_t roles) {
    OBJECT_ATTRIBUTES oa;
    CLIENT_ID id;
    HANDLE h = 0;
    nt_init_attributes(&oa, 0, 0, 0);
    if (roles == AGENT_ROLE_MUTEX_TID) {
        /* Only a thread id: whether that thread exists. */
        id.UniqueProcess = 0;
        id.UniqueThread = (HANDLE)(intptr_t)pid;
        NTSTATUS st = NtOpenThread(&h, THREAD_QUERY_LIMITED_INFORMATION, &oa, &id);
        if (NT_SUCCESS(st)) NtClose(h);
        agent_put_u8(o, NT_SUCCESS(st) ? AGENT_PID_LIVES : st == STATUS_ACCESS_DENIED ? AGENT_PID_UNKNOWN : AGENT_PID_GONE);
        agent_put_u64(o, 0);
        agent_put_str(o, "", 0);
        agent_put_str(o, "", 0);
        return;
    }
    id.UniqueProcess = (HANDLE)(intptr_t)pid;
    id.UniqueThread = 0;
    NTSTATUS st = NtOpenProcess(&h, PROCESS_QUERY_LIMITED_INFORMATION, &oa, &id);
    if (!NT_SUCCESS(st)) {
        agent_put_u8(o, st == STATUS_ACCESS_DENIED ? AGENT_PID_UNKNOWN : AGENT_PID_GONE);
        agent_put_u64(o, 0);
        agent_put_str(o, "", 0);
        agent_put_str(o, "", 0);
        return;
    }
    uint8_t state = AGENT_PID_LIVES;
    PROCESS_BASIC_INFORMATION_NT basic;
    if (NT_SUCCESS(NtQueryInformationProcess(h, ProcessBasicInformation, &basic, sizeof basic, 0)) &&
        basic.ExitStatus != STATUS_PENDING)
        state = AGENT_PID_ZOMBIE; /* exited; the object lives on while handles to it do */
    KERNEL_USER_TIMES times;
    uint64_t start = NT_SUCCESS(NtQueryInformationProcess(h, ProcessTimes, &times, sizeof times, 0))
                         ? (uint64_t)times.CreateTime.QuadPart : 0;
    static char text[AGENT_MAX_STRING];
    size_t n = image_of(h, ProcessImageFileNameClass, text, sizeof text);
    size_t base = n;
    while (base > 0 && text[base - 1] != '\\' && text[base - 1] != '/') base--;
    agent_put_u8(o, state);
    agent_put_u64(o, start);
    agent_put_str(o, text + base, n - base);
    n = image_of(h, ProcessCommandLineClass, text, sizeof text);
    if (n == 0) n = command_line_from_peb(pid, text, sizeof text);
    agent_put_str(o, text, n);
    NtClose(h);
}

/* MARK: - calls */

uint32_t agent_plat_call(const char *name, uint32_t function, uint32_t timeout_ms, const uint8_t *request,
                         uint16_t size, int32_t *status, uint8_t *response, uint16_t *response_size, char *m,
                         size_t cap) {
    return agent_client_call(name, function, timeout_ms, request, size, status, response, response_size, m, cap);
}

/* MARK: - main */

static int seconds_arg(const char *s, int *ms) {
    if (!s[0]) return 0;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9') return 0;
    long v = nt_atol(s);
    if (v < 1 || v > 86400) return 0;
    *ms = (int)v * 1000;
    return 1;
}

int main(int argc, char **argv) {
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "--allow-calls") == 0) agent_opt.allow_calls = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: mbvipc-agent.exe [--allow-calls] [--idle SECONDS] [--frame-timeout SECONDS]\n"
                   "\n"
                   "Speaks ipcscope's agent protocol (docs/agent-protocol.md) on stdin/stdout, for the\n"
                   "sections of Windows programs (the Sections \\BaseNamedObjects\\ipcscope.*). Start it\n"
                   "through a transport, not by hand:\n"
                   "  ipcscope status NAME --via 'ssh -T winbox mbvipc-agent.exe'\n"
                   "  ipcscope list --via 'wine mbvipc-agent.exe'\n"
                   "\n"
                   "  --allow-calls            answer CALL requests (as an ordinary client); refused otherwise\n"
                   "  --idle SECONDS           exit after this long without a request (default 600)\n"
                   "  --frame-timeout SECONDS  a started frame must arrive within this (default 10)\n");
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("%s (protocol %u..%u)\n", agent_build, AGENT_VERSION_MIN, AGENT_VERSION);
            return 0;
        } else if ((strcmp(a, "--idle") == 0 || strcmp(a, "--frame-timeout") == 0) && k + 1 < argc) {
            if (!seconds_arg(argv[++k], a[2] == 'i' ? &agent_opt.idle_timeout_ms : &agent_opt.frame_timeout_ms)) {
                char m[200];
                agent_fmt(m, sizeof m, "%s takes whole seconds from 1 to 86400, not '%s'", a, argv[k]);
                note(m);
                return 64;
            }
        } else {
            char m[200];
            agent_fmt(m, sizeof m, "unknown argument '%s' (see --help)", a);
            note(m);
            return 64;
        }
    }
    HANDLE thread = 0;
    CLIENT_ID id;
    if (!NT_SUCCESS(RtlCreateUserThread(NtCurrentProcess(), 0, 0, 0, 0, 0, watchdog, 0, &thread, &id))) {
        note("cannot start the watchdog thread that enforces the deadlines");
        return 1;
    }
    NtClose(thread);
    return agent_serve();
}

#endif /* _WIN32 */
