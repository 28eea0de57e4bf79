/* df11_matmul, Y = X . W^T (+ bias) with W rows of a DF11 unit (segment layout):
 *   M <= 16, K % 64 == 0, rows starting on a segment, X 16-byte aligned, the device able
 *       (vk_gemv_sg_applies): shaders/df11_gemv.comp, the decode fused into the subgroup GEMV,
 *       giving matmul_gemv_sg's bits over the decoded weights;
 *   otherwise: rows decoded a piece at a time (at most PIECE_WEIGHTS, within the binding
 *       limit) into df11_scratch, each piece multiplied by vk_matmul, which is the BF16
 *       matmul over the same weights. */
#include "vk_internal.h"

#include "format/df11_internal.h"

#include "df11_gemv.spv.h"

typedef struct df11_gemv_push {
    uint32_t m, n, k, x0, y0, y_stride, bias0, has_bias, seg_first, sm0;
    uint32_t stream_word0, stream_words, seg_rec0, seg_word0, n_tables;
} df11_gemv_push;
_Static_assert(sizeof(df11_gemv_push) == 60, "df11_gemv push constants");

#define PIECE_WEIGHTS (64ull << 20)

/* Whether the fused GEMV takes this case. */
static bool fused(const vk_backend *vk, const dfrt_df11_matmul_args *a) {
    dfrt_matmul_args m = {.x = a->x, .m = a->m, .k = a->k};
    return vk->seg_workgroup && vk_gemv_sg_applies(vk, &m) && a->k % DFRT_DF11_SEGMENT_WEIGHTS == 0 &&
           a->first % DFRT_DF11_SEGMENT_WEIGHTS == 0 && (uint64_t)a->n * a->k / DFRT_DF11_SEGMENT_WEIGHTS < UINT32_MAX &&
           a->first / DFRT_DF11_SEGMENT_WEIGHTS + (uint64_t)a->n * a->k / DFRT_DF11_SEGMENT_WEIGHTS < UINT32_MAX;
}

dfrt_status vk_df11_matmul_supports(const vk_backend *vk, const dfrt_df11_matmul_args *a) {
    DFRT_TRY(vk_seg_decoder_supported(vk, "df11_matmul"));
    dfrt_matmul_args m = {.x = a->x, .y = a->y, .bias = a->bias, .m = a->m, .n = a->n, .k = a->k};
    return vk_matmul_supports(vk, &m);
}

/* Rows [r0, r0 + rows) by the fused GEMV, within the binding limit; *done: how many it took
 * (0: not even one row fits). */
static dfrt_status gemv_rows(vk_backend *vk, const dfrt_df11_matmul_args *a, uint64_t r0, uint64_t rows,
                             uint64_t *done) {
    const dfrt_device_df11 *u = a->unit;
    uint64_t K = (uint64_t)a->k, N = (uint64_t)a->n, M = (uint64_t)a->m, limit = vk_range_limit(vk);
    rows = DFRT_MIN(rows, limit / K);                                  /* sign/mantissa bytes */
    while (rows && ((M - 1) * N + rows) * 4 > limit) rows /= 2;        /* Y */
    vk_seg_bind sb;
    while (rows && !vk_seg_bindings(vk, u, a->first + r0 * K, a->first + (r0 + rows) * K, &sb)) rows /= 2;
    *done = rows;
    if (!rows) return DFRT_OK;
    char name[32];
    uint32_t spec[3] = {vk->seg_workgroup, vk->gemv_tpr, (uint32_t)M};
    snprintf(name, sizeof name, "df11_gemv_m%u", (unsigned)M);
    DFRT_TRY(vk_pipeline_lazy(vk, &vk->df11_gemv[M], name, df11_gemv_spv, sizeof df11_gemv_spv, 8,
                              sizeof(df11_gemv_push), spec, 3));
    uint64_t w0 = a->first + r0 * K;
    size_t dx, dm, dy, dbias = 0;
    vk_binding bindings[8] = {
        vk_bind_arg(vk, a->x, 0, M * K * 4, &dx),
        sb.stream,
        sb.segments,
        {((vk_buffer *)u->fast->impl)->buffer, 0, VK_WHOLE_SIZE},
        {((vk_buffer *)u->luts->impl)->buffer, 0, VK_WHOLE_SIZE},
        vk_bind(u->sign_mantissa->impl, (size_t)w0, (size_t)(rows * K), vk->min_align, &dm),
        a->bias.buf ? vk_bind_arg(vk, a->bias, r0 * 4, rows * 4, &dbias) : vk_unbound(vk),
        vk_bind_arg(vk, a->y, r0 * 4, ((M - 1) * N + rows) * 4, &dy),
    };
    df11_gemv_push push = {
        .m = (uint32_t)M,
        .n = (uint32_t)rows,
        .k = (uint32_t)K,
        .x0 = (uint32_t)(dx / 4),
        .y0 = (uint32_t)(dy / 4),
        .y_stride = (uint32_t)N,
        .bias0 = (uint32_t)(dbias / 4),
        .has_bias = a->bias.buf != NULL,
        .seg_first = (uint32_t)(w0 / DFRT_DF11_SEGMENT_WEIGHTS),
        .sm0 = (uint32_t)dm,
        .stream_word0 = sb.stream_word0,
        .stream_words = sb.stream_words,
        .seg_rec0 = sb.seg_rec0,
        .seg_word0 = sb.seg_word0,
        .n_tables = u->n_tables,
    };
    /* workgroups loop over rows (the tables loaded once each): enough of them to fill a GPU */
    uint64_t per_group = vk->seg_workgroup / vk->gemv_tpr;
    uint32_t groups = (uint32_t)DFRT_MIN(vk_ceil_div(rows, per_group), DFRT_MIN(1024ull, (uint64_t)vk->max_groups));
    return vk_dispatch(vk, &vk->df11_gemv[M], bindings, &push, groups, 1);
}

