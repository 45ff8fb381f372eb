/*
 * echo_server.c — the original design's echo server, for Windows (NT backend).
 *
 *   echo_server.exe SERVICE [CALLS]
 *
 * Function 1 echoes the request (the original example's handler, unchanged).
 * Function 2 does the same after sleeping as many milliseconds as the request's
 * first four bytes say, so a test can catch a client, or the server, mid-call.
 * With CALLS, the server stops itself cleanly after that many calls (MBV_IPCStopServer
 * from the handler), frees the server, which removes the section, and prints "stopped".
 * Prints "serving SERVICE pid PID" once the section is ready.
 */
#include "ipc_server.h"
#include "nt_start.h"

static ipc_server_t *server;
static long calls_left = -1;

static void handler(void *ctx, const ipc_request_t *req, ipc_response_t *res) {
    (void)ctx;
    if (calls_left > 0 && --calls_left == 0) MBV_IPCStopServer(server);
    if (req->function == 2 && req->request_size >= 4) {
        uint32_t ms;
        memcpy(&ms, req->request_data, 4);
        nt_sleep_ms(ms);
    }
    res->status = 0;
    res->response_size = req->request_size;
    memcpy(res->response_data, req->request_data, req->request_size);
}

int main(int argc, char **argv) {
    wchar_t name[129] = {0};
    const char *service = argc > 1 ? argv[1] : "MyService";
    for (int i = 0; service[i] && i < 128; i++) name[i] = (wchar_t)(unsigned char)service[i];

    if (argc > 2) calls_left = nt_atol(argv[2]);
    server = MBV_IPCInitServer(name, handler, NULL);
    if (!server) {
        printf("error %d: %s\n", MBV_IPCLastError(), MBV_IPCLastErrorMessage());
        return 1;
    }
    printf("serving %s pid %d\n", service, (int)nt_self_pid());
    nt_flush();
    MBV_IPCServerLoop(server);
    MBV_IPCFreeServer(server);
    printf("stopped\n");
    return 0;
}
