/* Pieces shared by compress and decompress. */
#ifndef DFRT_CONVERT_INTERNAL_H
#define DFRT_CONVERT_INTERNAL_H

#include "format/checkpoint_internal.h"

/* Copies the files of a model directory that are neither safetensors nor config.json. */
dfrt_status dfrt_copy_side_files(const char *src_dir, const char *dst_dir);

#endif
