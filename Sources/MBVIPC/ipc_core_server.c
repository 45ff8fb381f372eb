/*
 * ipc_core_server.c — the server side of the protocol, once for every
 * platform: create or take over the section, the serving loop, answers, trace
 * records, counters, and the clean shutdown.
 */
#include <string.h>

#include "ipc_core.h"

#define IPC_SERVER_SPIN_NS 50000ull          /* spin for the next request before sleeping */
#define IPC_SERVER_SLICE_NS 1000000000ull    /* futex slices: heartbeat refreshed between them */
#define IPC_HEARTBEAT_BUSY_NS 1000000ull     /* a busy server refreshes it at most once a ms */

enum { PHASE_READY = 0, PHASE_RUNNING = 1, PHASE_CLOSED = 2 };

struct ipc_server {
    struct ipc_section s;
    ipc_handler_t handler;
    void *ctx;
    uint8_t *request_copy;
    int32_t pid;
    uint32_t epoch;
    int stop;           /* atomic: MBV_IPCStopServer was called */
    int phase;          /* atomic: PHASE_* */
    bool keep_on_exit;
    uint64_t last_recovered;
    uint64_t last_heartbeat;
    /* Display counters not yet stored (amendment 1): a busy server stores them with the
     * heartbeat, at most once a millisecond, and as soon as a burst of calls ends. */
    uint64_t unpublished_served, unpublished_rejected, unpublished_service_ns;
    bool service_ns_pending;
};

/* MARK: - creation and takeover */

/* Fills a new section; the magic last, with a release store. */
static int initialise(struct ipc_server *srv) {
    struct ipc_section *s = &srv->s;
    ipc_store32(s, IPCSCOPE_OFF_VERSION, IPCSCOPE_VERSION, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_HEADER_SIZE, IPCSCOPE_HEADER_SIZE, IPC_RELAXED);
    ipc_store64(s, IPCSCOPE_OFF_SECTION_SIZE, s->size, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_REQUEST_OFFSET, s->request_offset, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_REQUEST_CAPACITY, s->request_capacity, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_RESPONSE_OFFSET, s->response_offset, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_RESPONSE_CAPACITY, s->response_capacity, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_TRACE_OFFSET, s->trace_offset, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_TRACE_CAPACITY, s->trace_capacity, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_MUTEX_OFFSET, IPCSCOPE_MUTEX_OFFSET, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_CREATOR_UID, ipc_plat_euid(), IPC_RELAXED);
    ipc_store64(s, IPCSCOPE_OFF_CREATED_UNIX_NS, ipc_plat_now_real_ns(), IPC_RELAXED);
    int r = ipc_plat_mutex_init(s->plat, s->base);
    if (r != IPC_PLAT_OK)
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "initialising the mutex of '%s' failed (%s, system error %u)", s->service,
                        ipc_plat_code_name(r), ipc_plat_os_error(s->plat));
    ipc_set_state(s, IPCSCOPE_STATE_IDLE, ipc_plat_now_mono_ns(), IPC_RELEASE);
    uint64_t magic;
    memcpy(&magic, IPCSCOPE_MAGIC, 8);
    ipc_store64(s, IPCSCOPE_OFF_MAGIC, magic, IPC_RELEASE);
    return MBV_IPC_OK;
}

/* Checks an existing object before a takeover: 0, or the problem (error recorded). Sets
 * *recreate when the object is ours and serverless but its liveness lock cannot be taken
 * (a reader's read lock): it is to be replaced whatever replace_invalid says. */
