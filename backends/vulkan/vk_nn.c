/* The transformer ops of the Vulkan backend (shaders/nn_*.comp). Each op plans its dispatches
 * so that every binding stays within maxStorageBufferRange (ranges of rows, windows of an
 * embedding table, ranges of a KV cache) and every grid within maxComputeWorkGroupCount; the
 * values the shaders read from device buffers (offsets, slots, positions) are checked there
 * against what each dispatch binds. Dispatches are recorded, never submitted one by one. */
#include "vk_internal.h"

/* Attention splits the keys of a (row, KV head) over workgroups until about this many are in
 * flight (decode: few rows, long contexts), in splits of at least ATTENTION_MIN_KEYS keys. */
#define ATTENTION_TARGET_GROUPS 4096
#define ATTENTION_MIN_KEYS 64

static vk_binding bind_arg(const vk_backend *vk, dfrt_tensor_arg t, uint64_t first_byte, uint64_t bytes,
                           size_t *out_delta) {
    return vk_bind(t.buf->impl, t.offset + (size_t)first_byte, (size_t)bytes, vk->min_align, out_delta);
}

static vk_binding unbound(const vk_backend *vk) { return (vk_binding){vk->dummy.buffer, 0, VK_WHOLE_SIZE}; }

/* The most bytes one binding may cover with vk_bind()'s alignment and rounding. */
static uint64_t range_limit(const vk_backend *vk) { return vk->max_range - vk->min_align - 16; }

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* Rows of `width` elements of `elem` bytes, `stride` elements apart, that fit `limit` bytes:
 * 0 when one row does not. */
static uint64_t rows_within(uint64_t limit, uint64_t stride, uint64_t width, uint64_t elem) {
    uint64_t cap = limit / elem;
    if (width > cap) return 0;
    if (stride == 0) return UINT64_MAX;
    return (cap - width) / stride + 1;
}

static dfrt_status too_large(const vk_backend *vk, const char *op, const char *what) {
    return dfrt_fail(DFRT_UNSUPPORTED, "vulkan %s: %s does not fit the device's %llu-byte binding limit", op, what,
                     (unsigned long long)vk->max_range);
}

/* Records a dispatch of `groups` workgroups as a 2-D grid (the shaders flatten it with
 * groups_x, which this sets in the push constants). */
static dfrt_status launch(vk_backend *vk, vk_pipeline_id id, const vk_binding *bindings, void *push,
                          uint32_t *groups_x, uint64_t groups) {
    if (groups == 0) return DFRT_OK;
    if (groups > (uint64_t)vk->max_groups * vk->max_groups)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan: %llu workgroups exceed the device's grid",
                         (unsigned long long)groups);
    uint32_t gx = (uint32_t)DFRT_MIN(groups, (uint64_t)vk->max_groups);
    *groups_x = gx;
    return vk_dispatch(vk, &vk->pipes[id], bindings, push, gx, (uint32_t)ceil_div(groups, gx));
}

/* Workgroups covering `width` values of a row, 4 * VK_NN_WORKGROUP each. */
static uint32_t groups_per_row(uint64_t width) { return (uint32_t)ceil_div(width, 4 * VK_NN_WORKGROUP); }

/* ---- embedding ---------------------------------------------------------------------------- */

