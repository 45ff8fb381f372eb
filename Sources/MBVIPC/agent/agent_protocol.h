/*
 * agent_protocol.h — the constants of the ipcscope agent protocol, versions 1 and 2
 * (docs/agent-protocol.md is the contract; this header and the Swift decoder in
 * IPCScopeObserve/Remote follow it). Every integer is little-endian.
 */
#ifndef MBV_AGENT_PROTOCOL_H
#define MBV_AGENT_PROTOCOL_H

#define AGENT_MAGIC 0x4156424Du           /* "MBVA" as bytes on the wire */
#define AGENT_VERSION 2u                  /* the highest version this agent speaks */
#define AGENT_VERSION_MIN 1u              /* the lowest (1: HELLO_OK without the REALTIME offset) */
#define AGENT_HEADER_SIZE 16u             /* magic u32, version u16, type u16, length u32, reserved u32 */
#define AGENT_MAX_PAYLOAD (16u * 1024u * 1024u)  /* larger lengths are refused before reading */
#define AGENT_MAX_REQUEST (1024u * 1024u + 512u) /* what the tool may send (a call's request included) */
#define AGENT_MAX_STRING 4096u            /* any u16-length string */
#define AGENT_MAX_LIST 4096u              /* entries in one LIST_OK */
#define AGENT_MAX_PIDS 32u                /* pid facts in one snapshot */
#define AGENT_LINE 64u                    /* the unit of a delta */

/* tool -> agent */
enum {
    AGENT_HELLO = 0x01,
    AGENT_LIST = 0x02,
    AGENT_SNAPSHOT = 0x03,
    AGENT_CALL = 0x04,
    AGENT_BYE = 0x05,
};

/* agent -> tool: the request's type with the high bit set, or ERROR */
enum {
    AGENT_HELLO_OK = 0x81,
    AGENT_LIST_OK = 0x82,
    AGENT_SNAPSHOT_FULL = 0x83,
    AGENT_SNAPSHOT_DELTA = 0x93,
    AGENT_CALL_OK = 0x84,
    AGENT_BYE_OK = 0x85,
    AGENT_ERROR = 0xFF,
};

/* ERROR codes */
enum {
    AGENT_ERR_BAD_FRAME = 1,     /* bad magic, length over the limit, truncated payload: stream closed */
    AGENT_ERR_VERSION = 2,       /* no common version */
    AGENT_ERR_UNKNOWN_TYPE = 3,  /* a type this agent does not know: stream goes on */
    AGENT_ERR_BAD_PAYLOAD = 4,   /* the payload does not parse for its type */
    AGENT_ERR_NO_SECTION = 5,    /* no object by that name */
    AGENT_ERR_UNREADABLE = 6,    /* permission denied */
    AGENT_ERR_NOT_REGULAR = 7,   /* FIFO, directory, socket, link, device */
    AGENT_ERR_BAD_NAME = 8,      /* not a service name */
    AGENT_ERR_CALLS_REFUSED = 9, /* started without --allow-calls */
    AGENT_ERR_CALL_FAILED = 10,  /* the C library's message says why */
    AGENT_ERR_IO = 11,           /* anything else the system refused */
    AGENT_ERR_HELLO_FIRST = 12,  /* a request before HELLO */
    AGENT_ERR_TIMEOUT = 13,      /* a frame's bytes stopped arriving */
};

/* LIST_OK file kinds */
enum {
    AGENT_KIND_REGULAR = 0, AGENT_KIND_DIRECTORY = 1, AGENT_KIND_FIFO = 2, AGENT_KIND_SOCKET = 3,
    AGENT_KIND_SYMLINK = 4, AGENT_KIND_CHAR_DEVICE = 5, AGENT_KIND_BLOCK_DEVICE = 6, AGENT_KIND_OTHER = 7,
};

/* SNAPSHOT flags (request) and snapshot flags (reply) */
#define AGENT_SNAPSHOT_WANT_FULL 1u
#define AGENT_SNAP_ALIVE 1u
#define AGENT_SNAP_SLOTS_SETTLED 2u
#define AGENT_SNAP_MUTEX_QUIET 4u
#define AGENT_SNAP_PIDS_SAME 8u  /* version 2, deltas only: the pid facts are the previous snapshot's (count 0 sent) */

/* pid fact roles (a bit set: one pid may play several) */
#define AGENT_ROLE_SERVER 1u
#define AGENT_ROLE_OWNER 2u
#define AGENT_ROLE_MUTEX_TID 4u
#define AGENT_ROLE_REQUEST_CLIENT 8u
#define AGENT_ROLE_TRACE_CLIENT 16u
#define AGENT_ROLE_MUTANT_OWNER 32u  /* NT: the process holding the .server Mutant, where the kernel tells */

/* pid fact states */
enum { AGENT_PID_GONE = 0, AGENT_PID_LIVES = 1, AGENT_PID_ZOMBIE = 2, AGENT_PID_UNKNOWN = 3 };

#endif /* MBV_AGENT_PROTOCOL_H */
