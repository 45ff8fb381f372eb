/*
 * ipc_core.c — the protocol of the section format, once for every platform:
 * names, errors and the validation of a section (the client's call step by step
 * is in ipc_core_client.c, the server in ipc_core_server.c). System calls go
 * through the seam (ipc_platform.h); from libc only memcpy, memset and memcmp
 * are used.
 */
#include <stdarg.h>
#include <string.h>

#include "ipc_core.h"

/* The seam's bit for NT objects is the format's server_flags bit 3. */
typedef char nt_objects_bit_is_the_formats[IPC_PLAT_FLAG_NT_OBJECTS == IPCSCOPE_SERVER_NT_OBJECTS ? 1 : -1];

/* MARK: - errors */

static void put_str(struct ipc_plat_error *e, size_t *n, const char *s) {
    while (s && *s && *n + 1 < sizeof e->message) e->message[(*n)++] = *s++;
}

static void put_num(struct ipc_plat_error *e, size_t *n, uint64_t v, unsigned base, int negative) {
    char digits[24];
    int k = 0;
    do {
        digits[k++] = (char)('0' + v % base);
        v /= base;
    } while (v && k < 23);
    if (negative && *n + 1 < sizeof e->message) e->message[(*n)++] = '-';
    while (k > 0 && *n + 1 < sizeof e->message) e->message[(*n)++] = digits[--k];
}

int ipc_fail(int code, const char *fmt, ...) {
    struct ipc_plat_error *e = ipc_plat_thread_error();
    size_t n = 0;
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%' || !f[1]) {
            if (n + 1 < sizeof e->message) e->message[n++] = *f;
            continue;
        }
        switch (*++f) {
        case 's': put_str(e, &n, va_arg(ap, const char *)); break;
        case 'd': {
            int32_t v = va_arg(ap, int32_t);
            put_num(e, &n, v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v, 10, v < 0);
            break;
        }
        case 'u': put_num(e, &n, va_arg(ap, uint32_t), 10, 0); break;
        case 'o': put_num(e, &n, va_arg(ap, uint32_t), 8, 0); break;
        case 'U': put_num(e, &n, va_arg(ap, uint64_t), 10, 0); break;
        default: if (n + 1 < sizeof e->message) e->message[n++] = *f;
        }
    }
    va_end(ap);
    e->message[n] = 0;
    e->code = code;
    return code;
}

void ipc_clear_error(void) {
    struct ipc_plat_error *e = ipc_plat_thread_error();
    e->code = MBV_IPC_OK;
    e->message[0] = 0;
}

int MBV_IPCLastError(void) { return ipc_plat_thread_error()->code; }

const char *MBV_IPCLastErrorMessage(void) {
    struct ipc_plat_error *e = ipc_plat_thread_error();
    return e->code == MBV_IPC_OK ? "no error" : e->message;
}

const char *ipc_plat_code_name(int code) {
    switch (code) {
    case IPC_PLAT_OK: return "ok";
    case IPC_PLAT_EXISTS: return "exists";
    case IPC_PLAT_NOENT: return "no such object";
    case IPC_PLAT_BUSY: return "busy";
    case IPC_PLAT_TIMEDOUT: return "timed out";
    case IPC_PLAT_OWNERDEAD: return "owner died";
    case IPC_PLAT_NOTRECOVERABLE: return "not recoverable";
    case IPC_PLAT_ACCESS: return "permission denied";
    case IPC_PLAT_INVALID: return "invalid";
    case IPC_PLAT_NOMEM: return "out of memory";
    default: return "system error";
    }
}

/* MARK: - names */

static int name_char_ok(uint32_t c, int first) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') return 1;
    return !first && (c == '.' || c == '-');
}

static int name_result(size_t n, int bad, char *out) {
    if (n == 0) return ipc_fail(MBV_IPC_ERR_INVALID_NAME, "the service name is empty: use 1 to 128 of A-Z a-z 0-9 . _ -");
    if (bad || n > IPCSCOPE_NAME_MAX)
        return ipc_fail(MBV_IPC_ERR_INVALID_NAME,
                        "invalid service name '%s': use 1 to 128 of A-Z a-z 0-9 . _ -, not starting with . or -", out);
    return MBV_IPC_OK;
}

int ipc_name_check(const char *name, char out[IPCSCOPE_NAME_MAX + 1]) {
    if (!name) return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "the service name is NULL: pass a name such as \"MyService\"");
    size_t n = 0;
    int bad = 0;
    for (; name[n]; n++) {
        if (!name_char_ok((uint8_t)name[n], n == 0)) bad = 1;
        if (n < IPCSCOPE_NAME_MAX) out[n] = name_char_ok((uint8_t)name[n], 0) ? name[n] : '?';
        if (n > IPCSCOPE_NAME_MAX) break;
    }
    out[n < IPCSCOPE_NAME_MAX ? n : IPCSCOPE_NAME_MAX] = 0;
    return name_result(n, bad, out);
}

