/*
 * ipcscope_section.h — the section format, version 1, as C.
 *
 * This header is the single source of truth in code for the shared-memory
 * layout described in docs/section-format.md. It depends only on libc, so a
 * C or C++ program can include it on its own (the C library in Sources/MBVIPC does).
 * Every offset is checked by a _Static_assert in section_layout.c.
 *
 * What the bytes do not say (the format's amendment 2; the bytes are unchanged):
 * - Liveness is a WRITE lock (F_OFD_SETLK, F_WRLCK) on byte 0, held by the server
 *   for its life. Only a conflicting write lock means a live server; a read lock
 *   is a reader's. A server that finds only read locks recreates the object; a
 *   cleaner that cannot take the write lock because of one says so and leaves it.
 * - Starting: between O_EXCL creation and the store of server_pid, a section
 *   whose liveness lock is held but whose magic or server_pid is not written yet
 *   is starting: clients wait for it up to one second, readers show it as
 *   starting, cleaners never remove it.
 * - A server takes over only an object whose st_uid and creator_uid both equal
 *   its effective uid, root included; sharing is by group (mode 0660). A client
 *   refuses a world-writable object unless its caller says to trust it.
 * - The mutex bytes are attacker data: compare the type word with that of a
 *   robust process-shared mutex initialised locally before any pthread call;
 *   a client refuses, a server recreates, on a difference.
 * - client_waiting: only a dead mutex owner can be left counted; the client
 *   that gets EOWNERDEAD, and a server taking over, reset it to 0.
 * - server_flags bit 3: the mutex and events are NT objects (see below).
 *
 * Order at start and takeover (clarification 3 lists the stores; both implementations keep this
 * order): server_flags, server_starttime, heartbeat_ns, state = IDLE, server_epoch + 1, and
 * server_pid last. IDLE comes before the new epoch: a client that reads the new epoch must find
 * the slot already reset, or the IDLE wipes the request it sends to the new server.
 */
#ifndef IPCSCOPE_SECTION_H
#define IPCSCOPE_SECTION_H

#include <pthread.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPCSCOPE_MAGIC "IPCSCOPE"          /* 8 bytes, no terminator in the section */
#define IPCSCOPE_VERSION 1u
#define IPCSCOPE_HEADER_SIZE 512u
#define IPCSCOPE_MUTEX_OFFSET 128u
#define IPCSCOPE_SLOT_HEADER_SIZE 64u
#define IPCSCOPE_TRACE_RECORD_SIZE 64u
#define IPCSCOPE_DEFAULT_CAPACITY 4096u
#define IPCSCOPE_MAX_CAPACITY (1024u * 1024u)
#define IPCSCOPE_DEFAULT_TRACE_CAPACITY 256u
#define IPCSCOPE_MAX_TRACE_CAPACITY 65536u
#define IPCSCOPE_NAME_MAX 128u
#define IPCSCOPE_SHM_PREFIX "/ipcscope."

/* state */
enum {
    IPCSCOPE_STATE_IDLE = 0,
    IPCSCOPE_STATE_REQUEST_READY = 1,
    IPCSCOPE_STATE_PROCESSING = 2,
    IPCSCOPE_STATE_RESPONSE_READY = 3,
};

/* server_flags */
enum {
    IPCSCOPE_SERVER_SHUTTING_DOWN = 1u << 0,
    IPCSCOPE_SERVER_STEP_MODE = 1u << 1,
    IPCSCOPE_SERVER_TRACING = 1u << 2,
    /* The mutex and events are NT objects named after the section (.mutex, .request,
     * .response) and the mutex bytes stay zero. POSIX clients refuse such a section,
     * NT clients one without the bit; readers on either side read it as usual. */
    IPCSCOPE_SERVER_NT_OBJECTS = 1u << 3,
};

/* trace record flags */
enum {
    IPCSCOPE_TRACE_REJECTED = 1u << 0,
    IPCSCOPE_TRACE_AFTER_RECOVERY = 1u << 1,
};

/* statuses reserved by the framework (-1 .. -99) */
enum {
    IPCSCOPE_STATUS_BAD_REQUEST = -1,
    IPCSCOPE_STATUS_HANDLER_FAILED = -2,
    IPCSCOPE_STATUS_NO_HANDLER = -3,
    IPCSCOPE_STATUS_SHUTTING_DOWN = -4,
};

/* the robust-futex word at the start of the mutex (linux/futex.h) */
#define IPCSCOPE_FUTEX_WAITERS 0x80000000u
#define IPCSCOPE_FUTEX_OWNER_DIED 0x40000000u
#define IPCSCOPE_FUTEX_TID_MASK 0x3fffffffu

