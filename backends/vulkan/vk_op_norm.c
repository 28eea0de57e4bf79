/* rmsnorm (shaders/norm.comp), over each head of each row: ranges of rows that fit one
 * binding. */
#include "vk_internal.h"

#include "norm.spv.h"

typedef struct rmsnorm_push {
    uint32_t rows, heads, dim, row_stride, x0, y0, w0;
    float eps;
    uint32_t groups_x;
} rmsnorm_push;
_Static_assert(sizeof(rmsnorm_push) == 36, "rmsnorm push constants");

dfrt_status vk_norm_pipelines(vk_backend *vk) {
    uint32_t wg = VK_OP_WORKGROUP;
    return vk_pipeline_create(vk, &vk->pipes[VK_PIPE_RMSNORM], "rmsnorm", norm_spv, sizeof norm_spv, 3,
                              sizeof(rmsnorm_push), &wg, 1);
}

/* Rows per dispatch: 0 when a row (or the weights) does not fit one binding. */
static uint64_t rows_per(const vk_backend *vk, const dfrt_rmsnorm_args *a) {
    uint64_t limit = vk_range_limit(vk);
    if ((uint64_t)a->dim * 4 > limit) return 0;
    return vk_rows_within(limit, a->row_stride, (uint64_t)a->heads * a->dim, 4);
}

dfrt_status vk_rmsnorm_supports(const vk_backend *vk, const dfrt_rmsnorm_args *a) {
    return rows_per(vk, a) ? DFRT_OK : vk_too_large(vk, "rmsnorm", "a row");
}

dfrt_status vk_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = rows_per(vk, a), width = (uint64_t)a->heads * a->dim;
    size_t dw;
    vk_binding w = vk_bind_arg(vk, a->w, 0, (uint64_t)a->dim * 4, &dw);
    for (uint64_t r0 = 0; r0 < a->rows; r0 += per) {
        uint64_t rows = DFRT_MIN(per, a->rows - r0), first = r0 * a->row_stride * 4;
        uint64_t bytes = ((rows - 1) * a->row_stride + width) * 4;
        size_t dx, dy;
        vk_binding bindings[3] = {vk_bind_arg(vk, a->x, first, bytes, &dx), w, vk_bind_arg(vk, a->y, first, bytes, &dy)};
        rmsnorm_push push = {
            .rows = (uint32_t)rows,
            .heads = a->heads,
            .dim = a->dim,
            .row_stride = a->row_stride,
            .x0 = (uint32_t)(dx / 4),
            .y0 = (uint32_t)(dy / 4),
            .w0 = (uint32_t)(dw / 4),
            .eps = a->eps,
        };
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_RMSNORM], bindings, &push, &push.groups_x, rows * a->heads));
    }
    return DFRT_OK;
}
