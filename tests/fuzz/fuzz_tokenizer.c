/* tokenizer.json loading; a tokenizer that loads then encodes and decodes a few texts (hostile
 * Split regexes and added tokens included: encoding must end, with ids or an error). */
#include "fuzz.h"
#include "text/tokenizer_internal.h"

static const char *const texts[] = {
    "And the LORD said unto Moses,",
    "  leading spaces, tabs\t\tand\nnewlines\r\n",
    "<|im_start|>user\nHi<|im_end|>",
    "caf\xc3\xa9 cafe\xcc\x81 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 123456789 don't I'm",
    "bad \xff utf-8",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dfrt_tokenizer *t;
    dfrt_status s = dfrt_tokenizer_parse((const char *)data, size, "fuzz/tokenizer.json", &t);
    FUZZ_EXPECT_MESSAGE(s, "fuzz/tokenizer.json");
    if (s != DFRT_OK) return 0;
    int32_t vocab = dfrt_tokenizer_vocab_size(t);
    FUZZ_ASSERT(vocab > 0, "vocabulary of %d", vocab);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t *ids;
        size_t n;
        s = dfrt_tokenizer_encode(t, texts[i], strlen(texts[i]), &ids, &n);
        if (strstr(texts[i], "\xff")) FUZZ_ASSERT(s == DFRT_INVALID_ARGUMENT, "invalid UTF-8 was encoded");
        if (s != DFRT_OK) continue;
        for (size_t k = 0; k < n; k++) FUZZ_ASSERT(ids[k] >= 0 && ids[k] < vocab, "id %d of %d", ids[k], vocab);
        char *back;
        size_t len;
        FUZZ_ASSERT(dfrt_tokenizer_decode(t, ids, n, &back, &len) == DFRT_OK, "decoding its own ids");
        free(back);
        free(ids);
    }
    /* every id: bytes or a clear error */
    for (int32_t id = 0; id < vocab && id < 4096; id++) {
        const char *bytes;
        size_t len;
        s = dfrt_tokenizer_token_bytes(t, id, &bytes, &len);
        FUZZ_EXPECT_MESSAGE(s, "id");
    }
    dfrt_tokenizer_free(t);
    return 0;
}
