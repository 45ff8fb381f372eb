/*
 * sd_probe.c — what security descriptor the NT backend gave a service's objects.
 *
 *   sd_probe.exe SERVICE
 *
 * For the Section, the Mutant ".mutex" and the Events ".request" and ".response" under
 * \BaseNamedObjects\, prints one line "NAME owner=self|other aces=N sid=self|other" (the
 * owner SID compared with this process's user; the DACL's entry count and, when it has one
 * entry, whose SID it grants), or "NAME missing STATUS".
 */
#include "nt.h"
#include "nt_start.h"

typedef struct { uint8_t type, flags; uint16_t size; uint32_t mask; uint32_t sid_start; } ace_t;

int main(int argc, char **argv) {
    const char *service = argc > 1 ? argv[1] : "MyService";
    static const char *const suffix[4] = {"", ".mutex", ".request", ".response"};
    uint8_t user[128];
    uint32_t got = 0;
    HANDLE token = 0;
    NtOpenProcessToken(NtCurrentProcess(), TOKEN_QUERY, &token);
    NtQueryInformationToken(token, TokenUser, user, sizeof user, &got);
    void *me = ((TOKEN_USER *)(void *)user)->User.Sid;
    for (int i = 0; i < 4; i++) {
        WCHAR_NT buf[200];
        size_t n = 0;
        const char *parts[4] = {"\\BaseNamedObjects\\ipcscope.", service, suffix[i], ""};
        for (int k = 0; k < 4; k++)
            for (const char *c = parts[k]; *c && n < 199; c++) buf[n++] = (WCHAR_NT)(uint8_t)*c;
        buf[n] = 0;
        UNICODE_STRING u;
        OBJECT_ATTRIBUTES oa;
        RtlInitUnicodeString(&u, buf);
        nt_init_attributes(&oa, &u, 0, 0);
        HANDLE h = 0;
        NTSTATUS st = i == 0 ? NtOpenSection(&h, READ_CONTROL, &oa)
                    : i == 1 ? NtOpenMutant(&h, READ_CONTROL, &oa) : NtOpenEvent(&h, READ_CONTROL, &oa);
        printf("ipcscope.%s%s ", service, suffix[i]);
        if (!NT_SUCCESS(st)) {
            printf("missing %x\n", (unsigned)st);
            continue;
        }
        uint8_t sd[512];
        st = NtQuerySecurityObject(h, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, sd, sizeof sd, &got);
        NtClose(h);
        void *owner = 0;
        uint8_t present = 0, defaulted = 0;
        NT_ACL *dacl = 0;
        RtlGetOwnerSecurityDescriptor(sd, &owner, &defaulted);
        RtlGetDaclSecurityDescriptor(sd, &present, &dacl, &defaulted);
        int aces = present && dacl ? dacl->AceCount : -1;
        const char *grantee = "-";
        if (aces == 1) {
            ace_t *ace = (ace_t *)(void *)(dacl + 1);
            grantee = RtlEqualSid(&ace->sid_start, me) ? "self" : "other";
        }
        printf("owner=%s aces=%d sid=%s\n", owner && RtlEqualSid(owner, me) ? "self" : "other", aces, grantee);
    }
    return 0;
}
