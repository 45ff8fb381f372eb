/*
 * ipc_types.h — the types of the MBV_IPC C API: a call as a handler sees it,
 * the handler's answer, a client connection, and the error codes.
 *
 * Part of libmbvipc (C99 and C++11 and later). The section these types travel
 * through is described in ipcscope_section.h, installed beside this header.
 */
#ifndef MBV_IPC_TYPES_H
#define MBV_IPC_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include "ipcscope_section.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(MBV_IPC_BUILDING_DLL)
#define MBV_IPC_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define MBV_IPC_API __attribute__((visibility("default")))
#else
#define MBV_IPC_API
#endif

/** The shared section as it lies in memory: the 512-byte header of the format
 *  (identity, server, mutex and protocol lines), followed by the slots and the
 *  trace ring. Programs do not need it to make or serve calls; it is here for
 *  tools that read a mapped section. */
typedef ipcscope_header_t ipc_shared_t;

/** One call, as the server's handler sees it. Valid only during the handler. */
typedef struct ipc_request {
    uint32_t function;          /**< function index chosen by the client */
    uint32_t request_size;      /**< bytes at request_data (at most the request capacity) */
    const void *request_data;   /**< a private copy of the request payload */
    uint64_t seq;               /**< the call's sequence number */
    int32_t client_pid;         /**< calling process */
    int32_t client_tid;         /**< calling thread */
} ipc_request_t;

/** The handler's answer. The library sets status 0, response_size 0 before the
 *  handler runs. */
typedef struct ipc_response {
    int32_t status;             /**< the handler's status; -1 .. -99 are reserved for the library */
    uint32_t response_size;     /**< bytes written at response_data; over response_capacity answers status -2 */
    void *response_data;        /**< the response slot: response_capacity bytes */
    uint32_t response_capacity; /**< how many bytes response_data holds */
} ipc_response_t;

/** The handler a server runs for every call: read `req`, write `res`.
 *  A capture-free C++ lambda converts to it. */
typedef void (*ipc_handler_t)(void *ctx, const ipc_request_t *req, ipc_response_t *res);

struct ipc_client;

/** A client's connection. Zero-initialise it (`= {}` in C++, `= {0}` in C),
 *  fill it with MBV_IPCConnect, release it with MBV_IPCDisconnect. */
typedef struct MBV_IPC_CONNECTION {
    struct ipc_client *client;    /**< NULL when not connected */
    uint32_t request_capacity;    /**< largest request the server accepts, in bytes */
    uint32_t response_capacity;   /**< largest response the server can give, in bytes */
    int32_t last_status;          /**< status of the last answered call */
    uint32_t last_response_size;  /**< bytes the last answer held (also when the buffer was too small) */
    uint32_t timeout_ms;          /**< deadline of MBV_IPCCall; 0 means 5000 ms (set before
                                   *   MBV_IPCConnect, it also bounds the wait for a starting section) */
} MBV_IPC_CONNECTION;

/** The reason for the last failure on this thread (MBV_IPCLastError). */
typedef enum mbv_ipc_error {
    MBV_IPC_OK = 0,
    MBV_IPC_ERR_INVALID_ARGUMENT = 1,  /**< a NULL pointer or an out-of-range option */
    MBV_IPC_ERR_INVALID_NAME = 2,      /**< not 1 to 128 of A-Z a-z 0-9 . _ -, or starts with . or - */
    MBV_IPC_ERR_NO_SERVICE = 3,        /**< no section by that name */
    MBV_IPC_ERR_NOT_RUNNING = 4,       /**< a stale section: no server holds it */
    MBV_IPC_ERR_FOREIGN_OWNER = 5,     /**< the section belongs to another user, or anyone may write it */
    MBV_IPC_ERR_CORRUPT = 6,           /**< the object is not a valid section */
    MBV_IPC_ERR_INCOMPATIBLE = 7,      /**< another version, other capacities, or NT objects */
    MBV_IPC_ERR_NAME_IN_USE = 8,       /**< a live server already serves the name */
    MBV_IPC_ERR_TOO_LARGE = 9,         /**< request over the request capacity */
    MBV_IPC_ERR_BUFFER_TOO_SMALL = 10, /**< the answer does not fit the caller's buffer */
    MBV_IPC_ERR_NOT_CONNECTED = 11,    /**< the connection is not (or no longer) connected */
    MBV_IPC_ERR_TIMEOUT = 12,          /**< the deadline passed */
    MBV_IPC_ERR_SERVER_GONE = 13,      /**< the server stopped, died or was replaced during the call */
    MBV_IPC_ERR_STATUS = 14,           /**< the server answered a library status (-1 .. -99) */
    MBV_IPC_ERR_PROTOCOL = 15,         /**< the server broke the protocol */
    MBV_IPC_ERR_NOT_RECOVERABLE = 16,  /**< the section's mutex is beyond repair */
    MBV_IPC_ERR_NO_MEMORY = 17,
    MBV_IPC_ERR_SYSTEM = 18,           /**< a system call failed */
    MBV_IPC_ERR_STOPPED = 19,          /**< the server was stopped or shut down */
    MBV_IPC_ERR_STARTING = 20          /**< the section is still being created by its server: try again */
} mbv_ipc_error;

/** The code of the last failure on the calling thread (MBV_IPC_OK after a success). */
MBV_IPC_API int MBV_IPCLastError(void);

/** A one-line message for the last failure on the calling thread: what failed,
 *  on which service, and what to do. Valid until the thread's next MBV_IPC call. */
MBV_IPC_API const char *MBV_IPCLastErrorMessage(void);

#ifdef __cplusplus
}
#endif
#endif /* MBV_IPC_TYPES_H */