static int check_existing(struct ipc_server *srv, int opened, uint64_t size, int *recreate) {
    struct ipc_section *s = &srv->s;
    const char *svc = s->service;
    uint32_t uid = 0, mode = 0, me = ipc_plat_euid();
    *recreate = 0;
    if (ipc_plat_object_owner(s->plat, &uid, &mode) == IPC_PLAT_OK && uid != me)
        return ipc_fail(MBV_IPC_ERR_FOREIGN_OWNER, "/dev/shm/ipcscope.%s belongs to uid %u, not to you (uid %u): "
                        "someone else uses this name; pick another", svc, uid, me);
    if (ipc_plat_liveness_trylock(s->plat) != IPC_PLAT_OK) {
        int held = 1;
        (void)ipc_plat_liveness_held(s->plat, &held);
        if (!held) {
            /* Only a write lock is a server's (amendment 2, item 1): a read lock is a reader's. */
            *recreate = 1;
            return ipc_fail(MBV_IPC_ERR_NAME_IN_USE, "/dev/shm/ipcscope.%s is held by a read lock (a reader's, not a "
                            "server's) and could not be replaced: stop that reader, or remove it with 'ipcscope clean "
                            "%s'", svc, svc);
        }
        int32_t pid = opened == IPC_PLAT_OK ? (int32_t)ipc_load32(s, IPCSCOPE_OFF_SERVER_PID, IPC_ACQUIRE) : 0;
        /* The lock held, but no magic (written last) or no server_pid yet (stored last): starting. */
        if (opened != IPC_PLAT_OK || memcmp(s->base, IPCSCOPE_MAGIC, 8) != 0 || pid == 0)
            return ipc_fail(MBV_IPC_ERR_NAME_IN_USE, "service '%s' is being started by another process: pick another "
                            "name or stop it", svc);
        return ipc_fail(MBV_IPC_ERR_NAME_IN_USE, "service '%s' is served by pid %d, still running: pick another name "
                        "or stop it", svc, pid);
    }
    if (opened != IPC_PLAT_OK)
        return ipc_fail(MBV_IPC_ERR_CORRUPT, "/dev/shm/ipcscope.%s is not a regular file of a section's size: remove "
                        "it with 'ipcscope clean %s' or start with replace_invalid", svc, svc);
    uint32_t req = s->request_capacity, rsp = s->response_capacity, tr = s->trace_capacity;
    s->size = size;
    int r = ipc_section_validate(s);
    if (r != MBV_IPC_OK) return r;
    if (s->request_capacity != req || s->response_capacity != rsp || s->trace_capacity != tr)
        return ipc_fail(MBV_IPC_ERR_INCOMPATIBLE, "section '%s' exists with capacities %u/%u/%u, not the %u/%u/%u asked "
                        "for: start with the same sizes, or with replace_invalid", svc, s->request_capacity,
                        s->response_capacity, s->trace_capacity, req, rsp, tr);
    uint32_t creator = ipc_load32(s, IPCSCOPE_OFF_CREATOR_UID, IPC_RELAXED);
    if (creator != me)
        return ipc_fail(MBV_IPC_ERR_FOREIGN_OWNER, "section '%s' was created by uid %u, not you (uid %u): pick another name",
                        svc, creator, me);
    return MBV_IPC_OK;
}

