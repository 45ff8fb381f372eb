/*
 * agent_core.c — the portable core of mbvipc-agent (see agent_core.h and
 * docs/agent-protocol.md): framing, bounded request decoding, snapshots with
 * deltas and re-reads, and the request loop. Shared by the Linux agent
 * (agent_posix.c) and the Windows NT agent (agent_nt.c).
 *
 * Everything on the request stream is hostile: a header's length is checked
 * before a byte of its payload is kept, a frame that stops arriving times out,
 * and every failure is an ERROR frame, never a crash.
 */
#include <stdarg.h>
#include <string.h>

#include "agent_core.h"
#include "ipc_core.h"
#include "ipc_client.h"

struct agent_options agent_opt = {0, 600 * 1000, 10 * 1000};

static uint64_t mono_ns(void) { return ipc_plat_now_mono_ns(); }

/* MARK: - messages */

static void fmt_put(char *buf, size_t cap, size_t *n, char c) {
    if (*n + 1 < cap) buf[(*n)++] = c;
}

size_t agent_fmt(char *buf, size_t cap, const char *f, ...) {
    size_t n = 0;
    if (!cap) return 0;
    va_list ap;
    va_start(ap, f);
    for (; *f; f++) {
        if (*f != '%') {
            fmt_put(buf, cap, &n, *f);
            continue;
        }
        f++;
        char pad = ' ';
        int width = 0, longs = 0;
        if (*f == '0') pad = '0', f++;
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        while (*f == 'l') longs++, f++;
        if (*f == 's') {
            const char *s = va_arg(ap, const char *);
            for (; s && *s; s++) fmt_put(buf, cap, &n, *s);
        } else if (*f == 'u' || *f == 'd' || *f == 'x') {
            unsigned long long v;
            int neg = 0;
            if (*f == 'd') {
                long long sv = longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
                neg = sv < 0;
                v = neg ? 0ull - (unsigned long long)sv : (unsigned long long)sv;
            } else {
                v = longs >= 2 ? va_arg(ap, unsigned long long) : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            }
            unsigned base = *f == 'x' ? 16 : 10;
            char d[24];
            int k = 0;
            do d[k++] = "0123456789abcdef"[v % base], v /= base; while (v);
            if (neg) fmt_put(buf, cap, &n, '-');
            for (int w = k + neg; w < width; w++) fmt_put(buf, cap, &n, pad);
            while (k) fmt_put(buf, cap, &n, d[--k]);
        } else if (*f == '%') {
            fmt_put(buf, cap, &n, '%');
        } else {
            break; /* unknown conversion: stop rather than guess the arguments */
        }
    }
    va_end(ap);
    buf[n] = 0;
    return n;
}

/* MARK: - the byte stream */

/* Reads exactly n bytes; 0 on success, 1 at a clean end of input before any byte (only when
 * `eof_ok`), -1 on error or truncation, -2 on timeout. The first byte may take `first_ms`;
 * after it, the rest must come within the frame timeout. */
static int read_exact(uint8_t *buf, size_t n, int first_ms, int eof_ok) {
    size_t got = 0;
    uint64_t deadline = 0;
    while (got < n) {
        int wait_ms = first_ms;
        if (got > 0 || !eof_ok) {
            if (!deadline) deadline = mono_ns() + (uint64_t)agent_opt.frame_timeout_ms * 1000000ull;
            uint64_t now = mono_ns();
            if (now >= deadline) return -2;
            wait_ms = (int)((deadline - now) / 1000000ull) + 1;
        }
        long k = agent_plat_read(buf + got, n - got, wait_ms);
        if (k == -2) return -2;
        if (k < 0) return -1;
        if (k == 0) return got == 0 && eof_ok ? 1 : -1;
        got += (size_t)k;
    }
    return 0;
}

/* MARK: - building a payload */

