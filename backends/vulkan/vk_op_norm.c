/* rmsnorm (shaders/norm.comp), over each head of each row, with the residual add before it
 * when asked: ranges of rows that fit one binding. */
#include "vk_internal.h"

#include "norm.spv.h"

typedef struct rmsnorm_push {
    uint32_t rows, heads, dim, row_stride, x0, y0, w0;
    float eps;
    uint32_t groups_x, r0, s0, residual;
} rmsnorm_push;
_Static_assert(sizeof(rmsnorm_push) == 48, "rmsnorm push constants");

dfrt_status vk_norm_pipelines(vk_backend *vk) {
    return VK_OP_PIPELINE(vk, VK_PIPE_RMSNORM, "rmsnorm", norm_spv, 5, rmsnorm_push);
}

/* Rows per dispatch: 0 when a row (or the weights) does not fit one binding. */
static uint64_t rows_per(const vk_backend *vk, const dfrt_rmsnorm_args *a) {
    return vk_rows_beside(vk, a->dim, a->row_stride, (uint64_t)a->heads * a->dim);
}

dfrt_status vk_rmsnorm_supports(const vk_backend *vk, const dfrt_rmsnorm_args *a) {
    return rows_per(vk, a) ? DFRT_OK : vk_too_large(vk, "rmsnorm", "a row");
}

dfrt_status vk_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = rows_per(vk, a), width = (uint64_t)a->heads * a->dim;
    uint32_t w0;
    vk_binding w = vk_bind_words(vk, a->w, 0, (uint64_t)a->dim * 4, &w0);
    for (uint64_t r0 = 0; r0 < a->rows; r0 += per) {
        uint64_t rows = DFRT_MIN(per, a->rows - r0), first = r0 * a->row_stride * 4;
        uint64_t bytes = ((rows - 1) * a->row_stride + width) * 4;
        rmsnorm_push push = {
            .rows = (uint32_t)rows,
            .heads = a->heads,
            .dim = a->dim,
            .row_stride = a->row_stride,
            .w0 = w0,
            .eps = a->eps,
            .residual = a->residual.buf != NULL,
        };
        /* without a residual, R and S are x and y again (the shader leaves them alone) */
        const dfrt_tensor_arg res = a->residual.buf ? a->residual : a->x, sum = a->residual.buf ? a->sum : a->y;
        vk_binding bindings[5] = {vk_bind_words(vk, a->x, first, bytes, &push.x0), w,
                                  vk_bind_words(vk, a->y, first, bytes, &push.y0),
                                  vk_bind_words(vk, res, first, bytes, &push.r0),
                                  vk_bind_words(vk, sum, first, bytes, &push.s0)};
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_RMSNORM], bindings, &push, &push.groups_x, rows * a->heads));
    }
    return DFRT_OK;
}
