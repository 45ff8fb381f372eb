/*
 * ipc_core_client.c — the client side of the protocol, once for every
 * platform: connect (owner, mode, identity and liveness checks) and the call,
 * step by step as the format describes it.
 */
#include <string.h>

#include "ipc_core.h"

/* How long a call spins for the answer before it sleeps: a typical handler plus
 * one kernel wake-up of the server (the Swift client's default too). */
#define IPC_CLIENT_SPIN_NS 100000ull
#define IPC_CLIENT_SLICE_NS 100000000ull  /* futex slices: liveness checked between them */
#define IPC_DEFAULT_TIMEOUT_MS 5000u
#define IPC_STARTING_WAIT_NS 1000000000ull  /* how long connect waits for a starting section */
#define IPC_STARTING_POLL_NS 2000000ull     /* and how often it looks again */

struct ipc_client {
    struct ipc_section s;
};

static void client_free(struct ipc_client *c) {
    if (!c) return;
    ipc_plat_close(c->s.plat);
    ipc_plat_free(c);
}

/* MARK: - connect */

/* Whether a server holds the liveness lock of the object opened (0 when it cannot tell). */
static int lock_held(struct ipc_section *s) {
    int held = 0;
    return ipc_plat_liveness_held(s->plat, &held) == IPC_PLAT_OK && held;
}

/* The section is *starting* (amendment 2, item 2): its creator holds the liveness lock but
 * has not written the header or server_pid yet, or it is an empty object of the last second
 * whose creator is between creating it and taking the lock. Recorded as the error a caller
 * gets if it is still starting when connect stops waiting. */
static int starting(struct ipc_section *s, int *flag) {
    *flag = 1;
    return ipc_fail(MBV_IPC_ERR_STARTING, "service '%s' is starting (its server holds the section but has not "
                    "finished creating it): try again in a moment", s->service);
}

static int open_checked(struct ipc_client *c, int *is_starting) {
    struct ipc_section *s = &c->s;
    const char *svc = s->service;
    void *base = NULL;
    uint64_t size = 0;
    *is_starting = 0;
    int r = ipc_plat_open_existing(s->plat, svc, 1, &base, &size);
    switch (r) {
    case IPC_PLAT_OK: break;
    case IPC_PLAT_NOENT:
        return ipc_fail(MBV_IPC_ERR_NO_SERVICE, "no service '%s' (no /dev/shm/ipcscope.%s): start its server first", svc, svc);
    case IPC_PLAT_ACCESS:
        return ipc_fail(MBV_IPC_ERR_FOREIGN_OWNER,
                        "permission denied opening /dev/shm/ipcscope.%s: it belongs to another user; pick another name", svc);
    case IPC_PLAT_INVALID:
        /* Shorter than a header: maybe a server that has just created it (before its
         * ftruncate, or before its lock). */
        if (lock_held(s) || ipc_plat_object_just_created(s->plat, IPC_STARTING_WAIT_NS)) return starting(s, is_starting);
        return ipc_fail(MBV_IPC_ERR_CORRUPT, "/dev/shm/ipcscope.%s is not a regular file of a section's size: "
                        "remove it with 'ipcscope clean %s'", svc, svc);
    default:
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "opening the section of '%s' failed (%s, system error %u)", svc,
                        ipc_plat_code_name(r), ipc_plat_os_error(s->plat));
    }
    s->base = (uint8_t *)base;
    s->size = size;
    uint32_t uid = 0, mode = 0, me = ipc_plat_euid();
    if ((r = ipc_plat_object_owner(s->plat, &uid, &mode)) != IPC_PLAT_OK)
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "cannot read the owner of the section of '%s' (%s)", svc, ipc_plat_code_name(r));
    if (uid != me && uid != 0)
        return ipc_fail(MBV_IPC_ERR_FOREIGN_OWNER,
                        "/dev/shm/ipcscope.%s belongs to uid %u, not to you (uid %u) or root: it may be a squatter "
                        "reading your calls; do not call it", svc, uid, me);
    if (mode & 02)
        return ipc_fail(MBV_IPC_ERR_FOREIGN_OWNER,
                        "/dev/shm/ipcscope.%s is writable by every user (mode %o): anyone could forge its answers; "
                        "restart its server with mode 0600", svc, mode);
    if ((r = ipc_section_validate(s)) != MBV_IPC_OK) {
        /* No magic yet (it is written last) while the creator holds the lock: starting. */
        if (lock_held(s) && memcmp(s->base, IPCSCOPE_MAGIC, 8) != 0) return starting(s, is_starting);
        return r;
    }
    if (ipc_load32(s, IPCSCOPE_OFF_SERVER_FLAGS, IPC_RELAXED) & ipc_plat_foreign_flags())
        return ipc_fail(MBV_IPC_ERR_INCOMPATIBLE,
                        "service '%s' is served by a Windows (NT) program: its mutex and events are NT objects this "
                        "build cannot use; call it from a Windows build", svc);
    int held = 0;
    if ((r = ipc_plat_liveness_held(s->plat, &held)) != IPC_PLAT_OK)
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "cannot ask whether the server of '%s' lives (%s)", svc, ipc_plat_code_name(r));
    if (!held)
        return ipc_fail(MBV_IPC_ERR_NOT_RUNNING, "service '%s' has a section but no server is running (stale): "
                        "start its server, or remove it with 'ipcscope clean %s'", svc, svc);
    /* A valid header but server_pid not stored yet (the server stores it last), no shutdown under way. */
    if (ipc_load32(s, IPCSCOPE_OFF_SERVER_PID, IPC_ACQUIRE) == 0 &&
        !(ipc_load32(s, IPCSCOPE_OFF_SERVER_FLAGS, IPC_RELAXED) & IPCSCOPE_SERVER_SHUTTING_DOWN))
        return starting(s, is_starting);
    if ((r = ipc_plat_attach(s->plat, svc, s->base)) != IPC_PLAT_OK)
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "cannot attach to the mutex and events of '%s' (%s)", svc, ipc_plat_code_name(r));
    return MBV_IPC_OK;
}

