/* kv_store (shaders/kv_cache.comp): ranges of rows of K/V, and ranges of the cache (fp32 or
 * BF16), each within one binding. The slots and positions the shader reads from the device are
 * checked there against the cache range each dispatch binds. The cache ranges serve attention
 * too. */
#include "vk_internal.h"

#include "kv_cache.spv.h"

typedef struct kv_store_push {
    uint32_t rows, width, src_stride, k_col, v_col, src0, slots0, pos0, k0, v0;
    vk_cache_range range;
    uint32_t max_ctx, groups_per_row, groups_x, bf16;
} kv_store_push;
_Static_assert(sizeof(kv_store_push) == 72, "kv_store push constants");

dfrt_status vk_kv_cache_pipelines(vk_backend *vk) {
    return VK_OP_PIPELINE(vk, VK_PIPE_KV_STORE, "kv_store", kv_cache_spv, 5, kv_store_push);
}

vk_cache_plan vk_plan_cache(uint32_t n_slots, uint32_t max_ctx, uint64_t slots, uint64_t keys) {
    vk_cache_plan p = {n_slots, max_ctx, slots, keys, 0};
    p.count = keys >= max_ctx ? vk_ceil_div(n_slots, slots) : (uint64_t)n_slots * vk_ceil_div(max_ctx, keys);
    return p;
}

vk_cache_range vk_cache_range_at(const vk_cache_plan *p, uint64_t i) {
    if (p->keys >= p->max_ctx) {
        uint64_t lo = i * p->slots;
        return (vk_cache_range){(uint32_t)lo, (uint32_t)DFRT_MIN(lo + p->slots, (uint64_t)p->n_slots), 0, p->max_ctx};
    }
    uint64_t chunks = vk_ceil_div(p->max_ctx, p->keys), slot = i / chunks, lo = i % chunks * p->keys;
    return (vk_cache_range){(uint32_t)slot, (uint32_t)slot + 1, (uint32_t)lo,
                            (uint32_t)DFRT_MIN(lo + p->keys, (uint64_t)p->max_ctx)};
}

static vk_binding bind_cache(const vk_backend *vk, dfrt_tensor_arg cache, const vk_cache_range *r, uint32_t max_ctx,
                             uint64_t width, uint64_t value_bytes, uint32_t *out_word0) {
    uint64_t first = ((uint64_t)r->slot_lo * max_ctx + r->key_lo) * width;
    uint64_t entries = (uint64_t)(r->slot_end - 1 - r->slot_lo) * max_ctx + (r->key_end - r->key_lo);
    /* first * value_bytes is a multiple of 4: BF16 rows are whole words */
    return vk_bind_words(vk, cache, first * value_bytes, entries * width * value_bytes, out_word0);
}

vk_cache_range vk_bind_cache_range(const vk_backend *vk, const vk_cache_plan *p, uint64_t i, dfrt_tensor_arg k_cache,
                                   dfrt_tensor_arg v_cache, uint64_t width, dfrt_kv_type type, vk_binding *out_k,
                                   vk_binding *out_v, uint32_t *out_k0, uint32_t *out_v0) {
    vk_cache_range r = vk_cache_range_at(p, i);
    *out_k = bind_cache(vk, k_cache, &r, p->max_ctx, width, vk_kv_value_bytes(type), out_k0);
    *out_v = bind_cache(vk, v_cache, &r, p->max_ctx, width, vk_kv_value_bytes(type), out_v0);
    return r;
}

/* Rows of K/V per dispatch: 0 when a row (or a cached one) does not fit one binding. */
static uint64_t rows_per(const vk_backend *vk, const dfrt_kv_store_args *a) {
    uint64_t limit = vk_range_limit(vk), src_width = (uint64_t)DFRT_MAX(a->k_col, a->v_col) + a->width;
    if ((uint64_t)a->width * vk_kv_value_bytes(a->kv_type) > limit) return 0;
    return DFRT_MIN(vk_rows_within(limit, a->src_stride, src_width, 4), limit / 4);
}

dfrt_status vk_kv_store_supports(const vk_backend *vk, const dfrt_kv_store_args *a) {
    return rows_per(vk, a) ? DFRT_OK : vk_too_large(vk, "kv_store", "a row");
}

dfrt_status vk_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = vk_range_limit(vk), width = a->width, vb = vk_kv_value_bytes(a->kv_type);
    uint64_t slot_bytes = (uint64_t)a->max_ctx * width * vb, words = width * vb / 4;
    uint64_t src_width = (uint64_t)DFRT_MAX(a->k_col, a->v_col) + width, per = rows_per(vk, a);
    vk_cache_plan plan = slot_bytes <= limit ? vk_plan_cache(a->n_slots, a->max_ctx, limit / slot_bytes, a->max_ctx)
                                             : vk_plan_cache(a->n_slots, a->max_ctx, 1, limit / (width * vb));
    for (uint64_t r0 = 0; r0 < a->rows; r0 += per) {
        uint64_t rows = DFRT_MIN(per, a->rows - r0);
        size_t ds, dsl, dp;
        vk_binding bindings[5] = {
            vk_bind_arg(vk, a->src, r0 * a->src_stride * 4, ((rows - 1) * a->src_stride + src_width) * 4, &ds),
            vk_bind_arg(vk, a->slots, r0 * 4, rows * 4, &dsl),
            vk_bind_arg(vk, a->positions, r0 * 4, rows * 4, &dp),
            {0},
            {0},
        };
        kv_store_push push = {
            .rows = (uint32_t)rows,
            .width = a->width,
            .src_stride = a->src_stride,
            .k_col = a->k_col,
            .v_col = a->v_col,
            .src0 = (uint32_t)(ds / 4),
            .slots0 = (uint32_t)(dsl / 4),
            .pos0 = (uint32_t)(dp / 4),
            .max_ctx = a->max_ctx,
            .groups_per_row = (uint32_t)vk_ceil_div(words, 4 * VK_OP_WORKGROUP),
            .bf16 = a->kv_type == DFRT_KV_BF16,
        };
        for (uint64_t i = 0; i < plan.count; i++) {
            push.range = vk_bind_cache_range(vk, &plan, i, a->k_cache, a->v_cache, width, a->kv_type, &bindings[3],
                                             &bindings[4], &push.k0, &push.v0);
            DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_KV_STORE], bindings, &push, &push.groups_x,
                               rows * push.groups_per_row));
        }
    }
    return DFRT_OK;
}
