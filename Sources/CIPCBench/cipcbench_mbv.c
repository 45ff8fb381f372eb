/*
 * cipcbench_mbv.c — the C library (libmbvipc) as a benchmark row: an echo server
 * and timed echo calls, the same shape as the Swift bench server and client.
 */
#include "cipcbench.h"
#include "mbv_ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void echo(void *ctx, const ipc_request_t *req, ipc_response_t *res) {
    (void)ctx;
    uint32_t n = req->request_size <= res->response_capacity ? req->request_size : 0;
    if (n) memcpy(res->response_data, req->request_data, n);
    res->response_size = n;
    res->status = 0;
}

int CIPCBench_mbv_serve(const char *name, void (*ready)(void)) {
    ipc_server_t *s = MBV_IPCInitServerA(name, echo, NULL);
    if (!s) return MBV_IPCLastError() ? MBV_IPCLastError() : EINVAL;
    ready();
    MBV_IPCServerLoop(s);
    MBV_IPCFreeServer(s);
    return 0;
}

void *CIPCBench_mbv_connect(const char *name) {
    MBV_IPC_CONNECTION *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (!MBV_IPCConnectA(name, c)) { free(c); return NULL; }
    c->timeout_ms = 20000;
    return c;
}

int CIPCBench_mbv_calls(void *conn, int count, int payload, uint64_t *samples) {
    MBV_IPC_CONNECTION *c = conn;
    unsigned char req[4096], rsp[4096];
    if (payload < 0 || payload > (int)sizeof req) return EINVAL;
    for (int i = 0; i < payload; i++) req[i] = (unsigned char)(i * 31 + 7);
    for (int i = 0; i < count; i++) {
        uint16_t size = sizeof rsp;
        uint64_t t = CIPCBench_now_ns();
        bool ok = MBV_IPCCall(c, 1, req, (uint16_t)payload, rsp, &size);
        samples[i] = CIPCBench_now_ns() - t;
        if (!ok || size != payload) return EIO;
    }
    return 0;
}
