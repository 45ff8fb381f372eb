/* Compile-time checks that the C structs match docs/section-format.md. */
#include <stddef.h>
#include "ipcscope_section.h"
#include "ipcscope_shims.h"

#define AT(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field " must be at " #off)
AT(ipcscope_header_t, magic, 0);
AT(ipcscope_header_t, version, 8);
AT(ipcscope_header_t, header_size, 12);
AT(ipcscope_header_t, section_size, 16);
AT(ipcscope_header_t, request_offset, 24);
AT(ipcscope_header_t, request_capacity, 28);
AT(ipcscope_header_t, response_offset, 32);
AT(ipcscope_header_t, response_capacity, 36);
AT(ipcscope_header_t, trace_offset, 40);
AT(ipcscope_header_t, trace_capacity, 44);
AT(ipcscope_header_t, mutex_offset, 48);
AT(ipcscope_header_t, creator_uid, 52);
AT(ipcscope_header_t, created_unix_ns, 56);
AT(ipcscope_header_t, server_pid, 64);
AT(ipcscope_header_t, server_epoch, 68);
AT(ipcscope_header_t, server_starttime, 72);
AT(ipcscope_header_t, heartbeat_ns, 80);
AT(ipcscope_header_t, server_flags, 88);
AT(ipcscope_header_t, calls_served, 96);
AT(ipcscope_header_t, calls_rejected, 104);
AT(ipcscope_header_t, last_service_ns, 112);
AT(ipcscope_header_t, trace_head, 120);
AT(ipcscope_header_t, mutex, 128);
AT(ipcscope_header_t, owner_pid, 192);
AT(ipcscope_header_t, owner_tid, 196);
AT(ipcscope_header_t, owner_since_ns, 200);
AT(ipcscope_header_t, lock_count, 208);
AT(ipcscope_header_t, contended_count, 216);
AT(ipcscope_header_t, recovered_count, 224);
AT(ipcscope_header_t, state, 256);
AT(ipcscope_header_t, request_event, 260);
AT(ipcscope_header_t, response_event, 264);
AT(ipcscope_header_t, server_waiting, 268);
AT(ipcscope_header_t, client_waiting, 272);
AT(ipcscope_header_t, state_since_ns, 280);
AT(ipcscope_header_t, next_seq, 288);
_Static_assert(sizeof(ipcscope_header_t) == IPCSCOPE_HEADER_SIZE, "header is 512 bytes");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "pthread_mutex_t fits its 64 bytes");

AT(ipcscope_request_t, seq, IPCSCOPE_REQ_SEQ);
AT(ipcscope_request_t, client_pid, IPCSCOPE_REQ_CLIENT_PID);
AT(ipcscope_request_t, client_tid, IPCSCOPE_REQ_CLIENT_TID);
AT(ipcscope_request_t, function, IPCSCOPE_REQ_FUNCTION);
AT(ipcscope_request_t, request_size, IPCSCOPE_REQ_SIZE);
AT(ipcscope_request_t, sent_ns, IPCSCOPE_REQ_SENT_NS);
_Static_assert(sizeof(ipcscope_request_t) == IPCSCOPE_REQ_DATA, "request header is 64 bytes");
AT(ipcscope_response_t, seq, IPCSCOPE_RSP_SEQ);
AT(ipcscope_response_t, status, IPCSCOPE_RSP_STATUS);
AT(ipcscope_response_t, response_size, IPCSCOPE_RSP_SIZE);
AT(ipcscope_response_t, done_ns, IPCSCOPE_RSP_DONE_NS);
_Static_assert(sizeof(ipcscope_response_t) == IPCSCOPE_RSP_DATA, "response header is 64 bytes");
AT(ipcscope_trace_record_t, seq, IPCSCOPE_TR_SEQ);
AT(ipcscope_trace_record_t, function, IPCSCOPE_TR_FUNCTION);
AT(ipcscope_trace_record_t, status, IPCSCOPE_TR_STATUS);
AT(ipcscope_trace_record_t, request_size, IPCSCOPE_TR_REQUEST_SIZE);
AT(ipcscope_trace_record_t, response_size, IPCSCOPE_TR_RESPONSE_SIZE);
AT(ipcscope_trace_record_t, client_pid, IPCSCOPE_TR_CLIENT_PID);
AT(ipcscope_trace_record_t, flags, IPCSCOPE_TR_FLAGS);
AT(ipcscope_trace_record_t, sent_ns, IPCSCOPE_TR_SENT_NS);
AT(ipcscope_trace_record_t, done_ns, IPCSCOPE_TR_DONE_NS);
AT(ipcscope_trace_record_t, request_head, IPCSCOPE_TR_REQUEST_HEAD);
_Static_assert(sizeof(ipcscope_trace_record_t) == IPCSCOPE_TRACE_RECORD_SIZE, "trace record is 64 bytes");