static void out_reserve(struct agent_out *o, size_t more) {
    if (o->failed) return;
    if (more > AGENT_MAX_PAYLOAD + AGENT_HEADER_SIZE - o->len) { o->failed = 1; return; }
    if (o->len + more <= o->cap) return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more) cap *= 2;
    uint8_t *d = (uint8_t *)ipc_plat_alloc(cap);
    if (!d) { o->failed = 1; return; }
    if (o->len) memcpy(d, o->data, o->len);
    ipc_plat_free(o->data);
    o->data = d;
    o->cap = cap;
}
void agent_put(struct agent_out *o, const void *p, size_t n) {
    out_reserve(o, n);
    if (o->failed || n == 0) return;
    memcpy(o->data + o->len, p, n);
    o->len += n;
}
void agent_put_u8(struct agent_out *o, uint8_t v) { agent_put(o, &v, 1); }
void agent_put_u16(struct agent_out *o, uint16_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; agent_put(o, b, 2); }
void agent_put_u32(struct agent_out *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    agent_put(o, b, 4);
}
void agent_put_u64(struct agent_out *o, uint64_t v) { agent_put_u32(o, (uint32_t)v); agent_put_u32(o, (uint32_t)(v >> 32)); }
void agent_put_str(struct agent_out *o, const void *s, size_t n) {
    if (n > AGENT_MAX_STRING) n = AGENT_MAX_STRING;
    agent_put_u16(o, (uint16_t)n);
    agent_put(o, s, n);
}
void agent_put_cstr(struct agent_out *o, const char *s) { agent_put_str(o, s, strlen(s)); }
void agent_patch_u32(struct agent_out *o, size_t at, uint32_t v) {
    if (o->failed || at + 4 > o->len) return;
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(o->data + at, b, 4);
}

/* The version chosen at HELLO (the highest both speak): every frame after it carries it. */
static uint16_t version_in_use = AGENT_VERSION;

/* Starts a frame of `type`: the header's length is filled in by send_frame. */
static void begin(struct agent_out *o, uint16_t type) {
    o->len = 0;
    o->failed = 0;
    agent_put_u32(o, AGENT_MAGIC);
    agent_put_u16(o, version_in_use);
    agent_put_u16(o, type);
    agent_put_u32(o, 0);
    agent_put_u32(o, 0);
}

static int send_error(uint32_t code, const char *message);

static int send_frame(struct agent_out *o) {
    if (o->failed)
        return send_error(AGENT_ERR_IO, "the reply would exceed the protocol's 16 MiB frame limit or the agent's memory");
    agent_patch_u32(o, 8, (uint32_t)(o->len - AGENT_HEADER_SIZE));
    return agent_plat_write(o->data, o->len, agent_opt.frame_timeout_ms);
}

static struct agent_out reply;

static void forget_base(void);

/* Any ERROR also forgets the snapshot base: the next snapshot is sent whole (the tool forgets
 * its base on an ERROR to a SNAPSHOT; after any other it may keep it, and a FULL still applies). */
static int send_error(uint32_t code, const char *message) {
    forget_base();
    /* Small: built on the stack, so it is sent even when memory ran out. */
    uint8_t b[AGENT_HEADER_SIZE + 4 + 2 + 512];
    size_t n = strlen(message);
    if (n > 512) n = 512;
    uint32_t length = (uint32_t)(4 + 2 + n);
    uint32_t words[3] = {AGENT_MAGIC, version_in_use | (uint32_t)AGENT_ERROR << 16, length};
    for (int w = 0; w < 3; w++)
        for (int k = 0; k < 4; k++) b[w * 4 + k] = (uint8_t)(words[w] >> (8 * k));
    memset(b + 12, 0, 4);
    for (int k = 0; k < 4; k++) b[16 + k] = (uint8_t)(code >> (8 * k));
    b[20] = (uint8_t)n;
    b[21] = (uint8_t)(n >> 8);
    memcpy(b + 22, message, n);
    return agent_plat_write(b, AGENT_HEADER_SIZE + length, agent_opt.frame_timeout_ms);
}

