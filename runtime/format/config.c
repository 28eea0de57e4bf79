/* config.json: the model hyper-parameters dfrt uses and the dfloat11_config block. */
#include "base/internal.h"
#include "format/checkpoint_internal.h"

#include <cjson/cJSON.h>
#include <math.h>

/* pattern_dict entries: published releases have 1 to 3, each a regex matched against every module. */
#define DFRT_MAX_PATTERNS 64

static dfrt_status get_string(const cJSON *obj, const char *key, const char *src, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dfrt_strdup("");
        return *out ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    }
    if (!cJSON_IsString(v)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s\" must be a string", src, key);
    *out = dfrt_strdup(v->valuestring);
    return *out ? DFRT_OK : DFRT_OUT_OF_MEMORY;
}

/* An integer field in [min, 2^40]; absent or null leaves *out unchanged. */
static dfrt_status get_int(const cJSON *obj, const char *key, const char *src, int64_t min, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return DFRT_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)min && d <= 1099511627776.0) || d != floor(d))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s\" must be an integer >= %lld", src, key, (long long)min);
    *out = (int64_t)d;
    return DFRT_OK;
}

static dfrt_status get_double(const cJSON *obj, const char *key, const char *src, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return DFRT_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s\" must be a non-negative number", src, key);
    *out = v->valuedouble;
    return DFRT_OK;
}

static dfrt_status get_bool(const cJSON *obj, const char *key, const char *src, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return DFRT_OK;
    if (!cJSON_IsBool(v)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s\" must be true or false", src, key);
    *out = cJSON_IsTrue(v);
    return DFRT_OK;
}

/* rope_scaling (4.x) and rope_parameters (5.x) share their field names. */
static dfrt_status parse_rope(const cJSON *rope, const char *key, const char *src, dfrt_config *c) {
    if (!rope || cJSON_IsNull(rope)) return DFRT_OK;
    if (!cJSON_IsObject(rope)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s\" must be an object", src, key);
    DFRT_TRY(get_double(rope, "rope_theta", src, &c->rope_theta));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rope, "rope_type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(rope, "type");
    if (type && !cJSON_IsNull(type)) {
        if (!cJSON_IsString(type))
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s.rope_type\" must be a string", src, key);
        const char *t = type->valuestring;
        if (strcmp(t, "default") == 0) c->rope_type = DFRT_ROPE_DEFAULT;
        else if (strcmp(t, "llama3") == 0) c->rope_type = DFRT_ROPE_LLAMA3;
        else if (strcmp(t, "linear") == 0) c->rope_type = DFRT_ROPE_LINEAR;
        else if (strcmp(t, "longrope") == 0) c->rope_type = DFRT_ROPE_LONGROPE;
        else c->rope_type = DFRT_ROPE_OTHER; /* the executor refuses it; compression does not care */
        free(c->rope_type_name);
        if (!(c->rope_type_name = dfrt_strdup(t))) return DFRT_OUT_OF_MEMORY;
    }
    DFRT_TRY(get_double(rope, "factor", src, &c->rope_factor));
    DFRT_TRY(get_double(rope, "low_freq_factor", src, &c->rope_low_freq_factor));
    DFRT_TRY(get_double(rope, "high_freq_factor", src, &c->rope_high_freq_factor));
    DFRT_TRY(get_int(rope, "original_max_position_embeddings", src, 1, &c->rope_original_max_position));
    DFRT_TRY(get_double(rope, "partial_rotary_factor", src, &c->partial_rotary_factor));
    DFRT_TRY(get_double(rope, "attention_factor", src, &c->rope_attention_factor));
    const char *lists[2] = {"short_factor", "long_factor"};
    double **dst[2] = {&c->rope_short_factor, &c->rope_long_factor};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rope, lists[i]);
        if (!v || cJSON_IsNull(v)) continue;
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        if (n < 1 || n > 4096)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s.%s\" must be a list of 1 to 4096 numbers", src, key, lists[i]);
        if (c->rope_n_factors && n != c->rope_n_factors)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s.short_factor\" and \"long_factor\" differ in length (%d, %d)",
                             src, key, c->rope_n_factors, n);
        free(*dst[i]);
        if (!(*dst[i] = dfrt_malloc((size_t)n * sizeof **dst[i], "rope factors"))) return DFRT_OUT_OF_MEMORY;
        c->rope_n_factors = n;
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble))
                return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s.%s\"[%d] must be a positive number", src, key, lists[i], k);
            (*dst[i])[k++] = e->valuedouble;
        }
    }
    return DFRT_OK;
}

