/*
 * ipc_server.h — serve calls on a named shared-memory section (libmbvipc).
 *
 *     auto* server = MBV_IPCInitServer(L"MyService", handler, nullptr);
 *     MBV_IPCServerLoop(server);
 *     MBV_IPCFreeServer(server);
 */
#ifndef MBV_IPC_SERVER_H
#define MBV_IPC_SERVER_H

#include "ipc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque server. */
typedef struct ipc_server ipc_server_t;

/** Options for MBV_IPCInitServerEx; zero fields take the defaults. */
typedef struct ipc_server_options {
    uint32_t request_capacity;  /**< 1 .. 1 MiB (0: 4096) */
    uint32_t response_capacity; /**< 1 .. 1 MiB (0: 4096) */
    uint32_t trace_capacity;    /**< records, a power of two up to 65536 (0: 256); see no_trace */
    uint32_t mode;              /**< permission bits of the object (0: 0600) */
    bool no_trace;              /**< no trace ring at all */
    bool replace_invalid;       /**< remove an object in the way that is not a valid section of ours */
    bool keep_on_exit;          /**< leave the object in /dev/shm on shutdown */
} ipc_server_options_t;

/** Creates the section "ipcscope.<name>" (or takes over one of yours whose server
 *  died; a reader's read lock on it is not a server, the object is recreated) and
 *  returns a server ready for MBV_IPCServerLoop; NULL on failure (see
 *  MBV_IPCLastErrorMessage: name in use by a live pid or being started by another
 *  process, another user's object, not a section, ...). The handler runs on the
 *  loop's thread for every call. */
MBV_IPC_API ipc_server_t *MBV_IPCInitServer(const wchar_t *name, ipc_handler_t handler, void *ctx);

/** The same with a narrow name. */
MBV_IPC_API ipc_server_t *MBV_IPCInitServerA(const char *name, ipc_handler_t handler, void *ctx);

/** The same with options (`options` may be NULL). */
MBV_IPC_API ipc_server_t *MBV_IPCInitServerEx(const char *name, ipc_handler_t handler, void *ctx,
                                              const ipc_server_options_t *options);

/** Serves calls until MBV_IPCStopServer, then shuts down cleanly: answers a
 *  pending request with status -4, marks the section shutting down, wakes every
 *  waiting client and removes the name. Blocks the calling thread. Returns true
 *  when stopped, false at once for a NULL, stopped or running server. The
 *  mapping and the liveness lock stay until MBV_IPCFreeServer. */
MBV_IPC_API bool MBV_IPCServerLoop(ipc_server_t *server);

/** Asks the loop to return. Async-signal-safe (an atomic store and a futex
 *  wake): call it from any thread or from a signal handler, but not after
 *  MBV_IPCFreeServer. NULL is ignored. */
MBV_IPC_API void MBV_IPCStopServer(ipc_server_t *server);

/** Shuts down (if the loop did not) and frees the server. Not while its loop
 *  runs: stop it and let MBV_IPCServerLoop return first. NULL is ignored. */
MBV_IPC_API void MBV_IPCFreeServer(ipc_server_t *server);

/** The capacities the server's section was created with (either pointer may be NULL). */
MBV_IPC_API bool MBV_IPCServerCapacities(const ipc_server_t *server, uint32_t *request_capacity,
                                         uint32_t *response_capacity);

#ifdef __cplusplus
}
#endif
#endif /* MBV_IPC_SERVER_H */
