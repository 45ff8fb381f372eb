/*
 * nt.h — the native NT API the NT backend uses, declared by hand.
 *
 * Everything here is exported by ntdll.dll (link with -lntdll); nothing comes
 * from kernel32 or any other Win32 DLL, and the declarations do not need the
 * Windows SDK headers, so the library builds with -nostdlib and imports only
 * ntdll.dll. Types follow the NT DDK's names and layouts (x86_64 only).
 */
#ifndef MBVIPC_NT_H
#define MBVIPC_NT_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NTAPI __stdcall
#define NT_IMPORT __declspec(dllimport)

typedef int32_t NTSTATUS;
typedef void *HANDLE;
typedef uint32_t ACCESS_MASK;
typedef uint16_t WCHAR_NT;

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

/* ---- status codes ---------------------------------------------------- */
#define STATUS_SUCCESS                 ((NTSTATUS)0x00000000)
#define STATUS_WAIT_0                  ((NTSTATUS)0x00000000)
#define STATUS_ABANDONED               ((NTSTATUS)0x00000080)
#define STATUS_ABANDONED_WAIT_0        ((NTSTATUS)0x00000080)
#define STATUS_USER_APC                ((NTSTATUS)0x000000C0)
#define STATUS_ALERTED                 ((NTSTATUS)0x00000101)
#define STATUS_TIMEOUT                 ((NTSTATUS)0x00000102)
#define STATUS_PENDING                 ((NTSTATUS)0x00000103)
#define STATUS_OBJECT_NAME_EXISTS      ((NTSTATUS)0x40000000)
#define STATUS_BUFFER_OVERFLOW         ((NTSTATUS)0x80000005)
#define STATUS_UNSUCCESSFUL            ((NTSTATUS)0xC0000001)
#define STATUS_INVALID_HANDLE          ((NTSTATUS)0xC0000008)
#define STATUS_INVALID_PARAMETER       ((NTSTATUS)0xC000000D)
#define STATUS_NO_SUCH_FILE            ((NTSTATUS)0xC000000F)
#define STATUS_END_OF_FILE             ((NTSTATUS)0xC0000011)
#define STATUS_NO_MEMORY               ((NTSTATUS)0xC0000017)
#define STATUS_ACCESS_DENIED           ((NTSTATUS)0xC0000022)
#define STATUS_BUFFER_TOO_SMALL        ((NTSTATUS)0xC0000023)
#define STATUS_OBJECT_TYPE_MISMATCH    ((NTSTATUS)0xC0000024)
#define STATUS_OBJECT_NAME_INVALID     ((NTSTATUS)0xC0000033)
#define STATUS_OBJECT_NAME_NOT_FOUND   ((NTSTATUS)0xC0000034)
#define STATUS_OBJECT_NAME_COLLISION   ((NTSTATUS)0xC0000035)
#define STATUS_OBJECT_PATH_NOT_FOUND   ((NTSTATUS)0xC000003A)
#define STATUS_SHARING_VIOLATION       ((NTSTATUS)0xC0000043)
#define STATUS_MUTANT_NOT_OWNED        ((NTSTATUS)0xC0000046)
#define STATUS_FILE_LOCK_CONFLICT      ((NTSTATUS)0xC0000054)
#define STATUS_LOCK_NOT_GRANTED        ((NTSTATUS)0xC0000055)
#define STATUS_DELETE_PENDING          ((NTSTATUS)0xC0000056)
#define STATUS_RANGE_NOT_LOCKED        ((NTSTATUS)0xC000007E)
#define STATUS_SECTION_TOO_BIG         ((NTSTATUS)0xC0000040)
#define STATUS_MAPPED_FILE_SIZE_ZERO   ((NTSTATUS)0xC000011E)
#define STATUS_CANNOT_DELETE           ((NTSTATUS)0xC0000121)
#define STATUS_FILE_IS_A_DIRECTORY     ((NTSTATUS)0xC00000BA)
#define STATUS_NOT_IMPLEMENTED         ((NTSTATUS)0xC0000002)

/* ---- access rights ---------------------------------------------------- */
#define DELETE                    0x00010000u
#define READ_CONTROL              0x00020000u
#define SYNCHRONIZE               0x00100000u
#define STANDARD_RIGHTS_REQUIRED  0x000F0000u
#define GENERIC_READ              0x80000000u
#define GENERIC_WRITE             0x40000000u
#define GENERIC_ALL               0x10000000u

