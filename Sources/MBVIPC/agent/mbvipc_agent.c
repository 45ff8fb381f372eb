/*
 * mbvipc-agent — the target-side stub of ipcscope's remote protocol
 * (docs/agent-protocol.md). It reads frames on stdin and answers on stdout:
 * hello, list the sections in /dev/shm, snapshots of one section (the bytes a
 * local reader would pread, the liveness probe, and facts about the pids the
 * section names), and — only when started with --allow-calls — a call as an
 * ordinary client of libmbvipc.
 *
 * Everything on stdin is hostile: lengths are checked before anything is
 * allocated, a frame that stops arriving times out, and every failure is an
 * ERROR frame, never a crash. The agent never writes a section unless a CALL
 * asks for it and --allow-calls was given. Messages for people go to stderr.
 *
 * Built by `make -C Sources/MBVIPC agent` (static: -static, libc only).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_protocol.h"
#include "ipc_core.h"
#include "ipc_client.h"

#define AGENT_BUILD "mbvipc-agent 1.0.0"

/* MARK: - options */

static int allow_calls = 0;
static int idle_timeout_ms = 600 * 1000;    /* no request for this long: exit */
static int frame_timeout_ms = 10 * 1000;    /* a started frame must finish within this */
static const char *shm_dir = "/dev/shm";
static const char *proc_dir = "/proc";

static uint64_t mono_ns(void) { return ipc_plat_now_mono_ns(); }

static void note(const char *msg) {
    if (write(2, "mbvipc-agent: ", 14) < 0 || write(2, msg, strlen(msg)) < 0 || write(2, "\n", 1) < 0) {}
}

/* MARK: - the byte stream */

/* Reads exactly n bytes; 0 on success, 1 at a clean end of input before any byte (only when
 * `eof_ok`), -1 on error or truncation, -2 on timeout. The first byte may take `first_ms`;
 * after it, the rest must come within frame_timeout_ms. */
static int read_exact(uint8_t *buf, size_t n, int first_ms, int eof_ok) {
    size_t got = 0;
    uint64_t deadline = 0;
    while (got < n) {
        int wait_ms = first_ms;
        if (got > 0 || !eof_ok) {
            if (!deadline) deadline = mono_ns() + (uint64_t)frame_timeout_ms * 1000000ull;
            uint64_t now = mono_ns();
            if (now >= deadline) return -2;
            wait_ms = (int)((deadline - now) / 1000000ull) + 1;
        }
        struct pollfd p = {0, POLLIN, 0};
        int r = poll(&p, 1, wait_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return -2;
        ssize_t k = read(0, buf + got, n - got);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k < 0) return -1;
        if (k == 0) return got == 0 && eof_ok ? 1 : -1;
        got += (size_t)k;
    }
    return 0;
}

/* Writes everything, waiting at most frame_timeout_ms for the reader to make room. */
static int write_all(const uint8_t *buf, size_t n) {
    uint64_t deadline = mono_ns() + (uint64_t)frame_timeout_ms * 1000000ull;
    while (n > 0) {
        ssize_t k = write(1, buf, n);
        if (k > 0) { buf += k; n -= (size_t)k; continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno != EAGAIN) return -1;
        uint64_t now = mono_ns();
        if (now >= deadline) return -1;
        struct pollfd p = {1, POLLOUT, 0};
        if (poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1) < 0 && errno != EINTR) return -1;
    }
    return 0;
}

/* MARK: - building a payload */

struct out {
    uint8_t *data;
    size_t len, cap;
    int failed;  /* out of memory or over AGENT_MAX_PAYLOAD */
};