static bool connect_checked(const char *svc, MBV_IPC_CONNECTION *conn) {
    if (conn->client) {
        ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCConnect('%s'): conn is already connected (or was not "
                 "zero-initialised): call MBV_IPCDisconnect first, or start from MBV_IPC_CONNECTION conn = {0}", svc);
        return false;
    }
    struct ipc_client *c = (struct ipc_client *)ipc_plat_alloc(sizeof *c);
    if (!c || !(c->s.plat = ipc_plat_new())) {
        client_free(c);
        ipc_fail(MBV_IPC_ERR_NO_MEMORY, "out of memory connecting to '%s'", svc);
        return false;
    }
    memcpy(c->s.service, svc, sizeof c->s.service);
    /* A starting section is waited for, up to a second (or conn->timeout_ms when the caller
     * set a shorter one before connecting), then refused with ERR_STARTING. */
    uint32_t timeout_ms = conn->timeout_ms;
    uint64_t wait = timeout_ms && (uint64_t)timeout_ms * 1000000ull < IPC_STARTING_WAIT_NS
                        ? (uint64_t)timeout_ms * 1000000ull : IPC_STARTING_WAIT_NS;
    uint64_t until = ipc_plat_now_mono_ns() + wait;
    int is_starting = 0;
    while (open_checked(c, &is_starting) != MBV_IPC_OK) {
        uint64_t now = ipc_plat_now_mono_ns();
        if (!is_starting || now >= until) {
            client_free(c);
            return false;
        }
        ipc_plat_close(c->s.plat);
        memset(&c->s, 0, sizeof c->s);
        memcpy(c->s.service, svc, sizeof c->s.service);
        ipc_plat_sleep_ns(until - now < IPC_STARTING_POLL_NS ? until - now : IPC_STARTING_POLL_NS);
        if (!(c->s.plat = ipc_plat_new())) {
            client_free(c);
            ipc_fail(MBV_IPC_ERR_NO_MEMORY, "out of memory connecting to '%s'", svc);
            return false;
        }
    }
    memset(conn, 0, sizeof *conn);
    conn->client = c;
    conn->timeout_ms = timeout_ms;
    conn->request_capacity = c->s.request_capacity;
    conn->response_capacity = c->s.response_capacity;
    return true;
}

bool MBV_IPCConnectA(const char *name, MBV_IPC_CONNECTION *conn) {
    char svc[IPCSCOPE_NAME_MAX + 1];
    ipc_clear_error();
    if (!conn) {
        ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCConnect: conn is NULL: pass the address of a zero-initialised MBV_IPC_CONNECTION");
        return false;
    }
    if (ipc_name_check(name, svc) != MBV_IPC_OK) return false;
    return connect_checked(svc, conn);
}

