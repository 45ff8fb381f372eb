/*
 * agent_frames.c — libFuzzer target: the agent's portable core (Sources/MBVIPC/agent/
 * agent_core.c), the frame decoder and request handlers that both mbvipc-agent and
 * mbvipc-agent.exe run, over a platform part made of memory.
 *
 * The input is the request stream itself, from its first byte. Its first byte picks how the
 * stream is cut into reads (1 to 16 bytes, or whole), whether calls are allowed, and whether
 * the stream ends in a timeout instead of an end of input. The platform serves one section,
 * "fuzz" (a valid image of small capacities that changes after every snapshot), a LIST of
 * two entries, pid facts, and calls that echo.
 *
 * Checked for every answer: it is one whole frame (magic, version 1, length = bytes - 16,
 * at most 16 MiB); an ERROR carries a known code and a string that fits; a SNAPSHOT, applied
 * as the tool applies it (a delta only on a base of the same size), gives exactly the
 * section's bytes at that moment. The core must not read past the stream or hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_core.h"
#include "ipc_core.h"

const char *const agent_build = "agent_frames fuzz target";

static const uint8_t *in_data;
static size_t in_len, in_pos, chunk;
static int end_in_timeout;

static _Noreturn void fail(const char *what) {
    fprintf(stderr, "agent_frames: %s\n", what);
    abort();
}

long agent_plat_read(uint8_t *buf, size_t n, int timeout_ms) {
    (void)timeout_ms;
    if (in_pos >= in_len) return end_in_timeout ? -2 : 0;
    size_t k = in_len - in_pos;
    if (k > n) k = n;
    if (chunk && k > chunk) k = chunk;
    memcpy(buf, in_data + in_pos, k);
    in_pos += k;
    return (long)k;
}

/* MARK: - the section */

#define REQ_CAP 64u
#define RSP_CAP 64u
#define TRACE_CAP 4u
static uint8_t section[8192];
static uint64_t section_size;
static unsigned snapshots;

static void put32(uint8_t *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }

static void make_section(void) {
    memset(section, 0, sizeof section);
    section_size = ipcscope_section_size(REQ_CAP, RSP_CAP, TRACE_CAP);
    if (section_size > sizeof section) fail("the test section does not fit");
    memcpy(section, IPCSCOPE_MAGIC, 8);
    put32(section, IPCSCOPE_OFF_VERSION, IPCSCOPE_VERSION);
    put32(section, IPCSCOPE_OFF_HEADER_SIZE, IPCSCOPE_HEADER_SIZE);
    put64(section, IPCSCOPE_OFF_SECTION_SIZE, section_size);
    put32(section, IPCSCOPE_OFF_REQUEST_OFFSET, ipcscope_request_offset());
    put32(section, IPCSCOPE_OFF_REQUEST_CAPACITY, REQ_CAP);
    put32(section, IPCSCOPE_OFF_RESPONSE_OFFSET, ipcscope_response_offset(REQ_CAP));
    put32(section, IPCSCOPE_OFF_RESPONSE_CAPACITY, RSP_CAP);
    put32(section, IPCSCOPE_OFF_TRACE_OFFSET, ipcscope_trace_offset(REQ_CAP, RSP_CAP, TRACE_CAP));
    put32(section, IPCSCOPE_OFF_TRACE_CAPACITY, TRACE_CAP);
    put32(section, IPCSCOPE_OFF_MUTEX_OFFSET, IPCSCOPE_MUTEX_OFFSET);
    put32(section, IPCSCOPE_OFF_SERVER_PID, 4242);
    put32(section, IPCSCOPE_OFF_OWNER_PID, 77);
    uint32_t tr = ipcscope_trace_offset(REQ_CAP, RSP_CAP, TRACE_CAP);
    for (uint32_t k = 0; k < TRACE_CAP; k++) {
        put64(section, tr + k * IPCSCOPE_TRACE_RECORD_SIZE, k + 1);
        put32(section, tr + k * IPCSCOPE_TRACE_RECORD_SIZE + IPCSCOPE_TR_CLIENT_PID, 100 + k);
    }
    snapshots = 0;
}