static void out_reserve(struct out *o, size_t more) {
    if (o->failed) return;
    if (o->len + more > AGENT_MAX_PAYLOAD + AGENT_HEADER_SIZE) { o->failed = 1; return; }
    if (o->len + more <= o->cap) return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more) cap *= 2;
    uint8_t *d = realloc(o->data, cap);
    if (!d) { o->failed = 1; return; }
    o->data = d;
    o->cap = cap;
}
static void put(struct out *o, const void *p, size_t n) {
    out_reserve(o, n);
    if (o->failed || n == 0) return;
    memcpy(o->data + o->len, p, n);
    o->len += n;
}
static void put_u8(struct out *o, uint8_t v) { put(o, &v, 1); }
static void put_u16(struct out *o, uint16_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; put(o, b, 2); }
static void put_u32(struct out *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}
static void put_u64(struct out *o, uint64_t v) { put_u32(o, (uint32_t)v); put_u32(o, (uint32_t)(v >> 32)); }
static void put_str(struct out *o, const void *s, size_t n) {
    if (n > AGENT_MAX_STRING) n = AGENT_MAX_STRING;
    put_u16(o, (uint16_t)n);
    put(o, s, n);
}
static void put_cstr(struct out *o, const char *s) { put_str(o, s, strlen(s)); }

/* The version chosen at HELLO (the highest before it): every frame carries it. */
static uint16_t version_in_use = AGENT_VERSION;

/* Starts a frame of `type`: the header's length is filled in by send_frame. */
static void begin(struct out *o, uint16_t type) {
    o->len = 0;
    o->failed = 0;
    put_u32(o, AGENT_MAGIC);
    put_u16(o, version_in_use);
    put_u16(o, type);
    put_u32(o, 0);
    put_u32(o, 0);
}

static int send_error(uint32_t code, const char *message);

