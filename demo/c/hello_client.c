/*
 * hello_client.c — a C client for an ipcscope service, for lesson 6.
 *
 * It uses nothing from the Swift framework: only libc and the format's C header,
 * Sources/CIPCScope/include/ipcscope_section.h (the same contract as
 * docs/section-format.md). It talks to the demo service (ipcscope demo --server-only),
 * whose put and get take and answer the C structs below (demo/schemas/demo.yaml):
 *
 *   put {key "year", value 1972}  function 1: store a value
 *   get {key "year"}              function 2: read it back
 *   echo "hello from C"           function 0
 *
 * Build and run:
 *   cc -O2 -Wall -I Sources/CIPCScope/include -o hello_client demo/c/hello_client.c
 *   ./hello_client NAME
 *
 * Each step of a call below is numbered as in "The call, step by step" of the format.
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

/* The demo service's put and get (demo/schemas/demo.yaml says the same to ipcscope). */
enum demo_put_flags { DEMO_PUT_IF_ABSENT = 1 << 0, DEMO_PUT_ADD = 1 << 1 };
enum demo_put_result { DEMO_CREATED, DEMO_REPLACED, DEMO_ADDED, DEMO_KEPT };
static const char *const demo_result_names[] = {"created", "replaced", "added", "kept"};

struct demo_put_req {
    char key[16];  /*  0: NUL-terminated */
    uint8_t flags; /* 16: enum demo_put_flags; 7 bytes of padding follow */
    int64_t value; /* 24 */
};
struct demo_put_rsp {
    int64_t previous; /*  0 */
    uint32_t version; /*  8 */
    uint8_t result;   /* 12: enum demo_put_result; 3 bytes of padding follow */
};
struct demo_get_req {
    char key[16];
};
struct demo_get_rsp {
    int64_t value;    /*  0 */
    uint32_t version; /*  8 */
    uint8_t last;     /* 12: enum demo_put_result */
};
_Static_assert(sizeof(struct demo_put_req) == 32, "put request: 32 bytes");
_Static_assert(sizeof(struct demo_put_rsp) == 16, "put answer: 16 bytes");
_Static_assert(sizeof(struct demo_get_req) == 16, "get request: 16 bytes");
_Static_assert(sizeof(struct demo_get_rsp) == 16, "get answer: 16 bytes");

/* Every field marked A in the format is read and written atomically (seq_cst). */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* CLOCK_MONOTONIC in nanoseconds: the clock of every *_ns field. */
static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* An open connection: the mapped section and pointers to its parts. */
struct service {
    int fd;
    uint8_t *base;
    size_t size;
    ipcscope_header_t *h;      /* the 512-byte header */
    ipcscope_request_t *req;   /* the request slot; its data follows at +64 */
    ipcscope_response_t *rsp;  /* the response slot; its data follows at +64 */
};

/* Is a server alive? It holds an OFD lock on byte 0 for as long as it lives. */
static int server_alive(int fd) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return 0;
    return fl.l_type != F_UNLCK; /* someone holds a conflicting lock: the server */
}

/* Opens /dev/shm/ipcscope.NAME and checks it is a section we can trust. */
static int open_service(const char *name, struct service *s) {
    char path[256];
    snprintf(path, sizeof path, IPCSCOPE_SHM_PREFIX "%s", name);
    s->fd = shm_open(path, O_RDWR | O_NOFOLLOW, 0);
    if (s->fd < 0) { fprintf(stderr, "no service '%s' (%s)\n", name, strerror(errno)); return -1; }

    struct stat st;
    if (fstat(s->fd, &st) != 0 || st.st_size < (off_t)IPCSCOPE_HEADER_SIZE) { fprintf(stderr, "too small\n"); return -1; }
    if (st.st_uid != geteuid() && st.st_uid != 0) { fprintf(stderr, "owned by another user: refusing\n"); return -1; }

    /* Read the identity with pread first: never trust sizes before checking them. */
    ipcscope_header_t id;
    if (pread(s->fd, &id, sizeof id, 0) != (ssize_t)sizeof id) return -1;
    if (memcmp(id.magic, IPCSCOPE_MAGIC, 8) != 0 || id.version != IPCSCOPE_VERSION) {
        fprintf(stderr, "not an ipcscope section of version %u\n", IPCSCOPE_VERSION);
        return -1;
    }
    if (id.section_size != (uint64_t)st.st_size ||
        id.request_offset != ipcscope_request_offset() ||
        id.response_offset != ipcscope_response_offset(id.request_capacity)) {
        fprintf(stderr, "inconsistent layout\n");
        return -1;
    }
    if (!server_alive(s->fd)) { fprintf(stderr, "stale section: no server running\n"); return -1; }

    s->size = id.section_size;
    s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (s->base == MAP_FAILED) return -1;
    s->h = (ipcscope_header_t *)s->base;
    s->req = (ipcscope_request_t *)(s->base + id.request_offset);
    s->rsp = (ipcscope_response_t *)(s->base + id.response_offset);
    return 0;
}

