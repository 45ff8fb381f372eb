/*
 * client_connect.c — libFuzzer target: what a client of the C library does with an
 * existing object. The input is a section image of any length; it becomes
 * /dev/shm/ipcscope.<name> (see fuzz_object.h) and MBV_IPCConnectA runs the real
 * connect path on it: open without following links or blocking, the size bounds,
 * owner and mode, the identity and layout checks of line 0, the NT-objects flag, the
 * liveness probe. When it connects, one call with a 1 ms deadline follows: the
 * server checks (epoch, pid, shutting-down flag, heartbeat), the mutex in the image
 * (trylock, a dead owner's repair), the slot wait and the request write, against
 * whatever the image holds. Nobody answers, so a call ends in a timeout or a
 * refusal within a few milliseconds; no wait is longer than the 1 ms deadline (connect's
 * wait for a starting section included: conn.timeout_ms is set before it).
 *
 * The server is live (this process holds the liveness lock) unless bit 4 of the byte
 * at offset 92 is set (reserved_92 in the format, never read by the library; see
 * fuzz_object.h): the seeds, made by live servers, connect.
 *
 * Mutation: libFuzzer's, and aligned fields of the image (fuzz_mutate_section).
 *
 * Checked beyond "no crash, no sanitizer report": a refusal has a code and a
 * one-line message; a connection reports the image's own capacities, and only an
 * image whose identity and size agree connects.
 */
#include <stdint.h>
#include <stddef.h>

#include "fuzz_object.h"
#include "mbv_ipc.h"

static struct fuzz_object object;

static void check_connected(const MBV_IPC_CONNECTION *conn, const uint8_t *data, size_t size) {
    if (size < IPCSCOPE_HEADER_SIZE || memcmp(data, IPCSCOPE_MAGIC, 8) != 0 ||
        fuzz_u64(data, IPCSCOPE_OFF_SECTION_SIZE) != size) {
        fprintf(stderr, "connected to an image of %zu bytes whose identity does not say so\n", size);
        abort();
    }
    if (conn->request_capacity != fuzz_u32(data, IPCSCOPE_OFF_REQUEST_CAPACITY) ||
        conn->response_capacity != fuzz_u32(data, IPCSCOPE_OFF_RESPONSE_CAPACITY)) {
        fprintf(stderr, "connection capacities %u/%u are not the image's\n", conn->request_capacity,
                conn->response_capacity);
        abort();
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
    return fuzz_mutate_section(data, size, max_size, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!object.name[0]) fuzz_object_name(&object, "client");
    fuzz_object_put(&object, data, size, !(fuzz_knobs(data, size) & FUZZ_KNOB_LIVENESS));

    MBV_IPC_CONNECTION conn = {0};
    /* An image with the lock held and no magic (or server_pid 0) is a starting section, which
     * connect waits for: 1 ms here, as for the call, not the default second. */
    conn.timeout_ms = 1;
    if (MBV_IPCConnectA(object.name, &conn)) {
        check_connected(&conn, data, size);
        static const char request[] = "fuzz";
        char response[64];
        uint16_t response_size = sizeof response;
        uint16_t request_size = conn.request_capacity < sizeof request ? (uint16_t)conn.request_capacity
                                                                        : (uint16_t)sizeof request;
        fuzz_say("connected", "");
        if (!MBV_IPCCallTimeout(&conn, 1, request, request_size, response, &response_size, 1))
            fuzz_check_error(MBV_IPCLastError(), MBV_IPCLastErrorMessage(), "MBV_IPCCallTimeout");
        fuzz_say("call", MBV_IPCLastErrorMessage());
        MBV_IPCDisconnect(&conn);
    } else {
        fuzz_say("connect", MBV_IPCLastErrorMessage());
        fuzz_check_error(MBV_IPCLastError(), MBV_IPCLastErrorMessage(), "MBV_IPCConnectA");
        if (conn.client) {
            fprintf(stderr, "a failed connect left conn.client set\n");
            abort();
        }
    }
    fuzz_object_remove(&object);
    return 0;
}
