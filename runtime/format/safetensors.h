/* safetensors pieces beyond dfrt.h's, for the format code, tests and fuzz targets. */
#ifndef DFRT_FORMAT_SAFETENSORS_H
#define DFRT_FORMAT_SAFETENSORS_H

#include "base/internal.h"

/* A safetensors file held in memory (data stays the caller's and must outlive the file);
 * validated exactly as dfrt_st_file_open validates a file. name stands for the path in
 * messages. */
dfrt_status dfrt_st_file_parse(const char *name, const void *data, size_t size, dfrt_st_file **out_file);

#endif