/* One attempt: 1 done, 0 raced with another process (try again), -1 failed. */
static int create_or_take_over(struct ipc_server *srv, const ipc_server_options_t *o, uint64_t size, int last) {
    struct ipc_section *s = &srv->s;
    const char *svc = s->service;
    void *base = NULL;
    uint64_t mapped = 0;
    if (!(s->plat = ipc_plat_new())) return ipc_fail(MBV_IPC_ERR_NO_MEMORY, "out of memory serving '%s'", svc), -1;
    int r = ipc_plat_create_exclusive(s->plat, svc, size, o->mode, &base, &mapped);
    if (r == IPC_PLAT_OK) {
        s->base = (uint8_t *)base;
        s->size = mapped;
        return initialise(srv) == MBV_IPC_OK ? 1 : -1;
    }
    if (r != IPC_PLAT_EXISTS && r != IPC_PLAT_BUSY)
        return ipc_fail(r == IPC_PLAT_ACCESS ? MBV_IPC_ERR_FOREIGN_OWNER : MBV_IPC_ERR_SYSTEM,
                        "creating /dev/shm/ipcscope.%s failed (%s, system error %u)", svc, ipc_plat_code_name(r),
                        ipc_plat_os_error(s->plat)), -1;
    ipc_plat_close(s->plat);
    if (!(s->plat = ipc_plat_new())) return ipc_fail(MBV_IPC_ERR_NO_MEMORY, "out of memory serving '%s'", svc), -1;
    if (r == IPC_PLAT_BUSY) return last ? ipc_fail(MBV_IPC_ERR_NAME_IN_USE, "another process keeps removing "
                                                   "/dev/shm/ipcscope.%s while it is created: try again", svc), -1 : 0;

    /* The name is taken: a dead server's section to take over, a live one, or junk. */
    int opened = ipc_plat_open_existing(s->plat, svc, 1, &base, &mapped);
    if (opened == IPC_PLAT_NOENT) return 0;  /* it vanished between the two opens */
    if (opened == IPC_PLAT_ACCESS)
        return ipc_fail(MBV_IPC_ERR_FOREIGN_OWNER, "permission denied opening /dev/shm/ipcscope.%s: it belongs to "
                        "another user; pick another name", svc), -1;
    if (opened != IPC_PLAT_OK && opened != IPC_PLAT_INVALID)
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "opening /dev/shm/ipcscope.%s failed (%s, system error %u)", svc,
                        ipc_plat_code_name(opened), ipc_plat_os_error(s->plat)), -1;
    s->base = (uint8_t *)base;
    int recreate = 0;
    r = check_existing(srv, opened, mapped, &recreate);
    if (recreate) {
        if (last) return -1;
        ipc_plat_unlink_if_ours(s->plat, svc);
        return 0;
    }
    if (r == MBV_IPC_ERR_CORRUPT || r == MBV_IPC_ERR_INCOMPATIBLE) {
        if (!o->replace_invalid || last) return -1;
        ipc_plat_unlink_if_ours(s->plat, svc);
        return 0;
    }
    if (r != MBV_IPC_OK) return -1;

    /* Repair the mutex if a client died holding it; recreate if it cannot be repaired. */
    switch (ipc_plat_mutex_trylock(s->plat, s->base)) {
    case IPC_PLAT_OK:
        /* We hold the mutex, so no client waits for a response: any count is a dead one's
         * (amendment 2, item 4). */
        ipc_store32(s, IPCSCOPE_OFF_CLIENT_WAITING, 0, IPC_RELAXED);
        ipc_plat_mutex_unlock(s->plat, s->base);
        break;
    case IPC_PLAT_OWNERDEAD:
        ipc_plat_mutex_consistent(s->plat, s->base);
        ipc_add64(s, IPCSCOPE_OFF_RECOVERED_COUNT, 1, IPC_RELAXED);
        ipc_store32(s, IPCSCOPE_OFF_OWNER_PID, 0, IPC_RELAXED);
        ipc_store32(s, IPCSCOPE_OFF_OWNER_TID, 0, IPC_RELAXED);
        ipc_store64(s, IPCSCOPE_OFF_OWNER_SINCE_NS, 0, IPC_RELAXED);
        ipc_store32(s, IPCSCOPE_OFF_CLIENT_WAITING, 0, IPC_RELAXED);
        ipc_plat_mutex_unlock(s->plat, s->base);
        break;
    case IPC_PLAT_NOTRECOVERABLE:
        if (last)
            return ipc_fail(MBV_IPC_ERR_NOT_RECOVERABLE, "the mutex of section '%s' is not recoverable: remove it "
                            "with 'ipcscope clean %s'", svc, svc), -1;
        ipc_plat_unlink_if_ours(s->plat, svc);
        return 0;
    default:
        break;  /* busy: a live client holds it; it will finish or time out */
    }
    if ((r = ipc_plat_attach(s->plat, svc, s->base)) != IPC_PLAT_OK)
        return ipc_fail(MBV_IPC_ERR_SYSTEM, "cannot attach to the mutex and events of '%s' (%s)", svc,
                        ipc_plat_code_name(r)), -1;
    return 1;
}