const char *vk_matmul_kernel(dfrt_backend *b, dfrt_op op, const void *args) {
    static const char *const names[VK_KERNEL_COUNT] = {
        "subgroup GEMV, 1 row a group", "subgroup GEMV, 2 rows a group", "subgroup GEMV, 4 rows a group",
        "subgroup GEMV, 8 rows a group", "fp32 GEMV", "fp32 GEMV, element by element",
        "cooperative-matrix GEMM (fp16), 128x128 blocks", "cooperative-matrix GEMM (fp16), 64x64 blocks", "fp32 GEMM",
    };
    static const char *const decoded[VK_KERNEL_COUNT] = {
        "DF11 decode + subgroup GEMV, 1 row a group", "DF11 decode + subgroup GEMV, 2 rows a group",
        "DF11 decode + subgroup GEMV, 4 rows a group", "DF11 decode + subgroup GEMV, 8 rows a group",
        "DF11 decode + fp32 GEMV", "DF11 decode + fp32 GEMV, element by element",
        "DF11 decode + cooperative-matrix GEMM (fp16), 128x128 blocks",
        "DF11 decode + cooperative-matrix GEMM (fp16), 64x64 blocks", "DF11 decode + fp32 GEMM",
    };
    const vk_backend *vk = vk_of(b);
    if (op == DFRT_OP_MATMUL) return names[vk_matmul_kernel_of(vk, args)];
    const dfrt_df11_matmul_args *a = args;
    if (fused(vk, a)) return "fused DF11 subgroup GEMV";
    /* the pieces: decoded into the scratch (offset 0, aligned), then matmul */
    dfrt_buffer w = {.backend = b, .size = 0, .impl = NULL};
    dfrt_matmul_args m = {.x = a->x, .w = {&w, 0}, .m = a->m, .n = a->n, .k = a->k};
    return decoded[vk_matmul_kernel_of(vk, &m)];
}

dfrt_status vk_df11_matmul(dfrt_backend *b, const dfrt_df11_matmul_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t K = (uint64_t)a->k, N = (uint64_t)a->n, start = 0;
    if (fused(vk, a)) {
        while (start < N) {
            uint64_t done;
            DFRT_TRY(gemv_rows(vk, a, start, N - start, &done));
            if (!done) break; /* a row's ranges do not fit a binding: decoded and multiplied instead */
            start += done;
        }
        if (start == N) return DFRT_OK;
    }
    /* rows decoded a piece at a time; a piece's weights within the binding limit, in whole
     * blocks of the cooperative-matrix GEMM where it has that many rows (vk_op_matmul.c) */
    uint64_t piece_rows = DFRT_MIN(N, DFRT_MAX(1ull, DFRT_MIN(PIECE_WEIGHTS, (vk_range_limit(vk) - 64) / 2) / K));
    if (piece_rows >= VK_COOPMAT_TILE && piece_rows < N) piece_rows = piece_rows / VK_COOPMAT_TILE * VK_COOPMAT_TILE;
    DFRT_TRY(vk_scratch_reserve(vk, &vk->df11_scratch, piece_rows * K * 2, 1 << 20));
    dfrt_buffer w = {.backend = b, .size = vk->df11_scratch.size, .impl = &vk->df11_scratch};
    for (uint64_t r0 = start; r0 < N; r0 += piece_rows) {
        uint64_t rows = DFRT_MIN(piece_rows, N - r0);
        DFRT_TRY(vk_df11_decode_range(vk, a->unit, a->first + r0 * K, a->first + (r0 + rows) * K, &vk->df11_scratch, 0));
        dfrt_matmul_args m = {
            .y = {a->y.buf, a->y.offset + r0 * 4},
            .x = a->x,
            .w = {&w, 0},
            .bias = a->bias.buf ? (dfrt_tensor_arg){a->bias.buf, a->bias.offset + r0 * 4} : (dfrt_tensor_arg){0},
            .m = a->m,
            .n = (int64_t)rows,
            .k = a->k,
        };
        DFRT_TRY(vk_matmul_strided(vk, &m, N));
    }
    return DFRT_OK;
}
