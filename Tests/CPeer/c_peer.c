/*
 * c_peer.c — a C program that speaks the ipcscope section format, written only
 * from docs/section-format.md and Sources/CIPCScope/include/ipcscope_section.h.
 * It proves the format belongs to no language: the tests use it to call the
 * Swift server and to serve the Swift client.
 *
 *   c_peer call NAME FUNCTION TEXT     one call; prints "status=S size=N text=..."
 *   c_peer serve NAME COUNT            serve COUNT calls (reply: "C:" + request), then exit cleanly
 *
 * Build: cc -O2 -I Sources/CIPCScope/include -o c_peer Tests/CPeer/c_peer.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipcscope_section.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define SUB(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_SEQ_CST)

static uint64_t mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}
static long futex(uint32_t *w, int op, uint32_t v, const struct timespec *ts) {
    return syscall(SYS_futex, w, op, v, ts, NULL, 0);
}
static int ofd_lock(int fd, int cmd, short type) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (fcntl(fd, cmd, &fl) != 0) return -1;
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}
static void fail(const char *what) {
    printf("error=%s errno=%d\n", what, errno);
    exit(1);
}

static int do_call(const char *name, uint32_t function, const char *text) {
    char path[256];
    snprintf(path, sizeof path, IPCSCOPE_SHM_PREFIX "%s", name);
    int fd = shm_open(path, O_RDWR | O_NOFOLLOW, 0);
    if (fd < 0) fail("shm_open");
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)IPCSCOPE_HEADER_SIZE) fail("size");
    if (st.st_uid != geteuid() && st.st_uid != 0) fail("foreign owner");
    ipcscope_header_t h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) fail("pread");
    if (memcmp(h.magic, IPCSCOPE_MAGIC, 8) != 0 || h.version != IPCSCOPE_VERSION) fail("magic/version");
    if (h.section_size != (uint64_t)st.st_size ||
        h.section_size != ipcscope_section_size(h.request_capacity, h.response_capacity, h.trace_capacity) ||
        h.request_offset != ipcscope_request_offset() || h.response_offset != ipcscope_response_offset(h.request_capacity))
        fail("layout");
    if (ofd_lock(fd, F_OFD_GETLK, F_WRLCK) != 1) fail("no server");
    size_t len = strlen(text);
    if (len > h.request_capacity) fail("payload too large");

    uint8_t *base = mmap(NULL, h.section_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) fail("mmap");
    ipcscope_header_t *s = (ipcscope_header_t *)base;
    ipcscope_request_t *rq = (ipcscope_request_t *)(base + h.request_offset);
    ipcscope_response_t *rs = (ipcscope_response_t *)(base + h.response_offset);
    uint64_t deadline = mono() + 5000000000ull;
    struct timespec dl = {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)};

    /* 2. lock */
    int r = pthread_mutex_clocklock(&s->mutex.mutex, CLOCK_MONOTONIC, &dl);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&s->mutex.mutex);
        ADD(&s->recovered_count, 1);
    } else if (r != 0) {
        errno = r;
        fail("lock");
    }
    STORE(&s->owner_pid, getpid());
    STORE(&s->owner_tid, (int32_t)syscall(SYS_gettid));
    STORE(&s->owner_since_ns, mono());
    ADD(&s->lock_count, 1);
    uint32_t epoch = LOAD(&s->server_epoch);

    /* 3 + 5. wait helper: state predicate on the response event */
#define WAIT_FOR(cond)                                                                  \
    while (!(cond)) {                                                                   \
        uint32_t seen = LOAD(&s->response_event);                                       \
        ADD(&s->client_waiting, 1);                                                     \
        if (cond) { SUB(&s->client_waiting, 1); break; }                                \
        if (LOAD(&s->server_pid) == 0 || LOAD(&s->server_epoch) != epoch ||             \
            ofd_lock(fd, F_OFD_GETLK, F_WRLCK) != 1) { SUB(&s->client_waiting, 1); fail("server gone"); } \
        if (mono() > deadline) { SUB(&s->client_waiting, 1); fail("timeout"); }        \
        struct timespec slice = {0, 100000000};                                         \
        futex(&s->response_event, FUTEX_WAIT, seen, &slice);                            \
        SUB(&s->client_waiting, 1);                                                     \
    }
    WAIT_FOR(LOAD(&s->state) == IPCSCOPE_STATE_IDLE || LOAD(&s->state) == IPCSCOPE_STATE_RESPONSE_READY);

    /* 4. write the request, seq last */
    uint64_t seq = ADD(&s->next_seq, 1);
    memcpy((uint8_t *)rq + IPCSCOPE_REQ_DATA, text, len);
    rq->request_size = (uint32_t)len;
    rq->function = function;
    rq->client_pid = getpid();
    rq->client_tid = (int32_t)syscall(SYS_gettid);
    rq->sent_ns = mono();
    STORE(&rq->seq, seq);
    STORE(&s->state_since_ns, mono());
    STORE(&s->state, IPCSCOPE_STATE_REQUEST_READY);
    ADD(&s->request_event, 1);
    if (LOAD(&s->server_waiting) != 0) futex(&s->request_event, FUTEX_WAKE, 1, NULL);

    /* 5. wait for our answer */
    WAIT_FOR(LOAD(&s->state) == IPCSCOPE_STATE_RESPONSE_READY && LOAD(&rs->seq) == seq);

    /* 6. check, copy, IDLE, unlock */
    uint32_t size = rs->response_size;
    int32_t status = rs->status;
    if (size > h.response_capacity) fail("protocol");
    char *buf = malloc(size + 1);
    memcpy(buf, (uint8_t *)rs + IPCSCOPE_RSP_DATA, size);
    buf[size] = 0;
    STORE(&s->state_since_ns, mono());
    STORE(&s->state, IPCSCOPE_STATE_IDLE);
    STORE(&s->owner_pid, 0);
    STORE(&s->owner_tid, 0);
    pthread_mutex_unlock(&s->mutex.mutex);
    printf("status=%d size=%u text=%s\n", status, size, buf);
    free(buf);
    munmap(base, h.section_size);
    close(fd);
    return 0;
}

