/* matmul, Y = X . W^T (+ bias) with BF16 W: for M <= 16 a pass over W at the memory's pace,
 * shaders/matmul_gemv_sg.comp (a subgroup per row group, rows of W sharing each read of X)
 * where the device and the alignment allow, else matmul_gemv.comp for M <= 8; otherwise, from
 * M = 17 on where the device has VK_NV_cooperative_matrix, matmul_coopmat.comp (tensor cores,
 * fp16 operands; 64 x 64 blocks up to M = 128, 128 x 128 above), else matmul_gemm.comp in 64x64 tiles of fp32 FMAs. One choice for a case,
 * vk_matmul_kernel_of, which also names it. Pieces of Y whose X, W and Y ranges each fit one
 * binding. */
#include "vk_internal.h"

#include "matmul_coopmat.spv.h"
#include "matmul_coopmat64.spv.h"
#include "matmul_gemm.spv.h"
#include "matmul_gemv.spv.h"
#include "matmul_gemv_sg.spv.h"
#include "matmul_gemv_vec.spv.h"

typedef struct matmul_push {
    uint32_t m, n, k, x0, w0, y0, y_stride, bias0, has_bias, groups_x;
} matmul_push;
_Static_assert(sizeof(matmul_push) == 40, "matmul push constants");

#define GEMV_WORKGROUP 256
#define GEMV_THREADS_PER_ROW 32
#define GEMV_MAX_M 8
#define GEMM_TILE 64
/* The cooperative-matrix GEMM above the GEMVs, in 64 x 64 blocks up to M = 128: 128 x 128
 * blocks there leave most of a block empty and too few workgroups run (H200, qkv 6144 x 4096
 * at M = 64: 542.7 us against the fp32 GEMM's 381 us, with 128 x 128 blocks). */
#define COOPMAT64_MAX_M 128

#define GEMV_SG_WORKGROUP 128

/* Rows of W per row group of the subgroup GEMV, by M: one at M = 1 (a row group per row keeps
 * the most rows in flight), two above, so that each read of X serves two rows. Measured on the
 * H200 (llama-3.1-8b shapes; qkv, o, gate_up, down, lm_head in us) at M = 8 with 1, 2, 4 and 8
 * rows: 68.0 42.0 251.6 131.5 1083.1 / 46.3 33.8 168.5 117.2 661.6 / 60.7 48.7 188.6 176.3
 * 743.9 / 71.4 66.7 219.4 221.5 781.9; at M = 1, 1 and 2 rows about equal, 4 and 8 slower
 * (o 12.4 / 13.8 / 25.9 / 51.4). DFRT_VULKAN_GEMV_RPT=1|2|4|8 sets it for every M (vk->gemv_rpt). */
static uint32_t gemv_rpt(const vk_backend *vk, uint64_t m) {
    if (vk->gemv_rpt) return vk->gemv_rpt;
    return m == 1 ? 1 : 2;
}

bool vk_gemv_sg_applies(const vk_backend *vk, const dfrt_matmul_args *a) {
    return vk->gemv_tpr && a->m <= VK_GEMV_SG_MAX_M && a->k % 8 == 0 && a->w.offset % 16 == 0 && a->x.offset % 16 == 0;
}

static dfrt_status gemv_sg_pipeline(vk_backend *vk, uint32_t m, uint32_t rpt, const vk_pipeline **out) {
    uint32_t v = rpt == 1 ? 0 : rpt == 2 ? 1 : rpt == 4 ? 2 : 3;
    uint32_t spec[4] = {GEMV_SG_WORKGROUP, vk->gemv_tpr, rpt, m};
    char name[48];
    snprintf(name, sizeof name, "gemv_sg_m%u_r%u", m, rpt);
    DFRT_TRY(vk_pipeline_lazy(vk, &vk->gemv_sg[m][v], name, matmul_gemv_sg_spv, sizeof matmul_gemv_sg_spv, 4,
                              sizeof(matmul_push), spec, 4));
    *out = &vk->gemv_sg[m][v];
    return DFRT_OK;
}

