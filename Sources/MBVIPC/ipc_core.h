/*
 * ipc_core.h — internals shared by the protocol files (ipc_core.c: names,
 * errors, validation; ipc_core_client.c: the client; ipc_core_server.c: the
 * server). Not installed.
 *
 * Atomics are GCC __atomic builtins (gcc, clang, mingw), with the orderings of
 * the format's amendment 1: release/acquire to publish and observe, seq_cst at
 * the two waiter handshakes, relaxed for display fields and counters.
 */
#ifndef MBV_IPC_CORE_H
#define MBV_IPC_CORE_H

#include "mbv_ipc.h"
#include "ipc_platform.h"
#include "ipcscope_section.h"

#define IPC_RELAXED __ATOMIC_RELAXED
#define IPC_ACQUIRE __ATOMIC_ACQUIRE
#define IPC_RELEASE __ATOMIC_RELEASE
#define IPC_SEQ_CST __ATOMIC_SEQ_CST

/* One mapped section and where its parts are (checked copies of line 0). */
struct ipc_section {
    struct ipc_plat *plat;
    uint8_t *base;
    uint64_t size;
    uint32_t request_offset, request_capacity;
    uint32_t response_offset, response_capacity;
    uint32_t trace_offset, trace_capacity;
    char service[IPCSCOPE_NAME_MAX + 1];
};

/* MARK: - atomics on the section */

static inline uint32_t *ipc_u32(const struct ipc_section *s, uint32_t off) { return (uint32_t *)(void *)(s->base + off); }
static inline uint64_t *ipc_u64(const struct ipc_section *s, uint32_t off) { return (uint64_t *)(void *)(s->base + off); }

static inline uint32_t ipc_load32(const struct ipc_section *s, uint32_t off, int order) {
    return __atomic_load_n(ipc_u32(s, off), order);
}
static inline void ipc_store32(const struct ipc_section *s, uint32_t off, uint32_t v, int order) {
    __atomic_store_n(ipc_u32(s, off), v, order);
}
static inline uint32_t ipc_add32(const struct ipc_section *s, uint32_t off, int32_t v, int order) {
    return __atomic_add_fetch(ipc_u32(s, off), (uint32_t)v, order);
}
static inline uint64_t ipc_load64(const struct ipc_section *s, uint32_t off, int order) {
    return __atomic_load_n(ipc_u64(s, off), order);
}
static inline void ipc_store64(const struct ipc_section *s, uint32_t off, uint64_t v, int order) {
    __atomic_store_n(ipc_u64(s, off), v, order);
}
static inline uint64_t ipc_add64(const struct ipc_section *s, uint32_t off, uint64_t v, int order) {
    return __atomic_add_fetch(ipc_u64(s, off), v, order);
}
static inline volatile uint32_t *ipc_word(const struct ipc_section *s, uint32_t off) {
    return (volatile uint32_t *)ipc_u32(s, off);
}

/* A counter with one writer at a time (the server's own counters; the client's under the
 * mutex): a relaxed load and store, no locked instruction. */
static inline uint64_t ipc_bump64(const struct ipc_section *s, uint32_t off, uint64_t v) {
    uint64_t n = __atomic_load_n(ipc_u64(s, off), IPC_RELAXED) + v;
    __atomic_store_n(ipc_u64(s, off), n, IPC_RELAXED);
    return n;
}

/* Cache hints for the hot path: start fetching a line the other side wrote (read), or ask
 * for a line this side is about to write (write), so the transfer overlaps other work. */
static inline void ipc_prefetch_read(const struct ipc_section *s, uint32_t off) { __builtin_prefetch(s->base + off, 0, 3); }
static inline void ipc_prefetch_write(const struct ipc_section *s, uint32_t off) {
#if defined(__x86_64__)
    __asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)(s->base + off)));
#elif defined(__aarch64__)
    __asm__ __volatile__("prfm pstl1keep, %0" : : "Q"(*(const char *)(s->base + off)));
#else
    __builtin_prefetch(s->base + off, 1, 3);
#endif
}

/* state, with state_since_ns (a display field) first. */
static inline void ipc_set_state(const struct ipc_section *s, uint32_t state, uint64_t now, int order) {
    ipc_store64(s, IPCSCOPE_OFF_STATE_SINCE_NS, now, IPC_RELAXED);
    ipc_store32(s, IPCSCOPE_OFF_STATE, state, order);
}

/* Spin on the CPU this long, then yield between checks for the rest of a spin budget: an answer
 * from a peer on another CPU comes well within it, and a peer that shares this CPU (two busy
 * CPUs) then runs at once instead of after the whole budget (~150 us round trips otherwise). */
#define IPC_PURE_SPIN_NS 3000ull

static inline void ipc_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The spin phase of a client's or a server's wait, shared by both: after each failed check,
 * `ipc_spin_next` relaxes the CPU (yielding instead once IPC_PURE_SPIN_NS has passed) and
 * returns 0 when the budget is spent and the caller should go to sleep. */
struct ipc_spin {
    uint64_t start, end;
    unsigned checks;
    int yielding;
};

static inline void ipc_spin_start(struct ipc_spin *p, uint64_t budget_ns) {
    p->start = ipc_plat_now_mono_ns();
    p->end = p->start + budget_ns;
    p->checks = 0;
    p->yielding = 0;
}

static inline int ipc_spin_next(struct ipc_spin *p) {
    if (p->yielding) {
        ipc_plat_yield();
        return ipc_plat_now_mono_ns() < p->end;
    }
    ipc_cpu_relax();
    if (++p->checks % 64 == 0) {  /* read the clock only now and then */
        uint64_t t = ipc_plat_now_mono_ns();
        if (t >= p->end) return 0;
        p->yielding = t - p->start >= IPC_PURE_SPIN_NS;
    }
    return 1;
}

/* MARK: - errors and names (ipc_core.c) */

/* Records `code` and a message for this thread; returns `code`. The format
 * knows %s, %d (int32), %u (uint32), %o (uint32, octal), %U (uint64). */
int ipc_fail(int code, const char *fmt, ...);
void ipc_clear_error(void);

/* Checks a name (1..128 of A-Z a-z 0-9 . _ -, not starting with . or -) and
 * copies it to out; narrow or wide. 0 or MBV_IPC_ERR_INVALID_NAME/ARGUMENT. */
int ipc_name_check(const char *name, char out[IPCSCOPE_NAME_MAX + 1]);
int ipc_name_check_wide(const wchar_t *name, char out[IPCSCOPE_NAME_MAX + 1]);

/* Checks line 0 of the mapped section against the mapping's size and fills the
 * section's offsets: 0, MBV_IPC_ERR_CORRUPT or MBV_IPC_ERR_INCOMPATIBLE. */
int ipc_section_validate(struct ipc_section *s);

/* Fills the offsets of a section of these capacities. */
void ipc_section_layout(struct ipc_section *s, uint32_t request_capacity, uint32_t response_capacity,
                        uint32_t trace_capacity);

/* A short name for an IPC_PLAT_* code, for messages. */
const char *ipc_plat_code_name(int code);

#endif /* MBV_IPC_CORE_H */