static int send_frame(struct out *o) {
    if (o->failed) {
        return send_error(AGENT_ERR_IO, "the reply would exceed the protocol's 16 MiB frame limit or the agent's memory");
    }
    uint32_t n = (uint32_t)(o->len - AGENT_HEADER_SIZE);
    uint8_t b[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    memcpy(o->data + 8, b, 4);
    return write_all(o->data, o->len);
}

static struct out reply;

static int send_error(uint32_t code, const char *message) {
    struct out e = {0, 0, 0, 0};
    begin(&e, AGENT_ERROR);
    put_u32(&e, code);
    put_cstr(&e, message);
    int r = e.failed ? -1 : send_frame(&e);
    free(e.data);
    return r;
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
    if (n >= cap) { i->bad = 1; out[0] = 0; return; }
    if (!get(i, out, n)) { out[0] = 0; return; }
    out[n] = 0;
}

/* MARK: - small system helpers */

static uint64_t load64(const uint8_t *b, size_t off) { uint64_t v; memcpy(&v, b + off, 8); return v; }
static uint32_t load32(const uint8_t *b, size_t off) { uint32_t v; memcpy(&v, b + off, 4); return v; }

/* pread until n bytes or end of file; returns how many were read. */
static size_t pread_all(int fd, uint8_t *buf, size_t n, off_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, off + (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    return got;
}

/* Reads a small /proc file (at most cap - 1 bytes); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t k = read(fd, buf + got, cap - 1 - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    buf[got] = 0;
    return (ssize_t)got;
}

static uint8_t kind_of(mode_t m) {
    if (S_ISREG(m)) return AGENT_KIND_REGULAR;
    if (S_ISDIR(m)) return AGENT_KIND_DIRECTORY;
    if (S_ISFIFO(m)) return AGENT_KIND_FIFO;
    if (S_ISSOCK(m)) return AGENT_KIND_SOCKET;
    if (S_ISLNK(m)) return AGENT_KIND_SYMLINK;
    if (S_ISCHR(m)) return AGENT_KIND_CHAR_DEVICE;
    if (S_ISBLK(m)) return AGENT_KIND_BLOCK_DEVICE;
    return AGENT_KIND_OTHER;
}

static uint64_t clock_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* MARK: - hello */

static int negotiated = 0;

static int on_hello(struct in *i) {
    uint16_t lo = get_u16(i), hi = get_u16(i);
    if (i->bad) return send_error(AGENT_ERR_BAD_PAYLOAD, "HELLO needs two u16 versions (lowest, highest)");
    if (lo > AGENT_VERSION || hi < AGENT_VERSION_MIN || lo > hi) {
        char m[160];
        snprintf(m, sizeof m, "no common protocol version: the tool speaks %u..%u, this agent speaks %u..%u; "
                 "install an agent and a tool of the same release", lo, hi, AGENT_VERSION_MIN, AGENT_VERSION);
        return send_error(AGENT_ERR_VERSION, m);
    }
    negotiated = 1;
    version_in_use = (uint16_t)(hi < AGENT_VERSION ? hi : AGENT_VERSION);
    struct utsname u;
    memset(&u, 0, sizeof u);
    uname(&u);
    char os[512];
    snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
    begin(&reply, AGENT_HELLO_OK);
    put_u16(&reply, version_in_use);
    put_u32(&reply, allow_calls ? 1u : 0u);
    put_cstr(&reply, u.nodename);
    put_cstr(&reply, os);
    put_cstr(&reply, AGENT_BUILD);
    long hz = sysconf(_SC_CLK_TCK);
    put_u32(&reply, hz > 0 ? (uint32_t)hz : 100u);
    put_u32(&reply, (uint32_t)getuid());
    /* Version 2: CLOCK_REALTIME - CLOCK_MONOTONIC here, so the tool shows this host's wall clock. */
    if (version_in_use >= 2) put_u64(&reply, clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
    return send_frame(&reply);
}

/* MARK: - list */

static int on_list(void) {
    DIR *d = opendir(shm_dir);
    if (!d) {
        char m[512];
        snprintf(m, sizeof m, "cannot read %s: %s", shm_dir, strerror(errno));
        return send_error(AGENT_ERR_IO, m);
    }
    begin(&reply, AGENT_LIST_OK);
    size_t count_at = reply.len;
    put_u32(&reply, 0);
    uint32_t count = 0;
    uint64_t now = clock_ns(CLOCK_REALTIME);
    const char *prefix = "ipcscope.";
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < AGENT_MAX_LIST) {
        size_t n = strlen(e->d_name);
        if (n <= plen || memcmp(e->d_name, prefix, plen) != 0) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        put_str(&reply, e->d_name + plen, n - plen);
        put_u8(&reply, kind_of(st.st_mode));
        put_u64(&reply, (uint64_t)st.st_size);
        put_u32(&reply, (uint32_t)st.st_uid);
        put_u32(&reply, (uint32_t)(st.st_mode & 07777));
        uint64_t changed = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
        put_u64(&reply, now >= changed ? now - changed : 0);
        count++;
    }
    closedir(d);
    if (!reply.failed) {
        uint8_t b[4] = {(uint8_t)count, (uint8_t)(count >> 8), (uint8_t)(count >> 16), (uint8_t)(count >> 24)};
        memcpy(reply.data + count_at, b, 4);
    }
    return send_frame(&reply);
}

/* MARK: - snapshots */

/* The section the last SNAPSHOT named: its descriptor, and the bytes sent last (for deltas). */
static struct {
    char name[IPCSCOPE_NAME_MAX + 1];
    int fd;
    dev_t dev;
    ino_t ino;
    uint8_t *last;
    size_t last_len;
    int have_last;
    struct out pids;  /* the pid facts sent last, encoded (version 2 leaves them out when unchanged) */
} cur = {{0}, -1, 0, 0, NULL, 0, 0, {NULL, 0, 0, 0}};

static void forget_section(void) {
    if (cur.fd >= 0) close(cur.fd);
    cur.fd = -1;
    cur.have_last = 0;
    cur.name[0] = 0;
}

/* Opens (or keeps) the section `name`, reopening when the name now names another object.
 * 0, or an ERROR frame was sent and 1 is returned. */
static int open_section(const char name[IPCSCOPE_NAME_MAX + 1], int *reopened) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ipcscope.%s", shm_dir, name);
    struct stat st;
    int exists = lstat(path, &st) == 0;
    *reopened = 0;
    if (cur.fd >= 0 && strcmp(cur.name, name) == 0 && exists && st.st_dev == cur.dev && st.st_ino == cur.ino) return 0;
    forget_section();
    *reopened = 1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    char m[1400];
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) {
            snprintf(m, sizeof m, "no service named '%s' (%s does not exist): start its server, or see 'ipcscope list'", name, path);
            send_error(AGENT_ERR_NO_SECTION, m);
        } else if (e == EACCES) {
            snprintf(m, sizeof m, "%s is not readable by the agent's user (uid %u): run the agent as its owner, or as root",
                     path, (unsigned)getuid());
            send_error(AGENT_ERR_UNREADABLE, m);
        } else if (e == ELOOP || e == ENXIO || e == ENODEV) {
            snprintf(m, sizeof m, "%s is not a regular file, so it is not a section", path);
            send_error(AGENT_ERR_NOT_REGULAR, m);
        } else {
            snprintf(m, sizeof m, "cannot open %s: %s", path, strerror(e));
            send_error(AGENT_ERR_IO, m);
        }
        return 1;
    }
    struct stat fst;
    if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
        close(fd);
        snprintf(m, sizeof m, "%s is not a regular file, so it is not a section", path);
        send_error(AGENT_ERR_NOT_REGULAR, m);
        return 1;
    }
    cur.fd = fd;
    cur.dev = fst.st_dev;
    cur.ino = fst.st_ino;
    memcpy(cur.name, name, sizeof cur.name);
    return 0;
}

