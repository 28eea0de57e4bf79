/* config.json, its dfloat11_config and pattern_dict (compiled and matched against module
 * names: no pattern may hang or crash the loader), the executor's config checks, and the same
 * input as a --pattern-dict argument. */
#include "format/checkpoint_internal.h"
#include "fuzz.h"
#include "model/model_internal.h"

static const char *const names[] = {
    "lm_head", "model.embed_tokens", "model.layers.0", "model.layers.31", "model.layers.0.self_attn.q_proj",
    "model.layers.12.mlp.down_proj", "model.norm", "", "model.layers.\xff", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
};

static void match_all(int n_patterns, const dfrt_df11_pattern *patterns) {
    dfrt_matcher *m;
    dfrt_status s = dfrt_matcher_create(n_patterns, patterns, "fuzz/config.json", &m);
    FUZZ_EXPECT_MESSAGE(s, "fuzz/config.json");
    if (s != DFRT_OK) return;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int index;
        s = dfrt_matcher_match(m, names[i], &index);
        FUZZ_EXPECT_MESSAGE(s, "fuzz/config.json");
        FUZZ_ASSERT(s != DFRT_OK || (index >= -1 && index < n_patterns), "match index %d", index);
    }
    dfrt_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstring(data, size);
    dfrt_config *c;
    dfrt_status s = dfrt_config_parse(text, size, "fuzz/config.json", &c);
    FUZZ_EXPECT_MESSAGE(s, "fuzz/config.json");
    if (s == DFRT_OK) {
        if (c->n_patterns) {
            match_all(c->n_patterns, c->patterns);
        } else {
            int n;
            dfrt_df11_pattern *p;
            if (dfrt_default_patterns(c, &n, &p) == DFRT_OK) {
                match_all(n, p);
                dfrt_patterns_free(n, p);
            }
        }
        if (dfrt_model_check_config(c, "fuzz") == DFRT_OK) {
            FUZZ_ASSERT(c->hidden_size > 0 && c->n_heads % c->n_kv_heads == 0 && c->head_dim % 2 == 0,
                        "accepted dimensions");
            int64_t shape[2];
            for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                if (dfrt_weight_shape(c, names[i], shape)) FUZZ_ASSERT(shape[0] > 0 && shape[1] > 0, "weight shape");
            FUZZ_ASSERT(dfrt_weight_shape(c, "model.layers.0.mlp.down_proj.weight", shape) &&
                            shape[0] == c->hidden_size && shape[1] == c->intermediate_size,
                        "down_proj shape");
        }
        dfrt_config_free(c);
    }
    int n;
    dfrt_df11_pattern *p;
    s = dfrt_pattern_dict_parse(text, "--pattern-dict", &n, &p);
    FUZZ_EXPECT_MESSAGE(s, "--pattern-dict");
    if (s == DFRT_OK) {
        match_all(n, p);
        dfrt_patterns_free(n, p);
    }
    free(text);
    return 0;
}
