/* Splitting a model's layers over several devices (layer split): which contiguous range of
 * layers each device runs and the bytes that puts on it. A pure function of sizes, so that
 * the rule is tested apart from any device (tests/test_split.c). */
#ifndef DFRT_MODEL_SPLIT_H
#define DFRT_MODEL_SPLIT_H

#include "dfrt.h"

typedef struct dfrt_layer_split {
    int n_parts;
    uint32_t begin[DFRT_MAX_DEVICES], end[DFRT_MAX_DEVICES]; /* part i runs layers begin[i] .. end[i] - 1 */
    uint64_t bytes[DFRT_MAX_DEVICES];  /* what part i holds: its layers, and first_bytes / last_bytes */
    uint64_t target[DFRT_MAX_DEVICES]; /* its share of the total */
} dfrt_layer_split;

/* Contiguous layer ranges, one per device in order, that put on each device as close to its
 * share of the bytes as whole layers allow: layer l (layer_bytes[l]: its weights, norms and
 * KV cache) goes to the first device whose cumulative share its middle does not pass. The
 * first device also holds first_bytes (the embedding), the last last_bytes (final norm,
 * lm_head, logits). shares (n_devices): positive weights (NULL: equal). Every device gets at
 * least one layer. DFRT_INVALID_ARGUMENT, with the reason, for no layers, more devices than
 * layers or than DFRT_MAX_DEVICES, and shares that are not positive finite numbers. */
dfrt_status dfrt_split_layers(uint32_t n_layers, const uint64_t *layer_bytes, uint64_t first_bytes, uint64_t last_bytes,
                              int n_devices, const double *shares, dfrt_layer_split *out);

#endif
