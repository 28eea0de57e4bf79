/* matmul, Y = X . W^T (+ bias) with BF16 W (shaders/matmul_gemv.comp for M <= 8, a pass over W;
 * matmul_gemm.comp in 64x64 tiles otherwise): pieces of Y whose X, W and Y ranges each fit
 * one binding. */
#include "vk_internal.h"

#include "matmul_gemm.spv.h"
#include "matmul_gemv.spv.h"
#include "matmul_gemv_vec.spv.h"

typedef struct matmul_push {
    uint32_t m, n, k, x0, w0, y0, y_stride, bias0, has_bias, groups_x;
} matmul_push;
_Static_assert(sizeof(matmul_push) == 40, "matmul push constants");

#define GEMV_WORKGROUP 256
#define GEMV_THREADS_PER_ROW 32
#define GEMV_MAX_M 8
#define GEMM_TILE 64

dfrt_status vk_matmul_pipelines(vk_backend *vk) {
    uint32_t gemv_spec[2] = {GEMV_WORKGROUP, GEMV_THREADS_PER_ROW};
    DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMV], "gemv", matmul_gemv_spv, sizeof matmul_gemv_spv, 4,
                                sizeof(matmul_push), gemv_spec, 2));
    DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMV_VEC], "gemv_vec", matmul_gemv_vec_spv,
                                sizeof matmul_gemv_vec_spv, 4, sizeof(matmul_push), gemv_spec, 2));
    return vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMM], "gemm", matmul_gemm_spv, sizeof matmul_gemm_spv, 4,
                              sizeof(matmul_push), NULL, 0);
}

/* Pieces of Y: mb rows of X and Y, nb rows of W, each binding within the limit; 0 when one
 * row of W or X does not fit. */
static void plan(const vk_backend *vk, const dfrt_matmul_args *a, uint64_t *out_mb, uint64_t *out_nb) {
    uint64_t M = (uint64_t)a->m, N = (uint64_t)a->n, K = (uint64_t)a->k, limit = vk_range_limit(vk);
    uint64_t nb = DFRT_MIN(N, limit / (2 * K)), mb = DFRT_MIN(M, limit / (4 * K));
    uint64_t tile_limit = (uint64_t)GEMM_TILE * vk->max_groups;
    if (M > GEMV_MAX_M) {
        nb = DFRT_MIN(nb, tile_limit);
        mb = DFRT_MIN(mb, tile_limit);
    }
    while (nb && mb && ((mb - 1) * N + nb) * 4 > limit) {
        if (mb > 1) mb = (mb + 1) / 2;
        else nb /= 2;
    }
    *out_mb = mb;
    *out_nb = nb;
}

dfrt_status vk_matmul_supports(const vk_backend *vk, const dfrt_matmul_args *a) {
    uint64_t mb, nb;
    plan(vk, a, &mb, &nb);
    if (!nb || !mb)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan matmul: K=%llu is too long for the device's %llu-byte binding limit",
                         (unsigned long long)a->k, (unsigned long long)vk->max_range);
    return DFRT_OK;
}

dfrt_status vk_matmul(dfrt_backend *b, const dfrt_matmul_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t M = (uint64_t)a->m, N = (uint64_t)a->n, K = (uint64_t)a->k, mb, nb;
    plan(vk, a, &mb, &nb);
    bool gemv = M <= GEMV_MAX_M;
    bool vec = gemv && K % 8 == 0 && a->w.offset % 16 == 0 && a->x.offset % 16 == 0;
    for (uint64_t m0 = 0; m0 < M; m0 += mb) {
        uint64_t mp = DFRT_MIN(mb, M - m0);
        for (uint64_t n0 = 0; n0 < N; n0 += nb) {
            uint64_t np = DFRT_MIN(nb, N - n0);
            size_t dx, dw, dy, dbias = 0;
            vk_binding bindings[4] = {
                vk_bind_arg(vk, a->x, m0 * K * 4, mp * K * 4, &dx),
                vk_bind_arg(vk, a->w, n0 * K * 2, np * K * 2, &dw),
                a->bias.buf ? vk_bind_arg(vk, a->bias, n0 * 4, np * 4, &dbias) : vk_unbound(vk),
                vk_bind_arg(vk, a->y, (m0 * N + n0) * 4, ((mp - 1) * N + np) * 4, &dy),
            };
            matmul_push push = {
                .m = (uint32_t)mp,
                .n = (uint32_t)np,
                .k = (uint32_t)K,
                .x0 = (uint32_t)(dx / 4),
                .w0 = (uint32_t)(dw / 2),
                .y0 = (uint32_t)(dy / 4),
                .y_stride = (uint32_t)N,
                .bias0 = (uint32_t)(dbias / 4),
                .has_bias = a->bias.buf != NULL,
            };
            if (gemv) {
                uint64_t rows_per_group = GEMV_WORKGROUP / GEMV_THREADS_PER_ROW;
                DFRT_TRY(vk_launch(vk, &vk->pipes[vec ? VK_PIPE_GEMV_VEC : VK_PIPE_GEMV], bindings, &push,
                                   &push.groups_x, vk_ceil_div(np, rows_per_group)));
            } else { /* tiles: N across, M down */
                uint32_t gx = (uint32_t)vk_ceil_div(np, GEMM_TILE), gy = (uint32_t)vk_ceil_div(mp, GEMM_TILE);
                push.groups_x = gx;
                DFRT_TRY(vk_dispatch(vk, &vk->pipes[VK_PIPE_GEMM], bindings, &push, gx, gy));
            }
        }
    }
    return DFRT_OK;
}
