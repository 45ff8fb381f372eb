/*
 * nt_seam.c — nt_start.c itself (included, not copied), with its command-line
 * splitter and buffers reachable from fuzz/nt_helpers. Built by fuzz/run.sh with the
 * NT flags and as for a program without a C runtime (MBVIPC_NO_CRT), its memcpy & co.
 * renamed ntcrt_* so they sit beside libc's.
 */
#include "nt_start.c"

int nt_seam_split_command_line(void) { return split_command_line(); }
char **nt_seam_argv(void) { return arg_v; }
const char *nt_seam_arg_text(void) { return arg_text; }
size_t nt_seam_arg_text_size(void) { return sizeof arg_text; }
