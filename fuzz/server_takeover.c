/*
 * server_takeover.c — libFuzzer target: what a server of the C library does with an
 * object that already holds its name. The input is a section image of any length; it
 * becomes /dev/shm/ipcscope.<name> (see fuzz_object.h) and MBV_IPCInitServerEx runs
 * the real create-or-take-over path on it: the exclusive create that finds the name
 * taken, the open (size bounds, regular file), check_existing (owner, the liveness
 * lock, the identity and layout checks, the capacities asked for, creator_uid), the
 * repair of a mutex whose owner died or the recreation of one beyond repair, the
 * replacement of an invalid object when asked, and start(). MBV_IPCFreeServer then
 * shuts the server down (flag, pid 0, waiters woken, the name removed). Nothing here
 * waits: trylocks only, and the server loop never runs.
 *
 * The options come from the image, so that the takeover itself is reachable: the
 * capacities it declares (when in range), and the byte at offset 92 (reserved_92 in
 * the format, which the library never reads) as knobs: bit 0 replace_invalid, bit 1
 * ask for the default capacities instead, bit 2 keep_on_exit, bit 3 no_trace, bit 4 a
 * live server holds the name (this process holds the liveness lock; see
 * fuzz_object.h). Without it the image is a dead server's section, as after a crash.
 *
 * Mutation: libFuzzer's, and aligned fields of the image (fuzz_mutate_section).
 *
 * Checked beyond "no crash, no sanitizer report": a refusal has a code and a one-line
 * message; a server that starts leaves a valid section of the capacities asked for,
 * with its own pid, IDLE, and the next epoch of the image it took over (or epoch 1 in
 * a section it made anew).
 */
#include <stdint.h>
#include <stddef.h>

#include "fuzz_object.h"
#include "mbv_ipc.h"

static struct fuzz_object object;

static void handler(void *ctx, const ipc_request_t *req, ipc_response_t *res) {
    (void)ctx, (void)req;
    res->status = 0;
}

static void fail(const char *what, uint64_t got, uint64_t expected) {
    fprintf(stderr, "after a successful start: %s is %llu, expected %llu\n", what, (unsigned long long)got,
            (unsigned long long)expected);
    abort();
}

/* The section a started server leaves, read back through a second description. */
static void check_started(const ipc_server_t *srv, const ipc_server_options_t *o, int same_object,
                          uint32_t old_epoch) {
    size_t size = 0;
    uint8_t *now = fuzz_object_read(&object, &size);
    if (!now) fail("the object's presence", 0, 1);
    uint32_t req = 0, rsp = 0;
    MBV_IPCServerCapacities(srv, &req, &rsp);
    if (req != o->request_capacity || rsp != o->response_capacity) fail("the request capacity", req, o->request_capacity);
    if (size < IPCSCOPE_HEADER_SIZE || memcmp(now, IPCSCOPE_MAGIC, 8) != 0) fail("the magic's presence", 0, 1);
    if (fuzz_u64(now, IPCSCOPE_OFF_SECTION_SIZE) != size) fail("section_size", fuzz_u64(now, IPCSCOPE_OFF_SECTION_SIZE), size);
    if (fuzz_u32(now, IPCSCOPE_OFF_REQUEST_CAPACITY) != req) fail("request_capacity", fuzz_u32(now, IPCSCOPE_OFF_REQUEST_CAPACITY), req);
    if (fuzz_u32(now, IPCSCOPE_OFF_RESPONSE_CAPACITY) != rsp) fail("response_capacity", fuzz_u32(now, IPCSCOPE_OFF_RESPONSE_CAPACITY), rsp);
    if (fuzz_u32(now, IPCSCOPE_OFF_TRACE_CAPACITY) != o->trace_capacity)
        fail("trace_capacity", fuzz_u32(now, IPCSCOPE_OFF_TRACE_CAPACITY), o->trace_capacity);
    if (fuzz_u32(now, IPCSCOPE_OFF_SERVER_PID) != (uint32_t)getpid()) fail("server_pid", fuzz_u32(now, IPCSCOPE_OFF_SERVER_PID), (uint32_t)getpid());
    if (fuzz_u32(now, IPCSCOPE_OFF_CREATOR_UID) != (uint32_t)geteuid()) fail("creator_uid", fuzz_u32(now, IPCSCOPE_OFF_CREATOR_UID), geteuid());
    if (fuzz_u32(now, IPCSCOPE_OFF_STATE) != IPCSCOPE_STATE_IDLE) fail("state", fuzz_u32(now, IPCSCOPE_OFF_STATE), IPCSCOPE_STATE_IDLE);
    uint32_t epoch = fuzz_u32(now, IPCSCOPE_OFF_SERVER_EPOCH);
    if (same_object && epoch != old_epoch + 1u) fail("server_epoch after a takeover", epoch, old_epoch + 1u);
    if (!same_object && epoch != 1) fail("server_epoch of a new section", epoch, 1);
    free(now);
}

