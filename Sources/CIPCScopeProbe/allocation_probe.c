/* allocation_probe.c — lets ipcscope-bench count the heap allocations of an `ipcscope serve`
 * process it started with ordo-one/malloc-interposer's libMallocInterposerSwift.so in
 * LD_PRELOAD. Nothing here is linked against the interposer: its entry points are looked up
 * with dlsym, so in a process without it (every ordinary run) the probe does nothing.
 *
 * Started, it enables the interposer's counting, counts the allocations made on the threads
 * marked as serving (through the interposer's per-allocation hook, which runs on the
 * allocating thread), and every 10 ms writes one fixed-width line to a file:
 * "<generation> <allocations, whole process> <allocations, serving threads>\n". Writing it
 * allocates nothing (snprintf of integers into a stack buffer, pwrite). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include "cipcscope_probe.h"

typedef void (*probe_enable_fn)(void);
typedef void (*probe_stats_fn)(int64_t *, int64_t *, int64_t *, int64_t *, int64_t *, int64_t *);
typedef void (*probe_hook_fn)(void (*)(size_t));

static probe_stats_fn probe_stats;
static int probe_fd = -1;
static __thread int probe_serving;
static _Atomic uint64_t probe_serving_count;

static void probe_on_allocation(size_t size) {
    (void)size;
    if (probe_serving) atomic_fetch_add_explicit(&probe_serving_count, 1, memory_order_relaxed);
}

static void *probe_report(void *unused) {
    (void)unused;
    uint64_t generation = 0;
    for (;;) {
        int64_t count = 0, bytes = 0, small = 0, large = 0, frees = 0, freed = 0;
        probe_stats(&count, &bytes, &small, &large, &frees, &freed);
        char line[80];
        int n = snprintf(line, sizeof line, "%019llu %019lld %019llu\n", (unsigned long long)++generation,
                         (long long)count,
                         (unsigned long long)atomic_load_explicit(&probe_serving_count, memory_order_relaxed));
        if (n > 0 && pwrite(probe_fd, line, (size_t)n, 0) != n) return NULL;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

int CIPCScopeProbe_allocation_probe_start(const char *path) {
    probe_enable_fn reset = (probe_enable_fn)dlsym(RTLD_DEFAULT, "malloc_interposer_reset");
    probe_enable_fn enable = (probe_enable_fn)dlsym(RTLD_DEFAULT, "malloc_interposer_enable");
    probe_hook_fn set_hook = (probe_hook_fn)dlsym(RTLD_DEFAULT, "malloc_interposer_set_allocation_hook");
    probe_stats = (probe_stats_fn)dlsym(RTLD_DEFAULT, "malloc_interposer_get_stats");
    if (!reset || !enable || !set_hook || !probe_stats) return ENOENT;
    probe_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (probe_fd < 0) return errno;
    pthread_t thread;
    int r = pthread_create(&thread, NULL, probe_report, NULL);
    if (r != 0) return r;
    pthread_detach(thread);
    set_hook(probe_on_allocation);
    reset();
    enable();
    return 0;
}

void CIPCScopeProbe_allocation_probe_mark_serving(void) { probe_serving = 1; }
