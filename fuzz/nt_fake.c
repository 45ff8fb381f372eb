/*
 * nt_fake.c — just enough of ntdll.dll and of a Windows thread for the NT backend's
 * pure helpers to run on Linux inside fuzz/nt_helpers. Not an emulation of NT: the
 * few calls those helpers make are answered from values the fuzz target sets (the
 * clocks, the command line) or captured (what nt_printf writes to standard output);
 * every other ntdll function aborts with its name, so a helper that starts making
 * system calls shows up at once instead of running against a made-up answer.
 *
 * nt_current_teb() reads the TEB pointer at %gs:0x30, as on Windows x86_64. Linux
 * leaves the GS base free in user space (glibc's thread pointer is FS), so
 * nt_fake_install points it at a fake TEB with arch_prctl(ARCH_SET_GS); the TEB
 * leads to a PEB and process parameters holding the command line and a standard
 * output handle.
 */
#include <asm/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nt.h"
#include "nt_seam.h"

static NT_TEB_PREFIX teb;
static NT_PEB_PREFIX peb;
static NT_RTL_USER_PROCESS_PARAMETERS_PREFIX params;
#define FAKE_STDOUT ((HANDLE)(intptr_t)0x57d0)

static _Noreturn void unused(const char *name) {
    fprintf(stderr, "fake ntdll: %s is not part of the nt_helpers target (a helper made a system call)\n", name);
    abort();
}

void nt_fake_install(void) {
    if (teb.Self) return;
    teb.Self = &teb;
    teb.ClientId.UniqueProcess = (HANDLE)(intptr_t)4242;
    teb.ClientId.UniqueThread = (HANDLE)(intptr_t)4243;
    teb.ProcessEnvironmentBlock = &peb;
    peb.ProcessParameters = &params;
    peb.ProcessHeap = (void *)(intptr_t)0x4eab;
    params.StandardOutput = FAKE_STDOUT;
    if (syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)&teb) != 0) {
        perror("fake ntdll: arch_prctl(ARCH_SET_GS)");
        abort();
    }
    if (nt_current_teb() != &teb) unused("a TEB at %gs:0x30 (arch_prctl did not take)");
}

void nt_fake_set_command_line(WCHAR_NT *units, size_t count) {
    params.CommandLine.Buffer = units;
    params.CommandLine.Length = (uint16_t)(count * 2);
    params.CommandLine.MaximumLength = (uint16_t)(count * 2);
}

/* MARK: - standard output, captured */

static uint8_t *captured;
static size_t captured_len, captured_cap;

const uint8_t *nt_fake_stdout(size_t *len) {
    *len = captured_len;
    return captured;
}

void nt_fake_stdout_reset(void) { captured_len = 0; }

NTSTATUS NTAPI NtWriteFile(HANDLE file, HANDLE event, void *apc, void *apc_context, IO_STATUS_BLOCK *io,
                           const void *buffer, uint32_t length, LARGE_INTEGER *offset, uint32_t *key) {
    (void)event, (void)apc, (void)apc_context, (void)offset, (void)key;
    if (file != FAKE_STDOUT) unused("NtWriteFile to a handle other than standard output");
    if (captured_len + length > captured_cap) {
        captured_cap = (captured_len + length) * 2;
        captured = realloc(captured, captured_cap);
        if (!captured) unused("memory for the captured output");
    }
    memcpy(captured + captured_len, buffer, length);
    captured_len += length;
    io->u.Status = STATUS_SUCCESS;
    io->Information = length;
    return STATUS_SUCCESS;
}

NTSTATUS NTAPI NtTerminateProcess(HANDLE process, NTSTATUS status) {
    (void)process;
    fprintf(stderr, "fake ntdll: NtTerminateProcess(%d) (nt_exit)\n", (int)status);
    abort();
}

/* MARK: - clocks, from the fuzz input */

static int64_t counter, frequency, system_time;

void nt_fake_set_clocks(int64_t performance_counter, int64_t performance_frequency, int64_t time_1601) {
    counter = performance_counter;
    frequency = performance_frequency;
    system_time = time_1601;
}

NTSTATUS NTAPI NtQueryPerformanceCounter(LARGE_INTEGER *c, LARGE_INTEGER *f) {
    c->QuadPart = counter;
    if (f) f->QuadPart = frequency;
    return STATUS_SUCCESS;
}

