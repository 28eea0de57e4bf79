/* Describes a tensor held in memory, for the tests and the fuzz targets (header-only: the
 * fuzz targets link no test support library). */
#ifndef DFRT_TEST_TENSOR_DESC_H
#define DFRT_TEST_TENSOR_DESC_H

#include "dfrt.h"

#include <string.h>

/* Zeroes t and sets its name, file, dtype, shape (d1 only when n_dims is 2), element count
 * and byte size; the caller sets t->data. */
static inline void tensor_describe(dfrt_tensor *t, const char *name, const char *file, dfrt_dtype dtype, int n_dims,
                                   int64_t d0, int64_t d1) {
    memset(t, 0, sizeof *t);
    t->name = name;
    t->file = file;
    t->dtype = dtype;
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->n_elements = (uint64_t)d0 * (uint64_t)(n_dims == 2 ? d1 : 1);
    t->n_bytes = t->n_elements * dfrt_dtype_size(dtype);
}

#endif