bool MBV_IPCConnect(const wchar_t *name, MBV_IPC_CONNECTION *conn) {
    char svc[IPCSCOPE_NAME_MAX + 1];
    ipc_clear_error();
    if (!conn) {
        ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCConnect: conn is NULL: pass the address of a zero-initialised MBV_IPC_CONNECTION");
        return false;
    }
    if (ipc_name_check_wide(name, svc) != MBV_IPC_OK) return false;
    return connect_checked(svc, conn);
}

void MBV_IPCDisconnect(MBV_IPC_CONNECTION *conn) {
    if (!conn) return;
    client_free(conn->client);
    memset(conn, 0, sizeof *conn);
}

/* MARK: - waiting */

/* Fails SERVER_GONE when the server stopped, died or was replaced since `epoch`. */
static int check_server(struct ipc_client *c, uint32_t epoch, int probe) {
    const struct ipc_section *s = &c->s;
    const char *gone = NULL;
    uint32_t now_epoch = ipc_load32(s, IPCSCOPE_OFF_SERVER_EPOCH, IPC_ACQUIRE);
    int held = 1;
    if ((ipc_load32(s, IPCSCOPE_OFF_SERVER_FLAGS, IPC_RELAXED) & IPCSCOPE_SERVER_SHUTTING_DOWN) ||
        ipc_load32(s, IPCSCOPE_OFF_SERVER_PID, IPC_ACQUIRE) == 0)
        gone = "stopped";
    else if (now_epoch != epoch)
        gone = "restarted";
    else if (probe && ipc_plat_liveness_held(s->plat, &held) == IPC_PLAT_OK && !held)
        gone = "died";
    if (!gone) return MBV_IPC_OK;
    return ipc_fail(MBV_IPC_ERR_SERVER_GONE, "the server of '%s' %s: start it again (or wait for it) and retry",
                    s->service, gone);
}

/* what: 0 waits for a free slot (IDLE or RESPONSE_READY), 1 for the answer to `seq`. */
static int is_done(const struct ipc_section *s, int what, uint64_t seq) {
    uint32_t state = ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_SEQ_CST);
    if (what == 0) return state == IPCSCOPE_STATE_IDLE || state == IPCSCOPE_STATE_RESPONSE_READY;
    if (state != IPCSCOPE_STATE_RESPONSE_READY) return 0;
    /* The answer's data line is fetched while seq is checked, not after, and the owner record
     * (the server read its line for recovered_count) is asked back before it is cleared. */
    ipc_prefetch_read(s, s->response_offset + IPCSCOPE_RSP_DATA);
    ipc_prefetch_write(s, IPCSCOPE_OFF_OWNER_PID);
    return ipc_load64(s, s->response_offset + IPCSCOPE_RSP_SEQ, IPC_ACQUIRE) == seq;
}

/* Spins for a short budget, then sleeps on response_event in slices of at most
 * 100 ms, checking between slices that the server lives. */
static int client_wait(struct ipc_client *c, uint64_t deadline, uint32_t epoch, int what, uint64_t seq) {
    const struct ipc_section *s = &c->s;
    struct ipc_spin spin;
    ipc_spin_start(&spin, IPC_CLIENT_SPIN_NS);
    do {
        if (is_done(s, what, seq)) return MBV_IPC_OK;
    } while (ipc_spin_next(&spin));
    int probe = 0;
    for (;;) {
        uint32_t seen = ipc_load32(s, IPCSCOPE_OFF_RESPONSE_EVENT, IPC_SEQ_CST);
        ipc_add32(s, IPCSCOPE_OFF_CLIENT_WAITING, 1, IPC_SEQ_CST);  /* handshake: before the re-check */
        int r = MBV_IPC_OK;
        if (is_done(s, what, seq)) goto out;
        if ((r = check_server(c, epoch, probe)) != MBV_IPC_OK) goto out;
        uint64_t now = ipc_plat_now_mono_ns();
        if (now >= deadline) {
            r = ipc_fail(MBV_IPC_ERR_TIMEOUT,
                         "timed out waiting for %s from '%s' (state %u): the server is busy or hung; try a longer "
                         "timeout or see 'ipcscope status %s'", what ? "the answer" : "the previous call to finish",
                         s->service, ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_RELAXED), s->service);
            goto out;
        }
        uint64_t slice = deadline - now < IPC_CLIENT_SLICE_NS ? deadline - now : IPC_CLIENT_SLICE_NS;
        int w = ipc_plat_event_wait(s->plat, IPC_PLAT_RESPONSE_EVENT, ipc_word(s, IPCSCOPE_OFF_RESPONSE_EVENT), seen, slice);
        ipc_add32(s, IPCSCOPE_OFF_CLIENT_WAITING, -1, IPC_SEQ_CST);
        probe = w == IPC_PLAT_TIMEDOUT;
        continue;
    out:
        ipc_add32(s, IPCSCOPE_OFF_CLIENT_WAITING, -1, IPC_SEQ_CST);
        return r;
    }
}

