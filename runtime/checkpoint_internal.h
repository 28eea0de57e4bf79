/* The checkpoint object, shared by checkpoint.c and the directory operations. */
#ifndef DFRT_CHECKPOINT_INTERNAL_H
#define DFRT_CHECKPOINT_INTERNAL_H

#include "df11_internal.h"

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
};

/* keep_invalid_units: a unit that fails validation is kept with its status and message
 * instead of failing the open (for verify). */
dfrt_status dfrt_checkpoint_open_ex(const char *dir, bool keep_invalid_units, dfrt_checkpoint **out);

int dfrt_natural_compare(const char *a, const char *b);
bool dfrt_weight_shape(const dfrt_config *c, const char *name, int64_t shape[2]);

/* Copies the files of a model directory that are neither safetensors nor config.json. */
dfrt_status dfrt_copy_side_files(const char *src_dir, const char *dst_dir);

#endif