/* A server at work between snapshots: a few bytes change, line 0 (the layout) never. */
static void advance_section(void) {
    snapshots++;
    for (unsigned k = 0; k < (snapshots % 4); k++) {
        size_t at = 64 + (size_t)(snapshots * 131u + k * 977u) % (size_t)(section_size - 64);
        section[at] ^= (uint8_t)(snapshots | 1);
    }
}

uint32_t agent_plat_open(const char *name, struct agent_object *obj, char *msg, size_t cap) {
    if (strcmp(name, "fuzz") != 0) {
        agent_fmt(msg, cap, "no service named '%s'", name);
        return AGENT_ERR_NO_SECTION;
    }
    obj->size = section_size;
    obj->uid = 1000;
    obj->mode = 0600;
    obj->held = 1;
    obj->boot_minus_mono = 5;
    obj->extra_pid = 9;
    obj->extra_roles = AGENT_ROLE_MUTANT_OWNER;
    return 0;
}

size_t agent_plat_pread(uint8_t *buf, size_t n, uint64_t off) {
    if (off >= section_size) return 0;
    if (n > section_size - off) n = (size_t)(section_size - off);
    memcpy(buf, section + off, n);
    return n;
}

void agent_plat_release(int keep) { (void)keep; }

void agent_plat_pid_fact(struct agent_out *o, int32_t pid, uint32_t roles) {
    (void)roles;
    agent_put_u8(o, (uint8_t)(pid % 4));
    agent_put_u64(o, (uint64_t)pid * 1000);
    agent_put_cstr(o, "proc");
    agent_put_str(o, "a\0b", 3);
}

void agent_plat_host(struct agent_host *h) {
    memcpy(h->host, "fuzzhost", 9);
    memcpy(h->os, "FuzzOS", 7);
    h->ticks_per_second = 100;
    h->uid = 1000;
}

uint32_t agent_plat_list(struct agent_out *o, uint32_t *count, char *msg, size_t cap) {
    (void)msg, (void)cap;
    for (int k = 0; k < 2; k++) {
        agent_put_cstr(o, k ? "other" : "fuzz");
        agent_put_u8(o, AGENT_KIND_REGULAR);
        agent_put_u64(o, section_size);
        agent_put_u32(o, 1000);
        agent_put_u32(o, 0600);
        agent_put_u64(o, 1);
        (*count)++;
    }
    return 0;
}

uint32_t agent_plat_call(const char *name, uint32_t function, uint32_t timeout_ms, const uint8_t *request,
                         uint16_t size, int32_t *status, uint8_t *response, uint16_t *response_size, char *msg,
                         size_t cap) {
    (void)timeout_ms;
    if (strcmp(name, "fuzz") != 0) {
        agent_fmt(msg, cap, "connect failed: no service '%s'", name);
        return AGENT_ERR_CALL_FAILED;
    }
    if (size > *response_size) fail("a call's request is larger than the response buffer");
    if (size) memcpy(response, request, size);
    *response_size = size;
    *status = (int32_t)function;
    return 0;
}

/* MARK: - checking the answers as the tool would */

static uint8_t tool_bytes[8192];
static size_t tool_len;
static int tool_has;

static uint32_t rd32(const uint8_t *b) { uint32_t v; memcpy(&v, b, 4); return v; }
static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] | b[1] << 8); }