NTSTATUS NTAPI NtQuerySystemTime(LARGE_INTEGER *t) {
    t->QuadPart = system_time;
    return STATUS_SUCCESS;
}

/* MARK: - the heap and fiber-local storage (ipc_plat_alloc, the per-thread error) */

void *NTAPI RtlAllocateHeap(void *heap, uint32_t flags, size_t size) {
    (void)heap;
    return flags & HEAP_ZERO_MEMORY ? calloc(1, size) : malloc(size);
}

uint8_t NTAPI RtlFreeHeap(void *heap, uint32_t flags, void *p) {
    (void)heap, (void)flags;
    free(p);
    return 1;
}

static void *fls_slots[4];
static uint32_t fls_used;

NTSTATUS NTAPI RtlFlsAlloc(void (NTAPI *callback)(void *), uint32_t *index) {
    (void)callback;
    if (fls_used == sizeof fls_slots / sizeof fls_slots[0]) return STATUS_NO_MEMORY;
    *index = fls_used++;
    return STATUS_SUCCESS;
}

NTSTATUS NTAPI RtlFlsGetValue(uint32_t index, void **data) {
    if (index >= fls_used) return STATUS_INVALID_PARAMETER;
    *data = fls_slots[index];
    return STATUS_SUCCESS;
}

NTSTATUS NTAPI RtlFlsSetValue(uint32_t index, void *data) {
    if (index >= fls_used) return STATUS_INVALID_PARAMETER;
    fls_slots[index] = data;
    return STATUS_SUCCESS;
}

/* MARK: - everything else: not part of this target */

