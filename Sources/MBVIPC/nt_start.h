/*
 * nt_start.h — what a program built without a C runtime gets instead of one
 * (NT only; with a C runtime this header only includes <stdio.h> and <string.h>).
 *
 * Build a program with -DMBVIPC_NO_CRT -nostdlib -ffreestanding, link
 * nt_start.c, ipc_nt.c and the core with -lntdll -lgcc and the entry point
 * nt_start: main(argc, argv) then runs as usual, printf writes to the standard
 * output handle with NtWriteFile, and the import table lists only ntdll.dll.
 */
#ifndef MBVIPC_NT_START_H
#define MBVIPC_NT_START_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Sleeps `ms` milliseconds (NtDelayExecution). */
void nt_sleep_ms(uint32_t ms);
/* This process's id, as NT numbers it (under Wine: not the Linux pid). */
int32_t nt_self_pid(void);
#ifdef __cplusplus
}
#endif

#ifdef MBVIPC_NO_CRT

#ifdef __cplusplus
extern "C" {
#endif

/* printf with %d %i %u %x %ld %lu %lld %llu %zu %s %.*s %c %p %%; output is
 * written at each newline and when the buffer fills. */
int nt_printf(const char *format, ...);
/* Writes any buffered output (also done when main returns). */
void nt_flush(void);
/* Ends the process at once with `code` (like _exit). */
void nt_exit(int code);
/* Decimal text to integer; 0 when there is none; LONG_MIN or LONG_MAX when out of range. */
long nt_atol(const char *text);

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#define printf nt_printf
#define exit nt_exit

#else /* with a C runtime */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void nt_flush(void) { fflush(stdout); }
static inline void nt_exit(int code) { fflush(stdout); _Exit(code); }
static inline long nt_atol(const char *text) { return atol(text); }

#endif
#endif /* MBVIPC_NT_START_H */
