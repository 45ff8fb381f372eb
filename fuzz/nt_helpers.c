/*
 * nt_helpers.c — libFuzzer target: the NT backend's pure helpers, compiled for Linux.
 *
 * Sources/MBVIPC/ipc_nt.c, ipc_nt_sync.c and nt_start.c are inside #if defined(_WIN32)
 * and call only ntdll, declared by hand in nt.h (no Windows SDK header). fuzz/run.sh
 * builds them, and the protocol core, with -D_WIN32 and __stdcall / __declspec
 * defined away; nt_start.c as for a program without a C runtime. What runs here is
 * the backend's code that needs no NT object: the rest would run against made-up
 * answers, and nt_fake.c aborts if it is reached. The first input byte picks one:
 *
 *   0  split_command_line (nt_start.c): the process command line, UTF-16, as it lies
 *      in the PEB: argc and argv within their buffers, ASCII only, no quote kept;
 *      words split at spaces and tabs when the line has no quotes
 *   1  the same, round trip: arguments quoted into a command line come back as they were
 *   2  nt_printf (nt_start.c), each documented conversion (%d %i %u %x %ld %lu %lld
 *      %llu %zu %s %.*s %c %p %%, and the '0' flag and widths it parses) against
 *      glibc's snprintf, through the 1024-byte output buffer and NtWriteFile
 *   3  nt_atol (nt_start.c) against a reference that saturates like strtol
 *   4  nt_status (every NTSTATUS maps to a seam code, successes to OK),
 *      nt_relative_timeout, and the clock conversions of ipc_plat_now_mono_ns and
 *      ipc_plat_now_real_ns against exact 128-bit arithmetic
 *   5  service names: the core's ipc_name_check, then nt_object_name for every
 *      prefix and suffix the backend uses, and nt_remember
 *   6  memcpy, memmove, memset, memcmp, strlen, strcmp of the no-C-runtime build
 *      against glibc's
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_core.h"
#include "ipc_nt.h"
#include "nt_seam.h"

static _Noreturn void fail(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "nt_helpers: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    abort();
}

/* MARK: - reading the input */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct input *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t u64(struct input *in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

/* MARK: - 0, 1: the command line */

static int split(WCHAR_NT *units, size_t count) {
    nt_fake_set_command_line(units, count);
    int argc = nt_seam_split_command_line();
    char **argv = nt_seam_argv();
    const char *text = nt_seam_arg_text();
    size_t size = nt_seam_arg_text_size();
    if (argc < 0 || argc > 31) fail("argc %s out of 0...31%s", argc < 0 ? "negative" : "over 31", "");
    if (argv[argc]) fail("argv[argc] is not NULL%s%s", "", "");
    for (int i = 0; i < argc; i++) {
        if (argv[i] < text || argv[i] >= text + size) fail("an argument outside arg_text%s%s", "", "");
        size_t room = (size_t)(text + size - argv[i]), len = strnlen(argv[i], room);
        if (len == room) fail("an argument runs past the end of arg_text%s%s", "", "");
        for (size_t k = 0; k < len; k++)
            if ((uint8_t)argv[i][k] >= 128 || argv[i][k] == '"') fail("argument '%s' keeps a quote or non-ASCII%s", argv[i], "");
    }
    return argc;
}

static void command_line_raw(struct input *in) {
    size_t count = in->n / 2;
    if (count > 32767) count = 32767;  /* UNICODE_STRING lengths are 16-bit byte counts */
    WCHAR_NT *units = malloc(count * sizeof *units + 1);  /* exactly the line: no terminator */
    int plain = 1;
    for (size_t i = 0; i < count; i++) {
        units[i] = (WCHAR_NT)(u8(in) | u8(in) << 8);
        if (units[i] == '"' || units[i] >= 128 || units[i] == 0) plain = 0;
    }
    int argc = split(units, count);
    /* Without quotes or non-ASCII, and short: the words between spaces and tabs. */
    if (plain && count < 1500) {
        char **argv = nt_seam_argv();
        int words = 0;
        size_t i = 0;
        while (i < count) {
            while (i < count && (units[i] == ' ' || units[i] == '\t')) i++;
            if (i == count) break;
            size_t start = i;
            while (i < count && units[i] != ' ' && units[i] != '\t') i++;
            if (words < 31) {
                if (words >= argc || strlen(argv[words]) != i - start) fail("word count or length differs from '%s'%s", words < argc ? argv[words] : "(none)", "");
                for (size_t k = start; k < i; k++)
                    if ((uint8_t)argv[words][k - start] != units[k]) fail("word '%s' differs%s", argv[words], "");
            }
            words++;
        }
        if (argc != (words < 31 ? words : 31)) fail("split into a wrong number of words%s%s", "", "");
    }
    free(units);
}

static void command_line_round_trip(struct input *in) {
    char args[31][41];
    int count = u8(in) % 32;
    size_t total = 0, units_len = 0;
    WCHAR_NT *units = malloc(31 * 44 * sizeof *units);
    for (int i = 0; i < count; i++) {
        size_t len = u8(in) % 41;
        int quoted = len == 0 || (u8(in) & 1);
        for (size_t k = 0; k < len; k++) {
            char c = (char)(32 + u8(in) % 95);  /* printable ASCII */
            if (c == '"') c = '\'';
            if (!quoted && (c == ' ')) c = '_';
            args[i][k] = c;
        }
        args[i][len] = 0;
        if (i) units[units_len++] = ' ';
        if (quoted) units[units_len++] = '"';
        for (size_t k = 0; k < len; k++) units[units_len++] = (WCHAR_NT)args[i][k];
        if (quoted) units[units_len++] = '"';
        total += len + 1;
    }
    int argc = split(units, units_len);
    if (total < 2000) {
        if (argc != count) fail("a round trip of %s arguments came back as another count%s", count ? "some" : "no", "");
        for (int i = 0; i < count; i++)
            if (strcmp(nt_seam_argv()[i], args[i]) != 0) fail("argument '%s' came back as '%s'", args[i], nt_seam_argv()[i]);
    }
    free(units);
}

/* MARK: - 2: nt_printf against snprintf */

static char expected[1 << 16];
static size_t expected_len;

static int verbose = -1;

#define BOTH(...)                                                                          \
    do {                                                                                   \
        nt_printf(__VA_ARGS__);                                                            \
        int n_ = snprintf(expected + expected_len, sizeof expected - expected_len, __VA_ARGS__); \
        if (verbose) fprintf(stderr, "item: %s -> %.*s\n", #__VA_ARGS__, n_, expected + expected_len); \
        if (n_ > 0) expected_len += (size_t)n_;                                            \
    } while (0)

static void printf_against_glibc(struct input *in) {
    nt_fake_stdout_reset();
    expected_len = 0;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    static char strings[64][80];
    for (int item = 0; in->n && item < 64 && expected_len < sizeof expected - 512; item++) {
        char fmt[32];
        uint8_t op = u8(in), flags = u8(in);
        int width = flags & 0x80 ? flags % 24 : 0;
        const char *zero = flags & 0x40 ? "0" : "";
        char w[8] = "";
        if (width) snprintf(w, sizeof w, "%s%d", zero, width);
        uint64_t v = u64(in);
        switch (op % 16) {
        case 0: snprintf(fmt, sizeof fmt, "%%%sd", w); BOTH(fmt, (int)v); break;
        case 1: snprintf(fmt, sizeof fmt, "%%%si", w); BOTH(fmt, (int)v); break;
        case 2: snprintf(fmt, sizeof fmt, "%%%su", w); BOTH(fmt, (unsigned)v); break;
        case 3: snprintf(fmt, sizeof fmt, "%%%sx", w); BOTH(fmt, (unsigned)v); break;
        case 4: snprintf(fmt, sizeof fmt, "%%%sld", w); BOTH(fmt, (long)v); break;
        case 5: snprintf(fmt, sizeof fmt, "%%%slu", w); BOTH(fmt, (unsigned long)v); break;
        case 6: snprintf(fmt, sizeof fmt, "%%%slld", w); BOTH(fmt, (long long)v); break;
        case 7: snprintf(fmt, sizeof fmt, "%%%sllu", w); BOTH(fmt, (unsigned long long)v); break;
        case 8: snprintf(fmt, sizeof fmt, "%%%szu", w); BOTH(fmt, (size_t)v); break;
        case 9: case 10: {
            /* A string of the input's bytes (no NUL), whole or with a precision. */
            char *s = strings[item];
            size_t len = v % 80;
            for (size_t k = 0; k < len; k++) s[k] = (char)(u8(in) | 1);
            s[len] = 0;
            if (op % 16 == 9) BOTH("%s", s);
            else BOTH("%.*s", (int)(v >> 32) % 100, s);
            break;
        }
        case 11: if ((uint8_t)v) BOTH("%c", (int)(uint8_t)v); break;  /* glibc writes a NUL too, but ends the count there */
        case 12: if (v) BOTH("%p", (void *)(uintptr_t)v); break;      /* glibc prints NULL as (nil) */
        case 13: BOTH("%%"); break;
        case 14: BOTH("\n"); break;                                    /* flushes the buffer */
        default: {
            char lit[2] = {(char)(v % 95 + 32), 0};
            if (lit[0] != '%') BOTH("%s", lit);
        }
        }
    }
    nt_flush();
    size_t got_len;
    const uint8_t *got = nt_fake_stdout(&got_len);
    if (got_len != expected_len || (got_len && memcmp(got, expected, got_len) != 0)) {
        size_t at = 0;
        while (at < got_len && at < expected_len && got[at] == (uint8_t)expected[at]) at++;
        char a[80], b[80];
        snprintf(a, sizeof a, "%.*s", (int)(got_len - at < 60 ? got_len - at : 60), (const char *)got + at);
        snprintf(b, sizeof b, "%.*s", (int)(expected_len - at < 60 ? expected_len - at : 60), expected + at);
        fail("nt_printf wrote '%s' where snprintf wrote '%s'", a, b);
    }
}

/* MARK: - 3: nt_atol */

static void atol_against_reference(struct input *in) {
    char text[64];
    size_t len = in->n < sizeof text - 1 ? in->n : sizeof text - 1;
    memcpy(text, in->p, len);
    text[len] = 0;
    /* nt_atol's grammar: an optional '-', then decimal digits up to the first other character. */
    const char *s = text;
    int negative = *s == '-';
    if (negative) s++;
    long reference = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (!negative) reference = reference > (LONG_MAX - d) / 10 ? LONG_MAX : reference * 10 + d;
        else reference = reference < (LONG_MIN + d) / 10 ? LONG_MIN : reference * 10 - d;
    }
    long got = nt_atol(text);
    if (got != reference) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%ld", got);
        snprintf(b, sizeof b, "%ld", reference);
        fail("nt_atol gave %s, expected %s", a, b);
    }
}

