/*
 * ipc_platform.h — the seam between the protocol (ipc_core.c) and one operating
 * system (ipc_posix.c on Linux, ipc_nt.c on Windows NT). Internal: not installed.
 *
 * The core owns the protocol: the call steps, the server loop, takeover and
 * validation, trace records and counters. A backend owns only what differs per
 * system: the named shared object and its mapping, the client mutex, the two
 * events, the liveness lock, clocks, identities, memory and per-thread storage.
 *
 * Every function that can fail returns 0 or one of the IPC_PLAT_* codes below
 * (never -1, never errno). A backend may keep the raw system code (errno,
 * NTSTATUS) for messages: ipc_plat_os_error() returns it.
 *
 * From libc the core uses only memcpy, memset and memcmp (ntdll exports all
 * three), so a backend built without a C runtime links the core unchanged.
 */
#ifndef MBV_IPC_PLATFORM_H
#define MBV_IPC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MARK: - result codes */

enum {
    IPC_PLAT_OK = 0,
    IPC_PLAT_EXISTS = 1,          /* create_exclusive: the name is taken */
    IPC_PLAT_NOENT = 2,           /* open_existing: no object by that name */
    IPC_PLAT_BUSY = 3,            /* a try-lock found the lock held */
    IPC_PLAT_TIMEDOUT = 4,        /* a deadline or timeout passed */
    IPC_PLAT_OWNERDEAD = 5,       /* mutex now held; its last owner died (call mutex_consistent) */
    IPC_PLAT_NOTRECOVERABLE = 6,  /* mutex beyond repair */
    IPC_PLAT_ACCESS = 7,          /* permission denied */
    IPC_PLAT_INVALID = 8,         /* not a regular file, wrong size, bad argument */
    IPC_PLAT_NOMEM = 9,           /* out of memory or address space */
    IPC_PLAT_IO = 10,             /* anything else; see ipc_plat_os_error() */
};

/* server_flags bit 3: the section's mutex and events are NT objects beside it
 * (written by the NT backend at start; a POSIX client refuses to call it). */
#define IPC_PLAT_FLAG_NT_OBJECTS (1u << 3)

/* Which event: the request Event (clients signal the server) or the response
 * Event (the server signals clients). */
enum { IPC_PLAT_REQUEST_EVENT = 0, IPC_PLAT_RESPONSE_EVENT = 1 };

/* One open section: the object's handle(s), the mapping, the liveness lock,
 * and on NT the named Mutant and Events. Defined by each backend. */
struct ipc_plat;

/* MARK: - lifetime of a handle */

/* A new, closed handle (zeroed), or NULL when out of memory. */
struct ipc_plat *ipc_plat_new(void);

/* Unmaps, releases the liveness lock if held, closes every handle, frees `plat`.
 * Never unlinks. NULL is accepted. */
void ipc_plat_close(struct ipc_plat *plat);

/* The raw system code of the last failure on `plat` (errno, or an NTSTATUS). */
uint32_t ipc_plat_os_error(const struct ipc_plat *plat);

/* MARK: - the shared object */

/* Creates the object for `service` (already validated: 1..128 of A-Z a-z 0-9 . _ -)
 * exclusively (POSIX: shm_open O_CREAT|O_EXCL|O_RDWR|O_NOFOLLOW "/ipcscope.<service>")
 * with permission bits `mode` (e.g. 0600, not narrowed by the umask), takes the
 * liveness lock at once, checks the name still names this object (a cleaner may
 * have removed it in between; it takes the lock before it unlinks), sizes it to
 * `size` bytes (zero-filled) and maps it read-write. On success *base and
 * *mapped_size describe the mapping and the liveness lock is held.
 * EXISTS when the name is taken; BUSY when a cleaner raced us (try again).
 * On any failure after creation the new object is removed. */
int ipc_plat_create_exclusive(struct ipc_plat *plat, const char *service, uint64_t size,
                              uint32_t mode, void **base, uint64_t *mapped_size);

/* Opens the existing object for `service` without following links and without
 * blocking (POSIX: O_NONBLOCK|O_NOFOLLOW, then fstat: a regular file of at least
 * 512 bytes and at most 64 MiB, else INVALID), and maps all of it, read-write when
 * `writable`, else read-only. NOENT when there is none, ACCESS when not permitted. */
int ipc_plat_open_existing(struct ipc_plat *plat, const char *service, int writable,
                           void **base, uint64_t *mapped_size);

/* Whether the object `plat` has open (after open_existing, even one that failed
 * INVALID) is empty and was created or changed less than `within_ns` ago: its
 * server may be between creating it and taking the liveness lock (POSIX: fstat
 * st_size 0, st_ctim within the window). 0 when not, or when it cannot tell (NT
 * always answers 0). */
int ipc_plat_object_just_created(struct ipc_plat *plat, uint64_t within_ns);

/* The object's owner and permission bits (POSIX: fstat st_uid, st_mode & 07777).
 * NT: the creating user's id as ipc_plat_euid() reports it, and 0600 when the
 * object carries the creator-only security descriptor. */
int ipc_plat_object_owner(struct ipc_plat *plat, uint32_t *uid, uint32_t *mode);

/* Removes the name only if it still names the object `plat` has open (POSIX:
 * same device and inode). 0 also when the name is already gone. */