/* The 512-byte header. Fields marked A are only accessed atomically: seq_cst at
 * the two waiter handshakes, release/acquire to publish and observe state and
 * the slots' and trace records' seq, relaxed for display fields (heartbeat,
 * state_since, owner record, counters, flags); see docs/section-format.md.
 * F marks futex words. */
typedef struct ipcscope_header {
    /* line 0 (offset 0): identity, written once by the creating server */
    uint8_t magic[8];
    uint32_t version;
    uint32_t header_size;
    uint64_t section_size;
    uint32_t request_offset;
    uint32_t request_capacity;
    uint32_t response_offset;
    uint32_t response_capacity;
    uint32_t trace_offset;
    uint32_t trace_capacity;
    uint32_t mutex_offset;
    uint32_t creator_uid;
    uint64_t created_unix_ns;

    /* line 1 (offset 64): the server */
    int32_t server_pid;          /* A; stored last at start (0 with the lock held: starting) */
    uint32_t server_epoch;       /* A */
    uint64_t server_starttime;   /* A */
    uint64_t heartbeat_ns;       /* A */
    uint32_t server_flags;       /* A */
    uint32_t reserved_92;
    uint64_t calls_served;       /* A; these three may be stored with the heartbeat   */
    uint64_t calls_rejected;     /* A; (at most once a ms) while the server is busy,  */
    uint64_t last_service_ns;    /* A; exact whenever it finds no request waiting     */
    uint64_t trace_head;         /* A; stored per call */

    /* lines 2 and 3 (offset 128): the mutex; attacker data: check its type word first */
    union {
        pthread_mutex_t mutex;
        uint8_t mutex_bytes[64];
    } mutex;
    int32_t owner_pid;           /* A */
    int32_t owner_tid;           /* A */
    uint64_t owner_since_ns;     /* A */
    uint64_t lock_count;         /* A */
    uint64_t contended_count;    /* A */
    uint64_t recovered_count;    /* A */
    uint8_t reserved_232[24];

    /* line 4 (offset 256): the protocol */
    uint32_t state;              /* A */
    uint32_t request_event;      /* A F */
    uint32_t response_event;     /* A F */
    uint32_t server_waiting;     /* A */
    uint32_t client_waiting;     /* A; reset to 0 after EOWNERDEAD and at takeover */
    uint32_t reserved_276;
    uint64_t state_since_ns;     /* A */
    uint64_t next_seq;           /* A */
    uint8_t reserved_296[216];
} ipcscope_header_t;

/* Request slot header; request_data follows at +64. */
typedef struct ipcscope_request {
    uint64_t seq;                /* A */
    int32_t client_pid;
    int32_t client_tid;
    uint32_t function;
    uint32_t request_size;
    uint64_t sent_ns;
    uint8_t reserved_32[32];
} ipcscope_request_t;

/* Response slot header; response_data follows at +64. */
typedef struct ipcscope_response {
    uint64_t seq;                /* A */
    int32_t status;
    uint32_t response_size;
    uint64_t done_ns;
    uint8_t reserved_24[40];
} ipcscope_response_t;

/* One record of the trace ring. */
typedef struct ipcscope_trace_record {
    uint64_t seq;                /* A */
    uint32_t function;
    int32_t status;
    uint32_t request_size;
    uint32_t response_size;
    int32_t client_pid;
    uint32_t flags;
    uint64_t sent_ns;
    uint64_t done_ns;
    uint8_t request_head[16];
} ipcscope_trace_record_t;