static bool is_gemma3(const dfrt_config *c) {
    return dfrt_str_starts_with(c->architecture, "Gemma3For") || dfrt_str_starts_with(c->model_type, "gemma3");
}

/* rope_parameters of transformers 5.x for a model with several layer types (Gemma 3): one
 * object per type; "full_attention" is the model's RoPE, "sliding_attention" the local layers'
 * (default RoPE with its own base, as Gemma 3's). */
static dfrt_status parse_rope_by_layer_type(const cJSON *rope, const char *src, dfrt_config *c) {
    DFRT_TRY(parse_rope(cJSON_GetObjectItemCaseSensitive(rope, "full_attention"), "rope_parameters.full_attention",
                        src, c));
    const cJSON *local = cJSON_GetObjectItemCaseSensitive(rope, "sliding_attention");
    if (!local || cJSON_IsNull(local)) return DFRT_OK;
    if (!cJSON_IsObject(local))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"rope_parameters.sliding_attention\" must be an object", src);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(local, "rope_type");
    if (type && !cJSON_IsNull(type) && !cJSON_IsString(type))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"rope_parameters.sliding_attention.rope_type\" must be a string", src);
    if (type && cJSON_IsString(type) && strcmp(type->valuestring, "default") != 0) { /* the executor refuses it */
        c->rope_type = DFRT_ROPE_OTHER;
        free(c->rope_type_name);
        if (!(c->rope_type_name = dfrt_asprintf("%.40s (on the sliding-window layers)", type->valuestring)))
            return DFRT_OUT_OF_MEMORY;
    }
    c->rope_local_theta = 10000.0;
    return get_double(local, "rope_theta", src, &c->rope_local_theta);
}

/* layer_types (["sliding_attention", "full_attention", ...], one per layer), or Gemma 3's older
 * sliding_window_pattern: layer i slides unless (i + 1) is a multiple of it. */
static dfrt_status parse_layer_types(const cJSON *text, const char *src, dfrt_config *c) {
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(text, "layer_types");
    if (types && !cJSON_IsNull(types)) {
        int n = cJSON_IsArray(types) ? cJSON_GetArraySize(types) : -1;
        if (n < 0 || n > 4096) /* its length against num_hidden_layers: dfrt_model_check_config */
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"layer_types\" must be a list of up to 4096 names", src);
        if (!(c->layer_sliding = dfrt_calloc(n ? (size_t)n : 1, sizeof *c->layer_sliding, "layer_types")))
            return DFRT_OUT_OF_MEMORY;
        c->n_layer_types = n;
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, types) {
            const char *t = cJSON_IsString(e) ? e->valuestring : "";
            if (strcmp(t, "sliding_attention") == 0) c->layer_sliding[i] = true;
            else if (strcmp(t, "full_attention") != 0 && !c->other_layer_type) { /* refused when run */
                c->other_layer_type = dfrt_asprintf("\"layer_types\"[%d] is \"%.40s\"", i, t);
                if (!c->other_layer_type) return DFRT_OUT_OF_MEMORY;
            }
            i++;
        }
        return DFRT_OK;
    }
    if (!is_gemma3(c) || c->n_layers <= 0 || c->n_layers > 4096) return DFRT_OK;
    int64_t pattern = 6; /* Gemma3TextConfig's default */
    DFRT_TRY(get_int(text, "_sliding_window_pattern", src, 1, &pattern)); /* as transformers 4.5x saved it */
    DFRT_TRY(get_int(text, "sliding_window_pattern", src, 1, &pattern));
    if (!(c->layer_sliding = dfrt_calloc((size_t)c->n_layers, sizeof *c->layer_sliding, "layer_types")))
        return DFRT_OUT_OF_MEMORY;
    c->n_layer_types = (int)c->n_layers;
    for (int64_t i = 0; i < c->n_layers; i++) c->layer_sliding[i] = (i + 1) % pattern != 0;
    return DFRT_OK;
}

/* Token ids must name a row of the vocabulary (when config.json gives its size): an id past
 * it would never match, and one past 2^31 used to wrap onto an ordinary token. */
