/* The weight set a model directory must hold for its architecture and config.json, and the
 * tensors in it that nothing would use. Shared by dfrt run (model_load.c), verify and
 * decompress, so that they agree on what a complete model is. */
#include "format/checkpoint_internal.h"

#include <unistd.h>

static const char *const known_architectures[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                                                  "Qwen3ForCausalLM", "Phi3ForCausalLM", "Gemma3ForCausalLM",
                                                  "Gemma3ForConditionalGeneration"};

bool dfrt_architecture_is_gemma3(const char *architecture) {
    return strcmp(architecture, "Gemma3ForCausalLM") == 0 || strcmp(architecture, "Gemma3ForConditionalGeneration") == 0;
}

bool dfrt_architecture_has_qk_norm(const char *architecture) {
    return strcmp(architecture, "Qwen3ForCausalLM") == 0 || dfrt_architecture_is_gemma3(architecture);
}

const char *dfrt_weight_prefix(const dfrt_config *c) { return c->weight_prefix ? c->weight_prefix : "model."; }

const char *dfrt_lm_head_name(const dfrt_config *c) {
    return strcmp(dfrt_weight_prefix(c), "language_model.model.") == 0 ? "language_model.lm_head.weight" : "lm_head.weight";
}

bool dfrt_is_vision_weight(const dfrt_config *c, const char *name) {
    if (strcmp(c->architecture, "Gemma3ForConditionalGeneration") != 0) return false;
    if (dfrt_str_starts_with(name, "model.")) name += strlen("model.");
    return dfrt_str_starts_with(name, "vision_tower.") || dfrt_str_starts_with(name, "multi_modal_projector.");
}

bool dfrt_architecture_known(const char *architecture) {
    for (size_t i = 0; i < sizeof known_architectures / sizeof *known_architectures; i++)
        if (strcmp(architecture, known_architectures[i]) == 0) return true;
    return false;
}

static const dfrt_layer_layout llama_layout = {
    7,
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
     "mlp.down_proj"},
    {DFRT_PROJ_Q, DFRT_PROJ_K, DFRT_PROJ_V, DFRT_PROJ_O, DFRT_PROJ_GATE, DFRT_PROJ_UP, DFRT_PROJ_DOWN},
};
/* Phi-3 / Phi-4: fused q|k|v and gate|up; the Phi-4 release's units list o first */
static const dfrt_layer_layout phi3_layout = {
    4,
    {"self_attn.o_proj", "self_attn.qkv_proj", "mlp.gate_up_proj", "mlp.down_proj"},
    {DFRT_PROJ_O, DFRT_PROJ_QKV, DFRT_PROJ_GATE_UP, DFRT_PROJ_DOWN},
};

const dfrt_layer_layout *dfrt_layer_layout_of(const char *architecture) {
    return strcmp(architecture, "Phi3ForCausalLM") == 0 ? &phi3_layout : &llama_layout;
}

void dfrt_proj_shape(const dfrt_config *c, dfrt_proj_role role, int64_t shape[2]) {
    int64_t h = c->hidden_size, f = c->intermediate_size, q = 0, kv = 0;
    if (__builtin_mul_overflow(c->n_heads, c->head_dim, &q) || __builtin_mul_overflow(c->n_kv_heads, c->head_dim, &kv))
        q = kv = 0;
    int64_t rows[] = {q, kv, kv, h, f, f, h, q + 2 * kv, 2 * f};
    int64_t cols[] = {h, h, h, q, h, h, f, h, h};
    shape[0] = q && kv ? rows[role] : 0;
    shape[1] = q && kv ? cols[role] : 0;
}

#define MAX_LAYERS 1024 /* dfrt_model_check_config's bound */
#define SHOWN 4         /* names quoted in a message before "and N more" */

/* The layer of "PREFIXlayers.N.REST" (N without leading zeros), with *rest set; else -1. */
static int64_t layer_of(const dfrt_config *c, const char *name, const char **rest) {
    const char *prefix = dfrt_weight_prefix(c);
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0 || !dfrt_str_starts_with(name + plen, "layers.")) return -1;
    const char *p = name + plen + strlen("layers.");
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9')) return -1;
    int64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    if (*p != '.' || !p[1]) return -1;
    if (rest) *rest = p + 1;
    return v;
}

/* A group of names for a message: how many, and the first few. */
typedef struct name_group {
    size_t count;
    const char *first[SHOWN];
} name_group;

static void group_add(name_group *g, const char *name) {
    if (g->count < SHOWN) g->first[g->count] = name;
    g->count++;
}

