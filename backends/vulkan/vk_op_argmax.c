/* argmax over each row (shaders/argmax.comp), one workgroup a row: ranges of rows that fit one
 * binding. */
#include "vk_internal.h"

#include "argmax.spv.h"

typedef struct argmax_push {
    uint32_t rows, n, stride, x0, out0, groups_x;
} argmax_push;
_Static_assert(sizeof(argmax_push) == 24, "argmax push constants");

#define ARGMAX_WORKGROUP 512 /* the backend requires 512-invocation workgroups */

dfrt_status vk_argmax_pipelines(vk_backend *vk) {
    uint32_t spec[2] = {ARGMAX_WORKGROUP, DFRT_MAX(ARGMAX_WORKGROUP / vk->subgroup_size, 1u)};
    return vk_pipeline_create(vk, &vk->pipes[VK_PIPE_ARGMAX], "argmax", argmax_spv, sizeof argmax_spv, 2,
                              sizeof(argmax_push), spec, 2);
}

/* Rows per dispatch: 0 when a row does not fit one binding. */
static uint64_t rows_per(const vk_backend *vk, const dfrt_argmax_args *a) {
    uint64_t limit = vk_range_limit(vk);
    return DFRT_MIN(vk_rows_within(limit, a->stride, a->n, 4), limit / 4);
}

dfrt_status vk_argmax_supports(const vk_backend *vk, const dfrt_argmax_args *a) {
    return rows_per(vk, a) ? DFRT_OK : vk_too_large(vk, "argmax", "a row");
}

dfrt_status vk_argmax(dfrt_backend *b, const dfrt_argmax_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = rows_per(vk, a);
    for (uint64_t r0 = 0; r0 < a->rows; r0 += per) {
        uint64_t rows = DFRT_MIN(per, a->rows - r0);
        size_t dx, dout;
        vk_binding bindings[2] = {
            vk_bind_arg(vk, a->x, r0 * a->stride * 4, ((rows - 1) * a->stride + a->n) * 4, &dx),
            vk_bind_arg(vk, a->out, r0 * 4, rows * 4, &dout),
        };
        argmax_push push = {(uint32_t)rows, a->n, a->stride, (uint32_t)(dx / 4), (uint32_t)(dout / 4), 0};
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_ARGMAX], bindings, &push, &push.groups_x, rows));
    }
    return DFRT_OK;
}