/* Whether the name still names the object we wrote (a takeover) or a new one (replaced). */
static int still_ours(void) {
    struct stat mine, named;
    int fd = shm_open(object.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) return 0;
    int same = fstat(fd, &named) == 0 && fstat(object.fd, &mine) == 0 && mine.st_ino == named.st_ino;
    close(fd);
    return same;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
    return fuzz_mutate_section(data, size, max_size, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!object.name[0]) fuzz_object_name(&object, "server");
    uint8_t knobs = fuzz_knobs(data, size);
    fuzz_object_put(&object, data, size, (knobs & FUZZ_KNOB_LIVENESS) != 0);

    ipc_server_options_t o;
    memset(&o, 0, sizeof o);
    if (size >= IPCSCOPE_OFF_TRACE_CAPACITY + 4 && !(knobs & 2)) {
        uint32_t req = fuzz_u32(data, IPCSCOPE_OFF_REQUEST_CAPACITY), rsp = fuzz_u32(data, IPCSCOPE_OFF_RESPONSE_CAPACITY);
        uint32_t tr = fuzz_u32(data, IPCSCOPE_OFF_TRACE_CAPACITY);
        if (req <= IPCSCOPE_MAX_CAPACITY) o.request_capacity = req;
        if (rsp <= IPCSCOPE_MAX_CAPACITY) o.response_capacity = rsp;
        if (tr <= IPCSCOPE_MAX_TRACE_CAPACITY && (tr & (tr - 1)) == 0) o.trace_capacity = tr;
        o.no_trace = tr == 0;
    }
    o.replace_invalid = knobs & 1;
    o.keep_on_exit = (knobs & 4) != 0;
    if (knobs & 8) o.no_trace = true;
    uint32_t old_epoch = size >= IPCSCOPE_OFF_SERVER_EPOCH + 4 ? fuzz_u32(data, IPCSCOPE_OFF_SERVER_EPOCH) : 0;

    ipc_server_t *srv = MBV_IPCInitServerEx(object.name, handler, NULL, &o);
    if (srv) {
        /* What the library filled in for the zeros (its documented defaults). */
        if (!o.request_capacity) o.request_capacity = IPCSCOPE_DEFAULT_CAPACITY;
        if (!o.response_capacity) o.response_capacity = IPCSCOPE_DEFAULT_CAPACITY;
        if (!o.trace_capacity) o.trace_capacity = IPCSCOPE_DEFAULT_TRACE_CAPACITY;
        if (o.no_trace) o.trace_capacity = 0;
        int same = still_ours();
        fuzz_say("started", same ? "took the section over" : "made a new section");
        check_started(srv, &o, same, old_epoch);
        MBV_IPCFreeServer(srv);
    } else {
        fuzz_say("refused", MBV_IPCLastErrorMessage());
        fuzz_check_error(MBV_IPCLastError(), MBV_IPCLastErrorMessage(), "MBV_IPCInitServerEx");
    }
    fuzz_object_remove(&object);
    return 0;
}