#define FILE_READ_DATA            0x0001u
#define FILE_WRITE_DATA           0x0002u
#define FILE_APPEND_DATA          0x0004u
#define FILE_READ_ATTRIBUTES      0x0080u
#define FILE_WRITE_ATTRIBUTES     0x0100u

#define SECTION_QUERY             0x0001u
#define SECTION_MAP_WRITE         0x0002u
#define SECTION_MAP_READ          0x0004u
#define SECTION_ALL_ACCESS        0x000F001Fu

#define MUTANT_QUERY_STATE        0x0001u
#define MUTANT_ALL_ACCESS         0x001F0001u
#define EVENT_QUERY_STATE         0x0001u
#define EVENT_MODIFY_STATE        0x0002u
#define EVENT_ALL_ACCESS          0x001F0003u

/* ---- object attributes ------------------------------------------------- */
#define OBJ_INHERIT               0x00000002u
#define OBJ_CASE_INSENSITIVE      0x00000040u
#define OBJ_OPENIF                0x00000080u
#define OBJ_EXCLUSIVE             0x00000020u

typedef struct UNICODE_STRING {
    uint16_t Length;          /* bytes, without a terminator */
    uint16_t MaximumLength;   /* bytes */
    WCHAR_NT *Buffer;
} UNICODE_STRING;

typedef struct OBJECT_ATTRIBUTES {
    uint32_t Length;
    HANDLE RootDirectory;
    UNICODE_STRING *ObjectName;
    uint32_t Attributes;
    void *SecurityDescriptor;
    void *SecurityQualityOfService;
} OBJECT_ATTRIBUTES;

static inline void nt_init_attributes(OBJECT_ATTRIBUTES *oa, UNICODE_STRING *name, uint32_t attributes,
                                      void *security_descriptor) {
    oa->Length = sizeof(*oa);
    oa->RootDirectory = 0;
    oa->ObjectName = name;
    oa->Attributes = attributes;
    oa->SecurityDescriptor = security_descriptor;
    oa->SecurityQualityOfService = 0;
}

typedef union LARGE_INTEGER {
    struct { uint32_t LowPart; int32_t HighPart; } u;
    int64_t QuadPart;
} LARGE_INTEGER;

typedef struct IO_STATUS_BLOCK {
    union { NTSTATUS Status; void *Pointer; } u;
    uintptr_t Information;
} IO_STATUS_BLOCK;

typedef struct CLIENT_ID {
    HANDLE UniqueProcess;
    HANDLE UniqueThread;
} CLIENT_ID;

/* ---- files ---------------------------------------------------------------- */
#define FILE_SHARE_READ           0x00000001u
#define FILE_SHARE_WRITE          0x00000002u
#define FILE_SHARE_DELETE         0x00000004u
#define FILE_ATTRIBUTE_NORMAL     0x00000080u

#define FILE_SUPERSEDE            0u
#define FILE_OPEN                 1u
#define FILE_CREATE               2u
#define FILE_OPEN_IF              3u

#define FILE_NON_DIRECTORY_FILE       0x00000040u
#define FILE_SYNCHRONOUS_IO_NONALERT  0x00000020u
#define FILE_OPEN_REPARSE_POINT       0x00200000u

typedef enum FILE_INFORMATION_CLASS {
    FileBasicInformation = 4,
    FileStandardInformation = 5,
    FileInternalInformation = 6,
    FileDispositionInformation = 13,
    FileEndOfFileInformation = 20,
} FILE_INFORMATION_CLASS;

typedef struct FILE_STANDARD_INFORMATION {
    LARGE_INTEGER AllocationSize;
    LARGE_INTEGER EndOfFile;
    uint32_t NumberOfLinks;
    uint8_t DeletePending;
    uint8_t Directory;
} FILE_STANDARD_INFORMATION;

typedef struct FILE_INTERNAL_INFORMATION {
    LARGE_INTEGER IndexNumber;   /* the inode number under Wine */
} FILE_INTERNAL_INFORMATION;

typedef struct FILE_END_OF_FILE_INFORMATION {
    LARGE_INTEGER EndOfFile;
} FILE_END_OF_FILE_INFORMATION;

