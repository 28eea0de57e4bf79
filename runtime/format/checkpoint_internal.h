/* The checkpoint object, shared by checkpoint.c and the directory operations. */
#ifndef DFRT_CHECKPOINT_INTERNAL_H
#define DFRT_CHECKPOINT_INTERNAL_H

#include "format/df11_internal.h"

typedef struct checkpoint_unit {
    dfrt_df11_unit unit;
    const char *file;          /* the file holding its encoded_exponent */
    uint64_t compressed_bytes; /* the six tensors */
    dfrt_status status;        /* DFRT_OK unless opened with keep_invalid_units */
    char *message;
} checkpoint_unit;

struct dfrt_checkpoint {
    char *dir;
    dfrt_config *config;
    dfrt_tensor_set *tensors;
    size_t n_units;
    checkpoint_unit *units; /* in natural name order */
    /* Lookups that stay O(log n) for directories of many tensors, sorted by strcmp of the
     * name: the units (part -1), and every weight of a unit. */
    struct checkpoint_name {
        const char *name;
        size_t unit;
        int part;
    } *units_by_name, *weights;
    size_t n_weights;
};

/* keep_invalid_units: a unit that fails validation is kept with its status and message
 * instead of failing the open (for verify). */
dfrt_status dfrt_checkpoint_open_ex(const char *dir, bool keep_invalid_units, dfrt_checkpoint **out);

/* A checkpoint of tensors made in memory (dfrt_tensor_set_from_files), which it takes over
 * (closed with it, or here on failure), and the text of its config.json. name stands for the
 * directory in messages; it is no path, so no side file (tokenizer.json, generation_config.json)
 * is found beside it. */
dfrt_status dfrt_checkpoint_from_memory(const char *name, const char *config_json, size_t config_len,
                                        dfrt_tensor_set *tensors, dfrt_checkpoint **out);

int dfrt_natural_compare(const char *a, const char *b);
bool dfrt_weight_shape(const dfrt_config *c, const char *name, int64_t shape[2]);

/* Whether dfrt knows an architecture's weight set (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 3). */
bool dfrt_architecture_known(const char *architecture);
bool dfrt_architecture_is_gemma3(const char *architecture);
/* Qwen3 and Gemma 3 normalise each q and k head (self_attn.q_norm, k_norm). */
bool dfrt_architecture_has_qk_norm(const char *architecture);
/* config's weight_prefix ("model." when unset); lm_head's name under it ("lm_head.weight", or
 * "language_model.lm_head.weight" in the old image-text layout). */
const char *dfrt_weight_prefix(const dfrt_config *c);
const char *dfrt_lm_head_name(const dfrt_config *c);
/* An image-text model's vision tower or projector weight ([model.]vision_tower.*,
 * [model.]multi_modal_projector.*), which dfrt leaves alone. */
bool dfrt_is_vision_weight(const dfrt_config *c, const char *name);

/* What a decoder layer's projection computes: q, k, v, o, gate, up, down, or a fused q|k|v or
 * gate|up (Phi-3), whose rows are the parts' rows in that order. */
typedef enum dfrt_proj_role {
    DFRT_PROJ_Q,
    DFRT_PROJ_K,
    DFRT_PROJ_V,
    DFRT_PROJ_O,
    DFRT_PROJ_GATE,
    DFRT_PROJ_UP,
    DFRT_PROJ_DOWN,
    DFRT_PROJ_QKV,
    DFRT_PROJ_GATE_UP,
} dfrt_proj_role;

/* A layer's projections as an architecture names them ("PREFIXlayers.N.<name>.weight"), in the
 * order of the published DF11 releases' layer units (their pattern_dict). */
#define DFRT_MAX_PROJ 7
typedef struct dfrt_layer_layout {
    int n;
    const char *names[DFRT_MAX_PROJ];
    dfrt_proj_role roles[DFRT_MAX_PROJ];
} dfrt_layer_layout;
/* The layout of a known architecture (the seven Llama projections for the others). */
const dfrt_layer_layout *dfrt_layer_layout_of(const char *architecture);
/* The shape [rows, cols] of a projection of this role under config c (0 where an overflow). */
void dfrt_proj_shape(const dfrt_config *c, dfrt_proj_role role, int64_t shape[2]);

/* The weight set check (weight_set.c): every weight the architecture and config.json require
 * is present (a missing one is DFRT_FORMAT_ERROR naming them, whole layers as one item), and
 * the tensors nothing would use are classified: layers beyond num_hidden_layers, q_norm/k_norm
 * under an architecture without them, lm_head.weight under tie_word_embeddings and biases
 * dfrt does not apply make a different model run (errors for RUN and VERIFY, warnings for
 * CONVERT); *.rotary_emb.inv_freq is ignored; anything else is a warning (RUN, VERIFY) naming
 * them. For an architecture dfrt does not know, only the layer numbering is checked (every
 * model.layers.N below num_hidden_layers has weights) and a warning says so (an error for
 * RUN). Units that failed validation (verify) count as holding their weights. */
typedef enum dfrt_weight_set_mode {
    DFRT_WEIGHTS_RUN,
    DFRT_WEIGHTS_VERIFY,
    DFRT_WEIGHTS_CONVERT,
} dfrt_weight_set_mode;
dfrt_status dfrt_weight_set_check(const dfrt_checkpoint *cp, dfrt_weight_set_mode mode);

#endif
