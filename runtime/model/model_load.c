/* Loading a model onto a backend: architecture checks, every tensor resolved and checked,
 * a device-memory plan checked against the device, then the upload. */
#include "base/dtype.h"
#include "format/checkpoint_internal.h"
#include "model/model_internal.h"
#include "model/split.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>

/* The q, k, v projections whose biases Qwen2 has (attention_bias). */
static const char *const qkv_names[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};

dfrt_status dfrt_model_check_config(const dfrt_config *c, const char *dir) {
    if (!dfrt_architecture_known(c->architecture))
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s: architecture \"%s\" is not supported (supported: LlamaForCausalLM, MistralForCausalLM, "
                         "Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma3ForCausalLM, "
                         "Gemma3ForConditionalGeneration)",
                         dir, c->architecture);
    const struct {
        const char *name;
        int64_t v, max;
    } dims[] = {
        {"hidden_size", c->hidden_size, 1 << 16},           {"num_hidden_layers", c->n_layers, 1024},
        {"num_attention_heads", c->n_heads, 1024},         {"num_key_value_heads", c->n_kv_heads, 1024},
        {"head_dim", c->head_dim, 1024},                   {"intermediate_size", c->intermediate_size, 1 << 20},
        {"vocab_size", c->vocab_size, 1 << 24},
    };
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
        if (dims[i].v < 1 || dims[i].v > dims[i].max)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: %s is %lld (expected 1 .. %lld)", dir, dims[i].name,
                             (long long)dims[i].v, (long long)dims[i].max);
    if (c->n_heads % c->n_kv_heads)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: %lld attention heads are not a multiple of %lld KV heads", dir,
                         (long long)c->n_heads, (long long)c->n_kv_heads);
    if (c->head_dim % 2) return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: head_dim %lld is odd", dir, (long long)c->head_dim);
    uint32_t rot = dfrt_rot_dim(c);
    if (rot < 2 || rot % 2 || rot > c->head_dim)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s/config.json: partial_rotary_factor %g of head_dim %lld rotates %u values (expected an even "
                         "number from 2 to head_dim)",
                         dir, c->partial_rotary_factor, (long long)c->head_dim, rot);
    if (c->attention_bias && dfrt_layer_layout_of(c->architecture)->n != 7)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s/config.json: attention_bias with %s's fused projections is not supported",
                         dir, c->architecture);
    if (c->rope_type == DFRT_ROPE_OTHER)
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s/config.json: rope_type \"%s\" is not supported (default, linear, llama3, longrope)", dir,
                         c->rope_type_name);
    if (c->rope_type == DFRT_ROPE_LONGROPE &&
        (!c->rope_short_factor || !c->rope_long_factor || (uint32_t)c->rope_n_factors != rot / 2))
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s/config.json: longrope needs short_factor and long_factor of %u numbers each (half the "
                         "rotated part of a head), not %d",
                         dir, rot / 2, c->rope_n_factors);
    if ((c->rope_type == DFRT_ROPE_LLAMA3 || c->rope_type == DFRT_ROPE_LINEAR) && !(c->rope_factor > 0))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: rope scaling needs a positive factor", dir);
    if (c->rope_type == DFRT_ROPE_LLAMA3 &&
        !(c->rope_low_freq_factor > 0 && c->rope_high_freq_factor > c->rope_low_freq_factor &&
          c->rope_original_max_position > 0))
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s/config.json: llama3 rope scaling needs low_freq_factor < high_freq_factor and "
                         "original_max_position_embeddings",
                         dir);
    if (!(c->rope_theta > 1)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: rope_theta %g", dir, c->rope_theta);
    if (c->rope_local_theta != 0 && !(c->rope_local_theta > 1))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: the sliding layers' rope_theta (rope_local_base_freq) %g", dir,
                         c->rope_local_theta);
    if (c->hidden_act && c->hidden_act[0] && strcmp(c->hidden_act, "silu") != 0 &&
        strcmp(c->hidden_act, "gelu_pytorch_tanh") != 0)
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s/config.json: hidden activation \"%s\" is not supported (silu, gelu_pytorch_tanh)", dir,
                         c->hidden_act);
    if (c->other_layer_type)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s/config.json: %s (dfrt runs sliding_attention and full_attention layers)",
                         dir, c->other_layer_type);
    if (c->sliding_window > 0 && c->n_layer_types && c->n_layer_types != c->n_layers) /* (else unused) */
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s/config.json: layer_types has %d entries for %lld layers", dir,
                         c->n_layer_types, (long long)c->n_layers);
    return DFRT_OK;
}

/* The keys a layer's queries see: sliding_window on a sliding layer (layer_types, or every layer
 * when the config has none), 0 (all) otherwise. */
static uint32_t layer_window(const dfrt_config *c, uint32_t l) {
    if (c->sliding_window <= 0 || (c->n_layer_types && !c->layer_sliding[l])) return 0;
    return (uint32_t)DFRT_MIN(c->sliding_window, (int64_t)UINT32_MAX);
}

/* The rotated part of each head: int(head_dim * partial_rotary_factor), as transformers takes it. */
uint32_t dfrt_rot_dim(const dfrt_config *c) {
    double r = (double)c->head_dim * c->partial_rotary_factor;
    return r >= 0 && r <= 65536 ? (uint32_t)r : 0;
}

/* inv_freq[i] = theta^(-2i/d) over the rotated part (d = rot_dim), then the config's scaling
 * (transformers' rope initialisers). */
static void inv_freq(const dfrt_config *c, uint32_t dim, bool long_factors, float *out) {
    for (uint32_t i = 0; i < dim / 2; i++) {
        double f = 1.0 / pow(c->rope_theta, (double)(float)(2.0 * i / dim));
        if (c->rope_type == DFRT_ROPE_LONGROPE) {
            f /= long_factors ? c->rope_long_factor[i] : c->rope_short_factor[i];
        } else if (c->rope_type == DFRT_ROPE_LINEAR) {
            f /= c->rope_factor;
        } else if (c->rope_type == DFRT_ROPE_LLAMA3) {
            double old = (double)c->rope_original_max_position;
            double low_wavelen = old / c->rope_low_freq_factor, high_wavelen = old / c->rope_high_freq_factor;
            double wavelen = 2 * M_PI / f;
            if (wavelen > low_wavelen) {
                f /= c->rope_factor;
            } else if (wavelen >= high_wavelen) { /* between: interpolate */
                double smooth = (old / wavelen - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (1 - smooth) * f / c->rope_factor + smooth * f;
            }
        }
        out[i] = (float)f;
    }
}

/* Where a weight matrix lives in the checkpoint. */
typedef struct matrix_ref {
    const dfrt_tensor *tensor; /* plain BF16 tensor, or */
    const dfrt_df11_unit *unit;
    int part;
} matrix_ref;

static dfrt_status find_matrix(const dfrt_checkpoint *cp, const char *name, uint64_t rows, uint64_t cols,
                               matrix_ref *out) {
    memset(out, 0, sizeof *out);
    if (dfrt_checkpoint_find_weight(cp, name, &out->tensor, &out->unit, &out->part) != DFRT_OK)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s is missing", cp->dir, name);
    if (out->tensor) {
        const dfrt_tensor *t = out->tensor;
        if (t->dtype != DFRT_DTYPE_BF16)
            return dfrt_fail(DFRT_UNSUPPORTED, "%s: tensor %s is %s; dfrt runs BF16 weights", dfrt_basename(t->file), name,
                             dfrt_dtype_name(t->dtype));
        if (t->n_dims != 2 || (uint64_t)t->shape[0] != rows || (uint64_t)t->shape[1] != cols)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s has %d dimensions [%lld, %lld], expected [%llu, %llu]",
                             dfrt_basename(t->file), name, t->n_dims, (long long)t->shape[0],
                             (long long)(t->n_dims > 1 ? t->shape[1] : 0), (unsigned long long)rows,
                             (unsigned long long)cols);
    } else if (out->unit->parts[out->part].count != rows * cols) {
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: DF11 unit %s: %s has %llu weights, expected %llu x %llu", cp->dir,
                         out->unit->name, name, (unsigned long long)out->unit->parts[out->part].count,
                         (unsigned long long)rows, (unsigned long long)cols);
    }
    return DFRT_OK;
}

/* A 1-D fp32 copy of a (BF16, F16 or F32) vector tensor; with out NULL, only the checks. */
static dfrt_status load_vector(const dfrt_checkpoint *cp, const char *name, uint64_t n, float **out) {
    if (out) *out = NULL;
    const dfrt_df11_unit *unit = NULL;
    const dfrt_tensor *t = NULL;
    if (dfrt_checkpoint_find_weight(cp, name, &t, &unit, NULL) != DFRT_OK)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s is missing", cp->dir, name);
    if (unit)
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "%s: %s is compressed in DF11 unit %s; dfrt runs models whose norms and biases are stored "
                         "uncompressed (the pattern_dict of the published models compresses only the embeddings, "
                         "lm_head and the seven projections of each layer)",
                         cp->dir, name, unit->name);
    if (t->n_dims != 1 || t->n_elements != n)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s has %llu elements in %d dimensions, expected [%llu]",
                         dfrt_basename(t->file), name, (unsigned long long)t->n_elements, t->n_dims, (unsigned long long)n);
    if (t->dtype != DFRT_DTYPE_BF16 && t->dtype != DFRT_DTYPE_F32 && t->dtype != DFRT_DTYPE_F16)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: tensor %s is %s (expected BF16, F16 or F32)", dfrt_basename(t->file), name,
                         dfrt_dtype_name(t->dtype));
    if (!out) return DFRT_OK;
    float *v = dfrt_malloc(n * sizeof *v, name);
    if (!v) return DFRT_OUT_OF_MEMORY;
    const uint8_t *p = t->data;
    for (uint64_t i = 0; i < n; i++) {
        if (t->dtype == DFRT_DTYPE_F32) {
            memcpy(&v[i], p + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if (t->dtype == DFRT_DTYPE_BF16) {
                v[i] = dfrt_bf16_to_f32(h);
            } else { /* F16 */
                uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 1023;
                float f = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), (int)e - 25);
                uint32_t u;
                memcpy(&u, &f, 4);
                u |= sign;
                memcpy(&v[i], &u, 4);
            }
        }
    }
    *out = v;
    return DFRT_OK;
}

