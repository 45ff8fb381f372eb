/* The shims that need _GNU_SOURCE declarations (F_OFD_*, pthread_mutex_clocklock). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "ipcscope_shims.h"

int CIPCScope_mutex_lock_until(void *mutex, uint64_t deadline_ns) {
    struct timespec ts = {(time_t)(deadline_ns / 1000000000ull), (long)(deadline_ns % 1000000000ull)};
    return pthread_mutex_clocklock((pthread_mutex_t *)mutex, CLOCK_MONOTONIC, &ts);
}

static int ofd(int fd, int cmd, short type, int *held) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (fcntl(fd, cmd, &fl) != 0) return errno;
    if (held) *held = fl.l_type;
    return 0;
}
int CIPCScope_ofd_trylock(int fd) { return ofd(fd, F_OFD_SETLK, F_WRLCK, NULL); }
int CIPCScope_ofd_unlock(int fd) { return ofd(fd, F_OFD_SETLK, F_UNLCK, NULL); }
int CIPCScope_ofd_probe_type(int fd, int *type) { return ofd(fd, F_OFD_GETLK, F_WRLCK, type); }
int CIPCScope_ofd_probe_owner(int fd, int *type, int32_t *pid) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return errno;
    if (type) *type = fl.l_type;
    if (pid) *pid = fl.l_type == F_UNLCK ? 0 : (int32_t)fl.l_pid;
    return 0;
}
int CIPCScope_ofd_probe(int fd, int *held) {
    int type = F_UNLCK;
    int r = ofd(fd, F_OFD_GETLK, F_WRLCK, &type);
    if (held) *held = r == 0 && type == F_WRLCK;
    return r;
}

/* The reference type word, from a mutex initialised here with the section's attributes. */
static int32_t reference_kind;
static pthread_once_t reference_once = PTHREAD_ONCE_INIT;
static void init_reference(void) {
    pthread_mutex_t m;
    memset(&m, 0, sizeof m);
    if (CIPCScope_mutex_init(&m) == 0) {
        reference_kind = m.__data.__kind;
        pthread_mutex_destroy(&m);
    }
}

int CIPCScope_mutex_check(const void *mutex, int32_t *kind, int32_t *expected) {
    pthread_once(&reference_once, init_reference);
    const pthread_mutex_t *m = (const pthread_mutex_t *)mutex;
    int32_t k = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED);
    if (kind) *kind = k;
    if (expected) *expected = reference_kind;
    return reference_kind != 0 && k == reference_kind ? 0 : EINVAL;
}

/* The calling thread's id, cached per thread (gettid is a real system call, ~100 ns in a VM).
 * A forked child's thread has a new id: the atfork handler clears the cache there. */
static __thread int32_t cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void clear_cached_tid(void) { cached_tid = 0; }
static void register_atfork(void) { pthread_atfork(NULL, NULL, clear_cached_tid); }

int32_t CIPCScope_thread_id(void) {
    int32_t t = cached_tid;
    if (__builtin_expect(t == 0, 0)) {
        pthread_once(&atfork_once, register_atfork);
        t = cached_tid = (int32_t)syscall(SYS_gettid);
    }
    return t;
}