static dfrt_status check_token_id(const dfrt_config *c, const char *src, const char *key, int64_t id) {
    if (id < 0 || id > INT32_MAX || (c->vocab_size > 0 && id >= c->vocab_size))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"%s\" %lld is outside the vocabulary (0 .. %lld)", src, key,
                         (long long)id, (long long)(c->vocab_size > 0 ? c->vocab_size - 1 : INT32_MAX));
    return DFRT_OK;
}

static dfrt_status parse_token_ids(const cJSON *root, const char *src, dfrt_config *c) {
    DFRT_TRY(get_int(root, "bos_token_id", src, 0, &c->bos_token_id));
    if (c->bos_token_id >= 0) DFRT_TRY(check_token_id(c, src, "bos_token_id", c->bos_token_id));
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (!eos || cJSON_IsNull(eos)) return DFRT_OK;
    c->n_eos = 0; /* replaces a default's, or the text model's */
    if (cJSON_IsNumber(eos)) {
        c->n_eos = 1;
        DFRT_TRY(get_int(root, "eos_token_id", src, 0, &c->eos_token_ids[0]));
        return check_token_id(c, src, "eos_token_id", c->eos_token_ids[0]);
    }
    if (!cJSON_IsArray(eos))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"eos_token_id\" must be an integer or a list", src);
    const cJSON *e;
    cJSON_ArrayForEach(e, eos) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble != floor(e->valuedouble) ||
            e->valuedouble > 2147483647.0)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"eos_token_id\" entries must be non-negative integers", src);
        if (c->n_eos == DFRT_MAX_EOS)
            return dfrt_fail(DFRT_UNSUPPORTED, "%s: more than %d eos_token_id values", src, DFRT_MAX_EOS);
        c->eos_token_ids[c->n_eos++] = (int64_t)e->valuedouble;
        DFRT_TRY(check_token_id(c, src, "eos_token_id", c->eos_token_ids[c->n_eos - 1]));
    }
    return DFRT_OK;
}

void dfrt_patterns_free(int n_patterns, dfrt_df11_pattern *patterns) {
    if (!patterns) return;
    for (int i = 0; i < n_patterns; i++) {
        free(patterns[i].regex);
        for (int j = 0; j < patterns[i].n_attrs; j++) free(patterns[i].attrs[j]);
        free(patterns[i].attrs);
    }
    free(patterns);
}

static dfrt_status patterns_from_json(const cJSON *dict, const char *src, int *out_n, dfrt_df11_pattern **out) {
    *out_n = 0;
    *out = NULL;
    if (!cJSON_IsObject(dict))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern_dict must be an object of regex -> attribute list", src);
    int n = cJSON_GetArraySize(dict);
    if (n == 0) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern_dict is empty", src);
    if (n > DFRT_MAX_PATTERNS)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: pattern_dict has %d patterns; at most %d are supported (published DF11 "
                         "models have 1 to 3)", src, n, DFRT_MAX_PATTERNS);
    dfrt_df11_pattern *p = dfrt_calloc((size_t)n, sizeof *p, "pattern_dict");
    if (!p) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, dict) {
        if (!e->string || !*e->string) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern_dict has an empty pattern", src);
            break;
        }
        if (!cJSON_IsArray(e)) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern_dict[\"%s\"] must be a list of attribute names", src,
                          e->string);
            break;
        }
        if (!(p[i].regex = dfrt_strdup(e->string))) {
            s = DFRT_OUT_OF_MEMORY;
            break;
        }
        int m = cJSON_GetArraySize(e);
        p[i].attrs = dfrt_calloc((size_t)m, sizeof *p[i].attrs, "pattern attributes");
        if (!p[i].attrs) {
            s = DFRT_OUT_OF_MEMORY;
            i++;
            break;
        }
        const cJSON *a;
        cJSON_ArrayForEach(a, e) {
            if (!cJSON_IsString(a) || !*a->valuestring) {
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern_dict[\"%s\"] has an entry that is not a name", src,
                              e->string);
                break;
            }
            for (int k = 0; k < p[i].n_attrs; k++)
                if (strcmp(p[i].attrs[k], a->valuestring) == 0) {
                    s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern_dict[\"%s\"] lists \"%s\" twice", src, e->string,
                                  a->valuestring);
                    break;
                }
            if (s != DFRT_OK) break;
            if (!(p[i].attrs[p[i].n_attrs] = dfrt_strdup(a->valuestring))) {
                s = DFRT_OUT_OF_MEMORY;
                break;
            }
            p[i].n_attrs++;
        }
        i++;
        if (s != DFRT_OK) break;
    }
    if (s != DFRT_OK) {
        dfrt_patterns_free(i, p);
        return s;
    }
    *out_n = n;
    *out = p;
    return DFRT_OK;
}

