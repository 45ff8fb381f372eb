// echo_server.cpp — a C++ server in the original MBV_IPC style, for the C library's tests.
//
//   echo_server NAME [echo | slow=MS | overflow | own-buffer]
//
// echo: answers every call with its own bytes (the original example's handler, unchanged).
// slow=MS: sleeps MS milliseconds in the handler first (to kill a client or this server mid-call).
// overflow: claims a response_size one byte over the capacity (the library answers -2).
// own-buffer: answers "own:" + request from the handler's own buffer instead of response_data.
// SIGINT/SIGTERM stop the loop (MBV_IPCStopServer from the signal handler).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <cwchar>
#include <unistd.h>

#include "ipc_server.h"

static ipc_server_t *g_server;
static void on_signal(int) { MBV_IPCStopServer(g_server); }

struct Mode {
    int slow_ms;
    bool overflow;
    bool own_buffer;
};

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: echo_server NAME [echo|slow=MS|overflow|own-buffer]\n");
        return 2;
    }
    wchar_t name[200] = {};
    std::mbstowcs(name, argv[1], 199);
    const char *m = argc > 2 ? argv[2] : "echo";
    static Mode mode = {};
    if (std::strncmp(m, "slow=", 5) == 0) mode.slow_ms = std::atoi(m + 5);
    mode.overflow = std::strcmp(m, "overflow") == 0;
    mode.own_buffer = std::strcmp(m, "own-buffer") == 0;

    ipc_server_t *server;
    if (std::strcmp(m, "echo") == 0) {
        // The original example, unchanged.
        auto* server0 = MBV_IPCInitServer(name, [](void* ctx, const ipc_request_t* req, ipc_response_t* res) {
            res->status = 0;
            res->response_size = req->request_size;
            memcpy(res->response_data, req->request_data, req->request_size);
        }, nullptr);
        server = server0;
    } else {
        server = MBV_IPCInitServer(name, [](void *ctx, const ipc_request_t *req, ipc_response_t *res) {
            const Mode *mode = static_cast<const Mode *>(ctx);
            if (mode->slow_ms > 0) {
                struct timespec ts = {mode->slow_ms / 1000, (mode->slow_ms % 1000) * 1000000L};
                nanosleep(&ts, nullptr);
            }
            static char own[8192];
            if (mode->own_buffer) {
                std::memcpy(own, "own:", 4);
                std::memcpy(own + 4, req->request_data, req->request_size);
                res->response_data = own;
                res->response_size = req->request_size + 4;
                return;
            }
            res->status = 0;
            res->response_size = mode->overflow ? res->response_capacity + 1 : req->request_size;
            if (!mode->overflow) std::memcpy(res->response_data, req->request_data, req->request_size);
        }, &mode);
    }
    if (!server) {
        std::fprintf(stderr, "echo_server: %s (code %d)\n", MBV_IPCLastErrorMessage(), MBV_IPCLastError());
        return 1;
    }
    g_server = server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    uint32_t rq = 0, rs = 0;
    MBV_IPCServerCapacities(server, &rq, &rs);
    std::printf("serving %s pid %d capacities %u/%u\n", argv[1], (int)getpid(), rq, rs);
    std::fflush(stdout);
    bool stopped = MBV_IPCServerLoop(server);
    MBV_IPCFreeServer(server);
    std::printf("stopped %d\n", stopped ? 1 : 0);
    return stopped ? 0 : 1;
}