static dfrt_status upload_f32(dfrt_model *m, const float *data, uint64_t n, dfrt_buffer **out) {
    DFRT_TRY(dfrt_buffer_alloc(m->b, n * 4, out));
    return dfrt_buffer_write(*out, 0, data, n * 4);
}

/* A layer's norms: where each goes in layer_weights, by name under "PREFIXlayers.N.", over
 * the hidden size or a head. The list ends with a NULL name. */
typedef struct layer_norm {
    const char *name;
    size_t field;
    bool head;
} layer_norm;

static const layer_norm *layer_norms(const dfrt_config *c) {
#define NORM(name, field, head) {name, offsetof(layer_weights, field), head}
    static const layer_norm llama[] = {NORM("input_layernorm", norm_in, false),
                                       NORM("post_attention_layernorm", norm_post, false), {0}};
    static const layer_norm qwen3[] = {NORM("input_layernorm", norm_in, false),
                                       NORM("post_attention_layernorm", norm_post, false),
                                       NORM("self_attn.q_norm", q_norm, true), NORM("self_attn.k_norm", k_norm, true), {0}};
    static const layer_norm gemma3[] = {NORM("input_layernorm", norm_in, false),
                                        NORM("post_attention_layernorm", norm_attn_out, false),
                                        NORM("pre_feedforward_layernorm", norm_post, false),
                                        NORM("post_feedforward_layernorm", norm_mlp_out, false),
                                        NORM("self_attn.q_norm", q_norm, true),
                                        NORM("self_attn.k_norm", k_norm, true), {0}};
#undef NORM
    if (dfrt_architecture_is_gemma3(c->architecture)) return gemma3;
    return dfrt_architecture_has_qk_norm(c->architecture) ? qwen3 : llama;
}

/* A norm's weight w of layer l (l < 0: the model's final norm), uploaded as the factor the
 * rmsnorm op multiplies by: w, or for Gemma 1 + w in fp32, as transformers' Gemma3RMSNorm
 * computes it. With out NULL, only the checks. */
static dfrt_status upload_norm(dfrt_model *m, const dfrt_checkpoint *cp, int64_t l, const char *what, uint64_t n,
                               dfrt_buffer **out) {
    const dfrt_config *c = cp->config;
    char name[256];
    if (l < 0) snprintf(name, sizeof name, "%s%s.weight", dfrt_weight_prefix(c), what);
    else snprintf(name, sizeof name, "%slayers.%lld.%s.weight", dfrt_weight_prefix(c), (long long)l, what);
    if (!out) return load_vector(cp, name, n, NULL);
    float *v;
    DFRT_TRY(load_vector(cp, name, n, &v));
    if (dfrt_architecture_is_gemma3(c->architecture))
        for (uint64_t i = 0; i < n; i++) v[i] = 1.0f + v[i];
    dfrt_status s = upload_f32(m, v, n, out);
    free(v);
    return s;
}

/* The device unit for a checkpoint unit, uploading it on first use. */
static dfrt_status device_unit(dfrt_model *m, const dfrt_checkpoint *cp, const dfrt_df11_unit *u,
                               const dfrt_device_df11 **out) {
    for (size_t i = 0; i < cp->n_units; i++)
        if (&cp->units[i].unit == u) {
            if (!m->units[i]) DFRT_TRY(dfrt_df11_upload(m->b, u, &m->units[i]));
            *out = m->units[i];
            return DFRT_OK;
        }
    return dfrt_fail(DFRT_INVALID_ARGUMENT, "internal: unit %s not in the checkpoint", u->name);
}

typedef struct plan {
    matrix_ref (*proj)[DFRT_MAX_PROJ]; /* per layer, in the layout's order */
    matrix_ref embed, lm_head;
    bool tied;
    uint64_t layer_elems; /* a layer's projections' weights */
    /* what the device must hold: of this part's layers and tables (model_internal.h) */
    uint64_t weight_bytes, scratch_elems, kv_bytes, act_bytes;
} plan;

static const dfrt_layer_layout *layout(const dfrt_model *m) { return dfrt_layer_layout_of(m->config->architecture); }

/* The rows and columns of the layer's projection p (in the layout's order). */
static uint64_t proj_rows(const dfrt_model *m, int p) {
    int64_t s[2];
    dfrt_proj_shape(m->config, layout(m)->roles[p], s);
    return (uint64_t)s[0];
}

static uint64_t proj_cols(const dfrt_model *m, int p) {
    int64_t s[2];
    dfrt_proj_shape(m->config, layout(m)->roles[p], s);
    return (uint64_t)s[1];
}

/* The rows of q, k or v (0, 1, 2): their biases. */
static uint64_t qkv_rows(const dfrt_model *m, int p) { return (uint64_t)(p == 0 ? m->n_heads : m->n_kv) * m->head_dim; }

/* A checkpoint unit's bytes in its file. */
static uint64_t unit_file_bytes(const dfrt_checkpoint *cp, const dfrt_df11_unit *u) {
    for (size_t i = 0; i < cp->n_units; i++)
        if (&cp->units[i].unit == u) return cp->units[i].compressed_bytes;
    return 0;
}

/* The keys and values one layer of this part or rank holds (its KV heads; fp32 or BF16),
 * both together, over the batch and the context. */
static uint64_t kv_layer_bytes(const dfrt_model *m) {
    return 2ull * m->n_kv * m->head_dim * (m->kv_type == DFRT_KV_BF16 ? 2 : 4) * (uint64_t)m->max_batch *
           (uint64_t)m->max_ctx;
}

/* Whether the part runs layer l. */
static bool runs_layer(const dfrt_model *m, uint32_t l) { return l >= m->layer_begin && l < m->layer_end; }

/* Resolves every weight and computes what the device must hold for the part's layers and
 * tables (weights counted by their file bytes). */
static dfrt_status make_plan(dfrt_model *m, const dfrt_checkpoint *cp, plan *pl) {
    pl->proj = dfrt_calloc(m->n_layers, sizeof *pl->proj, "layer plan");
    if (!pl->proj) return DFRT_OUT_OF_MEMORY;
    char name[256];
    uint64_t layer_elems = 0;
    const dfrt_layer_layout *lay = layout(m);
    for (int p = 0; p < lay->n; p++) layer_elems += proj_rows(m, p) * proj_cols(m, p);
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const dfrt_df11_unit *unit = NULL;
        for (int p = 0; p < lay->n; p++) {
            snprintf(name, sizeof name, "%slayers.%u.%s.weight", dfrt_weight_prefix(m->config), l, lay->names[p]);
            DFRT_TRY(find_matrix(cp, name, proj_rows(m, p), proj_cols(m, p), &pl->proj[l][p]));
            const matrix_ref *r = &pl->proj[l][p];
            if (p == 0) unit = r->unit;
            /* A compressed layer must hold its projections in unit order, back to back. */
            if (r->unit != unit || (unit && (r->part != p || unit->n_parts != lay->n))) {
                char order[256] = "";
                for (int k = 0; k < lay->n; k++)
                    snprintf(order + strlen(order), sizeof order - strlen(order), "%s%s", k ? ", " : "",
                             strchr(lay->names[k], '.') + 1);
                return dfrt_fail(DFRT_UNSUPPORTED,
                                 "%s: layer %u: dfrt runs DF11 layers whose unit holds the %d projections in the "
                                 "order %s (pattern_dict of the published models)",
                                 cp->dir, l, lay->n, order);
            }
        }
        if (!runs_layer(m, l)) continue;
        if (unit && !m->fused) pl->scratch_elems = DFRT_MAX(pl->scratch_elems, unit->n);
        uint64_t bytes = unit ? unit_file_bytes(cp, unit) : 2 * layer_elems;
        pl->weight_bytes += m->tp_size > 1 ? bytes / (uint64_t)m->tp_size : bytes; /* a rank's share */
    }
    pl->layer_elems = layer_elems;
    snprintf(name, sizeof name, "%sembed_tokens.weight", dfrt_weight_prefix(m->config));
    DFRT_TRY(find_matrix(cp, name, m->vocab, m->hidden, &pl->embed));
    pl->tied = m->config->tie_word_embeddings; /* then lm_head is the embedding table, as in transformers */
    if (!pl->tied) DFRT_TRY(find_matrix(cp, dfrt_lm_head_name(m->config), m->vocab, m->hidden, &pl->lm_head));
    else pl->lm_head = pl->embed;
    const matrix_ref *tables[2] = {&pl->embed, &pl->lm_head};
    const bool holds[2] = {m->has_embed, m->has_head};
    for (int i = 0; i < (pl->tied ? 1 : 2); i++) {
        if (tables[i]->unit && tables[i]->unit->n_parts != 1) /* the executor decodes the whole unit as the table */
            return dfrt_fail(DFRT_UNSUPPORTED,
                             "%s: %s is one of %d weights of DF11 unit %s; dfrt runs embedding and lm_head units that "
                             "hold that one weight (pattern_dict of the published models)",
                             cp->dir, tables[i]->unit->parts[tables[i]->part].name, tables[i]->unit->n_parts,
                             tables[i]->unit->name);
        /* tied: the one table serves whichever of the two the part holds (a split's first and
         * last parts hold one each) */
        bool held = pl->tied ? holds[0] || holds[1] : holds[i];
        if (!held) continue;
        /* without a fused DF11 matmul, lm_head (the embedding when tied) is decoded whole */
        if (tables[i]->unit && !m->fused && (i == 1 || pl->tied) && m->has_head)
            pl->scratch_elems = DFRT_MAX(pl->scratch_elems, tables[i]->unit->n);
        pl->weight_bytes += tables[i]->unit ? unit_file_bytes(cp, tables[i]->unit) : 2ull * m->vocab * m->hidden;
    }
    /* KV cache, activations, logits, per-row tables, norms */
    pl->kv_bytes = kv_layer_bytes(m) * (m->layer_end - m->layer_begin);
    uint64_t rows = (uint64_t)m->max_rows;
    pl->act_bytes = 4 * rows * (3ull * m->hidden + m->qkv_width + (uint64_t)m->n_heads * m->head_dim + 3ull * m->inter) +
                    4ull * m->max_batch * m->vocab + 16 * rows +
                    4ull * (2 * (uint64_t)m->n_layers + 1) * m->hidden + 4ull * m->n_layers * m->qkv_width;
    return DFRT_OK;
}

