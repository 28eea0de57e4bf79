/* Status codes and the thread-local error message. */
#include "base/internal.h"

#define DFRT_ERROR_CAPACITY 2048

static _Thread_local char error_message[DFRT_ERROR_CAPACITY];

const char *dfrt_status_string(dfrt_status status) {
    switch (status) {
    case DFRT_OK: return "ok";
    case DFRT_INVALID_ARGUMENT: return "invalid argument";
    case DFRT_FORMAT_ERROR: return "format error";
    case DFRT_IO_ERROR: return "I/O error";
    case DFRT_OUT_OF_MEMORY: return "out of memory";
    case DFRT_UNSUPPORTED: return "unsupported";
    case DFRT_UNAVAILABLE: return "unavailable";
    case DFRT_DEVICE_ERROR: return "device error";
    case DFRT_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

const char *dfrt_last_error(void) { return error_message; }

const char *dfrt_version(void) { return DFRT_VERSION_STRING; }

void dfrt_clear_error(void) { error_message[0] = '\0'; }

void dfrt_set_error_message(const char *message) {
    dfrt_escape(error_message, sizeof error_message, message);
}

size_t dfrt_escape(char *out, size_t size, const char *s) {
    size_t len = 0, written = 0;
    bool full = false;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t left = strlen((const char *)p);
    while (left) {
        uint32_t cp = 0;
        size_t bad, n = dfrt_utf8_char(p, left, &cp, &bad);
        char esc[16];
        const char *piece = (const char *)p;
        size_t piece_len = n;
        if (n == 0 || cp < 0x20 || cp == 0x7F) { /* a control character or a byte outside UTF-8 */
            snprintf(esc, sizeof esc, "\\x%02X", p[0]);
            piece = esc;
            piece_len = 4;
            n = 1;
        } else if ((cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
            /* C1 controls (0x9B is a terminal's CSI) and bidirectional overrides */
            piece_len = (size_t)snprintf(esc, sizeof esc, "\\u{%04X}", (unsigned)cp);
            piece = esc;
        }
        /* whole pieces only, so that a cut never splits a character or an escape */
        if (!full && size && written + piece_len <= size - 1) {
            memcpy(out + written, piece, piece_len);
            written += piece_len;
        } else {
            full = true;
        }
        len += piece_len;
        p += n;
        left -= n;
    }
    if (size) out[written] = '\0';
    return len;
}

/* Escapes the message in place (through a copy): every message may carry names from files. */
static void escape_message(void) {
    char raw[DFRT_ERROR_CAPACITY];
    memcpy(raw, error_message, sizeof raw);
    dfrt_escape(error_message, sizeof error_message, raw);
}

dfrt_status dfrt_fail(dfrt_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    escape_message();
    return status;
}

static void default_warning(void *user, const char *message) {
    DFRT_UNUSED(user);
    fprintf(stderr, "dfrt: warning: %s\n", message);
}

static dfrt_warning_fn warning_fn = default_warning;
static void *warning_user;

void dfrt_set_warning_handler(dfrt_warning_fn fn, void *user) {
    warning_fn = fn ? fn : default_warning;
    warning_user = fn ? user : NULL;
}

void dfrt_warn(const char *fmt, ...) {
    char raw[DFRT_ERROR_CAPACITY], escaped[DFRT_ERROR_CAPACITY];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    dfrt_escape(escaped, sizeof escaped, raw);
    warning_fn(warning_user, escaped);
}

dfrt_status dfrt_fail_prefix(dfrt_status status, const char *fmt, ...) {
    char previous[DFRT_ERROR_CAPACITY];
    memcpy(previous, error_message, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : DFRT_MIN((size_t)n, sizeof error_message - 1);
    size_t room = sizeof error_message - 1 - len;
    size_t add = DFRT_MIN(strlen(previous) + 2, room);
    char joined[DFRT_ERROR_CAPACITY + 2] = ": ";
    memcpy(joined + 2, previous, strlen(previous) + 1);
    memcpy(error_message + len, joined, add);
    error_message[len + add] = '\0';
    escape_message();
    return status;
}
