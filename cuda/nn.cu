// The transformer ops of the CUDA backend: embedding, rmsnorm, rope, kv_store, attention,
// silu_mul, add, argmax. fp32 activations; layouts and semantics as in runtime/dfrt.h and the
// CPU reference (backends/cpu/cpu_ops.c).
//
// The memory-bound ops are one launch each, coalesced, with 16-byte accesses when the launcher
// finds every pointer, stride and column aligned for them (a scalar variant otherwise). Grids
// are 1-D and loop over their work, so no size runs into a grid limit; products of indices are
// 64-bit. Values read from device memory (offsets, slots, positions) are range-checked before
// they address anything.
#include "kernels.h"
#include "launch.cuh"

#include <cuda_runtime.h>

namespace {

constexpr int kThreads = 256;
constexpr uint64_t kMaxBlocks = 1u << 20; // grid-stride loops take over beyond this
constexpr int kChunk = kThreads * 4;      // columns per block in the row-chunked kernels

inline unsigned blocks_for(uint64_t items) {
    return (unsigned)(items == 0 ? 1 : items < kMaxBlocks ? items : kMaxBlocks);
}

inline bool aligned(const void *p, uintptr_t bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0; }

__device__ __forceinline__ float bf16_lo(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t v) { return __uint_as_float(v & 0xFFFF0000u); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, d);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, d));
    return v;
}

// The SM count of the current device, cached per device (a harmless race).
int sm_count() {
    static int known[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 1;
    if (dev >= 0 && dev < 64 && known[dev]) return known[dev];
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n < 1) {
        cudaGetLastError();
        n = 1;
    }
    if (dev >= 0 && dev < 64) known[dev] = n;
    return n;
}

// ---- embedding --------------------------------------------------------------------------------

// out[r, c] = fp32(table[offsets[r] + c]), or 0 for every c when offsets[r] + dim > table_elems.
// Work item: (row, chunk of kChunk columns). VEC (dim % 4 == 0, out 16-byte and table 8-byte
// aligned): 4 columns per thread, an 8-byte load and a 16-byte store, for rows whose first
// element is 4-aligned; other rows take the scalar path.
template <bool VEC>
__global__ void __launch_bounds__(kThreads) embedding_kernel(float *__restrict__ out, const uint16_t *__restrict__ table,
                                                            const uint32_t *__restrict__ offsets, uint64_t table_elems,
                                                            uint32_t rows, uint32_t dim) {
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
                    v = make_float4(bf16_lo(u.x), bf16_hi(u.x), bf16_lo(u.y), bf16_hi(u.y));
                }
                *reinterpret_cast<float4 *>(row + c) = v;
            }
        } else {
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const uint64_t c = c0 + k * kThreads + threadIdx.x;
                if (c < dim) row[c] = in ? bf16_lo(__ldg(table + first + c)) : 0.f;
            }
        }
    }
}

// ---- rmsnorm ----------------------------------------------------------------------------------

constexpr int kNormMaxThreads = 1024;
constexpr int kNormCache = 2; // elements (float4s under VEC) per thread kept in registers

// y = v / sqrt(mean(v^2) + eps) * w for each (row, head) vector v. A group of `tpv` threads (a
// power of two, 32..1024) handles a vector: the sum of squares is reduced with warp shuffles,
// then across the group's warps in shared memory. The first kNormCache elements of each thread
// stay in registers between the two passes; the rest are read again. Every element is read and
// written by the same thread, so y may be x. VEC: x, y, w 16-byte aligned, dim and row_stride
// multiples of 4; elements are float4s.
template <bool VEC>
__global__ void __launch_bounds__(kNormMaxThreads, 1) rmsnorm_kernel(float *y, const float *x, const float *__restrict__ w,
                                                                 uint32_t rows, uint32_t heads, uint32_t dim,
                                                                 uint32_t row_stride, float eps, uint32_t tpv) {
    __shared__ float red[kNormMaxThreads / 32];
    const uint32_t vpb = blockDim.x / tpv, grp = threadIdx.x / tpv, lane = threadIdx.x % tpv;
    const uint32_t n = VEC ? dim / 4 : dim;
    const uint64_t n_vec = (uint64_t)rows * heads;
    for (uint64_t v0 = (uint64_t)blockIdx.x * vpb; v0 < n_vec; v0 += (uint64_t)gridDim.x * vpb) {
        const uint64_t v = v0 + grp;
        const bool valid = v < n_vec;
        const uint64_t at = valid ? v / heads * row_stride + v % heads * dim : 0;
        const float4 *x4 = reinterpret_cast<const float4 *>(x + at);
        float4 cache[kNormCache];
        float ss = 0.f;
#pragma unroll
        for (int k = 0; k < kNormCache; k++) {
            const uint64_t i = lane + (uint64_t)k * tpv;
            cache[k] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (valid && i < n) {
                if (VEC) {
                    cache[k] = x4[i];
                    ss = fmaf(cache[k].x, cache[k].x, ss);
                    ss = fmaf(cache[k].y, cache[k].y, ss);
                    ss = fmaf(cache[k].z, cache[k].z, ss);
                    ss = fmaf(cache[k].w, cache[k].w, ss);
                } else {
                    cache[k].x = x[at + i];
                    ss = fmaf(cache[k].x, cache[k].x, ss);
                }
            }
        }
        if (valid)
            for (uint64_t i = lane + (uint64_t)kNormCache * tpv; i < n; i += tpv) {
                if (VEC) {
                    const float4 a = x4[i];
                    ss = fmaf(a.x, a.x, ss);
                    ss = fmaf(a.y, a.y, ss);
                    ss = fmaf(a.z, a.z, ss);
                    ss = fmaf(a.w, a.w, ss);
                } else {
                    const float a = x[at + i];
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
                const float4 g = __ldg(w4 + i), a = x4[i];
                y4[i] = make_float4(a.x * inv * g.x, a.y * inv * g.y, a.z * inv * g.z, a.w * inv * g.w);
            } else {
                y[at + i] = x[at + i] * inv * __ldg(w + i);
            }
        }
    }
}

