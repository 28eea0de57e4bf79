/* Vulkan ops: planning dispatches so that every binding stays within maxStorageBufferRange
 * and every grid within maxComputeWorkGroupCount. */
#include "vk_internal.h"

static void grid(uint32_t groups, uint32_t max_groups, uint32_t *gx, uint32_t *gy) {
    *gx = DFRT_MIN(groups, max_groups);
    *gy = (groups + *gx - 1) / *gx;
}

dfrt_status vk_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a) {
    vk_backend *vk = vk_of(b);
    const dfrt_device_df11 *u = a->unit;
    const uint32_t *pos = u->positions;
    uint64_t limit = vk->max_range - vk->min_align - 16;
    uint64_t max_chunks = (uint64_t)vk->max_groups * vk->max_groups;
    vk_buffer *stream = u->stream->impl, *sm = u->sign_mantissa->impl, *out = a->out.buf->impl;
    uint32_t end = a->first_chunk + a->n_chunks;
    /* the smallest staging area that holds the unit's largest chunk, else the largest */
    const vk_pipeline *pipe = &vk->decode[vk->n_decode - 1];
    for (int i = vk->n_decode - 1; i >= 1; i--)
        if (4ull * vk->decode_stage_words[i] >= u->max_chunk_weights) pipe = &vk->decode[i];
    for (uint32_t c = a->first_chunk; c < end;) {
        /* The largest group of chunks whose stream, sign/mantissa and output ranges all fit
         * one binding: stream 4096 bytes a chunk (+8 look-ahead), outputs 2 bytes a weight. */
        uint64_t g = DFRT_MIN((uint64_t)end, c + DFRT_MIN((limit - 8) / DFRT_DF11_CHUNK_BYTES, max_chunks));
        uint32_t lo = c + 1, hi = (uint32_t)g; /* largest g in [lo, hi] with 2 * weights <= limit */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo + 1) / 2;
            if (2ull * (pos[mid] - pos[c]) <= limit) lo = mid;
            else hi = mid - 1;
        }
        g = lo;
        uint32_t n = (uint32_t)(g - c);
        size_t ds, dm, dout;
        vk_binding bindings[6] = {
            {((vk_buffer *)u->luts->impl)->buffer, 0, VK_WHOLE_SIZE},
            vk_bind(stream, (size_t)c * DFRT_DF11_CHUNK_BYTES, (size_t)n * DFRT_DF11_CHUNK_BYTES + 8, vk->min_align, &ds),
            vk_bind(sm, pos[c], pos[g] - pos[c], vk->min_align, &dm),
            {((vk_buffer *)u->positions_buf->impl)->buffer, 0, VK_WHOLE_SIZE},
            {((vk_buffer *)u->gaps->impl)->buffer, 0, VK_WHOLE_SIZE},
            vk_bind(out, a->out.offset + 2 * (size_t)(pos[c] - pos[a->first_chunk]), 2 * (size_t)(pos[g] - pos[c]),
                 vk->min_align, &dout),
        };
        vk_decode_push push = {
            .first_chunk = c,
            .n_tables = u->n_tables,
            .stream_word0 = (uint32_t)(ds / 4),
            .stream_words = (uint32_t)(bindings[1].range / 4),
            .sm_byte0 = (uint32_t)dm,
            .sm_bytes = (uint32_t)bindings[2].range,
            .out_elem0 = (uint32_t)(dout / 2),
            .n_group_chunks = n,
        };
        uint32_t gx, gy;
        grid(n, vk->max_groups, &gx, &gy);
        DFRT_TRY(vk_dispatch(vk, pipe, bindings, &push, gx, gy));
        c = (uint32_t)g;
    }
    return DFRT_OK;
}

