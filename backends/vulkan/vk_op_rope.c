/* rope (shaders/rope.comp), in place on the first rot_dim values of each head of each row:
 * ranges of rows that fit one binding. */
#include "vk_internal.h"

#include "rope.spv.h"

typedef struct rope_push {
    uint32_t rows, heads, half_dim, row_stride, x0, pos0, inv0, groups_per_row, groups_x, dim;
    float scale;
} rope_push;
_Static_assert(sizeof(rope_push) == 44, "rope push constants");

dfrt_status vk_rope_pipelines(vk_backend *vk) {
    return VK_OP_PIPELINE(vk, VK_PIPE_ROPE, "rope", rope_spv, 3, rope_push);
}

/* Rows per dispatch: 0 when a row (or the frequencies) does not fit one binding. */
static uint64_t rows_per(const vk_backend *vk, const dfrt_rope_args *a) {
    return DFRT_MIN(vk_rows_beside(vk, a->dim / 2, a->row_stride, (uint64_t)a->heads * a->dim), vk_range_limit(vk) / 4);
}

dfrt_status vk_rope_supports(const vk_backend *vk, const dfrt_rope_args *a) {
    return rows_per(vk, a) ? DFRT_OK : vk_too_large(vk, "rope", "a row");
}

dfrt_status vk_rope(dfrt_backend *b, const dfrt_rope_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = rows_per(vk, a), width = (uint64_t)a->heads * a->dim, half = a->rot_dim / 2;
    size_t di;
    vk_binding inv = vk_bind_arg(vk, a->inv_freq, 0, half * 4, &di);
    uint32_t per_row = (uint32_t)vk_ceil_div(a->heads * half, VK_OP_WORKGROUP);
    for (uint64_t r0 = 0; r0 < a->rows; r0 += per) {
        uint64_t rows = DFRT_MIN(per, a->rows - r0);
        size_t dx, dp;
        vk_binding bindings[3] = {
            vk_bind_arg(vk, a->x, r0 * a->row_stride * 4, ((rows - 1) * a->row_stride + width) * 4, &dx),
            vk_bind_arg(vk, a->positions, r0 * 4, rows * 4, &dp),
            inv,
        };
        rope_push push = {
            .rows = (uint32_t)rows,
            .heads = a->heads,
            .half_dim = (uint32_t)half,
            .row_stride = a->row_stride,
            .x0 = (uint32_t)(dx / 4),
            .pos0 = (uint32_t)(dp / 4),
            .inv0 = (uint32_t)(di / 4),
            .groups_per_row = per_row,
            .dim = a->dim,
            .scale = a->scale,
        };
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_ROPE], bindings, &push, &push.groups_x, rows * per_row));
    }
    return DFRT_OK;
}