// ---- rope -------------------------------------------------------------------------------------

constexpr int kRopeHeads = 4; // heads per thread, sharing one sincos

// Rotate-half rotary embedding in place: for each (row, head) vector v and i < dim/2, with
// a = float(positions[r]) * inv_freq[i], (v[i], v[i+half]) <- (v[i] cos a - v[i+half] sin a,
// v[i+half] cos a + v[i] sin a). A thread takes V consecutive i (V = 2: x 8-byte aligned, dim
// % 4 == 0, row_stride even) for up to kRopeHeads heads of one row; cos/sin are the accurate
// sincosf. Consecutive threads take consecutive i, so each head's halves are read coalesced.
template <int V>
__global__ void __launch_bounds__(kThreads) rope_kernel(float *x, const int32_t *__restrict__ positions,
                                                       const float *__restrict__ inv_freq, uint32_t rows, uint32_t heads,
                                                       uint32_t dim, uint32_t row_stride) {
    const uint32_t half = dim / 2, np = half / V, hg = (heads + kRopeHeads - 1) / kRopeHeads;
    const uint64_t items = (uint64_t)rows * hg * np;
    for (uint64_t it = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; it < items; it += (uint64_t)gridDim.x * blockDim.x) {
        const uint32_t i = (uint32_t)(it % np) * V;
        const uint64_t t = it / np;
        const uint32_t h0 = (uint32_t)(t % hg) * kRopeHeads;
        const uint64_t r = t / hg;
        const float pos = (float)__ldg(positions + r);
        float cs[V], sn[V];
#pragma unroll
        for (int k = 0; k < V; k++) sincosf(pos * __ldg(inv_freq + i + k), &sn[k], &cs[k]);
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

// ---- kv_store ---------------------------------------------------------------------------------

constexpr int kKvRows = 8; // rows per block

// k_cache[(slot, pos), 0..width) = src[r * src_stride + k_col ..], v_cache likewise from v_col,
// for rows whose slot and position are in range. A block takes kKvRows rows: it first scans
// the later rows, and a row whose (slot, position) a later row also stores is skipped, so the
// last row wins as in the sequential reference; then the whole block copies each row. VEC:
// caches and src 16-byte aligned, width, src_stride, k_col, v_col multiples of 4.
template <bool VEC>
__global__ void __launch_bounds__(kThreads) kv_store_kernel(float *__restrict__ kc, float *__restrict__ vc,
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
                float4 *kd = reinterpret_cast<float4 *>(kc + dst), *vd = reinterpret_cast<float4 *>(vc + dst);
                for (uint64_t i = threadIdx.x; i < width / 4; i += blockDim.x) {
                    const float4 a = __ldg(ks + i), b = __ldg(vs + i);
                    kd[i] = a;
                    vd[i] = b;
                }
            } else {
                for (uint64_t i = threadIdx.x; i < width; i += blockDim.x) {
                    const float a = __ldg(row + k_col + i), b = __ldg(row + v_col + i);
                    kc[dst + i] = a;
                    vc[dst + i] = b;
                }
            }
        }
        __syncthreads(); // the s_ arrays are rewritten by the next rows
    }
}

// ---- attention --------------------------------------------------------------------------------
//
// A block takes one query row r, one KV head g, a chunk of HB of the query heads that share g,
// and one split of the keys 0..positions[r]; the K and V rows are read once for all those
// heads. Keys go in tiles of T: cp.async brings tile i+1 into shared memory while tile i is
// used. Per tile:
//   scores:  P = THREADS / T threads per key each take every P-th float4 of the key row for all
//            the heads; shuffles sum them; s = q.k * scale (-inf past the split's end);
//   softmax: a warp per head updates the running max m and sum l (online softmax) and turns the
//            scores into p = exp(s - m), with alpha = exp(m_old - m) rescaling what came before;
//   PV:      warp w takes keys w, w + WARPS, ... and lane l the float4 columns l + 32 j (j < NC)
//            of all the heads: acc = acc * alpha + sum p v, in registers.
// The warps' accumulators are summed in shared memory at the end. One split: out = acc / l.
// Several splits (too few rows x KV heads x head chunks to fill the GPU): (acc, m, l) of each
// split go to the scratch and attention_combine merges them. Rows whose slot or position is out
// of range give zeros. NC = ceil(dim / 128) rounded up to a power of two (dim <= 1024), tiles
// keep T * NC = 32 keys x float4 columns per lane; HB is the heads per block rounded up to a
// power of two. Blocks have 8 warps (4 for dim > 512). Every quarter-warp reads consecutive
// float4s of one shared row, so shared loads are free of bank conflicts; rows are padded to a
// pitch of 4 mod 8 float4s, which would keep them so with fewer threads per key.