struct pid_fact {
    int32_t pid;
    uint32_t roles;
};

static void add_pid(struct pid_fact *f, uint32_t *n, int32_t pid, uint32_t role) {
    if (pid <= 0) return;
    for (uint32_t k = 0; k < *n; k++) {
        if (f[k].pid == pid) { f[k].roles |= role; return; }
    }
    if (*n < AGENT_MAX_PIDS) { f[*n].pid = pid; f[*n].roles = role; (*n)++; }
}

/* What this host says of one pid: exists (and zombie or not), start time, comm, cmdline. */
static void put_pid_fact(struct out *o, const struct pid_fact *f) {
    char path[128], buf[4097];
    put_u32(o, (uint32_t)f->pid);
    put_u32(o, f->roles);
    snprintf(path, sizeof path, "%s/%d", proc_dir, (int)f->pid);
    struct stat st;
    uint8_t state = AGENT_PID_UNKNOWN;
    if (stat(path, &st) == 0) state = AGENT_PID_LIVES;
    else if (errno == ENOENT) state = AGENT_PID_GONE;
    uint64_t start = 0;
    if (state == AGENT_PID_LIVES) {
        snprintf(path, sizeof path, "%s/%d/stat", proc_dir, (int)f->pid);
        if (read_small(path, buf, sizeof buf) > 0) {
            char *close = strrchr(buf, ')');
            if (close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X')) state = AGENT_PID_ZOMBIE;
        }
        start = strcmp(proc_dir, "/proc") == 0 ? ipc_plat_process_starttime(f->pid) : 0;
    }
    put_u8(o, state);
    put_u64(o, start);
    ssize_t n = -1;
    if (state != AGENT_PID_GONE) {
        snprintf(path, sizeof path, "%s/%d/comm", proc_dir, (int)f->pid);
        n = read_small(path, buf, sizeof buf);
        if (n > 0 && buf[n - 1] == '\n') n--;
    }
    put_str(o, buf, n > 0 ? (size_t)n : 0);
    n = -1;
    if (state != AGENT_PID_GONE) {
        snprintf(path, sizeof path, "%s/%d/cmdline", proc_dir, (int)f->pid);
        n = read_small(path, buf, sizeof buf);
    }
    put_str(o, buf, n > 0 ? (size_t)n : 0);
}

static int on_snapshot(struct in *i) {
    char name[IPCSCOPE_NAME_MAX + 2];
    get_str(i, name, sizeof name);
    uint32_t flags = get_u32(i);
    if (i->bad) return send_error(AGENT_ERR_BAD_PAYLOAD, "SNAPSHOT needs a name (u16 length, at most 128 bytes) and u32 flags");
    char checked[IPCSCOPE_NAME_MAX + 1];
    if (ipc_name_check(name, checked) != MBV_IPC_OK || strcmp(checked, name) != 0) {
        char m[400];
        snprintf(m, sizeof m, "'%s' is not a service name: 1 to 128 of A-Z a-z 0-9 . _ -, not starting with . or -", checked);
        return send_error(AGENT_ERR_BAD_NAME, m);
    }
    int reopened = 0;
    if (open_section(checked, &reopened)) return 0;
    int fd = cur.fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        forget_section();
        return send_error(AGENT_ERR_IO, "fstat of the section failed");
    }
    uint64_t size = (uint64_t)st.st_size;
    int held = 0;
    (void)ipc_posix_liveness_held_fd(fd, &held);
    uint64_t taken = mono_ns();

    /* The header, then the whole section when line 0 checks out against the object's size
     * (the C library's own validation), as SectionReader does. */
    size_t want = size < IPCSCOPE_HEADER_SIZE ? (size_t)size : IPCSCOPE_HEADER_SIZE;
    uint8_t header[IPCSCOPE_HEADER_SIZE];
    memset(header, 0, sizeof header);
    size_t got = pread_all(fd, header, want, 0);
    struct ipc_section s;
    memset(&s, 0, sizeof s);
    s.base = header;
    s.size = size;
    memcpy(s.service, checked, sizeof checked);
    int valid = got >= 64 && ipc_section_validate(&s) == MBV_IPC_OK;
    size_t total = got;
    uint8_t *bytes = NULL;
    if (valid && size > got) total = (size_t)size;  /* validated: at most the format's ~6 MiB */
    bytes = malloc(total ? total : 1);
    if (!bytes) return send_error(AGENT_ERR_IO, "out of memory");
    memcpy(bytes, header, got);
    if (total > got) total = got + pread_all(fd, bytes + got, total - got, (off_t)got);
    valid = valid && total == size;

    /* Re-reads, as SectionReader: torn trace records, settled slots, a quiet mutex. */
    uint32_t torn_total = 0;
    uint32_t snap_flags = held ? AGENT_SNAP_ALIVE : 0;
    struct pid_fact pids[AGENT_MAX_PIDS];
    uint32_t npids = 0;
    if (total >= IPCSCOPE_HEADER_SIZE) {
        add_pid(pids, &npids, (int32_t)load32(bytes, IPCSCOPE_OFF_SERVER_PID), AGENT_ROLE_SERVER);
        add_pid(pids, &npids, (int32_t)load32(bytes, IPCSCOPE_OFF_OWNER_PID), AGENT_ROLE_OWNER);
        add_pid(pids, &npids, (int32_t)(load32(bytes, IPCSCOPE_OFF_MUTEX) & IPCSCOPE_FUTEX_TID_MASK), AGENT_ROLE_MUTEX_TID);
    }
    uint32_t *trace_torn = NULL;
    if (valid) {
        add_pid(pids, &npids, (int32_t)load32(bytes, s.request_offset + IPCSCOPE_REQ_CLIENT_PID), AGENT_ROLE_REQUEST_CLIENT);
        uint8_t b8[8], b4[4];
        int settled = pread_all(fd, b4, 4, IPCSCOPE_OFF_STATE) == 4 && memcmp(b4, bytes + IPCSCOPE_OFF_STATE, 4) == 0 &&
                      pread_all(fd, b8, 8, s.request_offset) == 8 && memcmp(b8, bytes + s.request_offset, 8) == 0 &&
                      pread_all(fd, b8, 8, s.response_offset) == 8 && memcmp(b8, bytes + s.response_offset, 8) == 0;
        if (settled) snap_flags |= AGENT_SNAP_SLOTS_SETTLED;
        uint32_t word = load32(bytes, IPCSCOPE_OFF_MUTEX);
        if ((word & IPCSCOPE_FUTEX_TID_MASK) == 0 && pread_all(fd, b4, 4, IPCSCOPE_OFF_MUTEX) == 4 &&
            (load32(b4, 0) & IPCSCOPE_FUTEX_TID_MASK) == 0 && pread_all(fd, b8, 8, IPCSCOPE_OFF_LOCK_COUNT) == 8 &&
            memcmp(b8, bytes + IPCSCOPE_OFF_LOCK_COUNT, 8) == 0)
            snap_flags |= AGENT_SNAP_MUTEX_QUIET;
        uint32_t cap = s.trace_capacity;
        if (cap > 0) {
            size_t area = (size_t)cap * IPCSCOPE_TRACE_RECORD_SIZE;
            uint8_t *again = malloc(area);
            trace_torn = malloc(sizeof(uint32_t) * cap);
            if (again && trace_torn) {
                size_t n = pread_all(fd, again, area, s.trace_offset);
                for (uint32_t k = 0; k < cap; k++) {
                    size_t o = (size_t)k * IPCSCOPE_TRACE_RECORD_SIZE;
                    uint64_t seq = load64(bytes, s.trace_offset + o);
                    if (seq == 0) continue;
                    if (o + 8 > n || load64(again, o) != seq) { trace_torn[torn_total++] = k; continue; }
                    add_pid(pids, &npids, (int32_t)load32(bytes, s.trace_offset + o + IPCSCOPE_TR_CLIENT_PID),
                            AGENT_ROLE_TRACE_CLIENT);
                }
            }
            free(again);
        }
    }

    int delta = !(flags & AGENT_SNAPSHOT_WANT_FULL) && !reopened && cur.have_last && cur.last_len == total;
    /* The pid facts, encoded apart: a version 2 delta leaves them out when they are the last ones
     * sent (an idle section's facts are most of its snapshot). */
    static struct out facts;
    facts.len = 0;
    facts.failed = 0;
    put_u32(&facts, npids);
    for (uint32_t k = 0; k < npids; k++) put_pid_fact(&facts, &pids[k]);
    int pids_same = delta && version_in_use >= 2 && !facts.failed && cur.pids.len == facts.len &&
                    memcmp(cur.pids.data, facts.data, facts.len) == 0;
    if (pids_same) snap_flags |= AGENT_SNAP_PIDS_SAME;
    if (!pids_same) {
        cur.pids.len = 0;
        cur.pids.failed = 0;
        put(&cur.pids, facts.data, facts.len);
    }
    begin(&reply, delta ? AGENT_SNAPSHOT_DELTA : AGENT_SNAPSHOT_FULL);
    put_u64(&reply, taken);
    put_u64(&reply, size);
    put_u32(&reply, (uint32_t)st.st_uid);
    put_u32(&reply, (uint32_t)(st.st_mode & 07777));
    put_u32(&reply, snap_flags);
    uint64_t boot = clock_ns(CLOCK_BOOTTIME), mono = mono_ns();
    put_u64(&reply, boot >= mono ? boot - mono : 0);
    put_u32(&reply, torn_total);
    for (uint32_t k = 0; k < torn_total; k++) put_u32(&reply, trace_torn[k]);
    free(trace_torn);
    if (pids_same) put_u32(&reply, 0);
    else put(&reply, facts.data, facts.len);
    put_u32(&reply, (uint32_t)total);
    if (delta) {
        size_t count_at = reply.len;
        put_u32(&reply, 0);
        uint32_t lines = 0;
        for (size_t o = 0; o < total; o += AGENT_LINE) {
            size_t n = total - o < AGENT_LINE ? total - o : AGENT_LINE;
            if (memcmp(bytes + o, cur.last + o, n) == 0) continue;
            put_u32(&reply, (uint32_t)(o / AGENT_LINE));
            put(&reply, bytes + o, n);
            lines++;
        }
        if (!reply.failed) {
            uint8_t b[4] = {(uint8_t)lines, (uint8_t)(lines >> 8), (uint8_t)(lines >> 16), (uint8_t)(lines >> 24)};
            memcpy(reply.data + count_at, b, 4);
        }
    } else {
        put(&reply, bytes, total);
    }
    free(cur.last);
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
    if (!allow_calls)
        return send_error(AGENT_ERR_CALLS_REFUSED,
                          "this agent was started without --allow-calls: it only reads sections; restart it with --allow-calls to call");
    MBV_IPC_CONNECTION conn;
    memset(&conn, 0, sizeof conn);
    if (!MBV_IPCConnectA(name, &conn)) return send_error(AGENT_ERR_CALL_FAILED, MBV_IPCLastErrorMessage());
    static uint8_t response[65535];
    uint16_t response_size = sizeof response;
    int ok = MBV_IPCCallTimeout(&conn, function, size ? i->p + i->pos : NULL, (uint16_t)size, response, &response_size,
                                timeout_ms);
    if (!ok) {
        char m[400];
        snprintf(m, sizeof m, "%s", MBV_IPCLastErrorMessage());
        MBV_IPCDisconnect(&conn);
        return send_error(AGENT_ERR_CALL_FAILED, m);
    }
    int32_t status = conn.last_status;
    MBV_IPCDisconnect(&conn);
    begin(&reply, AGENT_CALL_OK);
    put_u32(&reply, (uint32_t)status);
    put_u32(&reply, response_size);
    put(&reply, response, response_size);
    return send_frame(&reply);
}

