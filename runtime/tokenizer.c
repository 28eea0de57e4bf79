/* Placeholder: the tokenizer is being written (issue 4). */
#include "internal.h"

dfrt_status dfrt_tokenizer_load(const char *path, dfrt_tokenizer **out) {
    *out = NULL;
    return dfrt_fail(DFRT_UNSUPPORTED, "%s: tokenizer not implemented yet", path ? path : "(null)");
}
void dfrt_tokenizer_free(dfrt_tokenizer *t) { (void)t; }
int32_t dfrt_tokenizer_vocab_size(const dfrt_tokenizer *t) { (void)t; return 0; }
dfrt_status dfrt_tokenizer_encode(const dfrt_tokenizer *t, const char *text, size_t len, int32_t **out_ids, size_t *out_count) {
    (void)t; (void)text; (void)len; *out_ids = NULL; *out_count = 0;
    return dfrt_fail(DFRT_UNSUPPORTED, "tokenizer not implemented yet");
}
dfrt_status dfrt_tokenizer_decode(const dfrt_tokenizer *t, const int32_t *ids, size_t n, char **out_text, size_t *out_len) {
    (void)t; (void)ids; (void)n; *out_text = NULL; *out_len = 0;
    return dfrt_fail(DFRT_UNSUPPORTED, "tokenizer not implemented yet");
}
dfrt_status dfrt_tokenizer_token_bytes(const dfrt_tokenizer *t, int32_t id, const char **out_bytes, size_t *out_len) {
    (void)t; (void)id; *out_bytes = NULL; *out_len = 0;
    return dfrt_fail(DFRT_UNSUPPORTED, "tokenizer not implemented yet");
}
int32_t dfrt_tokenizer_find(const dfrt_tokenizer *t, const char *token) { (void)t; (void)token; return -1; }