dfrt_status dfrt_pattern_dict_parse(const char *json, const char *source, int *out_n_patterns,
                                    dfrt_df11_pattern **out_patterns) {
    *out_n_patterns = 0;
    *out_patterns = NULL;
    cJSON *root;
    dfrt_status s = dfrt_json_parse(json, strlen(json), source, &root);
    if (s != DFRT_OK) return s == DFRT_FORMAT_ERROR ? DFRT_INVALID_ARGUMENT : s;
    s = patterns_from_json(root, source, out_n_patterns, out_patterns);
    cJSON_Delete(root);
    return s == DFRT_FORMAT_ERROR ? DFRT_INVALID_ARGUMENT : s;
}

static dfrt_status parse_df11(const cJSON *df, const char *src, dfrt_config *c) {
    if (!cJSON_IsObject(df)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"dfloat11_config\" must be an object", src);
    c->is_df11 = true;
    DFRT_TRY(get_string(df, "version", src, &c->df11_version));
    if (dfrt_str_starts_with(c->df11_version, "0.1."))
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s: DFloat11 format version %s stores weights in Python pickles, which dfrt does not "
                         "read; compress the BF16 model again with dfrt compress",
                         src, c->df11_version);
    const cJSON *tpb = cJSON_GetObjectItemCaseSensitive(df, "threads_per_block");
    if (!cJSON_IsArray(tpb) || cJSON_GetArraySize(tpb) != 1 || !cJSON_IsNumber(cJSON_GetArrayItem(tpb, 0)) ||
        cJSON_GetArrayItem(tpb, 0)->valuedouble != 512.0)
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s: dfloat11_config.threads_per_block must be [512] (the only layout published models use)",
                         src);
    const cJSON *bpt = cJSON_GetObjectItemCaseSensitive(df, "bytes_per_thread");
    if (!cJSON_IsNumber(bpt) || bpt->valuedouble != 8.0)
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s: dfloat11_config.bytes_per_thread must be 8 (the only layout published models use)", src);
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(df, "pattern_dict");
    if (!pd) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: dfloat11_config has no pattern_dict", src);
    return patterns_from_json(pd, src, &c->n_patterns, &c->patterns);
}