/* "a, b, c, d and 12 more" */
static void group_print(dfrt_buf *b, const name_group *g) {
    size_t shown = DFRT_MIN(g->count, (size_t)SHOWN);
    for (size_t i = 0; i < shown; i++) dfrt_buf_printf(b, "%s%s", i ? ", " : "", g->first[i]);
    if (g->count > shown) dfrt_buf_printf(b, " and %zu more", g->count - shown);
}

/* A weight the architecture requires; layer -1 for the model-wide ones. */
typedef struct required {
    char *name;
    int64_t layer;
    bool missing;
} required;

static int compare_required(const void *a, const void *b) {
    return strcmp(((const required *)a)->name, ((const required *)b)->name);
}

static dfrt_status add_required(required *r, size_t *n, int64_t layer, const char *fmt, ...) DFRT_PRINTF(4, 5);
static dfrt_status add_required(required *r, size_t *n, int64_t layer, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!(r[*n].name = dfrt_strdup(name))) return DFRT_OUT_OF_MEMORY;
    r[*n].layer = layer;
    (*n)++;
    return DFRT_OK;
}

#define PER_LAYER 14 /* up to 7 projections, 4 norms, q/k norms (Gemma 3), or 2 norms, q/k norms, q/k/v biases */

/* The weights transformers' models of the known architectures have, in order: the embeddings,
 * lm_head unless tied, the final norm, then per layer the projections (Phi-3's fused), the two
 * norms (Gemma 3: four), the q/k norms (Qwen3, Gemma 3) and the q/k/v biases when
 * attention_bias; each under the checkpoint's weight prefix. */
static dfrt_status required_weights(const dfrt_config *c, required **out, size_t *out_n) {
    *out = NULL;
    *out_n = 0;
    size_t n = 0, cap = 3 + (size_t)c->n_layers * PER_LAYER;
    required *r = dfrt_calloc(cap, sizeof *r, "the weight list");
    if (!r) return DFRT_OUT_OF_MEMORY;
    const dfrt_layer_layout *lay = dfrt_layer_layout_of(c->architecture);
    const char *P = dfrt_weight_prefix(c);
    bool qk_norm = dfrt_architecture_has_qk_norm(c->architecture), gemma = dfrt_architecture_is_gemma3(c->architecture);
    static const char *const norms[] = {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                                        "post_feedforward_layernorm"};
    dfrt_status s = add_required(r, &n, -1, "%sembed_tokens.weight", P);
    if (s == DFRT_OK && !c->tie_word_embeddings) s = add_required(r, &n, -1, "%s", dfrt_lm_head_name(c));
    if (s == DFRT_OK) s = add_required(r, &n, -1, "%snorm.weight", P);
    for (int64_t l = 0; l < c->n_layers && s == DFRT_OK; l++) {
        for (int p = 0; p < lay->n && s == DFRT_OK; p++)
            s = add_required(r, &n, l, "%slayers.%lld.%s.weight", P, (long long)l, lay->names[p]);
        for (int k = 0; k < (gemma ? 4 : 2) && s == DFRT_OK; k++)
            s = add_required(r, &n, l, "%slayers.%lld.%s.weight", P, (long long)l, norms[k]);
        if (qk_norm && s == DFRT_OK) s = add_required(r, &n, l, "%slayers.%lld.self_attn.q_norm.weight", P, (long long)l);
        if (qk_norm && s == DFRT_OK) s = add_required(r, &n, l, "%slayers.%lld.self_attn.k_norm.weight", P, (long long)l);
        for (int p = 0; p < 3 && c->attention_bias && lay == &llama_layout && s == DFRT_OK; p++)
            s = add_required(r, &n, l, "%slayers.%lld.%s.bias", P, (long long)l, lay->names[p]);
    }
    if (s != DFRT_OK) {
        for (size_t i = 0; i < n; i++) free(r[i].name);
        free(r);
        return s;
    }
    *out = r;
    *out_n = n;
    return DFRT_OK;
}

static void free_required(required *r, size_t n) {
    for (size_t i = 0; r && i < n; i++) free(r[i].name);
    free(r);
}

/* A unit that failed validation (verify keeps it) has no known parts: the weights under its
 * name are taken as present, since verify reports the unit itself. */
static bool under_failed_unit(const dfrt_checkpoint *cp, const char *name) {
    for (size_t i = 0; i < cp->n_units; i++) {
        const checkpoint_unit *cu = &cp->units[i];
        size_t len = strlen(cu->unit.name);
        if (cu->status != DFRT_OK && strncmp(name, cu->unit.name, len) == 0 && name[len] == '.') return true;
    }
    return false;
}