constexpr uint32_t kMinSplitKeys = 128; // keys per split at least
constexpr uint32_t kMaxSplits = 128;
constexpr int kCombineThreads = 128;

template <int NC> struct AttnShape {
    static constexpr int T = 32 / NC;                     // keys per tile
    static constexpr int THREADS = T >= 8 ? 256 : 128;    // a key's score threads stay in a warp
    static constexpr int WARPS = THREADS / 32;
    static constexpr int MIN_BLOCKS = NC == 1 ? 2 : 1;    // dim <= 128: 2 blocks per SM (<= 128 regs)
    static constexpr int P = THREADS / T;                 // threads per key in the score phase
    static constexpr int HB_MAX = NC <= 2 ? 8 : 16 / NC;  // query heads per block at most
    static constexpr uint32_t max_pitch4 = 32 * NC + 4;
    static_assert(P <= 32 && WARPS * HB_MAX <= 4 * T, "shape");
};

inline uint32_t attn_pitch4(uint32_t dim4) { return (dim4 + 3) / 8 * 8 + 4; }

inline size_t attn_shared_bytes(int t, int hb, uint32_t pitch4) {
    return ((size_t)4 * t * pitch4 + (size_t)hb * pitch4) * 16 + ((size_t)hb * t + 3 * (size_t)hb) * 4;
}

struct AttnArgs {
    float *out;
    const float *q, *k, *v;
    const int32_t *slots, *positions;
    float *part_acc; // (rows, n_heads, n_splits, dim)
    float *part_ml;  // (rows, n_heads, n_splits, 2): m, l
    uint32_t rows, n_heads, n_kv, dim, q_stride, out_stride, n_slots, max_ctx;
    uint32_t group, head_chunks, hb, n_splits, pitch4, tile;
    int vec; // K and V rows 16-byte aligned: cp.async
    float scale;
};

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ bool attn_row_valid(const AttnArgs &a, uint32_t r, int32_t &slot, int32_t &pos) {
    slot = __ldg(a.slots + r);
    pos = __ldg(a.positions + r);
    return slot >= 0 && (uint32_t)slot < a.n_slots && pos >= 0 && (uint32_t)pos < a.max_ctx;
}

// How the len keys of a row are split: at most n_splits pieces of `per` keys (whole tiles, at
// least kMinSplitKeys unless the row is shorter); split s covers [s per, (s + 1) per) & [0, len).
// Returns the number of non-empty splits.
__device__ __forceinline__ uint32_t attn_split(const AttnArgs &a, uint32_t len, uint64_t &per) {
    const uint32_t n_eff = min(a.n_splits, (len + kMinSplitKeys - 1) / kMinSplitKeys);
    per = ((uint64_t)len + n_eff - 1) / n_eff;
    per = (per + a.tile - 1) / a.tile * a.tile;
    return (uint32_t)((len + per - 1) / per);
}

// Keys [j0, j0 + n) of K and V (rows `width` apart from kb / vb) into shared tiles.
template <int NC, int WARPS>
__device__ __forceinline__ void attn_load_tile(float4 *ks, float4 *vs, const float *kb, const float *vb, uint64_t width,
                                               uint32_t j0, int n, uint32_t dim, uint32_t dim4, uint32_t pitch4,
                                               bool vec) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int t = warp; t < n; t += WARPS) {
        const float *kr = kb + (uint64_t)(j0 + t) * width, *vr = vb + (uint64_t)(j0 + t) * width;
#pragma unroll
        for (int j = 0; j < NC; j++) {
            const uint32_t c = lane + 32 * j;
            if (c < dim4) {
                if (vec) {
                    cp_async16(ks + t * pitch4 + c, kr + 4 * c);
                    cp_async16(vs + t * pitch4 + c, vr + 4 * c);
                } else {
                    float kx[4], vx[4];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const uint32_t d = 4 * c + e;
                        kx[e] = d < dim ? kr[d] : 0.f;
                        vx[e] = d < dim ? vr[d] : 0.f;
                    }
                    ks[t * pitch4 + c] = make_float4(kx[0], kx[1], kx[2], kx[3]);
                    vs[t * pitch4 + c] = make_float4(vx[0], vx[1], vx[2], vx[3]);
                }
            }
        }
    }
}

