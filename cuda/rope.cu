// rope on CUDA: rotate-half rotary embedding in place, fp32, positions read from device memory.
// Semantics as in ops.h and the CPU reference (backends/cpu/cpu_ops.c).
// One launch, coalesced, with 16-byte accesses when the launcher finds every pointer, stride
// and column aligned for them (a scalar variant otherwise). Grids are 1-D and loop over their
// work, so no size runs into a grid limit; products of indices are 64-bit.
#include "common.cuh"

namespace {

constexpr int kRopeHeads = 4; // heads per thread, sharing one sincos

// Rotate-half rotary embedding in place: for each (row, head) vector v of dim values and i <
// half = rot/2 (rot <= dim: partial rotary leaves the rest as it is), with
// a = float(positions[r]) * inv_freq[i], (v[i], v[i+half]) <- (v[i] cos a - v[i+half] sin a,
// v[i+half] cos a + v[i] sin a). A thread takes V consecutive i (V = 2: x 8-byte aligned, dim and rot
// % 4 == 0, row_stride even) for up to kRopeHeads heads of one row; cos/sin are the accurate
// sincosf. Consecutive threads take consecutive i, so each head's halves are read coalesced.
template <int V>
__global__ void __launch_bounds__(kThreads) rope_kernel(float *x, const int32_t *__restrict__ positions,
                                                       const float *__restrict__ inv_freq, uint32_t rows, uint32_t heads,
                                                       uint32_t dim, uint32_t row_stride, uint32_t rot, float scale) {
    const uint32_t half = rot / 2, np = half / V, hg = (heads + kRopeHeads - 1) / kRopeHeads;
    const uint64_t items = (uint64_t)rows * hg * np;
    for (uint64_t it = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; it < items; it += (uint64_t)gridDim.x * blockDim.x) {
        const uint32_t i = (uint32_t)(it % np) * V;
        const uint64_t t = it / np;
        const uint32_t h0 = (uint32_t)(t % hg) * kRopeHeads;
        const uint64_t r = t / hg;
        const float pos = (float)__ldg(positions + r);
        float cs[V], sn[V];
#pragma unroll
        for (int k = 0; k < V; k++) {
            sincosf(pos * __ldg(inv_freq + i + k), &sn[k], &cs[k]);
            sn[k] *= scale, cs[k] *= scale;
        }
        float *base = x + r * row_stride + (uint64_t)h0 * dim + i;
        const uint32_t nh = min((uint32_t)kRopeHeads, heads - h0);
        float lo[kRopeHeads][V], hi[kRopeHeads][V];
#pragma unroll
        for (int h = 0; h < kRopeHeads; h++)
            if (h < nh) {
                const float *p = base + (uint64_t)h * dim;
                if (V == 2) {
                    const float2 a = *reinterpret_cast<const float2 *>(p), b = *reinterpret_cast<const float2 *>(p + half);
                    lo[h][0] = a.x, lo[h][V - 1] = a.y, hi[h][0] = b.x, hi[h][V - 1] = b.y;
                } else {
                    lo[h][0] = p[0], hi[h][0] = p[half];
                }
            }
#pragma unroll
        for (int h = 0; h < kRopeHeads; h++)
            if (h < nh) {
                float *p = base + (uint64_t)h * dim;
                float nl[V], nu[V];
#pragma unroll
                for (int k = 0; k < V; k++) {
                    nl[k] = lo[h][k] * cs[k] - hi[h][k] * sn[k];
                    nu[k] = hi[h][k] * cs[k] + lo[h][k] * sn[k];
                }
                if (V == 2) {
                    *reinterpret_cast<float2 *>(p) = make_float2(nl[0], nl[V - 1]);
                    *reinterpret_cast<float2 *>(p + half) = make_float2(nu[0], nu[V - 1]);
                } else {
                    p[0] = nl[0], p[half] = nu[0];
                }
            }
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_rope(dfrt_cuda_ctx *ctx, const dfrt_rope_args *a) {
    float *x = dev<float>(a->x);
    const uint32_t rot = a->rot_dim;
    const bool vec = a->dim % 4 == 0 && rot % 4 == 0 && a->row_stride % 2 == 0 && aligned(x, 8);
    const uint64_t hg = (a->heads + kRopeHeads - 1) / kRopeHeads;
    const uint64_t items = (uint64_t)a->rows * hg * (rot / 2 / (vec ? 2 : 1));
    const unsigned blocks = blocks_for((items + kThreads - 1) / kThreads);
    auto kernel = vec ? rope_kernel<2> : rope_kernel<1>;
    kernel<<<blocks, kThreads, 0, ctx->stream>>>(x, dev<const int32_t>(a->positions), dev<const float>(a->inv_freq),
                                                 a->rows, a->heads, a->dim, a->row_stride, rot, a->scale);
    return DFRT_CUDA_LAUNCHED("rope");
}
