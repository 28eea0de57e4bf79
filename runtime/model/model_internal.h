/* The executor's model object, shared by model_load.c, model_forward.c and generate.c. */
#ifndef DFRT_MODEL_INTERNAL_H
#define DFRT_MODEL_INTERNAL_H

#include "backend.h"
#include "format/df11_internal.h"

#define MODEL_MAX_EOS 16

/* A layer's seven projections are one BF16 block in unit order (q, k, v, o, gate, up, down),
 * either a DF11 unit (read by the fused DF11 matmul, or decoded into the scratch right before
 * use where the backend lacks it), or resident. Element offsets of the fused q|k|v rows, o,
 * gate|up rows and down inside the block. */
typedef struct layer_weights {
    const dfrt_device_df11 *unit; /* NULL when resident */
    dfrt_buffer *resident;        /* BF16 block (when not compressed) */
    uint64_t off_qkv, off_o, off_gate_up, off_down;
    dfrt_buffer *norm_in, *norm_post; /* fp32 (hidden): before attention, before the MLP */
    /* fp32 (hidden), Gemma 3 only: the norms of the attention's and the MLP's outputs
     * (post_attention_layernorm, post_feedforward_layernorm; its pre-MLP norm is norm_post) */
    dfrt_buffer *norm_attn_out, *norm_mlp_out;
    dfrt_buffer *q_norm, *k_norm;     /* fp32 (head_dim), Qwen3 and Gemma 3 only */
    dfrt_buffer *qkv_bias;            /* fp32 (qkv_width), Qwen2 only */
    uint32_t window;                  /* a sliding-window layer's keys seen; 0: all */
    bool local_rope;                  /* RoPE from inv_freq_local (Gemma 3's sliding layers) */
} layer_weights;

/* A vocabulary-sized BF16 matrix (embeddings, lm_head): a DF11 unit or a resident table. */
typedef struct table_weights {
    const dfrt_device_df11 *unit;
    dfrt_buffer *resident;
} table_weights;

/* A pass's work after the embedding (the layers, the final norm, lm_head, argmax) for `rows`
 * rows that all want logits, recorded once per shape and replayed, on backends that record
 * work (CUDA graphs). */
typedef struct recorded_pass {
    uint32_t rows;
    bool argmax;
    bool seen;   /* the shape has run op by op once: that run sized the backend's scratch */
    void *graph; /* NULL until recorded */
} recorded_pass;

#define MODEL_MAX_RECORDED 8   /* shapes recorded per model; others run op by op */
#define MODEL_MAX_RECORDED_ROWS 64

struct dfrt_model {
    dfrt_backend *b;
    dfrt_config *config;
    bool config_borrowed; /* dfrt_model_load_checkpoint: the checkpoint's */
    dfrt_tokenizer *tokenizer;
    /* dimensions: hidden, layers, heads, KV heads, head dim, intermediate, vocab */
    uint32_t hidden, n_layers, n_heads, n_kv, head_dim, inter, vocab;
    uint32_t qkv_width; /* (n_heads + 2 n_kv) head_dim */
    uint32_t rot_dim;   /* the rotated part of each head (partial_rotary_factor) */
    float eps, attn_scale;
    float embed_scale;               /* Gemma: sqrt(hidden_size) in fp32; 0 (none) otherwise */
    float attn_softcap, final_softcap; /* Gemma's soft-capping of scores and logits; 0: none */
    dfrt_gate_act act_fn;            /* the MLP gate's activation */
    int max_ctx, max_batch, max_rows, embed_row_slots;

    size_t n_units;
    dfrt_device_df11 **units; /* every unit in use, owned */
    layer_weights *layers;    /* (n_layers) */
    table_weights embed, lm_head; /* lm_head == embed when tied */
    dfrt_buffer *norm_final;  /* fp32 (hidden) */
    dfrt_buffer *inv_freq;    /* fp32 (rot_dim / 2): inv_short, or inv_long while rope_long */
    dfrt_buffer *inv_freq_local; /* fp32 (rot_dim / 2): Gemma 3's sliding layers' (NULL otherwise) */
    /* longrope (Phi-3): the host's tables for sequences up to rope_long_after positions and
     * past them (NULL otherwise), which of them inv_freq holds, and the attention factor that
     * scales cos and sin (1 otherwise) */
    float *inv_short, *inv_long;
    bool rope_long;
    int64_t rope_long_after;
    float rope_scale;

