/*
 * cipcbench.h — raw baselines for ipcscope-bench (allocations are counted with
 * ordo-one/malloc-interposer: see IPCScopeBench/Allocations.swift).
 *
 * The baselines are the floor the framework is measured against, built from the
 * same package and run in the same process tree as the framework's numbers:
 * two processes (fork) ping-ponging over a MAP_SHARED mapping by spinning or by
 * futex, and a Unix-socket echo. Each records every round trip with
 * CLOCK_MONOTONIC into the caller's array, exactly as the framework runs do.
 * The two processes of a baseline are pinned to CPU 0 and CPU 1 (when there are two).
 */
#ifndef CIPCBENCH_H
#define CIPCBENCH_H
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Spin ping-pong over shared memory: `count` round trips of `payload` bytes each
 * way (copied into and out of the shared slot, like a call). Fills samples[count]
 * with nanoseconds. `warmup` untimed round trips first. Returns 0 or an errno. */
int CIPCBench_spin_pingpong(int count, int warmup, int payload, uint64_t *samples);

/* The same with FUTEX_WAIT / FUTEX_WAKE on every step (both sides always sleep). */
int CIPCBench_futex_pingpong(int count, int warmup, int payload, uint64_t *samples);

/* The same, but the requester sleeps `gap_ns` between calls and spins for the
 * answer (the answerer sleeps on the futex): the shape of the framework's blocking path. */
int CIPCBench_futex_spaced(int count, int warmup, int payload, uint64_t gap_ns, uint64_t *samples);

/* Unix-socket (SOCK_STREAM socketpair) echo of `payload` bytes (at least 1). */
int CIPCBench_unix_echo(int count, int warmup, int payload, uint64_t *samples);

/* MARK: - the C library (libmbvipc) */

/* Serves `name` with an echo handler until the process is stopped; calls ready() once the
 * section exists. Returns 0 or the library's error code. */
int CIPCBench_mbv_serve(const char *name, void (*ready)(void));
/* A connection to `name` (NULL on failure). */
void *CIPCBench_mbv_connect(const char *name);
/* `count` timed echo calls of `payload` bytes over `conn`; 0, EIO or EINVAL. */
int CIPCBench_mbv_calls(void *conn, int count, int payload, uint64_t *samples);

/* MARK: - small helpers */

/* utime + stime of a process in clock ticks from /proc/<pid>/stat, or -1. */
int64_t CIPCBench_cpu_ticks(pid_t pid);
/* sysconf(_SC_CLK_TCK). */
long CIPCBench_ticks_per_second(void);
/* Sleeps for ns (nanosleep, restarted on EINTR). */
void CIPCBench_sleep_ns(uint64_t ns);
/* CLOCK_MONOTONIC in ns. */
uint64_t CIPCBench_now_ns(void);
/* Pins the calling process to one CPU (sched_setaffinity); 0 or errno. */
int CIPCBench_pin_cpu(int cpu);
/* Pins another process (a spawned server) to one CPU; 0 or errno. */
int CIPCBench_pin_pid(pid_t pid, int cpu);
/* The CPU the caller runs on now (sched_getcpu). */
int CIPCBench_current_cpu(void);
/* Sets PR_SET_PDEATHSIG to SIGKILL so a child dies with the orchestrator. */
void CIPCBench_die_with_parent(void);

#ifdef __cplusplus
}
#endif
#endif /* CIPCBENCH_H */
