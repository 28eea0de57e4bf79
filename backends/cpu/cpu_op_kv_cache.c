/* The CPU backend: storing K and V rows in the cache. */
#include "cpu_internal.h"

dfrt_status cpu_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a) {
    (void)b;
    float *kc = F32(a->k_cache), *vc = F32(a->v_cache);
    const float *src = CF32(a->src);
    const int32_t *slots = CI32(a->slots), *pos = CI32(a->positions);
    for (uint32_t r = 0; r < a->rows; r++) {
        if (slots[r] < 0 || (uint32_t)slots[r] >= a->n_slots || pos[r] < 0 || (uint32_t)pos[r] >= a->max_ctx) continue;
        size_t dst = ((size_t)slots[r] * a->max_ctx + (size_t)pos[r]) * a->width;
        const float *row = src + (size_t)r * a->src_stride;
        memcpy(kc + dst, row + a->k_col, (size_t)a->width * sizeof(float));
        memcpy(vc + dst, row + a->v_col, (size_t)a->width * sizeof(float));
    }
    return DFRT_OK;
}
