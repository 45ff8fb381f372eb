/*
 * ipcscope_shims.h — the few calls Swift cannot make itself.
 *
 * Variadic syscalls (futex, gettid, fcntl), robust process-shared mutexes,
 * and atomics on raw shared memory in the orderings the section format names
 * (amendment 1): seq_cst for the two waiter handshakes, acquire/release to
 * publish and observe state and slots, relaxed for display fields. Every function
 * that can fail returns 0 or an errno value, so Swift never reads the global
 * errno after ARC traffic.
 */
#ifndef IPCSCOPE_SHIMS_H
#define IPCSCOPE_SHIMS_H

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipcscope_section.h"

/* MARK: - atomics on shared memory */

/* seq_cst: the waiter handshakes (store state / bump an event, then load the other side's
 * waiting word; bump the waiting word, then re-check state), and rare paths. */
static inline uint32_t CIPCScope_load32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_SEQ_CST); }
static inline void CIPCScope_store32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t CIPCScope_add32(void *p, uint32_t v) { return __atomic_add_fetch((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t CIPCScope_sub32(void *p, uint32_t v) { return __atomic_sub_fetch((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t CIPCScope_or32(void *p, uint32_t v) { return __atomic_or_fetch((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t CIPCScope_and32(void *p, uint32_t v) { return __atomic_and_fetch((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t CIPCScope_load64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST); }
static inline void CIPCScope_store64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t CIPCScope_add64(void *p, uint64_t v) { return __atomic_add_fetch((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
/* Stores `desired` only if the word holds `expected`; returns whether it did. */
static inline bool CIPCScope_cas32(void *p, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n((uint32_t *)p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* acquire/release: publish (state, a slot's seq, a trace record's seq) and observe. */
static inline uint32_t CIPCScope_load32_acquire(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline void CIPCScope_store32_release(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline uint64_t CIPCScope_load64_acquire(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static inline void CIPCScope_store64_release(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }

/* relaxed: display fields (heartbeat, state_since, owner record, counters, flags). */
static inline uint32_t CIPCScope_load32_relaxed(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED); }
static inline void CIPCScope_store32_relaxed(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED); }
static inline uint64_t CIPCScope_load64_relaxed(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED); }
static inline void CIPCScope_store64_relaxed(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED); }
/* A counter with one writer at a time (the server's own, or one bumped under the mutex):
 * a relaxed load and store, no locked read-modify-write. Returns the new value. */
static inline uint64_t CIPCScope_bump64_relaxed(void *p, uint64_t v) {
    uint64_t n = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED) + v;
    __atomic_store_n((uint64_t *)p, n, __ATOMIC_RELAXED);
    return n;
}

/* A full fence: a handshake's re-check after a waiting word was bumped through a path that
 * then loads with acquire only. Slow path (just before a futex sleep). */
static inline void CIPCScope_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* A release fence: stores after it are not seen before stores ahead of it (a trace record's
 * seq = 0 before its fields). */
static inline void CIPCScope_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

/* A pause hint for spin loops. */
static inline void CIPCScope_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Cache hints for the hot path: start fetching a line the other side wrote (read) or a line this
 * side is about to write (write: ownership is asked for ahead of the store), so that the
 * transfer overlaps other work instead of stalling the store or the copy that needs it. Hints
 * only: no effect on what is read or written, and a no-op where the CPU has no such hint. */
static inline void CIPCScope_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline void CIPCScope_prefetch_write(const void *p) {
#if defined(__x86_64__)
    __asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#elif defined(__aarch64__)
    __asm__ __volatile__("prfm pstl1keep, %0" : : "Q"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* MARK: - clocks */

static inline uint64_t CIPCScope_monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
static inline uint64_t CIPCScope_realtime_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* MARK: - futex (shared, never _PRIVATE) */

/* Waits while *word == expected, at most timeout_ns (negative: forever).
 * Returns 0 when woken, EAGAIN when the word had changed, ETIMEDOUT, EINTR. */
static inline int CIPCScope_futex_wait(void *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000ll;
        ts.tv_nsec = timeout_ns % 1000000000ll;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tsp, NULL, 0);
    return r == 0 ? 0 : errno;
}
/* Wakes up to count waiters; returns how many were woken, or -errno. */
static inline int CIPCScope_futex_wake(void *word, int count) {
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, count, NULL, NULL, 0);
    return r >= 0 ? (int)r : -errno;
}

/* MARK: - identity */

static inline int32_t CIPCScope_gettid(void) { return (int32_t)syscall(SYS_gettid); }
/* The same, cached per thread (reset in a forked child). */
int32_t CIPCScope_thread_id(void);

/* MARK: - robust process-shared mutex */

/* Initialises a PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST mutex in place. */
static inline int CIPCScope_mutex_init(void *mutex) {
    pthread_mutexattr_t a;
    int r = pthread_mutexattr_init(&a);
    if (r) return r;
    if ((r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
        (r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
        r = pthread_mutex_init((pthread_mutex_t *)mutex, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}
/* 0, EBUSY, EOWNERDEAD (now held; call consistent), ENOTRECOVERABLE. */
static inline int CIPCScope_mutex_trylock(void *mutex) { return pthread_mutex_trylock((pthread_mutex_t *)mutex); }
/* Locks with an absolute CLOCK_MONOTONIC deadline (pthread_mutex_clocklock):
 * 0, ETIMEDOUT, EOWNERDEAD (now held; call consistent), ENOTRECOVERABLE. */
int CIPCScope_mutex_lock_until(void *mutex, uint64_t deadline_ns);
static inline int CIPCScope_mutex_unlock(void *mutex) { return pthread_mutex_unlock((pthread_mutex_t *)mutex); }
static inline int CIPCScope_mutex_consistent(void *mutex) { return pthread_mutex_consistent((pthread_mutex_t *)mutex); }

/* Checks the bytes of an in-section mutex before any pthread call touches it: 0 when its type
 * word is that of a mutex initialised here with the attributes above (robust, process-shared,
 * normal), EINVAL otherwise (another type would send glibc down the priority-inheritance or
 * priority-protect paths, which abort or write through the section's pointers). *kind gets the
 * word found, *expected the reference. */
int CIPCScope_mutex_check(const void *mutex, int32_t *kind, int32_t *expected);
/* The owner thread id in the mutex's kernel word (bits 0-29), 0 when free. */
static inline int32_t CIPCScope_mutex_owner_tid(const void *mutex) {
    return (int32_t)(__atomic_load_n((const uint32_t *)mutex, __ATOMIC_SEQ_CST) & 0x3fffffffu);
}

/* MARK: - open-file-description locks (the liveness lock) */

/* Takes a write lock on byte 0 without waiting (F_OFD_SETLK): 0, or EAGAIN/EACCES when held elsewhere. */
int CIPCScope_ofd_trylock(int fd);
/* Releases it. */
int CIPCScope_ofd_unlock(int fd);
/* Asks (F_OFD_GETLK) whether another open file description holds a WRITE lock on byte 0.
 * Works through a read-only descriptor. *held = 1 when a server lives. A read lock (any
 * reader can take one) is not a server and gives *held = 0. */
int CIPCScope_ofd_probe(int fd, int *held);
/* The type of the lock another open file description holds on byte 0:
 * F_UNLCK (none), F_RDLCK (a reader's, not a server) or F_WRLCK (a live server). */
int CIPCScope_ofd_probe_type(int fd, int *type);
/* Like CIPCScope_ofd_probe_type, and the pid the kernel names for that lock: the holder's pid
 * for a classic POSIX lock (F_SETLK), -1 for an open-file-description lock (the kernel keeps
 * no owner pid for those), 0 when no lock conflicts. */
int CIPCScope_ofd_probe_owner(int fd, int *type, int32_t *pid);

#endif /* IPCSCOPE_SHIMS_H */
