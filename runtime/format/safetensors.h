/* safetensors pieces beyond dfrt.h's, for the format code, tests and fuzz targets. */
#ifndef DFRT_FORMAT_SAFETENSORS_H
#define DFRT_FORMAT_SAFETENSORS_H

#include "base/internal.h"

/* A safetensors file held in memory (data stays the caller's and must outlive the file);
 * validated exactly as dfrt_st_file_open validates a file. name stands for the path in
 * messages. */
dfrt_status dfrt_st_file_parse(const char *name, const void *data, size_t size, dfrt_st_file **out_file);

/* A file made in memory from tensors whose data the caller made: their names are copied, the
 * rest (data included) taken as given; name stands for the path in messages. When the file
 * is closed, release(release_ctx) is called (if not NULL) to free the data, also when this
 * call fails. Names must be distinct. */
dfrt_status dfrt_st_file_from_tensors(const char *name, const dfrt_tensor *tensors, size_t n,
                                      void (*release)(void *ctx), void *release_ctx, dfrt_st_file **out_file);

/* A tensor set of files already open (made in memory, say), which it takes over: closed with
 * the set, or here if this fails. name stands for the directory in messages. */
dfrt_status dfrt_tensor_set_from_files(const char *name, dfrt_st_file **files, size_t n, dfrt_tensor_set **out_set);

#endif
