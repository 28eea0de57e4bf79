/* libFuzzer targets for dfrt's parsers and decoders. Each file defines LLVMFuzzerTestOneInput;
 * built with -Dfuzzing=true (clang) it links libFuzzer, otherwise replay.c runs the committed
 * corpus through it as a regression test. A target returns normally for input that dfrt
 * rejects with an error, and calls FUZZ_ASSERT for any broken promise (which aborts, so the
 * fuzzer records the input as a crash). */
#ifndef DFRT_FUZZ_H
#define DFRT_FUZZ_H

#include "base/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: broken promise: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, " (last error: %s)\n", dfrt_last_error());                            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failure must carry a message that names what it is about. */
#define FUZZ_EXPECT_MESSAGE(status, fragment)                                                      \
    FUZZ_ASSERT((status) == DFRT_OK || strstr(dfrt_last_error(), (fragment)), "status %s",        \
                dfrt_status_string(status))

/* A NUL-terminated copy of the input (JSON parsers that take C strings). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