dfrt_status vk_matmul_pipelines(vk_backend *vk) {
    uint32_t gemv_spec[2] = {GEMV_WORKGROUP, GEMV_THREADS_PER_ROW};
    DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMV], "gemv", matmul_gemv_spv, sizeof matmul_gemv_spv, 4,
                                sizeof(matmul_push), gemv_spec, 2));
    DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMV_VEC], "gemv_vec", matmul_gemv_vec_spv,
                                sizeof matmul_gemv_vec_spv, 4, sizeof(matmul_push), gemv_spec, 2));
    if (vk->coopmat) {
        DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMM_COOPMAT], "gemm_coopmat", matmul_coopmat_spv,
                                    sizeof matmul_coopmat_spv, 4, sizeof(matmul_push), NULL, 0));
        DFRT_TRY(vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMM_COOPMAT64], "gemm_coopmat64", matmul_coopmat64_spv,
                                    sizeof matmul_coopmat64_spv, 4, sizeof(matmul_push), NULL, 0));
    }
    return vk_pipeline_create(vk, &vk->pipes[VK_PIPE_GEMM], "gemm", matmul_gemm_spv, sizeof matmul_gemm_spv, 4,
                              sizeof(matmul_push), NULL, 0);
}

/* Pieces of Y: mb rows of X and Y, nb rows of W, each binding within the limit; 0 when one
 * row of W or X does not fit. */
static void plan(const vk_backend *vk, const dfrt_matmul_args *a, vk_matmul_kernel_id kernel, uint64_t ldy,
                 uint64_t *out_mb, uint64_t *out_nb) {
    uint64_t M = (uint64_t)a->m, N = ldy, K = (uint64_t)a->k, limit = vk_range_limit(vk);
    uint64_t nb = DFRT_MIN(N, limit / (2 * K)), mb = DFRT_MIN(M, limit / (4 * K));
    uint64_t tile_limit = (uint64_t)GEMM_TILE * vk->max_groups;
    if (kernel == VK_KERNEL_GEMM || kernel == VK_KERNEL_GEMM_COOPMAT || kernel == VK_KERNEL_GEMM_COOPMAT64) {
        nb = DFRT_MIN(nb, tile_limit);
        mb = DFRT_MIN(mb, tile_limit);
    }
    while (nb && mb && ((mb - 1) * N + nb) * 4 > limit) {
        if (mb > 1) mb = (mb + 1) / 2;
        else nb /= 2;
    }
    /* the cooperative-matrix GEMM decides fp16 or fp32 per block: pieces in whole blocks keep
     * the blocks where they are whatever the pieces (df11_matmul's rows decoded a piece at a
     * time then meet the same blocks as the whole BF16 matrix) */
    if (kernel == VK_KERNEL_GEMM_COOPMAT || kernel == VK_KERNEL_GEMM_COOPMAT64) {
        if (nb >= VK_COOPMAT_TILE) nb = nb / VK_COOPMAT_TILE * VK_COOPMAT_TILE;
        if (mb >= VK_COOPMAT_TILE) mb = mb / VK_COOPMAT_TILE * VK_COOPMAT_TILE;
    }
    *out_mb = mb;
    *out_nb = nb;
}

dfrt_status vk_matmul_supports(const vk_backend *vk, const dfrt_matmul_args *a) {
    uint64_t mb, nb;
    plan(vk, a, vk_matmul_kernel_of(vk, a), (uint64_t)a->n, &mb, &nb);
    if (!nb || !mb)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan matmul: K=%llu is too long for the device's %llu-byte binding limit",
                         (unsigned long long)a->k, (unsigned long long)vk->max_range);
    return DFRT_OK;
}

/* The kernel vk_matmul runs for a (the name list: vk_internal.h). */
vk_matmul_kernel_id vk_matmul_kernel_of(const vk_backend *vk, const dfrt_matmul_args *a) {
    bool vec = a->k % 8 == 0 && a->w.offset % 16 == 0 && a->x.offset % 16 == 0;
    if (vk_gemv_sg_applies(vk, a)) {
        uint32_t rpt = gemv_rpt(vk, (uint64_t)a->m);
        return rpt == 1 ? VK_KERNEL_GEMV_SG1 : rpt == 2 ? VK_KERNEL_GEMV_SG2 : rpt == 4 ? VK_KERNEL_GEMV_SG4 : VK_KERNEL_GEMV_SG8;
    }
    if (a->m <= GEMV_MAX_M) return vec ? VK_KERNEL_GEMV : VK_KERNEL_GEMV_ANY;
    if (vec && vk->coopmat) return a->m <= COOPMAT64_MAX_M ? VK_KERNEL_GEMM_COOPMAT64 : VK_KERNEL_GEMM_COOPMAT;
    return VK_KERNEL_GEMM;
}

