/*
 * nt_start.c — the few C runtime pieces a program built without one needs
 * (see nt_start.h): the entry point, argv, printf to the standard output
 * handle, and the memory functions GCC may call. ntdll.dll only.
 */
#if defined(_WIN32) /* SwiftPM on Linux sees this folder too: the file is empty there */
#include <limits.h>
#include <stdarg.h>

#include "nt.h"
#include "nt_start.h"

void nt_sleep_ms(uint32_t ms) {
    LARGE_INTEGER t;
    t.QuadPart = -(int64_t)ms * 10000;
    NtDelayExecution(0, &t);
}

int32_t nt_self_pid(void) { return (int32_t)(uintptr_t)nt_current_teb()->ClientId.UniqueProcess; }

#ifdef MBVIPC_NO_CRT

/* MARK: - memory (GCC emits calls to these even in freestanding code) */

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    if (d < s)
        while (n--) *d++ = *s++;
    else
        while (n--) d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    volatile uint8_t *d = (volatile uint8_t *)dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return (uint8_t)*a - (uint8_t)*b;
}

/* Out of range it saturates at LONG_MIN or LONG_MAX, as strtol does (glibc's atol too),
 * instead of overflowing a signed long. */
long nt_atol(const char *s) {
    int neg = *s == '-';
    if (neg) s++;
    unsigned long v = 0, limit = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned long d = (unsigned long)(*s - '0');
        v = v > (limit - d) / 10 ? limit : v * 10 + d;
    }
    if (!neg) return (long)v;
    return v == limit ? LONG_MIN : -(long)v;
}

/* MARK: - output */

static char out_buf[1024];
static size_t out_len;

static HANDLE std_output(void) {
    return nt_current_teb()->ProcessEnvironmentBlock->ProcessParameters->StandardOutput;
}

void nt_flush(void) {
    IO_STATUS_BLOCK io;
    if (out_len) NtWriteFile(std_output(), 0, 0, 0, &io, out_buf, (uint32_t)out_len, 0, 0);
    out_len = 0;
}

static void put(char c) {
    out_buf[out_len++] = c;
    if (c == '\n' || out_len == sizeof out_buf) nt_flush();
}

/* `sign` ('-' or 0) counts toward the width, and goes before zeros but after spaces, as in printf. */
static void put_unsigned(unsigned long long v, unsigned base, int width, char pad, char sign) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (sign) width--;
    if (sign && pad == '0') put(sign);
    while (width-- > n) put(pad);
    if (sign && pad != '0') put(sign);
    while (n) put(digits[--n]);
}

int nt_printf(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    for (; *f; f++) {
        if (*f != '%') {
            put(*f);
            continue;
        }
        f++;
        char pad = ' ';
        int width = 0, precision = -1, longs = 0;
        if (*f == '0') pad = '0', f++;
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        if (*f == '.') {
            f++;
            if (*f == '*') precision = va_arg(ap, int), f++;
            else
                for (precision = 0; *f >= '0' && *f <= '9'; f++) precision = precision * 10 + (*f - '0');
        }
        while (*f == 'l' || *f == 'z') longs += *f == 'z' ? 2 : 1, f++;
        switch (*f) {
        case 'd': case 'i': {
            long long v = longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
            put_unsigned(v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10, width, pad, v < 0 ? '-' : 0);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = longs >= 2 ? va_arg(ap, unsigned long long)
                                   : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_unsigned(v, *f == 'x' ? 16 : 10, width, pad, 0);
            break;
        }
        case 'p': put('0'), put('x'), put_unsigned((uintptr_t)va_arg(ap, void *), 16, 0, ' ', 0); break;
        case 'c': put((char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            for (int i = 0; s[i] && (precision < 0 || i < precision); i++) put(s[i]);
            break;
        }
        case '%': put('%'); break;
        default: put('%'), put(*f ? *f : '?'); if (!*f) f--; break;
        }
    }
    va_end(ap);
    return 0;
}

void nt_exit(int code) {
    nt_flush();
    NtTerminateProcess(NtCurrentProcess(), code);
    for (;;) {}
}

/* MARK: - entry */

int main(int argc, char **argv);
void __main(void) {}  /* GCC calls this from main for static constructors: none here */

static char arg_text[2048];
static char *arg_v[32];

/* Splits the UTF-16 command line into narrow arguments (ASCII kept, anything
 * else becomes '?'), with "double quotes" grouping. At most 31 arguments: the
 * 31st is read to its end, and what follows it is dropped. */
static int split_command_line(void) {
    UNICODE_STRING *cl = &nt_current_teb()->ProcessEnvironmentBlock->ProcessParameters->CommandLine;
    size_t n = cl->Length / 2, o = 0;
    int argc = 0, quoted = 0, in_arg = 0;
    for (size_t i = 0; i < n && o < sizeof arg_text - 1 && (argc < 31 || in_arg); i++) {
        WCHAR_NT c = cl->Buffer[i];
        if (c == '"') {
            quoted = !quoted;
            if (!in_arg) arg_v[argc++] = &arg_text[o], in_arg = 1;
            continue;
        }
        if ((c == ' ' || c == '\t') && !quoted) {
            if (in_arg) arg_text[o++] = 0, in_arg = 0;
            continue;
        }
        if (!in_arg) arg_v[argc++] = &arg_text[o], in_arg = 1;
        arg_text[o++] = c < 128 ? (char)c : '?';
    }
    arg_text[o] = 0;
    arg_v[argc] = 0;
    return argc;
}

__attribute__((force_align_arg_pointer)) void nt_start(void) {
    int argc = split_command_line();
    nt_exit(main(argc, arg_v));
}

#endif /* MBVIPC_NO_CRT */
#endif /* _WIN32 */