typedef struct FILE_DISPOSITION_INFORMATION {
    uint8_t DeleteFile;
} FILE_DISPOSITION_INFORMATION;

/* ---- sections --------------------------------------------------------- */
#define PAGE_READONLY             0x02u
#define PAGE_READWRITE            0x04u
#define SEC_COMMIT                0x08000000u
#define MEM_RELEASE               0x00008000u

typedef enum SECTION_INHERIT { ViewShare = 1, ViewUnmap = 2 } SECTION_INHERIT;

/* ---- events and waits --------------------------------------------------- */
typedef enum EVENT_TYPE { NotificationEvent = 0, SynchronizationEvent = 1 } EVENT_TYPE;

typedef enum MUTANT_INFORMATION_CLASS { MutantBasicInformation = 0 } MUTANT_INFORMATION_CLASS;
typedef struct MUTANT_BASIC_INFORMATION {
    int32_t CurrentCount;     /* 1 free, <= 0 held */
    uint8_t OwnedByCaller;
    uint8_t AbandonedState;
} MUTANT_BASIC_INFORMATION;

/* ---- processes ------------------------------------------------------------ */
#define NtCurrentProcess() ((HANDLE)(intptr_t)-1)
#define NtCurrentThread()  ((HANDLE)(intptr_t)-2)

typedef enum PROCESSINFOCLASS {
    ProcessBasicInformation = 0,
    ProcessTimes = 4,
} PROCESSINFOCLASS;

typedef struct KERNEL_USER_TIMES {
    LARGE_INTEGER CreateTime;
    LARGE_INTEGER ExitTime;
    LARGE_INTEGER KernelTime;
    LARGE_INTEGER UserTime;
} KERNEL_USER_TIMES;

/* The start of the TEB, as far as the backend reads it (x86_64 offsets). */
typedef struct NT_TEB_PREFIX {
    void *ExceptionList;       /* 0x00 NT_TIB */
    void *StackBase;
    void *StackLimit;
    void *SubSystemTib;
    void *FiberData;
    void *ArbitraryUserPointer;
    void *Self;                /* 0x30 */
    void *EnvironmentPointer;  /* 0x38 */
    CLIENT_ID ClientId;        /* 0x40 */
    void *ActiveRpcHandle;     /* 0x50 */
    void *ThreadLocalStoragePointer; /* 0x58 */
    struct NT_PEB_PREFIX *ProcessEnvironmentBlock; /* 0x60 */
} NT_TEB_PREFIX;

typedef struct NT_RTL_USER_PROCESS_PARAMETERS_PREFIX {
    uint32_t MaximumLength;
    uint32_t Length;
    uint32_t Flags;
    uint32_t DebugFlags;
    HANDLE ConsoleHandle;
    uint32_t ConsoleFlags;
    HANDLE StandardInput;
    HANDLE StandardOutput;
    HANDLE StandardError;
    UNICODE_STRING CurrentDirectoryPath;
    HANDLE CurrentDirectoryHandle;
    UNICODE_STRING DllPath;
    UNICODE_STRING ImagePathName;
    UNICODE_STRING CommandLine;
} NT_RTL_USER_PROCESS_PARAMETERS_PREFIX;

typedef struct NT_PEB_PREFIX {
    uint8_t InheritedAddressSpace;
    uint8_t ReadImageFileExecOptions;
    uint8_t BeingDebugged;
    uint8_t BitField;
    void *Mutant;
    void *ImageBaseAddress;
    void *Ldr;
    NT_RTL_USER_PROCESS_PARAMETERS_PREFIX *ProcessParameters; /* 0x20 */
    void *SubSystemData;       /* 0x28 */
    void *ProcessHeap;         /* 0x30 */
} NT_PEB_PREFIX;

static inline NT_TEB_PREFIX *nt_current_teb(void) {
    NT_TEB_PREFIX *teb;
    __asm__("movq %%gs:0x30, %0" : "=r"(teb));
    return teb;
}

/* ---- security ----------------------------------------------------------- */
#define SECURITY_DESCRIPTOR_REVISION 1u
#define ACL_REVISION 2u
#define SECURITY_DESCRIPTOR_MIN_LENGTH 40u
#define TOKEN_QUERY 0x0008u
#define OWNER_SECURITY_INFORMATION 0x00000001u
#define DACL_SECURITY_INFORMATION  0x00000004u
#define PROCESS_QUERY_LIMITED_INFORMATION 0x1000u
#define HEAP_ZERO_MEMORY 0x00000008u