dfrt_status vk_matmul(dfrt_backend *b, const dfrt_matmul_args *a) { return vk_matmul_strided(vk_of(b), a, (uint64_t)a->n); }

dfrt_status vk_matmul_strided(vk_backend *vk, const dfrt_matmul_args *a, uint64_t ldy) {
    uint64_t M = (uint64_t)a->m, N = (uint64_t)a->n, K = (uint64_t)a->k, mb, nb;
    const vk_matmul_kernel_id kernel = vk_matmul_kernel_of(vk, a);
    plan(vk, a, kernel, ldy, &mb, &nb);
    bool sg = kernel <= VK_KERNEL_GEMV_SG8;
    bool gemv = kernel == VK_KERNEL_GEMV || kernel == VK_KERNEL_GEMV_ANY;
    bool vec = kernel == VK_KERNEL_GEMV;
    bool coop = kernel == VK_KERNEL_GEMM_COOPMAT || kernel == VK_KERNEL_GEMM_COOPMAT64;
    uint32_t block = kernel == VK_KERNEL_GEMM_COOPMAT ? VK_COOPMAT_TILE : 64; /* used where coop */
    uint32_t rpt = 1u << (kernel - VK_KERNEL_GEMV_SG1); /* used where sg */
    for (uint64_t m0 = 0; m0 < M; m0 += mb) {
        uint64_t mp = DFRT_MIN(mb, M - m0);
        for (uint64_t n0 = 0; n0 < N; n0 += nb) {
            uint64_t np = DFRT_MIN(nb, N - n0);
            size_t dx, dw, dy, dbias = 0;
            vk_binding bindings[4] = {
                vk_bind_arg(vk, a->x, m0 * K * 4, mp * K * 4, &dx),
                vk_bind_arg(vk, a->w, n0 * K * 2, np * K * 2, &dw),
                a->bias.buf ? vk_bind_arg(vk, a->bias, n0 * 4, np * 4, &dbias) : vk_unbound(vk),
                vk_bind_arg(vk, a->y, (m0 * ldy + n0) * 4, ((mp - 1) * ldy + np) * 4, &dy),
            };
            matmul_push push = {
                .m = (uint32_t)mp,
                .n = (uint32_t)np,
                .k = (uint32_t)K,
                .x0 = (uint32_t)(dx / 4),
                .w0 = (uint32_t)(dw / 2),
                .y0 = (uint32_t)(dy / 4),
                .y_stride = (uint32_t)ldy,
                .bias0 = (uint32_t)(dbias / 4),
                .has_bias = a->bias.buf != NULL,
            };
            if (sg) {
                const vk_pipeline *sg_pipe;
                DFRT_TRY(gemv_sg_pipeline(vk, (uint32_t)mp, rpt, &sg_pipe));
                uint64_t rows_per_group = (uint64_t)GEMV_SG_WORKGROUP / vk->gemv_tpr * rpt;
                DFRT_TRY(vk_launch(vk, sg_pipe, bindings, &push, &push.groups_x, vk_ceil_div(np, rows_per_group)));
            } else if (gemv) {
                uint64_t rows_per_group = GEMV_WORKGROUP / GEMV_THREADS_PER_ROW;
                DFRT_TRY(vk_launch(vk, &vk->pipes[vec ? VK_PIPE_GEMV_VEC : VK_PIPE_GEMV], bindings, &push,
                                   &push.groups_x, vk_ceil_div(np, rows_per_group)));
            } else if (coop) { /* blocks: N across, M down */
                uint32_t gx = (uint32_t)vk_ceil_div(np, block), gy = (uint32_t)vk_ceil_div(mp, block);
                push.groups_x = gx;
                DFRT_TRY(vk_dispatch(vk, &vk->pipes[block == 64 ? VK_PIPE_GEMM_COOPMAT64 : VK_PIPE_GEMM_COOPMAT], bindings,
                                     &push, gx, gy));
            } else { /* tiles: N across, M down */
                uint32_t gx = (uint32_t)vk_ceil_div(np, GEMM_TILE), gy = (uint32_t)vk_ceil_div(mp, GEMM_TILE);
                push.groups_x = gx;
                DFRT_TRY(vk_dispatch(vk, &vk->pipes[VK_PIPE_GEMM], bindings, &push, gx, gy));
            }
        }
    }
    return DFRT_OK;
}
