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

int dfrt_natural_compare(const char *a, const char *b);
bool dfrt_weight_shape(const dfrt_config *c, const char *name, int64_t shape[2]);

/* Whether dfrt knows an architecture's weight set (Llama, Mistral, Qwen2, Qwen3). */
bool dfrt_architecture_known(const char *architecture);

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
