/*
 * call_client.c — the original design's client, for Windows (NT backend).
 *
 *   call_client.exe SERVICE sizes            one echo call per size, 0 .. capacity, then capacity + 1
 *   call_client.exe SERVICE slow MS [TIMEOUT] one function-2 call the server answers after MS ms
 *   call_client.exe SERVICE hello            the original example: "Reply: hello"
 *
 * Prints one line per call: "ok SIZE" / "fail SIZE CODE MESSAGE", then "done".
 * The payload of a call of n bytes is bytes (i * 7 + n) & 0xff, checked on return.
 */
#include "ipc_client.h"
#include "nt_start.h"

static char request[4096 + 1];
static char response[4096];

static int call(MBV_IPC_CONNECTION *conn, uint32_t function, uint32_t n, uint32_t timeout_ms) {
    for (uint32_t i = 0; i < n && i < sizeof request; i++) request[i] = (char)((i * 7 + n) & 0xff);
    uint16_t size = sizeof(response);
    bool ok = timeout_ms ? MBV_IPCCallTimeout(conn, function, request, (uint16_t)n, response, &size, timeout_ms)
                         : MBV_IPCCall(conn, function, request, (uint16_t)n, response, &size);
    if (!ok) {
        printf("fail %u %d %s\n", n, MBV_IPCLastError(), MBV_IPCLastErrorMessage());
        return 0;
    }
    if (size != n || memcmp(request, response, n) != 0) {
        printf("fail %u mismatch: %u bytes back\n", n, (unsigned)size);
        return 0;
    }
    printf("ok %u\n", n);
    return 1;
}

int main(int argc, char **argv) {
    wchar_t name[129] = {0};
    const char *service = argc > 1 ? argv[1] : "MyService";
    const char *mode = argc > 2 ? argv[2] : "hello";
    for (int i = 0; service[i] && i < 128; i++) name[i] = (wchar_t)(unsigned char)service[i];

    MBV_IPC_CONNECTION conn = {0};
    if (!MBV_IPCConnect(name, &conn)) {
        printf("connect failed %d %s\n", MBV_IPCLastError(), MBV_IPCLastErrorMessage());
        return 2;
    }
    int failures = 0;
    if (strcmp(mode, "sizes") == 0) {
        uint32_t cap = conn.request_capacity < 4096 ? conn.request_capacity : 4096;
        uint32_t sizes[] = {0, 1, 2, 16, 63, 64, 65, 1000, cap - 1, cap};
        for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) failures += !call(&conn, 1, sizes[i], 0);
        failures += call(&conn, 1, cap + 1, 0);  /* over capacity: must fail */
    } else if (strcmp(mode, "slow") == 0) {
        uint32_t ms = argc > 3 ? (uint32_t)nt_atol(argv[3]) : 1000;
        uint32_t timeout = argc > 4 ? (uint32_t)nt_atol(argv[4]) : 0;
        printf("calling\n");
        nt_flush();
        memcpy(request, &ms, 4);
        uint16_t size = sizeof(response);
        if (MBV_IPCCallTimeout(&conn, 2, request, 4, response, &size, timeout ? timeout : 60000))
            printf("ok 4\n");
        else
            printf("fail 4 %d %s\n", MBV_IPCLastError(), MBV_IPCLastErrorMessage()), failures++;
    } else {
        /* The original example, as it stands. */
        const char msg[] = "hello";
        uint16_t size = sizeof(response);
        if (MBV_IPCCall(&conn, 1, msg, sizeof(msg), response, &size)) {
            printf("Reply: %.*s\n", size, response);
        } else {
            failures++;
        }
    }
    MBV_IPCDisconnect(&conn);
    printf("done\n");
    return failures ? 1 : 0;
}
