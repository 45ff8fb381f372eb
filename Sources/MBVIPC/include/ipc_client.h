/*
 * ipc_client.h — call a server through its shared-memory section (libmbvipc).
 *
 *     MBV_IPC_CONNECTION conn = {};
 *     if (MBV_IPCConnect(L"MyService", &conn)) {
 *         uint16_t size = sizeof(response);
 *         if (MBV_IPCCall(&conn, 1, msg, sizeof(msg), response, &size)) { ... }
 *         MBV_IPCDisconnect(&conn);
 *     }
 *
 * One connection may be used by several threads at once (the section's robust
 * mutex serialises every caller), but MBV_IPCDisconnect must not race a call.
 */
#ifndef MBV_IPC_CLIENT_H
#define MBV_IPC_CLIENT_H

#include "ipc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Connects to the service `name`: opens and checks its section (yours or
 *  root's, not writable by everyone, a valid section, a live server) and fills
 *  `conn` (capacities included). A section still being created by its server
 *  (starting) is waited for, up to a second, or up to conn->timeout_ms when it
 *  was set lower before connecting (it is kept), then MBV_IPC_ERR_STARTING.
 *  `conn` must be zero-initialised or disconnected: a connected one is refused
 *  (MBV_IPC_ERR_INVALID_ARGUMENT), not leaked.
 *  False on failure (see MBV_IPCLastErrorMessage). */
MBV_IPC_API bool MBV_IPCConnect(const wchar_t *name, MBV_IPC_CONNECTION *conn);

/** The same with a narrow name. */
MBV_IPC_API bool MBV_IPCConnectA(const char *name, MBV_IPC_CONNECTION *conn);

/** Calls `function` with `request_size` bytes at `request` and waits for the
 *  answer (at most conn->timeout_ms, default 5 s). On entry *response_size is
 *  the size of the `response` buffer; on success it is the answer's size and
 *  conn->last_status the handler's status. False when the request is over the
 *  capacity, the answer does not fit (nothing is copied; conn->last_response_size
 *  says how many bytes were needed), the deadline passes, the server dies, or
 *  the server answers a library status (-1 .. -99). `request` may be NULL when
 *  request_size is 0; `response` may be NULL when *response_size is 0. */
MBV_IPC_API bool MBV_IPCCall(MBV_IPC_CONNECTION *conn, uint32_t function, const void *request,
                             uint16_t request_size, void *response, uint16_t *response_size);

/** MBV_IPCCall with its own deadline in milliseconds (0: conn->timeout_ms). */
MBV_IPC_API bool MBV_IPCCallTimeout(MBV_IPC_CONNECTION *conn, uint32_t function, const void *request,
                                    uint16_t request_size, void *response, uint16_t *response_size,
                                    uint32_t timeout_ms);

/** Releases the connection and zeroes `conn`; later calls fail "not connected".
 *  Safe on a connection that is not connected, and on NULL. */
MBV_IPC_API void MBV_IPCDisconnect(MBV_IPC_CONNECTION *conn);

#ifdef __cplusplus
}
#endif
#endif /* MBV_IPC_CLIENT_H */
