/*
 * mbvipc-agent — the target-side stub of ipcscope's remote protocol
 * (docs/agent-protocol.md), the Linux platform part: the protocol itself is the
 * portable core (agent_core.c, shared with the NT agent agent_nt.c); this file is
 * stdin/stdout with poll, /dev/shm, /proc, --container and main. It reads frames on stdin and answers on stdout:
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

#include "agent_core.h"
#include "ipc_core.h"
#include "ipc_client.h"

const char *const agent_build = "mbvipc-agent 1.0.0";

/* MARK: - options */

static const char *shm_dir = "/dev/shm";
static const char *proc_dir = "/proc";

static uint64_t mono_ns(void) { return ipc_plat_now_mono_ns(); }

static void note(const char *msg) {
    if (write(2, "mbvipc-agent: ", 14) < 0 || write(2, msg, strlen(msg)) < 0 || write(2, "\n", 1) < 0) {}
}

/* MARK: - the byte stream */

long agent_plat_read(uint8_t *buf, size_t n, int timeout_ms) {
    for (;;) {
        struct pollfd p = {0, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return -2;
        ssize_t k = read(0, buf, n);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        return k < 0 ? -1 : (long)k;
    }
}

/* Writes everything, waiting at most timeout_ms for the reader to make room. */
int agent_plat_write(const uint8_t *buf, size_t n, int timeout_ms) {
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
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

/* MARK: - small system helpers */

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

/* MARK: - hello and list */

void agent_plat_host(struct agent_host *h) {
    struct utsname u;
    memset(&u, 0, sizeof u);
    uname(&u);
    snprintf(h->host, sizeof h->host, "%s", u.nodename);
    snprintf(h->os, sizeof h->os, "%s %s %s", u.sysname, u.release, u.machine);
    long hz = sysconf(_SC_CLK_TCK);
    h->ticks_per_second = hz > 0 ? (uint32_t)hz : 100u;
    h->uid = (uint32_t)getuid();
}

uint32_t agent_plat_list(struct agent_out *o, uint32_t *count, char *msg, size_t cap) {
    DIR *d = opendir(shm_dir);
    if (!d) {
        snprintf(msg, cap, "cannot read %s: %s", shm_dir, strerror(errno));
        return AGENT_ERR_IO;
    }
    uint64_t now = clock_ns(CLOCK_REALTIME);
    const char *prefix = "ipcscope.";
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *count < AGENT_MAX_LIST) {
        size_t n = strlen(e->d_name);
        if (n <= plen || memcmp(e->d_name, prefix, plen) != 0) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        agent_put_str(o, e->d_name + plen, n - plen);
        agent_put_u8(o, kind_of(st.st_mode));
        agent_put_u64(o, (uint64_t)st.st_size);
        agent_put_u32(o, (uint32_t)st.st_uid);
        agent_put_u32(o, (uint32_t)(st.st_mode & 07777));
        uint64_t changed = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
        agent_put_u64(o, now >= changed ? now - changed : 0);
        (*count)++;
    }
    closedir(d);
    return 0;
}

/* MARK: - the section */

/* The section the last SNAPSHOT named: kept open between snapshots of one name. */
static struct {
    char name[IPCSCOPE_NAME_MAX + 1];
    int fd;
    dev_t dev;
    ino_t ino;
} cur = {{0}, -1, 0, 0};

void agent_plat_release(int keep) {
    if (keep) return;
    if (cur.fd >= 0) close(cur.fd);
    cur.fd = -1;
    cur.name[0] = 0;
}

/* Opens (or keeps) the section `name`, reopening when the name now names another object
 * (O_RDONLY | O_NONBLOCK | O_NOFOLLOW, a regular file only), and reads its facts. */
uint32_t agent_plat_open(const char *name, struct agent_object *obj, char *m, size_t cap) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ipcscope.%s", shm_dir, name);
    struct stat st;
    int exists = lstat(path, &st) == 0;
    obj->reopened = 0;
    if (!(cur.fd >= 0 && strcmp(cur.name, name) == 0 && exists && st.st_dev == cur.dev && st.st_ino == cur.ino)) {
        agent_plat_release(0);
        obj->reopened = 1;
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == ENOENT) {
                snprintf(m, cap, "no service named '%s' (%s does not exist): start its server, or see 'ipcscope list'", name, path);
                return AGENT_ERR_NO_SECTION;
            }
            if (e == EACCES) {
                snprintf(m, cap, "%s is not readable by the agent's user (uid %u): run the agent as its owner, or as root",
                         path, (unsigned)getuid());
                return AGENT_ERR_UNREADABLE;
            }
            if (e == ELOOP || e == ENXIO || e == ENODEV) {
                snprintf(m, cap, "%s is not a regular file, so it is not a section", path);
                return AGENT_ERR_NOT_REGULAR;
            }
            snprintf(m, cap, "cannot open %s: %s", path, strerror(e));
            return AGENT_ERR_IO;
        }
        struct stat fst;
        if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
            close(fd);
            snprintf(m, cap, "%s is not a regular file, so it is not a section", path);
            return AGENT_ERR_NOT_REGULAR;
        }
        cur.fd = fd;
        cur.dev = fst.st_dev;
        cur.ino = fst.st_ino;
        snprintf(cur.name, sizeof cur.name, "%s", name);
    }
    struct stat fst;
    if (fstat(cur.fd, &fst) != 0) {
        snprintf(m, cap, "fstat of the section failed: %s", strerror(errno));
        return AGENT_ERR_IO;
    }
    obj->size = (uint64_t)fst.st_size;
    obj->uid = (uint32_t)fst.st_uid;
    obj->mode = (uint32_t)(fst.st_mode & 07777);
    int held = 0;
    (void)ipc_posix_liveness_held_fd(cur.fd, &held);
    obj->held = held;
    uint64_t boot = clock_ns(CLOCK_BOOTTIME), mono = mono_ns();
    obj->boot_minus_mono = boot >= mono ? boot - mono : 0;
    return 0;
}

