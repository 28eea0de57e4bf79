// argmax on CUDA: the first index of each fp32 row's largest value (NaN never wins), a block per
// row. Semantics as in ops.h and the CPU reference (backends/cpu/cpu_ops.c).
#include "common.cuh"

namespace {

constexpr int kArgThreads = 1024;
constexpr uint32_t kNone = 0xFFFFFFFFu;

// (v, i) beats (bv, bi): larger, or equal at a smaller index. NaN never compares larger.
__device__ __forceinline__ void arg_take(float &bv, uint32_t &bi, float v, uint32_t i) {
    if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
}

// out[r] = the first index of the largest of row r; a block per row. Each thread keeps the
// first of its largest values (strict >, from -inf: NaN and -inf never win), then warp shuffles
// and shared memory merge them. No candidate: 0, as the reference. VEC: x 16-byte aligned,
// stride % 4 == 0.
template <bool VEC>
__global__ void __launch_bounds__(kArgThreads) argmax_kernel(int32_t *__restrict__ out, const float *__restrict__ x,
                                                            uint32_t rows, uint32_t n, uint32_t stride) {
    __shared__ float s_v[kArgThreads / 32];
    __shared__ uint32_t s_i[kArgThreads / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (uint64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *row = x + r * stride;
        float best = -INFINITY;
        uint32_t at = kNone;
        uint32_t tail = 0;
        if (VEC) {
            const float4 *row4 = reinterpret_cast<const float4 *>(row);
            const uint32_t n4 = n / 4;
#pragma unroll 4
            for (uint64_t i = threadIdx.x; i < n4; i += kArgThreads) {
                const float4 v = __ldg(row4 + i);
                const uint32_t j = (uint32_t)i * 4;
                if (v.x > best) best = v.x, at = j;
                if (v.y > best) best = v.y, at = j + 1;
                if (v.z > best) best = v.z, at = j + 2;
                if (v.w > best) best = v.w, at = j + 3;
            }
            tail = n4 * 4;
        }
        for (uint64_t i = tail + threadIdx.x; i < n; i += kArgThreads) {
            const float v = __ldg(row + i);
            if (v > best) best = v, at = (uint32_t)i;
        }
#pragma unroll
        for (int d = 16; d > 0; d >>= 1)
            arg_take(best, at, __shfl_xor_sync(0xFFFFFFFFu, best, d), __shfl_xor_sync(0xFFFFFFFFu, at, d));
        if (lane == 0) s_v[warp] = best, s_i[warp] = at;
        __syncthreads();
        if (warp == 0) {
            best = lane < kArgThreads / 32 ? s_v[lane] : -INFINITY;
            at = lane < kArgThreads / 32 ? s_i[lane] : kNone;
#pragma unroll
            for (int d = 16; d > 0; d >>= 1)
                arg_take(best, at, __shfl_xor_sync(0xFFFFFFFFu, best, d), __shfl_xor_sync(0xFFFFFFFFu, at, d));
            if (lane == 0) out[r] = at == kNone ? 0 : (int32_t)at;
        }
        __syncthreads(); // s_v and s_i are rewritten by the next row
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_argmax(dfrt_cuda_ctx *ctx, const dfrt_argmax_args *a) {
    const float *x = dev<const float>(a->x);
    const bool vec = a->stride % 4 == 0 && aligned(x, 16);
    auto kernel = vec ? argmax_kernel<true> : argmax_kernel<false>;
    kernel<<<blocks_for(a->rows), kArgThreads, 0, ctx->stream>>>(dev<int32_t>(a->out), x, a->rows, a->n, a->stride);
    return DFRT_CUDA_LAUNCHED("argmax");
}
