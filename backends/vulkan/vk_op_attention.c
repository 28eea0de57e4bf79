/* attention (shaders/attention.comp) over a KV cache: pipelines by head_dim; the keys of each
 * (row, KV head) split over workgroups, with a combine step; ranges of rows and of the cache
 * (vk_op_kv_cache.c) each within one binding. */
#include "vk_internal.h"

#include "attention.spv.h"

typedef struct attention_push {
    uint32_t rows, n_heads, group, dim, q_stride, out_stride, width, n_slots, max_ctx;
    uint32_t q0, out0, k0, v0, slots0, pos0, part0;
    vk_cache_range range;
    uint32_t kps, n_splits, split_count, flags;
    float scale;
    uint32_t groups_x;
    uint32_t window; /* keys seen, 0: all */
    float softcap;   /* 0: none */
} attention_push;
_Static_assert(sizeof(attention_push) == 112, "attention push constants");

#define ATTENTION_WORKGROUP 128 /* at least one subgroup */
#define ATTENTION_COMBINE_WORKGROUP 256
/* The pipelines: the head_dim each takes, and the query heads (of one KV head) that a
 * workgroup serves with each load of a key or value row. */
static const struct {
    vk_pipeline_id id;
    const char *name;
    uint32_t dim, qh;
} pipes[] = {
    {VK_PIPE_ATTENTION, "attention", 128, 4},
    {VK_PIPE_ATTENTION_MID, "attention_mid", 256, 2},
    {VK_PIPE_ATTENTION_WIDE, "attention_wide", 1024, 1},
};
#define N_PIPES (sizeof pipes / sizeof *pipes)

/* Attention splits the keys of a (row, KV head) over workgroups until about this many are in
 * flight (decode: few rows, long contexts), in splits of at least ATTENTION_MIN_KEYS keys. */
#define ATTENTION_TARGET_GROUPS 4096
#define ATTENTION_MIN_KEYS 64

/* Each lane keeps head_dim / subgroup-size elements of a row: pipelines sized from the
 * device's subgroup size (which compute shaders of SPIR-V 1.5 run with). */
dfrt_status vk_attention_pipelines(vk_backend *vk) {
    uint32_t sg = vk->subgroup_size;
    uint32_t wg = DFRT_MAX((uint32_t)ATTENTION_WORKGROUP, sg); /* whole subgroups */
    if (wg > vk->limits.maxComputeWorkGroupSize[0] || wg > vk->limits.maxComputeWorkGroupInvocations)
        return dfrt_fail(DFRT_UNAVAILABLE, "vulkan: subgroups of %u invocations exceed the workgroup limits", sg);
    uint32_t ps = (uint32_t)sizeof(attention_push);
    for (size_t i = 0; i < N_PIPES; i++) {
        /* WG, MAXE, DIMMAX, MODE, QH, KU (keys per step: fewer for long rows), MAXSG */
        uint32_t maxe = (pipes[i].dim + sg - 1) / sg;
        uint32_t spec[7] = {wg, maxe, pipes[i].dim, 0, pipes[i].qh, maxe > 16 ? 2 : 4, wg / sg};
        DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[pipes[i].id], pipes[i].name, attention_spv, sizeof attention_spv, 7,
                                    ps, spec, 7));
    }
    uint32_t combine[7] = {ATTENTION_COMBINE_WORKGROUP, 1, 1, 1, 1, 1, ATTENTION_COMBINE_WORKGROUP};
    return vk_pipeline_create(vk, &vk->pipes[VK_PIPE_ATTENTION_COMBINE], "attention_combine", attention_spv,
                              sizeof attention_spv, 7, ps, combine, 7);
}

typedef struct plan {
    size_t pipe;                   /* in pipes[] */
    uint64_t units_per_row;        /* workgroups a row and split: KV heads x chunks of qh heads */
    uint64_t slots_per, keys_per;  /* cache ranges: whole slots where one fits, else keys of one */
    uint64_t kps, n_splits;        /* keys per split, splits */
    uint64_t record_row;           /* bytes of one (m, l, dim) record per head of a row */
    uint64_t rows_per;             /* rows per dispatch */
    bool direct;                   /* one split: no partial results, no combine */
} plan;

/* 0, or 1 when a cached key does not fit one binding, 2 when a row does not, 3 when the
 * partial results of one row do not. */