static void fmt_gb(char *buf, size_t size, uint64_t bytes) {
    if (bytes < 1000000000) snprintf(buf, size, "%.2f MB", (double)bytes / 1e6);
    else snprintf(buf, size, "%.2f GB", (double)bytes / 1e9);
}

/* Which layers to offload (m->first_offloaded), from offload_layers or weight_budget, and the
 * weights' device bytes then (pl->weight_bytes: the slots in place of the offloaded units). A
 * layer's device bytes are its unit's in the backend's layout; a slot's, the largest of the
 * offloaded layers' (dfrt_df11_slot_alloc, which takes each part's largest, may exceed it by
 * a few kB: the fit check after loading uses what was allocated). */
static dfrt_status plan_offload(dfrt_model *m, const dfrt_checkpoint *cp, plan *pl, const dfrt_model_options *o) {
    m->first_offloaded = m->n_layers;
    if (!o->offload_layers && !o->weight_budget) return DFRT_OK;
    if (o->offload_layers && o->weight_budget)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "give offload_layers or weight_budget, not both");
    if (o->offload_layers < -1 || o->offload_layers > (int)m->n_layers)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "offload_layers %d: the model has %u layers (-1: all of them)",
                         o->offload_layers, m->n_layers);
    int layout = dfrt_backend_df11_layout(m->b);
    uint64_t *dev = dfrt_calloc(m->n_layers, sizeof *dev, "layer sizes");
    if (!dev) return DFRT_OUT_OF_MEMORY;
    uint64_t layers = 0, file_layers = 0;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const dfrt_df11_unit *u = pl->proj[l][0].unit;
        if (!u) {
            free(dev);
            return dfrt_fail(DFRT_UNSUPPORTED,
                             "%s: layer %u is BF16; offloading keeps DF11 layer units in host memory (dfrt compress "
                             "makes the DF11 model)",
                             cp->dir, l);
        }
        dev[l] = dfrt_df11_device_bytes(u, layout);
        layers += dev[l];
        for (size_t i = 0; i < cp->n_units; i++)
            if (&cp->units[i].unit == u) file_layers += cp->units[i].compressed_bytes;
    }
    /* pl->weight_bytes counts units by their file bytes: the others' (tables) stay as counted */
    uint64_t others = pl->weight_bytes - file_layers;
    uint32_t first = m->n_layers;
    uint64_t need = others + layers, slot = 0;
    if (o->offload_layers) {
        first = o->offload_layers < 0 ? 0 : m->n_layers - (uint32_t)o->offload_layers;
        for (uint32_t l = first; l < m->n_layers; l++) {
            need -= dev[l];
            slot = DFRT_MAX(slot, dev[l]);
        }
        need += DFRT_MIN(m->n_layers - first, 2) * slot;
    } else { /* the most layers that fit beside the others and the slots */
        uint64_t resident = need;
        while (first > 0 && resident + DFRT_MIN(m->n_layers - first, 2) * slot > o->weight_budget) {
            first--;
            slot = DFRT_MAX(slot, dev[first]);
            resident -= dev[first];
        }
        need = resident + DFRT_MIN(m->n_layers - first, 2) * slot;
        if (need > o->weight_budget) {
            char b[32], t[32], sl[32];
            fmt_gb(b, sizeof b, o->weight_budget);
            fmt_gb(t, sizeof t, others);
            fmt_gb(sl, sizeof sl, DFRT_MIN(m->n_layers, 2) * slot);
            free(dev);
            return dfrt_fail(DFRT_OUT_OF_MEMORY,
                             "%s: a weight budget of %s is less than the weights that stay on the device with every "
                             "layer offloaded: %s (embeddings, lm_head) and %s (two layer slots)",
                             cp->dir, b, t, sl);
        }
    }
    free(dev);
    m->first_offloaded = first;
    pl->weight_bytes = need;
    if (first < m->n_layers) {
        m->images = dfrt_calloc(m->n_layers, sizeof *m->images, "offloaded layers");
        m->views = dfrt_calloc(m->n_layers, sizeof *m->views, "offloaded layers");
        if (!m->images || !m->views) return DFRT_OUT_OF_MEMORY;
    }
    return DFRT_OK;
}

/* The slots of the offloaded layers, and each layer's view of its slot. */
static dfrt_status make_slots(dfrt_model *m) {
    uint32_t n = m->n_layers - m->first_offloaded;
    if (!n) return DFRT_OK;
    m->n_slots = n < 2 ? (int)n : 2;
    for (int i = 0; i < m->n_slots; i++) {
        DFRT_TRY(dfrt_df11_slot_alloc(m->b, m->images + m->first_offloaded, n, &m->offload_slots[i]));
        m->slot_layer[i] = -1;
    }
    for (uint32_t l = m->first_offloaded; l < m->n_layers; l++) {
        dfrt_df11_view(m->offload_slots[dfrt_offload_slot(m, l)], m->images[l], &m->views[l]);
        m->layers[l].unit = &m->views[l];
    }
    return DFRT_OK;
}

static dfrt_status check_fits(const dfrt_model *m, const plan *pl, uint64_t embed_row_bytes) {
    const dfrt_device_info *info = dfrt_backend_info(m->b);
    uint64_t total = pl->weight_bytes + 2 * pl->scratch_elems + pl->kv_bytes + pl->act_bytes + embed_row_bytes;
    if (info->memory_bytes && total > info->memory_bytes) {
        char t[32], d[32], w[32], s[32], k[32], a[32];
        fmt_gb(t, sizeof t, total);
        fmt_gb(d, sizeof d, info->memory_bytes);
        fmt_gb(w, sizeof w, pl->weight_bytes);
        fmt_gb(s, sizeof s, 2 * pl->scratch_elems);
        fmt_gb(k, sizeof k, pl->kv_bytes);
        fmt_gb(a, sizeof a, pl->act_bytes + embed_row_bytes);
        /* what would fit: the weights in the room the rest leaves, with layers offloaded */
        uint64_t rest = total - pl->weight_bytes;
        char hint[192] = "";
        if (rest < info->memory_bytes && m->first_offloaded == m->n_layers && pl->proj[0][0].unit) {
            char room[32];
            fmt_gb(room, sizeof room, (info->memory_bytes - rest) / 100 * 95);
            snprintf(hint, sizeof hint, ", or keep DF11 layers in host memory with a weight budget of %s "
                     "(dfrt_model_options.weight_budget; dfrt run --gpu-memory)", room);
        }
        return dfrt_fail(DFRT_OUT_OF_MEMORY,
                         "the model needs %s on %s (%s), which has %s: weights %s, decode scratch %s, KV cache %s "
                         "(%d sequences x %d tokens, %s), activations %s; lower the context or batch%s",
                         t, info->name, info->backend, d, w, s, k, m->max_batch, m->max_ctx,
                         dfrt_kv_type_name(m->kv_type), a, hint);
    }
    return DFRT_OK;
}

/* Tensor parallelism: rank r's share of projection p of a layer, as (rows, cols) of the
 * weight (rows, cols): from row *row0 (q, k, v, gate, up: the rank's heads or columns), or
 * from column *col0 in every row (o, down). */
static void shard_of(const dfrt_model *m, int p, uint64_t *rows, uint64_t *cols, uint64_t *row0, uint64_t *col0) {
    const uint64_t r = (uint64_t)m->tp_rank;
    *rows = proj_rows(m, p);
    *cols = proj_cols(m, p);
    *row0 = *col0 = 0;
    switch (layout(m)->roles[p]) {
    case DFRT_PROJ_Q: *rows = (uint64_t)m->n_heads * m->head_dim; break;
    case DFRT_PROJ_K:
    case DFRT_PROJ_V: *rows = (uint64_t)m->n_kv * m->head_dim; break;
    case DFRT_PROJ_GATE:
    case DFRT_PROJ_UP: *rows = m->inter; break;
    case DFRT_PROJ_O: *cols = (uint64_t)m->n_heads * m->head_dim; break;
    case DFRT_PROJ_DOWN: *cols = m->inter; break;
    default: break; /* fused ones are refused before (check_parallel) */
    }
    *row0 = r * *rows * (*rows != proj_rows(m, p));
    *col0 = r * *cols * (*cols != proj_cols(m, p));
}

/* Tensor parallelism: a rank's share of a layer's projections, made on the host: one BF16
 * block in unit order, encoded again as a DF11 unit of its own where the layer is one. */