typedef enum TOKEN_INFORMATION_CLASS { TokenUser = 1, TokenOwner = 4 } TOKEN_INFORMATION_CLASS;

typedef struct SID_AND_ATTRIBUTES { void *Sid; uint32_t Attributes; } SID_AND_ATTRIBUTES;
typedef struct TOKEN_USER { SID_AND_ATTRIBUTES User; } TOKEN_USER;
typedef struct NT_ACL {
    uint8_t AclRevision;
    uint8_t Sbz1;
    uint16_t AclSize;
    uint16_t AceCount;
    uint16_t Sbz2;
} NT_ACL;

/* ---- ntdll exports ------------------------------------------------------ */
NT_IMPORT NTSTATUS NTAPI NtCreateFile(HANDLE *file, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, IO_STATUS_BLOCK *io,
                                      LARGE_INTEGER *allocation, uint32_t attributes, uint32_t share,
                                      uint32_t disposition, uint32_t options, void *ea, uint32_t ea_length);
NT_IMPORT NTSTATUS NTAPI NtLockFile(HANDLE file, HANDLE event, void *apc, void *apc_context, IO_STATUS_BLOCK *io,
                                    LARGE_INTEGER *offset, LARGE_INTEGER *length, uint32_t *key,
                                    uint8_t fail_immediately, uint8_t exclusive);
NT_IMPORT NTSTATUS NTAPI NtUnlockFile(HANDLE file, IO_STATUS_BLOCK *io, LARGE_INTEGER *offset,
                                      LARGE_INTEGER *length, uint32_t *key);
NT_IMPORT NTSTATUS NTAPI NtQueryInformationFile(HANDLE file, IO_STATUS_BLOCK *io, void *info, uint32_t length,
                                                FILE_INFORMATION_CLASS cls);
NT_IMPORT NTSTATUS NTAPI NtSetInformationFile(HANDLE file, IO_STATUS_BLOCK *io, void *info, uint32_t length,
                                              FILE_INFORMATION_CLASS cls);
NT_IMPORT NTSTATUS NTAPI NtWriteFile(HANDLE file, HANDLE event, void *apc, void *apc_context, IO_STATUS_BLOCK *io,
                                     const void *buffer, uint32_t length, LARGE_INTEGER *offset, uint32_t *key);
NT_IMPORT NTSTATUS NTAPI NtReadFile(HANDLE file, HANDLE event, void *apc, void *apc_context, IO_STATUS_BLOCK *io,
                                    void *buffer, uint32_t length, LARGE_INTEGER *offset, uint32_t *key);

NT_IMPORT NTSTATUS NTAPI NtCreateSection(HANDLE *section, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa,
                                         LARGE_INTEGER *maximum_size, uint32_t protection, uint32_t attributes,
                                         HANDLE file);
NT_IMPORT NTSTATUS NTAPI NtOpenSection(HANDLE *section, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa);
NT_IMPORT NTSTATUS NTAPI NtMapViewOfSection(HANDLE section, HANDLE process, void **base, uintptr_t zero_bits,
                                            size_t commit_size, LARGE_INTEGER *offset, size_t *view_size,
                                            SECTION_INHERIT inherit, uint32_t allocation_type, uint32_t protection);
NT_IMPORT NTSTATUS NTAPI NtUnmapViewOfSection(HANDLE process, void *base);

NT_IMPORT NTSTATUS NTAPI NtCreateEvent(HANDLE *event, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, EVENT_TYPE type,
                                       uint8_t initial_state);
NT_IMPORT NTSTATUS NTAPI NtOpenEvent(HANDLE *event, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa);
NT_IMPORT NTSTATUS NTAPI NtSetEvent(HANDLE event, int32_t *previous_state);
NT_IMPORT NTSTATUS NTAPI NtCreateMutant(HANDLE *mutant, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa,
                                        uint8_t initial_owner);
