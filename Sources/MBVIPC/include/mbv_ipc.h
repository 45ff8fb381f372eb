/*
 * mbv_ipc.h — the whole MBV_IPC C API: servers (ipc_server.h), clients
 * (ipc_client.h) and their types (ipc_types.h). Link with -lmbvipc -lpthread,
 * or `pkg-config --cflags --libs mbvipc`.
 */
#ifndef MBV_IPC_H
#define MBV_IPC_H

#include "ipc_client.h"
#include "ipc_server.h"

#endif /* MBV_IPC_H */
