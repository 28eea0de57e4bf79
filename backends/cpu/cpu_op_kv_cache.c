/* The CPU backend: storing K and V rows in the cache (fp32, or BF16 rounded to nearest even). */
#include "cpu_internal.h"

static void store_row(void *cache, size_t at, const float *row, uint32_t width, dfrt_kv_type type) {
    if (type == DFRT_KV_F32) {
        memcpy((float *)cache + at, row, (size_t)width * sizeof(float));
        return;
    }
    uint16_t *c = (uint16_t *)cache + at;
    for (uint32_t i = 0; i < width; i++) c[i] = dfrt_f32_to_bf16(row[i]);
}

dfrt_status cpu_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a) {
    (void)b;
    const float *src = CF32(a->src);
    const int32_t *slots = CI32(a->slots), *pos = CI32(a->positions);
    for (uint32_t r = 0; r < a->rows; r++) {
        if (slots[r] < 0 || (uint32_t)slots[r] >= a->n_slots || pos[r] < 0 || (uint32_t)pos[r] >= a->max_ctx) continue;
        size_t dst = ((size_t)slots[r] * a->max_ctx + (size_t)pos[r]) * a->width;
        const float *row = src + (size_t)r * a->src_stride;
        store_row(CPU_PTR(a->k_cache), dst, row + a->k_col, a->width, a->kv_type);
        store_row(CPU_PTR(a->v_cache), dst, row + a->v_col, a->width, a->kv_type);
    }
    return DFRT_OK;
}
