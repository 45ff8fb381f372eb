/*
 * c_probe.c — a C client of the MBV_IPC library for its tests: calls of any size,
 * and every bad input the API must refuse with a reason instead of crashing.
 *
 *   c_probe connect NAME                          "connected R/S" or "fail code=C: message"
 *   c_probe call NAME FUNCTION TEXT [BUF] [MS]    one call with TEXT (no terminator)
 *   c_probe size NAME BYTES [BUF]                 one call of BYTES bytes of 'x'
 *   c_probe bad NAME                              the argument checks (NAME: a live service)
 *   c_probe badserver NAME                        the server's argument checks (NAME: a live service)
 *   c_probe threads NAME THREADS CALLS            THREADS threads share one connection, CALLS calls each
 *   c_probe bench NAME CALLS                      CALLS 64-byte calls; prints the mean round trip
 *   c_probe selfserve NAME                        a server loop on a thread, called, stopped and freed
 *   c_probe fork NAME                             a call, fork, a call from the child on the same
 *                                                 connection; prints "child PID" (the child's tid)
 *
 * A call prints "reply status=S size=N text=..." or
 * "fail code=C status=S needed=N: message". Each line is flushed at once.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "mbv_ipc.h"

static char buffer[70000];

static void report(const char *what, bool ok, const MBV_IPC_CONNECTION *conn) {
    if (ok)
        printf("%s ok\n", what);
    else
        printf("%s fail code=%d status=%d needed=%u: %s\n", what, MBV_IPCLastError(), conn ? conn->last_status : 0,
               conn ? conn->last_response_size : 0, MBV_IPCLastErrorMessage());
    fflush(stdout);
}

static int call(const char *name, uint32_t function, const char *data, size_t n, size_t buf, uint32_t ms) {
    MBV_IPC_CONNECTION conn = {0};
    if (!MBV_IPCConnectA(name, &conn)) {
        report("connect", false, &conn);
        return 1;
    }
    printf("calling\n");
    fflush(stdout);
    uint16_t size = (uint16_t)buf;
    bool ok = MBV_IPCCallTimeout(&conn, function, data, (uint16_t)n, buffer, &size, ms);
    if (ok) {
        printf("reply status=%d size=%u text=%.*s\n", conn.last_status, (unsigned)size, (int)size, buffer);
        fflush(stdout);
    } else {
        report("call", false, &conn);
    }
    MBV_IPCDisconnect(&conn);
    return ok ? 0 : 1;
}

static void bad_client(const char *live) {
    MBV_IPC_CONNECTION conn = {0};
    uint16_t size = 16;
    char small[16];
    wchar_t long_name[300];
    for (int i = 0; i < 299; i++) long_name[i] = L'a';
    long_name[299] = 0;

    report("null-name", MBV_IPCConnect(NULL, &conn), &conn);
    report("null-name-narrow", MBV_IPCConnectA(NULL, &conn), &conn);
    report("empty-name", MBV_IPCConnect(L"", &conn), &conn);
    report("bad-name", MBV_IPCConnect(L"my service/../x", &conn), &conn);
    report("dot-name", MBV_IPCConnect(L".hidden", &conn), &conn);
    report("long-name", MBV_IPCConnect(long_name, &conn), &conn);
    report("wide-name", MBV_IPCConnect(L"caf\u00e9", &conn), &conn);
    report("null-conn", MBV_IPCConnectA(live, NULL), NULL);
    report("unknown", MBV_IPCConnectA("no-such-service-mbvipc", &conn), &conn);
    report("call-null-conn", MBV_IPCCall(NULL, 1, "x", 1, small, &size), NULL);
    report("call-unconnected", MBV_IPCCall(&conn, 1, "x", 1, small, &size), &conn);
    if (!MBV_IPCConnectA(live, &conn)) {
        report("connect-live", false, &conn);
        return;
    }
    report("connect-live", true, &conn);
    struct ipc_client *first = conn.client;
    report("connect-twice", MBV_IPCConnectA(live, &conn), &conn);
    report("connect-twice-kept", conn.client == first, &conn);
    report("null-size", MBV_IPCCall(&conn, 1, "x", 1, small, NULL), &conn);
    report("null-request", MBV_IPCCall(&conn, 1, NULL, 5, small, &size), &conn);
    size = 16;
    report("null-response", MBV_IPCCall(&conn, 1, "x", 1, NULL, &size), &conn);
    size = 16;
    report("too-large", MBV_IPCCall(&conn, 1, buffer, (uint16_t)(conn.request_capacity + 1), small, &size), &conn);
    memset(buffer, 'y', 100);
    size = 16;
    report("too-small", MBV_IPCCall(&conn, 1, buffer, 100, small, &size), &conn);
    size = 16;
    report("still-works", MBV_IPCCall(&conn, 1, "again", 5, small, &size), &conn);
    MBV_IPCDisconnect(&conn);
    size = 16;
    report("after-disconnect", MBV_IPCCall(&conn, 1, "x", 1, small, &size), &conn);
    MBV_IPCDisconnect(&conn);
    report("disconnect-twice", true, &conn);
    MBV_IPCDisconnect(NULL);
    report("last-error-after-success", MBV_IPCLastError() == MBV_IPC_ERR_NOT_CONNECTED, NULL);
}

static void handler(void *ctx, const ipc_request_t *req, ipc_response_t *res) {
    (void)ctx, (void)req;
    res->status = 0;
}

static void bad_server(const char *live) {
    ipc_server_options_t o;
    memset(&o, 0, sizeof o);
    report("server-null-name", MBV_IPCInitServer(NULL, handler, NULL) != NULL, NULL);
    report("server-bad-name", MBV_IPCInitServer(L"a b", handler, NULL) != NULL, NULL);
    report("server-null-handler", MBV_IPCInitServerA("mbvipc-null-handler", NULL, NULL) != NULL, NULL);
    report("server-live-name", MBV_IPCInitServerA(live, handler, NULL) != NULL, NULL);
    o.trace_capacity = 100;
    report("server-bad-trace", MBV_IPCInitServerEx("mbvipc-bad-trace", handler, NULL, &o) != NULL, NULL);
    o.trace_capacity = 0;
    o.request_capacity = 2u << 20;
    report("server-bad-capacity", MBV_IPCInitServerEx("mbvipc-bad-cap", handler, NULL, &o) != NULL, NULL);
    report("loop-null", MBV_IPCServerLoop(NULL), NULL);
    MBV_IPCStopServer(NULL);
    MBV_IPCFreeServer(NULL);
    report("stop-free-null", true, NULL);
}

struct worker {
    MBV_IPC_CONNECTION *conn;
    int index, calls, failures;
};

/* Each call carries the thread's index and the call's number; the echo must match. */
/* The library caches the caller's thread id; a forked child must record its own. */
static int forked(const char *name) {
    MBV_IPC_CONNECTION conn = {0};
    if (!MBV_IPCConnectA(name, &conn)) { report("connect", false, &conn); return 1; }
    uint16_t size = sizeof buffer > 65535 ? 65535 : (uint16_t)sizeof buffer;
    if (!MBV_IPCCall(&conn, 1, "parent", 6, buffer, &size)) { report("call", false, &conn); return 1; }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 1; }
    if (child == 0) {
        size = 65535;
        bool ok = MBV_IPCCall(&conn, 2, "child", 5, buffer, &size);
        if (ok) printf("child %d\n", (int)getpid()); else report("call", false, &conn);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) { perror("waitpid"); return 1; }
    MBV_IPCDisconnect(&conn);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void *worker_run(void *arg) {
    struct worker *w = (struct worker *)arg;
    for (int i = 0; i < w->calls; i++) {
        char msg[64], reply[64];
        int n = snprintf(msg, sizeof msg, "thread %d call %d", w->index, i);
        uint16_t size = sizeof reply;
        if (!MBV_IPCCall(w->conn, (uint32_t)w->index, msg, (uint16_t)n, reply, &size) || size != n ||
            memcmp(msg, reply, (size_t)n) != 0) {
            if (w->failures++ == 0) printf("thread %d call %d: %s\n", w->index, i, MBV_IPCLastErrorMessage());
        }
    }
    return NULL;
}