template <int NC, int HB>
__global__ void __launch_bounds__(AttnShape<NC>::THREADS, AttnShape<NC>::MIN_BLOCKS) attention_kernel(const AttnArgs a) {
    using S = AttnShape<NC>;
    constexpr int T = S::T, P = S::P, THREADS = S::THREADS, WARPS = S::WARPS;
    extern __shared__ float4 sm[];
    const uint32_t dim4 = (a.dim + 3) / 4, pitch4 = a.pitch4;
    float4 *kv_s = sm;                                          // [2 stages][K, V][T][pitch4]
    float4 *q_s = sm + 4 * T * pitch4;                          // [HB][pitch4]
    float *s_s = reinterpret_cast<float *>(q_s + HB * pitch4);  // [HB][T] scores, then p
    float *m_s = s_s + HB * T, *l_s = m_s + HB, *alpha_s = l_s + HB;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const uint64_t width = (uint64_t)a.n_kv * a.dim;
    const uint64_t n_blocks = (uint64_t)a.rows * a.n_kv * a.head_chunks * a.n_splits;
    const bool vec = a.vec != 0;

    for (uint64_t bid = blockIdx.x; bid < n_blocks; bid += gridDim.x) {
        const uint32_t split = (uint32_t)(bid % a.n_splits);
        uint64_t rest = bid / a.n_splits;
        const uint32_t chunk = (uint32_t)(rest % a.head_chunks);
        rest /= a.head_chunks;
        const uint32_t g = (uint32_t)(rest % a.n_kv), r = (uint32_t)(rest / a.n_kv);
        const uint32_t h0 = g * a.group + chunk * a.hb;
        const int hb = (int)min(a.hb, a.group - chunk * a.hb); // <= HB
        int32_t slot, pos;
        const bool valid = attn_row_valid(a, r, slot, pos);

        // This split's keys [begin, end).
        uint32_t begin = 0, end = 0;
        if (valid) {
            const uint32_t len = (uint32_t)pos + 1;
            uint64_t per;
            attn_split(a, len, per);
            begin = (uint32_t)min((uint64_t)len, split * per);
            end = (uint32_t)min((uint64_t)len, begin + per);
        }
        const uint64_t pidx0 = ((uint64_t)r * a.n_heads + h0) * a.n_splits + split; // + h * n_splits
        if (begin >= end) {
            if (a.n_splits == 1) { // an invalid row: zeros
                float *o = a.out + (uint64_t)r * a.out_stride + (uint64_t)h0 * a.dim;
                for (uint32_t i = tid; i < (uint32_t)hb * a.dim; i += THREADS) o[i] = 0.f;
            } // else: an empty split, which attention_combine does not read
            continue;
        }

        // The queries, zero-padded to dim4 float4s, and the softmax state.
        {
            const float *qr = a.q + (uint64_t)r * a.q_stride + (uint64_t)h0 * a.dim;
            float *qf = reinterpret_cast<float *>(q_s);
            for (uint32_t i = tid; i < (uint32_t)hb * dim4 * 4; i += THREADS) {
                const uint32_t h = i / (dim4 * 4), d = i % (dim4 * 4);
                qf[h * pitch4 * 4 + d] = d < a.dim ? qr[(uint64_t)h * a.dim + d] : 0.f;
            }
            if (tid < HB) m_s[tid] = -INFINITY, l_s[tid] = 0.f;
        }
        const float *kb = a.k + (uint64_t)slot * a.max_ctx * width + (uint64_t)g * a.dim;
        const float *vb = a.v + (uint64_t)slot * a.max_ctx * width + (uint64_t)g * a.dim;

        float4 acc[NC][HB];
#pragma unroll
        for (int j = 0; j < NC; j++)
#pragma unroll
            for (int h = 0; h < HB; h++) acc[j][h] = make_float4(0.f, 0.f, 0.f, 0.f);

        const uint32_t n_tiles = (end - begin + T - 1) / T;
        attn_load_tile<NC, WARPS>(kv_s, kv_s + T * pitch4, kb, vb, width, begin, (int)min((uint32_t)T, end - begin),
                                  a.dim, dim4, pitch4, vec);
        cp_async_commit();
        for (uint32_t it = 0; it < n_tiles; it++) {
            const uint32_t t0 = begin + it * T;
            const int nt = (int)min((uint32_t)T, end - t0);
            cp_async_wait_all();
            __syncthreads(); // tile `it` is in; every thread is done with tile it - 1's stage
            if (it + 1 < n_tiles) {
                float4 *ks = kv_s + ((it + 1) & 1) * 2 * T * pitch4;
                attn_load_tile<NC, WARPS>(ks, ks + T * pitch4, kb, vb, width, t0 + T,
                                          (int)min((uint32_t)T, end - t0 - T), a.dim, dim4, pitch4, vec);
            }
            cp_async_commit();
            const float4 *ks = kv_s + (it & 1) * 2 * T * pitch4, *vs = ks + T * pitch4;

            // scores
            {
                const int t = tid / P, part = tid % P;
                float d[HB];
#pragma unroll
                for (int h = 0; h < HB; h++) d[h] = 0.f;
                for (uint32_t c = part; c < dim4; c += P) {
                    const float4 kk = ks[t * pitch4 + c];
#pragma unroll
                    for (int h = 0; h < HB; h++) {
                        const float4 qq = q_s[h * pitch4 + c];
                        d[h] = fmaf(qq.x, kk.x, d[h]);
                        d[h] = fmaf(qq.y, kk.y, d[h]);
                        d[h] = fmaf(qq.z, kk.z, d[h]);
                        d[h] = fmaf(qq.w, kk.w, d[h]);
                    }
                }
#pragma unroll
                for (int h = 0; h < HB; h++)
#pragma unroll
                    for (int o = P / 2; o > 0; o >>= 1) d[h] += __shfl_xor_sync(0xFFFFFFFFu, d[h], o);
                if (part == 0)
#pragma unroll
                    for (int h = 0; h < HB; h++)
                        if (h < hb) s_s[h * T + t] = t < nt ? d[h] * a.scale : -INFINITY;
            }
            __syncthreads();

            // online softmax, a warp per head
            for (int h = warp; h < hb; h += WARPS) {
                const float s = lane < T ? s_s[h * T + lane] : -INFINITY;
                const float m_old = m_s[h], l_old = l_s[h];
                const float m_new = fmaxf(m_old, warp_max(s));
                const float p = lane < nt ? expf(s - m_new) : 0.f;
                const float sum = warp_sum(p);
                __syncwarp();
                if (lane < T) s_s[h * T + lane] = p;
                if (lane == 0) {
                    const float alpha = expf(m_old - m_new);
                    m_s[h] = m_new;
                    l_s[h] = l_old * alpha + sum;
                    alpha_s[h] = alpha;
                }
            }
            __syncthreads();

            // PV (heads hb..HB-1 hold garbage that is never stored)
            {
#pragma unroll
                for (int h = 0; h < HB; h++) {
                    const float al = alpha_s[h];
#pragma unroll
                    for (int j = 0; j < NC; j++) {
                        acc[j][h].x *= al;
                        acc[j][h].y *= al;
                        acc[j][h].z *= al;
                        acc[j][h].w *= al;
                    }
                }
                for (int t = warp; t < nt; t += WARPS) {
                    float p[HB];
#pragma unroll
                    for (int h = 0; h < HB; h++) p[h] = s_s[h * T + t];
#pragma unroll
                    for (int j = 0; j < NC; j++) {
                        const uint32_t c = lane + 32 * j;
                        if (c < dim4) {
                            const float4 vv = vs[t * pitch4 + c];
#pragma unroll
                            for (int h = 0; h < HB; h++) {
                                acc[j][h].x = fmaf(p[h], vv.x, acc[j][h].x);
                                acc[j][h].y = fmaf(p[h], vv.y, acc[j][h].y);
                                acc[j][h].z = fmaf(p[h], vv.z, acc[j][h].z);
                                acc[j][h].w = fmaf(p[h], vv.w, acc[j][h].w);
                            }
                        }
                    }
                }
            }
        }
        cp_async_wait_all();
        __syncthreads(); // the stages are free: they hold the warps' accumulators now

        float4 *red = kv_s; // [warp][HB][pitch4]; WARPS * HB <= 4 T, so it fits in the stages
#pragma unroll
        for (int j = 0; j < NC; j++) {
            const uint32_t c = lane + 32 * j;
            if (c < dim4)
#pragma unroll
                for (int h = 0; h < HB; h++)
                    if (h < hb) red[(warp * HB + h) * pitch4 + c] = acc[j][h];
        }
        __syncthreads();
        for (uint32_t i = tid; i < (uint32_t)hb * dim4; i += THREADS) {
            const uint32_t h = i / dim4, c = i % dim4;
            float4 s = red[h * pitch4 + c];
#pragma unroll
            for (int w = 1; w < WARPS; w++) {
                const float4 u = red[(w * HB + h) * pitch4 + c];
                s.x += u.x, s.y += u.y, s.z += u.z, s.w += u.w;
            }
            const float sv[4] = {s.x, s.y, s.z, s.w};
            if (a.n_splits == 1) {
                const float l = l_s[h];
                float *o = a.out + (uint64_t)r * a.out_stride + (uint64_t)(h0 + h) * a.dim;
#pragma unroll
                for (int e = 0; e < 4; e++)
                    if (4 * c + e < a.dim) o[4 * c + e] = sv[e] / l;
            } else {
                float *o = a.part_acc + (pidx0 + (uint64_t)h * a.n_splits) * a.dim;
#pragma unroll
                for (int e = 0; e < 4; e++)
                    if (4 * c + e < a.dim) o[4 * c + e] = sv[e];
            }
        }
        if (a.n_splits > 1 && tid < hb) {
            a.part_ml[2 * (pidx0 + (uint64_t)tid * a.n_splits)] = m_s[tid];
            a.part_ml[2 * (pidx0 + (uint64_t)tid * a.n_splits) + 1] = l_s[tid];
        }
        __syncthreads(); // shared memory is rewritten by the next block's work
    }
}