NT_IMPORT NTSTATUS NTAPI NtOpenMutant(HANDLE *mutant, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa);
NT_IMPORT NTSTATUS NTAPI NtReleaseMutant(HANDLE mutant, int32_t *previous_count);
NT_IMPORT NTSTATUS NTAPI NtQueryMutant(HANDLE mutant, MUTANT_INFORMATION_CLASS cls, void *info, uint32_t length,
                                       uint32_t *returned);
NT_IMPORT NTSTATUS NTAPI NtWaitForSingleObject(HANDLE object, uint8_t alertable, LARGE_INTEGER *timeout);
NT_IMPORT NTSTATUS NTAPI NtClose(HANDLE handle);

NT_IMPORT NTSTATUS NTAPI NtQuerySystemTime(LARGE_INTEGER *time);
NT_IMPORT NTSTATUS NTAPI NtQueryPerformanceCounter(LARGE_INTEGER *counter, LARGE_INTEGER *frequency);
NT_IMPORT NTSTATUS NTAPI NtDelayExecution(uint8_t alertable, LARGE_INTEGER *interval);
NT_IMPORT NTSTATUS NTAPI NtYieldExecution(void);
NT_IMPORT NTSTATUS NTAPI NtQueryInformationProcess(HANDLE process, PROCESSINFOCLASS cls, void *info,
                                                   uint32_t length, uint32_t *returned);
NT_IMPORT NTSTATUS NTAPI NtTerminateProcess(HANDLE process, NTSTATUS status);
NT_IMPORT NTSTATUS NTAPI NtOpenProcessToken(HANDLE process, ACCESS_MASK access, HANDLE *token);
NT_IMPORT NTSTATUS NTAPI NtQueryInformationToken(HANDLE token, TOKEN_INFORMATION_CLASS cls, void *info,
                                                 uint32_t length, uint32_t *returned);

NT_IMPORT NTSTATUS NTAPI NtOpenProcess(HANDLE *process, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, CLIENT_ID *id);
NT_IMPORT NTSTATUS NTAPI NtQuerySecurityObject(HANDLE object, uint32_t information, void *descriptor,
                                               uint32_t length, uint32_t *returned);

NT_IMPORT void *NTAPI RtlAllocateHeap(void *heap, uint32_t flags, size_t size);
NT_IMPORT uint8_t NTAPI RtlFreeHeap(void *heap, uint32_t flags, void *p);
NT_IMPORT NTSTATUS NTAPI RtlFlsAlloc(void (NTAPI *callback)(void *), uint32_t *index);
NT_IMPORT NTSTATUS NTAPI RtlFlsGetValue(uint32_t index, void **data);
NT_IMPORT NTSTATUS NTAPI RtlFlsSetValue(uint32_t index, void *data);
NT_IMPORT NTSTATUS NTAPI RtlQueryEnvironmentVariable_U(void *environment, UNICODE_STRING *name,
                                                       UNICODE_STRING *value);
NT_IMPORT NTSTATUS NTAPI RtlGetOwnerSecurityDescriptor(void *descriptor, void **owner, uint8_t *defaulted);
NT_IMPORT NTSTATUS NTAPI RtlGetDaclSecurityDescriptor(void *descriptor, uint8_t *present, NT_ACL **dacl,
                                                      uint8_t *defaulted);
NT_IMPORT uint8_t NTAPI RtlEqualSid(void *a, void *b);
NT_IMPORT uint8_t *NTAPI RtlSubAuthorityCountSid(void *sid);
NT_IMPORT uint32_t *NTAPI RtlSubAuthoritySid(void *sid, uint32_t index);

NT_IMPORT void NTAPI RtlInitUnicodeString(UNICODE_STRING *string, const WCHAR_NT *source);
NT_IMPORT NTSTATUS NTAPI RtlCreateSecurityDescriptor(void *descriptor, uint32_t revision);
NT_IMPORT NTSTATUS NTAPI RtlSetDaclSecurityDescriptor(void *descriptor, uint8_t present, NT_ACL *dacl,
                                                      uint8_t defaulted);
NT_IMPORT NTSTATUS NTAPI RtlSetOwnerSecurityDescriptor(void *descriptor, void *owner, uint8_t defaulted);
NT_IMPORT NTSTATUS NTAPI RtlCreateAcl(NT_ACL *acl, uint32_t length, uint32_t revision);
NT_IMPORT NTSTATUS NTAPI RtlAddAccessAllowedAce(NT_ACL *acl, uint32_t revision, ACCESS_MASK mask, void *sid);
NT_IMPORT uint32_t NTAPI RtlLengthSid(void *sid);
NT_IMPORT uint8_t NTAPI RtlValidSid(void *sid);