/* Waits until cond() holds: sleeps on the response event (a futex word) in 100 ms slices,
 * checking between slices that the server still lives. Returns 0, or -1 on timeout or death. */
#define WAIT_FOR(s, cond, deadline, epoch)                                                    \
    while (!(cond)) {                                                                          \
        uint32_t seen = LOAD(&(s)->h->response_event);                                         \
        ADD(&(s)->h->client_waiting, 1); /* tell the server to FUTEX_WAKE us */                \
        if (cond) { ADD(&(s)->h->client_waiting, -1); break; }                                 \
        if (LOAD(&(s)->h->server_pid) == 0 || LOAD(&(s)->h->server_epoch) != (epoch) ||        \
            !server_alive((s)->fd)) {                                                          \
            ADD(&(s)->h->client_waiting, -1); fprintf(stderr, "server gone\n"); goto fail;     \
        }                                                                                      \
        if (now_ns() > (deadline)) { ADD(&(s)->h->client_waiting, -1); fprintf(stderr, "timeout\n"); goto fail; } \
        struct timespec slice = {0, 100000000};                                                \
        syscall(SYS_futex, &(s)->h->response_event, FUTEX_WAIT, seen, &slice, NULL, 0);        \
        ADD(&(s)->h->client_waiting, -1);                                                      \
    }

/* One call: len bytes of data. Copies the answer into out (at most cap - 1 bytes, then a NUL);
 * returns its size, or -1 on failure; *status gets the handler's status. */
static long call(struct service *s, uint32_t function, const void *data, size_t len, char *out, size_t cap,
                 int32_t *status) {
    uint32_t req_cap = s->h->request_capacity, rsp_cap = s->h->response_capacity;
    /* 1. refuse an oversized payload before touching the section */
    if (len > req_cap) { fprintf(stderr, "payload too large\n"); return -1; }

    /* 2. lock the robust mutex; EOWNERDEAD means the last owner died holding it: repair */
    uint64_t deadline = now_ns() + 5000000000ull;
    struct timespec dl = {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)};
    int r = pthread_mutex_clocklock(&s->h->mutex.mutex, CLOCK_MONOTONIC, &dl);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&s->h->mutex.mutex);
        ADD(&s->h->recovered_count, 1);
    } else if (r != 0) {
        fprintf(stderr, "cannot lock the mutex: %s\n", strerror(r));
        return -1;
    }
    STORE(&s->h->owner_pid, getpid()); /* the owner record, for inspectors */
    STORE(&s->h->owner_tid, (int32_t)syscall(SYS_gettid));
    STORE(&s->h->owner_since_ns, now_ns());
    ADD(&s->h->lock_count, 1);
    uint32_t epoch = LOAD(&s->h->server_epoch);

    /* 3. wait until the slot is free (IDLE, or an old RESPONSE_READY nobody collected) */
    WAIT_FOR(s, LOAD(&s->h->state) == IPCSCOPE_STATE_IDLE || LOAD(&s->h->state) == IPCSCOPE_STATE_RESPONSE_READY,
             deadline, epoch);

    /* 4. write the request, its seq last; REQUEST_READY; signal the request event */
    uint64_t seq = ADD(&s->h->next_seq, 1);
    memcpy((uint8_t *)s->req + IPCSCOPE_REQ_DATA, data, len);
    s->req->request_size = (uint32_t)len;
    s->req->function = function;
    s->req->client_pid = getpid();
    s->req->client_tid = (int32_t)syscall(SYS_gettid);
    s->req->sent_ns = now_ns();
    STORE(&s->req->seq, seq);
    STORE(&s->h->state_since_ns, now_ns());
    STORE(&s->h->state, IPCSCOPE_STATE_REQUEST_READY);
    ADD(&s->h->request_event, 1);
    if (LOAD(&s->h->server_waiting) != 0) /* wake the server only if it sleeps */
        syscall(SYS_futex, &s->h->request_event, FUTEX_WAKE, 1, NULL, NULL, 0);

    /* 5. wait for our answer: RESPONSE_READY with our seq */
    WAIT_FOR(s, LOAD(&s->h->state) == IPCSCOPE_STATE_RESPONSE_READY && LOAD(&s->rsp->seq) == seq, deadline, epoch);

    /* 6. read the size once, check it, copy the answer, IDLE, release the mutex */
    uint32_t size = s->rsp->response_size;
    *status = s->rsp->status;
    if (size > rsp_cap) { fprintf(stderr, "protocol error\n"); goto fail; }
    size_t n = size < cap - 1 ? size : cap - 1;
    memcpy(out, (uint8_t *)s->rsp + IPCSCOPE_RSP_DATA, n);
    out[n] = 0;
    STORE(&s->h->state_since_ns, now_ns());
    STORE(&s->h->state, IPCSCOPE_STATE_IDLE);
    STORE(&s->h->owner_pid, 0);
    STORE(&s->h->owner_tid, 0);
    pthread_mutex_unlock(&s->h->mutex.mutex);
    return (long)size;