static int threads(const char *name, int count, int calls) {
    MBV_IPC_CONNECTION conn = {0};
    struct worker workers[64];
    pthread_t ids[64];
    if (count > 64) count = 64;
    if (!MBV_IPCConnectA(name, &conn)) {
        report("connect", false, &conn);
        return 1;
    }
    for (int t = 0; t < count; t++) {
        workers[t].conn = &conn, workers[t].index = t, workers[t].calls = calls, workers[t].failures = 0;
        pthread_create(&ids[t], NULL, worker_run, &workers[t]);
    }
    int failures = 0;
    for (int t = 0; t < count; t++) {
        pthread_join(ids[t], NULL);
        failures += workers[t].failures;
    }
    MBV_IPCDisconnect(&conn);
    printf("threads %d calls %d failures %d\n", count, calls, failures);
    return failures ? 1 : 0;
}

static uint64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int bench(const char *name, int calls) {
    MBV_IPC_CONNECTION conn = {0};
    char msg[64], reply[64];
    memset(msg, 'b', sizeof msg);
    if (!MBV_IPCConnectA(name, &conn)) {
        report("connect", false, &conn);
        return 1;
    }
    uint64_t start = mono_ns();
    for (int i = 0; i < calls; i++) {
        uint16_t size = sizeof reply;
        if (!MBV_IPCCall(&conn, 1, msg, sizeof msg, reply, &size)) {
            report("call", false, &conn);
            return 1;
        }
    }
    uint64_t took = mono_ns() - start;
    printf("bench %d calls, mean %llu ns\n", calls, (unsigned long long)(took / (uint64_t)(calls > 0 ? calls : 1)));
    MBV_IPCDisconnect(&conn);
    return 0;
}

