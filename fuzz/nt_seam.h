/*
 * nt_seam.h — what fuzz/nt_helpers reaches of the NT backend compiled for Linux (see
 * fuzz/run.sh: its files are built with -D_WIN32, and nt_start.c as for a program
 * without a C runtime, with its memcpy & co. renamed ntcrt_*), and the fake ntdll it
 * runs on (nt_fake.c). Include after nt.h.
 */
#ifndef MBVIPC_FUZZ_NT_SEAM_H
#define MBVIPC_FUZZ_NT_SEAM_H

#include <stddef.h>
#include <stdint.h>

/* nt_start.c's statics, through nt_seam.c. */
int nt_seam_split_command_line(void);   /* split_command_line(): argc */
char **nt_seam_argv(void);              /* arg_v: 32 entries */
const char *nt_seam_arg_text(void);     /* arg_text */
size_t nt_seam_arg_text_size(void);

/* nt_start.c's exported functions of the no-C-runtime build (nt_start.h), renamed where
 * they would clash with libc's. */
int nt_printf(const char *format, ...);
void nt_flush(void);
long nt_atol(const char *text);
void *ntcrt_memcpy(void *dst, const void *src, size_t n);
void *ntcrt_memmove(void *dst, const void *src, size_t n);
void *ntcrt_memset(void *dst, int c, size_t n);
int ntcrt_memcmp(const void *a, const void *b, size_t n);
size_t ntcrt_strlen(const char *s);
int ntcrt_strcmp(const char *a, const char *b);

/* The fake ntdll (nt_fake.c). */
void nt_fake_install(void);
void nt_fake_set_command_line(WCHAR_NT *units, size_t count);
const uint8_t *nt_fake_stdout(size_t *len);
void nt_fake_stdout_reset(void);
void nt_fake_set_clocks(int64_t performance_counter, int64_t performance_frequency, int64_t time_1601);

#endif /* MBVIPC_FUZZ_NT_SEAM_H */
