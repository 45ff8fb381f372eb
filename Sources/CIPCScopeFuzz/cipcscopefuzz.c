#include "cipcscopefuzz.h"
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static uint64_t *g_signal, *g_count, *g_frames;
static int g_limit;
static uintptr_t g_exe_base, g_exe_end;
static char g_altstack[65536];

static int find_exe(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    if (info->dlpi_name && info->dlpi_name[0] != '\0') return 0; // the main program has an empty name
    g_exe_base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            if (end > g_exe_end) g_exe_end = end;
        }
    }
    return 1;
}

static void on_crash(int sig, siginfo_t *info, void *context) {
    (void)info; (void)context;
    void *frames[64];
    int n = backtrace(frames, 64);
    int kept = 0;
    // frames[0] is this handler, frames[1] the signal trampoline
    for (int i = 2; i < n && kept < g_limit; i++) {
        uintptr_t a = (uintptr_t)frames[i];
        if (a >= g_exe_base && a < g_exe_end) g_frames[kept++] = (uint64_t)(a - g_exe_base);
    }
    *g_count = (uint64_t)kept;
    *g_signal = (uint64_t)sig;
    signal(sig, SIG_DFL);
    raise(sig);
}

void CIPCScopeFuzz_install_crash_handler(uint64_t *signal_out, uint64_t *count_out,
                                         uint64_t *frames_out, int frames_limit) {
    g_signal = signal_out; g_count = count_out; g_frames = frames_out; g_limit = frames_limit;
    dl_iterate_phdr(find_exe, NULL);
    void *warm[4];
    backtrace(warm, 4); // loads the unwinder now, not inside the handler
    stack_t ss = { .ss_sp = g_altstack, .ss_size = sizeof g_altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    int sigs[] = { SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_crash;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}