static bool weight_present(const dfrt_checkpoint *cp, const char *name) {
    if (dfrt_checkpoint_find_weight(cp, name, NULL, NULL, NULL) == DFRT_OK) return true;
    dfrt_clear_error();
    return under_failed_unit(cp, name);
}

/* Calls fn for every weight of the checkpoint: plain tensors that are not unit tensors, and the
 * parts of the (valid) units. */
typedef void (*weight_fn)(void *user, const char *name);
static void for_each_weight(const dfrt_checkpoint *cp, weight_fn fn, void *user) {
    for (size_t i = 0; i < dfrt_tensor_set_count(cp->tensors); i++) {
        const char *name = dfrt_tensor_set_get(cp->tensors, i)->name;
        if (!dfrt_checkpoint_is_unit_tensor(cp, name)) fn(user, name);
    }
    for (size_t u = 0; u < cp->n_units; u++)
        for (int p = 0; p < cp->units[u].unit.n_parts; p++) fn(user, cp->units[u].unit.parts[p].name);
}

/* Tensors nothing would use, by what their presence says about the config. */
enum { UNUSED_BEYOND, UNUSED_QK_NORM, UNUSED_TIED_HEAD, UNUSED_BIAS, UNUSED_OTHER, UNUSED_CLASSES };

typedef struct scan {
    const dfrt_config *config;
    const required *sorted; /* by name */
    size_t n_required;
    name_group unused[UNUSED_CLASSES];
    int64_t max_layer; /* the highest layer index among the weights, -1 if none */
    uint8_t *layer_seen; /* (n_layers) for an unknown architecture */
} scan;

static void scan_weight(void *user, const char *name) {
    scan *sc = user;
    const char *rest = NULL;
    int64_t layer = layer_of(sc->config, name, &rest);
    if (layer > sc->max_layer) sc->max_layer = layer;
    if (sc->layer_seen && layer >= 0 && layer < sc->config->n_layers) sc->layer_seen[layer] = 1;
    if (!sc->sorted) return; /* unknown architecture: no weight set */
    required key = {.name = (char *)name};
    if (bsearch(&key, sc->sorted, sc->n_required, sizeof key, compare_required)) return;
    /* transformers' old Llama checkpoints store RoPE's inverse frequencies, which are computed;
     * an image-text model's vision tower is not dfrt's to run (dfrt_model_load says so) */
    if (dfrt_str_ends_with(name, ".rotary_emb.inv_freq") || dfrt_is_vision_weight(sc->config, name)) return;
    int cls = UNUSED_OTHER;
    if (layer >= 0 && layer >= sc->config->n_layers) cls = UNUSED_BEYOND;
    else if (layer >= 0 && (strcmp(rest, "self_attn.q_norm.weight") == 0 || strcmp(rest, "self_attn.k_norm.weight") == 0))
        cls = UNUSED_QK_NORM;
    else if (strcmp(name, dfrt_lm_head_name(sc->config)) == 0 && sc->config->tie_word_embeddings) cls = UNUSED_TIED_HEAD;
    else if (layer >= 0 && dfrt_str_ends_with(rest, ".bias") &&
             (dfrt_str_starts_with(rest, "self_attn.") || dfrt_str_starts_with(rest, "mlp.")))
        cls = UNUSED_BIAS;
    group_add(&sc->unused[cls], name);
}

/* The message for a class of unused tensors (which make dfrt run a different model). */
static void describe_unused(dfrt_buf *b, const dfrt_checkpoint *cp, const scan *sc, int cls) {
    const dfrt_config *c = cp->config;
    const name_group *g = &sc->unused[cls];
    switch (cls) {
    case UNUSED_BEYOND:
        dfrt_buf_printf(b,
                        "%s: config.json says num_hidden_layers is %lld, but the weights go up to %slayers.%lld: "
                        "a model of %lld layers would run and %zu tensors would be left unused (",
                        cp->dir, (long long)c->n_layers, dfrt_weight_prefix(c), (long long)sc->max_layer, (long long)c->n_layers, g->count);
        group_print(b, g);
        dfrt_buf_puts(b, ")");
        break;
    case UNUSED_QK_NORM:
        dfrt_buf_printf(b,
                        "%s: config.json says %s, which has no q_norm/k_norm, but the weights hold %zu of them (",
                        cp->dir, c->architecture[0] ? c->architecture : "no architecture", g->count);
        group_print(b, g);
        dfrt_buf_puts(b, "), which would be left unused: is it a Qwen3ForCausalLM model?");
        break;
    case UNUSED_TIED_HEAD:
        dfrt_buf_printf(b,
                        "%s: config.json sets tie_word_embeddings, which makes %sembed_tokens.weight the output "
                        "layer, but the weights hold their own %s, which would be left unused (set "
                        "tie_word_embeddings to false if the model has its own lm_head)",
                        cp->dir, dfrt_weight_prefix(c), dfrt_lm_head_name(c));
        break;
    case UNUSED_BIAS:
        dfrt_buf_printf(b, "%s: %zu bias tensor%s would be left unused (", cp->dir, g->count, g->count == 1 ? "" : "s");
        group_print(b, g);
        dfrt_buf_printf(b, "): %s applies q, k and v projection biases only, and only with attention_bias true",
                        c->architecture);
        break;
    default:
        dfrt_buf_printf(b, "%s: dfrt run leaves %zu tensor%s unused: ", cp->dir, g->count, g->count == 1 ? "" : "s");
        group_print(b, g);
        break;
    }
}

