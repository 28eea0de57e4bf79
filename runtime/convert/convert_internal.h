/* Pieces shared by compress and decompress. */
#ifndef DFRT_CONVERT_INTERNAL_H
#define DFRT_CONVERT_INTERNAL_H

#include "format/checkpoint_internal.h"

/* Copies the files of a model directory that are neither safetensors nor config.json. */
dfrt_status dfrt_copy_side_files(const char *src_dir, const char *dst_dir);

/* Makes the BF16 data of tensor t (t->n_bytes at dst). Called from worker threads. */
typedef dfrt_status (*dfrt_fill_fn)(void *ctx, const dfrt_tensor *t, void *dst);

/* dfrt_compress_dir in memory: the BF16 model whose tensors ts names and shapes (its data
 * unused: fill makes each tensor's when it is needed) and whose config.json is config_json,
 * compressed with the architecture's default pattern_dict into the tensors dfrt_compress_dir
 * would write, held in memory as a checkpoint named name. o->n_threads units are made at
 * once, each whole in memory (BF16 and encoded) while it is encoded; progress counts each
 * weight twice, made and encoded. */
dfrt_status dfrt_compress_memory(const char *name, const dfrt_tensor_set *ts, const char *config_json, size_t config_len,
                                 dfrt_fill_fn fill, void *fill_ctx, const dfrt_compress_options *o,
                                 dfrt_checkpoint **out);

#endif
