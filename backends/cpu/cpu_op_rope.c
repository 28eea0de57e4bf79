/* The CPU backend: rotary embedding (rotate-half), over the first rot_dim values of each head. */
#include "cpu_internal.h"

#include <math.h>

dfrt_status cpu_rope(dfrt_backend *b, const dfrt_rope_args *a) {
    (void)b;
    float *x = F32(a->x);
    const int32_t *pos = CI32(a->positions);
    const float *inv_freq = CF32(a->inv_freq);
    uint32_t half = a->rot_dim / 2; /* the rotated part of each head */
    for (uint32_t r = 0; r < a->rows; r++)
        for (uint32_t i = 0; i < half; i++) {
            float angle = (float)pos[r] * inv_freq[i];
            float c = (float)cos((double)angle) * a->scale, s = (float)sin((double)angle) * a->scale;
            for (uint32_t h = 0; h < a->heads; h++) {
                float *v = x + (size_t)r * a->row_stride + (size_t)h * a->dim;
                float lo = v[i], hi = v[i + half];
                v[i] = lo * c - hi * s;
                v[i + half] = hi * c + lo * s;
            }
        }
    return DFRT_OK;
}
