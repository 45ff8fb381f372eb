/*
 * ipc_posix.c — the Linux backend of libmbvipc (see ipc_platform.h).
 *
 * One POSIX shared-memory object per service, mapped whole; the client mutex is
 * a robust process-shared pthread mutex inside it; the two events are futex
 * words inside it (FUTEX_WAIT/FUTEX_WAKE, never _PRIVATE); liveness is an
 * open-file-description write lock on byte 0, which the kernel drops the moment
 * its holder dies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipc_platform.h"
#include "ipcscope_section.h"

/* Objects larger than this are refused before mapping (the format's largest
 * section is about 6 MiB). */
#define IPC_POSIX_MAX_OBJECT (64ull * 1024 * 1024)

struct ipc_plat {
    int fd;               /* -1 when closed */
    void *base;
    uint64_t size;
    dev_t dev;
    ino_t ino;
    int locked;           /* we hold the liveness lock */
    uint32_t os_error;    /* last errno */
};

static int fail(struct ipc_plat *p, int e) {
    p->os_error = (uint32_t)e;
    switch (e) {
    case 0: return IPC_PLAT_OK;
    case EEXIST: return IPC_PLAT_EXISTS;
    case ENOENT: return IPC_PLAT_NOENT;
    case EBUSY: case EAGAIN: return IPC_PLAT_BUSY;
    case ETIMEDOUT: return IPC_PLAT_TIMEDOUT;
    case EOWNERDEAD: return IPC_PLAT_OWNERDEAD;
    case ENOTRECOVERABLE: return IPC_PLAT_NOTRECOVERABLE;
    case EACCES: case EPERM: return IPC_PLAT_ACCESS;
    case EINVAL: case ELOOP: case ENAMETOOLONG: return IPC_PLAT_INVALID;
    case ENOMEM: case ENOSPC: return IPC_PLAT_NOMEM;
    default: return IPC_PLAT_IO;
    }
}

static void object_path(char *out, size_t n, const char *service) {
    snprintf(out, n, "%s%s", IPCSCOPE_SHM_PREFIX, service);
}

/* MARK: - lifetime */

struct ipc_plat *ipc_plat_new(void) {
    struct ipc_plat *p = calloc(1, sizeof *p);
    if (p) p->fd = -1;
    return p;
}

void ipc_plat_close(struct ipc_plat *p) {
    if (!p) return;
    if (p->base) munmap(p->base, (size_t)p->size);
    if (p->fd >= 0) close(p->fd);  /* closing the description drops its OFD lock */
    free(p);
}

uint32_t ipc_plat_os_error(const struct ipc_plat *p) { return p ? p->os_error : 0; }

/* MARK: - the object */

static int ofd_lock(int fd, int cmd, short type, struct flock *out) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (fcntl(fd, cmd, &fl) != 0) return errno;
    if (out) *out = fl;
    return 0;
}

static int map_fd(struct ipc_plat *p, int writable, uint64_t size, void **base, uint64_t *mapped) {
    void *m = mmap(NULL, (size_t)size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, p->fd, 0);
    if (m == MAP_FAILED) return fail(p, errno);
    p->base = m;
    p->size = size;
    *base = m;
    *mapped = size;
    return IPC_PLAT_OK;
}

/* Whether the name still names the object we have open (same device and inode). */
static int still_named(struct ipc_plat *p, const char *service) {
    char path[160];
    struct stat st;
    object_path(path, sizeof path, service);
    int fd = shm_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) return 0;
    int same = fstat(fd, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino;
    close(fd);
    return same;
}

int ipc_plat_create_exclusive(struct ipc_plat *p, const char *service, uint64_t size, uint32_t mode,
                              void **base, uint64_t *mapped) {
    char path[160];
    struct stat st;
    object_path(path, sizeof path, service);
    p->fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (p->fd < 0) return fail(p, errno);
    (void)fchmod(p->fd, (mode_t)mode);  /* the umask must not narrow the mode asked for */
    if (fstat(p->fd, &st) != 0) goto undo;
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    int r = ofd_lock(p->fd, F_OFD_SETLK, F_WRLCK, NULL);
    if (r != 0 || !still_named(p, service)) {
        close(p->fd);
        p->fd = -1;
        return fail(p, EBUSY);
    }
    p->locked = 1;
    if (ftruncate(p->fd, (off_t)size) != 0) goto undo;
    r = map_fd(p, 1, size, base, mapped);
    if (r != IPC_PLAT_OK) {
        int e = errno;
        shm_unlink(path);
        close(p->fd);
        p->fd = -1;
        return fail(p, e);
    }
    return IPC_PLAT_OK;
undo:;
    int e = errno;
    shm_unlink(path);
    close(p->fd);
    p->fd = -1;
    return fail(p, e);
}