// Merges the non-empty splits of each (row, head): with M = max m_s and w_s = exp(m_s - M),
// out = sum w_s acc_s / sum w_s l_s. A block per (row, head), threads over the columns. Invalid
// rows give zeros.
__global__ void __launch_bounds__(kCombineThreads) attention_combine(const AttnArgs a) {
    __shared__ float w_s[kMaxSplits];
    __shared__ float l_total;
    const int tid = threadIdx.x, lane = tid & 31;
    const uint64_t n = (uint64_t)a.rows * a.n_heads;
    for (uint64_t bid = blockIdx.x; bid < n; bid += gridDim.x) {
        const uint32_t r = (uint32_t)(bid / a.n_heads), h = (uint32_t)(bid % a.n_heads);
        float *o = a.out + (uint64_t)r * a.out_stride + (uint64_t)h * a.dim;
        int32_t slot, pos;
        if (!attn_row_valid(a, r, slot, pos)) {
            for (uint32_t d = tid; d < a.dim; d += kCombineThreads) o[d] = 0.f;
            continue;
        }
        uint64_t per;
        const uint32_t ns = attn_split(a, (uint32_t)pos + 1, per); // 1 ..  n_splits, all written
        const uint64_t p0 = bid * a.n_splits;
        if (tid < 32) {
            float m = -INFINITY;
            for (uint32_t s = lane; s < ns; s += 32) m = fmaxf(m, a.part_ml[2 * (p0 + s)]);
            m = warp_max(m);
            float l = 0.f;
            for (uint32_t s = lane; s < ns; s += 32) {
                const float w = expf(a.part_ml[2 * (p0 + s)] - m);
                w_s[s] = w;
                l = fmaf(a.part_ml[2 * (p0 + s) + 1], w, l);
            }
            l = warp_sum(l);
            if (lane == 0) l_total = l;
        }
        __syncthreads();
        const float l = l_total;
        const float *acc = a.part_acc + p0 * a.dim;
        for (uint32_t d = tid; d < a.dim; d += kCombineThreads) {
            float v = 0.f;
#pragma unroll 8
            for (uint32_t s = 0; s < ns; s++) v = fmaf(w_s[s], acc[(uint64_t)s * a.dim + d], v);
            o[d] = v / l;
        }
        __syncthreads(); // w_s and l_total are rewritten by the next (row, head)
    }
}

