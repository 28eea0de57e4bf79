/* embedding (shaders/embedding.comp): ranges of rows, and windows of a table larger than one
 * binding. The offsets the shader reads from the device are checked there against the window
 * each dispatch binds. */
#include "vk_internal.h"

#include "embedding.spv.h"

typedef struct embedding_push {
    uint32_t rows, dim, offsets0, out0, table0, w_lo, w_last, max_first, flags, groups_per_row, groups_x;
    float scale;
} embedding_push;
_Static_assert(sizeof(embedding_push) == 48, "embedding push constants");

dfrt_status vk_embedding_pipelines(vk_backend *vk) {
    return VK_OP_PIPELINE(vk, VK_PIPE_EMBEDDING, "embedding", embedding_spv, 3, embedding_push);
}

/* Rows of the output at a time, and windows of the table: `window` elements, starting `step`
 * apart, so that each valid row [first, first + dim) lies wholly in the window whose
 * [w_lo, w_lo + step) holds first (step UINT64_MAX: one window). */
typedef struct plan {
    uint64_t rows_per, window, step, max_first;
    bool any_valid;
} plan;

/* NULL, or what does not fit one binding. */
static const char *make_plan(const vk_backend *vk, const dfrt_embedding_args *a, plan *p) {
    uint64_t limit = vk_range_limit(vk), dim = a->dim, elems = a->table_elems;
    p->rows_per = DFRT_MIN(vk_rows_within(limit, dim, dim, 4), limit / 4);
    p->window = limit / 2;
    p->max_first = 0;
    p->any_valid = elems >= dim;
    if (p->any_valid) p->max_first = DFRT_MIN(elems - dim, (uint64_t)UINT32_MAX); /* offsets are uint32 */
    p->step = UINT64_MAX;
    if (!p->rows_per) return "a row";
    if (p->any_valid && elems > p->window) {
        if (dim >= p->window) return "a row of the table";
        p->step = p->window - dim;
    }
    return NULL;
}

dfrt_status vk_embedding_supports(const vk_backend *vk, const dfrt_embedding_args *a) {
    plan p;
    const char *what = make_plan(vk, a, &p);
    return what ? vk_too_large(vk, "embedding", what) : DFRT_OK;
}

dfrt_status vk_embedding(dfrt_backend *b, const dfrt_embedding_args *a) {
    vk_backend *vk = vk_of(b);
    plan p;
    make_plan(vk, a, &p);
    uint64_t dim = a->dim, elems = a->table_elems;
    for (uint64_t r0 = 0; r0 < a->rows; r0 += p.rows_per) {
        uint64_t rows = DFRT_MIN(p.rows_per, a->rows - r0);
        size_t d_off, d_out, d_table;
        vk_binding bindings[3] = {
            {0},
            vk_bind_arg(vk, a->offsets, r0 * 4, rows * 4, &d_off),
            vk_bind_arg(vk, a->out, r0 * dim * 4, rows * dim * 4, &d_out),
        };
        embedding_push push = {
            .rows = (uint32_t)rows,
            .dim = (uint32_t)dim,
            .offsets0 = (uint32_t)(d_off / 4),
            .out0 = (uint32_t)(d_out / 4),
            .max_first = (uint32_t)p.max_first,
            .flags = (p.any_valid ? 1u : 0u) | 2u, /* ANY_VALID; WRITE_INVALID in the first window */
            .groups_per_row = (uint32_t)vk_ceil_div(dim, 4 * VK_OP_WORKGROUP),
            .scale = a->scale,
        };
        uint64_t w_lo = 0;
        do {
            uint64_t w_last = p.step == UINT64_MAX ? p.max_first : DFRT_MIN(w_lo + p.step - 1, p.max_first);
            bindings[0] = vk_bind_arg(vk, a->table, w_lo * 2, DFRT_MIN(p.window, elems - w_lo) * 2, &d_table);
            push.table0 = (uint32_t)(d_table / 2);
            push.w_lo = (uint32_t)w_lo;
            push.w_last = (uint32_t)w_last;
            DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_EMBEDDING], bindings, &push, &push.groups_x,
                               rows * push.groups_per_row));
            push.flags &= ~2u;
            if (p.step == UINT64_MAX) break;
            w_lo += p.step;
        } while (p.any_valid && w_lo <= p.max_first);
    }
    return DFRT_OK;
}
