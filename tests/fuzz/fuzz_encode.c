/* Encoding arbitrary bytes with the shipped model's tokenizer. Invalid UTF-8 is refused with the
 * byte it is at; valid text encodes to ids that decode back to the text (after NFC, which the
 * tokenizer applies). */
#include "fuzz.h"
#include "text/tokenizer_internal.h"

#include <utf8proc.h>

static dfrt_tokenizer *tokenizer(void) {
    static dfrt_tokenizer *t;
    if (!t && dfrt_tokenizer_load(DFRT_MODEL_DIR, &t) != DFRT_OK) {
        fprintf(stderr, "fuzz_encode: %s\n", dfrt_last_error());
        abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const dfrt_tokenizer *t = tokenizer();
    int32_t *ids;
    size_t n;
    dfrt_status s = dfrt_tokenizer_encode(t, (const char *)data, size, &ids, &n);
    size_t bad = dfrt_utf8_invalid_at((const char *)data, size);
    if (bad < size) {
        FUZZ_ASSERT(s == DFRT_INVALID_ARGUMENT && strstr(dfrt_last_error(), "invalid UTF-8"),
                    "invalid UTF-8 at byte %zu: status %s", bad, dfrt_status_string(s));
        return 0;
    }
    FUZZ_ASSERT(s == DFRT_OK, "valid UTF-8 of %zu bytes did not encode", size);
    char *back;
    size_t len;
    FUZZ_ASSERT(dfrt_tokenizer_decode(t, ids, n, &back, &len) == DFRT_OK, "decoding %zu ids", n);
    /* Text that NFC leaves as it is comes back byte for byte. */
    char *text = fuzz_cstring(data, size);
    utf8proc_uint8_t *nfc = memchr(text, 0, size) ? NULL : utf8proc_NFC((const utf8proc_uint8_t *)text);
    if (nfc && strcmp((const char *)nfc, text) == 0)
        FUZZ_ASSERT(len == size && memcmp(back, data, size) == 0, "%zu bytes came back as %zu different bytes", size,
                    len);
    free(nfc);
    free(text);
    free(back);
    free(ids);
    return 0;
}
