// embedding on CUDA: rows of a BF16 table, gathered by offsets read from device memory (range-
// checked), to fp32. Semantics as in ops.h and the CPU reference (backends/cpu/cpu_ops.c).
// One launch, coalesced, with 16-byte accesses when the launcher finds every pointer, stride
// and column aligned for them (a scalar variant otherwise). Grids are 1-D and loop over their
// work, so no size runs into a grid limit; products of indices are 64-bit.
#include "common.cuh"

namespace {

// out[r, c] = fp32(table[offsets[r] + c]) * scale, or 0 for every c when offsets[r] + dim > table_elems.
// Work item: (row, chunk of kChunk columns). VEC (dim % 4 == 0, out 16-byte and table 8-byte
// aligned): 4 columns per thread, an 8-byte load and a 16-byte store, for rows whose first
// element is 4-aligned; other rows take the scalar path.
template <bool VEC>
__global__ void __launch_bounds__(kThreads) embedding_kernel(float *__restrict__ out, const uint16_t *__restrict__ table,
                                                            const uint32_t *__restrict__ offsets, uint64_t table_elems,
                                                            uint32_t rows, uint32_t dim, float scale) {
    const uint64_t chunks = (dim + (uint64_t)kChunk - 1) / kChunk, items = rows * chunks;
    for (uint64_t it = blockIdx.x; it < items; it += gridDim.x) {
        const uint64_t r = it / chunks, c0 = it % chunks * kChunk;
        const uint64_t first = __ldg(offsets + r);
        const bool in = first + dim <= table_elems;
        float *row = out + r * dim;
        if (VEC && (first & 3) == 0) {
            const uint64_t c = c0 + threadIdx.x * 4;
            if (c < dim) {
                float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
                if (in) {
                    const uint2 u = __ldg(reinterpret_cast<const uint2 *>(table + first + c));
                    v = make_float4(bf16_lo(u.x) * scale, bf16_hi(u.x) * scale, bf16_lo(u.y) * scale, bf16_hi(u.y) * scale);
                }
                *reinterpret_cast<float4 *>(row + c) = v;
            }
        } else {
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const uint64_t c = c0 + k * kThreads + threadIdx.x;
                if (c < dim) row[c] = in ? bf16_lo(__ldg(table + first + c)) * scale : 0.f;
            }
        }
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_embedding(dfrt_cuda_ctx *ctx, const dfrt_embedding_args *a) {
    float *out = dev<float>(a->out);
    const uint16_t *table = dev<const uint16_t>(a->table);
    const bool vec = a->dim % 4 == 0 && aligned(out, 16) && aligned(table, 8);
    const unsigned blocks = blocks_for((uint64_t)a->rows * ((a->dim + (uint64_t)kChunk - 1) / kChunk));
    auto kernel = vec ? embedding_kernel<true> : embedding_kernel<false>;
    kernel<<<blocks, kThreads, 0, ctx->stream>>>(out, table, dev<const uint32_t>(a->offsets), a->table_elems, a->rows,
                                                 a->dim, a->scale);
    return DFRT_CUDA_LAUNCHED("embedding");
}