/* "model.layers.3 (all 11 of its weights)", runs of whole layers, or single names. */
static void describe_missing(dfrt_buf *b, const dfrt_checkpoint *cp, const required *r, size_t n, size_t n_missing) {
    const dfrt_config *c = cp->config;
    dfrt_buf_printf(b, "%s: %zu of the weights %s with num_hidden_layers %lld needs %s missing: ", cp->dir, n_missing,
                    c->architecture, (long long)c->n_layers, n_missing == 1 ? "is" : "are");
    size_t items = 0, per_layer = 0, runs = 0;
    for (size_t i = 0; i < n; i++) per_layer += r[i].layer == 0;
    bool only_runs = true;            /* nothing missing but whole layers */
    int64_t run_start = -1, last_run_start = -1, last_run_end = -1;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (r[i].layer >= 0)
            while (j < n && r[j].layer == r[i].layer) j++;
        bool all = r[i].layer >= 0, any = false;
        for (size_t k = i; k < j; k++) {
            all &= r[k].missing;
            any |= r[k].missing;
        }
        if (all && run_start < 0) run_start = r[i].layer;
        if (run_start >= 0 && (!all || j == n)) { /* a run of whole layers ends */
            int64_t end = all ? r[i].layer : r[i].layer - 1;
            if (items < 6) {
                if (run_start == end)
                    dfrt_buf_printf(b, "%s%slayers.%lld (all %zu of its weights)", items ? ", " : "",
                                    dfrt_weight_prefix(c), (long long)run_start, per_layer);
                else
                    dfrt_buf_printf(b, "%s%slayers.%lld .. %slayers.%lld (all their weights)", items ? ", " : "",
                                    dfrt_weight_prefix(c), (long long)run_start, dfrt_weight_prefix(c), (long long)end);
            }
            items++;
            runs++;
            last_run_start = run_start;
            last_run_end = end;
            run_start = -1;
        }
        if (!all && any) {
            only_runs = false;
            for (size_t k = i; k < j; k++)
                if (r[k].missing) {
                    if (items < 6) dfrt_buf_printf(b, "%s%s", items ? ", " : "", r[k].name);
                    items++;
                }
        }
        i = j;
    }
    if (items > 6) dfrt_buf_printf(b, " and %zu more", items - 6);
    if (only_runs && runs == 1 && last_run_end == c->n_layers - 1 && last_run_start > 0)
        dfrt_buf_printf(b, " (the weights stop at %slayers.%lld: is num_hidden_layers right?)", dfrt_weight_prefix(c),
                        (long long)last_run_start - 1);
}

static dfrt_status finish_message(dfrt_buf *b, dfrt_status status, bool warn) {
    if (b->failed) {
        free(b->p);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory describing the weight set");
    }
    if (warn) dfrt_warn("%s", b->p);
    else dfrt_fail(status, "%s", b->p);
    free(b->p);
    *b = (dfrt_buf){0};
    return warn ? DFRT_OK : status;
}

/* Unknown architecture: only the layer numbering can be checked, and the index (which
 * dfrt_tensor_set_open checks). */