dfrt_status vk_embedding(dfrt_backend *b, const dfrt_embedding_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk), dim = a->dim, elems = a->table_elems;
    uint64_t rows_per = DFRT_MIN(rows_within(limit, dim, dim, 4), limit / 4);
    if (!rows_per) return too_large(vk, "embedding", "a row");
    /* Windows of the table: `window` elements, starting `step` apart, so that each valid row
     * [first, first + dim) lies wholly in the window whose [w_lo, w_lo + step) holds first. */
    uint64_t window = limit / 2, step, max_first = 0;
    bool any_valid = elems >= dim;
    if (any_valid) max_first = DFRT_MIN(elems - dim, (uint64_t)UINT32_MAX); /* offsets are uint32 */
    if (!any_valid || elems <= window) {
        step = UINT64_MAX;
    } else {
        if (dim >= window) return too_large(vk, "embedding", "a row of the table");
        step = window - dim;
    }
    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0);
        size_t d_off, d_out, d_table;
        vk_binding bindings[3] = {
            {0},
            bind_arg(vk, a->offsets, r0 * 4, rows * 4, &d_off),
            bind_arg(vk, a->out, r0 * dim * 4, rows * dim * 4, &d_out),
        };
        vk_embedding_push push = {
            .rows = (uint32_t)rows,
            .dim = (uint32_t)dim,
            .offsets0 = (uint32_t)(d_off / 4),
            .out0 = (uint32_t)(d_out / 4),
            .max_first = (uint32_t)max_first,
            .flags = (any_valid ? 1u : 0u) | 2u, /* ANY_VALID; WRITE_INVALID in the first window */
            .groups_per_row = groups_per_row(dim),
        };
        uint64_t w_lo = 0;
        do {
            uint64_t w_last = step == UINT64_MAX ? max_first : DFRT_MIN(w_lo + step - 1, max_first);
            bindings[0] = bind_arg(vk, a->table, w_lo * 2, DFRT_MIN(window, elems - w_lo) * 2, &d_table);
            push.table0 = (uint32_t)(d_table / 2);
            push.w_lo = (uint32_t)w_lo;
            push.w_last = (uint32_t)w_last;
            DFRT_TRY(launch(vk, VK_PIPE_EMBEDDING, bindings, &push, &push.groups_x, rows * push.groups_per_row));
            push.flags &= ~2u;
            if (step == UINT64_MAX) break;
            w_lo += step;
        } while (any_valid && w_lo <= max_first);
    }
    return DFRT_OK;
}

/* ---- rmsnorm, rope, silu_mul, add, argmax: ranges of rows ---------------------------------- */

dfrt_status vk_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk), width = (uint64_t)a->heads * a->dim;
    uint64_t rows_per = rows_within(limit, a->row_stride, width, 4);
    if (!rows_per || (uint64_t)a->dim * 4 > limit) return too_large(vk, "rmsnorm", "a row");
    size_t dw;
    vk_binding w = bind_arg(vk, a->w, 0, (uint64_t)a->dim * 4, &dw);
    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0), first = r0 * a->row_stride * 4;
        uint64_t bytes = ((rows - 1) * a->row_stride + width) * 4;
        size_t dx, dy;
        vk_binding bindings[3] = {bind_arg(vk, a->x, first, bytes, &dx), w, bind_arg(vk, a->y, first, bytes, &dy)};
        vk_rmsnorm_push push = {
            .rows = (uint32_t)rows,
            .heads = a->heads,
            .dim = a->dim,
            .row_stride = a->row_stride,
            .x0 = (uint32_t)(dx / 4),
            .y0 = (uint32_t)(dy / 4),
            .w0 = (uint32_t)(dw / 4),
            .eps = a->eps,
        };
        DFRT_TRY(launch(vk, VK_PIPE_RMSNORM, bindings, &push, &push.groups_x, rows * a->heads));
    }
    return DFRT_OK;
}