dfrt_status dfrt_config_parse(const char *json, size_t len, const char *source, dfrt_config **out_config) {
    *out_config = NULL;
    cJSON *root;
    DFRT_TRY(dfrt_json_parse(json, len, source, &root));
    dfrt_config *c = dfrt_calloc(1, sizeof *c, "a model config");
    dfrt_status s = DFRT_OK;
    if (!c) {
        cJSON_Delete(root);
        return DFRT_OUT_OF_MEMORY;
    }
    c->bos_token_id = -1;
    c->rope_theta = 10000.0;
    c->partial_rotary_factor = 1.0;
    c->rms_norm_eps = 1e-6;
    if (!cJSON_IsObject(root)) {
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: not a JSON object", source);
        goto done;
    }
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (archs && !cJSON_IsNull(archs)) {
        const cJSON *a0 = cJSON_GetArrayItem(archs, 0);
        if (!cJSON_IsArray(archs) || (a0 && !cJSON_IsString(a0))) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"architectures\" must be a list of names", source);
            goto done;
        }
        c->architecture = dfrt_strdup(a0 ? a0->valuestring : "");
    } else {
        c->architecture = dfrt_strdup("");
    }
    if (!c->architecture) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    if ((s = get_string(root, "model_type", source, &c->model_type)) != DFRT_OK) goto done;
    const char *dtype_key = cJSON_GetObjectItemCaseSensitive(root, "dtype") ? "dtype" : "torch_dtype";
    if ((s = get_string(root, dtype_key, source, &c->dtype)) != DFRT_OK) goto done;
    /* An image-text model (Gemma 3) keeps its text model's settings in text_config, often only
     * those that differ from the text model's defaults. */
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (text && !cJSON_IsNull(text) && !cJSON_IsObject(text)) {
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"text_config\" must be an object", source);
        goto done;
    }
    if (!text || cJSON_IsNull(text)) text = root;
    if (is_gemma3(c)) { /* Gemma3TextConfig's defaults */
        *c = (dfrt_config){.architecture = c->architecture, .model_type = c->model_type, .dtype = c->dtype,
                           .bos_token_id = 2, .rope_theta = 1000000.0, .rope_local_theta = 10000.0,
                           .partial_rotary_factor = 1.0, .rms_norm_eps = 1e-6, .vocab_size = 262208,
                           .hidden_size = 2304, .intermediate_size = 9216, .n_layers = 26, .n_heads = 8,
                           .n_kv_heads = 4, .head_dim = 256, .max_position_embeddings = 131072,
                           .tie_word_embeddings = true, .query_pre_attn_scalar = 256, .sliding_window = 4096,
                           .n_eos = 1, .eos_token_ids = {1}};
    }
    struct {
        const char *key;
        int64_t *field;
        int64_t min;
    } ints[] = {
        {"vocab_size", &c->vocab_size, 1},
        {"hidden_size", &c->hidden_size, 1},
        {"intermediate_size", &c->intermediate_size, 1},
        {"num_hidden_layers", &c->n_layers, 0},
        {"num_attention_heads", &c->n_heads, 1},
        {"num_key_value_heads", &c->n_kv_heads, 1},
        {"head_dim", &c->head_dim, 1},
        {"max_position_embeddings", &c->max_position_embeddings, 1},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((s = get_int(text, ints[i].key, source, ints[i].min, ints[i].field)) != DFRT_OK) goto done;
    if (c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
    if (c->head_dim == 0 && c->n_heads > 0) c->head_dim = c->hidden_size / c->n_heads;
    if ((s = get_bool(text, "tie_word_embeddings", source, &c->tie_word_embeddings)) != DFRT_OK) goto done;
    if (text != root && (s = get_bool(root, "tie_word_embeddings", source, &c->tie_word_embeddings)) != DFRT_OK) goto done;
    if ((s = get_bool(text, "attention_bias", source, &c->attention_bias)) != DFRT_OK) goto done;
    if (strcmp(c->architecture, "Qwen2ForCausalLM") == 0) c->attention_bias = true;
    if ((s = get_double(text, "rms_norm_eps", source, &c->rms_norm_eps)) != DFRT_OK) goto done;
    if ((s = get_double(text, "rope_theta", source, &c->rope_theta)) != DFRT_OK) goto done;
    if ((s = get_double(text, "rope_local_base_freq", source, &c->rope_local_theta)) != DFRT_OK) goto done;
    if ((s = get_double(text, "partial_rotary_factor", source, &c->partial_rotary_factor)) != DFRT_OK) goto done;
    if ((s = get_double(text, "query_pre_attn_scalar", source, &c->query_pre_attn_scalar)) != DFRT_OK) goto done;
    if ((s = get_double(text, "attn_logit_softcapping", source, &c->attn_softcap)) != DFRT_OK) goto done;
    if ((s = get_double(text, "final_logit_softcapping", source, &c->final_softcap)) != DFRT_OK) goto done;
    const char *act_key = cJSON_GetObjectItemCaseSensitive(text, "hidden_activation") ? "hidden_activation" : "hidden_act";
    if ((s = get_string(text, act_key, source, &c->hidden_act)) != DFRT_OK) goto done;
    if (is_gemma3(c) && !c->hidden_act[0]) {
        free(c->hidden_act);
        if (!(c->hidden_act = dfrt_strdup("gelu_pytorch_tanh"))) {
            s = DFRT_OUT_OF_MEMORY;
            goto done;
        }
    }
    if ((s = get_int(text, "original_max_position_embeddings", source, 1, &c->rope_original_max_position)) != DFRT_OK)
        goto done;
    if ((s = get_int(text, "sliding_window", source, 1, &c->sliding_window)) != DFRT_OK) goto done;
    const cJSON *window = cJSON_GetObjectItemCaseSensitive(text, "sliding_window");
    if (window && cJSON_IsNull(window)) c->sliding_window = 0; /* null turns off a family's default */
    bool use_window = true; /* Qwen2 / Qwen3 configs carry a sliding_window they turn off */
    if ((s = get_bool(text, "use_sliding_window", source, &use_window)) != DFRT_OK) goto done;
    if (!use_window) c->sliding_window = 0;
    if ((s = parse_layer_types(text, source, c)) != DFRT_OK) goto done;
    if ((s = parse_rope(cJSON_GetObjectItemCaseSensitive(text, "rope_scaling"), "rope_scaling", source, c)) != DFRT_OK)
        goto done;
    const cJSON *rope = cJSON_GetObjectItemCaseSensitive(text, "rope_parameters");
    if (cJSON_IsObject(rope) && (cJSON_GetObjectItemCaseSensitive(rope, "full_attention") ||
                                 cJSON_GetObjectItemCaseSensitive(rope, "sliding_attention")))
        s = parse_rope_by_layer_type(rope, source, c);
    else
        s = parse_rope(rope, "rope_parameters", source, c);
    if (s != DFRT_OK) goto done;
    if (!(c->weight_prefix = dfrt_strdup("model."))) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    /* token ids: the top level's (an image-text model's), else the text model's */
    if (text != root && (s = parse_token_ids(text, source, c)) != DFRT_OK) goto done;
    if ((s = parse_token_ids(root, source, c)) != DFRT_OK) goto done;
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(root, "dfloat11_config");
    if (df && (s = parse_df11(df, source, c)) != DFRT_OK) goto done;
done:
    cJSON_Delete(root);
    if (s != DFRT_OK) {
        dfrt_config_free(c);
        return s;
    }
    *out_config = c;
    return DFRT_OK;
}

dfrt_status dfrt_config_load(const char *dir_or_file, dfrt_config **out_config) {
    *out_config = NULL;
    char *path = dfrt_str_ends_with(dir_or_file, ".json") ? dfrt_strdup(dir_or_file)
                                                          : dfrt_path_join(dir_or_file, "config.json");
    if (!path) return DFRT_OUT_OF_MEMORY;
    char *text;
    size_t len;
    dfrt_status s = dfrt_read_file(path, DFRT_MAX_CONFIG_BYTES, &text, &len);
    if (s == DFRT_OK) {
        s = dfrt_config_parse(text, len, path, out_config);
        free(text);
    }
    free(path);
    return s;
}

void dfrt_config_free(dfrt_config *c) {
    if (!c) return;
    dfrt_patterns_free(c->n_patterns, c->patterns);
    DFRT_FREE_ALL(c->architecture, c->model_type, c->dtype, c->df11_version, c->rope_type_name, c->rope_short_factor,
                  c->rope_long_factor, c->layer_sliding, c->other_layer_type, c->hidden_act, c->weight_prefix, c);
}

dfrt_status dfrt_default_patterns(const dfrt_config *config, int *out_n, dfrt_df11_pattern **out) {
    *out_n = 0;
    *out = NULL;
    if (!dfrt_architecture_known(config->architecture))
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "architecture \"%s\" has no default pattern_dict (known: LlamaForCausalLM, "
                         "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma3ForCausalLM, "
                         "Gemma3ForConditionalGeneration); pass --pattern-dict",
                         config->architecture);
    /* The published releases: lm_head, the embeddings and the projections of each layer, in
     * the architecture's unit order (Phi-4: o, qkv, gate_up, down); with tied embeddings the
     * layers only (as the Qwen3-4B and Gemma 3 releases), under the checkpoint's prefix
     * (Gemma 3's "language_model.model.layers.N"). */
    const dfrt_layer_layout *lay = dfrt_layer_layout_of(config->architecture);
    char names[512] = "", prefix[64] = "";
    for (int i = 0; i < lay->n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s\"%s\"", i ? ", " : "", lay->names[i]);
    for (const char *p = dfrt_weight_prefix(config); *p && strlen(prefix) + 4 < sizeof prefix; p++) {
        size_t n = strlen(prefix); /* the prefix as a regex in JSON: "." -> "\\." */
        if (*p == '.') memcpy(prefix + n, "\\\\.", 4); /* with its NUL */
        else prefix[n] = *p, prefix[n + 1] = '\0';
    }
    char *json = config->tie_word_embeddings
                     ? dfrt_asprintf("{\"%slayers\\\\.\\\\d+\": [%s]}", prefix, names)
                     : dfrt_asprintf("{\"lm_head\": [], \"%sembed_tokens\": [], \"%slayers\\\\.\\\\d+\": [%s]}",
                                     prefix, prefix, names);
    if (!json) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = dfrt_pattern_dict_parse(json, "default pattern_dict", out_n, out);
    free(json);
    return s;
}