/* Claims the section: flags, starttime, heartbeat, IDLE, epoch + 1, and the pid last. */
static void start(struct ipc_server *srv) {
    struct ipc_section *s = &srv->s;
    uint64_t now = ipc_plat_now_mono_ns();
    uint32_t flags = (s->trace_capacity ? IPCSCOPE_SERVER_TRACING : 0u) | ipc_plat_server_flags();
    ipc_store32(s, IPCSCOPE_OFF_SERVER_FLAGS, flags, IPC_RELAXED);
    ipc_store64(s, IPCSCOPE_OFF_SERVER_STARTTIME, ipc_plat_process_starttime(srv->pid), IPC_RELAXED);
    ipc_store64(s, IPCSCOPE_OFF_HEARTBEAT_NS, now, IPC_RELAXED);
    srv->last_heartbeat = now;
    ipc_store32(s, IPCSCOPE_OFF_SERVER_WAITING, 0, IPC_RELAXED);
    /* IDLE before the new epoch: a client that reads the new epoch must find the slot already
     * reset, or the IDLE would wipe the REQUEST_READY it publishes to us. The epoch's release
     * makes the IDLE visible to a client's acquire load of the new epoch (spec/README.md). */
    ipc_set_state(s, IPCSCOPE_STATE_IDLE, now, IPC_RELEASE);
    srv->epoch = ipc_add32(s, IPCSCOPE_OFF_SERVER_EPOCH, 1, IPC_RELEASE);
    ipc_store32(s, IPCSCOPE_OFF_SERVER_PID, (uint32_t)srv->pid, IPC_RELEASE);
    srv->last_recovered = ipc_load64(s, IPCSCOPE_OFF_RECOVERED_COUNT, IPC_RELAXED);
    /* A client stuck in step 3 behind a dead server's call can go on now. */
    ipc_add32(s, IPCSCOPE_OFF_RESPONSE_EVENT, 1, IPC_SEQ_CST);
    ipc_plat_event_wake(s->plat, IPC_PLAT_RESPONSE_EVENT, ipc_word(s, IPCSCOPE_OFF_RESPONSE_EVENT), 1);
}

static void server_free(struct ipc_server *srv) {
    ipc_plat_close(srv->s.plat);
    ipc_plat_free(srv->request_copy);
    ipc_plat_free(srv);
}

ipc_server_t *MBV_IPCInitServerEx(const char *name, ipc_handler_t handler, void *ctx, const ipc_server_options_t *options) {
    char svc[IPCSCOPE_NAME_MAX + 1];
    ipc_server_options_t o;
    ipc_clear_error();
    if (ipc_name_check(name, svc) != MBV_IPC_OK) return NULL;
    if (!handler)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCInitServer('%s'): the handler is NULL: pass a function "
                        "that answers calls", svc), (ipc_server_t *)NULL;
    memset(&o, 0, sizeof o);
    if (options) o = *options;
    if (!o.request_capacity) o.request_capacity = IPCSCOPE_DEFAULT_CAPACITY;
    if (!o.response_capacity) o.response_capacity = IPCSCOPE_DEFAULT_CAPACITY;
    if (!o.trace_capacity) o.trace_capacity = IPCSCOPE_DEFAULT_TRACE_CAPACITY;
    if (o.no_trace) o.trace_capacity = 0;
    if (!o.mode) o.mode = 0600;
    if (o.request_capacity > IPCSCOPE_MAX_CAPACITY || o.response_capacity > IPCSCOPE_MAX_CAPACITY)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "capacities of '%s' (%u, %u) are out of range: use 1 to 1048576 bytes",
                        svc, o.request_capacity, o.response_capacity), (ipc_server_t *)NULL;
    if (o.trace_capacity > IPCSCOPE_MAX_TRACE_CAPACITY || (o.trace_capacity & (o.trace_capacity - 1)))
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "trace capacity %u of '%s' must be a power of two up to 65536",
                        o.trace_capacity, svc), (ipc_server_t *)NULL;
    if (o.mode > 0777)
        return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "mode %o of '%s' is not a permission mode (0 to 0777)", o.mode, svc),
               (ipc_server_t *)NULL;

    struct ipc_server *srv = (struct ipc_server *)ipc_plat_alloc(sizeof *srv);
    if (!srv || !(srv->request_copy = (uint8_t *)ipc_plat_alloc(o.request_capacity))) {
        ipc_plat_free(srv);
        return ipc_fail(MBV_IPC_ERR_NO_MEMORY, "out of memory serving '%s'", svc), (ipc_server_t *)NULL;
    }
    memcpy(srv->s.service, svc, sizeof svc);
    srv->handler = handler;
    srv->ctx = ctx;
    srv->pid = ipc_plat_self_pid();
    srv->keep_on_exit = o.keep_on_exit;
    uint64_t size = ipcscope_section_size(o.request_capacity, o.response_capacity, o.trace_capacity);
    for (int attempt = 1;; attempt++) {
        ipc_section_layout(&srv->s, o.request_capacity, o.response_capacity, o.trace_capacity);
        int r = create_or_take_over(srv, &o, size, attempt >= 3);
        if (r == 1) break;
        ipc_plat_close(srv->s.plat);
        srv->s.plat = NULL;
        srv->s.base = NULL;
        if (r < 0 || attempt >= 5) {
            if (r == 0)
                ipc_fail(MBV_IPC_ERR_NAME_IN_USE, "service '%s' keeps being created and removed by other processes: "
                         "try again, or pick another name", svc);
            server_free(srv);
            return NULL;
        }
    }
    start(srv);
    return srv;
}