static int make_plan(const vk_backend *vk, const dfrt_attention_args *a, plan *p) {
    uint64_t limit = vk_range_limit(vk), dim = a->dim, width = (uint64_t)a->n_kv * dim, row = (uint64_t)a->n_heads * dim;
    uint64_t max_ctx = a->max_ctx, vb = vk_kv_value_bytes(a->kv_type), slot_bytes = max_ctx * width * vb;
    memset(p, 0, sizeof *p);
    p->slots_per = 1;
    p->keys_per = max_ctx;
    if (slot_bytes <= limit) p->slots_per = limit / slot_bytes;
    else p->keys_per = limit / (width * vb);
    if (!p->keys_per) return 1;
    p->pipe = N_PIPES - 1;
    for (size_t i = N_PIPES; i-- > 0;)
        if (dim <= pipes[i].dim) p->pipe = i;
    uint64_t group = a->n_heads / a->n_kv;
    p->units_per_row = a->n_kv * vk_ceil_div(group, pipes[p->pipe].qh);
    /* Splits of the keys: enough workgroups for the device, each split one (m, l, dim) record
     * per (row, head) in the partial buffer; a range of keys holds whole splits. */
    uint64_t units = (uint64_t)a->rows * p->units_per_row;
    p->record_row = a->n_heads * (dim + 2) * 4;
    uint64_t splits = DFRT_MIN(vk_ceil_div(ATTENTION_TARGET_GROUPS, units), DFRT_MAX(max_ctx / ATTENTION_MIN_KEYS, 1));
    splits = DFRT_MIN(splits, DFRT_MAX(limit / p->record_row, 1));
    if (p->keys_per < max_ctx) splits = DFRT_MAX(splits, vk_ceil_div(max_ctx, p->keys_per));
    p->kps = vk_ceil_div(max_ctx, splits);
    p->n_splits = vk_ceil_div(max_ctx, p->kps);
    if (p->keys_per < max_ctx) p->keys_per = p->keys_per / p->kps * p->kps;
    p->direct = p->n_splits == 1;
    uint64_t rows_per =
        DFRT_MIN(vk_rows_within(limit, a->q_stride, row, 4), vk_rows_within(limit, a->out_stride, row, 4));
    rows_per = DFRT_MIN(rows_per, limit / 4);
    if (!rows_per) return 2;
    if (!p->direct) rows_per = DFRT_MIN(rows_per, limit / (p->record_row * p->n_splits));
    if (!rows_per) return 3; /* many more keys than one binding holds, and many heads */
    p->rows_per = DFRT_MIN(rows_per, (uint64_t)a->rows);
    return 0;
}

dfrt_status vk_attention_supports(const vk_backend *vk, const dfrt_attention_args *a) {
    if (a->dim > pipes[N_PIPES - 1].dim)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan attention: head_dim %u; the shaders take at most %u", a->dim,
                         pipes[N_PIPES - 1].dim);
    plan p;
    switch (make_plan(vk, a, &p)) {
    case 0: return DFRT_OK;
    case 1: return vk_too_large(vk, "attention", "a cached key");
    case 2: return vk_too_large(vk, "attention", "a row");
    default:
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "vulkan attention: the partial results of one row (%llu splits of %u keys) do not fit the "
                         "device's %llu-byte binding limit",
                         (unsigned long long)p.n_splits, (unsigned)p.kps, (unsigned long long)vk->max_range);
    }
}

dfrt_status vk_attention(dfrt_backend *b, const dfrt_attention_args *a) {
    vk_backend *vk = vk_of(b);
    plan p;
    make_plan(vk, a, &p);
    uint64_t width = (uint64_t)a->n_kv * a->dim, row = (uint64_t)a->n_heads * a->dim;
    if (!p.direct) DFRT_TRY(vk_scratch_reserve(vk, &vk->attention_partial, p.rows_per * p.record_row * p.n_splits, 1 << 16));
    vk_cache_plan cache = vk_plan_cache(a->n_slots, a->max_ctx, p.slots_per, p.keys_per);
    const vk_pipeline *pipe = &vk->pipes[pipes[p.pipe].id];

    for (uint64_t r0 = 0; r0 < a->rows; r0 += p.rows_per) {
        uint64_t rows = DFRT_MIN(p.rows_per, a->rows - r0);
        size_t dq, dsl, dpos, dout, dpart = 0;
        size_t part_bytes = (size_t)(rows * p.record_row * p.n_splits);
        vk_binding bindings[7] = {
            vk_bind_arg(vk, a->q, r0 * a->q_stride * 4, ((rows - 1) * a->q_stride + row) * 4, &dq),
            {0},
            {0},
            vk_bind_arg(vk, a->slots, r0 * 4, rows * 4, &dsl),
            vk_bind_arg(vk, a->positions, r0 * 4, rows * 4, &dpos),
            vk_bind_arg(vk, a->out, r0 * a->out_stride * 4, ((rows - 1) * a->out_stride + row) * 4, &dout),
            p.direct ? vk_unbound(vk) : vk_bind(&vk->attention_partial, 0, part_bytes, vk->min_align, &dpart),
        };
        attention_push push = {
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
            .pos0 = (uint32_t)(dpos / 4),
            .part0 = (uint32_t)(dpart / 4),
            .kps = (uint32_t)p.kps,
            .n_splits = (uint32_t)p.n_splits,
            /* DIRECT, and WRITE_INVALID in the first range; KV_BF16 */
            .flags = (p.direct ? 3u : 0u) | (a->kv_type == DFRT_KV_BF16 ? 4u : 0u),
            .scale = a->scale,
            .window = a->window,
            .softcap = a->softcap,
        };
        for (uint64_t i = 0; i < cache.count; i++) {
            vk_cache_range cr = vk_bind_cache_range(vk, &cache, i, a->k_cache, a->v_cache, width, a->kv_type,
                                                    &bindings[1], &bindings[2], &push.k0, &push.v0);
            push.range = cr;
            push.split_count = (uint32_t)vk_ceil_div(cr.key_end - cr.key_lo, p.kps);
            DFRT_TRY(vk_launch(vk, pipe, bindings, &push, &push.groups_x, rows * p.units_per_row * push.split_count));
            push.flags &= ~2u;
        }
        if (!p.direct) { /* merge the splits of every (row, head) */
            bindings[0] = bindings[1] = bindings[2] = vk_unbound(vk);
            push.split_count = 1;
            DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_ATTENTION_COMBINE], bindings, &push, &push.groups_x,
                               rows * a->n_heads));
        }
    }
    return DFRT_OK;
}
