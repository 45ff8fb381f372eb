/*
 * ipc_nt_sync.c — the NT backend's named Mutant and Events (the client mutex and
 * the two events), its security descriptors, clocks, identities and
 * per-thread errors, on ntdll.dll alone. The section itself (and memory) is in ipc_nt.c.
 */
#if defined(_WIN32) /* SwiftPM on Linux sees this folder too: the file is empty there */
#include "ipc_nt.h"

/* MARK: - small helpers (no C runtime) */

static size_t nt_c_len(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

void nt_zero(void *p, size_t n) {
    volatile uint8_t *b = (volatile uint8_t *)p;
    while (n--) *b++ = 0;
}

int nt_fail(struct ipc_plat *p, NTSTATUS st, int code) {
    if (p) p->os_error = (uint32_t)st;
    return code;
}

/* Maps an NTSTATUS to the seam's codes. */
int nt_status(struct ipc_plat *p, NTSTATUS st) {
    switch (st) {
    case STATUS_SUCCESS: return nt_fail(p, st, IPC_PLAT_OK);
    case STATUS_OBJECT_NAME_COLLISION: return nt_fail(p, st, IPC_PLAT_EXISTS);
    case STATUS_OBJECT_NAME_NOT_FOUND:
    case STATUS_OBJECT_PATH_NOT_FOUND:
    case STATUS_NO_SUCH_FILE:
    case STATUS_DELETE_PENDING: return nt_fail(p, st, IPC_PLAT_NOENT);
    case STATUS_LOCK_NOT_GRANTED:
    case STATUS_FILE_LOCK_CONFLICT:
    case STATUS_SHARING_VIOLATION: return nt_fail(p, st, IPC_PLAT_BUSY);
    case STATUS_TIMEOUT: return nt_fail(p, st, IPC_PLAT_TIMEDOUT);
    case STATUS_ABANDONED: return nt_fail(p, st, IPC_PLAT_OWNERDEAD);
    case STATUS_ACCESS_DENIED: return nt_fail(p, st, IPC_PLAT_ACCESS);
    case STATUS_OBJECT_NAME_INVALID:
    case STATUS_OBJECT_TYPE_MISMATCH:
    case STATUS_INVALID_PARAMETER:
    case STATUS_FILE_IS_A_DIRECTORY:
    case STATUS_MAPPED_FILE_SIZE_ZERO: return nt_fail(p, st, IPC_PLAT_INVALID);
    case STATUS_NO_MEMORY:
    case STATUS_SECTION_TOO_BIG: return nt_fail(p, st, IPC_PLAT_NOMEM);
    default: return nt_fail(p, st, NT_SUCCESS(st) ? IPC_PLAT_OK : IPC_PLAT_IO);
    }
}

/* Builds "<prefix>ipcscope.<service><suffix>" as UTF-16 into `out` (the service
 * is already validated ASCII). */
void nt_object_name(WCHAR_NT *out, const char *prefix, const char *service, const char *suffix,
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


void nt_remember(struct ipc_plat *p, const char *service) {
    size_t n = nt_c_len(service);
    if (n > IPCSCOPE_NAME_MAX) n = IPCSCOPE_NAME_MAX;
    for (size_t i = 0; i < n; i++) p->service[i] = service[i];
    p->service[n] = 0;
}

int64_t nt_relative_timeout(uint64_t ns) {
    uint64_t ticks = ns / 100;
    if (ticks > (uint64_t)INT64_MAX) ticks = (uint64_t)INT64_MAX;
    return -(int64_t)ticks;
}

/* MARK: - security: the creating user only */

/* The process token's user SID, copied into p->user. */
void *nt_token_user(struct ipc_plat *p) {
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
void *nt_creator_only(struct ipc_plat *p, uint32_t mode) {
    if (mode & 077) return 0;
    void *sid = nt_token_user(p);
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

/* MARK: - the client mutex and the events: named NT objects */

/* Creates or opens "<...>.mutex", ".request" and ".response". */
int nt_open_objects(struct ipc_plat *p, void *sd) {
    static const char *const suffix[3] = {".mutex", ".request", ".response"};
    HANDLE *slot[3] = {&p->mutex, &p->request, &p->response};
    for (int i = 0; i < 3; i++) {
        if (*slot[i]) continue;
        WCHAR_NT buf[NT_NAME_MAX];
        UNICODE_STRING u;
        OBJECT_ATTRIBUTES oa;
        nt_object_name(buf, OBJECTS_DIR, p->service, suffix[i], &u);
        nt_init_attributes(&oa, &u, OBJ_OPENIF, sd);
        NTSTATUS st = i == 0 ? NtCreateMutant(slot[i], MUTANT_ALL_ACCESS, &oa, 0)
                             : NtCreateEvent(slot[i], EVENT_ALL_ACCESS, &oa, SynchronizationEvent, 0);
        if (!NT_SUCCESS(st)) return nt_status(p, st);
    }
    return IPC_PLAT_OK;
}

int ipc_plat_mutex_init(struct ipc_plat *p, void *base) {
    nt_zero((uint8_t *)base + IPCSCOPE_MUTEX_OFFSET, 64);  /* the pthread bytes are unused on NT */
    return nt_open_objects(p, nt_creator_only(p, 0600));
}

/* A client refuses a section served by a POSIX program (no NT-objects bit): its
 * mutex and events are inside the bytes, where an NT client cannot take part. A
 * server taking a stale section over (it holds the liveness lock) may attach:
 * it rewrites server_flags when it starts. */
int ipc_plat_attach(struct ipc_plat *p, const char *service, void *base) {
    uint32_t flags = __atomic_load_n((volatile uint32_t *)((uint8_t *)base + IPCSCOPE_OFF_SERVER_FLAGS), __ATOMIC_RELAXED);
    if (!p->locked && !(flags & MBVIPC_NT_SERVER_FLAG_NT_OBJECTS))
        return nt_fail(p, STATUS_OBJECT_TYPE_MISMATCH, IPC_PLAT_INVALID);
    if (!p->service[0]) nt_remember(p, service);
    return nt_open_objects(p, nt_creator_only(p, 0600));
}

static int wait_mutex(struct ipc_plat *p, int64_t timeout_100ns) {
    if (!p->mutex && nt_open_objects(p, nt_creator_only(p, 0600)) != IPC_PLAT_OK) return IPC_PLAT_IO;
    LARGE_INTEGER t;
    t.QuadPart = timeout_100ns;
    NTSTATUS st = NtWaitForSingleObject(p->mutex, 0, &t);
    if (st == STATUS_TIMEOUT && timeout_100ns == 0) return nt_fail(p, st, IPC_PLAT_BUSY);
    return nt_status(p, st);
}

int ipc_plat_mutex_trylock(struct ipc_plat *p, void *base) {
    (void)base;
    return wait_mutex(p, 0);
}

int ipc_plat_mutex_lock(struct ipc_plat *p, void *base, uint64_t deadline) {
    (void)base;
    uint64_t now = ipc_plat_now_mono_ns();
    int r = wait_mutex(p, nt_relative_timeout(deadline > now ? deadline - now : 0));
    return r == IPC_PLAT_BUSY ? nt_fail(p, STATUS_TIMEOUT, IPC_PLAT_TIMEDOUT) : r;
}

/* An abandoned Mutant is owned by its new holder and usable at once. */
int ipc_plat_mutex_consistent(struct ipc_plat *p, void *base) {
    (void)p, (void)base;
    return IPC_PLAT_OK;
}

int ipc_plat_mutex_unlock(struct ipc_plat *p, void *base) {
    (void)base;
    return nt_status(p, NtReleaseMutant(p->mutex, 0));
}

int ipc_plat_event_wait(struct ipc_plat *p, int which, volatile uint32_t *word, uint32_t expected,
                        uint64_t timeout_ns) {
    HANDLE ev = which == IPC_PLAT_REQUEST_EVENT ? p->request : p->response;
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected) return IPC_PLAT_OK;
    if (!ev) {
        if (nt_open_objects(p, nt_creator_only(p, 0600)) != IPC_PLAT_OK) return IPC_PLAT_IO;
        ev = which == IPC_PLAT_REQUEST_EVENT ? p->request : p->response;
    }
    /* Auto-reset: a signal set between the check above and this wait stays set
     * until one waiter takes it, so no wake-up is lost. */
    LARGE_INTEGER t;
    t.QuadPart = nt_relative_timeout(timeout_ns);
    NTSTATUS st = NtWaitForSingleObject(ev, 0, &t);
    if (st == STATUS_TIMEOUT) return nt_fail(p, st, IPC_PLAT_TIMEDOUT);
    return NT_SUCCESS(st) ? IPC_PLAT_OK : nt_status(p, st);
}

/* One signal wakes one waiter; `all` has no NT equivalent on an auto-reset
 * Event, and the protocol never has more than one waiter per event that must
 * wake at once (clients wait for the response one at a time, under the mutex;
 * every waiter re-checks in slices of at most 100 ms). */
int ipc_plat_event_wake(struct ipc_plat *p, int which, volatile uint32_t *word, int all) {
    (void)word, (void)all;
    if (!p->request) nt_open_objects(p, nt_creator_only(p, 0600));
    HANDLE ev = which == IPC_PLAT_REQUEST_EVENT ? p->request : p->response;
    if (ev) NtSetEvent(ev, 0);
    return IPC_PLAT_OK;
}

typedef char nt_objects_bit_is_the_seams[MBVIPC_NT_SERVER_FLAG_NT_OBJECTS == IPC_PLAT_FLAG_NT_OBJECTS ? 1 : -1];
uint32_t ipc_plat_server_flags(void) { return MBVIPC_NT_SERVER_FLAG_NT_OBJECTS; }

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
    nt_zero(&tmp, sizeof tmp);
    void *sid = nt_token_user(&tmp);
    uint8_t n = sid ? *RtlSubAuthorityCountSid(sid) : 0;
    v = n ? *RtlSubAuthoritySid(sid, n - 1u) : 0;
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    return v;
}

void ipc_plat_yield(void) { NtYieldExecution(); }

void ipc_plat_sleep_ns(uint64_t ns) {
    LARGE_INTEGER pause;
    pause.QuadPart = -(int64_t)((ns + 99) / 100); /* relative, in 100 ns units */
    NtDelayExecution(0, &pause);
}

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
