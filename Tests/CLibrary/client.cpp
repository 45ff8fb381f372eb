// client.cpp — a C++ client in the original MBV_IPC style, for the C library's tests.
//
//   client NAME TEXT [FUNCTION] [COUNT]
//
// Makes COUNT calls (default 1) of FUNCTION (default 1) with TEXT and its terminating
// zero, as the original example does with sizeof(msg); prints each reply.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>

#include "ipc_client.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: client NAME TEXT [FUNCTION] [COUNT]\n");
        return 2;
    }
    wchar_t name[200] = {};
    std::mbstowcs(name, argv[1], 199);
    uint32_t function = argc > 3 ? (uint32_t)std::strtoul(argv[3], nullptr, 10) : 1;
    int count = argc > 4 ? std::atoi(argv[4]) : 1;
    const char *msg = argv[2];
    int failures = 0;

    MBV_IPC_CONNECTION conn = {};
    if (MBV_IPCConnect(name, &conn)) {
        for (int i = 0; i < count; i++) {
            char response[4096] = {};
            uint16_t size = sizeof(response);
            if (MBV_IPCCall(&conn, function, msg, (uint16_t)(std::strlen(msg) + 1), response, &size)) {
                printf("Reply: %.*s\n", size, response);
                printf("status=%d size=%u\n", conn.last_status, (unsigned)size);
            } else {
                printf("error %d: %s\n", MBV_IPCLastError(), MBV_IPCLastErrorMessage());
                failures++;
            }
        }
        MBV_IPCDisconnect(&conn);
    } else {
        printf("error %d: %s\n", MBV_IPCLastError(), MBV_IPCLastErrorMessage());
        return 1;
    }
    return failures ? 1 : 0;
}