// How an attention launch is cut: heads per block, splits of the keys, shared memory, scratch.
struct AttnPlan {
    int nc, hb_t; // template parameters: NC, HB
    uint32_t group, head_chunks, hb, n_splits, pitch4, tile;
    size_t shared, scratch;
};

AttnPlan plan_attention(const dfrt_cuda_attention *p) {
    AttnPlan pl;
    const uint32_t dim4 = (p->dim + 3) / 4;
    pl.nc = dim4 <= 32 ? 1 : dim4 <= 64 ? 2 : dim4 <= 128 ? 4 : 8;
    const uint32_t hb_max = pl.nc <= 2 ? 8 : 16 / pl.nc;
    pl.tile = 32 / pl.nc;
    pl.group = p->n_heads / p->n_kv;
    pl.head_chunks = (pl.group + hb_max - 1) / hb_max;
    pl.hb = (pl.group + pl.head_chunks - 1) / pl.head_chunks; // <= hb_max; the last chunk may be smaller
    pl.hb_t = 1;
    while ((uint32_t)pl.hb_t < pl.hb) pl.hb_t *= 2;
    pl.pitch4 = attn_pitch4(dim4);
    pl.shared = attn_shared_bytes((int)pl.tile, pl.hb_t, pl.pitch4);
    // Split the keys when the (row, KV head, head chunk) blocks cannot keep every SM busy.
    const uint64_t base = (uint64_t)p->rows * p->n_kv * pl.head_chunks, target = 4 * (uint64_t)sm_count();
    pl.n_splits = 1;
    if (base < target) {
        uint64_t s = (target + base - 1) / base;
        const uint64_t by_ctx = (p->max_ctx + kMinSplitKeys - 1) / kMinSplitKeys;
        if (s > by_ctx) s = by_ctx;
        if (s > kMaxSplits) s = kMaxSplits;
        pl.n_splits = (uint32_t)(s < 1 ? 1 : s);
    }
    pl.scratch = pl.n_splits > 1 ? (size_t)p->rows * p->n_heads * pl.n_splits * ((size_t)p->dim + 2) * 4 : 0;
    return pl;
}

template <int NC, int HB>
cudaError_t launch_attention(const AttnArgs &a, const AttnPlan &pl, unsigned blocks, cudaStream_t stream) {
    using S = AttnShape<NC>;
    static unsigned long long allowed = 0;
    cudaError_t e = allow_shared(attention_kernel<NC, HB>, (int)attn_shared_bytes(S::T, HB, S::max_pitch4), allowed);
    if (e != cudaSuccess) return e;
    attention_kernel<NC, HB><<<blocks, S::THREADS, pl.shared, stream>>>(a);
    return cudaGetLastError();
}

template <int NC>
cudaError_t launch_attention_hb(const AttnArgs &a, const AttnPlan &pl, unsigned blocks, cudaStream_t stream) {
    constexpr int M = AttnShape<NC>::HB_MAX;
    if (pl.hb_t == 1) return launch_attention<NC, 1>(a, pl, blocks, stream);
    if (pl.hb_t == 2) return launch_attention<NC, 2>(a, pl, blocks, stream);
    if constexpr (M >= 4)
        if (pl.hb_t == 4) return launch_attention<NC, 4>(a, pl, blocks, stream);
    if constexpr (M >= 8)
        if (pl.hb_t == 8) return launch_attention<NC, 8>(a, pl, blocks, stream);
    return cudaErrorInvalidValue;
}