ipc_server_t *MBV_IPCInitServerA(const char *name, ipc_handler_t handler, void *ctx) {
    return MBV_IPCInitServerEx(name, handler, ctx, NULL);
}

ipc_server_t *MBV_IPCInitServer(const wchar_t *name, ipc_handler_t handler, void *ctx) {
    char svc[IPCSCOPE_NAME_MAX + 1];
    ipc_clear_error();
    if (ipc_name_check_wide(name, svc) != MBV_IPC_OK) return NULL;
    return MBV_IPCInitServerEx(svc, handler, ctx, NULL);
}

bool MBV_IPCServerCapacities(const ipc_server_t *srv, uint32_t *request_capacity, uint32_t *response_capacity) {
    ipc_clear_error();
    if (!srv) return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCServerCapacities: the server is NULL"), false;
    if (request_capacity) *request_capacity = srv->s.request_capacity;
    if (response_capacity) *response_capacity = srv->s.response_capacity;
    return true;
}

/* MARK: - serving */

static int stopping(const struct ipc_server *srv) { return __atomic_load_n(&srv->stop, IPC_ACQUIRE); }

/* Stores the display counters the serving thread held back (relaxed; only the server writes them). */
static void flush_counters(struct ipc_server *srv) {
    const struct ipc_section *s = &srv->s;
    if (srv->unpublished_served) ipc_bump64(s, IPCSCOPE_OFF_CALLS_SERVED, srv->unpublished_served);
    if (srv->unpublished_rejected) ipc_bump64(s, IPCSCOPE_OFF_CALLS_REJECTED, srv->unpublished_rejected);
    if (srv->service_ns_pending) ipc_store64(s, IPCSCOPE_OFF_LAST_SERVICE_NS, srv->unpublished_service_ns, IPC_RELAXED);
    srv->unpublished_served = srv->unpublished_rejected = 0;
    srv->service_ns_pending = false;
}

/* Waits for REQUEST_READY: spins, then sleeps on request_event in slices of at
 * most 1 s, refreshing the heartbeat. False when asked to stop. */
static bool wait_for_request(struct ipc_server *srv) {
    const struct ipc_section *s = &srv->s;
    struct ipc_spin spin;
    ipc_spin_start(&spin, IPC_SERVER_SPIN_NS);
    bool flushed = false;
    do {
        if (stopping(srv)) return false;
        if (ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_ACQUIRE) == IPCSCOPE_STATE_REQUEST_READY) return true;
        /* No request in the pure spin (IPC_PURE_SPIN_NS): the burst ended; readers see its counts now. */
        if (!flushed && spin.yielding) {
            flush_counters(srv);
            flushed = true;
        }
    } while (ipc_spin_next(&spin));
    flush_counters(srv);
    for (;;) {
        uint32_t seen = ipc_load32(s, IPCSCOPE_OFF_REQUEST_EVENT, IPC_SEQ_CST);
        ipc_add32(s, IPCSCOPE_OFF_SERVER_WAITING, 1, IPC_SEQ_CST);  /* handshake: before the re-check */
        int ready = ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_SEQ_CST) == IPCSCOPE_STATE_REQUEST_READY;
        if (stopping(srv) || ready) {
            ipc_add32(s, IPCSCOPE_OFF_SERVER_WAITING, -1, IPC_SEQ_CST);
            return !stopping(srv);
        }
        ipc_store64(s, IPCSCOPE_OFF_HEARTBEAT_NS, ipc_plat_now_mono_ns(), IPC_RELAXED);
        ipc_plat_event_wait(s->plat, IPC_PLAT_REQUEST_EVENT, ipc_word(s, IPCSCOPE_OFF_REQUEST_EVENT), seen,
                            IPC_SERVER_SLICE_NS);
        ipc_add32(s, IPCSCOPE_OFF_SERVER_WAITING, -1, IPC_SEQ_CST);
        /* Woken by a request: serve it at once (answering refreshes the heartbeat when it is a
         * millisecond old); otherwise refresh it and wait again. */
        if (!stopping(srv) && ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_ACQUIRE) == IPCSCOPE_STATE_REQUEST_READY) return true;
        srv->last_heartbeat = ipc_plat_now_mono_ns();
        ipc_store64(s, IPCSCOPE_OFF_HEARTBEAT_NS, srv->last_heartbeat, IPC_RELAXED);
    }
}

