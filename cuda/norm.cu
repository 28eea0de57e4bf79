// rmsnorm on CUDA, fp32: each (row, head) vector scaled by its reciprocal root mean square and
// the weights, with the residual add before it when asked. Semantics as in ops.h and the CPU reference (backends/cpu/cpu_ops.c).
// One launch, coalesced, with 16-byte accesses when the launcher finds every pointer, stride
// and column aligned for them (a scalar variant otherwise). Grids are 1-D and loop over their
// work, so no size runs into a grid limit; products of indices are 64-bit.
#include "common.cuh"

namespace {

constexpr int kNormMaxThreads = 1024;
constexpr int kNormCache = 2; // elements (float4s under VEC) per thread kept in registers

// y = v / sqrt(mean(v^2) + eps) * w for each (row, head) vector v: of x, or (res not null) of
// x + res, which is also stored to sum (the first pass adds and stores; the second reads sum
// back, written by the same thread). A group of `tpv` threads (a power of two, 32..1024)
// handles a vector: the sum of squares is reduced with warp shuffles, then across the group's
// warps in shared memory. The first kNormCache elements of each thread stay in registers
// between the two passes; the rest are read again. Every element is read and written by the
// same thread, so y may be x, and sum may be x. VEC: x, y, w (and res, sum) 16-byte aligned, dim
// and row_stride multiples of 4; elements are float4s.
template <bool VEC>
__global__ void __launch_bounds__(kNormMaxThreads, 1) rmsnorm_kernel(float *y, const float *x, const float *__restrict__ w,
                                                                 const float *res, float *sum, uint32_t rows,
                                                                 uint32_t heads, uint32_t dim, uint32_t row_stride,
                                                                 float eps, uint32_t tpv) {
    __shared__ float red[kNormMaxThreads / 32];
    const uint32_t vpb = blockDim.x / tpv, grp = threadIdx.x / tpv, lane = threadIdx.x % tpv;
    const uint32_t n = VEC ? dim / 4 : dim;
    const uint64_t n_vec = (uint64_t)rows * heads;
    for (uint64_t v0 = (uint64_t)blockIdx.x * vpb; v0 < n_vec; v0 += (uint64_t)gridDim.x * vpb) {
        const uint64_t v = v0 + grp;
        const bool valid = v < n_vec;
        const uint64_t at = valid ? v / heads * row_stride + v % heads * dim : 0;
        const float4 *x4 = reinterpret_cast<const float4 *>(x + at);
        const float4 *r4 = res ? reinterpret_cast<const float4 *>(res + at) : nullptr;
        float4 *s4 = res ? reinterpret_cast<float4 *>(sum + at) : nullptr;
        // element i of the vector: x, or x + res stored to sum
        auto load4 = [&](uint64_t i) {
            float4 a = x4[i];
            if (res) {
                const float4 r = r4[i];
                a = make_float4(a.x + r.x, a.y + r.y, a.z + r.z, a.w + r.w);
                s4[i] = a;
            }
            return a;
        };
        auto load1 = [&](uint64_t i) {
            float a = x[at + i];
            if (res) {
                a += res[at + i];
                sum[at + i] = a;
            }
            return a;
        };
        const float *v1 = res ? sum : x; // the vector, once the first pass has stored it
        const float4 *v4 = reinterpret_cast<const float4 *>(v1 + at);
        float4 cache[kNormCache];
        float ss = 0.f;
#pragma unroll
        for (int k = 0; k < kNormCache; k++) {
            const uint64_t i = lane + (uint64_t)k * tpv;
            cache[k] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (valid && i < n) {
                if (VEC) {
                    cache[k] = load4(i);
                    ss = fmaf(cache[k].x, cache[k].x, ss);
                    ss = fmaf(cache[k].y, cache[k].y, ss);
                    ss = fmaf(cache[k].z, cache[k].z, ss);
                    ss = fmaf(cache[k].w, cache[k].w, ss);
                } else {
                    cache[k].x = load1(i);
                    ss = fmaf(cache[k].x, cache[k].x, ss);
                }
            }
        }
        if (valid)
            for (uint64_t i = lane + (uint64_t)kNormCache * tpv; i < n; i += tpv) {
                if (VEC) {
                    const float4 a = load4(i);
                    ss = fmaf(a.x, a.x, ss);
                    ss = fmaf(a.y, a.y, ss);
                    ss = fmaf(a.z, a.z, ss);
                    ss = fmaf(a.w, a.w, ss);
                } else {
                    const float a = load1(i);
                    ss = fmaf(a, a, ss);
                }
            }
        ss = warp_sum(ss);
        if (tpv > 32) { // uniform: every thread of the block takes this branch or none
            if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
            __syncthreads();
            const uint32_t wpg = tpv / 32, w0 = grp * wpg;
            ss = 0.f;
            for (uint32_t k = 0; k < wpg; k++) ss += red[w0 + k];
            __syncthreads(); // red is rewritten by the next vector
        }
        if (!valid) continue;
        const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        float4 *y4 = reinterpret_cast<float4 *>(y + at);
        const float4 *w4 = reinterpret_cast<const float4 *>(w);
#pragma unroll
        for (int k = 0; k < kNormCache; k++) {
            const uint64_t i = lane + (uint64_t)k * tpv;
            if (i < n) {
                if (VEC) {
                    const float4 g = __ldg(w4 + i), a = cache[k];
                    y4[i] = make_float4(a.x * inv * g.x, a.y * inv * g.y, a.z * inv * g.z, a.w * inv * g.w);
                } else {
                    y[at + i] = cache[k].x * inv * __ldg(w + i);
                }
            }
        }
        for (uint64_t i = lane + (uint64_t)kNormCache * tpv; i < n; i += tpv) {
            if (VEC) {
                const float4 g = __ldg(w4 + i), a = v4[i];
                y4[i] = make_float4(a.x * inv * g.x, a.y * inv * g.y, a.z * inv * g.z, a.w * inv * g.w);
            } else {
                y[at + i] = v1[at + i] * inv * __ldg(w + i);
            }
        }
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_rmsnorm(dfrt_cuda_ctx *ctx, const dfrt_rmsnorm_args *a) {
    float *y = dev<float>(a->y);
    const float *x = dev<const float>(a->x), *w = dev<const float>(a->w), *res = dev<const float>(a->residual);
    float *sum = dev<float>(a->sum);
    const bool vec = a->dim % 4 == 0 && a->row_stride % 4 == 0 && aligned(x, 16) && aligned(y, 16) && aligned(w, 16) &&
                     aligned(res, 16) && aligned(sum, 16);
    const uint32_t n = vec ? a->dim / 4 : a->dim;
    uint32_t tpv = 32;
    while (tpv < n && tpv < (uint32_t)kNormMaxThreads) tpv *= 2;
    const uint32_t threads = tpv > (uint32_t)kThreads ? tpv : (uint32_t)kThreads, vpb = threads / tpv;
    const unsigned blocks = blocks_for(((uint64_t)a->rows * a->heads + vpb - 1) / vpb);
    auto kernel = vec ? rmsnorm_kernel<true> : rmsnorm_kernel<false>;
    kernel<<<blocks, threads, 0, ctx->stream>>>(y, x, w, res, sum, a->rows, a->heads, a->dim, a->row_stride, a->eps, tpv);
    return DFRT_CUDA_LAUNCHED("rmsnorm");
}