int ipc_name_check_wide(const wchar_t *name, char out[IPCSCOPE_NAME_MAX + 1]) {
    if (!name) return ipc_fail(MBV_IPC_ERR_INVALID_ARGUMENT, "the service name is NULL: pass a name such as L\"MyService\"");
    size_t n = 0;
    int bad = 0;
    for (; name[n]; n++) {
        uint32_t c = (uint32_t)name[n];
        if (!name_char_ok(c, n == 0)) bad = 1;
        if (n < IPCSCOPE_NAME_MAX) out[n] = name_char_ok(c, 0) ? (char)c : '?';
        if (n > IPCSCOPE_NAME_MAX) break;
    }
    out[n < IPCSCOPE_NAME_MAX ? n : IPCSCOPE_NAME_MAX] = 0;
    return name_result(n, bad, out);
}

/* MARK: - layout and validation */

void ipc_section_layout(struct ipc_section *s, uint32_t req, uint32_t rsp, uint32_t trace) {
    s->request_offset = ipcscope_request_offset();
    s->request_capacity = req;
    s->response_offset = ipcscope_response_offset(req);
    s->response_capacity = rsp;
    s->trace_offset = ipcscope_trace_offset(req, rsp, trace);
    s->trace_capacity = trace;
}

int ipc_section_validate(struct ipc_section *s) {
    const char *svc = s->service;
    /* Line 0 may change under us: every field is read once into a local. */
    uint8_t magic[8];
    uint64_t word = ipc_load64(s, IPCSCOPE_OFF_MAGIC, IPC_ACQUIRE);
    memcpy(magic, &word, 8);
    uint32_t version = ipc_load32(s, IPCSCOPE_OFF_VERSION, IPC_RELAXED);
    uint32_t header_size = ipc_load32(s, IPCSCOPE_OFF_HEADER_SIZE, IPC_RELAXED);
    uint64_t section_size = ipc_load64(s, IPCSCOPE_OFF_SECTION_SIZE, IPC_RELAXED);
    uint32_t req_off = ipc_load32(s, IPCSCOPE_OFF_REQUEST_OFFSET, IPC_RELAXED);
    uint32_t req_cap = ipc_load32(s, IPCSCOPE_OFF_REQUEST_CAPACITY, IPC_RELAXED);
    uint32_t rsp_off = ipc_load32(s, IPCSCOPE_OFF_RESPONSE_OFFSET, IPC_RELAXED);
    uint32_t rsp_cap = ipc_load32(s, IPCSCOPE_OFF_RESPONSE_CAPACITY, IPC_RELAXED);
    uint32_t tr_off = ipc_load32(s, IPCSCOPE_OFF_TRACE_OFFSET, IPC_RELAXED);
    uint32_t tr_cap = ipc_load32(s, IPCSCOPE_OFF_TRACE_CAPACITY, IPC_RELAXED);
    uint32_t mutex_off = ipc_load32(s, IPCSCOPE_OFF_MUTEX_OFFSET, IPC_RELAXED);

    if (memcmp(magic, IPCSCOPE_MAGIC, 8) != 0)
        return ipc_fail(MBV_IPC_ERR_CORRUPT,
                        "/dev/shm/ipcscope.%s is not an ipcscope section (bad magic): remove it with 'ipcscope clean %s'",
                        svc, svc);
    if (version != IPCSCOPE_VERSION)
        return ipc_fail(MBV_IPC_ERR_INCOMPATIBLE, "section '%s' is format version %u, this library speaks version %u",
                        svc, version, (uint32_t)IPCSCOPE_VERSION);
    if (header_size != IPCSCOPE_HEADER_SIZE || mutex_off != IPCSCOPE_MUTEX_OFFSET)
        return ipc_fail(MBV_IPC_ERR_INCOMPATIBLE, "section '%s' has header size %u and mutex offset %u, expected 512 and 128",
                        svc, header_size, mutex_off);
    int sizes_ok = req_cap <= IPCSCOPE_MAX_CAPACITY && rsp_cap <= IPCSCOPE_MAX_CAPACITY &&
                   tr_cap <= IPCSCOPE_MAX_TRACE_CAPACITY && (tr_cap & (tr_cap - 1)) == 0;
    if (sizes_ok)
        sizes_ok = req_off == ipcscope_request_offset() && rsp_off == ipcscope_response_offset(req_cap) &&
                   tr_off == ipcscope_trace_offset(req_cap, rsp_cap, tr_cap) &&
                   section_size == ipcscope_section_size(req_cap, rsp_cap, tr_cap);
    if (!sizes_ok)
        return ipc_fail(MBV_IPC_ERR_CORRUPT,
                        "section '%s' has inconsistent sizes (request %u, response %u, trace %u, total %U): "
                        "remove it with 'ipcscope clean %s'", svc, req_cap, rsp_cap, tr_cap, section_size, svc);
    if (section_size != s->size)
        return ipc_fail(MBV_IPC_ERR_CORRUPT, "section '%s' says it is %U bytes but the object is %U (truncated?): "
                        "remove it with 'ipcscope clean %s'", svc, section_size, s->size, svc);
    ipc_section_layout(s, req_cap, rsp_cap, tr_cap);
    return MBV_IPC_OK;
}