typedef struct layer_share {
    uint64_t offsets[DFRT_MAX_PROJ + 1]; /* where each projection's share starts in the block */
    uint16_t *block;                      /* the BF16 share (freed once encoded) */
    dfrt_df11_encoded enc;                /* the share encoded (a DF11 layer) */
    bool encoded;
} layer_share;

static void share_free(layer_share *sh) {
    free(sh->block);
    dfrt_df11_encoded_free(&sh->enc);
    memset(sh, 0, sizeof *sh);
}

/* The shares of layer l for the n ranks (the layer's DF11 unit decoded once, on this thread).
 * Host work only: the load runs it for several layers at once. */
static dfrt_status make_shares(dfrt_model *const *ranks, int n, const plan *pl, uint32_t l, layer_share *out) {
    const dfrt_model *m0 = ranks[0];
    const matrix_ref *ref = pl->proj[l];
    const dfrt_layer_layout *lay = layout(m0);
    const dfrt_df11_unit *unit = ref[0].unit;
    uint16_t *full = NULL;
    if (unit) {
        if (!(full = dfrt_malloc(2 * unit->n, "a layer decoded"))) return DFRT_OUT_OF_MEMORY;
        dfrt_status s = dfrt_df11_decode(unit, full, 1);
        if (s != DFRT_OK) {
            free(full);
            return s;
        }
    }
    dfrt_status s = DFRT_OK;
    for (int r = 0; r < n && s == DFRT_OK; r++) {
        layer_share *sh = &out[r];
        uint64_t rows[DFRT_MAX_PROJ], cols[DFRT_MAX_PROJ], row0[DFRT_MAX_PROJ], col0[DFRT_MAX_PROJ];
        sh->offsets[0] = 0;
        for (int p = 0; p < lay->n; p++) {
            shard_of(ranks[r], p, &rows[p], &cols[p], &row0[p], &col0[p]);
            sh->offsets[p + 1] = sh->offsets[p] + rows[p] * cols[p];
        }
        if (!(sh->block = dfrt_malloc(2 * sh->offsets[lay->n], "a layer's share"))) {
            s = DFRT_OUT_OF_MEMORY;
            break;
        }
        for (int p = 0; p < lay->n; p++) {
            const uint64_t width = proj_cols(m0, p); /* the full weight's row */
            const uint8_t *src = unit ? (const uint8_t *)(full + unit->parts[p].offset) : ref[p].tensor->data;
            uint8_t *dst = (uint8_t *)(sh->block + sh->offsets[p]);
            for (uint64_t i = 0; i < rows[p]; i++) /* bytes: tensors promise no alignment */
                memcpy(dst + 2 * i * cols[p], src + 2 * ((row0[p] + i) * width + col0[p]), 2 * cols[p]);
        }
        if (!unit) continue;
        const uint16_t *parts[DFRT_MAX_PROJ];
        uint64_t counts[DFRT_MAX_PROJ];
        for (int p = 0; p < lay->n; p++) {
            parts[p] = sh->block + sh->offsets[p];
            counts[p] = sh->offsets[p + 1] - sh->offsets[p];
        }
        char name[96];
        snprintf(name, sizeof name, "%s.rank%d", unit->name, r);
        s = dfrt_df11_encode(name, lay->n, parts, counts, NULL, NULL, &sh->enc);
        sh->encoded = s == DFRT_OK;
        free(sh->block);
        sh->block = NULL;
    }
    free(full);
    return s;
}

/* Uploads the rank's share of layer l (make_shares); offsets gets the share's. */
static dfrt_status install_share(dfrt_model *m, uint32_t l, const layer_share *sh, uint64_t *offsets) {
    const int n_proj = layout(m)->n;
    memcpy(offsets, sh->offsets, (size_t)(n_proj + 1) * sizeof *offsets);
    layer_weights *lw = &m->layers[l];
    if (!sh->encoded) {
        DFRT_TRY(dfrt_buffer_alloc(m->b, 2 * offsets[n_proj], &lw->resident));
        return dfrt_buffer_write(lw->resident, 0, sh->block, 2 * offsets[n_proj]);
    }
    dfrt_tensor t[6];
    dfrt_df11_unit unit = {0};
    char name[64];
    snprintf(name, sizeof name, "layer %u, rank %d", l, m->tp_rank);
    dfrt_df11_encoded_tensors(&sh->enc, t);
    dfrt_status s = dfrt_df11_unit_init(name, &(dfrt_df11_tensors){&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]}, 0, NULL,
                                        &unit);
    if (s == DFRT_OK) s = dfrt_df11_upload(m->b, &unit, &m->shard_units[l]);
    if (s == DFRT_OK) lw->unit = m->shard_units[l];
    dfrt_df11_unit_release(&unit);
    return s;
}

/* Layer l's weights, norms and biases; share: the rank's share of its projections (tensor
 * parallelism), else NULL. */
static dfrt_status load_layer(dfrt_model *m, const dfrt_checkpoint *cp, const plan *pl, uint32_t l,
                              const layer_share *share) {
    layer_weights *lw = &m->layers[l];
    const matrix_ref *ref = pl->proj[l];
    const dfrt_layer_layout *lay = layout(m);
    uint64_t offsets[DFRT_MAX_PROJ + 1] = {0};
    for (int p = 0; p < lay->n; p++) offsets[p + 1] = offsets[p] + proj_rows(m, p) * proj_cols(m, p);
    if (share) {
        DFRT_TRY(install_share(m, l, share, offsets));
    } else if (ref[0].unit && l >= m->first_offloaded) { /* in host memory; lw->unit once the slots exist */
        DFRT_TRY(dfrt_df11_image_build(m->b, ref[0].unit, &m->images[l]));
        for (int p = 0; p < lay->n; p++) offsets[p] = ref[0].unit->parts[p].offset;
    } else if (ref[0].unit) {
        DFRT_TRY(device_unit(m, cp, ref[0].unit, &lw->unit));
        for (int p = 0; p < lay->n; p++) offsets[p] = ref[0].unit->parts[p].offset;
    } else { /* a resident block laid out as a decoded unit: the same matmuls, the same bits */
        DFRT_TRY(dfrt_buffer_alloc(m->b, 2 * offsets[lay->n], &lw->resident));
        for (int p = 0; p < lay->n; p++)
            DFRT_TRY(dfrt_buffer_write(lw->resident, 2 * offsets[p], ref[p].tensor->data, ref[p].tensor->n_bytes));
    }
    /* where q|k|v, o, gate|up and down start: q, k, v (and gate, up) come back to back in
     * both layouts, as one fused weight or as consecutive parts */
    for (int p = 0; p < lay->n; p++) {
        switch (lay->roles[p]) {
        case DFRT_PROJ_Q:
        case DFRT_PROJ_QKV: lw->off_qkv = offsets[p]; break;
        case DFRT_PROJ_O: lw->off_o = offsets[p]; break;
        case DFRT_PROJ_GATE:
        case DFRT_PROJ_GATE_UP: lw->off_gate_up = offsets[p]; break;
        case DFRT_PROJ_DOWN: lw->off_down = offsets[p]; break;
        default: break;
        }
    }
    /* the norms: Gemma 3's four (its pre-MLP norm is pre_feedforward_layernorm) */
    const layer_norm *norms = layer_norms(m->config);
    for (int k = 0; norms[k].name; k++) {
        dfrt_buffer **dst = (dfrt_buffer **)((char *)lw + norms[k].field);
        DFRT_TRY(upload_norm(m, cp, l, norms[k].name, norms[k].head ? m->head_dim : m->hidden, dst));
    }
    lw->window = layer_window(m->config, l);
    lw->local_rope = lw->window && m->config->rope_local_theta > 0;
    char name[256];
    if (m->config->attention_bias) { /* one fused bias: q | k | v */
        float *bias = dfrt_malloc((size_t)m->qkv_width * sizeof *bias, "qkv bias");
        if (!bias) return DFRT_OUT_OF_MEMORY;
        dfrt_status s = DFRT_OK;
        uint64_t at = 0;
        for (int p = 0; p < 3 && s == DFRT_OK; p++) {
            float *v;
            snprintf(name, sizeof name, "%slayers.%u.%s.bias", dfrt_weight_prefix(m->config), l, qkv_names[p]);
            /* tensor parallelism: the rank's heads of the whole bias */
            const uint64_t n = qkv_rows(m, p), ranks = m->tp_size > 1 ? (uint64_t)m->tp_size : 1;
            s = load_vector(cp, name, n * ranks, &v);
            if (s == DFRT_OK) {
                memcpy(bias + at, v + (ranks > 1 ? (uint64_t)m->tp_rank * n : 0), n * sizeof *v);
                at += qkv_rows(m, p);
                free(v);
            }
        }
        if (s == DFRT_OK) s = upload_f32(m, bias, m->qkv_width, &lw->qkv_bias);
        free(bias);
        DFRT_TRY(s);
    }
    return DFRT_OK;
}

static dfrt_status load_table(dfrt_model *m, const dfrt_checkpoint *cp, const matrix_ref *ref, table_weights *out) {
    if (ref->unit) return device_unit(m, cp, ref->unit, &out->unit);
    DFRT_TRY(dfrt_buffer_alloc(m->b, ref->tensor->n_bytes, &out->resident));
    return dfrt_buffer_write(out->resident, 0, ref->tensor->data, ref->tensor->n_bytes);
}

/* What the model needs besides its weights: the tokenizer and the end-of-sequence ids. */
typedef struct model_extras {
    const char *tokenizer_path; /* in: instead of the directory's tokenizer.json (NULL: that one) */
    dfrt_tokenizer *tokenizer;
    int n_eos;
    int32_t eos[MODEL_MAX_EOS];
} model_extras;