static void upper(void *ctx, const ipc_request_t *req, ipc_response_t *res) {
    const char *in = (const char *)req->request_data;
    char *out = (char *)res->response_data;
    (*(int *)ctx)++;
    for (uint32_t i = 0; i < req->request_size; i++) out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
    res->response_size = req->request_size;
}

static void *loop_run(void *server) {
    static bool stopped;
    stopped = MBV_IPCServerLoop((ipc_server_t *)server);
    return &stopped;
}

/* A server on a thread of this process: a call, a second loop refused, stop from
 * this thread, the loop's result; then a loop freed while it runs. */
static int selfserve(const char *name) {
    int handled = 0;
    ipc_server_t *server = MBV_IPCInitServerA(name, upper, &handled);
    if (!server) {
        report("init", false, NULL);
        return 1;
    }
    pthread_t loop;
    pthread_create(&loop, NULL, loop_run, server);
    MBV_IPC_CONNECTION conn = {0};
    char reply[16];
    uint16_t size = sizeof reply;
    report("self-connect", MBV_IPCConnectA(name, &conn), &conn);
    bool ok = MBV_IPCCall(&conn, 1, "quiet", 5, reply, &size);
    printf("self-call ok=%d reply=%.*s handled=%d\n", ok, (int)size, reply, handled);
    struct timespec pause = {0, 50000000};
    nanosleep(&pause, NULL);
    report("second-loop", MBV_IPCServerLoop(server), NULL);
    MBV_IPCStopServer(server);
    void *result = NULL;
    pthread_join(loop, &result);
    printf("loop-returned %d\n", *(bool *)result);
    size = sizeof reply;
    report("call-after-stop", MBV_IPCCall(&conn, 1, "late", 4, reply, &size), &conn);
    report("loop-after-stop", MBV_IPCServerLoop(server), NULL);
    MBV_IPCFreeServer(server);
    MBV_IPCDisconnect(&conn);

    server = MBV_IPCInitServerA(name, upper, &handled);
    if (!server) {
        report("init-again", false, NULL);
        return 1;
    }
    pthread_create(&loop, NULL, loop_run, server);
    nanosleep(&pause, NULL);
    MBV_IPCFreeServer(server);  /* stops the running loop and waits for it */
    pthread_join(loop, &result);
    printf("freed-while-running loop-returned %d\n", *(bool *)result);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "connect") == 0) {
        MBV_IPC_CONNECTION conn = {0};
        bool ok = MBV_IPCConnectA(argv[2], &conn);
        if (ok) printf("connected %u/%u\n", conn.request_capacity, conn.response_capacity);
        else report("connect", false, &conn);
        MBV_IPCDisconnect(&conn);
        return ok ? 0 : 1;
    }
    if (argc >= 5 && strcmp(argv[1], "call") == 0)
        return call(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), argv[4], strlen(argv[4]),
                    argc > 5 ? strtoul(argv[5], NULL, 10) : 4096, argc > 6 ? (uint32_t)strtoul(argv[6], NULL, 10) : 0);
    if (argc >= 4 && strcmp(argv[1], "size") == 0) {
        size_t n = strtoul(argv[3], NULL, 10);
        if (n > sizeof buffer) n = sizeof buffer;
        memset(buffer, 'x', n);
        return call(argv[2], 1, buffer, n, argc > 4 ? strtoul(argv[4], NULL, 10) : 65535, 0);
    }
    if (argc >= 3 && strcmp(argv[1], "bad") == 0) {
        bad_client(argv[2]);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "badserver") == 0) {
        bad_server(argv[2]);
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "threads") == 0) return threads(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "bench") == 0) return bench(argv[2], atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "selfserve") == 0) return selfserve(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "fork") == 0) return forked(argv[2]);
    fprintf(stderr, "usage: c_probe connect|call|size|bad|badserver|threads|bench|selfserve NAME ...\n");
    return 2;
}