/* MARK: - 4: status codes, timeouts, clocks */

static void codes_and_clocks(struct input *in) {
    NTSTATUS st = (NTSTATUS)(uint32_t)u64(in);
    struct ipc_plat p;
    memset(&p, 0, sizeof p);
    int code = nt_status(&p, st);
    if (code < IPC_PLAT_OK || code > IPC_PLAT_IO) fail("nt_status gave a code outside the seam's%s%s", "", "");
    if ((code == IPC_PLAT_OK) != (st == STATUS_SUCCESS || (NT_SUCCESS(st) && st != STATUS_TIMEOUT && st != STATUS_ABANDONED)))
        fail("nt_status confused success and failure%s%s", "", "");
    if (p.os_error != (uint32_t)st) fail("nt_status did not keep the NTSTATUS%s%s", "", "");

    uint64_t ns = u64(in);
    int64_t t = nt_relative_timeout(ns);
    if (t != -(int64_t)(ns / 100)) fail("nt_relative_timeout is not minus the 100 ns ticks%s%s", "", "");

    int64_t counter = (int64_t)u64(in), frequency = (int64_t)u64(in), now_1601 = (int64_t)u64(in);
    nt_fake_set_clocks(counter, frequency, now_1601);
    uint64_t mono = ipc_plat_now_mono_ns(), real = ipc_plat_now_real_ns();
    /* Exact where the library's arithmetic cannot wrap: a frequency up to 2^64 / 10^9 per second
     * (Windows uses 10 MHz, older machines the TSC's few GHz), and times up to 580 years. */
    uint64_t ticks = (uint64_t)counter, freq = frequency > 0 ? (uint64_t)frequency : 1;
    if (freq <= UINT64_MAX / 1000000000ull && ticks / freq <= UINT64_MAX / 1000000000ull - 1) {
        unsigned __int128 exact = (unsigned __int128)ticks * 1000000000u / freq;
        if (exact != mono) fail("ipc_plat_now_mono_ns is off%s%s", "", "");
    }
    uint64_t epoch = 116444736000000000ull, t1601 = (uint64_t)now_1601;
    uint64_t expected_real = t1601 > epoch && t1601 - epoch <= UINT64_MAX / 100 ? (t1601 - epoch) * 100 : 0;
    if ((t1601 <= epoch || t1601 - epoch <= UINT64_MAX / 100) && real != expected_real)
        fail("ipc_plat_now_real_ns is off%s%s", "", "");
}