static dfrt_status add_eos(model_extras *x, const dfrt_config *c, const char *source, double id) {
    if (!(id >= 0 && id < (double)c->vocab_size && id == floor(id)))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: eos_token_id %.17g is not an id of the vocabulary (vocab_size %lld)",
                         source, id, (long long)c->vocab_size);
    for (int i = 0; i < x->n_eos; i++)
        if (x->eos[i] == (int32_t)id) return DFRT_OK;
    if (x->n_eos == MODEL_MAX_EOS)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: more than %d distinct end-of-sequence ids", source, MODEL_MAX_EOS);
    x->eos[x->n_eos++] = (int32_t)id;
    return DFRT_OK;
}

/* End-of-sequence ids: config.json's (which dfrt_config_parse has bounded to the vocabulary,
 * with bos_token_id), and generation_config.json's when present, each an id of the vocabulary. */
static dfrt_status read_eos(const dfrt_checkpoint *cp, model_extras *x) {
    const dfrt_config *c = cp->config;
    char *config_path = dfrt_path_join(cp->dir, "config.json");
    if (!config_path) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    for (int i = 0; i < c->n_eos && s == DFRT_OK; i++) s = add_eos(x, c, config_path, (double)c->eos_token_ids[i]);
    free(config_path);
    DFRT_TRY(s);
    char *path = dfrt_path_join(cp->dir, "generation_config.json"), *text = NULL;
    if (!path) return DFRT_OUT_OF_MEMORY;
    size_t len;
    cJSON *root = NULL;
    if (access(path, F_OK) == 0) { /* optional, but a broken one is an error */
        s = dfrt_read_file(path, DFRT_MAX_CONFIG_BYTES, &text, &len);
        if (s == DFRT_OK) s = dfrt_json_parse(text, len, path, &root);
        const cJSON *eos = root ? cJSON_GetObjectItemCaseSensitive(root, "eos_token_id") : NULL, *e;
        if (s == DFRT_OK && eos && !cJSON_IsNull(eos) && !cJSON_IsNumber(eos) && !cJSON_IsArray(eos))
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: eos_token_id must be an integer or a list of integers", path);
        if (s == DFRT_OK && cJSON_IsNumber(eos)) s = add_eos(x, c, path, eos->valuedouble);
        if (s == DFRT_OK && cJSON_IsArray(eos)) {
            cJSON_ArrayForEach(e, eos) {
                if (s == DFRT_OK && !cJSON_IsNumber(e))
                    s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: eos_token_id must be an integer or a list of integers", path);
                if (s == DFRT_OK) s = add_eos(x, c, path, e->valuedouble);
            }
        }
    }
    cJSON_Delete(root);
    free(text);
    free(path);
    return s;
}

/* tokenizer.json, when the directory has one (or x->tokenizer_path, which must be there): it must know the ids the model uses as BOS and
 * EOS, and cover most of the vocabulary. A tokenizer smaller than vocab_size is normal (the
 * embedding rows are padded: Qwen3's 151669 tokens in 151936 rows), so the generated ids
 * beyond it are the caller's to report; one covering less than half of it is another model's. */
static dfrt_status load_tokenizer(const dfrt_checkpoint *cp, model_extras *x) {
    const dfrt_config *c = cp->config;
    char *path = x->tokenizer_path ? dfrt_strdup(x->tokenizer_path) : dfrt_path_join(cp->dir, "tokenizer.json");
    if (!path) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    if (x->tokenizer_path || access(path, F_OK) == 0) s = dfrt_tokenizer_load(path, &x->tokenizer);
    if (s != DFRT_OK || !x->tokenizer) {
        free(path);
        return s;
    }
    int64_t n = dfrt_tokenizer_vocab_size(x->tokenizer), v = c->vocab_size;
    if (2 * n < v)
        s = dfrt_fail(DFRT_FORMAT_ERROR,
                      "%s has %lld ids, fewer than half of the model's vocab_size %lld (config.json): a tokenizer of "
                      "another model?",
                      path, (long long)n, (long long)v);
    if (s == DFRT_OK && c->bos_token_id >= n)
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s has %lld ids, but config.json's bos_token_id is %lld (vocab_size %lld)",
                      path, (long long)n, (long long)c->bos_token_id, (long long)v);
    for (int i = 0; i < x->n_eos && s == DFRT_OK; i++)
        if (x->eos[i] >= n)
            s = dfrt_fail(DFRT_FORMAT_ERROR,
                          "%s has %lld ids, but the end-of-sequence id %d (config.json, generation_config.json) is "
                          "beyond them (vocab_size %lld)",
                          path, (long long)n, (int)x->eos[i], (long long)v);
    if (s == DFRT_OK && n > v)
        dfrt_warn("%s has %lld ids, more than the model's vocab_size %lld: prompts holding ids from %lld on will be "
                  "refused",
                  path, (long long)n, (long long)v, (long long)v);
    free(path);
    return s;
}

static void set_dims(dfrt_model *m, const dfrt_config *c) {
    m->config = (dfrt_config *)c;
    m->hidden = (uint32_t)c->hidden_size;
    m->n_layers = (uint32_t)c->n_layers;
    m->n_heads = (uint32_t)c->n_heads;
    m->n_kv = (uint32_t)c->n_kv_heads;
    m->head_dim = (uint32_t)c->head_dim;
    m->inter = (uint32_t)c->intermediate_size;
    m->vocab = (uint32_t)c->vocab_size;
    m->qkv_width = (m->n_heads + 2 * m->n_kv) * m->head_dim;
    m->rot_dim = dfrt_rot_dim(c);
    m->layer_begin = 0; /* the whole model, unless a layer split narrows it */
    m->layer_end = m->n_layers;
    m->has_embed = m->has_head = true;
}

/* Everything dfrt_model_load checks but the device: config, the whole weight set and nothing
 * unused, every weight's dtype and shape, the unit layout the executor runs, the BOS/EOS ids and
 * the tokenizer. With x, hands over the tokenizer and EOS ids (the caller frees x->tokenizer). */
static dfrt_status check_model(const dfrt_checkpoint *cp, model_extras *x) {
    const dfrt_config *c = cp->config;
    model_extras local = {0};
    if (!x) x = &local;
    DFRT_TRY(dfrt_model_check_config(c, cp->dir));
    DFRT_TRY(dfrt_weight_set_check(cp, DFRT_WEIGHTS_RUN));
    dfrt_model dims = {0};
    set_dims(&dims, c);
    plan pl = {0};
    dfrt_status s = make_plan(&dims, cp, &pl);
    free(pl.proj);
    char name[256];
    const layer_norm *norms = layer_norms(c);
    for (uint32_t l = 0; l < dims.n_layers && s == DFRT_OK; l++) {
        for (int k = 0; norms[k].name && s == DFRT_OK; k++)
            s = upload_norm(NULL, cp, l, norms[k].name, norms[k].head ? dims.head_dim : dims.hidden, NULL);
        for (int p = 0; p < 3 && c->attention_bias && s == DFRT_OK; p++) {
            snprintf(name, sizeof name, "%slayers.%u.%s.bias", dfrt_weight_prefix(c), l, qkv_names[p]);
            s = load_vector(cp, name, qkv_rows(&dims, p), NULL);
        }
    }
    if (s == DFRT_OK) s = upload_norm(NULL, cp, -1, "norm", dims.hidden, NULL);
    if (s == DFRT_OK) s = read_eos(cp, x);
    if (s == DFRT_OK) s = load_tokenizer(cp, x);
    if (s != DFRT_OK || x == &local) { /* the caller gets a tokenizer only when it asked and all holds */
        dfrt_tokenizer_free(x->tokenizer);
        x->tokenizer = NULL;
    }
    return s;
}

dfrt_status dfrt_model_check(const dfrt_checkpoint *cp) {
    if (!cp) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_check: checkpoint is NULL");
    return check_model(cp, NULL);
}

void dfrt_model_check_warn(const char *dir) {
    dfrt_checkpoint *cp;
    dfrt_status s = dfrt_checkpoint_open(dir, &cp);
    if (s == DFRT_OK) s = check_model(cp, NULL);
    dfrt_checkpoint_close(cp);
    if (s != DFRT_OK) {
        const char *why = dfrt_last_error();
        size_t n = strlen(dir);
        if (strncmp(why, dir, n) == 0 && why[n] == ':' && why[n + 1] == ' ') why += n + 2; /* named once */
        dfrt_warn("%s: dfrt run will refuse this model: %s", dir, why);
        dfrt_clear_error();
    }
}

static dfrt_status allocate_runtime(dfrt_model *m, const plan *pl) {
    uint64_t rows = (uint64_t)m->max_rows;
    if (pl->scratch_elems) DFRT_TRY(dfrt_buffer_alloc(m->b, 2 * pl->scratch_elems, &m->scratch));
    if (m->embed.unit) DFRT_TRY(dfrt_buffer_alloc(m->b, 2 * m->row_slot_elems * (uint64_t)m->embed_row_slots, &m->embed_rows));
    struct {
        dfrt_buffer **buf;
        uint64_t elems;
    } acts[] = {
        {&m->x, rows * m->hidden},
        {&m->xn, rows * m->hidden},
        {&m->tmp, rows * m->hidden},
        {&m->qkv, rows * m->qkv_width},
        {&m->attn, rows * m->n_heads * m->head_dim},
        {&m->gate_up, rows * 2 * m->inter},
        {&m->act, rows * m->inter},
        {&m->logits, (uint64_t)m->max_batch * m->vocab},
        {&m->offsets, rows},
        {&m->slots, rows},
        {&m->positions, rows},
        {&m->argmax, rows},
    };
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) DFRT_TRY(dfrt_buffer_alloc(m->b, 4 * acts[i].elems, acts[i].buf));
    m->k_cache = dfrt_calloc(m->n_layers, sizeof *m->k_cache, "KV cache");
    m->v_cache = dfrt_calloc(m->n_layers, sizeof *m->v_cache, "KV cache");
    if (!m->k_cache || !m->v_cache) return DFRT_OUT_OF_MEMORY;
    uint64_t per_layer = kv_layer_bytes(m) / 2; /* keys, and values, apart */
    for (uint32_t l = m->layer_begin; l < m->layer_end; l++) {
        DFRT_TRY(dfrt_buffer_alloc(m->b, per_layer, &m->k_cache[l]));
        DFRT_TRY(dfrt_buffer_alloc(m->b, per_layer, &m->v_cache[l]));
    }
    m->host_offsets = dfrt_malloc(rows * sizeof *m->host_offsets, "row table");
    return m->host_offsets ? DFRT_OK : DFRT_OUT_OF_MEMORY;
}