dfrt_status vk_rope(dfrt_backend *b, const dfrt_rope_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk), width = (uint64_t)a->heads * a->dim, half = a->dim / 2;
    uint64_t rows_per = DFRT_MIN(rows_within(limit, a->row_stride, width, 4), limit / 4);
    if (!rows_per || half * 4 > limit) return too_large(vk, "rope", "a row");
    size_t di;
    vk_binding inv = bind_arg(vk, a->inv_freq, 0, half * 4, &di);
    uint32_t per_row = (uint32_t)ceil_div(a->heads * half, VK_NN_WORKGROUP);
    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0);
        size_t dx, dp;
        vk_binding bindings[3] = {
            bind_arg(vk, a->x, r0 * a->row_stride * 4, ((rows - 1) * a->row_stride + width) * 4, &dx),
            bind_arg(vk, a->positions, r0 * 4, rows * 4, &dp),
            inv,
        };
        vk_rope_push push = {
            .rows = (uint32_t)rows,
            .heads = a->heads,
            .half_dim = (uint32_t)half,
            .row_stride = a->row_stride,
            .x0 = (uint32_t)(dx / 4),
            .pos0 = (uint32_t)(dp / 4),
            .inv0 = (uint32_t)(di / 4),
            .groups_per_row = per_row,
        };
        DFRT_TRY(launch(vk, VK_PIPE_ROPE, bindings, &push, &push.groups_x, rows * per_row));
    }
    return DFRT_OK;
}

dfrt_status vk_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk), in_width = (uint64_t)a->up_col + a->width;
    uint64_t rows_per =
        DFRT_MIN(rows_within(limit, a->in_stride, in_width, 4), rows_within(limit, a->width, a->width, 4));
    if (!rows_per) return too_large(vk, "silu_mul", "a row");
    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0);
        size_t din, dout;
        vk_binding bindings[2] = {
            bind_arg(vk, a->in, r0 * a->in_stride * 4, ((rows - 1) * a->in_stride + in_width) * 4, &din),
            bind_arg(vk, a->out, r0 * a->width * 4, rows * a->width * 4, &dout),
        };
        vk_silu_mul_push push = {
            .rows = (uint32_t)rows,
            .width = a->width,
            .in_stride = a->in_stride,
            .up_col = a->up_col,
            .in0 = (uint32_t)(din / 4),
            .out0 = (uint32_t)(dout / 4),
            .groups_per_row = groups_per_row(a->width),
        };
        DFRT_TRY(launch(vk, VK_PIPE_SILU_MUL, bindings, &push, &push.groups_x, rows * push.groups_per_row));
    }
    return DFRT_OK;
}

dfrt_status vk_add(dfrt_backend *b, const dfrt_add_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = range_limit(vk) / 4;
    for (uint64_t done = 0; done < a->n; done += per) {
        uint64_t n = DFRT_MIN(per, a->n - done);
        size_t da, db, dy;
        vk_binding bindings[3] = {
            bind_arg(vk, a->a, done * 4, n * 4, &da),
            bind_arg(vk, a->b, done * 4, n * 4, &db),
            bind_arg(vk, a->y, done * 4, n * 4, &dy),
        };
        vk_add_push push = {(uint32_t)n, (uint32_t)(da / 4), (uint32_t)(db / 4), (uint32_t)(dy / 4), 0};
        DFRT_TRY(launch(vk, VK_PIPE_ADD, bindings, &push, &push.groups_x, ceil_div(n, 4 * VK_NN_WORKGROUP)));
    }
    return DFRT_OK;
}

dfrt_status vk_argmax(dfrt_backend *b, const dfrt_argmax_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk);
    uint64_t rows_per = DFRT_MIN(rows_within(limit, a->stride, a->n, 4), limit / 4);
    if (!rows_per) return too_large(vk, "argmax", "a row");
    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0);
        size_t dx, dout;
        vk_binding bindings[2] = {
            bind_arg(vk, a->x, r0 * a->stride * 4, ((rows - 1) * a->stride + a->n) * 4, &dx),
            bind_arg(vk, a->out, r0 * 4, rows * 4, &dout),
        };
        vk_argmax_push push = {(uint32_t)rows, a->n, a->stride, (uint32_t)(dx / 4), (uint32_t)(dout / 4), 0};
        DFRT_TRY(launch(vk, VK_PIPE_ARGMAX, bindings, &push, &push.groups_x, rows));
    }
    return DFRT_OK;
}