    bool fused;                /* the backend runs df11_matmul: no scratch */
    dfrt_buffer *scratch;      /* BF16 (largest layer or lm_head unit), only without fused: decoded weights */
    dfrt_buffer *embed_rows;   /* BF16 (embed_row_slots, row_slot_elems): chunks holding embedding rows */
    uint64_t row_slot_elems;
    dfrt_buffer *x, *xn, *qkv, *attn, *tmp, *gate_up, *act; /* fp32 activations, max_rows rows */
    dfrt_buffer *logits;       /* fp32 (max_batch, vocab) */
    dfrt_buffer *offsets, *slots, *positions, *argmax; /* 32-bit per row */
    dfrt_buffer **k_cache, **v_cache; /* per layer: kv_type (max_batch, max_ctx, n_kv head_dim) */
    dfrt_kv_type kv_type;

    int n_eos;
    int32_t eos[MODEL_MAX_EOS];
    uint64_t device_bytes;

    /* host scratch for the per-row tables of a forward pass */
    uint32_t *host_offsets;

    /* Offloading: the layers from first_offloaded on keep their DF11 unit in host memory
     * (images[l]) and run from one of n_slots device slots, copied there before use unless the
     * slot still holds it (slot_layer); views[l] is the unit as the ops see it in its slot. */
    uint32_t first_offloaded; /* n_layers: none */
    dfrt_df11_image **images;
    dfrt_device_df11 *views;
    dfrt_device_df11 *offload_slots[2];
    int n_slots;
    int64_t slot_layer[2];
    uint64_t offload_copies, offload_bytes; /* copies made, and their bytes */

    bool eager; /* every pass op by op: options.eager, no recording backend, or recording failed */
    recorded_pass recorded[MODEL_MAX_RECORDED];

    /* Layer split (dfrt_model_options.n_devices): this part runs layers layer_begin ..
     * layer_end - 1 (every layer without a split), holds the embedding (the first part) and
     * the final norm and lm_head (the last), and after its layers hands x and tmp (the
     * residual stream and the last projection, which the next layer's norm adds) to next, the
     * part on the next device. The parts after the first borrow its config and own their
     * backend (owns_backend); the first owns the others. */
    uint32_t layer_begin, layer_end;
    bool has_embed, has_head, owns_backend;
    struct dfrt_model *next;
    /* Tensor parallelism (dfrt_model_options.tensor_parallel): the parts are ranks that each run
     * every layer over their share of the heads, KV heads and intermediate columns (n_heads,
     * n_kv, inter, qkv_width are the rank's), from layer units cut per rank at load
     * (shard_units, re-encoded: each decodes bit-exactly to its share of the weights); the
     * first rank embeds, copies x to the others and holds lm_head. comm (the first rank's)
     * sums their o and down projections. */
    int tp_rank, tp_size;
    dfrt_device_df11 **shard_units; /* (n_layers), owned */
    dfrt_comm *comm;

    /* Set by dfrt_generate for its duration: dfrt_model_forward stops between layers (with
     * DFRT_CANCELLED) once it is nonzero. */
    const volatile int *cancel;
};

/* The slot offloaded layer l runs from: the offloaded layers take the slots in turn. */
static inline int dfrt_offload_slot(const dfrt_model *m, uint32_t l) {
    return (int)((l - m->first_offloaded) % (uint32_t)m->n_slots);
}

/* Sampling on the host (sampling.c): xoshiro256** seeded through splitmix64, one stream per
 * sequence; dfrt_sample draws from softmax(logits / T) restricted to the top k, to the smallest
 * set whose probability reaches top_p, and to the tokens at least min_p times as likely as the
 * first (work: vocab entries of scratch). */
typedef struct dfrt_rng {
    uint64_t s[4];
} dfrt_rng;
typedef struct dfrt_candidate {
    float logit;
    int32_t id;
} dfrt_candidate;
void dfrt_rng_seed(dfrt_rng *r, uint64_t seed);
int32_t dfrt_sample(const float *logits, uint32_t vocab, const dfrt_sampling *s, dfrt_rng *r, dfrt_candidate *work);
/* The first index of the largest logit (NaN never wins), as dfrt_op_argmax. */
int32_t dfrt_host_argmax(const float *logits, uint32_t vocab);
bool dfrt_model_is_eos(const dfrt_model *m, int32_t t);

/* Whether the executor can run a model with this config (architecture, dimensions in range,
 * heads divisible, RoPE settings); dir names the model in messages. */
dfrt_status dfrt_model_check_config(const dfrt_config *c, const char *dir);
/* The rotated part of each head, int(head_dim * partial_rotary_factor) (transformers' rule). */
uint32_t dfrt_rot_dim(const dfrt_config *c);

/* Runs dfrt_model_check on a model directory and, when dfrt run would refuse the model, warns
 * "DIR: dfrt run will refuse this model: REASON" (model_load.c; compress's closing check). */
void dfrt_model_check_warn(const char *dir);

#endif