/* MARK: - the loop */

static void usage(FILE *f) {
    fprintf(f,
            "usage: mbvipc-agent [--allow-calls] [--idle SECONDS] [--frame-timeout SECONDS] [--container PID]\n"
            "                    [--shm DIR] [--proc DIR]\n"
            "\n"
            "Speaks ipcscope's agent protocol (docs/agent-protocol.md) on stdin/stdout. Start it\n"
            "through a transport, not by hand:\n"
            "  ipcscope status NAME --host user@box        (ssh -T box mbvipc-agent)\n"
            "  ipcscope list --via 'docker exec -i ctr mbvipc-agent'\n"
            "\n"
            "  --allow-calls          answer CALL requests (as an ordinary client); refused otherwise\n"
            "  --idle SECONDS         exit after this long without a request (default 600)\n"
            "  --frame-timeout SECONDS  a started frame must arrive within this (default 10)\n"
            "  --container PID        read inside the pid and mount namespaces of PID (root; as nsenter)\n"
            "  --shm DIR              where the sections are (default /dev/shm)\n"
            "  --proc DIR             where the pids' /proc is (default /proc)\n");
}

/* --container PID: join that process's pid and mount namespaces, so /dev/shm and /proc are the
 * container's and the pids a section names resolve there. setns into a pid namespace applies to
 * children only: the agent forks, the child serves, the parent passes on its exit status.
 * Needs CAP_SYS_ADMIN (root), as nsenter does. Returns only in the child (0) or on failure (-1). */