/* ---- KV cache: kv_store and attention -------------------------------------------------------- */

/* A range of a (n_slots, max_ctx, width) cache that one binding holds: slots
 * [slot_lo, slot_end) whole, or positions [key_lo, key_end) of one slot. */
typedef struct cache_range {
    uint32_t slot_lo, slot_end, key_lo, key_end;
} cache_range;

/* The cache's ranges: `slots` whole slots at a time where a slot fits (keys == max_ctx), else
 * `keys` positions of one slot at a time. */
typedef struct cache_plan {
    uint32_t n_slots, max_ctx;
    uint64_t slots, keys, count;
} cache_plan;

static cache_plan plan_cache(uint32_t n_slots, uint32_t max_ctx, uint64_t slots, uint64_t keys) {
    cache_plan p = {n_slots, max_ctx, slots, keys, 0};
    p.count = keys >= max_ctx ? ceil_div(n_slots, slots) : (uint64_t)n_slots * ceil_div(max_ctx, keys);
    return p;
}

static cache_range cache_range_at(const cache_plan *p, uint64_t i) {
    if (p->keys >= p->max_ctx) {
        uint64_t lo = i * p->slots;
        return (cache_range){(uint32_t)lo, (uint32_t)DFRT_MIN(lo + p->slots, (uint64_t)p->n_slots), 0, p->max_ctx};
    }
    uint64_t chunks = ceil_div(p->max_ctx, p->keys), slot = i / chunks, lo = i % chunks * p->keys;
    return (cache_range){(uint32_t)slot, (uint32_t)slot + 1, (uint32_t)lo,
                         (uint32_t)DFRT_MIN(lo + p->keys, (uint64_t)p->max_ctx)};
}

static vk_binding bind_cache(const vk_backend *vk, dfrt_tensor_arg cache, const cache_range *r, uint32_t max_ctx,
                             uint64_t width, size_t *out_delta) {
    uint64_t first = ((uint64_t)r->slot_lo * max_ctx + r->key_lo) * width;
    uint64_t entries = (uint64_t)(r->slot_end - 1 - r->slot_lo) * max_ctx + (r->key_end - r->key_lo);
    return bind_arg(vk, cache, first * 4, entries * width * 4, out_delta);
}

dfrt_status vk_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk), width = a->width, slot_bytes = (uint64_t)a->max_ctx * width * 4;
    uint64_t src_width = (uint64_t)DFRT_MAX(a->k_col, a->v_col) + width;
    uint64_t rows_per = DFRT_MIN(rows_within(limit, a->src_stride, src_width, 4), limit / 4);
    if (!rows_per || width * 4 > limit) return too_large(vk, "kv_store", "a row");
    cache_plan plan = slot_bytes <= limit ? plan_cache(a->n_slots, a->max_ctx, limit / slot_bytes, a->max_ctx)
                                          : plan_cache(a->n_slots, a->max_ctx, 1, limit / (width * 4));
    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0);
        size_t ds, dsl, dp;
        vk_binding bindings[5] = {
            bind_arg(vk, a->src, r0 * a->src_stride * 4, ((rows - 1) * a->src_stride + src_width) * 4, &ds),
            bind_arg(vk, a->slots, r0 * 4, rows * 4, &dsl),
            bind_arg(vk, a->positions, r0 * 4, rows * 4, &dp),
            {0},
            {0},
        };
        vk_kv_store_push push = {
            .rows = (uint32_t)rows,
            .width = a->width,
            .src_stride = a->src_stride,
            .k_col = a->k_col,
            .v_col = a->v_col,
            .src0 = (uint32_t)(ds / 4),
            .slots0 = (uint32_t)(dsl / 4),
            .pos0 = (uint32_t)(dp / 4),
            .max_ctx = a->max_ctx,
            .groups_per_row = groups_per_row(width),
        };
        for (uint64_t i = 0; i < plan.count; i++) {
            cache_range cr = cache_range_at(&plan, i);
            size_t dk, dv;
            bindings[3] = bind_cache(vk, a->k_cache, &cr, a->max_ctx, width, &dk);
            bindings[4] = bind_cache(vk, a->v_cache, &cr, a->max_ctx, width, &dv);
            push.k0 = (uint32_t)(dk / 4);
            push.v0 = (uint32_t)(dv / 4);
            push.slot_lo = cr.slot_lo;
            push.slot_end = cr.slot_end;
            push.key_lo = cr.key_lo;
            push.key_end = cr.key_end;
            DFRT_TRY(launch(vk, VK_PIPE_KV_STORE, bindings, &push, &push.groups_x, rows * push.groups_per_row));
        }
    }
    return DFRT_OK;
}

