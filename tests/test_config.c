/* config.json (both transformers schemas), dfloat11_config, pattern_dict matching. */
#include "test.h"

static dfrt_status parse(const char *json, dfrt_config **c) {
    return dfrt_config_parse(json, strlen(json), "config.json", c);
}

static void test_schemas(void) {
    const char *v4 = "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
                     "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
                     "\"num_key_value_heads\":8,\"vocab_size\":128256,\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,"
                     "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                     "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"torch_dtype\":\"bfloat16\","
                     "\"bos_token_id\":128000,\"eos_token_id\":[128001,128008,128009],\"tie_word_embeddings\":false}";
    dfrt_config *c = NULL;
    CHECK_OK(parse(v4, &c));
    if (c) {
        CHECK(strcmp(c->architecture, "LlamaForCausalLM") == 0 && strcmp(c->dtype, "bfloat16") == 0);
        CHECK(c->hidden_size == 4096 && c->n_layers == 32 && c->n_heads == 32 && c->n_kv_heads == 8);
        CHECK(c->head_dim == 128); /* derived */
        CHECK(c->rope_theta == 500000.0 && c->rope_type == DFRT_ROPE_LLAMA3 && c->rope_factor == 8.0);
        CHECK(c->rope_low_freq_factor == 1.0 && c->rope_high_freq_factor == 4.0 && c->rope_original_max_position == 8192);
        CHECK(c->rms_norm_eps == 1e-5 && c->bos_token_id == 128000);
        CHECK(c->n_eos == 3 && c->eos_token_ids[2] == 128009);
        CHECK(!c->is_df11 && !c->tie_word_embeddings);
        dfrt_config_free(c);
    }
    /* 5.x: rope_parameters and dtype; the shipped model uses it. */
    CHECK_OK(dfrt_config_load(test_model_dir(), &c));
    if (c) {
        CHECK(strcmp(c->architecture, "Qwen3ForCausalLM") == 0 && strcmp(c->dtype, "bfloat16") == 0);
        CHECK(c->rope_theta == 10000.0 && c->rope_type == DFRT_ROPE_DEFAULT && c->head_dim == 64);
        CHECK(c->n_kv_heads == 2 && c->vocab_size == 4096 && c->n_eos == 1 && c->eos_token_ids[0] == 0);
        CHECK(c->is_df11 && strcmp(c->df11_version, "0.5.0") == 0 && c->n_patterns == 3);
        CHECK(strcmp(c->patterns[2].regex, "model\\.layers\\.\\d+") == 0 && c->patterns[2].n_attrs == 7);
        CHECK(strcmp(c->patterns[2].attrs[6], "mlp.down_proj") == 0 && c->patterns[0].n_attrs == 0);
        dfrt_config_free(c);
    }
    CHECK_OK(parse("{\"architectures\":[\"Qwen2ForCausalLM\"],\"rope_parameters\":{\"rope_theta\":1e6,\"rope_type\":\"yarn\"}}", &c));
    if (c) {
        CHECK(c->attention_bias && c->rope_theta == 1e6 && c->rope_type == DFRT_ROPE_OTHER);
        CHECK(strcmp(c->rope_type_name, "yarn") == 0);
        dfrt_config_free(c);
    }
    /* sliding windows: used (Mistral, Phi-3), or carried and turned off (Qwen2, the DeepSeek
     * distills); LongRoPE's factors (Phi-3), partial rotary */
    CHECK_OK(parse("{\"sliding_window\": 4096}", &c));
    if (c) CHECK(c->sliding_window == 4096 && c->partial_rotary_factor == 1.0);
    dfrt_config_free(c);
    CHECK_OK(parse("{\"sliding_window\": 4096, \"use_sliding_window\": false}", &c));
    if (c) CHECK(c->sliding_window == 0);
    dfrt_config_free(c);
    CHECK_OK(parse("{\"partial_rotary_factor\": 0.75, \"original_max_position_embeddings\": 4096, \"rope_scaling\": "
                   "{\"type\": \"longrope\", \"short_factor\": [1, 1.5], \"long_factor\": [2, 3]}}", &c));
    if (c)
        CHECK(c->rope_type == DFRT_ROPE_LONGROPE && c->rope_n_factors == 2 && c->rope_long_factor[1] == 3 &&
              c->rope_short_factor[1] == 1.5 && c->rope_original_max_position == 4096 && c->partial_rotary_factor == 0.75);
    dfrt_config_free(c);
    CHECK_ERROR(parse("{\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1, 0]}}", &c), DFRT_FORMAT_ERROR,
                "\"rope_scaling.short_factor\"[1] must be a positive number");
    CHECK_ERROR(parse("{\"rope_scaling\": {\"short_factor\": [1], \"long_factor\": [1, 2]}}", &c), DFRT_FORMAT_ERROR,
                "differ in length (1, 2)");
    CHECK_ERROR(parse("{\"hidden_size\": \"big\"}", &c), DFRT_FORMAT_ERROR, "config.json: \"hidden_size\" must be an integer");
    CHECK_ERROR(parse("{\"hidden_size\": 1.5}", &c), DFRT_FORMAT_ERROR, "\"hidden_size\"");
    CHECK_ERROR(parse("{\"eos_token_id\": \"x\"}", &c), DFRT_FORMAT_ERROR, "eos_token_id");
    CHECK_ERROR(parse("{\"architectures\": 3}", &c), DFRT_FORMAT_ERROR, "architectures");
    CHECK_ERROR(parse("{\"rms_norm_eps\": -1}", &c), DFRT_FORMAT_ERROR, "rms_norm_eps");
    CHECK_ERROR(parse("{", &c), DFRT_FORMAT_ERROR, "config.json: not valid JSON");
    CHECK_ERROR(parse("{}\n}", &c), DFRT_FORMAT_ERROR, "config.json: not valid JSON"); /* trailing bytes */
    CHECK_ERROR(parse("[]", &c), DFRT_FORMAT_ERROR, "not a JSON object");
    CHECK_ERROR(dfrt_config_load("/nonexistent-dir", &c), DFRT_IO_ERROR, "/nonexistent-dir/config.json: cannot open");
}

