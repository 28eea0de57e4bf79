/* Status codes and the thread-local error message. */
#include "internal.h"

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
    snprintf(error_message, sizeof error_message, "%s", message ? message : "");
}

dfrt_status dfrt_fail(dfrt_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
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
    return status;
}