int ipc_plat_open_existing(struct ipc_plat *p, const char *service, int writable, void **base, uint64_t *mapped) {
    char path[160];
    struct stat st;
    object_path(path, sizeof path, service);
    p->fd = shm_open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (p->fd < 0) return fail(p, errno);
    if (fstat(p->fd, &st) != 0) return fail(p, errno);
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)IPCSCOPE_HEADER_SIZE ||
        (uint64_t)st.st_size > IPC_POSIX_MAX_OBJECT)
        return fail(p, EINVAL);
    return map_fd(p, writable, (uint64_t)st.st_size, base, mapped);
}

int ipc_plat_object_just_created(struct ipc_plat *p, uint64_t within_ns) {
    struct stat st;
    struct timespec now;
    if (p->fd < 0 || fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t changed = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    int64_t at = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    /* ctime is a coarse clock: a moment "in the future" by a tick still counts as just now. */
    return at - changed < (int64_t)within_ns && changed - at < 100000000;
}

int ipc_plat_object_owner(struct ipc_plat *p, uint32_t *uid, uint32_t *mode) {
    struct stat st;
    if (fstat(p->fd, &st) != 0) return fail(p, errno);
    *uid = (uint32_t)st.st_uid;
    *mode = (uint32_t)(st.st_mode & 07777);
    return IPC_PLAT_OK;
}

int ipc_plat_unlink_if_ours(struct ipc_plat *p, const char *service) {
    char path[160];
    if (!still_named(p, service)) return IPC_PLAT_OK;
    object_path(path, sizeof path, service);
    if (shm_unlink(path) != 0 && errno != ENOENT) return fail(p, errno);
    return IPC_PLAT_OK;
}

/* MARK: - liveness */

int ipc_plat_liveness_trylock(struct ipc_plat *p) {
    int r = ofd_lock(p->fd, F_OFD_SETLK, F_WRLCK, NULL);
    if (r == 0) p->locked = 1;
    return r == EACCES ? fail(p, EAGAIN) : fail(p, r);
}

int ipc_posix_liveness_held_fd(int fd, int *held) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    int r = ofd_lock(fd, F_OFD_GETLK, F_WRLCK, &fl);
    if (r != 0) return r;
    /* Only another description's WRITE lock means a live server (a reader's
     * read lock, if any tool ever took one, does not). */
    *held = fl.l_type == F_WRLCK;
    return 0;
}

int ipc_plat_liveness_held(struct ipc_plat *p, int *held) {
    return fail(p, ipc_posix_liveness_held_fd(p->fd, held));
}

/* MARK: - the mutex at base + 128 */

static pthread_mutex_t *mutex_at(void *base) { return (pthread_mutex_t *)((char *)base + IPCSCOPE_MUTEX_OFFSET); }

