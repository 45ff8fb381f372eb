/*
 * cipcscope_probe.h — the allocation probe of `ipcscope serve`, for ipcscope-bench only.
 *
 * In a process started with ordo-one/malloc-interposer's libMallocInterposerSwift.so in
 * LD_PRELOAD, CIPCScopeProbe_allocation_probe_start enables its counting and writes the counts
 * to `path` every 10 ms (see allocation_probe.c). ENOENT when the interposer is not loaded: in
 * every ordinary run the probe does nothing.
 */
#ifndef CIPCSCOPE_PROBE_H
#define CIPCSCOPE_PROBE_H

int CIPCScopeProbe_allocation_probe_start(const char *path);
/* Counts this thread's allocations as the serving thread's. */
void CIPCScopeProbe_allocation_probe_mark_serving(void);

#endif
