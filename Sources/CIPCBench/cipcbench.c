/*
 * cipcbench.c — raw baselines for ipcscope-bench.
 */
#include "cipcbench.h"

#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t CIPCBench_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void CIPCBench_sleep_ns(uint64_t ns) {
    struct timespec t = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

void CIPCBench_die_with_parent(void) { prctl(PR_SET_PDEATHSIG, SIGKILL); }

int CIPCBench_pin_pid(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(pid, sizeof set, &set) == 0 ? 0 : errno;
}

int CIPCBench_pin_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

int CIPCBench_current_cpu(void) { return sched_getcpu(); }

long CIPCBench_ticks_per_second(void) { return sysconf(_SC_CLK_TCK); }

int64_t CIPCBench_cpu_ticks(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    if (!p) return -1;
    /* after ") ": field 3 is state; utime is field 14, stime 15 */
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    return (int64_t)(utime + stime);
}

/* MARK: - shared-memory ping-pong */

/* Each side's flag on its own cache line; payload slots on their own lines. */
typedef struct {
    _Alignas(64) _Atomic uint32_t req;
    _Alignas(64) _Atomic uint32_t rsp;
    _Alignas(64) uint8_t req_data[4096];
    _Alignas(64) uint8_t rsp_data[4096];
} pingpong_t;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long futex(_Atomic uint32_t *w, int op, uint32_t v) { return syscall(SYS_futex, w, op, v, NULL, NULL, 0); }

enum { MODE_SPIN, MODE_FUTEX, MODE_SPACED };

/* The baselines run their two processes on two different CPUs (the requester on CPU 0,
 * the answerer on CPU 1), as ipc_floor's figures assume: a spin ping-pong cannot work on
 * one CPU, and a futex round trip between two CPUs is the kernel wake-up being measured. */
static cpu_set_t saved_mask;
static int pinned;
static void pin_requester(void) {
    pinned = sysconf(_SC_NPROCESSORS_ONLN) >= 2 && sched_getaffinity(0, sizeof saved_mask, &saved_mask) == 0 &&
             CIPCBench_pin_cpu(0) == 0;
}
static void pin_answerer(void) { if (pinned) CIPCBench_pin_cpu(1); }
static void unpin_requester(void) { if (pinned) sched_setaffinity(0, sizeof saved_mask, &saved_mask); pinned = 0; }

static int shm_pingpong(int mode, int count, int warmup, int payload, uint64_t gap_ns, uint64_t *samples) {
    if (payload < 0 || payload > 4096 || count < 1 || warmup < 0) return EINVAL;
    pingpong_t *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) return errno;
    uint8_t *local = aligned_alloc(64, 4096);
    if (!local) { munmap(m, sizeof *m); return ENOMEM; }
    memset(local, 0x5a, 4096);
    uint32_t total = (uint32_t)(count + warmup);
    pin_requester();
    pid_t p = fork();
    if (p < 0) { int e = errno; unpin_requester(); free(local); munmap(m, sizeof *m); return e; }
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pin_answerer();
        uint8_t buf[4096];
        for (uint32_t i = 1; i <= total; i++) {
            if (mode == MODE_SPIN) {
                while (atomic_load(&m->req) != i) cpu_relax();
            } else {
                while (atomic_load(&m->req) != i) futex(&m->req, FUTEX_WAIT, i - 1);
            }
            memcpy(buf, m->req_data, (size_t)payload);   /* out of the request slot */
            memcpy(m->rsp_data, buf, (size_t)payload);   /* into the response slot */
            atomic_store(&m->rsp, i);
            if (mode == MODE_FUTEX) futex(&m->rsp, FUTEX_WAKE, 1);
        }
        _exit(0);
    }
    for (uint32_t i = 1; i <= total; i++) {
        if (mode == MODE_SPACED) CIPCBench_sleep_ns(gap_ns);
        uint64_t t = CIPCBench_now_ns();
        memcpy(m->req_data, local, (size_t)payload);
        atomic_store(&m->req, i);
        if (mode != MODE_SPIN) futex(&m->req, FUTEX_WAKE, 1);
        if (mode == MODE_FUTEX) {
            while (atomic_load(&m->rsp) != i) futex(&m->rsp, FUTEX_WAIT, i - 1);
        } else {
            while (atomic_load(&m->rsp) != i) cpu_relax();
        }
        memcpy(local, m->rsp_data, (size_t)payload);
        uint64_t d = CIPCBench_now_ns() - t;
        if (i > (uint32_t)warmup) samples[i - 1 - (uint32_t)warmup] = d;
    }
    int status = 0;
    waitpid(p, &status, 0);
    unpin_requester();
    free(local);
    munmap(m, sizeof *m);
    return 0;
}

int CIPCBench_spin_pingpong(int count, int warmup, int payload, uint64_t *samples) {
    return shm_pingpong(MODE_SPIN, count, warmup, payload, 0, samples);
}
int CIPCBench_futex_pingpong(int count, int warmup, int payload, uint64_t *samples) {
    return shm_pingpong(MODE_FUTEX, count, warmup, payload, 0, samples);
}
int CIPCBench_futex_spaced(int count, int warmup, int payload, uint64_t gap_ns, uint64_t *samples) {
    return shm_pingpong(MODE_SPACED, count, warmup, payload, gap_ns, samples);
}

/* MARK: - Unix-socket echo */

static int full_io(int fd, void *buf, size_t n, int writing) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = writing ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

int CIPCBench_unix_echo(int count, int warmup, int payload, uint64_t *samples) {
    if (payload < 1) payload = 1;
    if (payload > 4096 || count < 1 || warmup < 0) return EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return errno;
    int total = count + warmup;
    pin_requester();
    pid_t p = fork();
    if (p < 0) { int e = errno; unpin_requester(); close(sv[0]); close(sv[1]); return e; }
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pin_answerer();
        close(sv[0]);
        uint8_t buf[4096];
        for (int i = 0; i < total; i++) {
            if (full_io(sv[1], buf, (size_t)payload, 0) || full_io(sv[1], buf, (size_t)payload, 1)) _exit(1);
        }
        _exit(0);
    }
    close(sv[1]);
    uint8_t buf[4096];
    memset(buf, 0x5a, sizeof buf);
    int rc = 0;
    for (int i = 0; i < total; i++) {
        uint64_t t = CIPCBench_now_ns();
        if (full_io(sv[0], buf, (size_t)payload, 1) || full_io(sv[0], buf, (size_t)payload, 0)) { rc = EIO; break; }
        uint64_t d = CIPCBench_now_ns() - t;
        if (i >= warmup) samples[i - warmup] = d;
    }
    close(sv[0]);
    if (rc) kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    unpin_requester();
    return rc;
}
