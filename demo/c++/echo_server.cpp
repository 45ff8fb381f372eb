/*
 * echo_server.cpp — the original MBV_IPC example server: echoes every call.
 *
 * Build the library once, then the server (from the repository's root):
 *   make -C Sources/MBVIPC
 *   c++ -std=c++11 -Wall -I Sources/MBVIPC/include -I Sources/CIPCScope/include \
 *       -o echo_server demo/c++/echo_server.cpp Sources/MBVIPC/build/libmbvipc.a -lpthread
 * or, after `make -C Sources/MBVIPC install`:
 *   c++ -std=c++11 -o echo_server demo/c++/echo_server.cpp $(pkg-config --cflags --libs mbvipc)
 *
 * Run: ./echo_server [NAME]     (default MyService; Ctrl-C stops it cleanly)
 * Watch it: ipcscope attach MyService
 */
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <unistd.h>

#include "ipc_server.h"

static ipc_server_t *g_server;

// MBV_IPCStopServer is async-signal-safe: the loop returns and the server shuts down cleanly.
static void on_signal(int) { MBV_IPCStopServer(g_server); }

int main(int argc, char **argv) {
    wchar_t name[129] = L"MyService";
    if (argc > 1) std::mbstowcs(name, argv[1], 128);

    // The original example, as it stands.
    auto* server = MBV_IPCInitServer(name, [](void* ctx, const ipc_request_t* req, ipc_response_t* res) {
        res->status = 0;
        res->response_size = req->request_size;
        memcpy(res->response_data, req->request_data, req->request_size);
    }, nullptr);

    if (!server) {
        std::fprintf(stderr, "echo_server: %s\n", MBV_IPCLastErrorMessage());
        return 1;
    }
    g_server = server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::printf("echo_server: serving '%ls' (pid %d); Ctrl-C stops it\n", name, (int)getpid());
    std::fflush(stdout);

    MBV_IPCServerLoop(server);

    MBV_IPCFreeServer(server);
    std::printf("echo_server: stopped\n");
    return 0;
}