static int join_container(const char *pid_text) {
    char *end = NULL;
    long pid = strtol(pid_text, &end, 10);
    if (!pid_text[0] || *end || pid < 1 || pid > 4194304) {
        fprintf(stderr, "mbvipc-agent: --container takes a process id, not '%s'\n", pid_text);
        return -1;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/ns/pid", pid);
    int pidns = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%ld/ns/mnt", pid);
    int mntns = open(path, O_RDONLY | O_CLOEXEC);
    if (pidns < 0 || mntns < 0) {
        fprintf(stderr, "mbvipc-agent: cannot open the namespaces of pid %ld: %s (is it running? are you root?)\n", pid,
                strerror(errno));
        return -1;
    }
    if (setns(pidns, CLONE_NEWPID) != 0) {
        fprintf(stderr, "mbvipc-agent: cannot join the pid namespace of pid %ld: %s (needs root)\n", pid, strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "mbvipc-agent: fork: %s\n", strerror(errno));
        return -1;
    }
    if (child > 0) {
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }
    if (setns(mntns, CLONE_NEWNS) != 0 || chdir("/") != 0) {
        fprintf(stderr, "mbvipc-agent: cannot join the mount namespace of pid %ld: %s (needs root)\n", pid, strerror(errno));
        _exit(1);
    }
    close(pidns);
    close(mntns);
    return 0;
}

static int seconds_arg(const char *s, int *ms) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < 1 || v > 86400) return 0;
    *ms = (int)v * 1000;
    return 1;
}