/* Publishes an answer: the slot's fields, seq (release), RESPONSE_READY, the
 * event, and a wake only when a client sleeps. */
static void answer(const struct ipc_section *s, uint64_t seq, int32_t status, uint32_t size, uint64_t done) {
    uint32_t rsp = s->response_offset;
    ipc_store32(s, rsp + IPCSCOPE_RSP_STATUS, (uint32_t)status, IPC_RELAXED);
    ipc_store32(s, rsp + IPCSCOPE_RSP_SIZE, size, IPC_RELAXED);
    ipc_store64(s, rsp + IPCSCOPE_RSP_DONE_NS, done, IPC_RELAXED);
    ipc_store64(s, rsp + IPCSCOPE_RSP_SEQ, seq, IPC_RELEASE);
    ipc_set_state(s, IPCSCOPE_STATE_RESPONSE_READY, done, IPC_SEQ_CST);
    ipc_add32(s, IPCSCOPE_OFF_RESPONSE_EVENT, 1, IPC_SEQ_CST);
    if (ipc_load32(s, IPCSCOPE_OFF_CLIENT_WAITING, IPC_SEQ_CST) != 0)
        ipc_plat_event_wake(s->plat, IPC_PLAT_RESPONSE_EVENT, ipc_word(s, IPCSCOPE_OFF_RESPONSE_EVENT), 1);
}

/* One trace record: seq 0, the fields, the real seq (release), then trace_head + 1. */
static void trace(struct ipc_server *srv, const ipc_request_t *req, int32_t status, uint32_t request_size,
                  uint32_t response_size, uint32_t flags, uint64_t sent, uint64_t done) {
    const struct ipc_section *s = &srv->s;
    if (!s->trace_capacity) return;
    uint64_t head = ipc_load64(s, IPCSCOPE_OFF_TRACE_HEAD, IPC_RELAXED);
    uint32_t rec = s->trace_offset + (uint32_t)(head & (s->trace_capacity - 1)) * IPCSCOPE_TRACE_RECORD_SIZE;
    ipc_store64(s, rec + IPCSCOPE_TR_SEQ, 0, IPC_RELEASE);
    __atomic_thread_fence(IPC_RELEASE);
    ipc_store32(s, rec + IPCSCOPE_TR_FUNCTION, req->function, IPC_RELAXED);
    ipc_store32(s, rec + IPCSCOPE_TR_STATUS, (uint32_t)status, IPC_RELAXED);
    ipc_store32(s, rec + IPCSCOPE_TR_REQUEST_SIZE, request_size, IPC_RELAXED);
    ipc_store32(s, rec + IPCSCOPE_TR_RESPONSE_SIZE, response_size, IPC_RELAXED);
    ipc_store32(s, rec + IPCSCOPE_TR_CLIENT_PID, (uint32_t)req->client_pid, IPC_RELAXED);
    ipc_store32(s, rec + IPCSCOPE_TR_FLAGS, flags, IPC_RELAXED);
    ipc_store64(s, rec + IPCSCOPE_TR_SENT_NS, sent, IPC_RELAXED);
    ipc_store64(s, rec + IPCSCOPE_TR_DONE_NS, done, IPC_RELAXED);
    uint8_t head16[16];
    memset(head16, 0, sizeof head16);
    if (!(flags & IPCSCOPE_TRACE_REJECTED))
        memcpy(head16, srv->request_copy, request_size < 16 ? request_size : 16);
    memcpy(s->base + rec + IPCSCOPE_TR_REQUEST_HEAD, head16, sizeof head16);
    ipc_store64(s, rec + IPCSCOPE_TR_SEQ, req->seq, IPC_RELEASE);
    ipc_store64(s, IPCSCOPE_OFF_TRACE_HEAD, head + 1, IPC_RELEASE);
}