static int do_serve(const char *name, int count) {
    char path[256];
    snprintf(path, sizeof path, IPCSCOPE_SHM_PREFIX "%s", name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) fail("shm_open O_EXCL");
    if (ofd_lock(fd, F_OFD_SETLK, F_WRLCK) != 0) fail("liveness lock");
    uint32_t rqc = IPCSCOPE_DEFAULT_CAPACITY, rsc = IPCSCOPE_DEFAULT_CAPACITY, tc = IPCSCOPE_DEFAULT_TRACE_CAPACITY;
    uint64_t size = ipcscope_section_size(rqc, rsc, tc);
    if (ftruncate(fd, (off_t)size) != 0) fail("ftruncate");
    uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) fail("mmap");
    ipcscope_header_t *s = (ipcscope_header_t *)base;
    s->version = IPCSCOPE_VERSION;
    s->header_size = IPCSCOPE_HEADER_SIZE;
    s->section_size = size;
    s->request_offset = ipcscope_request_offset();
    s->request_capacity = rqc;
    s->response_offset = ipcscope_response_offset(rqc);
    s->response_capacity = rsc;
    s->trace_offset = ipcscope_trace_offset(rqc, rsc, tc);
    s->trace_capacity = tc;
    s->mutex_offset = IPCSCOPE_MUTEX_OFFSET;
    s->creator_uid = geteuid();
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->mutex.mutex, &a);
    STORE(&s->server_pid, getpid());
    STORE(&s->server_epoch, 1);
    STORE(&s->heartbeat_ns, mono());
    STORE(&s->server_flags, IPCSCOPE_SERVER_TRACING);
    uint64_t magic;
    memcpy(&magic, IPCSCOPE_MAGIC, 8);
    __atomic_store_n((uint64_t *)s->magic, magic, __ATOMIC_RELEASE);
    printf("serving\n");
    fflush(stdout);

    ipcscope_request_t *rq = (ipcscope_request_t *)(base + s->request_offset);
    ipcscope_response_t *rs = (ipcscope_response_t *)(base + s->response_offset);
    for (int served = 0; served < count; served++) {
        while (LOAD(&s->state) != IPCSCOPE_STATE_REQUEST_READY) {
            uint32_t seen = LOAD(&s->request_event);
            ADD(&s->server_waiting, 1);
            if (LOAD(&s->state) == IPCSCOPE_STATE_REQUEST_READY) { SUB(&s->server_waiting, 1); break; }
            struct timespec slice = {1, 0};
            futex(&s->request_event, FUTEX_WAIT, seen, &slice);
            SUB(&s->server_waiting, 1);
            STORE(&s->heartbeat_ns, mono());
        }
        STORE(&s->state_since_ns, mono());
        STORE(&s->state, IPCSCOPE_STATE_PROCESSING);
        uint64_t seq = LOAD(&rq->seq);
        uint32_t n = rq->request_size; /* read once */
        int32_t status = 0;
        uint32_t out = 0;
        if (n > rqc) {
            status = IPCSCOPE_STATUS_BAD_REQUEST;
            ADD(&s->calls_rejected, 1);
        } else if (n + 2 > rsc) {
            status = IPCSCOPE_STATUS_HANDLER_FAILED;
        } else {
            uint8_t *dst = (uint8_t *)rs + IPCSCOPE_RSP_DATA;
            memmove(dst + 2, (uint8_t *)rq + IPCSCOPE_REQ_DATA, n);
            dst[0] = 'C';
            dst[1] = ':';
            out = n + 2;
        }
        rs->status = status;
        rs->response_size = out;
        rs->done_ns = mono();
        STORE(&rs->seq, seq);
        STORE(&s->state_since_ns, mono());
        STORE(&s->state, IPCSCOPE_STATE_RESPONSE_READY);
        ADD(&s->response_event, 1);
        if (LOAD(&s->client_waiting) != 0) futex(&s->response_event, FUTEX_WAKE, INT32_MAX, NULL);
        ADD(&s->calls_served, 1);
    }
    /* clean shutdown */
    __atomic_or_fetch(&s->server_flags, IPCSCOPE_SERVER_SHUTTING_DOWN, __ATOMIC_SEQ_CST);
    STORE(&s->server_pid, 0);
    ADD(&s->response_event, 1);
    futex(&s->response_event, FUTEX_WAKE, INT32_MAX, NULL);
    shm_unlink(path);
    munmap(base, size);
    close(fd);
    printf("done %d\n", count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "call") == 0) return do_call(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), argv[4]);
    if (argc >= 4 && strcmp(argv[1], "serve") == 0) return do_serve(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: c_peer call NAME FUNCTION TEXT | c_peer serve NAME COUNT\n");
    return 2;
}