/* An image-text model runs as its text model: said once per process. */
static void note_vision(const dfrt_checkpoint *cp) {
    static atomic_int said;
    size_t n = 0;
    for (size_t i = 0; i < dfrt_tensor_set_count(cp->tensors); i++)
        n += dfrt_is_vision_weight(cp->config, dfrt_tensor_set_get(cp->tensors, i)->name);
    if (n && !atomic_exchange(&said, 1))
        dfrt_warn("%s: %s runs as its text model: the vision tower (%zu tensors) is left unused, so images are not "
                  "understood",
                  cp->dir, cp->config->architecture, n);
}

/* DF11 on the CPU backend decodes every weight of each unit in every forward pass (inside its
 * df11_matmul, a few rows at a time): the decoder, not memory, bounds generation. dfrt bench
 * model --synthetic tiny, 2 cores: 98 against 431 tokens/s decoding one sequence; dfrt bench ops
 * --shapes qwen3-4b: a layer at M = 1 10x slower than BF16. */
static void warn_cpu_df11(const dfrt_backend *b, const dfrt_checkpoint *cp) {
    static atomic_int warned;
    if (cp->n_units == 0 || strcmp(dfrt_backend_info(b)->backend, "cpu") != 0 || atomic_exchange(&warned, 1)) return;
    dfrt_warn("%s: DF11 on the CPU backend decodes every weight again for each token, which makes generating "
              "about 4x (small models) to 10x (4B parameters) slower than BF16; dfrt decompress makes a BF16 copy "
              "of the model that runs faster",
              cp->dir);
}

/* A part of a split: the layers it runs, the tables it holds, and for tensor parallelism its
 * rank; NULL: the whole model. */
typedef struct part_range {
    uint32_t begin, end;
    bool embed, head;
    int tp_rank, tp_size; /* tensor parallelism: the rank, of tp_size (0 and 0: none) */
} part_range;

/* Tensor parallelism over n ranks: what the model must allow. */
static dfrt_status check_parallel(const dfrt_model *m, int n) {
    const dfrt_layer_layout *lay = layout(m);
    for (int p = 0; p < lay->n; p++)
        if (lay->roles[p] == DFRT_PROJ_QKV || lay->roles[p] == DFRT_PROJ_GATE_UP)
            return dfrt_fail(DFRT_UNSUPPORTED, "tensor parallelism: %s fuses its projections (%s), which dfrt does not "
                             "cut per device; the layer split runs it", m->config->architecture, lay->names[p]);
    if (m->n_heads % n || m->n_kv % n || m->inter % n)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "tensor parallelism over %d devices: %u attention heads, %u KV heads "
                         "and intermediate size %u must each divide by %d", n, m->n_heads, m->n_kv, m->inter, n);
    return DFRT_OK;
}

/* The limits a model's options set: context, batch, rows per pass, KV cache type. */
static dfrt_status set_limits(dfrt_model *m, const dfrt_backend *b, const dfrt_model_options *o) {
    const dfrt_config *c = m->config;
    int mpe = c->max_position_embeddings > 0 ? (int)DFRT_MIN(c->max_position_embeddings, 1 << 22) : 4096;
    m->max_ctx = o->max_context > 0 ? o->max_context : DFRT_MIN(mpe, 4096);
    m->max_batch = o->max_batch > 0 ? o->max_batch : 1;
    /* GPUs gain from long pieces; the CPU does not, and stops on Ctrl-C only between ops */
    m->max_rows = o->max_rows > 0 ? o->max_rows : strcmp(dfrt_backend_info(b)->backend, "cpu") == 0 ? 512 : 2048;
    m->kv_type = o->kv_f32 ? DFRT_KV_F32 : DFRT_KV_BF16;
    if (m->max_ctx > mpe)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "max_context %d exceeds the model's max_position_embeddings %d", m->max_ctx,
                         mpe);
    if (m->max_batch > 4096 || m->max_rows > (1 << 20))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "max_batch %d or max_rows %d is too large", m->max_batch, m->max_rows);
    if (m->max_rows < m->max_batch) m->max_rows = m->max_batch;
    /* no pass holds more rows than the sequences' positions: activations sized for no more */
    if ((int64_t)m->max_rows > (int64_t)m->max_batch * m->max_ctx) m->max_rows = m->max_batch * m->max_ctx;
    return DFRT_OK;
}

/* Loads the model of cp, or with r the part of it that r says (its checks left to the first
 * part's load), which closes cp when owned; else the model borrows cp's config. */
static dfrt_status load_part(dfrt_backend *b, dfrt_checkpoint *cp, bool owned, const dfrt_model_options *o,
                             const part_range *r, dfrt_model **out) {
    dfrt_model *m = dfrt_calloc(1, sizeof *m, "a model");
    if (!m) {
        if (owned) dfrt_checkpoint_close(cp);
        return DFRT_OUT_OF_MEMORY;
    }
    m->b = b;
    m->config_borrowed = !owned;
    plan pl = {0};
    model_extras extras = {.tokenizer_path = o->tokenizer_path};
    dfrt_status s = DFRT_OK;
    /* the same checks as dfrt_model_check (dfrt inspect, dfrt compress), then the device */
    if ((!r || r->embed) && (s = check_model(cp, &extras)) != DFRT_OK) goto fail;
    m->tokenizer = extras.tokenizer;
    m->n_eos = extras.n_eos;
    memcpy(m->eos, extras.eos, sizeof m->eos);
    set_dims(m, cp->config); /* the model takes the config over from the checkpoint below */
    if (r) {
        m->layer_begin = r->begin;
        m->layer_end = r->end;
        m->has_embed = r->embed;
        m->has_head = r->head;
        m->tp_rank = r->tp_rank;
        m->tp_size = r->tp_size;
    }
    if (m->tp_size > 1) { /* the rank's heads, KV heads and intermediate columns */
        if ((s = check_parallel(m, m->tp_size)) != DFRT_OK) goto fail;
        m->n_heads /= (uint32_t)m->tp_size;
        m->n_kv /= (uint32_t)m->tp_size;
        m->inter /= (uint32_t)m->tp_size;
        m->qkv_width = (m->n_heads + 2 * m->n_kv) * m->head_dim;
        if (!(m->shard_units = dfrt_calloc(m->n_layers, sizeof *m->shard_units, "layer shards"))) {
            s = DFRT_OUT_OF_MEMORY;
            goto fail;
        }
    }
    const dfrt_config *c = m->config;
    m->eps = (float)c->rms_norm_eps;
    /* Gemma 3: scores scaled by query_pre_attn_scalar^-0.5, embeddings by sqrt(hidden_size) in
     * fp32 (transformers rounds it to the activations' dtype, fp32 here), the GELU-tanh gate */
    m->attn_scale = (float)(1.0 / sqrt(c->query_pre_attn_scalar > 0 ? c->query_pre_attn_scalar : (double)m->head_dim));
    m->embed_scale = dfrt_architecture_is_gemma3(c->architecture) ? (float)sqrt((double)m->hidden) : 0.0f;
    /* transformers' Gemma 3 attention leaves attn_logit_softcapping unused (Gemma 2's applies
     * it), and so does dfrt, to give the same model */
    m->attn_softcap = dfrt_architecture_is_gemma3(c->architecture) ? 0.0f : (float)c->attn_softcap;
    m->final_softcap = (float)c->final_softcap;
    m->act_fn = c->hidden_act && strcmp(c->hidden_act, "gelu_pytorch_tanh") == 0 ? DFRT_GATE_GELU_TANH : DFRT_GATE_SILU;
    if ((s = set_limits(m, b, o)) != DFRT_OK) goto fail;
    if (!(m->units = dfrt_calloc(cp->n_units ? cp->n_units : 1, sizeof *m->units, "units")) ||
        !(m->layers = dfrt_calloc(m->n_layers, sizeof *m->layers, "layers"))) {
        s = DFRT_OUT_OF_MEMORY;
        goto fail;
    }
    m->n_units = cp->n_units;
    m->fused = b->vt->df11_matmul != NULL;
    m->eager = o->eager || !b->vt->capture_begin || m->tp_size > 1; /* ranks' sums are not recorded */
    if ((s = make_plan(m, cp, &pl)) != DFRT_OK) goto fail;
    if ((s = plan_offload(m, cp, &pl, o)) != DFRT_OK) goto fail;
    if (m->first_offloaded < m->n_layers) m->eager = true; /* the copies are not recorded */
    /* Embedding rows from a compressed table are decoded chunk by chunk into row slots. */
    m->embed_row_slots = DFRT_MIN(m->max_rows, 64);
    if (pl.embed.unit)
        m->row_slot_elems = (uint64_t)m->hidden + 2ull * pl.embed.unit->max_chunk_weights + 16;
    if ((s = check_fits(m, &pl, pl.embed.unit && m->has_embed ? 2 * m->row_slot_elems * (uint64_t)m->embed_row_slots : 0)) != DFRT_OK)
        goto fail;
    warn_cpu_df11(b, cp);

    /* tensor parallelism: the layers come after, from the shares load_split makes */
    for (uint32_t l = m->layer_begin; l < m->layer_end && s == DFRT_OK && m->tp_size < 2; l++)
        s = load_layer(m, cp, &pl, l, NULL);
    if (s == DFRT_OK) s = make_slots(m);
    if (s == DFRT_OK && m->has_embed) s = load_table(m, cp, &pl.embed, &m->embed);
    if (s == DFRT_OK && m->has_head) {
        if (pl.tied && m->has_embed) m->lm_head = m->embed;
        else s = load_table(m, cp, &pl.lm_head, &m->lm_head); /* tied: the embedding, on a split's last device */
        if (s == DFRT_OK) s = upload_norm(m, cp, -1, "norm", m->hidden, &m->norm_final);
    }
    if (s == DFRT_OK && c->rope_local_theta > 0) { /* Gemma 3's sliding layers: default RoPE of their base */
        dfrt_config local = {.rope_theta = c->rope_local_theta, .rope_type = DFRT_ROPE_DEFAULT};
        float *f = dfrt_malloc(m->rot_dim / 2 * sizeof *f, "inv_freq");
        if (!f) s = DFRT_OUT_OF_MEMORY;
        else {
            inv_freq(&local, m->rot_dim, false, f);
            s = upload_f32(m, f, m->rot_dim / 2, &m->inv_freq_local);
            free(f);
        }
    }
    if (s == DFRT_OK) {
        /* longrope: the short factors first (dfrt_model_forward switches tables by position) */
        m->inv_short = dfrt_malloc(m->rot_dim / 2 * sizeof *m->inv_short, "inv_freq");
        if (!m->inv_short) s = DFRT_OUT_OF_MEMORY;
        else {
            inv_freq(c, m->rot_dim, false, m->inv_short);
            s = upload_f32(m, m->inv_short, m->rot_dim / 2, &m->inv_freq);
        }
        m->rope_scale = 1.0f;
        if (s == DFRT_OK && c->rope_type == DFRT_ROPE_LONGROPE) {
            if (!(m->inv_long = dfrt_malloc(m->rot_dim / 2 * sizeof *m->inv_long, "inv_freq"))) s = DFRT_OUT_OF_MEMORY;
            else inv_freq(c, m->rot_dim, true, m->inv_long);
            /* transformers: the original context is original_max_position_embeddings (else
             * max_position_embeddings); the attention factor, when not given, sqrt(1 + ln(s) /
             * ln(original)) for s = max_position_embeddings / original > 1 */
            double orig = (double)(c->rope_original_max_position > 0 ? c->rope_original_max_position
                                                                     : c->max_position_embeddings);
            double scale = orig > 0 ? (double)c->max_position_embeddings / orig : 1;
            m->rope_long_after = (int64_t)orig;
            m->rope_scale = c->rope_attention_factor > 0 ? (float)c->rope_attention_factor
                            : scale > 1                  ? (float)sqrt(1 + log(scale) / log(orig))
                                                         : 1.0f;
        }
    }
    if (s == DFRT_OK) s = allocate_runtime(m, &pl);
    if (s == DFRT_OK) s = dfrt_backend_synchronize(b);
    if (s != DFRT_OK) goto fail;
    m->device_bytes = dfrt_backend_allocated(b);
    note_vision(cp);
    free(pl.proj);
    if (owned) {
        cp->config = NULL; /* now the model's */
        dfrt_checkpoint_close(cp);
    }
    *out = m;
    return DFRT_OK;
fail:
    free(pl.proj);
    if (m->config == cp->config) m->config = NULL; /* still the checkpoint's */
    if (owned) dfrt_checkpoint_close(cp);
    dfrt_model_free(m);
    return s;
}