/* MARK: - reading a request payload (bounded) */

struct in {
    const uint8_t *p;
    size_t len, pos;
    int bad;
};
static int get(struct in *i, void *dst, size_t n) {
    if (i->bad || i->len - i->pos < n) { i->bad = 1; return 0; }
    memcpy(dst, i->p + i->pos, n);
    i->pos += n;
    return 1;
}
static uint16_t get_u16(struct in *i) { uint8_t b[2] = {0, 0}; get(i, b, 2); return (uint16_t)(b[0] | b[1] << 8); }
static uint32_t get_u32(struct in *i) {
    uint8_t b[4] = {0, 0, 0, 0};
    get(i, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
/* A string into `out` (NUL-terminated, at most `cap` - 1 bytes); longer ones mark the input bad. */
static void get_str(struct in *i, char *out, size_t cap) {
    uint16_t n = get_u16(i);
    out[0] = 0;
    if (i->bad) return;
    if (n >= cap) { i->bad = 1; return; }
    if (!get(i, out, n)) return;
    out[n] = 0;
}

static uint64_t load64(const uint8_t *b, size_t off) { uint64_t v; memcpy(&v, b + off, 8); return v; }
static uint32_t load32(const uint8_t *b, size_t off) { uint32_t v; memcpy(&v, b + off, 4); return v; }

/* MARK: - hello and list */

static int negotiated = 0;

static int on_hello(struct in *i) {
    uint16_t lo = get_u16(i), hi = get_u16(i);
    if (i->bad) return send_error(AGENT_ERR_BAD_PAYLOAD, "HELLO needs two u16 versions (lowest, highest)");
    if (lo > AGENT_VERSION || hi < AGENT_VERSION_MIN || lo > hi) {
        char m[200];
        agent_fmt(m, sizeof m, "no common protocol version: the tool speaks %u..%u, this agent speaks %u..%u; "
                  "install an agent and a tool of the same release", lo, hi, AGENT_VERSION_MIN, AGENT_VERSION);
        return send_error(AGENT_ERR_VERSION, m);
    }
    negotiated = 1;
    version_in_use = (uint16_t)(hi < AGENT_VERSION ? hi : AGENT_VERSION);
    static struct agent_host h;
    memset(&h, 0, sizeof h);
    agent_plat_host(&h);
    h.host[sizeof h.host - 1] = 0;
    h.os[sizeof h.os - 1] = 0;
    begin(&reply, AGENT_HELLO_OK);
    agent_put_u16(&reply, version_in_use);
    agent_put_u32(&reply, agent_opt.allow_calls ? 1u : 0u);
    agent_put_cstr(&reply, h.host);
    agent_put_cstr(&reply, h.os);
    agent_put_cstr(&reply, agent_build);
    agent_put_u32(&reply, h.ticks_per_second ? h.ticks_per_second : 100u);
    agent_put_u32(&reply, h.uid);
    /* Version 2: this host's wall clock minus its monotonic clock (the clock of `taken` and of
     * the section's times), so that the tool shows the section host's wall clock. */
    if (version_in_use >= 2) {
        uint64_t real = ipc_plat_now_real_ns(), mono = ipc_plat_now_mono_ns();
        agent_put_u64(&reply, real - mono);
    }
    return send_frame(&reply);
}

static int on_list(void) {
    begin(&reply, AGENT_LIST_OK);
    size_t count_at = reply.len;
    agent_put_u32(&reply, 0);
    uint32_t count = 0;
    char m[512];
    m[0] = 0;
    uint32_t code = agent_plat_list(&reply, &count, m, sizeof m);
    if (code) return send_error(code, m);
    agent_patch_u32(&reply, count_at, count);
    return send_frame(&reply);
}

/* MARK: - snapshots */

/* The bytes sent last (for deltas) and the name they belong to. */
static struct {
    char name[IPCSCOPE_NAME_MAX + 1];
    uint8_t *last;
    size_t last_len;
    int have_last;
    struct agent_out pids; /* the pid facts sent last, encoded (version 2 leaves them out when unchanged) */
    struct agent_out facts; /* this snapshot's pid facts, encoded */
} cur;

static void forget_base(void) {
    cur.have_last = 0;
    cur.name[0] = 0;
}

void agent_reset(void) {
    ipc_plat_free(cur.last);
    ipc_plat_free(cur.pids.data);
    ipc_plat_free(cur.facts.data);
    memset(&cur, 0, sizeof cur);
    negotiated = 0;
    version_in_use = AGENT_VERSION;
    ipc_plat_free(reply.data);
    memset(&reply, 0, sizeof reply);
}

struct pid_role {
    int32_t pid;
    uint32_t roles;
};

static void add_pid(struct pid_role *pids, uint32_t *n, int32_t pid, uint32_t role) {
    if (pid <= 0) return;
    for (uint32_t k = 0; k < *n; k++)
        if (pids[k].pid == pid) { pids[k].roles |= role; return; }
    if (*n >= AGENT_MAX_PIDS) return;
    pids[*n].pid = pid;
    pids[*n].roles = role;
    (*n)++;
}

static int snapshot_error(uint32_t code, const char *m) {
    agent_plat_release(0);
    return send_error(code, m);
}

static int on_snapshot(struct in *i) {
    char name[IPCSCOPE_NAME_MAX + 2];
    get_str(i, name, sizeof name);
    uint32_t flags = get_u32(i);
    if (i->bad) return send_error(AGENT_ERR_BAD_PAYLOAD, "SNAPSHOT needs a name (u16 length, at most 128 bytes) and u32 flags");
    char checked[IPCSCOPE_NAME_MAX + 1];
    if (ipc_name_check(name, checked) != MBV_IPC_OK || strcmp(checked, name) != 0) {
        char m[400];
        agent_fmt(m, sizeof m, "'%s' is not a service name: 1 to 128 of A-Z a-z 0-9 . _ -, not starting with . or -", checked);
        return send_error(AGENT_ERR_BAD_NAME, m);
    }
    struct agent_object obj;
    memset(&obj, 0, sizeof obj);
    char m[512];
    m[0] = 0;
    uint32_t code = agent_plat_open(checked, &obj, m, sizeof m);
    if (code) return snapshot_error(code, m);
    int reopened = obj.reopened || strcmp(cur.name, checked) != 0;
    memcpy(cur.name, checked, sizeof checked);
    uint64_t size = obj.size;
    uint64_t taken = mono_ns();

    /* The header, then the whole section when line 0 checks out against the object's size
     * (the C library's own validation), as SectionReader does. */
    size_t want = size < IPCSCOPE_HEADER_SIZE ? (size_t)size : IPCSCOPE_HEADER_SIZE;
    uint8_t header[IPCSCOPE_HEADER_SIZE];
    memset(header, 0, sizeof header);
    size_t got = agent_plat_pread(header, want, 0);
    struct ipc_section s;
    memset(&s, 0, sizeof s);
    s.base = header;
    s.size = size;
    memcpy(s.service, checked, sizeof checked);
    int valid = got >= 64 && ipc_section_validate(&s) == MBV_IPC_OK;
    size_t total = got;
    if (valid && size > got) total = (size_t)size; /* validated: at most the format's ~6 MiB */
    uint8_t *bytes = (uint8_t *)ipc_plat_alloc(total ? total : 1);
    if (!bytes) return snapshot_error(AGENT_ERR_IO, "out of memory");
    memcpy(bytes, header, got);
    if (total > got) total = got + agent_plat_pread(bytes + got, total - got, got);
    valid = valid && total == size;

    /* Re-reads, as SectionReader: torn trace records, settled slots, a quiet mutex. */
    uint32_t torn_total = 0;
    uint32_t snap_flags = obj.held ? AGENT_SNAP_ALIVE : 0;
    struct pid_role pids[AGENT_MAX_PIDS];
    uint32_t npids = 0;
    if (total >= IPCSCOPE_HEADER_SIZE) {
        add_pid(pids, &npids, (int32_t)load32(bytes, IPCSCOPE_OFF_SERVER_PID), AGENT_ROLE_SERVER);
        add_pid(pids, &npids, (int32_t)load32(bytes, IPCSCOPE_OFF_OWNER_PID), AGENT_ROLE_OWNER);
        add_pid(pids, &npids, (int32_t)(load32(bytes, IPCSCOPE_OFF_MUTEX) & IPCSCOPE_FUTEX_TID_MASK), AGENT_ROLE_MUTEX_TID);
    }
    if (obj.extra_pid > 0) add_pid(pids, &npids, obj.extra_pid, obj.extra_roles);
    uint32_t *trace_torn = NULL;
    if (valid) {
        add_pid(pids, &npids, (int32_t)load32(bytes, s.request_offset + IPCSCOPE_REQ_CLIENT_PID), AGENT_ROLE_REQUEST_CLIENT);
        uint8_t b8[8], b4[4];
        int settled = agent_plat_pread(b4, 4, IPCSCOPE_OFF_STATE) == 4 && memcmp(b4, bytes + IPCSCOPE_OFF_STATE, 4) == 0 &&
                      agent_plat_pread(b8, 8, s.request_offset) == 8 && memcmp(b8, bytes + s.request_offset, 8) == 0 &&
                      agent_plat_pread(b8, 8, s.response_offset) == 8 && memcmp(b8, bytes + s.response_offset, 8) == 0;
        if (settled) snap_flags |= AGENT_SNAP_SLOTS_SETTLED;
        uint32_t word = load32(bytes, IPCSCOPE_OFF_MUTEX);
        if ((word & IPCSCOPE_FUTEX_TID_MASK) == 0 && agent_plat_pread(b4, 4, IPCSCOPE_OFF_MUTEX) == 4 &&
            (load32(b4, 0) & IPCSCOPE_FUTEX_TID_MASK) == 0 && agent_plat_pread(b8, 8, IPCSCOPE_OFF_LOCK_COUNT) == 8 &&
            memcmp(b8, bytes + IPCSCOPE_OFF_LOCK_COUNT, 8) == 0)
            snap_flags |= AGENT_SNAP_MUTEX_QUIET;
        uint32_t cap = s.trace_capacity;
        if (cap > 0) {
            size_t area = (size_t)cap * IPCSCOPE_TRACE_RECORD_SIZE;
            uint8_t *again = (uint8_t *)ipc_plat_alloc(area);
            trace_torn = (uint32_t *)ipc_plat_alloc(sizeof(uint32_t) * cap);
            if (again && trace_torn) {
                size_t n = agent_plat_pread(again, area, s.trace_offset);
                for (uint32_t k = 0; k < cap; k++) {
                    size_t o = (size_t)k * IPCSCOPE_TRACE_RECORD_SIZE;
                    uint64_t seq = load64(bytes, s.trace_offset + o);
                    if (seq == 0) continue;
                    if (o + 8 > n || load64(again, o) != seq) { trace_torn[torn_total++] = k; continue; }
                    add_pid(pids, &npids, (int32_t)load32(bytes, s.trace_offset + o + IPCSCOPE_TR_CLIENT_PID),
                            AGENT_ROLE_TRACE_CLIENT);
                }
            }
            ipc_plat_free(again);
        }
    }
    agent_plat_release(1);

    int delta = !(flags & AGENT_SNAPSHOT_WANT_FULL) && !reopened && cur.have_last && cur.last_len == total;
    /* The pid facts, encoded apart: a version 2 delta leaves them out when they are the ones
     * sent last (an idle section's facts are most of its snapshot). */
    cur.facts.len = 0;
    cur.facts.failed = 0;
    agent_put_u32(&cur.facts, npids);
    for (uint32_t k = 0; k < npids; k++) {
        agent_put_u32(&cur.facts, (uint32_t)pids[k].pid);
        agent_put_u32(&cur.facts, pids[k].roles);
        agent_plat_pid_fact(&cur.facts, pids[k].pid, pids[k].roles);
    }
    int pids_same = delta && version_in_use >= 2 && !cur.facts.failed && !cur.pids.failed &&
                    cur.pids.len == cur.facts.len && memcmp(cur.pids.data, cur.facts.data, cur.facts.len) == 0;
    if (pids_same) {
        snap_flags |= AGENT_SNAP_PIDS_SAME;
    } else {
        /* These facts are the ones sent now: keep them as the last sent (a swap, not a copy). */
        struct agent_out sent = cur.facts;
        cur.facts = cur.pids;
        cur.pids = sent;
    }
    begin(&reply, delta ? AGENT_SNAPSHOT_DELTA : AGENT_SNAPSHOT_FULL);
    agent_put_u64(&reply, taken);
    agent_put_u64(&reply, size);
    agent_put_u32(&reply, obj.uid);
    agent_put_u32(&reply, obj.mode);
    agent_put_u32(&reply, snap_flags);
    agent_put_u64(&reply, obj.boot_minus_mono);
    agent_put_u32(&reply, torn_total);
    for (uint32_t k = 0; k < torn_total; k++) agent_put_u32(&reply, trace_torn[k]);
    ipc_plat_free(trace_torn);
    if (pids_same) {
        agent_put_u32(&reply, 0);
    } else if (cur.pids.failed) {
        reply.failed = 1; /* the facts did not fit: the frame fails whole (send_frame says so) */
    } else {
        agent_put(&reply, cur.pids.data, cur.pids.len);
    }
    agent_put_u32(&reply, (uint32_t)total);
    if (delta) {
        size_t count_at = reply.len;
        agent_put_u32(&reply, 0);
        uint32_t lines = 0;
        for (size_t o = 0; o < total; o += AGENT_LINE) {
            size_t n = total - o < AGENT_LINE ? total - o : AGENT_LINE;
            if (memcmp(bytes + o, cur.last + o, n) == 0) continue;
            agent_put_u32(&reply, (uint32_t)(o / AGENT_LINE));
            agent_put(&reply, bytes + o, n);
            lines++;
        }
        agent_patch_u32(&reply, count_at, lines);
    } else {
        agent_put(&reply, bytes, total);
    }
    ipc_plat_free(cur.last);
    cur.last = bytes;
    cur.last_len = total;
    cur.have_last = !reply.failed;
    return send_frame(&reply);
}

/* MARK: - calls */

static int on_call(struct in *i) {
    char name[IPCSCOPE_NAME_MAX + 2];
    get_str(i, name, sizeof name);
    uint32_t function = get_u32(i), timeout_ms = get_u32(i), size = get_u32(i);
    if (i->bad || size > 65535 || i->len - i->pos != size)
        return send_error(AGENT_ERR_BAD_PAYLOAD,
                          "CALL needs a name, u32 function, u32 timeout_ms, u32 size (at most 65535) and exactly that many bytes");
    if (!agent_opt.allow_calls)
        return send_error(AGENT_ERR_CALLS_REFUSED,
                          "this agent was started without --allow-calls: it only reads sections; restart it with --allow-calls to call");
    static uint8_t response[65535];
    uint16_t response_size = sizeof response;
    int32_t status = 0;
    char m[512];
    m[0] = 0;
    uint32_t code = agent_plat_call(name, function, timeout_ms, size ? i->p + i->pos : NULL, (uint16_t)size, &status,
                                    response, &response_size, m, sizeof m);
    if (code) return send_error(code, m);
    begin(&reply, AGENT_CALL_OK);
    agent_put_u32(&reply, (uint32_t)status);
    agent_put_u32(&reply, response_size);
    agent_put(&reply, response, response_size);
    return send_frame(&reply);
}

/* MARK: - the loop */

int agent_serve(void) {
    static uint8_t request[AGENT_MAX_REQUEST];
    for (;;) {
        uint8_t h[AGENT_HEADER_SIZE];
        int r = read_exact(h, sizeof h, agent_opt.idle_timeout_ms, 1);
        if (r == 1) return 0; /* the tool closed the stream */
        if (r == -2) {
            send_error(AGENT_ERR_TIMEOUT, "no complete frame header arrived in time: closing");
            return 1;
        }
        if (r < 0) {
            send_error(AGENT_ERR_BAD_FRAME, "the stream ended inside a frame header: closing");
            return 1;
        }
        uint32_t magic = load32(h, 0), length = load32(h, 8);
        uint16_t version = (uint16_t)(h[4] | h[5] << 8), type = (uint16_t)(h[6] | h[7] << 8);
        if (magic != AGENT_MAGIC) {
            send_error(AGENT_ERR_BAD_FRAME, "bad frame magic (not the ipcscope agent protocol): closing");
            return 1;
        }
        if (length > AGENT_MAX_REQUEST) {
            char m[160];
            agent_fmt(m, sizeof m, "a frame of %u bytes is over the limit of %u for requests: closing", length,
                      (unsigned)AGENT_MAX_REQUEST);
            send_error(AGENT_ERR_BAD_FRAME, m);
            return 1;
        }
        r = read_exact(request, length, agent_opt.frame_timeout_ms, 0);
        if (r != 0) {
            send_error(r == -2 ? AGENT_ERR_TIMEOUT : AGENT_ERR_BAD_FRAME,
                       r == -2 ? "a frame's payload stopped arriving: closing" : "the stream ended inside a frame: closing");
            return 1;
        }
        struct in in = {request, length, 0, 0};
        if (type != AGENT_HELLO && version != version_in_use) {
            char m[120];
            agent_fmt(m, sizeof m, "a frame of protocol version %u; this connection speaks %u", version, version_in_use);
            r = send_error(AGENT_ERR_VERSION, m);
        } else if (type == AGENT_HELLO) {
            r = on_hello(&in);
        } else if (!negotiated) {
            r = send_error(AGENT_ERR_HELLO_FIRST, "send HELLO first");
        } else if (type == AGENT_LIST) {
            r = on_list();
        } else if (type == AGENT_SNAPSHOT) {
            r = on_snapshot(&in);
        } else if (type == AGENT_CALL) {
            r = on_call(&in);
        } else if (type == AGENT_BYE) {
            begin(&reply, AGENT_BYE_OK);
            send_frame(&reply);
            return 0;
        } else {
            char m[80];
            agent_fmt(m, sizeof m, "unknown request type 0x%02x: ignored", type);
            r = send_error(AGENT_ERR_UNKNOWN_TYPE, m);
        }
        if (r != 0) return 1; /* the answer stream is gone or stuck */
    }
}

/* MARK: - calls */

uint32_t agent_client_call(const char *name, uint32_t function, uint32_t timeout_ms, const uint8_t *request,
                           uint16_t size, int32_t *status, uint8_t *response, uint16_t *response_size, char *m,
                           size_t cap) {
    MBV_IPC_CONNECTION conn;
    memset(&conn, 0, sizeof conn);
    if (!MBV_IPCConnectA(name, &conn)) {
        agent_fmt(m, cap, "%s", MBV_IPCLastErrorMessage());
        return AGENT_ERR_CALL_FAILED;
    }
    int ok = MBV_IPCCallTimeout(&conn, function, request, size, response, response_size, timeout_ms);
    if (!ok) {
        agent_fmt(m, cap, "%s", MBV_IPCLastErrorMessage());
        MBV_IPCDisconnect(&conn);
        return AGENT_ERR_CALL_FAILED;
    }
    *status = conn.last_status;
    MBV_IPCDisconnect(&conn);
    return 0;
}