static void check_snapshot(const uint8_t *p, size_t n, int delta) {
    size_t pos = 8 + 8 + 4 + 4 + 4 + 8;
    if (n < pos + 4) fail("snapshot head too short");
    uint32_t torn = rd32(p + pos);
    pos += 4;
    if (torn > TRACE_CAP || n < pos + 4 * (size_t)torn + 4) fail("torn count");
    pos += 4 * (size_t)torn;
    uint32_t pids = rd32(p + pos);
    pos += 4;
    if (pids > AGENT_MAX_PIDS) fail("pid count over the limit");
    for (uint32_t k = 0; k < pids; k++) {
        if (n < pos + 4 + 4 + 1 + 8 + 2) fail("pid fact cut");
        pos += 17;
        for (int s = 0; s < 2; s++) {
            if (n < pos + 2) fail("pid string cut");
            size_t len = rd16(p + pos);
            pos += 2 + len;
            if (pos > n) fail("pid string past the payload");
        }
    }
    if (n < pos + 4) fail("total missing");
    uint32_t total = rd32(p + pos);
    pos += 4;
    if (total != section_size) fail("total is not the section's size");
    if (!delta) {
        if (n - pos != total) fail("FULL carries other than total bytes");
        memcpy(tool_bytes, p + pos, total);
    } else {
        if (!tool_has || tool_len != total) fail("a delta without a base of the same size");
        if (n < pos + 4) fail("line count missing");
        uint32_t lines = rd32(p + pos);
        pos += 4;
        for (uint32_t k = 0; k < lines; k++) {
            if (n < pos + 4) fail("line index cut");
            uint32_t line = rd32(p + pos);
            pos += 4;
            size_t at = (size_t)line * AGENT_LINE;
            if (at >= total) fail("a line past the end");
            size_t len = total - at < AGENT_LINE ? total - at : AGENT_LINE;
            if (n < pos + len) fail("line bytes cut");
            memcpy(tool_bytes + at, p + pos, len);
            pos += len;
        }
        if (pos != n) fail("bytes after the last line");
    }
    tool_len = total;
    tool_has = 1;
    if (memcmp(tool_bytes, section, total) != 0) fail("the snapshot, applied, is not the section's bytes");
    advance_section();
}

int agent_plat_write(const uint8_t *b, size_t n, int timeout_ms) {
    (void)timeout_ms;
    if (n < AGENT_HEADER_SIZE) fail("a frame shorter than its header");
    if (rd32(b) != AGENT_MAGIC || (rd16(b + 4) < AGENT_VERSION_MIN || rd16(b + 4) > AGENT_VERSION)) fail("bad magic or version in an answer");
    uint32_t length = rd32(b + 8);
    if (length != n - AGENT_HEADER_SIZE || length > AGENT_MAX_PAYLOAD) fail("length is not the payload's");
    uint16_t type = rd16(b + 6);
    const uint8_t *p = b + AGENT_HEADER_SIZE;
    switch (type) {
    case AGENT_ERROR: {
        if (length < 6) fail("ERROR too short");
        uint32_t code = rd32(p);
        if (code < 1 || code > 13) fail("ERROR code unknown");
        if ((size_t)rd16(p + 4) + 6 != length) fail("ERROR string does not fill the payload");
        tool_has = 0; /* the tool forgets its base on an ERROR to a SNAPSHOT; the agent on any */
        break;
    }
    case AGENT_SNAPSHOT_FULL: check_snapshot(p, length, 0); break;
    case AGENT_SNAPSHOT_DELTA: check_snapshot(p, length, 1); break;
    case AGENT_HELLO_OK: case AGENT_LIST_OK: case AGENT_CALL_OK: case AGENT_BYE_OK: break;
    default: fail("an answer of an unknown type");
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    chunk = mode & 15;           /* 0: whole reads */
    agent_opt.allow_calls = mode >> 4 & 1;
    end_in_timeout = mode >> 5 & 1;
    in_data = data + 1;
    in_len = size - 1;
    in_pos = 0;
    tool_has = 0;
    make_section();
    agent_reset();
    (void)agent_serve();
    if (in_pos > in_len) fail("read past the stream");
    agent_reset();
    return 0;
}