/* The bytes a layer split counts per layer and on the first and last devices, from the plan
 * of the whole model (weights in the backend's device layout). */
static void split_sizes(const dfrt_model *dims, const plan *pl, int layout, uint64_t *layer_bytes, uint64_t *first,
                        uint64_t *last) {
    const uint64_t kv = kv_layer_bytes(dims);
    const uint64_t norms = 4ull * (4 * (uint64_t)dims->hidden + 2 * dims->head_dim + dims->qkv_width);
    for (uint32_t l = 0; l < dims->n_layers; l++) {
        const dfrt_df11_unit *u = pl->proj[l][0].unit;
        layer_bytes[l] = (u ? dfrt_df11_device_bytes(u, layout) : 2 * pl->layer_elems) + kv + norms;
    }
    const matrix_ref *t[2] = {&pl->embed, &pl->lm_head};
    uint64_t table[2];
    for (int i = 0; i < 2; i++)
        table[i] = t[i]->unit ? dfrt_df11_device_bytes(t[i]->unit, layout) : 2ull * dims->vocab * dims->hidden;
    *first = table[0];
    *last = table[1] + 4ull * dims->max_batch * dims->vocab + 4ull * dims->hidden;
}

/* Host memory free for use (MemAvailable), 0 when unknown. */
static uint64_t host_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[128];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

typedef struct share_job {
    dfrt_model *const *ranks;
    int n;
    const plan *pl;
    uint32_t first;
    layer_share *shares; /* (layers of the batch, n) */
} share_job;

static dfrt_status share_task(void *ctx, size_t i) {
    share_job *j = ctx;
    return make_shares(j->ranks, j->n, j->pl, j->first + (uint32_t)i, j->shares + i * (size_t)j->n);
}

/* Tensor parallelism: every layer's shares, made for several layers at once on the host's
 * cores (as many as half the free host memory holds: a layer decoded and its shares encoded
 * take about 4 bytes a weight), each then uploaded to its rank. */
static dfrt_status load_shares(dfrt_model *const *ranks, int n, const dfrt_checkpoint *cp, const plan *pl) {
    const uint32_t n_layers = ranks[0]->n_layers;
    uint64_t largest = 1;
    for (uint32_t l = 0; l < n_layers; l++) {
        const dfrt_df11_unit *u = pl->proj[l][0].unit;
        largest = DFRT_MAX(largest, u ? u->n : pl->layer_elems);
    }
    int k = dfrt_thread_count(0);
    uint64_t avail = host_available();
    if (avail && avail / 2 / (4 * largest) < (uint64_t)k) k = (int)DFRT_MAX(avail / 2 / (4 * largest), 1);
    if ((uint32_t)k > n_layers) k = (int)n_layers;
    layer_share *shares = dfrt_calloc((size_t)k * n, sizeof *shares, "layer shares");
    if (!shares) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    for (uint32_t first = 0; first < n_layers && s == DFRT_OK; first += (uint32_t)k) {
        uint32_t batch = DFRT_MIN((uint32_t)k, n_layers - first);
        share_job job = {ranks, n, pl, first, shares};
        s = dfrt_parallel_for(batch, k, share_task, &job);
        for (uint32_t i = 0; i < batch && s == DFRT_OK; i++)
            for (int r = 0; r < n && s == DFRT_OK; r++) {
                s = load_layer(ranks[r], cp, pl, first + i, &shares[i * (size_t)n + r]);
                if (s != DFRT_OK)
                    s = dfrt_fail_prefix(s, "tensor parallelism, rank %d on %s device %d", r,
                                         ranks[r]->b->info.backend, ranks[r]->b->info.index);
            }
        for (size_t i = 0; i < (size_t)k * n; i++) share_free(&shares[i]);
    }
    free(shares);
    for (int r = 0; r < n && s == DFRT_OK; r++) {
        s = dfrt_backend_synchronize(ranks[r]->b);
        ranks[r]->device_bytes = dfrt_backend_allocated(ranks[r]->b);
    }
    return s;
}

/* Several devices (o->n_devices > 1): opens the devices after the first and loads one part
 * per device. Layer split: the ranges planned by dfrt_split_layers, each part handing its
 * residual stream to the next. Tensor parallelism: ranks of every layer, their shares made by
 * load_shares, and the communicator that sums them. */