/* Attention's buffer of partial results, at least `bytes`. Growing it waits for the work
 * recorded so far, which may use the old one. */
static dfrt_status partial_buffer(vk_backend *vk, uint64_t bytes) {
    if (vk->attention_partial.buffer && vk->attention_partial.size >= bytes) return DFRT_OK;
    if (vk->attention_partial.buffer) {
        DFRT_TRY(vk_submit_and_wait(vk));
        vk_buffer_destroy(vk, &vk->attention_partial);
    }
    return vk_buffer_create(vk, (size_t)ceil_div(bytes, 1 << 16) << 16, false, &vk->attention_partial);
}

dfrt_status vk_attention(dfrt_backend *b, const dfrt_attention_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t limit = range_limit(vk), dim = a->dim, width = (uint64_t)a->n_kv * dim, row = (uint64_t)a->n_heads * dim;
    uint64_t max_ctx = a->max_ctx, slot_bytes = max_ctx * width * 4;
    /* cache ranges: whole slots where one fits a binding, else keys of one slot */
    uint64_t slots_per = 1, keys_per = max_ctx;
    if (slot_bytes <= limit) slots_per = limit / slot_bytes;
    else keys_per = limit / (width * 4);
    if (!keys_per) return too_large(vk, "attention", "a cached key");
    /* the pipeline for head_dim, and its workgroups per row: KV heads x chunks of qh heads */
    vk_pipeline_id pipe = VK_PIPE_ATTENTION_WIDE;
    uint64_t qh = VK_ATTENTION_WIDE_QH;
    if (dim <= VK_ATTENTION_DIM) pipe = VK_PIPE_ATTENTION, qh = VK_ATTENTION_QH;
    else if (dim <= VK_ATTENTION_MID_DIM) pipe = VK_PIPE_ATTENTION_MID, qh = VK_ATTENTION_MID_QH;
    uint64_t group = a->n_heads / a->n_kv, units_per_row = a->n_kv * ceil_div(group, qh);
    /* Splits of the keys: enough workgroups for the device, each split one (m, l, dim) record
     * per (row, head) in the partial buffer; a range of keys holds whole splits. */
    uint64_t units = (uint64_t)a->rows * units_per_row, record_row = a->n_heads * (dim + 2) * 4;
    uint64_t splits = DFRT_MIN(ceil_div(ATTENTION_TARGET_GROUPS, units), DFRT_MAX(max_ctx / ATTENTION_MIN_KEYS, 1));
    splits = DFRT_MIN(splits, DFRT_MAX(limit / record_row, 1));
    if (keys_per < max_ctx) splits = DFRT_MAX(splits, ceil_div(max_ctx, keys_per));
    uint64_t kps = ceil_div(max_ctx, splits), n_splits = ceil_div(max_ctx, kps);
    if (keys_per < max_ctx) keys_per = keys_per / kps * kps;
    bool direct = n_splits == 1;
    uint64_t rows_per = DFRT_MIN(rows_within(limit, a->q_stride, row, 4), rows_within(limit, a->out_stride, row, 4));
    rows_per = DFRT_MIN(rows_per, limit / 4);
    if (!rows_per) return too_large(vk, "attention", "a row");
    if (!direct) rows_per = DFRT_MIN(rows_per, limit / (record_row * n_splits));
    if (!rows_per) /* many more keys than one binding holds, and many heads */
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "vulkan attention: the partial results of one row (%llu splits of %u keys) do not fit the "
                         "device's %llu-byte binding limit",
                         (unsigned long long)n_splits, (unsigned)kps, (unsigned long long)vk->max_range);
    rows_per = DFRT_MIN(rows_per, (uint64_t)a->rows);
    if (!direct) DFRT_TRY(partial_buffer(vk, rows_per * record_row * n_splits));
    cache_plan plan = plan_cache(a->n_slots, a->max_ctx, slots_per, keys_per);

    for (uint64_t r0 = 0; r0 < a->rows; r0 += rows_per) {
        uint64_t rows = DFRT_MIN(rows_per, a->rows - r0);
        size_t dq, dsl, dp, dout, dk, dv, dpart = 0;
        size_t part_bytes = (size_t)(rows * record_row * n_splits);
        vk_binding bindings[7] = {
            bind_arg(vk, a->q, r0 * a->q_stride * 4, ((rows - 1) * a->q_stride + row) * 4, &dq),
            {0},
            {0},
            bind_arg(vk, a->slots, r0 * 4, rows * 4, &dsl),
            bind_arg(vk, a->positions, r0 * 4, rows * 4, &dp),
            bind_arg(vk, a->out, r0 * a->out_stride * 4, ((rows - 1) * a->out_stride + row) * 4, &dout),
            direct ? unbound(vk) : vk_bind(&vk->attention_partial, 0, part_bytes, vk->min_align, &dpart),
        };
        vk_attention_push push = {
            .rows = (uint32_t)rows,
            .n_heads = a->n_heads,
            .group = a->n_heads / a->n_kv,
            .dim = a->dim,
            .q_stride = a->q_stride,
            .out_stride = a->out_stride,
            .width = (uint32_t)width,
            .n_slots = a->n_slots,
            .max_ctx = a->max_ctx,
            .q0 = (uint32_t)(dq / 4),
            .out0 = (uint32_t)(dout / 4),
            .slots0 = (uint32_t)(dsl / 4),
            .pos0 = (uint32_t)(dp / 4),
            .part0 = (uint32_t)(dpart / 4),
            .kps = (uint32_t)kps,
            .n_splits = (uint32_t)n_splits,
            .flags = direct ? 3u : 0u, /* DIRECT, and WRITE_INVALID in the first range */
            .scale = a->scale,
        };
        for (uint64_t i = 0; i < plan.count; i++) {
            cache_range cr = cache_range_at(&plan, i);
            bindings[1] = bind_cache(vk, a->k_cache, &cr, a->max_ctx, width, &dk);
            bindings[2] = bind_cache(vk, a->v_cache, &cr, a->max_ctx, width, &dv);
            push.k0 = (uint32_t)(dk / 4);
            push.v0 = (uint32_t)(dv / 4);
            push.slot_lo = cr.slot_lo;
            push.slot_end = cr.slot_end;
            push.key_lo = cr.key_lo;
            push.key_end = cr.key_end;
            push.split_count = (uint32_t)ceil_div(cr.key_end - cr.key_lo, kps);
            DFRT_TRY(launch(vk, pipe, bindings, &push, &push.groups_x, rows * units_per_row * push.split_count));
            push.flags &= ~2u;
        }
        if (!direct) { /* merge the splits of every (row, head) */
            bindings[0] = bindings[1] = bindings[2] = unbound(vk);
            push.split_count = 1;
            DFRT_TRY(launch(vk, VK_PIPE_ATTENTION_COMBINE, bindings, &push, &push.groups_x, rows * a->n_heads));
        }
    }
    return DFRT_OK;
}