static int init_mutex(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    int r = pthread_mutexattr_init(&a);
    if (r) return r;
    if ((r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
        (r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
        r = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}

int ipc_plat_mutex_init(struct ipc_plat *p, void *base) { return fail(p, init_mutex(mutex_at(base))); }

/* glibc keeps the mutex's type in the section (__data.__kind) and trusts it: a type another
 * writer changed (priority-protect, priority-inheritance) sends pthread calls down paths that
 * assert and abort the process. Before locking, the type is compared with that of a mutex
 * initialised here with the section's attributes (the Swift framework does the same); another
 * type is a mutex beyond repair: a client refuses the call, a server taking over recreates the
 * section. */
#ifdef __GLIBC__
static int reference_kind;
static pthread_once_t reference_once = PTHREAD_ONCE_INIT;
static void init_reference_kind(void) {
    pthread_mutex_t m;
    memset(&m, 0, sizeof m);
    if (init_mutex(&m) == 0) {
        reference_kind = m.__data.__kind;
        pthread_mutex_destroy(&m);
    }
}
static int kind_ok(void *base) {
    (void)pthread_once(&reference_once, init_reference_kind);
    return reference_kind != 0 && __atomic_load_n(&mutex_at(base)->__data.__kind, __ATOMIC_RELAXED) == reference_kind;
}
#else
static int kind_ok(void *base) { return (void)base, 1; }
#endif

int ipc_plat_attach(struct ipc_plat *p, const char *service, void *base) {
    (void)p, (void)service, (void)base;
    return IPC_PLAT_OK;
}

int ipc_plat_mutex_trylock(struct ipc_plat *p, void *base) {
    if (!kind_ok(base)) return fail(p, ENOTRECOVERABLE);
    return fail(p, pthread_mutex_trylock(mutex_at(base)));
}

int ipc_plat_mutex_lock(struct ipc_plat *p, void *base, uint64_t deadline) {
    if (!kind_ok(base)) return fail(p, ENOTRECOVERABLE);
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline / 1000000000ull);
    ts.tv_nsec = (long)(deadline % 1000000000ull);
    return fail(p, pthread_mutex_clocklock(mutex_at(base), CLOCK_MONOTONIC, &ts));
}

int ipc_plat_mutex_consistent(struct ipc_plat *p, void *base) { return fail(p, pthread_mutex_consistent(mutex_at(base))); }
int ipc_plat_mutex_unlock(struct ipc_plat *p, void *base) { return fail(p, pthread_mutex_unlock(mutex_at(base))); }

/* MARK: - events: futex words */

int ipc_plat_event_wait(struct ipc_plat *p, int which, volatile uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
    (void)which;
    struct timespec ts;
    ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
    ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
    if (syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0) == 0) return IPC_PLAT_OK;
    int e = errno;
    if (e == ETIMEDOUT) return fail(p, e);
    return IPC_PLAT_OK;  /* EAGAIN (word changed), EINTR: the caller re-checks */
}

int ipc_plat_event_wake(struct ipc_plat *p, int which, volatile uint32_t *word, int all) {
    (void)p, (void)which;
    /* errno is saved: this runs in signal handlers. */
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAKE, all ? 0x7fffffff : 1, NULL, NULL, 0);
    errno = saved;
    return IPC_PLAT_OK;
}

uint32_t ipc_plat_server_flags(void) { return 0; }
uint32_t ipc_plat_foreign_flags(void) { return IPC_PLAT_FLAG_NT_OBJECTS; }

/* MARK: - clocks, identities */

uint64_t ipc_plat_now_mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

uint64_t ipc_plat_now_real_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}


/* getpid (a system call since glibc 2.25) and gettid, cached: the pid per process, the tid per
 * thread. A forked child has a new pid and its thread a new tid: a pthread_atfork child handler
 * (registered once, on the first lookup) forgets both, so a connection used across fork() records
 * the child. A process that forks with the raw clone system call bypasses the handler. */
static int32_t cached_pid;
static __thread int32_t cached_tid;
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;
static void ids_forget(void) { cached_pid = 0; cached_tid = 0; }
static void ids_register(void) { (void)pthread_atfork(NULL, NULL, ids_forget); }
int32_t ipc_plat_self_pid(void) {
    int32_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        (void)pthread_once(&ids_once, ids_register);
        pid = (int32_t)getpid();
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}
int32_t ipc_plat_self_tid(void) {
    if (cached_tid == 0) {
        (void)pthread_once(&ids_once, ids_register);
        cached_tid = (int32_t)syscall(SYS_gettid);
    }
    return cached_tid;
}

uint64_t ipc_plat_process_starttime(int32_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    /* The command (field 2) may hold spaces and ')': count fields after the last ')'. */
    char *s = strrchr(buf, ')');
    if (!s) return 0;
    int field = 2;
    for (; *s && field < 22; s++)
        if (*s == ' ') field++;
    return field == 22 ? strtoull(s, NULL, 10) : 0;
}

uint32_t ipc_plat_euid(void) { return (uint32_t)geteuid(); }
void ipc_plat_yield(void) { sched_yield(); }

void ipc_plat_sleep_ns(uint64_t ns) {
    struct timespec t, rest;
    t.tv_sec = (time_t)(ns / 1000000000ull);
    t.tv_nsec = (long)(ns % 1000000000ull);
    while (nanosleep(&t, &rest) != 0 && errno == EINTR) t = rest;
}

/* MARK: - memory, per-thread error */

void *ipc_plat_alloc(size_t size) { return calloc(1, size ? size : 1); }
void ipc_plat_free(void *ptr) { free(ptr); }

static __thread struct ipc_plat_error thread_error;
struct ipc_plat_error *ipc_plat_thread_error(void) { return &thread_error; }