size_t agent_plat_pread(uint8_t *buf, size_t n, uint64_t off) {
    return cur.fd < 0 ? 0 : pread_all(cur.fd, buf, n, (off_t)off);
}

/* What this host says of one pid: exists (and zombie or not), start time, comm, cmdline. */
void agent_plat_pid_fact(struct agent_out *o, int32_t pid, uint32_t roles) {
    (void)roles;
    char path[128], buf[4097];
    snprintf(path, sizeof path, "%s/%d", proc_dir, (int)pid);
    struct stat st;
    uint8_t state = AGENT_PID_UNKNOWN;
    if (stat(path, &st) == 0) state = AGENT_PID_LIVES;
    else if (errno == ENOENT) state = AGENT_PID_GONE;
    uint64_t start = 0;
    if (state == AGENT_PID_LIVES) {
        snprintf(path, sizeof path, "%s/%d/stat", proc_dir, (int)pid);
        if (read_small(path, buf, sizeof buf) > 0) {
            char *close = strrchr(buf, ')');
            if (close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X')) state = AGENT_PID_ZOMBIE;
        }
        start = strcmp(proc_dir, "/proc") == 0 ? ipc_plat_process_starttime(pid) : 0;
    }
    agent_put_u8(o, state);
    agent_put_u64(o, start);
    ssize_t n = -1;
    if (state != AGENT_PID_GONE) {
        snprintf(path, sizeof path, "%s/%d/comm", proc_dir, (int)pid);
        n = read_small(path, buf, sizeof buf);
        if (n > 0 && buf[n - 1] == '\n') n--;
    }
    agent_put_str(o, buf, n > 0 ? (size_t)n : 0);
    n = -1;
    if (state != AGENT_PID_GONE) {
        snprintf(path, sizeof path, "%s/%d/cmdline", proc_dir, (int)pid);
        n = read_small(path, buf, sizeof buf);
    }
    agent_put_str(o, buf, n > 0 ? (size_t)n : 0);
}

/* MARK: - calls */

uint32_t agent_plat_call(const char *name, uint32_t function, uint32_t timeout_ms, const uint8_t *request,
                         uint16_t size, int32_t *status, uint8_t *response, uint16_t *response_size, char *m,
                         size_t cap) {
    return agent_client_call(name, function, timeout_ms, request, size, status, response, response_size, m, cap);
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
        if (strcmp(a, "--allow-calls") == 0) agent_opt.allow_calls = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        else if (strcmp(a, "--version") == 0) { printf("%s (protocol %u..%u)\n", agent_build, AGENT_VERSION_MIN, AGENT_VERSION); return 0; }
        else if ((strcmp(a, "--idle") == 0 || strcmp(a, "--frame-timeout") == 0) && k + 1 < argc) {
            if (!seconds_arg(argv[++k], a[2] == 'i' ? &agent_opt.idle_timeout_ms : &agent_opt.frame_timeout_ms)) {
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
    return agent_serve();
}