NTSTATUS NTAPI NtCreateFile(HANDLE *file, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, IO_STATUS_BLOCK *io, LARGE_INTEGER *allocation, uint32_t attributes, uint32_t share, uint32_t disposition, uint32_t options, void *ea, uint32_t ea_length) { unused("NtCreateFile"); }
NTSTATUS NTAPI NtLockFile(HANDLE file, HANDLE event, void *apc, void *apc_context, IO_STATUS_BLOCK *io, LARGE_INTEGER *offset, LARGE_INTEGER *length, uint32_t *key, uint8_t fail_immediately, uint8_t exclusive) { unused("NtLockFile"); }
NTSTATUS NTAPI NtUnlockFile(HANDLE file, IO_STATUS_BLOCK *io, LARGE_INTEGER *offset, LARGE_INTEGER *length, uint32_t *key) { unused("NtUnlockFile"); }
NTSTATUS NTAPI NtQueryInformationFile(HANDLE file, IO_STATUS_BLOCK *io, void *info, uint32_t length, FILE_INFORMATION_CLASS cls) { unused("NtQueryInformationFile"); }
NTSTATUS NTAPI NtSetInformationFile(HANDLE file, IO_STATUS_BLOCK *io, void *info, uint32_t length, FILE_INFORMATION_CLASS cls) { unused("NtSetInformationFile"); }
NTSTATUS NTAPI NtReadFile(HANDLE file, HANDLE event, void *apc, void *apc_context, IO_STATUS_BLOCK *io, void *buffer, uint32_t length, LARGE_INTEGER *offset, uint32_t *key) { unused("NtReadFile"); }
NTSTATUS NTAPI NtCreateSection(HANDLE *section, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, LARGE_INTEGER *maximum_size, uint32_t protection, uint32_t attributes, HANDLE file) { unused("NtCreateSection"); }
NTSTATUS NTAPI NtOpenSection(HANDLE *section, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa) { unused("NtOpenSection"); }
NTSTATUS NTAPI NtMapViewOfSection(HANDLE section, HANDLE process, void **base, uintptr_t zero_bits, size_t commit_size, LARGE_INTEGER *offset, size_t *view_size, SECTION_INHERIT inherit, uint32_t allocation_type, uint32_t protection) { unused("NtMapViewOfSection"); }
NTSTATUS NTAPI NtUnmapViewOfSection(HANDLE process, void *base) { unused("NtUnmapViewOfSection"); }
NTSTATUS NTAPI NtCreateEvent(HANDLE *event, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, EVENT_TYPE type, uint8_t initial_state) { unused("NtCreateEvent"); }
NTSTATUS NTAPI NtOpenEvent(HANDLE *event, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa) { unused("NtOpenEvent"); }
NTSTATUS NTAPI NtSetEvent(HANDLE event, int32_t *previous_state) { unused("NtSetEvent"); }
NTSTATUS NTAPI NtCreateMutant(HANDLE *mutant, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, uint8_t initial_owner) { unused("NtCreateMutant"); }
NTSTATUS NTAPI NtOpenMutant(HANDLE *mutant, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa) { unused("NtOpenMutant"); }
NTSTATUS NTAPI NtReleaseMutant(HANDLE mutant, int32_t *previous_count) { unused("NtReleaseMutant"); }
NTSTATUS NTAPI NtQueryMutant(HANDLE mutant, MUTANT_INFORMATION_CLASS cls, void *info, uint32_t length, uint32_t *returned) { unused("NtQueryMutant"); }
NTSTATUS NTAPI NtWaitForSingleObject(HANDLE object, uint8_t alertable, LARGE_INTEGER *timeout) { unused("NtWaitForSingleObject"); }
NTSTATUS NTAPI NtClose(HANDLE handle) { unused("NtClose"); }
NTSTATUS NTAPI NtDelayExecution(uint8_t alertable, LARGE_INTEGER *interval) { unused("NtDelayExecution"); }
NTSTATUS NTAPI NtYieldExecution(void) { unused("NtYieldExecution"); }
NTSTATUS NTAPI NtQueryInformationProcess(HANDLE process, PROCESSINFOCLASS cls, void *info, uint32_t length, uint32_t *returned) { unused("NtQueryInformationProcess"); }
NTSTATUS NTAPI NtOpenProcessToken(HANDLE process, ACCESS_MASK access, HANDLE *token) { unused("NtOpenProcessToken"); }
NTSTATUS NTAPI NtQueryInformationToken(HANDLE token, TOKEN_INFORMATION_CLASS cls, void *info, uint32_t length, uint32_t *returned) { unused("NtQueryInformationToken"); }
NTSTATUS NTAPI NtOpenProcess(HANDLE *process, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, CLIENT_ID *id) { unused("NtOpenProcess"); }
NTSTATUS NTAPI NtQuerySecurityObject(HANDLE object, uint32_t information, void *descriptor, uint32_t length, uint32_t *returned) { unused("NtQuerySecurityObject"); }
NTSTATUS NTAPI RtlQueryEnvironmentVariable_U(void *environment, UNICODE_STRING *name, UNICODE_STRING *value) { unused("RtlQueryEnvironmentVariable_U"); }
NTSTATUS NTAPI RtlGetOwnerSecurityDescriptor(void *descriptor, void **owner, uint8_t *defaulted) { unused("RtlGetOwnerSecurityDescriptor"); }
NTSTATUS NTAPI RtlGetDaclSecurityDescriptor(void *descriptor, uint8_t *present, NT_ACL **dacl, uint8_t *defaulted) { unused("RtlGetDaclSecurityDescriptor"); }
uint8_t NTAPI RtlEqualSid(void *a, void *b) { unused("RtlEqualSid"); }
uint8_t *NTAPI RtlSubAuthorityCountSid(void *sid) { unused("RtlSubAuthorityCountSid"); }
uint32_t *NTAPI RtlSubAuthoritySid(void *sid, uint32_t index) { unused("RtlSubAuthoritySid"); }
void NTAPI RtlInitUnicodeString(UNICODE_STRING *string, const WCHAR_NT *source) { unused("RtlInitUnicodeString"); }
NTSTATUS NTAPI RtlCreateSecurityDescriptor(void *descriptor, uint32_t revision) { unused("RtlCreateSecurityDescriptor"); }
NTSTATUS NTAPI RtlSetDaclSecurityDescriptor(void *descriptor, uint8_t present, NT_ACL *dacl, uint8_t defaulted) { unused("RtlSetDaclSecurityDescriptor"); }
NTSTATUS NTAPI RtlSetOwnerSecurityDescriptor(void *descriptor, void *owner, uint8_t defaulted) { unused("RtlSetOwnerSecurityDescriptor"); }
NTSTATUS NTAPI RtlCreateAcl(NT_ACL *acl, uint32_t length, uint32_t revision) { unused("RtlCreateAcl"); }
NTSTATUS NTAPI RtlAddAccessAllowedAce(NT_ACL *acl, uint32_t revision, ACCESS_MASK mask, void *sid) { unused("RtlAddAccessAllowedAce"); }
uint32_t NTAPI RtlLengthSid(void *sid) { unused("RtlLengthSid"); }
uint8_t NTAPI RtlValidSid(void *sid) { unused("RtlValidSid"); }