/* Token ids past the vocabulary are refused, including ones past 2^32 that used to wrap. */
/* Gemma 3: the image-text releases' config.json gives its text model in text_config, only where
 * it differs from Gemma3TextConfig's defaults (gemma-3-4b-it's, as published); transformers 5.x
 * writes every field, with rope_parameters per layer type and layer_types. */
static void test_gemma3(void) {
    dfrt_config *c = NULL;
    CHECK_OK(parse("{\"architectures\": [\"Gemma3ForConditionalGeneration\"], \"boi_token_index\": 255999, "
                   "\"eoi_token_index\": 256000, \"eos_token_id\": [1, 106], \"image_token_index\": 262144, "
                   "\"mm_tokens_per_image\": 256, \"model_type\": \"gemma3\", \"text_config\": {\"hidden_size\": 2560, "
                   "\"intermediate_size\": 10240, \"model_type\": \"gemma3_text\", \"num_hidden_layers\": 34, "
                   "\"rope_scaling\": {\"factor\": 8.0, \"rope_type\": \"linear\"}, \"sliding_window\": 1024}, "
                   "\"torch_dtype\": \"bfloat16\", \"vision_config\": {\"hidden_size\": 1152, \"num_hidden_layers\": 27}}",
                   &c));
    if (c) {
        CHECK(c->hidden_size == 2560 && c->intermediate_size == 10240 && c->n_layers == 34 && c->n_heads == 8 &&
              c->n_kv_heads == 4 && c->head_dim == 256 && c->vocab_size == 262208 && c->query_pre_attn_scalar == 256);
        CHECK(c->tie_word_embeddings && c->rms_norm_eps == 1e-6 && strcmp(c->hidden_act, "gelu_pytorch_tanh") == 0);
        CHECK(c->rope_theta == 1e6 && c->rope_type == DFRT_ROPE_LINEAR && c->rope_factor == 8 && c->rope_local_theta == 1e4);
        CHECK(c->sliding_window == 1024 && c->n_layer_types == 34 && c->layer_sliding[0] && c->layer_sliding[4] &&
              !c->layer_sliding[5] && c->layer_sliding[6] && !c->layer_sliding[11]);
        CHECK(c->bos_token_id == 2 && c->n_eos == 2 && c->eos_token_ids[0] == 1 && c->eos_token_ids[1] == 106);
        CHECK(c->attn_softcap == 0 && c->final_softcap == 0 && strcmp(c->weight_prefix, "model.") == 0);
        dfrt_config_free(c);
    }
    /* 5.x: layer_types and rope_parameters by layer type; soft-capping */
    CHECK_OK(parse("{\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\", \"num_hidden_layers\": 3, "
                   "\"layer_types\": [\"full_attention\", \"sliding_attention\", \"full_attention\"], "
                   "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}, "
                   "\"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 20000.0}}, "
                   "\"attn_logit_softcapping\": 50.0, \"final_logit_softcapping\": 30.0, \"eos_token_id\": 1}",
                   &c));
    if (c) {
        CHECK(c->n_layer_types == 3 && !c->layer_sliding[0] && c->layer_sliding[1] && !c->layer_sliding[2]);
        CHECK(c->rope_theta == 5e5 && c->rope_type == DFRT_ROPE_DEFAULT && c->rope_local_theta == 2e4);
        CHECK(c->attn_softcap == 50 && c->final_softcap == 30 && c->n_eos == 1 && c->eos_token_ids[0] == 1);
        dfrt_config_free(c);
    }
    /* sliding_window_pattern (4.x), and null turning the default window off */
    CHECK_OK(parse("{\"architectures\": [\"Gemma3ForCausalLM\"], \"num_hidden_layers\": 4, \"sliding_window_pattern\": 2, "
                   "\"sliding_window\": null}", &c));
    if (c) {
        CHECK(c->n_layer_types == 4 && c->layer_sliding[0] && !c->layer_sliding[1] && c->layer_sliding[2]);
        CHECK(c->sliding_window == 0);
        dfrt_config_free(c);
    }
    /* a layer type dfrt does not run: parsed (compress and verify need no more), refused by the
     * executor */
    CHECK_OK(parse("{\"architectures\": [\"Gemma3ForCausalLM\"], \"layer_types\": [\"sliding_attention\", \"chunked\"]}", &c));
    if (c) {
        CHECK(c->other_layer_type && strcmp(c->other_layer_type, "\"layer_types\"[1] is \"chunked\"") == 0);
        dfrt_config_free(c);
    }
    CHECK_OK(parse("{\"rope_parameters\": {\"sliding_attention\": {\"rope_type\": \"yarn\"}}}", &c));
    if (c) CHECK(c->rope_type == DFRT_ROPE_OTHER && strcmp(c->rope_type_name, "yarn (on the sliding-window layers)") == 0);
    dfrt_config_free(c);
    CHECK_ERROR(parse("{\"text_config\": 3}", &c), DFRT_FORMAT_ERROR, "\"text_config\" must be an object");
}