dfrt_status vk_matmul(dfrt_backend *b, const dfrt_matmul_args *a) {
    vk_backend *vk = vk_of(b);
    uint64_t M = (uint64_t)a->m, N = (uint64_t)a->n, K = (uint64_t)a->k;
    uint64_t limit = vk->max_range - vk->min_align - 16;
    bool gemv = M <= VK_GEMV_MAX_M;
    bool vec = gemv && K % 8 == 0 && a->w.offset % 16 == 0 && a->x.offset % 16 == 0;
    /* Pieces of Y: mb rows of X and Y, nb rows of W, each binding within the limit. */
    uint64_t nb = DFRT_MIN(N, limit / (2 * K)), mb = DFRT_MIN(M, limit / (4 * K));
    uint64_t tile_limit = (uint64_t)VK_GEMM_TILE * vk->max_groups;
    if (!gemv) {
        nb = DFRT_MIN(nb, tile_limit);
        mb = DFRT_MIN(mb, tile_limit);
    }
    while (nb && mb && ((mb - 1) * N + nb) * 4 > limit) {
        if (mb > 1) mb = (mb + 1) / 2;
        else nb /= 2;
    }
    if (!nb || !mb)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan matmul: K=%llu is too long for the device's %llu-byte binding limit",
                         (unsigned long long)K, (unsigned long long)vk->max_range);
    const vk_buffer *x = a->x.buf->impl, *w = a->w.buf->impl, *y = a->y.buf->impl;
    for (uint64_t m0 = 0; m0 < M; m0 += mb) {
        uint64_t mp = DFRT_MIN(mb, M - m0);
        for (uint64_t n0 = 0; n0 < N; n0 += nb) {
            uint64_t np = DFRT_MIN(nb, N - n0);
            size_t dx, dw, dy, dbias = 0;
            vk_binding bindings[4] = {
                vk_bind(x, a->x.offset + m0 * K * 4, mp * K * 4, vk->min_align, &dx),
                vk_bind(w, a->w.offset + n0 * K * 2, np * K * 2, vk->min_align, &dw),
                a->bias.buf ? vk_bind(a->bias.buf->impl, a->bias.offset + n0 * 4, np * 4, vk->min_align, &dbias)
                        : (vk_binding){vk->dummy.buffer, 0, VK_WHOLE_SIZE},
                vk_bind(y, a->y.offset + (m0 * N + n0) * 4, ((mp - 1) * N + np) * 4, vk->min_align, &dy),
            };
            vk_matmul_push push = {
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
                uint32_t rows_per_group = VK_GEMV_WORKGROUP / VK_GEMV_THREADS_PER_ROW;
                uint32_t groups = (uint32_t)((np + rows_per_group - 1) / rows_per_group), gx, gy;
                grid(groups, vk->max_groups, &gx, &gy);
                push.groups_x = gx;
                DFRT_TRY(vk_dispatch(vk, &vk->pipes[vec ? VK_PIPE_GEMV_VEC : VK_PIPE_GEMV], bindings, &push, gx, gy));
            } else {
                uint32_t gx = (uint32_t)((np + VK_GEMM_TILE - 1) / VK_GEMM_TILE);
                uint32_t gy = (uint32_t)((mp + VK_GEMM_TILE - 1) / VK_GEMM_TILE);
                push.groups_x = gx;
                DFRT_TRY(vk_dispatch(vk, &vk->pipes[VK_PIPE_GEMM], bindings, &push, gx, gy));
            }
        }
    }
    return DFRT_OK;
}

dfrt_status vk_shader_copy(vk_backend *vk, const vk_buffer *dst, size_t dst_offset, const vk_buffer *src,
                           size_t src_offset, size_t size, bool *out_done) {
    *out_done = false;
    if (dst_offset % 16 || src_offset % 16 || size % 16 || vk->min_align > 16) return DFRT_OK;
    /* pieces within the binding limit and the grid limit (1024 vectors per workgroup) */
    uint64_t piece = DFRT_MIN((vk->max_range - 16) / 16 * 16, (uint64_t)1024 * 16 * vk->max_groups * 64);
    for (size_t done = 0; done < size;) {
        size_t step = (size_t)DFRT_MIN((uint64_t)(size - done), piece);
        size_t ds, dd;
        vk_binding bindings[2] = {
            vk_bind(src, src_offset + done, step, vk->min_align, &ds),
            vk_bind(dst, dst_offset + done, step, vk->min_align, &dd),
        };
        uint32_t vectors = (uint32_t)(step / 16), groups = (vectors + 1023) / 1024, gx, gy;
        grid(groups, vk->max_groups, &gx, &gy);
        vk_copy_push push = {vectors, gx};
        DFRT_TRY(vk_dispatch(vk, &vk->pipes[VK_PIPE_COPY], bindings, &push, gx, gy));
        done += step;
    }
    *out_done = true;
    return DFRT_OK;
}