/* Offsets, as the format document gives them. */
enum {
    IPCSCOPE_OFF_MAGIC = 0,
    IPCSCOPE_OFF_VERSION = 8,
    IPCSCOPE_OFF_HEADER_SIZE = 12,
    IPCSCOPE_OFF_SECTION_SIZE = 16,
    IPCSCOPE_OFF_REQUEST_OFFSET = 24,
    IPCSCOPE_OFF_REQUEST_CAPACITY = 28,
    IPCSCOPE_OFF_RESPONSE_OFFSET = 32,
    IPCSCOPE_OFF_RESPONSE_CAPACITY = 36,
    IPCSCOPE_OFF_TRACE_OFFSET = 40,
    IPCSCOPE_OFF_TRACE_CAPACITY = 44,
    IPCSCOPE_OFF_MUTEX_OFFSET = 48,
    IPCSCOPE_OFF_CREATOR_UID = 52,
    IPCSCOPE_OFF_CREATED_UNIX_NS = 56,
    IPCSCOPE_OFF_SERVER_PID = 64,
    IPCSCOPE_OFF_SERVER_EPOCH = 68,
    IPCSCOPE_OFF_SERVER_STARTTIME = 72,
    IPCSCOPE_OFF_HEARTBEAT_NS = 80,
    IPCSCOPE_OFF_SERVER_FLAGS = 88,
    IPCSCOPE_OFF_CALLS_SERVED = 96,
    IPCSCOPE_OFF_CALLS_REJECTED = 104,
    IPCSCOPE_OFF_LAST_SERVICE_NS = 112,
    IPCSCOPE_OFF_TRACE_HEAD = 120,
    IPCSCOPE_OFF_MUTEX = 128,
    IPCSCOPE_OFF_OWNER_PID = 192,
    IPCSCOPE_OFF_OWNER_TID = 196,
    IPCSCOPE_OFF_OWNER_SINCE_NS = 200,
    IPCSCOPE_OFF_LOCK_COUNT = 208,
    IPCSCOPE_OFF_CONTENDED_COUNT = 216,
    IPCSCOPE_OFF_RECOVERED_COUNT = 224,
    IPCSCOPE_OFF_STATE = 256,
    IPCSCOPE_OFF_REQUEST_EVENT = 260,
    IPCSCOPE_OFF_RESPONSE_EVENT = 264,
    IPCSCOPE_OFF_SERVER_WAITING = 268,
    IPCSCOPE_OFF_CLIENT_WAITING = 272,
    IPCSCOPE_OFF_STATE_SINCE_NS = 280,
    IPCSCOPE_OFF_NEXT_SEQ = 288,

    /* within the request slot */
    IPCSCOPE_REQ_SEQ = 0,
    IPCSCOPE_REQ_CLIENT_PID = 8,
    IPCSCOPE_REQ_CLIENT_TID = 12,
    IPCSCOPE_REQ_FUNCTION = 16,
    IPCSCOPE_REQ_SIZE = 20,
    IPCSCOPE_REQ_SENT_NS = 24,
    IPCSCOPE_REQ_DATA = 64,

    /* within the response slot */
    IPCSCOPE_RSP_SEQ = 0,
    IPCSCOPE_RSP_STATUS = 8,
    IPCSCOPE_RSP_SIZE = 12,
    IPCSCOPE_RSP_DONE_NS = 16,
    IPCSCOPE_RSP_DATA = 64,

    /* within a trace record */
    IPCSCOPE_TR_SEQ = 0,
    IPCSCOPE_TR_FUNCTION = 8,
    IPCSCOPE_TR_STATUS = 12,
    IPCSCOPE_TR_REQUEST_SIZE = 16,
    IPCSCOPE_TR_RESPONSE_SIZE = 20,
    IPCSCOPE_TR_CLIENT_PID = 24,
    IPCSCOPE_TR_FLAGS = 28,
    IPCSCOPE_TR_SENT_NS = 32,
    IPCSCOPE_TR_DONE_NS = 40,
    IPCSCOPE_TR_REQUEST_HEAD = 48,
};

/* Layout arithmetic shared by every implementation. */
static inline uint32_t ipcscope_round_up(uint64_t value, uint64_t to) {
    return (uint32_t)((value + to - 1) / to * to);
}
static inline uint32_t ipcscope_request_offset(void) { return IPCSCOPE_HEADER_SIZE; }
static inline uint32_t ipcscope_response_offset(uint32_t request_capacity) {
    return ipcscope_round_up((uint64_t)IPCSCOPE_HEADER_SIZE + IPCSCOPE_SLOT_HEADER_SIZE + request_capacity, 64);
}
static inline uint32_t ipcscope_trace_offset(uint32_t request_capacity, uint32_t response_capacity,
                                             uint32_t trace_capacity) {
    if (trace_capacity == 0) return 0;
    return ipcscope_round_up((uint64_t)ipcscope_response_offset(request_capacity) + IPCSCOPE_SLOT_HEADER_SIZE +
                                 response_capacity, 64);
}
static inline uint64_t ipcscope_section_size(uint32_t request_capacity, uint32_t response_capacity,
                                             uint32_t trace_capacity) {
    uint64_t end = (uint64_t)ipcscope_response_offset(request_capacity) + IPCSCOPE_SLOT_HEADER_SIZE + response_capacity;
    if (trace_capacity != 0)
        end = (uint64_t)ipcscope_trace_offset(request_capacity, response_capacity, trace_capacity) +
              (uint64_t)trace_capacity * IPCSCOPE_TRACE_RECORD_SIZE;
    return (end + 4095) / 4096 * 4096;
}

#ifdef __cplusplus
}
#endif
#endif /* IPCSCOPE_SECTION_H */
