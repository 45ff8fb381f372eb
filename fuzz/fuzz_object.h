/*
 * fuzz_object.h — how the POSIX fuzz targets present an input to the C library: as
 * the bytes of a real object /dev/shm/ipcscope.<name>, exactly as long as the input,
 * mode 0600, owned by us, which the library then opens by name like any section.
 *
 * Liveness is part of the world a target sets up: when it wants a live server, this
 * process holds the object's liveness lock (an OFD write lock on byte 0) through its
 * own open file description, so the library sees a live server; otherwise the
 * section is stale. Which one is a knob of the input (see fuzz_knobs).
 *
 * One name per process ("cfuzz-<target>-<pid>"): a crash leaves at most that object
 * behind, and fuzz/run.sh and the regression test remove it by pid.
 */
#ifndef MBVIPC_FUZZ_OBJECT_H
#define MBVIPC_FUZZ_OBJECT_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcscope_section.h"

struct fuzz_object {
    char name[64];   /* the service name */
    char path[96];   /* "/ipcscope.<name>" for shm_open */
    int fd;          /* our description: holds the liveness lock when live */
};

/* Stops the run with a message: a harness failure is not a finding about the library. */
static inline void fuzz_die(const char *what) {
    fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
    abort();
}

static inline void fuzz_object_name(struct fuzz_object *o, const char *target) {
    snprintf(o->name, sizeof o->name, "cfuzz-%s-%d", target, (int)getpid());
    snprintf(o->path, sizeof o->path, "%s%s", IPCSCOPE_SHM_PREFIX, o->name);
    o->fd = -1;
}

/* The harness's knobs: the byte at offset 92 of the image (reserved_92 in the format,
 * which the library never reads nor writes), 0 when the image is shorter. Each target
 * says what its bits mean; bit 4 is always the liveness of the server. */
#define FUZZ_KNOBS_OFFSET 92u
#define FUZZ_KNOB_LIVENESS 0x10u

static inline uint8_t fuzz_knobs(const uint8_t *data, size_t size) {
    return size > FUZZ_KNOBS_OFFSET ? data[FUZZ_KNOBS_OFFSET] : 0;
}

/* Creates the object with exactly `data`, and takes the liveness lock when `live`. */
static inline void fuzz_object_put(struct fuzz_object *o, const uint8_t *data, size_t size, int live) {
    (void)shm_unlink(o->path);  /* a leftover of this pid (an earlier input that crashed) */
    o->fd = shm_open(o->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (o->fd < 0) fuzz_die("shm_open");
    if (fchmod(o->fd, 0600) != 0) fuzz_die("fchmod");  /* whatever the umask */
    if (ftruncate(o->fd, (off_t)size) != 0) fuzz_die("ftruncate");
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(o->fd, data + done, size - done, (off_t)done);
        if (n <= 0) fuzz_die("pwrite");
        done += (size_t)n;
    }
    if (live) {
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = 0;
        fl.l_len = 1;
        if (fcntl(o->fd, F_OFD_SETLK, &fl) != 0) fuzz_die("F_OFD_SETLK");
    }
}

/* Closes our description (dropping the lock) and removes the name, if it is still there. */
static inline void fuzz_object_remove(struct fuzz_object *o) {
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    (void)shm_unlink(o->path);
}

/* The object's bytes now (after the library wrote to it), in a private copy; NULL when gone. */
static inline uint8_t *fuzz_object_read(const struct fuzz_object *o, size_t *size) {
    int fd = shm_open(o->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) fuzz_die("fstat");
    uint8_t *copy = (uint8_t *)malloc((size_t)st.st_size + 1);
    if (!copy) fuzz_die("malloc");
    ssize_t n = pread(fd, copy, (size_t)st.st_size, 0);
    close(fd);
    if (n != (ssize_t)st.st_size) fuzz_die("pread");
    *size = (size_t)st.st_size;
    return copy;
}

static inline uint32_t fuzz_u32(const uint8_t *p, uint32_t off) {
    uint32_t v;
    memcpy(&v, p + off, 4);
    return v;
}

static inline uint64_t fuzz_u64(const uint8_t *p, uint32_t off) {
    uint64_t v;
    memcpy(&v, p + off, 8);
    return v;
}

/* MARK: - mutation that knows the format's fields */

/* libFuzzer's own mutator (weak: a replay build without libFuzzer never mutates). */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

static inline uint64_t fuzz_next(uint64_t *state) {  /* SplitMix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Half the time libFuzzer's byte-level mutations; the other half one aligned field of the
 * image set to an edge value, a random value, a neighbour or itself with one bit flipped:
 * a field of the 512-byte header (half of these), of the mutex's line (a quarter), or of the
 * whole image. The library compares most fields with constants libFuzzer sees (its code is
 * instrumented), but glibc's reads of the mutex (type, lock and owner words at 128..191) are
 * not instrumented and give no feedback: that line gets its own share. The size is left to
 * libFuzzer. */
static inline size_t fuzz_mutate_section(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
    uint64_t rng = seed;
    if (size < 8 || fuzz_next(&rng) % 2 == 0) return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;
    size_t start = 0, span = size;
    uint64_t where = fuzz_next(&rng) % 4;
    if (size >= IPCSCOPE_HEADER_SIZE && where < 2) span = IPCSCOPE_HEADER_SIZE;
    else if (size >= IPCSCOPE_OFF_MUTEX + 64 && where == 2) start = IPCSCOPE_OFF_MUTEX, span = 64;
    int wide = fuzz_next(&rng) % 3 == 0;
    size_t width = wide ? 8 : 4;
    size_t off = start + (size_t)(fuzz_next(&rng) % (span / width)) * width;
    uint64_t v = 0;
    memcpy(&v, data + off, width);
    static const uint64_t edges[] = {0, 1, 2, 3, 0x7f, 0x80, 0xff, 512, 4096, 0x7fffffff, 0x80000000u, 0xffffffffu,
                                     0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull};
    switch (fuzz_next(&rng) % 4) {
    case 0: v = edges[fuzz_next(&rng) % (sizeof edges / sizeof edges[0])]; break;
    case 1: v = fuzz_next(&rng); break;
    case 2: v += (uint64_t)(int64_t)((int)(fuzz_next(&rng) % 33) - 16); break;
    default: v ^= 1ull << (fuzz_next(&rng) % (width * 8)); break;
    }
    memcpy(data + off, &v, width);  /* little-endian: the low bytes of v */
    return size;
}

/* With FUZZ_VERBOSE=1 in the environment, each input's outcome on stderr (to read what the
 * library said about a corpus file: `FUZZ_VERBOSE=1 TARGET FILE...`). */
static inline void fuzz_say(const char *what, const char *detail) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "%s: %s\n", what, detail);
}

/* A library error must come with a code in range and a message that is a terminated,
 * non-empty line: it is what a caller shows a user. */
static inline void fuzz_check_error(int code, const char *message, const char *during) {
    if (code < 1 || code > 20) {
        fprintf(stderr, "%s failed with code %d, outside 1..20: %s\n", during, code, message);
        abort();
    }
    size_t n = strnlen(message, 256);
    if (n == 0 || n == 256 || memchr(message, '\n', n)) {
        fprintf(stderr, "%s failed with code %d and a bad message (%zu bytes)\n", during, code, n);
        abort();
    }
}

#endif /* MBVIPC_FUZZ_OBJECT_H */
