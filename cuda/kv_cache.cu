// kv_store on CUDA: K and V rows into the caches (fp32, or BF16 rounded to nearest even) at
// (slot, position), both read from device memory and range-checked. Semantics as in ops.h and
// the CPU reference (backends/cpu/cpu_op_kv_cache.c). One launch, coalesced, with 16-byte
// loads (and 16- or 8-byte stores) when the launcher finds every pointer, stride and column
// aligned for them (a scalar variant otherwise). Grids are 1-D and loop over their work, so no
// size runs into a grid limit; products of indices are 64-bit.
#include "common.cuh"

namespace {

constexpr int kKvRows = 8; // rows per block

// Four values as four BF16s, the first in the low half of .x.
__device__ __forceinline__ uint2 bf16x4(float4 v) {
    return make_uint2(f32_to_bf16(v.x) | f32_to_bf16(v.y) << 16, f32_to_bf16(v.z) | f32_to_bf16(v.w) << 16);
}

// k_cache[(slot, pos), 0..width) = src[r * src_stride + k_col ..], v_cache likewise from v_col,
// for rows whose slot and position are in range. A block takes kKvRows rows: it first scans
// the later rows, and a row whose (slot, position) a later row also stores is skipped, so the
// last row wins as in the sequential reference; then the whole block copies each row. VEC:
// src and the caches 16-byte aligned (BF16 caches: 8), width, src_stride, k_col, v_col
// multiples of 4. BF16: the caches hold BF16 values.
template <bool VEC, bool BF16>
__global__ void __launch_bounds__(kThreads) kv_store_kernel(void *__restrict__ kc, void *__restrict__ vc,
                                                           const float *__restrict__ src, const int32_t *__restrict__ slots,
                                                           const int32_t *__restrict__ positions, uint32_t rows,
                                                           uint32_t width, uint32_t src_stride, uint32_t k_col,
                                                           uint32_t v_col, uint32_t n_slots, uint32_t max_ctx) {
    __shared__ int32_t s_slot[kKvRows], s_pos[kKvRows];
    __shared__ int s_skip[kKvRows];
    for (uint64_t r0 = (uint64_t)blockIdx.x * kKvRows; r0 < rows; r0 += (uint64_t)gridDim.x * kKvRows) {
        const uint32_t n_here = (uint32_t)min((uint64_t)kKvRows, rows - r0);
        if (threadIdx.x < kKvRows) {
            int32_t sl = -1, ps = -1;
            if (threadIdx.x < n_here) sl = __ldg(slots + r0 + threadIdx.x), ps = __ldg(positions + r0 + threadIdx.x);
            s_slot[threadIdx.x] = sl;
            s_pos[threadIdx.x] = ps;
            s_skip[threadIdx.x] = !(sl >= 0 && (uint32_t)sl < n_slots && ps >= 0 && (uint32_t)ps < max_ctx);
        }
        __syncthreads();
        for (uint64_t j = r0 + 1 + threadIdx.x; j < rows; j += blockDim.x) {
            const int32_t sl = __ldg(slots + j), ps = __ldg(positions + j);
#pragma unroll
            for (int k = 0; k < kKvRows; k++)
                if (r0 + k < j && sl == s_slot[k] && ps == s_pos[k]) s_skip[k] = 1;
        }
        __syncthreads();
        for (uint32_t k = 0; k < n_here; k++) {
            if (s_skip[k]) continue;
            const uint64_t dst = ((uint64_t)s_slot[k] * max_ctx + (uint32_t)s_pos[k]) * width;
            const float *row = src + (r0 + k) * src_stride;
            if (VEC) {
                const float4 *ks = reinterpret_cast<const float4 *>(row + k_col);
                const float4 *vs = reinterpret_cast<const float4 *>(row + v_col);
                for (uint64_t i = threadIdx.x; i < width / 4; i += blockDim.x) {
                    const float4 a = __ldg(ks + i), b = __ldg(vs + i);
                    if (BF16) {
                        reinterpret_cast<uint2 *>(static_cast<uint16_t *>(kc) + dst)[i] = bf16x4(a);
                        reinterpret_cast<uint2 *>(static_cast<uint16_t *>(vc) + dst)[i] = bf16x4(b);
                    } else {
                        reinterpret_cast<float4 *>(static_cast<float *>(kc) + dst)[i] = a;
                        reinterpret_cast<float4 *>(static_cast<float *>(vc) + dst)[i] = b;
                    }
                }
            } else {
                for (uint64_t i = threadIdx.x; i < width; i += blockDim.x) {
                    const float a = __ldg(row + k_col + i), b = __ldg(row + v_col + i);
                    if (BF16) {
                        static_cast<uint16_t *>(kc)[dst + i] = (uint16_t)f32_to_bf16(a);
                        static_cast<uint16_t *>(vc)[dst + i] = (uint16_t)f32_to_bf16(b);
                    } else {
                        static_cast<float *>(kc)[dst + i] = a;
                        static_cast<float *>(vc)[dst + i] = b;
                    }
                }
            }
        }
        __syncthreads(); // the s_ arrays are rewritten by the next rows
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_kv_store(dfrt_cuda_ctx *ctx, const dfrt_kv_store_args *a) {
    void *kc = dev<void>(a->k_cache), *vc = dev<void>(a->v_cache);
    const float *src = dev<const float>(a->src);
    const bool bf16 = a->kv_type == DFRT_KV_BF16;
    const bool vec = a->width % 4 == 0 && a->src_stride % 4 == 0 && a->k_col % 4 == 0 && a->v_col % 4 == 0 &&
                     aligned(kc, bf16 ? 8 : 16) && aligned(vc, bf16 ? 8 : 16) && aligned(src, 16);
    const unsigned blocks = blocks_for((a->rows + (uint64_t)kKvRows - 1) / kKvRows);
    auto kernel = bf16 ? (vec ? kv_store_kernel<true, true> : kv_store_kernel<false, true>)
                       : (vec ? kv_store_kernel<true, false> : kv_store_kernel<false, false>);
    kernel<<<blocks, kThreads, 0, ctx->stream>>>(kc, vc, src, dev<const int32_t>(a->slots), dev<const int32_t>(a->positions),
                                                 a->rows, a->width, a->src_stride, a->k_col, a->v_col, a->n_slots,
                                                 a->max_ctx);
    return DFRT_CUDA_LAUNCHED("kv_store");
}
