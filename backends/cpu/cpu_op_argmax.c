/* The CPU backend: argmax of each row (the first of equal maxima; NaN never wins). */
#include "cpu_internal.h"

#include <math.h>

dfrt_status cpu_argmax(dfrt_backend *b, const dfrt_argmax_args *a) {
    (void)b;
    int32_t *out = CPU_PTR(a->out);
    for (uint32_t r = 0; r < a->rows; r++) {
        const float *row = CPU_ROW(a->x, r, a->stride);
        float best = -INFINITY;
        int32_t at = 0;
        for (uint32_t i = 0; i < a->n; i++)
            if (row[i] > best) {
                best = row[i];
                at = (int32_t)i;
            }
        out[r] = at;
    }
    return DFRT_OK;
}
