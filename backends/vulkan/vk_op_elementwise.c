/* The elementwise ops (shaders/elementwise.comp, a variant each): silu_mul over ranges of rows,
 * add over ranges of values, each range within one binding. */
#include "vk_internal.h"

#include "elementwise_add.spv.h"
#include "elementwise_silu_mul.spv.h"

typedef struct silu_mul_push {
    uint32_t rows, width, in_stride, up_col, in0, out0, groups_per_row, groups_x, act;
} silu_mul_push;
typedef struct add_push {
    uint32_t n, a0, b0, y0, groups_x;
} add_push;
_Static_assert(sizeof(silu_mul_push) == 36, "silu_mul push constants");
_Static_assert(sizeof(add_push) == 20, "add push constants");

dfrt_status vk_elementwise_pipelines(vk_backend *vk) {
    DFRT_TRY(VK_OP_PIPELINE(vk, VK_PIPE_SILU_MUL, "silu_mul", elementwise_silu_mul_spv, 2, silu_mul_push));
    return VK_OP_PIPELINE(vk, VK_PIPE_ADD, "add", elementwise_add_spv, 3, add_push);
}

/* silu_mul's rows per dispatch: 0 when a row does not fit one binding. */
static uint64_t silu_mul_rows_per(const vk_backend *vk, const dfrt_silu_mul_args *a) {
    uint64_t limit = vk_range_limit(vk), in_width = (uint64_t)a->up_col + a->width;
    return DFRT_MIN(vk_rows_within(limit, a->in_stride, in_width, 4), vk_rows_within(limit, a->width, a->width, 4));
}

dfrt_status vk_silu_mul_supports(const vk_backend *vk, const dfrt_silu_mul_args *a) {
    return silu_mul_rows_per(vk, a) ? DFRT_OK : vk_too_large(vk, "silu_mul", "a row");
}

dfrt_status vk_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = silu_mul_rows_per(vk, a), in_width = (uint64_t)a->up_col + a->width;
    for (uint64_t r0 = 0; r0 < a->rows; r0 += per) {
        uint64_t rows = DFRT_MIN(per, a->rows - r0);
        silu_mul_push push = {
            .rows = (uint32_t)rows,
            .width = a->width,
            .in_stride = a->in_stride,
            .up_col = a->up_col,
            .groups_per_row = (uint32_t)vk_ceil_div(a->width, 4 * VK_OP_WORKGROUP),
            .act = (uint32_t)a->act,
        };
        vk_binding bindings[2] = {
            vk_bind_words(vk, a->in, r0 * a->in_stride * 4, ((rows - 1) * a->in_stride + in_width) * 4, &push.in0),
            vk_bind_words(vk, a->out, r0 * a->width * 4, rows * a->width * 4, &push.out0),
        };
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_SILU_MUL], bindings, &push, &push.groups_x,
                           rows * push.groups_per_row));
    }
    return DFRT_OK;
}

VK_SUPPORTS_ANY_SIZE(add)

dfrt_status vk_add(dfrt_backend *b, const dfrt_add_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t per = vk_range_limit(vk) / 4;
    for (uint64_t done = 0; done < a->n; done += per) {
        uint64_t n = DFRT_MIN(per, a->n - done);
        size_t da, db, dy;
        vk_binding bindings[3] = {
            vk_bind_arg(vk, a->a, done * 4, n * 4, &da),
            vk_bind_arg(vk, a->b, done * 4, n * 4, &db),
            vk_bind_arg(vk, a->y, done * 4, n * 4, &dy),
        };
        add_push push = {(uint32_t)n, (uint32_t)(da / 4), (uint32_t)(db / 4), (uint32_t)(dy / 4), 0};
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_ADD], bindings, &push, &push.groups_x,
                           vk_ceil_div(n, 4 * VK_OP_WORKGROUP)));
    }
    return DFRT_OK;
}