int ipc_plat_unlink_if_ours(struct ipc_plat *plat, const char *service);

/* MARK: - liveness */

/* Takes the server's liveness lock without waiting (POSIX: F_OFD_SETLK F_WRLCK
 * on byte 0; NT: an exclusive NtLockFile on byte 0, or the ".server" Mutant).
 * Held until ipc_plat_close. BUSY when another holds it (its server lives). */
int ipc_plat_liveness_trylock(struct ipc_plat *plat);

/* Asks whether another holder has the liveness lock (POSIX: F_OFD_GETLK; only
 * a WRITE lock counts). *held = 1 when a server lives, 0 otherwise. Works on a
 * read-only handle and never takes the lock. */
int ipc_plat_liveness_held(struct ipc_plat *plat, int *held);

#ifndef _WIN32
/* POSIX only: the same probe on a descriptor the caller opened itself (O_RDONLY is
 * enough), for readers that never map the object (mbvipc-agent). Returns 0 or errno. */
int ipc_posix_liveness_held_fd(int fd, int *held);
#endif

/* MARK: - the client mutex (`base` is the mapping: POSIX keeps it at base + 128) */

/* Initialises the synchronisation of a section this process just created:
 * POSIX a robust, process-shared pthread mutex in place (the futex words need
 * nothing); NT creates the named Mutant and the two Events and leaves the bytes
 * at 128 zero. Called once, before the magic is stored. */
int ipc_plat_mutex_init(struct ipc_plat *plat, void *base);

/* Attaches to an existing section's mutex (NT: opens the named Mutant and
 * Events; POSIX: nothing). Called after open_existing, before any lock or wait. */
int ipc_plat_attach(struct ipc_plat *plat, const char *service, void *base);

/* Tries once: OK, BUSY, OWNERDEAD (held now), NOTRECOVERABLE (also when the bytes are not
 * a mutex this backend made: POSIX checks glibc's type word before every lock). */
int ipc_plat_mutex_trylock(struct ipc_plat *plat, void *base);

/* Waits until the absolute CLOCK_MONOTONIC deadline (see ipc_plat_now_mono_ns):
 * OK, TIMEDOUT, OWNERDEAD (held now), NOTRECOVERABLE. */
int ipc_plat_mutex_lock(struct ipc_plat *plat, void *base, uint64_t deadline_mono_ns);

/* Marks a mutex taken with OWNERDEAD consistent again. */
int ipc_plat_mutex_consistent(struct ipc_plat *plat, void *base);

/* Releases the mutex. */
int ipc_plat_mutex_unlock(struct ipc_plat *plat, void *base);

/* MARK: - the two events */

/* Waits at most `timeout_ns` for event `which` while *word == expected (POSIX:
 * FUTEX_WAIT, never _PRIVATE, on `word`; NT: returns at once if *word already
 * differs, else NtWaitForSingleObject on the auto-reset Event). OK when woken,
 * when the word had already changed, or on a spurious wake/signal; TIMEDOUT.
 * The caller always re-checks the protocol state. */
int ipc_plat_event_wait(struct ipc_plat *plat, int which, volatile uint32_t *word,
                        uint32_t expected, uint64_t timeout_ns);

/* Wakes waiters of event `which` (one, or all when `all`). The caller has
 * already incremented *word. Async-signal-safe (a single system call). */
int ipc_plat_event_wake(struct ipc_plat *plat, int which, volatile uint32_t *word, int all);

/* Extra server_flags bits this backend sets when it starts a server (0 on
 * POSIX; IPC_PLAT_FLAG_NT_OBJECTS on NT). */
uint32_t ipc_plat_server_flags(void);

/* server_flags bits that mark a section this backend cannot call (its mutex
 * and events live elsewhere): POSIX returns IPC_PLAT_FLAG_NT_OBJECTS. */
uint32_t ipc_plat_foreign_flags(void);

/* MARK: - clocks, identities */

uint64_t ipc_plat_now_mono_ns(void);   /* CLOCK_MONOTONIC (NT: interrupt time, ns) */
uint64_t ipc_plat_now_real_ns(void);   /* CLOCK_REALTIME, ns since 1970 */
int32_t ipc_plat_self_pid(void);
int32_t ipc_plat_self_tid(void);       /* may be cached per thread; correct after fork */
/* Field 22 of /proc/<pid>/stat (NT: the process creation time); 0 when unknown. */
uint64_t ipc_plat_process_starttime(int32_t pid);
uint32_t ipc_plat_euid(void);          /* NT: 0 unless the backend maps user SIDs */
void ipc_plat_yield(void);             /* sched_yield / NtYieldExecution */
void ipc_plat_sleep_ns(uint64_t ns);   /* nanosleep / NtDelayExecution (relative) */

/* MARK: - memory and per-thread storage */

void *ipc_plat_alloc(size_t size);     /* zero-filled; NULL when out of memory */
void ipc_plat_free(void *p);           /* NULL accepted */

/* The calling thread's last-error record (MBV_IPCLastError / ...Message).
 * Thread-local; never NULL (a backend may fall back to one static record). */
struct ipc_plat_error {
    int code;
    char message[256];
};
struct ipc_plat_error *ipc_plat_thread_error(void);

#ifdef __cplusplus
}
#endif
#endif /* MBV_IPC_PLATFORM_H */