static dfrt_status check_unknown(const dfrt_checkpoint *cp, dfrt_weight_set_mode mode) {
    const dfrt_config *c = cp->config;
    char *index = dfrt_path_join(cp->dir, "model.safetensors.index.json");
    if (!index) return DFRT_OUT_OF_MEMORY;
    bool has_index = access(index, F_OK) == 0;
    free(index);
    scan sc = {.config = c, .max_layer = -1};
    bool by_layer = c->n_layers > 0 && c->n_layers <= (1 << 20);
    if (by_layer && !(sc.layer_seen = dfrt_calloc((size_t)c->n_layers, 1, "layer list"))) return DFRT_OUT_OF_MEMORY;
    for_each_weight(cp, scan_weight, &sc);
    dfrt_status s = DFRT_OK;
    dfrt_buf b = {0};
    if (sc.max_layer >= 0 && by_layer) { /* the model keeps its layers as model.layers.N */
        name_group missing = {0};
        char names[SHOWN][40];
        for (int64_t l = 0; l < c->n_layers; l++)
            if (!sc.layer_seen[l]) {
                if (missing.count < SHOWN) snprintf(names[missing.count], sizeof names[0], "model.layers.%lld", (long long)l);
                group_add(&missing, names[DFRT_MIN(missing.count, (size_t)SHOWN - 1)]);
            }
        if (missing.count) {
            dfrt_buf_printf(&b, "%s: config.json says num_hidden_layers is %lld, but %zu layer%s no weights: ", cp->dir,
                            (long long)c->n_layers, missing.count, missing.count == 1 ? " has" : "s have");
            group_print(&b, &missing);
            s = finish_message(&b, DFRT_FORMAT_ERROR, false);
        }
    }
    free(sc.layer_seen);
    if (s != DFRT_OK) return s;
    if (mode == DFRT_WEIGHTS_RUN)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: architecture \"%s\" is not supported", cp->dir, c->architecture);
    if (c->architecture[0]) dfrt_buf_printf(&b, "%s: dfrt does not know architecture \"%s\"", cp->dir, c->architecture);
    else dfrt_buf_printf(&b, "%s: config.json names no architecture", cp->dir);
    dfrt_buf_puts(&b, ", so it cannot tell whether a weight is missing: it checked ");
    if (sc.max_layer >= 0 && by_layer)
        dfrt_buf_printf(&b, "that each of the %lld layers (num_hidden_layers) has weights%s", (long long)c->n_layers,
                        has_index ? " and " : "");
    if (has_index) dfrt_buf_puts(&b, "that every weight model.safetensors.index.json lists is present");
    if (!has_index && !(sc.max_layer >= 0 && by_layer)) dfrt_buf_puts(&b, "nothing (no model.safetensors.index.json)");
    return finish_message(&b, DFRT_OK, true);
}

dfrt_status dfrt_weight_set_check(const dfrt_checkpoint *cp, dfrt_weight_set_mode mode) {
    const dfrt_config *c = cp->config;
    if (!dfrt_architecture_known(c->architecture)) return check_unknown(cp, mode);
    if (c->n_layers < 0 || c->n_layers > MAX_LAYERS)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: num_hidden_layers is %lld (expected 1 .. %d)", cp->dir,
                         (long long)c->n_layers, MAX_LAYERS);
    required *r;
    size_t n;
    DFRT_TRY(required_weights(c, &r, &n));
    size_t n_missing = 0;
    for (size_t i = 0; i < n; i++)
        if ((r[i].missing = !weight_present(cp, r[i].name))) n_missing++;
    dfrt_buf b = {0};
    dfrt_status s = DFRT_OK;
    if (n_missing) {
        describe_missing(&b, cp, r, n, n_missing);
        s = finish_message(&b, DFRT_FORMAT_ERROR, false);
    }
    /* then what is there that nothing would use */
    required *sorted = NULL;
    if (s == DFRT_OK && !(sorted = dfrt_calloc(n ? n : 1, sizeof *sorted, "the weight list"))) s = DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) {
        memcpy(sorted, r, n * sizeof *r);
        qsort(sorted, n, sizeof *sorted, compare_required);
        scan sc = {.config = c, .sorted = sorted, .n_required = n, .max_layer = -1};
        for_each_weight(cp, scan_weight, &sc);
        /* config.json and the weights disagree: errors for dfrt run and verify, warnings for the
         * conversions, which carry every tensor over as it is */
        for (int cls = 0; cls < UNUSED_OTHER && s == DFRT_OK; cls++) {
            if (!sc.unused[cls].count) continue;
            describe_unused(&b, cp, &sc, cls);
            s = finish_message(&b, DFRT_FORMAT_ERROR, mode == DFRT_WEIGHTS_CONVERT);
        }
        if (s == DFRT_OK && sc.unused[UNUSED_OTHER].count && mode != DFRT_WEIGHTS_CONVERT) {
            describe_unused(&b, cp, &sc, UNUSED_OTHER);
            s = finish_message(&b, DFRT_OK, true);
        }
    }
    free(sorted);
    free_required(r, n);
    return s;
}
