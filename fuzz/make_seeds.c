/*
 * make_seeds.c — the seed images of fuzz/corpus, made by the real library: sections
 * as a C server leaves them (fresh, after a served call, stopped), and damaged copies
 * of the kinds the library must refuse or repair. Run by `fuzz/run.sh --seeds`:
 *
 *   make_seeds CORPUS      writes CORPUS/client_connect/seed-* and CORPUS/server_takeover/seed-*
 *
 * The images are the bytes of /dev/shm objects this program served under a name of
 * its own ("cfuzz-seed-<pid>"), removed before it exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbv_ipc.h"

static const char *corpus;
static char name[64], path[96];

static void die(const char *what) {
    fprintf(stderr, "make_seeds: %s: %s (%s)\n", what, MBV_IPCLastErrorMessage(), strerror(errno));
    shm_unlink(path);
    exit(1);
}

/* The object's bytes now. */
static uint8_t *snapshot(size_t *size) {
    int fd = shm_open(path, O_RDONLY, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) die("reading the section");
    uint8_t *b = malloc((size_t)st.st_size);
    if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size) die("reading the section");
    close(fd);
    *size = (size_t)st.st_size;
    return b;
}

static void put(const char *seed, const uint8_t *bytes, size_t size) {
    static const char *const targets[] = {"client_connect", "server_takeover"};
    for (int i = 0; i < 2; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", corpus, targets[i]);
        mkdir(file, 0755);
        snprintf(file, sizeof file, "%s/%s/seed-%s", corpus, targets[i], seed);
        FILE *f = fopen(file, "wb");
        if (!f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) die(file);
    }
    printf("seed-%s: %zu bytes\n", seed, size);
}

static void put32(uint8_t *b, uint32_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, uint32_t off, uint64_t v) { memcpy(b + off, &v, 8); }

static void echo(void *ctx, const ipc_request_t *req, ipc_response_t *res) {
    (void)ctx;
    uint32_t n = req->request_size < res->response_capacity ? req->request_size : res->response_capacity;
    memcpy(res->response_data, req->request_data, n);
    res->response_size = n;
    res->status = 0;
}

static void *loop(void *srv) {
    MBV_IPCServerLoop((ipc_server_t *)srv);
    return NULL;
}

static ipc_server_t *serve(uint32_t req, uint32_t rsp, uint32_t trace, bool no_trace) {
    ipc_server_options_t o;
    memset(&o, 0, sizeof o);
    o.request_capacity = req;
    o.response_capacity = rsp;
    o.trace_capacity = trace;
    o.no_trace = no_trace;
    o.keep_on_exit = true;
    ipc_server_t *srv = MBV_IPCInitServerEx(name, echo, NULL, &o);
    if (!srv) die("MBV_IPCInitServerEx");
    return srv;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS\n");
        return 64;
    }
    corpus = argv[1];
    snprintf(name, sizeof name, "cfuzz-seed-%d", (int)getpid());
    snprintf(path, sizeof path, "/ipcscope.%s", name);
    size_t size;
    uint8_t *b;

    /* A small section (64/64, 4 trace records: one 4 KiB page), fresh, then after a call. */
    ipc_server_t *srv = serve(64, 64, 4, false);
    b = snapshot(&size);
    put("fresh-64-64-4", b, size);
    free(b);
    pthread_t thread;
    if (pthread_create(&thread, NULL, loop, srv) != 0) die("pthread_create");
    MBV_IPC_CONNECTION conn = {0};
    char answer[64];
    uint16_t answer_size = sizeof answer;
    if (!MBV_IPCConnectA(name, &conn) || !MBV_IPCCall(&conn, 7, "seed", 4, answer, &answer_size)) die("a call");
    MBV_IPCDisconnect(&conn);
    uint8_t *served = snapshot(&size);
    size_t served_size = size;
    put("served-64-64-4", served, size);
    MBV_IPCStopServer(srv);
    pthread_join(thread, NULL);
    b = snapshot(&size);
    put("stopped-64-64-4", b, size);  /* shutting down, server_pid 0: stale */
    free(b);
    MBV_IPCFreeServer(srv);
    shm_unlink(path);

    /* No trace ring; and the default capacities (4096/4096/256: 28 KiB). */
    srv = serve(100, 200, 0, true);
    b = snapshot(&size);
    put("fresh-100-200-notrace", b, size);
    free(b);
    MBV_IPCFreeServer(srv);
    shm_unlink(path);
    srv = serve(0, 0, 0, false);
    b = snapshot(&size);
    put("fresh-default", b, size);
    free(b);
    MBV_IPCFreeServer(srv);
    shm_unlink(path);

    /* Damaged copies of the served section. */
    b = malloc(served_size);
    struct { const char *seed; void (*damage)(uint8_t *); size_t size; } damaged[] = {
        {"truncated-512", NULL, 512},
        {"truncated-4000", NULL, 4000},
    };
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) put(damaged[i].seed, served, damaged[i].size);
#define DAMAGED(seed, statement)          \
    do {                                  \
        memcpy(b, served, served_size);   \
        statement;                        \
        put(seed, b, served_size);        \
    } while (0)
    DAMAGED("bad-magic", memcpy(b, "IPCSCOPF", 8));
    DAMAGED("version-2", put32(b, IPCSCOPE_OFF_VERSION, 2));
    DAMAGED("section-size-2e63", put64(b, IPCSCOPE_OFF_SECTION_SIZE, 1ull << 63));
    DAMAGED("request-capacity-lies", put32(b, IPCSCOPE_OFF_REQUEST_CAPACITY, 65));
    DAMAGED("creator-uid-65534", put32(b, IPCSCOPE_OFF_CREATOR_UID, 65534));
    DAMAGED("nt-objects-flag", put32(b, IPCSCOPE_OFF_SERVER_FLAGS, IPCSCOPE_SERVER_TRACING | (1u << 3)));
    /* The mutex's lock word: a dead owner marked by the kernel, and an owner thread that does not exist. */
    DAMAGED("mutex-owner-died", (put32(b, IPCSCOPE_OFF_MUTEX, IPCSCOPE_FUTEX_OWNER_DIED | 0x3ffffff0u),
                                 put32(b, IPCSCOPE_OFF_OWNER_PID, 0x3ffffff0u)));
    DAMAGED("mutex-held-by-gone-thread", put32(b, IPCSCOPE_OFF_MUTEX, 0x3ffffff0u));
    /* A call left in the slot: REQUEST_READY with a seq, and a stale server (pid 0). */
    DAMAGED("stale-request-ready", (put32(b, IPCSCOPE_OFF_STATE, IPCSCOPE_STATE_REQUEST_READY),
                                    put64(b, 512 + IPCSCOPE_REQ_SEQ, 2), put32(b, IPCSCOPE_OFF_SERVER_PID, 0)));
    DAMAGED("trace-head-max", put64(b, IPCSCOPE_OFF_TRACE_HEAD, UINT64_MAX));
    free(b);
    free(served);
    return 0;
}
