/* The shims that need _GNU_SOURCE declarations (F_OFD_*, pthread_mutex_clocklock). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
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
    if (held) *held = fl.l_type != F_UNLCK;
    return 0;
}
int CIPCScope_ofd_trylock(int fd) { return ofd(fd, F_OFD_SETLK, F_WRLCK, NULL); }
int CIPCScope_ofd_unlock(int fd) { return ofd(fd, F_OFD_SETLK, F_UNLCK, NULL); }
int CIPCScope_ofd_probe(int fd, int *held) { return ofd(fd, F_OFD_GETLK, F_WRLCK, held); }