/* MARK: - the call */

static const char *reserved_status_text(int32_t status) {
    switch (status) {
    case IPCSCOPE_STATUS_BAD_REQUEST: return "rejected the request as malformed (status -1)";
    case IPCSCOPE_STATUS_HANDLER_FAILED: return "reports its handler failed or answered more than the response capacity (status -2)";
    case IPCSCOPE_STATUS_NO_HANDLER: return "has no handler for this function (status -3)";
    case IPCSCOPE_STATUS_SHUTTING_DOWN: return "is shutting down (status -4)";
    default: return "answered a status reserved for the library";
    }
}

/* Steps 2 to 6 with the mutex held; the caller unlocks. */
static int call_locked(MBV_IPC_CONNECTION *conn, uint64_t deadline, uint64_t acquired, int32_t tid, uint32_t function,
                       const void *request, uint16_t request_size, void *response, uint16_t *response_size) {
    struct ipc_client *c = conn->client;
    const struct ipc_section *s = &c->s;
    const char *svc = s->service;

    /* The server this call is made to. A heartbeat older than 2 s means busy, hung
     * or dead: only then ask the kernel whether it lives. */
    uint32_t epoch = ipc_load32(s, IPCSCOPE_OFF_SERVER_EPOCH, IPC_ACQUIRE);
    uint64_t heartbeat = ipc_load64(s, IPCSCOPE_OFF_HEARTBEAT_NS, IPC_RELAXED);
    int r = check_server(c, epoch, acquired - heartbeat > 2000000000ull);
    if (r != MBV_IPC_OK) return r;

    /* 3. Wait until the slot is free (a timed-out call may still be in the server's hands).
     * Nothing is sent yet: when a takeover freed the slot, the call goes to the new server. */
    if (!is_done(s, 0, 0)) {
        if ((r = client_wait(c, deadline, epoch, 0, 0)) != MBV_IPC_OK) return r;
        epoch = ipc_load32(s, IPCSCOPE_OFF_SERVER_EPOCH, IPC_ACQUIRE);
    }

    /* 4. Write the request, seq last; REQUEST_READY; signal; wake only a sleeping server. The
     * seq is taken last, next to REQUEST_READY: both live on the protocol line the server spins
     * on, so the line is taken from it once rather than twice. */
    uint32_t req = s->request_offset;
    if (request_size) memcpy(s->base + req + IPCSCOPE_REQ_DATA, request, request_size);
    ipc_store32(s, req + IPCSCOPE_REQ_SIZE, request_size, IPC_RELAXED);
    ipc_store32(s, req + IPCSCOPE_REQ_FUNCTION, function, IPC_RELAXED);
    ipc_store32(s, req + IPCSCOPE_REQ_CLIENT_PID, (uint32_t)ipc_plat_self_pid(), IPC_RELAXED);
    ipc_store32(s, req + IPCSCOPE_REQ_CLIENT_TID, (uint32_t)tid, IPC_RELAXED);
    uint64_t sent = ipc_plat_now_mono_ns();
    ipc_store64(s, req + IPCSCOPE_REQ_SENT_NS, sent, IPC_RELAXED);
    uint64_t seq = ipc_bump64(s, IPCSCOPE_OFF_NEXT_SEQ, 1);  /* under the mutex: one writer */
    ipc_store64(s, req + IPCSCOPE_REQ_SEQ, seq, IPC_RELEASE);
    ipc_set_state(s, IPCSCOPE_STATE_REQUEST_READY, sent, IPC_SEQ_CST);
    ipc_add32(s, IPCSCOPE_OFF_REQUEST_EVENT, 1, IPC_SEQ_CST);
    if (ipc_load32(s, IPCSCOPE_OFF_SERVER_WAITING, IPC_SEQ_CST) != 0)
        ipc_plat_event_wake(s->plat, IPC_PLAT_REQUEST_EVENT, ipc_word(s, IPCSCOPE_OFF_REQUEST_EVENT), 0);

    /* 5. Wait for our answer. */
    if ((r = client_wait(c, deadline, epoch, 1, seq)) != MBV_IPC_OK) return r;

    /* 6. Check the size, copy, IDLE. */
    uint32_t rsp = s->response_offset;
    uint32_t size = ipc_load32(s, rsp + IPCSCOPE_RSP_SIZE, IPC_RELAXED);
    int32_t status = (int32_t)ipc_load32(s, rsp + IPCSCOPE_RSP_STATUS, IPC_RELAXED);
    conn->last_status = status;
    conn->last_response_size = size;
    if (size > s->response_capacity)
        r = ipc_fail(MBV_IPC_ERR_PROTOCOL, "the server of '%s' answered %u bytes, over the response capacity of %u: "
                     "the server is broken", svc, size, s->response_capacity);
    else if (size > *response_size)
        r = ipc_fail(MBV_IPC_ERR_BUFFER_TOO_SMALL, "the answer from '%s' is %u bytes and does not fit the buffer of %u bytes: "
                     "pass a buffer of conn.response_capacity (%u) bytes", svc, size, (uint32_t)*response_size,
                     s->response_capacity);
    else {
        if (size) memcpy(response, s->base + rsp + IPCSCOPE_RSP_DATA, size);
        *response_size = (uint16_t)size;
        if (status <= -1 && status >= -99)
            r = ipc_fail(MBV_IPC_ERR_STATUS, "the server of '%s' %s", svc, reserved_status_text(status));
    }
    /* IDLE first, its display time (relaxed) right after: the line's transfer to this CPU
     * overlaps the clock read instead of following it. */
    ipc_store32(s, IPCSCOPE_OFF_STATE, IPCSCOPE_STATE_IDLE, IPC_RELEASE);
    ipc_store64(s, IPCSCOPE_OFF_STATE_SINCE_NS, ipc_plat_now_mono_ns(), IPC_RELAXED);
    return r;
}