int main(int argc, char **argv) {
    const char *container = NULL;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "--allow-calls") == 0) allow_calls = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        else if (strcmp(a, "--version") == 0) { printf("%s (protocol %u..%u)\n", AGENT_BUILD, AGENT_VERSION_MIN, AGENT_VERSION); return 0; }
        else if ((strcmp(a, "--idle") == 0 || strcmp(a, "--frame-timeout") == 0) && k + 1 < argc) {
            if (!seconds_arg(argv[++k], a[2] == 'i' ? &idle_timeout_ms : &frame_timeout_ms)) {
                fprintf(stderr, "mbvipc-agent: %s takes whole seconds from 1 to 86400, not '%s'\n", a, argv[k]);
                return 64;
            }
        } else if (strcmp(a, "--container") == 0 && k + 1 < argc) container = argv[++k];
        else if (strcmp(a, "--shm") == 0 && k + 1 < argc) shm_dir = argv[++k];
        else if (strcmp(a, "--proc") == 0 && k + 1 < argc) proc_dir = argv[++k];
        else {
            fprintf(stderr, "mbvipc-agent: unknown argument '%s'\n", a);
            usage(stderr);
            return 64;
        }
    }
    if (isatty(0)) {
        note("stdin is a terminal: this program speaks a binary protocol and is started by ipcscope "
             "(--via or --host); see mbvipc-agent --help");
        return 64;
    }
    if (container && join_container(container) != 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    static uint8_t request[AGENT_MAX_REQUEST];
    for (;;) {
        uint8_t h[AGENT_HEADER_SIZE];
        int r = read_exact(h, sizeof h, idle_timeout_ms, 1);
        if (r == 1) return 0;  /* the tool closed the stream */
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
            snprintf(m, sizeof m, "a frame of %u bytes is over the limit of %u for requests: closing", length,
                     (unsigned)AGENT_MAX_REQUEST);
            send_error(AGENT_ERR_BAD_FRAME, m);
            return 1;
        }
        r = read_exact(request, length, frame_timeout_ms, 0);
        if (r != 0) {
            send_error(r == -2 ? AGENT_ERR_TIMEOUT : AGENT_ERR_BAD_FRAME,
                       r == -2 ? "a frame's payload stopped arriving: closing" : "the stream ended inside a frame: closing");
            return 1;
        }
        struct in in = {request, length, 0, 0};
        if (type != AGENT_HELLO && version != version_in_use) {
            char m[120];
            snprintf(m, sizeof m, "a frame of protocol version %u; this connection speaks %u", version, version_in_use);
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
            snprintf(m, sizeof m, "unknown request type 0x%02x: ignored", type);
            r = send_error(AGENT_ERR_UNKNOWN_TYPE, m);
        }
        if (r != 0) return 1;  /* stdout is gone or stuck */
    }
}