static void test_token_ids(void) {
    dfrt_config *c = NULL;
    CHECK_ERROR(parse("{\"vocab_size\": 151936, \"eos_token_id\": 4294967310}", &c), DFRT_FORMAT_ERROR,
                "config.json: \"eos_token_id\" 4294967310 is outside the vocabulary (0 .. 151935)");
    CHECK_ERROR(parse("{\"vocab_size\": 100, \"eos_token_id\": [1, 100]}", &c), DFRT_FORMAT_ERROR,
                "\"eos_token_id\" 100 is outside the vocabulary (0 .. 99)");
    CHECK_ERROR(parse("{\"vocab_size\": 100, \"bos_token_id\": 4294967296}", &c), DFRT_FORMAT_ERROR,
                "\"bos_token_id\" 4294967296 is outside the vocabulary");
    CHECK_OK(parse("{\"vocab_size\": 100, \"bos_token_id\": 0, \"eos_token_id\": [98, 99]}", &c));
    CHECK(c && c->n_eos == 2 && c->eos_token_ids[1] == 99 && c->bos_token_id == 0);
    dfrt_config_free(c);
}

static void test_df11_config(void) {
    dfrt_config *c;
    const char *ok = "{\"dfloat11_config\":{\"version\":\"0.3.1\",\"threads_per_block\":[512],\"bytes_per_thread\":8,"
                     "\"pattern_dict\":{\"model.layers.\\\\d+\":[\"mlp.up_proj\"]}}}";
    CHECK_OK(parse(ok, &c));
    if (c) dfrt_config_free(c);
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":[256],\"bytes_per_thread\":8,"
                      "\"pattern_dict\":{\"a\":[]}}}", &c),
                DFRT_UNSUPPORTED, "threads_per_block must be [512]");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":512,\"bytes_per_thread\":8,"
                      "\"pattern_dict\":{\"a\":[]}}}", &c),
                DFRT_UNSUPPORTED, "threads_per_block must be [512]");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":[512],\"bytes_per_thread\":4,"
                      "\"pattern_dict\":{\"a\":[]}}}", &c),
                DFRT_UNSUPPORTED, "bytes_per_thread must be 8");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.1.0\"}}", &c), DFRT_UNSUPPORTED, "version 0.1.0",
                "pickles");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":[512],\"bytes_per_thread\":8}}", &c),
                DFRT_FORMAT_ERROR, "no pattern_dict");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":[512],\"bytes_per_thread\":8,"
                      "\"pattern_dict\":{}}}", &c),
                DFRT_FORMAT_ERROR, "pattern_dict is empty");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":[512],\"bytes_per_thread\":8,"
                      "\"pattern_dict\":{\"a\":\"b\"}}}", &c),
                DFRT_FORMAT_ERROR, "pattern_dict[\"a\"] must be a list");
    CHECK_ERROR(parse("{\"dfloat11_config\":{\"version\":\"0.5.0\",\"threads_per_block\":[512],\"bytes_per_thread\":8,"
                      "\"pattern_dict\":{\"a\":[\"x\",\"x\"]}}}", &c),
                DFRT_FORMAT_ERROR, "lists \"x\" twice");
}