/* MARK: - 5: names */

static void names(struct input *in) {
    char name[200], svc[IPCSCOPE_NAME_MAX + 1];
    size_t len = in->n < sizeof name - 1 ? in->n : sizeof name - 1;
    memcpy(name, in->p, len);
    name[len] = 0;
    if (ipc_name_check(name, svc) != MBV_IPC_OK) {
        if (MBV_IPCLastError() != MBV_IPC_ERR_INVALID_NAME) fail("a bad name '%s' gave another error: %s", name, MBV_IPCLastErrorMessage());
        return;
    }
    if (strcmp(name, svc) != 0) fail("a valid name '%s' was copied as '%s'", name, svc);
    static const char *const prefixes[] = {OBJECTS_DIR, FILES_DIR};
    static const char *const suffixes[] = {"", ".mutex", ".request", ".response", ".server"};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 5; k++) {
            WCHAR_NT buf[NT_NAME_MAX];
            UNICODE_STRING u;
            char want[400];
            snprintf(want, sizeof want, "%sipcscope.%s%s", prefixes[i], svc, suffixes[k]);
            nt_object_name(buf, prefixes[i], svc, suffixes[k], &u);
            size_t n = strlen(want);
            if (n >= NT_NAME_MAX) fail("the object name '%s' does not fit NT_NAME_MAX%s", want, "");
            if (u.Buffer != buf || u.Length != n * 2 || u.MaximumLength != n * 2 + 2 || buf[n] != 0)
                fail("the UNICODE_STRING of '%s' is wrong%s", want, "");
            for (size_t c = 0; c < n; c++)
                if (buf[c] != (WCHAR_NT)(uint8_t)want[c]) fail("the object name of '%s' differs%s", want, "");
        }
    struct ipc_plat p;
    memset(&p, 0, sizeof p);
    nt_remember(&p, svc);
    if (strcmp(p.service, svc) != 0) fail("nt_remember kept '%s' of '%s'", p.service, svc);
}

