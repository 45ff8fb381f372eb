/*
 * cipcscope_posix.h — the process call IPCScopePOSIX needs that Swift cannot make:
 * prctl(2) is variadic, so Swift cannot import it.
 */
#ifndef CIPCSCOPE_POSIX_H
#define CIPCSCOPE_POSIX_H

#include <errno.h>
#include <sys/prctl.h>

/* Ask the kernel to send `sig` to this process when its parent thread dies
 * (prctl(PR_SET_PDEATHSIG)). Returns 0, or the errno value. */
static inline int CIPCScopePOSIX_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) == 0 ? 0 : errno;
}

#endif