bool MBV_IPCCallTimeout(MBV_IPC_CONNECTION *conn, uint32_t function, const void *request, uint16_t request_size,
                        void *response, uint16_t *response_size, uint32_t timeout_ms) {
    ipc_clear_error();
    if (!conn)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCCall: conn is NULL: pass the connection MBV_IPCConnect filled"), false;
    if (!conn->client)
        return ipc_fail(MBV_IPC_ERR_NOT_CONNECTED, "MBV_IPCCall: the connection is not connected: call MBV_IPCConnect "
                        "first (again after MBV_IPCDisconnect)"), false;
    struct ipc_client *c = conn->client;
    struct ipc_section *s = &c->s;
    if (!response_size)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCCall to '%s': response_size is NULL: pass the address of "
                        "the response buffer's size", s->service), false;
    if (request_size && !request)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCCall to '%s': request is NULL but request_size is %u",
                        s->service, (uint32_t)request_size), false;
    if (*response_size && !response)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCCall to '%s': response is NULL but *response_size is %u",
                        s->service, (uint32_t)*response_size), false;
    /* 1. Refuse an oversized request before touching the section. */
    if (request_size > s->request_capacity)
        return ipc_fail(MBV_IPC_ERR_TOO_LARGE, "request of %u bytes exceeds the request capacity of %u bytes of service "
                        "'%s': send less, or start the server with a larger request capacity",
                        (uint32_t)request_size, s->request_capacity, s->service), false;

    /* The server's line (read in step 2) changed during the last call, and the lines this call
     * writes (owner record, request slot) were read by the other side: ask for them first, so
     * the transfers overlap the clock read and the mutex instead of stalling the reads and the
     * request. */
    ipc_prefetch_read(s, IPCSCOPE_OFF_SERVER_PID);
    ipc_prefetch_write(s, IPCSCOPE_OFF_OWNER_PID);
    ipc_prefetch_write(s, s->request_offset);
    if (request_size) ipc_prefetch_write(s, s->request_offset + IPCSCOPE_REQ_DATA);
    uint32_t ms = timeout_ms ? timeout_ms : conn->timeout_ms ? conn->timeout_ms : IPC_DEFAULT_TIMEOUT_MS;
    uint64_t start = ipc_plat_now_mono_ns();
    uint64_t deadline = start + (uint64_t)ms * 1000000ull;

    /* 2. Lock the mutex with the deadline; repair after a dead owner. */
    int contended = 0;
    int r = ipc_plat_mutex_trylock(s->plat, s->base);
    if (r == IPC_PLAT_BUSY) {
        contended = 1;
        r = ipc_plat_mutex_lock(s->plat, s->base, deadline);
    }
    switch (r) {
    case IPC_PLAT_OK: break;
    case IPC_PLAT_OWNERDEAD:
        ipc_plat_mutex_consistent(s->plat, s->base);
        ipc_add64(s, IPCSCOPE_OFF_RECOVERED_COUNT, 1, IPC_RELAXED);
        /* Only a mutex holder waits for a response: a count left behind is the dead one's
         * (amendment 2, item 4). */
        ipc_store32(s, IPCSCOPE_OFF_CLIENT_WAITING, 0, IPC_RELAXED);
        /* The dead owner may have published its request and died before it signalled the
         * server, which then sleeps out its 1 s slice: signal it now. */
        if (ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_SEQ_CST) == IPCSCOPE_STATE_REQUEST_READY) {
            ipc_add32(s, IPCSCOPE_OFF_REQUEST_EVENT, 1, IPC_SEQ_CST);
            ipc_plat_event_wake(s->plat, IPC_PLAT_REQUEST_EVENT, ipc_word(s, IPCSCOPE_OFF_REQUEST_EVENT), 0);
        }
        break;
    case IPC_PLAT_TIMEDOUT:
        return ipc_fail(MBV_IPC_ERR_TIMEOUT, "timed out waiting for the mutex of '%s', held by pid %d: try a longer "
                        "timeout, or see 'ipcscope status %s'", s->service,
                        (int32_t)ipc_load32(s, IPCSCOPE_OFF_OWNER_PID, IPC_RELAXED), s->service), false;
    case IPC_PLAT_NOTRECOVERABLE:
        return ipc_fail(MBV_IPC_ERR_NOT_RECOVERABLE, "the mutex of '%s' is not recoverable: restart the server (it "
                        "recreates the section)", s->service), false;
    default:
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "locking the mutex of '%s' failed (%s, system error %u)", s->service,
                        ipc_plat_code_name(r), ipc_plat_os_error(s->plat)), false;
    }
    uint64_t acquired = contended ? ipc_plat_now_mono_ns() : start;
    ipc_store32(s, IPCSCOPE_OFF_OWNER_PID, (uint32_t)ipc_plat_self_pid(), IPC_RELAXED);
    /* The owner and the request's client_tid are the same thread: one lookup (cached per thread,
     * forgotten in a forked child). */
    int32_t tid = ipc_plat_self_tid();
    ipc_store32(s, IPCSCOPE_OFF_OWNER_TID, (uint32_t)tid, IPC_RELAXED);
    ipc_store64(s, IPCSCOPE_OFF_OWNER_SINCE_NS, acquired, IPC_RELAXED);
    ipc_bump64(s, IPCSCOPE_OFF_LOCK_COUNT, 1);  /* under the mutex: one writer, no locked instruction */
    if (contended) ipc_bump64(s, IPCSCOPE_OFF_CONTENDED_COUNT, 1);

    r = call_locked(conn, deadline, acquired, tid, function, request, request_size, response, response_size);

    /* 7. Whatever happened: clear the owner record and unlock (a timed-out call
     * leaves state as it is; the next caller's step 3 protects the slot). */
    ipc_store32(s, IPCSCOPE_OFF_OWNER_PID, 0, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_OWNER_TID, 0, IPC_RELAXED);
    ipc_store64(s, IPCSCOPE_OFF_OWNER_SINCE_NS, 0, IPC_RELAXED);
    ipc_plat_mutex_unlock(s->plat, s->base);
    return r == MBV_IPC_OK;
}

bool MBV_IPCCall(MBV_IPC_CONNECTION *conn, uint32_t function, const void *request, uint16_t request_size,
                 void *response, uint16_t *response_size) {
    return MBV_IPCCallTimeout(conn, function, request, request_size, response, response_size, 0);
}