/* MARK: - 6: the memory functions */

static void memory(struct input *in) {
    size_t n = in->n;
    const uint8_t *src = in->p;
    uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
    memcpy(a, src, n);
    ntcrt_memcpy(b, src, n);
    if (memcmp(a, b, n) != 0) fail("memcpy differs%s%s", "", "");
    /* memmove within the buffer, both directions */
    if (n >= 2) {
        size_t from = src[0] % n, to = src[1] % n, len = n - (from > to ? from : to);
        memmove(a + to, a + from, len);
        ntcrt_memmove(b + to, b + from, len);
        if (memcmp(a, b, n) != 0) fail("memmove differs%s%s", "", "");
        int c = src[n - 1];
        memset(a + to, c, len);
        ntcrt_memset(b + to, c, len);
        if (memcmp(a, b, n) != 0) fail("memset differs%s%s", "", "");
    }
    /* memcmp and strcmp of the two halves: the same sign */
    size_t half = n / 2;
    int x = memcmp(src, src + half, half), y = ntcrt_memcmp(src, src + half, half);
    if ((x > 0) != (y > 0) || (x < 0) != (y < 0)) fail("memcmp's sign differs%s%s", "", "");
    char *s1 = malloc(half + 1), *s2 = malloc(n - half + 1);
    memcpy(s1, src, half);
    s1[half] = 0;
    memcpy(s2, src + half, n - half);
    s2[n - half] = 0;
    if (strlen(s1) != ntcrt_strlen(s1)) fail("strlen differs%s%s", "", "");
    x = strcmp(s1, s2), y = ntcrt_strcmp(s1, s2);
    if ((x > 0) != (y > 0) || (x < 0) != (y < 0)) fail("strcmp's sign differs on '%s' and '%s'", s1, s2);
    free(s1), free(s2), free(a), free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nt_fake_install();
    if (!size) return 0;
    struct input in = {data + 1, size - 1};
    switch (data[0] % 7) {
    case 0: command_line_raw(&in); break;
    case 1: command_line_round_trip(&in); break;
    case 2: printf_against_glibc(&in); break;
    case 3: atol_against_reference(&in); break;
    case 4: codes_and_clocks(&in); break;
    case 5: names(&in); break;
    default: memory(&in); break;
    }
    return 0;
}
