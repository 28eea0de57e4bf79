/* The CPU backend: RMSNorm (sums of squares in double), with the residual add before it when
 * asked. */
#include "cpu_internal.h"

#include <math.h>

dfrt_status cpu_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a) {
    (void)b;
    float *y = F32(a->y);
    const float *x = CF32(a->x), *w = CF32(a->w);
    for (uint32_t r = 0; r < a->rows; r++)
        for (uint32_t h = 0; h < a->heads; h++) {
            size_t at = (size_t)r * a->row_stride + (size_t)h * a->dim;
            const float *v = x; /* the vector normalised: x, or sum = x + residual (sum may be x) */
            if (a->residual.buf) {
                const float *res = CF32(a->residual);
                float *sum = F32(a->sum);
                for (uint32_t i = 0; i < a->dim; i++) sum[at + i] = x[at + i] + res[at + i];
                v = sum;
            }
            double ss = 0;
            for (uint32_t i = 0; i < a->dim; i++) ss += (double)v[at + i] * v[at + i];
            float inv = (float)(1.0 / sqrt(ss / a->dim + (double)a->eps));
            for (uint32_t i = 0; i < a->dim; i++) y[at + i] = v[at + i] * inv * w[i];
        }
    return DFRT_OK;
}