static int match(const char *regex, const char *name) {
    dfrt_df11_pattern p = {.regex = (char *)regex};
    dfrt_matcher *m;
    if (dfrt_matcher_create(1, &p, "test", &m) != DFRT_OK) return -2;
    int idx;
    dfrt_status s = dfrt_matcher_match(m, name, &idx);
    dfrt_matcher_free(m);
    return s == DFRT_OK ? idx : -3;
}

static void test_patterns(void) {
    /* Python re.fullmatch semantics */
    CHECK(match("model\\.layers\\.\\d+", "model.layers.12") == 0);
    CHECK(match("model\\.layers\\.\\d+", "model.layers.12.mlp") == -1);
    CHECK(match("model\\.layers\\.\\d+", "xmodel.layers.1") == -1);
    CHECK(match("model.layers.\\d+", "model_layers_3") == 0); /* unescaped dots match anything */
    CHECK(match("lm_head", "lm_head") == 0 && match("lm_head", "lm_head2") == -1);
    CHECK(match("a|ab", "ab") == 0); /* fullmatch backtracks into the second alternative */
    CHECK(match("layers\\.(\\d+)$", "layers.3") == 0);
    dfrt_df11_pattern bad = {.regex = "model.(layers"};
    dfrt_matcher *m;
    CHECK_ERROR(dfrt_matcher_create(1, &bad, "config.json: dfloat11_config", &m), DFRT_FORMAT_ERROR,
                "pattern \"model.(layers\" is not a valid regular expression", "missing closing parenthesis");
    /* A catastrophic pattern hits the match limit instead of hanging. */
    dfrt_df11_pattern evil = {.regex = "(a|aa)+"};
    CHECK_OK(dfrt_matcher_create(1, &evil, "pattern_dict", &m));
    if (m) {
        int idx;
        CHECK_ERROR(dfrt_matcher_match(m, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", &idx),
                    DFRT_FORMAT_ERROR, "pattern \"(a|aa)+\" failed", "limit");
        dfrt_matcher_free(m);
    }
    /* first matching pattern wins */
    dfrt_df11_pattern two[2] = {{.regex = "model\\.layers\\.\\d+"}, {.regex = "model\\..*"}};
    CHECK_OK(dfrt_matcher_create(2, two, "x", &m));
    if (m) {
        int idx;
        CHECK_OK(dfrt_matcher_match(m, "model.layers.0", &idx));
        CHECK(idx == 0);
        CHECK_OK(dfrt_matcher_match(m, "model.embed_tokens", &idx));
        CHECK(idx == 1);
        dfrt_matcher_free(m);
    }
    int n;
    dfrt_df11_pattern *p;
    CHECK_OK(dfrt_pattern_dict_parse("{\"lm_head\": [], \"model\\\\.layers\\\\.\\\\d+\": [\"mlp.up_proj\"]}", "--pattern-dict", &n, &p));
    CHECK(n == 2 && p && p[1].n_attrs == 1 && strcmp(p[1].regex, "model\\.layers\\.\\d+") == 0);
    dfrt_patterns_free(n, p);
    CHECK_ERROR(dfrt_pattern_dict_parse("{\"a\": 1}", "--pattern-dict", &n, &p), DFRT_INVALID_ARGUMENT,
                "--pattern-dict: pattern_dict[\"a\"] must be a list");
    CHECK_ERROR(dfrt_pattern_dict_parse("nope", "--pattern-dict", &n, &p), DFRT_INVALID_ARGUMENT, "not valid JSON");
    CHECK_ERROR(dfrt_pattern_dict_parse("{\"a\": []} x", "--pattern-dict", &n, &p), DFRT_INVALID_ARGUMENT,
                "--pattern-dict: not valid JSON");
}

static void test_default_patterns(void) {
    dfrt_config *c;
    int n;
    dfrt_df11_pattern *p;
    CHECK_OK(parse("{\"architectures\":[\"MistralForCausalLM\"]}", &c));
    CHECK_OK(dfrt_default_patterns(c, &n, &p));
    CHECK(n == 3 && strcmp(p[0].regex, "lm_head") == 0 && strcmp(p[1].regex, "model\\.embed_tokens") == 0);
    CHECK(p[2].n_attrs == 7 && strcmp(p[2].attrs[0], "self_attn.q_proj") == 0 && strcmp(p[2].attrs[4], "mlp.gate_proj") == 0);
    dfrt_patterns_free(n, p);
    dfrt_config_free(c);
    CHECK_OK(parse("{\"architectures\":[\"Qwen3ForCausalLM\"],\"tie_word_embeddings\":true}", &c));
    CHECK_OK(dfrt_default_patterns(c, &n, &p));
    CHECK(n == 1 && strcmp(p[0].regex, "model\\.layers\\.\\d+") == 0);
    dfrt_patterns_free(n, p);
    dfrt_config_free(c);
    CHECK_OK(parse("{\"architectures\":[\"GPT2LMHeadModel\"]}", &c));
    CHECK_ERROR(dfrt_default_patterns(c, &n, &p), DFRT_UNSUPPORTED, "architecture \"GPT2LMHeadModel\" has no default",
                "--pattern-dict");
    dfrt_config_free(c);
}

/* Many slow patterns against many module names: each match stays under the per-match limit,
 * but the matcher's total budget stops the whole, so no pattern_dict costs minutes. */
static void test_pattern_budget(void) {
    enum { N = 64 };
    dfrt_df11_pattern slow[N];
    char regex[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(regex[i], sizeof regex[i], ".*.*.*q%d|.*.*.*q", i);
        slow[i] = (dfrt_df11_pattern){.regex = regex[i]};
    }
    dfrt_matcher *m;
    CHECK_OK(dfrt_matcher_create(N, slow, "config.json: dfloat11_config", &m));
    if (m) {
        dfrt_status s = DFRT_OK;
        int idx, names = 0;
        char name[64];
        for (; names < 100000 && s == DFRT_OK; names++) {
            snprintf(name, sizeof name, "model.layers.%d.self_attn.o_proj", names);
            s = dfrt_matcher_match(m, name, &idx);
        }
        CHECK_ERROR(s, DFRT_FORMAT_ERROR, "config.json: dfloat11_config: matching the pattern_dict", "too slow");
        dfrt_matcher_free(m);
    }
    /* A published dict over a 126-layer model's units stays far inside the budget. */
    dfrt_df11_pattern real[2] = {{.regex = "lm_head"}, {.regex = "model\\.layers\\.\\d+"}};
    CHECK_OK(dfrt_matcher_create(2, real, "x", &m));
    if (m) {
        for (int rep = 0; rep < 20; rep++)
            for (int l = 0; l < 128; l++) {
                char name[64];
                int idx = -1;
                snprintf(name, sizeof name, "model.layers.%d", l);
                CHECK_OK(dfrt_matcher_match(m, name, &idx));
                CHECK(idx == 1);
            }
        dfrt_matcher_free(m);
    }
    /* More patterns than any release uses are refused when the dict is read. */
    char dict[2048];
    size_t len = 0;
    for (int i = 0; i < 65; i++) len += (size_t)snprintf(dict + len, sizeof dict - len, "%s\"p%d\": []", i ? ", " : "{", i);
    snprintf(dict + len, sizeof dict - len, "}");
    int n;
    dfrt_df11_pattern *p;
    CHECK_ERROR(dfrt_pattern_dict_parse(dict, "--pattern-dict", &n, &p), DFRT_UNSUPPORTED,
                "--pattern-dict: pattern_dict has 65 patterns; at most 64 are supported");
}

/* Issue 11: a key given twice (transformers would read the last, cJSON the first), a file too
 * large for the cap, a FIFO where config.json should be. */
static void test_hostile_config_files(void) {
    dfrt_config *c = NULL;
    CHECK_ERROR(parse("{\"hidden_size\": 256, \"hidden_size\": 512}", &c), DFRT_FORMAT_ERROR,
                "config.json: duplicate key \"hidden_size\"");
    CHECK_ERROR(parse("{\"rope_scaling\": {\"factor\": 8.0, \"factor\": 4.0}}", &c), DFRT_FORMAT_ERROR,
                "config.json: duplicate key \"factor\" in rope_scaling");
    CHECK_ERROR(parse("{\"a\": [{\"x\": 1}, {\"x\": 1, \"y\": 2, \"x\": 3}]}", &c), DFRT_FORMAT_ERROR,
                "duplicate key \"x\" in a[1]");
    CHECK_ERROR(parse("{}}", &c), DFRT_FORMAT_ERROR, "config.json: not valid JSON: more after the value (line 1, column 3)");
    CHECK_ERROR(parse("{\n  \"a\": tru\n}", &c), DFRT_FORMAT_ERROR, "config.json: not valid JSON (near line 2");
    int n;
    dfrt_df11_pattern *p;
    CHECK_ERROR(dfrt_pattern_dict_parse("{\"lm_head\": [], \"lm_head\": [\"x\"]}", "--pattern-dict", &n, &p),
                DFRT_INVALID_ARGUMENT, "--pattern-dict: duplicate key \"lm_head\"");
    /* 200,000 keys in one object: sorted, not compared pairwise */
    size_t cap = 200000 * 16 + 64, len = 0;
    char *big = malloc(cap);
    len += (size_t)snprintf(big + len, cap - len, "{\"hidden_size\": 8");
    for (int i = 0; i < 200000; i++) len += (size_t)snprintf(big + len, cap - len, ", \"k%d\": 0", i);
    snprintf(big + len, cap - len, ", \"k77\": 1}");
    CHECK_ERROR(parse(big, &c), DFRT_FORMAT_ERROR, "duplicate key \"k77\"");
    free(big);
    /* the file itself */
    test_sh("mkdir -p %s", test_path("hostile"));
    char *filler = calloc(1, ((size_t)1 << 20) + 2);
    memset(filler, ' ', ((size_t)1 << 20) + 1);
    filler[0] = '{';
    filler[(size_t)1 << 20] = '}';
    test_write_file(test_path("hostile/config.json"), filler, ((size_t)1 << 20) + 1);
    free(filler);
    CHECK_ERROR(dfrt_config_load(test_path("hostile"), &c), DFRT_FORMAT_ERROR,
                "hostile/config.json: too large: 1048577 bytes, more than the 1 MiB dfrt reads for this file");
    test_sh("rm %s && mkfifo %s", test_path("hostile/config.json"), test_path("hostile/config.json"));
    CHECK_ERROR(dfrt_config_load(test_path("hostile"), &c), DFRT_IO_ERROR,
                "hostile/config.json: is a FIFO, not a regular file");
    test_sh("rm %s && mkdir %s", test_path("hostile/config.json"), test_path("hostile/config.json"));
    CHECK_ERROR(dfrt_config_load(test_path("hostile"), &c), DFRT_IO_ERROR,
                "hostile/config.json: is a directory, not a regular file");
}

int main(void) {
    RUN(test_schemas);
    RUN(test_gemma3);
    RUN(test_df11_config);
    RUN(test_token_ids);
    RUN(test_patterns);
    RUN(test_pattern_budget);
    RUN(test_default_patterns);
    RUN(test_hostile_config_files);
    return test_finish();
}
