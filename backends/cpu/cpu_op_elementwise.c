/* The CPU backend: the elementwise ops, silu_mul (silu or GELU-tanh gate) and add. */
#include "cpu_internal.h"

#include <math.h>

dfrt_status cpu_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a) {
    (void)b;
    float *out = F32(a->out);
    const bool gelu = a->act == DFRT_GATE_GELU_TANH;
    for (uint32_t r = 0; r < a->rows; r++) {
        const float *row = CPU_ROW(a->in, r, a->in_stride);
        for (uint32_t i = 0; i < a->width; i++) {
            float g = row[i];
            /* GELU-tanh as x / (1 + e^(-2y)) (ops.h) */
            float act = gelu ? g / (1.0f + expf(-1.5957691216057308f * (g + 0.044715f * g * g * g))) : g / (1.0f + expf(-g));
            out[(size_t)r * a->width + i] = act * row[a->up_col + i];
        }
    }
    return DFRT_OK;
}

dfrt_status cpu_add(dfrt_backend *b, const dfrt_add_args *a) {
    (void)b;
    float *y = F32(a->y);
    const float *x = CF32(a->a), *z = CF32(a->b);
    for (uint64_t i = 0; i < a->n; i++) y[i] = x[i] + z[i];
    return DFRT_OK;
}