fail: /* 7. on failure, leave the state as it is (the next client's step 3 protects the slot) */
    STORE(&s->h->owner_pid, 0);
    STORE(&s->h->owner_tid, 0);
    pthread_mutex_unlock(&s->h->mutex.mutex);
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s SERVICE\n", argv[0]); return 2; }
    struct service s;
    if (open_service(argv[1], &s) != 0) return 1;
    printf("hello_client (C, pid %d) connected to '%s': %u-byte slots, server pid %d, epoch %u\n",
           getpid(), argv[1], s.h->request_capacity, LOAD(&s.h->server_pid), LOAD(&s.h->server_epoch));

    char answer[4096];
    int32_t status = 0;
    long n;

    /* put: the struct's bytes are the payload; = {0} zeroes the padding too. */
    struct demo_put_req put = {0};
    strncpy(put.key, "year", sizeof put.key - 1);
    put.value = 1972;
    if ((n = call(&s, 1, &put, sizeof put, answer, sizeof answer, &status)) < 0) return 1;
    struct demo_put_rsp put_rsp = {0};
    memcpy(&put_rsp, answer, (size_t)n < sizeof put_rsp ? (size_t)n : sizeof put_rsp);
    printf("put {key \"%s\", value %lld} -> status %d, %ld bytes: previous %lld, version %u, result %s\n", put.key,
           (long long)put.value, status, n, (long long)put_rsp.previous, put_rsp.version,
           put_rsp.result <= DEMO_KEPT ? demo_result_names[put_rsp.result] : "?");

    struct demo_get_req get = {0};
    strncpy(get.key, "year", sizeof get.key - 1);
    if ((n = call(&s, 2, &get, sizeof get, answer, sizeof answer, &status)) < 0) return 1;
    struct demo_get_rsp get_rsp = {0};
    memcpy(&get_rsp, answer, (size_t)n < sizeof get_rsp ? (size_t)n : sizeof get_rsp);
    printf("get {key \"%s\"} -> status %d, %ld bytes: value %lld, version %u\n", get.key, status, n,
           (long long)get_rsp.value, get_rsp.version);

    const char *hello = "hello from C";
    if (call(&s, 0, hello, strlen(hello), answer, sizeof answer, &status) < 0) return 1;
    printf("echo \"%s\" -> status %d, \"%s\"\n", hello, status, answer);
    munmap(s.base, s.size);
    close(s.fd);
    return 0;
}