/* PROCESSING, validate the size, copy the payload out, run the handler into the
 * response slot, answer, count, trace. */
static void serve_one(struct ipc_server *srv) {
    const struct ipc_section *s = &srv->s;
    /* The request's lines come over from the client's CPU, and the response slot's lines (read
     * there during the last call) must be owned here before they are written: ask for all of
     * them now, so the transfers overlap instead of stalling the copy and the answer. */
    ipc_prefetch_read(s, s->request_offset);
    ipc_prefetch_read(s, s->request_offset + IPCSCOPE_REQ_DATA);
    ipc_prefetch_write(s, s->response_offset);
    ipc_prefetch_write(s, s->response_offset + IPCSCOPE_RSP_DATA);
    /* PROCESSING first, its display time (relaxed) right after: the transfers overlap the clock
     * read instead of following it. */
    ipc_store32(s, IPCSCOPE_OFF_STATE, IPCSCOPE_STATE_PROCESSING, IPC_RELEASE);
    uint64_t start_ns = ipc_plat_now_mono_ns();
    ipc_store64(s, IPCSCOPE_OFF_STATE_SINCE_NS, start_ns, IPC_RELAXED);
    uint32_t off = s->request_offset;
    ipc_request_t req;
    memset(&req, 0, sizeof req);
    /* Every field is read once into a local; only the locals are used. */
    req.seq = ipc_load64(s, off + IPCSCOPE_REQ_SEQ, IPC_ACQUIRE);
    req.function = ipc_load32(s, off + IPCSCOPE_REQ_FUNCTION, IPC_RELAXED);
    uint32_t size = ipc_load32(s, off + IPCSCOPE_REQ_SIZE, IPC_RELAXED);
    req.client_pid = (int32_t)ipc_load32(s, off + IPCSCOPE_REQ_CLIENT_PID, IPC_RELAXED);
    req.client_tid = (int32_t)ipc_load32(s, off + IPCSCOPE_REQ_CLIENT_TID, IPC_RELAXED);
    uint64_t sent = ipc_load64(s, off + IPCSCOPE_REQ_SENT_NS, IPC_RELAXED);
    /* Read here, before the handler: a caller that dies in the handler frees the mutex for a
     * client that recovers it, and that recovery belongs to the next call, not this one. */
    uint64_t recovered = ipc_load64(s, IPCSCOPE_OFF_RECOVERED_COUNT, IPC_RELAXED);
    uint32_t flags = recovered != srv->last_recovered ? IPCSCOPE_TRACE_AFTER_RECOVERY : 0u;
    srv->last_recovered = recovered;

    int32_t status;
    uint32_t response_size = 0;
    void *slot = s->base + s->response_offset + IPCSCOPE_RSP_DATA;
    if (size > s->request_capacity) {
        status = IPCSCOPE_STATUS_BAD_REQUEST;
        flags |= IPCSCOPE_TRACE_REJECTED;
        srv->unpublished_rejected++;
    } else {
        if (size) memcpy(srv->request_copy, s->base + off + IPCSCOPE_REQ_DATA, size);
        req.request_size = size;
        req.request_data = srv->request_copy;
        ipc_response_t res;
        res.status = 0;
        res.response_size = 0;
        res.response_data = slot;
        res.response_capacity = s->response_capacity;
        srv->handler(srv->ctx, &req, &res);
        status = res.status;
        response_size = res.response_size;
        if (response_size > s->response_capacity) {
            status = IPCSCOPE_STATUS_HANDLER_FAILED;
            response_size = 0;
        } else if (res.response_data != slot && response_size) {
            if (res.response_data) memcpy(slot, res.response_data, response_size);  /* the handler's own buffer */
            else status = IPCSCOPE_STATUS_HANDLER_FAILED, response_size = 0;
        }
    }
    uint64_t done = ipc_plat_now_mono_ns();
    answer(s, req.seq, status, response_size, done);
    trace(srv, &req, status, size, response_size, flags, sent, done);
    /* Display counters: clients read line 1 on every call, so a busy server stores them with
     * the heartbeat, at most once a millisecond; wait_for_request stores them when a burst ends. */
    srv->unpublished_served++;
    srv->unpublished_service_ns = done - start_ns;
    srv->service_ns_pending = true;
    if (done - srv->last_heartbeat >= IPC_HEARTBEAT_BUSY_NS) {
        srv->last_heartbeat = done;
        ipc_store64(s, IPCSCOPE_OFF_HEARTBEAT_NS, done, IPC_RELAXED);
        flush_counters(srv);
    }
}