/* The offsets enum mirrors the document. */
_Static_assert(IPCSCOPE_OFF_MAGIC == 0, "IPCSCOPE_OFF_MAGIC");
_Static_assert(IPCSCOPE_OFF_VERSION == 8, "IPCSCOPE_OFF_VERSION");
_Static_assert(IPCSCOPE_OFF_HEADER_SIZE == 12, "IPCSCOPE_OFF_HEADER_SIZE");
_Static_assert(IPCSCOPE_OFF_SECTION_SIZE == 16, "IPCSCOPE_OFF_SECTION_SIZE");
_Static_assert(IPCSCOPE_OFF_REQUEST_OFFSET == 24, "IPCSCOPE_OFF_REQUEST_OFFSET");
_Static_assert(IPCSCOPE_OFF_REQUEST_CAPACITY == 28, "IPCSCOPE_OFF_REQUEST_CAPACITY");
_Static_assert(IPCSCOPE_OFF_RESPONSE_OFFSET == 32, "IPCSCOPE_OFF_RESPONSE_OFFSET");
_Static_assert(IPCSCOPE_OFF_RESPONSE_CAPACITY == 36, "IPCSCOPE_OFF_RESPONSE_CAPACITY");
_Static_assert(IPCSCOPE_OFF_TRACE_OFFSET == 40, "IPCSCOPE_OFF_TRACE_OFFSET");
_Static_assert(IPCSCOPE_OFF_TRACE_CAPACITY == 44, "IPCSCOPE_OFF_TRACE_CAPACITY");
_Static_assert(IPCSCOPE_OFF_MUTEX_OFFSET == 48, "IPCSCOPE_OFF_MUTEX_OFFSET");
_Static_assert(IPCSCOPE_OFF_CREATOR_UID == 52, "IPCSCOPE_OFF_CREATOR_UID");
_Static_assert(IPCSCOPE_OFF_CREATED_UNIX_NS == 56, "IPCSCOPE_OFF_CREATED_UNIX_NS");
_Static_assert(IPCSCOPE_OFF_SERVER_PID == 64, "IPCSCOPE_OFF_SERVER_PID");
_Static_assert(IPCSCOPE_OFF_SERVER_EPOCH == 68, "IPCSCOPE_OFF_SERVER_EPOCH");
_Static_assert(IPCSCOPE_OFF_SERVER_STARTTIME == 72, "IPCSCOPE_OFF_SERVER_STARTTIME");
_Static_assert(IPCSCOPE_OFF_HEARTBEAT_NS == 80, "IPCSCOPE_OFF_HEARTBEAT_NS");
_Static_assert(IPCSCOPE_OFF_SERVER_FLAGS == 88, "IPCSCOPE_OFF_SERVER_FLAGS");
_Static_assert(IPCSCOPE_OFF_CALLS_SERVED == 96, "IPCSCOPE_OFF_CALLS_SERVED");
_Static_assert(IPCSCOPE_OFF_CALLS_REJECTED == 104, "IPCSCOPE_OFF_CALLS_REJECTED");
_Static_assert(IPCSCOPE_OFF_LAST_SERVICE_NS == 112, "IPCSCOPE_OFF_LAST_SERVICE_NS");
_Static_assert(IPCSCOPE_OFF_TRACE_HEAD == 120, "IPCSCOPE_OFF_TRACE_HEAD");
_Static_assert(IPCSCOPE_OFF_MUTEX == 128, "IPCSCOPE_OFF_MUTEX");
_Static_assert(IPCSCOPE_OFF_OWNER_PID == 192, "IPCSCOPE_OFF_OWNER_PID");
_Static_assert(IPCSCOPE_OFF_OWNER_TID == 196, "IPCSCOPE_OFF_OWNER_TID");
_Static_assert(IPCSCOPE_OFF_OWNER_SINCE_NS == 200, "IPCSCOPE_OFF_OWNER_SINCE_NS");
_Static_assert(IPCSCOPE_OFF_LOCK_COUNT == 208, "IPCSCOPE_OFF_LOCK_COUNT");
_Static_assert(IPCSCOPE_OFF_CONTENDED_COUNT == 216, "IPCSCOPE_OFF_CONTENDED_COUNT");
_Static_assert(IPCSCOPE_OFF_RECOVERED_COUNT == 224, "IPCSCOPE_OFF_RECOVERED_COUNT");
_Static_assert(IPCSCOPE_OFF_STATE == 256, "IPCSCOPE_OFF_STATE");
_Static_assert(IPCSCOPE_OFF_REQUEST_EVENT == 260, "IPCSCOPE_OFF_REQUEST_EVENT");
_Static_assert(IPCSCOPE_OFF_RESPONSE_EVENT == 264, "IPCSCOPE_OFF_RESPONSE_EVENT");
_Static_assert(IPCSCOPE_OFF_SERVER_WAITING == 268, "IPCSCOPE_OFF_SERVER_WAITING");
_Static_assert(IPCSCOPE_OFF_CLIENT_WAITING == 272, "IPCSCOPE_OFF_CLIENT_WAITING");
_Static_assert(IPCSCOPE_OFF_STATE_SINCE_NS == 280, "IPCSCOPE_OFF_STATE_SINCE_NS");
_Static_assert(IPCSCOPE_OFF_NEXT_SEQ == 288, "IPCSCOPE_OFF_NEXT_SEQ");

/* The default layout is the one the document gives. */
_Static_assert(IPCSCOPE_HEADER_SIZE + 64 + 4096 == 4672, "default response_offset");