static dfrt_status load_split(dfrt_backend *b, dfrt_checkpoint *cp, bool owned, const dfrt_model_options *o,
                              dfrt_model **out) {
    const int n = o->n_devices;
    dfrt_status s = DFRT_OK;
    dfrt_backend *backends[DFRT_MAX_DEVICES] = {b};
    dfrt_model *parts[DFRT_MAX_DEVICES] = {0};
    uint64_t *layer_bytes = NULL;
    plan pl = {0};
    dfrt_model dims = {0};
    if (n > DFRT_MAX_DEVICES) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "a split over %d devices: at most %d", n, DFRT_MAX_DEVICES);
        goto done;
    }
    if (o->offload_layers || o->weight_budget) {
        s = dfrt_fail(DFRT_UNSUPPORTED, "offloading layers and splitting them over devices do not go together: "
                      "give one of them");
        goto done;
    }
    if (o->devices[0] != b->info.index) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "a split's first device is %d, but the backend given is %s device %d",
                      o->devices[0], b->info.backend, b->info.index);
        goto done;
    }
    bool by_memory = true, tp = o->tensor_parallel != 0;
    for (int i = 0; i < n; i++) {
        if (o->device_shares[i] < 0 || !isfinite(o->device_shares[i])) {
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "device %d's share of the split is %g; shares are positive numbers", i,
                          o->device_shares[i]);
            goto done;
        }
        by_memory &= o->device_shares[i] == 0;
    }
    if (tp && !by_memory) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "tensor parallelism gives every device an equal share; device shares "
                      "(--tensor-split) are the layer split's");
        goto done;
    }
    for (int i = 1; i < n && s == DFRT_OK; i++) s = dfrt_backend_open(b->info.backend, o->devices[i], &backends[i]);
    if (s != DFRT_OK) goto done;
    /* the whole model's plan, for the sizes the split weighs */
    if ((s = dfrt_model_check_config(cp->config, cp->dir)) != DFRT_OK) goto done;
    set_dims(&dims, cp->config);
    dims.fused = b->vt->df11_matmul != NULL;
    if ((s = set_limits(&dims, b, o)) != DFRT_OK || (s = make_plan(&dims, cp, &pl)) != DFRT_OK) goto done;
    dfrt_layer_split split;
    if (tp) {
        if ((s = check_parallel(&dims, n)) != DFRT_OK) goto done;
    } else { /* the ranges, by each device's share of the bytes */
        if (!(layer_bytes = dfrt_calloc(dims.n_layers ? dims.n_layers : 1, sizeof *layer_bytes, "layer sizes"))) {
            s = DFRT_OUT_OF_MEMORY;
            goto done;
        }
        uint64_t first, last;
        split_sizes(&dims, &pl, dfrt_backend_df11_layout(b), layer_bytes, &first, &last);
        double shares[DFRT_MAX_DEVICES];
        for (int i = 0; i < n; i++) {
            shares[i] = by_memory ? (double)backends[i]->info.memory_bytes : o->device_shares[i];
            if (by_memory && !(shares[i] > 0)) shares[i] = 1; /* a device that does not say: equal */
            if (!by_memory && !(shares[i] > 0)) {
                s = dfrt_fail(DFRT_INVALID_ARGUMENT, "device %d's share of the split is 0; give every device a share, "
                              "or none (then by device memory)", i);
                goto done;
            }
        }
        if ((s = dfrt_split_layers(dims.n_layers, layer_bytes, first, last, n, shares, &split)) != DFRT_OK) goto done;
    }
    for (int i = 0; i < n && s == DFRT_OK; i++) {
        part_range r = tp ? (part_range){0, dims.n_layers, i == 0, i == 0, i, n}
                          : (part_range){split.begin[i], split.end[i], i == 0, i == n - 1, 0, 0};
        s = load_part(backends[i], cp, false, o, &r, &parts[i]);
        if (s == DFRT_OK) {
            parts[i]->owns_backend = i > 0;
            backends[i] = NULL; /* the part's now */
        } else { /* which part of the split failed */
            if (tp)
                s = dfrt_fail_prefix(s, "tensor parallelism, rank %d on %s device %d", i, backends[i]->info.backend,
                                     o->devices[i]);
            else
                s = dfrt_fail_prefix(s, "layer split, layers %u .. %u on %s device %d", r.begin, r.end - 1,
                                     backends[i]->info.backend, o->devices[i]);
        }
    }
    if (s == DFRT_OK && tp) s = load_shares(parts, n, cp, &pl);
    if (s != DFRT_OK) goto done;
    for (int i = 0; i + 1 < n; i++) parts[i]->next = parts[i + 1];
    if (tp) {
        dfrt_backend *bs[DFRT_MAX_DEVICES];
        for (int i = 0; i < n; i++) bs[i] = parts[i]->b;
        if ((s = dfrt_comm_create(bs, n, &parts[0]->comm)) != DFRT_OK) {
            for (int i = 1; i < n; i++) parts[i] = NULL; /* freed with the first, now linked */
            goto done;
        }
    }
    if (owned) { /* the first part takes the config over; the others borrow it from it */
        parts[0]->config_borrowed = false;
        cp->config = NULL;
    }
    *out = parts[0];
    memset(parts, 0, sizeof parts);
done:
    for (int i = 0; i < n && i < DFRT_MAX_DEVICES; i++) dfrt_model_free(parts[i]);
    for (int i = 1; i < n && i < DFRT_MAX_DEVICES; i++) dfrt_backend_close(backends[i]);
    free(pl.proj);
    free(layer_bytes);
    if (owned) dfrt_checkpoint_close(cp);
    return s;
}

/* Loads the model of cp (on one device, or split over several), which it closes when owned;
 * else the model borrows cp's config. */
static dfrt_status load(dfrt_backend *b, dfrt_checkpoint *cp, bool owned, const dfrt_model_options *options,
                        dfrt_model **out) {
    dfrt_model_options defaults = {0};
    const dfrt_model_options *o = options ? options : &defaults;
    if (o->n_devices > 1) return load_split(b, cp, owned, o, out);
    return load_part(b, cp, owned, o, NULL, out);
}

dfrt_status dfrt_model_load(dfrt_backend *b, const char *dir, const dfrt_model_options *options, dfrt_model **out) {
    *out = NULL;
    if (!b || !dir) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_load: backend or directory is NULL");
    dfrt_checkpoint *cp;
    DFRT_TRY(dfrt_checkpoint_open(dir, &cp));
    return load(b, cp, true, options, out);
}

dfrt_status dfrt_model_load_checkpoint(dfrt_backend *b, const dfrt_checkpoint *cp, const dfrt_model_options *options,
                                       dfrt_model **out) {
    *out = NULL;
    if (!b || !cp) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_load_checkpoint: backend or checkpoint is NULL");
    return load(b, (dfrt_checkpoint *)cp, false, options, out);
}

void dfrt_model_free(dfrt_model *m) {
    if (!m) return;
    dfrt_model_free(m->next); /* a split's later parts, which borrow the config */
    dfrt_comm_free(m->comm);
    dfrt_backend *owned = m->owns_backend ? m->b : NULL;
    for (uint32_t l = 0; m->shard_units && l < m->n_layers; l++) dfrt_device_df11_free(m->shard_units[l]);
    free(m->shard_units);
    for (int i = 0; i < MODEL_MAX_RECORDED; i++)
        if (m->recorded[i].graph) m->b->vt->graph_free(m->b, m->recorded[i].graph);
    for (uint32_t l = 0; m->layers && l < m->n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        dfrt_buffer *bufs[] = {lw->resident,     lw->norm_in, lw->norm_post, lw->norm_attn_out,
                               lw->norm_mlp_out, lw->q_norm,  lw->k_norm,    lw->qkv_bias};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) dfrt_buffer_free(bufs[i]);
    }
    free(m->layers);
    for (uint32_t l = 0; m->images && l < m->n_layers; l++) dfrt_df11_image_free(m->images[l]);
    for (int i = 0; i < 2; i++) dfrt_device_df11_free(m->offload_slots[i]);
    DFRT_FREE_ALL(m->images, m->views);
    for (size_t i = 0; m->units && i < m->n_units; i++) dfrt_device_df11_free(m->units[i]);
    free(m->units);
    dfrt_buffer_free(m->embed.resident);
    if (m->lm_head.resident != m->embed.resident) dfrt_buffer_free(m->lm_head.resident);
    dfrt_buffer *bufs[] = {m->norm_final, m->inv_freq, m->inv_freq_local, m->scratch, m->embed_rows, m->x,
                           m->xn,         m->qkv,      m->attn,           m->tmp,     m->gate_up,    m->act,
                           m->logits,     m->offsets,  m->slots,          m->positions, m->argmax};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) dfrt_buffer_free(bufs[i]);
    for (uint32_t l = 0; m->k_cache && l < m->n_layers; l++) dfrt_buffer_free(m->k_cache[l]);
    for (uint32_t l = 0; m->v_cache && l < m->n_layers; l++) dfrt_buffer_free(m->v_cache[l]);
    dfrt_tokenizer_free(m->tokenizer);
    DFRT_FREE_ALL(m->inv_short, m->inv_long);
    if (!m->config_borrowed) dfrt_config_free(m->config);
    DFRT_FREE_ALL(m->k_cache, m->v_cache, m->host_offsets, m);
    dfrt_backend_close(owned);
}

const dfrt_config *dfrt_model_config(const dfrt_model *m) { return m->config; }
const dfrt_tokenizer *dfrt_model_tokenizer(const dfrt_model *m) { return m->tokenizer; }
int dfrt_model_max_context(const dfrt_model *m) { return m->max_ctx; }
dfrt_kv_type dfrt_model_kv_type(const dfrt_model *m) { return m->kv_type; }
int dfrt_model_max_batch(const dfrt_model *m) { return m->max_batch; }
uint64_t dfrt_model_device_bytes(const dfrt_model *m) {
    uint64_t bytes = 0;
    for (; m; m = m->next) bytes += m->device_bytes;
    return bytes;
}

int dfrt_model_devices(const dfrt_model *m, dfrt_model_device *out, int max) {
    int n = 0;
    for (; m; m = m->next, n++)
        if (out && n < max)
            out[n] = (dfrt_model_device){.backend = m->b, .first_layer = m->layer_begin,
                                         .n_layers = m->layer_end - m->layer_begin, .embedding = m->has_embed,
                                         .lm_head = m->has_head, .device_bytes = m->device_bytes};
    return n;
}
int dfrt_model_offloaded_layers(const dfrt_model *m, uint64_t *out_copies, uint64_t *out_copied_bytes) {
    if (out_copies) *out_copies = m->offload_copies;
    if (out_copied_bytes) *out_copied_bytes = m->offload_bytes;
    return (int)(m->n_layers - m->first_offloaded);
}

uint64_t dfrt_model_kv_bytes(const dfrt_model *m, uint64_t *out_per_token) {
    /* keys and values of every layer: fp32, or BF16; of every rank's KV heads */
    const uint64_t per_token = 2ull * m->n_layers * m->n_kv * (m->tp_size > 1 ? (uint64_t)m->tp_size : 1) *
                               m->head_dim * (m->kv_type == DFRT_KV_BF16 ? 2 : 4);
    if (out_per_token) *out_per_token = per_token;
    return per_token * (uint64_t)m->max_batch * (uint64_t)m->max_ctx;
}

int dfrt_model_eos(const dfrt_model *m, const int32_t **out_ids) {
    *out_ids = m->eos;
    return m->n_eos;
}