/* ---- what mbvipc-agent.exe uses besides (agent/agent_nt.c) ------------------ */
#define STATUS_NO_MORE_ENTRIES         ((NTSTATUS)0x8000001A)
#define STATUS_MORE_ENTRIES_NT         ((NTSTATUS)0x00000105)
#define STATUS_INVALID_CID             ((NTSTATUS)0xC000000B)
#define STATUS_PIPE_BROKEN             ((NTSTATUS)0xC000014B)
#define STATUS_INVALID_INFO_CLASS      ((NTSTATUS)0xC0000003)
#define DIRECTORY_QUERY                0x0001u
#define PROCESS_VM_READ                0x0010u
#define THREAD_QUERY_LIMITED_INFORMATION 0x0800u
#define ProcessImageFileNameClass      27
#define ProcessCommandLineClass        60
#define MutantOwnerInformationClass    1

typedef struct OBJECT_DIRECTORY_INFORMATION {
    UNICODE_STRING Name;
    UNICODE_STRING TypeName;
} OBJECT_DIRECTORY_INFORMATION;

typedef struct SECTION_BASIC_INFORMATION {
    void *BaseAddress;
    uint32_t Attributes;
    LARGE_INTEGER Size;
} SECTION_BASIC_INFORMATION;

typedef struct PROCESS_BASIC_INFORMATION_NT {
    NTSTATUS ExitStatus;          /* STATUS_PENDING while it runs */
    void *PebBaseAddress;
    uintptr_t AffinityMask;
    int32_t BasePriority;
    uintptr_t UniqueProcessId;
    uintptr_t InheritedFromUniqueProcessId;
} PROCESS_BASIC_INFORMATION_NT;

typedef struct RTL_OSVERSIONINFOW_NT {
    uint32_t dwOSVersionInfoSize;
    uint32_t dwMajorVersion;
    uint32_t dwMinorVersion;
    uint32_t dwBuildNumber;
    uint32_t dwPlatformId;
    WCHAR_NT szCSDVersion[128];
} RTL_OSVERSIONINFOW_NT;

NT_IMPORT NTSTATUS NTAPI NtOpenDirectoryObject(HANDLE *dir, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa);
NT_IMPORT NTSTATUS NTAPI NtQueryDirectoryObject(HANDLE dir, void *buffer, uint32_t length, uint8_t single,
                                                uint8_t restart, uint32_t *context, uint32_t *returned);
NT_IMPORT NTSTATUS NTAPI NtQuerySection(HANDLE section, int cls, void *info, size_t length, size_t *returned);
NT_IMPORT NTSTATUS NTAPI NtOpenThread(HANDLE *thread, ACCESS_MASK access, OBJECT_ATTRIBUTES *oa, CLIENT_ID *id);
NT_IMPORT NTSTATUS NTAPI NtReadVirtualMemory(HANDLE process, const void *address, void *buffer, size_t size,
                                             size_t *read);
NT_IMPORT NTSTATUS NTAPI RtlGetVersion(RTL_OSVERSIONINFOW_NT *info);
NT_IMPORT NTSTATUS NTAPI RtlCreateUserThread(HANDLE process, void *descriptor, uint8_t suspended, uint32_t zero_bits,
                                             size_t stack_reserve, size_t stack_commit,
                                             NTSTATUS (NTAPI *start)(void *), void *parameter, HANDLE *thread,
                                             CLIENT_ID *id);

/* ---- the section format's NT additions ------------------------------------ */

/* server_flags bit 3: the section is served by an NT program. Its mutex and
 * events are named NT objects beside the section (the pthread mutex bytes and
 * the futex words are not used for waiting), so a Linux client must not call
 * it; readers show it as usual. Amendment 2 of the format; the same bit as the
 * seam's IPC_PLAT_FLAG_NT_OBJECTS. */
#define MBVIPC_NT_SERVER_FLAG_NT_OBJECTS (1u << 3)

#ifdef __cplusplus
}
#endif
#endif /* MBVIPC_NT_H */