/* MARK: - shutdown */

/* Shutting-down flag, a pending request answered -4, server_pid = 0, every
 * waiter woken, the name removed if it is still ours. */
static void shut_down(struct ipc_server *srv) {
    struct ipc_section *s = &srv->s;
    __atomic_or_fetch(ipc_u32(s, IPCSCOPE_OFF_SERVER_FLAGS), IPCSCOPE_SERVER_SHUTTING_DOWN, IPC_SEQ_CST);
    if (ipc_load32(s, IPCSCOPE_OFF_STATE, IPC_ACQUIRE) == IPCSCOPE_STATE_REQUEST_READY)
        answer(s, ipc_load64(s, s->request_offset + IPCSCOPE_REQ_SEQ, IPC_ACQUIRE), IPCSCOPE_STATUS_SHUTTING_DOWN, 0,
               ipc_plat_now_mono_ns());
    ipc_store32(s, IPCSCOPE_OFF_SERVER_PID, 0, IPC_SEQ_CST);
    ipc_add32(s, IPCSCOPE_OFF_REQUEST_EVENT, 1, IPC_SEQ_CST);
    ipc_add32(s, IPCSCOPE_OFF_RESPONSE_EVENT, 1, IPC_SEQ_CST);
    ipc_plat_event_wake(s->plat, IPC_PLAT_REQUEST_EVENT, ipc_word(s, IPCSCOPE_OFF_REQUEST_EVENT), 1);
    ipc_plat_event_wake(s->plat, IPC_PLAT_RESPONSE_EVENT, ipc_word(s, IPCSCOPE_OFF_RESPONSE_EVENT), 1);
    if (!srv->keep_on_exit) ipc_plat_unlink_if_ours(s->plat, s->service);
    /* The mapping and the liveness lock stay until MBV_IPCFreeServer, so a late
     * MBV_IPCStopServer (from a signal handler, say) still writes to mapped memory. */
}

bool MBV_IPCServerLoop(ipc_server_t *srv) {
    ipc_clear_error();
    if (!srv) return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "MBV_IPCServerLoop: the server is NULL: check what "
                              "MBV_IPCInitServer returned"), false;
    int expected = PHASE_READY;
    if (!__atomic_compare_exchange_n(&srv->phase, &expected, PHASE_RUNNING, 0, IPC_SEQ_CST, IPC_SEQ_CST))
        return ipc_fail(MBV_IPC_ERR_STOPPED, "MBV_IPCServerLoop: the server of '%s' is %s", srv->s.service,
                        expected == PHASE_RUNNING ? "already running its loop" : "shut down: create a new one"), false;
    while (wait_for_request(srv)) serve_one(srv);
    flush_counters(srv);
    shut_down(srv);
    __atomic_store_n(&srv->phase, PHASE_CLOSED, IPC_SEQ_CST);
    return true;
}

void MBV_IPCStopServer(ipc_server_t *srv) {
    if (!srv) return;
    __atomic_store_n(&srv->stop, 1, IPC_SEQ_CST);
    const struct ipc_section *s = &srv->s;
    ipc_add32(s, IPCSCOPE_OFF_REQUEST_EVENT, 1, IPC_SEQ_CST);
    ipc_plat_event_wake(s->plat, IPC_PLAT_REQUEST_EVENT, ipc_word(s, IPCSCOPE_OFF_REQUEST_EVENT), 1);
}

void MBV_IPCFreeServer(ipc_server_t *srv) {
    if (!srv) return;
    int expected = PHASE_READY;
    if (__atomic_compare_exchange_n(&srv->phase, &expected, PHASE_CLOSED, 0, IPC_SEQ_CST, IPC_SEQ_CST)) {
        shut_down(srv);
    } else if (expected == PHASE_RUNNING) {
        /* Its loop runs on another thread: stop it and wait until it has shut down. */
        MBV_IPCStopServer(srv);
        while (__atomic_load_n(&srv->phase, IPC_SEQ_CST) != PHASE_CLOSED) ipc_plat_yield();
    }
    server_free(srv);
}
