// The fuzzer's crash handler: on a fatal signal, saves the signal and the faulting frames
// (as offsets into the main executable) into caller-provided shared memory, then dies by it.
#ifndef CIPCSCOPEFUZZ_H
#define CIPCSCOPEFUZZ_H
#include <stdint.h>

/// Installs the handler for SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT and SIGFPE.
/// `signal_out` receives the signal number, `count_out` how many frames were kept,
/// `frames_out` up to `frames_limit` offsets of return addresses inside the main executable.
void CIPCScopeFuzz_install_crash_handler(uint64_t *signal_out, uint64_t *count_out,
                                         uint64_t *frames_out, int frames_limit);

#endif