// ---- silu_mul ---------------------------------------------------------------------------------

__device__ __forceinline__ float silu_mul1(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// out[r, i] = silu(in[r, i]) * in[r, up_col + i]. Work item: (row, chunk of kChunk columns).
// VEC: in, out 16-byte aligned; width, in_stride, up_col multiples of 4.
template <bool VEC>
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
                    make_float4(silu_mul1(g.x, u.x), silu_mul1(g.y, u.y), silu_mul1(g.z, u.z), silu_mul1(g.w, u.w));
            }
        } else {
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const uint64_t c = c0 + k * kThreads + threadIdx.x;
                if (c < width) o[c] = silu_mul1(__ldg(row + c), __ldg(row + up_col + c));
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

// ---- argmax -----------------------------------------------------------------------------------

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

// ---- launchers --------------------------------------------------------------------------------

extern "C" cudaError_t dfrt_cuda_embedding_run(const dfrt_cuda_embedding *p, cudaStream_t stream) {
    const bool vec = p->dim % 4 == 0 && aligned(p->out, 16) && aligned(p->table, 8);
    const unsigned blocks = blocks_for((uint64_t)p->rows * ((p->dim + (uint64_t)kChunk - 1) / kChunk));
    if (vec)
        embedding_kernel<true><<<blocks, kThreads, 0, stream>>>(p->out, p->table, p->offsets, p->table_elems, p->rows, p->dim);
    else
        embedding_kernel<false><<<blocks, kThreads, 0, stream>>>(p->out, p->table, p->offsets, p->table_elems, p->rows, p->dim);
    return cudaGetLastError();
}

extern "C" cudaError_t dfrt_cuda_rmsnorm_run(const dfrt_cuda_rmsnorm *p, cudaStream_t stream) {
    const bool vec = p->dim % 4 == 0 && p->row_stride % 4 == 0 && aligned(p->x, 16) && aligned(p->y, 16) &&
                     aligned(p->w, 16);
    const uint32_t n = vec ? p->dim / 4 : p->dim;
    uint32_t tpv = 32;
    while (tpv < n && tpv < (uint32_t)kNormMaxThreads) tpv *= 2;
    const uint32_t threads = tpv > (uint32_t)kThreads ? tpv : (uint32_t)kThreads, vpb = threads / tpv;
    const unsigned blocks = blocks_for(((uint64_t)p->rows * p->heads + vpb - 1) / vpb);
    if (vec)
        rmsnorm_kernel<true><<<blocks, threads, 0, stream>>>(p->y, p->x, p->w, p->rows, p->heads, p->dim, p->row_stride,
                                                             p->eps, tpv);
    else
        rmsnorm_kernel<false><<<blocks, threads, 0, stream>>>(p->y, p->x, p->w, p->rows, p->heads, p->dim, p->row_stride,
                                                              p->eps, tpv);
    return cudaGetLastError();
}

extern "C" cudaError_t dfrt_cuda_rope_run(const dfrt_cuda_rope *p, cudaStream_t stream) {
    const bool vec = p->dim % 4 == 0 && p->row_stride % 2 == 0 && aligned(p->x, 8);
    const uint64_t hg = (p->heads + kRopeHeads - 1) / kRopeHeads;
    const uint64_t items = (uint64_t)p->rows * hg * (p->dim / 2 / (vec ? 2 : 1));
    const unsigned blocks = blocks_for((items + kThreads - 1) / kThreads);
    if (vec)
        rope_kernel<2><<<blocks, kThreads, 0, stream>>>(p->x, p->positions, p->inv_freq, p->rows, p->heads, p->dim,
                                                        p->row_stride);
    else
        rope_kernel<1><<<blocks, kThreads, 0, stream>>>(p->x, p->positions, p->inv_freq, p->rows, p->heads, p->dim,
                                                        p->row_stride);
    return cudaGetLastError();
}

extern "C" cudaError_t dfrt_cuda_kv_store_run(const dfrt_cuda_kv_store *p, cudaStream_t stream) {
    const bool vec = p->width % 4 == 0 && p->src_stride % 4 == 0 && p->k_col % 4 == 0 && p->v_col % 4 == 0 &&
                     aligned(p->k_cache, 16) && aligned(p->v_cache, 16) && aligned(p->src, 16);
    const unsigned blocks = blocks_for((p->rows + (uint64_t)kKvRows - 1) / kKvRows);
    if (vec)
        kv_store_kernel<true><<<blocks, kThreads, 0, stream>>>(p->k_cache, p->v_cache, p->src, p->slots, p->positions,
                                                               p->rows, p->width, p->src_stride, p->k_col, p->v_col,
                                                               p->n_slots, p->max_ctx);
    else
        kv_store_kernel<false><<<blocks, kThreads, 0, stream>>>(p->k_cache, p->v_cache, p->src, p->slots, p->positions,
                                                                p->rows, p->width, p->src_stride, p->k_col, p->v_col,
                                                                p->n_slots, p->max_ctx);
    return cudaGetLastError();
}

extern "C" size_t dfrt_cuda_attention_scratch_bytes(const dfrt_cuda_attention *p) {
    if (p->dim == 0 || p->dim > 1024 || p->n_kv == 0 || p->n_heads % p->n_kv) return 0;
    return plan_attention(p).scratch;
}

extern "C" cudaError_t dfrt_cuda_attention_run(const dfrt_cuda_attention *p, cudaStream_t stream) {
    if (p->dim == 0 || p->dim > 1024 || p->n_kv == 0 || p->n_heads == 0 || p->n_heads % p->n_kv) return cudaErrorInvalidValue;
    AttnPlan pl = plan_attention(p);
    if (pl.scratch > p->scratch_bytes || !p->scratch) { // too little scratch: no splits
        pl.n_splits = 1;
        pl.scratch = 0;
    }
    AttnArgs a;
    a.out = p->out;
    a.q = p->q;
    a.k = p->k_cache;
    a.v = p->v_cache;
    a.slots = p->slots;
    a.positions = p->positions;
    const size_t parts = (size_t)p->rows * p->n_heads * pl.n_splits;
    a.part_acc = pl.n_splits > 1 ? static_cast<float *>(p->scratch) : nullptr;
    a.part_ml = pl.n_splits > 1 ? a.part_acc + parts * p->dim : nullptr;
    a.rows = p->rows;
    a.n_heads = p->n_heads;
    a.n_kv = p->n_kv;
    a.dim = p->dim;
    a.q_stride = p->q_stride;
    a.out_stride = p->out_stride;
    a.n_slots = p->n_slots;
    a.max_ctx = p->max_ctx;
    a.group = pl.group;
    a.head_chunks = pl.head_chunks;
    a.hb = pl.hb;
    a.n_splits = pl.n_splits;
    a.pitch4 = pl.pitch4;
    a.tile = pl.tile;
    a.vec = p->dim % 4 == 0 && aligned(p->k_cache, 16) && aligned(p->v_cache, 16);
    a.scale = p->scale;
    const unsigned blocks = blocks_for((uint64_t)p->rows * p->n_kv * pl.head_chunks * pl.n_splits);
    cudaError_t e;
    switch (pl.nc) {
    case 1: e = launch_attention_hb<1>(a, pl, blocks, stream); break;
    case 2: e = launch_attention_hb<2>(a, pl, blocks, stream); break;
    case 4: e = launch_attention_hb<4>(a, pl, blocks, stream); break;
    default: e = launch_attention_hb<8>(a, pl, blocks, stream); break;
    }
    if (e != cudaSuccess || pl.n_splits == 1) return e;
    attention_combine<<<blocks_for((uint64_t)p->rows * p->n_heads), kCombineThreads, 0, stream>>>(a);
    return cudaGetLastError();
}

extern "C" cudaError_t dfrt_cuda_silu_mul_run(const dfrt_cuda_silu_mul *p, cudaStream_t stream) {
    const bool vec = p->width % 4 == 0 && p->in_stride % 4 == 0 && p->up_col % 4 == 0 && aligned(p->in, 16) &&
                     aligned(p->out, 16);
    const unsigned blocks = blocks_for((uint64_t)p->rows * ((p->width + (uint64_t)kChunk - 1) / kChunk));
    if (vec)
        silu_mul_kernel<true><<<blocks, kThreads, 0, stream>>>(p->out, p->in, p->rows, p->width, p->in_stride, p->up_col);
    else
        silu_mul_kernel<false><<<blocks, kThreads, 0, stream>>>(p->out, p->in, p->rows, p->width, p->in_stride, p->up_col);
    return cudaGetLastError();
}

extern "C" cudaError_t dfrt_cuda_add_run(const dfrt_cuda_add *p, cudaStream_t stream) {
    const bool vec = aligned(p->y, 16) && aligned(p->a, 16) && aligned(p->b, 16);
    const uint64_t items = vec ? (p->n / 4 > 0 ? p->n / 4 : 1) : p->n;
    const unsigned blocks = blocks_for((items + kThreads - 1) / kThreads);
    if (vec) add_kernel<true><<<blocks, kThreads, 0, stream>>>(p->y, p->a, p->b, p->n);
    else add_kernel<false><<<blocks, kThreads, 0, stream>>>(p->y, p->a, p->b, p->n);
    return cudaGetLastError();
}

extern "C" cudaError_t dfrt_cuda_argmax_run(const dfrt_cuda_argmax *p, cudaStream_t stream) {
    const bool vec = p->stride % 4 == 0 && aligned(p->x, 16);
    const unsigned blocks = blocks_for(p->rows);
    if (vec) argmax_kernel<true><<<blocks, kArgThreads, 0, stream>>>(p->out, p->x, p->rows, p->n, p->stride);
    else argmax_kernel<false><<<blocks, kArgThreads, 0, stream>>>(p->out, p->x, p->rows, p->n, p->stride);
    return cudaGetLastError();
}
