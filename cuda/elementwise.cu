// The elementwise ops on CUDA, fp32: silu_mul (the gated MLP's activation: silu or GELU-tanh)
// and add (residuals).
// Semantics as in ops.h and the CPU reference (backends/cpu/cpu_ops.c).
// One launch, coalesced, with 16-byte accesses when the launcher finds every pointer, stride
// and column aligned for them (a scalar variant otherwise). Grids are 1-D and loop over their
// work, so no size runs into a grid limit; products of indices are 64-bit.
#include "common.cuh"

namespace {

// ---- silu_mul ---------------------------------------------------------------------------------

// act(g) * u: silu, or GELU's tanh approximation as g / (1 + e^(-2y)) (GELU; ops.h)
template <bool GELU> __device__ __forceinline__ float gate1(float g, float u) {
    if (GELU) return g / (1.0f + expf(-1.5957691216057308f * (g + 0.044715f * g * g * g))) * u;
    return g / (1.0f + expf(-g)) * u;
}

// out[r, i] = act(in[r, i]) * in[r, up_col + i]. Work item: (row, chunk of kChunk columns).
// VEC: in, out 16-byte aligned; width, in_stride, up_col multiples of 4.
template <bool VEC, bool GELU>
__global__ void __launch_bounds__(kThreads) silu_mul_kernel(float *__restrict__ out, const float *__restrict__ in,
                                                           uint32_t rows, uint32_t width, uint32_t in_stride,
                                                           uint32_t up_col) {
    const uint64_t chunks = (width + (uint64_t)kChunk - 1) / kChunk, items = rows * chunks;
    for (uint64_t it = blockIdx.x; it < items; it += gridDim.x) {
        const uint64_t r = it / chunks, c0 = it % chunks * kChunk;
        const float *row = in + r * in_stride;
        float *o = out + r * width;
        if (VEC) {
            const uint64_t c = c0 + threadIdx.x * 4;
            if (c < width) {
                const float4 g = __ldg(reinterpret_cast<const float4 *>(row + c));
                const float4 u = __ldg(reinterpret_cast<const float4 *>(row + up_col + c));
                *reinterpret_cast<float4 *>(o + c) =
                    make_float4(gate1<GELU>(g.x, u.x), gate1<GELU>(g.y, u.y), gate1<GELU>(g.z, u.z), gate1<GELU>(g.w, u.w));
            }
        } else {
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const uint64_t c = c0 + k * kThreads + threadIdx.x;
                if (c < width) o[c] = gate1<GELU>(__ldg(row + c), __ldg(row + up_col + c));
            }
        }
    }
}

// ---- add --------------------------------------------------------------------------------------

// y = a + b. Each element is read and written by one thread, so y may be a or b. VEC: the three
// 16-byte aligned; the last n % 4 values go to the first threads.
template <bool VEC>
__global__ void __launch_bounds__(kThreads) add_kernel(float *y, const float *a, const float *b, uint64_t n) {
    const uint64_t start = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x, step = (uint64_t)gridDim.x * blockDim.x;
    if (VEC) {
        const uint64_t n4 = n / 4;
        const float4 *a4 = reinterpret_cast<const float4 *>(a), *b4 = reinterpret_cast<const float4 *>(b);
        float4 *y4 = reinterpret_cast<float4 *>(y);
        for (uint64_t i = start; i < n4; i += step) {
            const float4 u = a4[i], v = b4[i];
            y4[i] = make_float4(u.x + v.x, u.y + v.y, u.z + v.z, u.w + v.w);
        }
        if (start < n - n4 * 4) y[n4 * 4 + start] = a[n4 * 4 + start] + b[n4 * 4 + start];
    } else {
        for (uint64_t i = start; i < n; i += step) y[i] = a[i] + b[i];
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_silu_mul(dfrt_cuda_ctx *ctx, const dfrt_silu_mul_args *a) {
    float *out = dev<float>(a->out);
    const float *in = dev<const float>(a->in);
    const bool vec = a->width % 4 == 0 && a->in_stride % 4 == 0 && a->up_col % 4 == 0 && aligned(in, 16) &&
                     aligned(out, 16);
    const unsigned blocks = blocks_for((uint64_t)a->rows * ((a->width + (uint64_t)kChunk - 1) / kChunk));
    const bool gelu = a->act == DFRT_GATE_GELU_TANH;
    auto kernel = vec ? (gelu ? silu_mul_kernel<true, true> : silu_mul_kernel<true, false>)
                      : (gelu ? silu_mul_kernel<false, true> : silu_mul_kernel<false, false>);
    kernel<<<blocks, kThreads, 0, ctx->stream>>>(out, in, a->rows, a->width, a->in_stride, a->up_col);
    return DFRT_CUDA_LAUNCHED("silu_mul");
}

extern "C" dfrt_status dfrt_cuda_add(dfrt_cuda_ctx *ctx, const dfrt_add_args *p) {
    float *y = dev<float>(p->y);
    const float *a = dev<const float>(p->a), *b = dev<const float>(p->b);
    const bool vec = aligned(y, 16) && aligned(a, 16) && aligned(b, 16);
    const uint64_t items = vec ? (p->n / 4 > 0 ? p->n / 4 : 1) : p->n;
    const unsigned blocks = blocks_for((items + kThreads - 1) / kThreads);
    auto kernel = vec ? add_kernel<true> : add_kernel<false>;
    kernel<<<blocks, kThreads, 0, ctx->stream>>>(y, a, b, p->n);
    return DFRT_CUDA_LAUNCHED("add");
}
