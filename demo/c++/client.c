/*
 * client.c — the original MBV_IPC example client, in C: one call, the reply printed.
 *
 * Build the library once, then the client (from the repository's root):
 *   make -C Sources/MBVIPC
 *   cc -std=c99 -Wall -I Sources/MBVIPC/include -I Sources/CIPCScope/include \
 *      -o client demo/c++/client.c Sources/MBVIPC/build/libmbvipc.a -lpthread
 * or, after `make -C Sources/MBVIPC install`:
 *   cc -o client demo/c++/client.c $(pkg-config --cflags --libs mbvipc)
 *
 * Run: ./client [NAME [TEXT]]   (default MyService, "hello")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "ipc_client.h"

int main(int argc, char **argv) {
    wchar_t name[129] = L"MyService";
    if (argc > 1) mbstowcs(name, argv[1], 128);
    const char *msg = argc > 2 ? argv[2] : "hello";

    MBV_IPC_CONNECTION conn = {0};
    if (MBV_IPCConnect(name, &conn)) {
        char response[4096] = {0};
        uint16_t size = sizeof(response);

        if (MBV_IPCCall(&conn, 1, msg, (uint16_t)(strlen(msg) + 1), response, &size)) {
            printf("Reply: %.*s\n", size, response);
        } else {
            fprintf(stderr, "client: %s\n", MBV_IPCLastErrorMessage());
        }

        MBV_IPCDisconnect(&conn);
        return MBV_IPCLastError() == MBV_IPC_OK ? 0 : 1;
    }
    fprintf(stderr, "client: %s\n", MBV_IPCLastErrorMessage());
    return 1;
}
