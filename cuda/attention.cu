// attention on CUDA: causal grouped-query attention over the KV caches (fp32 or BF16), softmax in
// fp32, one kernel (plus a combining one when the keys are split across blocks). Semantics as in ops.h and
// the CPU reference (backends/cpu/cpu_ops.c); slots and positions read from device memory are
// range-checked.
#include "common.cuh"

namespace {

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
// of range give zeros. NC = ceil(dim / 128) rounded up to a power of two (dim <= 1024, as the
// backend's supports requires), tiles keep T * NC = 32 keys x float4 columns per lane; HB is
// the heads per block rounded up to a power of two. Blocks have 8 warps (4 for dim > 512).
// Every quarter-warp reads consecutive float4s of one shared row, so shared loads are free of
// bank conflicts; rows are padded to a pitch of 4 mod 8 float4s, which would keep them so with
// fewer threads per key. A BF16 cache's tiles stay BF16 in shared memory (8 bytes for 4 values,
// widened to fp32 when read: exact), rows padded to 8 mod 16 of those units, so that the two
// rows a half-warp reads in the score phase (8 threads per key) fall in different banks; the
// stages keep the fp32 tiles' room, which the reduction at the end uses.

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
// A BF16 tile row's pitch, in 8-byte units of 4 values (at most 2 attn_pitch4: in the room).
inline uint32_t attn_pitch_bf16(uint32_t dim4) { return (dim4 + 7) / 16 * 16 + 8; }

inline size_t attn_shared_bytes(int t, int hb, uint32_t pitch4) {
    return ((size_t)4 * t * pitch4 + (size_t)hb * pitch4) * 16 + ((size_t)hb * t + 3 * (size_t)hb) * 4;
}

struct AttnArgs {
    float *out;
    const float *q;
    const void *k, *v; // KV caches: float, or BF16 (uint16_t)
    const int32_t *slots, *positions;
    float *part_acc; // (rows, n_heads, n_splits, dim)
    float *part_ml;  // (rows, n_heads, n_splits, 2): m, l
    uint8_t *done; // per row: 1 when attention_tc_kernel attended for it (skipped here); or nullptr
    uint32_t rows, n_heads, n_kv, dim, q_stride, out_stride, n_slots, max_ctx;
    uint32_t group, head_chunks, hb, n_splits, pitch4, tile;
    uint32_t pitch_kv; // K and V tile rows: pitch4, or attn_pitch_bf16 for BF16 caches
    int vec;           // K and V rows aligned for cp.async (16 bytes; BF16: 8)
    float scale;
    uint32_t window; // keys seen (sliding window), 0: all
    float softcap;   // scores s -> softcap tanh(s / softcap), 0: none
};

// The first key a query at position pos sees: pos - window + 1 under a window.
__device__ __forceinline__ uint32_t attn_first_key(const AttnArgs &a, int32_t pos) {
    return a.window && (uint32_t)pos >= a.window ? (uint32_t)pos - a.window + 1 : 0u;
}

// A score after soft-capping (when set).
__device__ __forceinline__ float attn_cap(const AttnArgs &a, float s) {
    return a.softcap > 0.f ? a.softcap * tanhf(s / a.softcap) : s;
}

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async8(void *dst, const void *src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { cp_async_wait<0>(); }

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

// A cache's element type and its shared tile unit (4 values): fp32 in float4s, BF16 in uint2s.
template <bool BF16> struct KvType {
    using Elem = float;
    using Unit = float4;
    static __device__ __forceinline__ float4 widen(float4 u) { return u; }
};
template <> struct KvType<true> {
    using Elem = uint16_t;
    using Unit = uint2;
    static __device__ __forceinline__ float4 widen(uint2 u) {
        return make_float4(bf16_lo(u.x), bf16_hi(u.x), bf16_lo(u.y), bf16_hi(u.y));
    }
};

// Keys [j0, j0 + n) of K and V (rows `width` values apart from kb / vb) into shared tiles.
template <int NC, int WARPS, bool BF16>
__device__ __forceinline__ void attn_load_tile(typename KvType<BF16>::Unit *ks, typename KvType<BF16>::Unit *vs,
                                               const typename KvType<BF16>::Elem *kb,
                                               const typename KvType<BF16>::Elem *vb, uint64_t width, uint32_t j0,
                                               int n, uint32_t dim, uint32_t dim4, uint32_t pitch, bool vec) {
    using Elem = typename KvType<BF16>::Elem;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int t = warp; t < n; t += WARPS) {
        const Elem *kr = kb + (uint64_t)(j0 + t) * width, *vr = vb + (uint64_t)(j0 + t) * width;
#pragma unroll
        for (int j = 0; j < NC; j++) {
            const uint32_t c = lane + 32 * j;
            if (c < dim4) {
                if (vec) {
                    if (BF16) {
                        cp_async8(ks + t * pitch + c, kr + 4 * c);
                        cp_async8(vs + t * pitch + c, vr + 4 * c);
                    } else {
                        cp_async16(ks + t * pitch + c, kr + 4 * c);
                        cp_async16(vs + t * pitch + c, vr + 4 * c);
                    }
                } else {
                    Elem kx[4], vx[4]; // zero past dim (fp32 0 and BF16 0 are both all-zero bits)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const uint32_t d = 4 * c + e;
                        kx[e] = d < dim ? kr[d] : Elem(0);
                        vx[e] = d < dim ? vr[d] : Elem(0);
                    }
                    if constexpr (BF16) {
                        ks[t * pitch + c] = make_uint2(kx[0] | (uint32_t)kx[1] << 16, kx[2] | (uint32_t)kx[3] << 16);
                        vs[t * pitch + c] = make_uint2(vx[0] | (uint32_t)vx[1] << 16, vx[2] | (uint32_t)vx[3] << 16);
                    } else {
                        ks[t * pitch + c] = make_float4(kx[0], kx[1], kx[2], kx[3]);
                        vs[t * pitch + c] = make_float4(vx[0], vx[1], vx[2], vx[3]);
                    }
                }
            }
        }
    }
}

template <int NC, int HB, bool BF16>
__global__ void __launch_bounds__(AttnShape<NC>::THREADS, AttnShape<NC>::MIN_BLOCKS) attention_kernel(const AttnArgs a) {
    using S = AttnShape<NC>;
    using KV = KvType<BF16>;
    using Unit = typename KV::Unit;
    using Elem = typename KV::Elem;
    constexpr int T = S::T, P = S::P, THREADS = S::THREADS, WARPS = S::WARPS;
    extern __shared__ float4 sm[];
    const uint32_t dim4 = (a.dim + 3) / 4, pitch4 = a.pitch4, pk = a.pitch_kv;
    float4 *kv_s = sm;                                          // room for [2 stages][K, V][T][pitch4]
    Unit *tiles = reinterpret_cast<Unit *>(sm);                 // [2 stages][K, V][T][pk]
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
        if (a.done && a.done[r]) continue; // the tiled kernel's (block-uniform)
        const uint32_t h0 = g * a.group + chunk * a.hb;
        const int hb = (int)min(a.hb, a.group - chunk * a.hb); // <= HB
        int32_t slot, pos;
        const bool valid = attn_row_valid(a, r, slot, pos);

        // This split's keys [begin, end).
        uint32_t begin = 0, end = 0;
        if (valid) { // keys first .. pos, split
            const uint32_t first = attn_first_key(a, pos), len = (uint32_t)pos + 1 - first;
            uint64_t per;
            attn_split(a, len, per);
            begin = (uint32_t)min((uint64_t)len, split * per);
            end = first + (uint32_t)min((uint64_t)len, begin + per);
            begin += first;
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
        const Elem *kb = static_cast<const Elem *>(a.k) + (uint64_t)slot * a.max_ctx * width + (uint64_t)g * a.dim;
        const Elem *vb = static_cast<const Elem *>(a.v) + (uint64_t)slot * a.max_ctx * width + (uint64_t)g * a.dim;

        float4 acc[NC][HB];
#pragma unroll
        for (int j = 0; j < NC; j++)
#pragma unroll
            for (int h = 0; h < HB; h++) acc[j][h] = make_float4(0.f, 0.f, 0.f, 0.f);

        const uint32_t n_tiles = (end - begin + T - 1) / T;
        attn_load_tile<NC, WARPS, BF16>(tiles, tiles + T * pk, kb, vb, width, begin,
                                        (int)min((uint32_t)T, end - begin), a.dim, dim4, pk, vec);
        cp_async_commit();
        for (uint32_t it = 0; it < n_tiles; it++) {
            const uint32_t t0 = begin + it * T;
            const int nt = (int)min((uint32_t)T, end - t0);
            cp_async_wait_all();
            __syncthreads(); // tile `it` is in; every thread is done with tile it - 1's stage
            if (it + 1 < n_tiles) {
                Unit *ks = tiles + ((it + 1) & 1) * 2 * T * pk;
                attn_load_tile<NC, WARPS, BF16>(ks, ks + T * pk, kb, vb, width, t0 + T,
                                                (int)min((uint32_t)T, end - t0 - T), a.dim, dim4, pk, vec);
            }
            cp_async_commit();
            const Unit *ks = tiles + (it & 1) * 2 * T * pk, *vs = ks + T * pk;

            // scores
            {
                const int t = tid / P, part = tid % P;
                float d[HB];
#pragma unroll
                for (int h = 0; h < HB; h++) d[h] = 0.f;
                for (uint32_t c = part; c < dim4; c += P) {
                    const float4 kk = KV::widen(ks[t * pk + c]);
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
                        if (h < hb) s_s[h * T + t] = t < nt ? attn_cap(a, d[h] * a.scale) : -INFINITY;
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
                            const float4 vv = KV::widen(vs[t * pk + c]);
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
        if (a.done && a.done[r]) continue; // the tiled kernel's (block-uniform)
        float *o = a.out + (uint64_t)r * a.out_stride + (uint64_t)h * a.dim;
        int32_t slot, pos;
        if (!attn_row_valid(a, r, slot, pos)) {
            for (uint32_t d = tid; d < a.dim; d += kCombineThreads) o[d] = 0.f;
            continue;
        }
        uint64_t per;
        const uint32_t ns = attn_split(a, (uint32_t)pos + 1 - attn_first_key(a, pos), per); // 1 .. n_splits, all written
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


// ---- the tiled attention for prefills (tensor cores, BF16 caches) ----------------------------
// Prefill rows come in runs of consecutive positions of one sequence, and the kernel above
// reads each row's keys again for every row. attention_tc_kernel takes a tile of 64
// consecutive rows and one query head per block (the heads of a tile in consecutive blocks,
// so that the query heads sharing a KV head find its keys in L2): when the tile's valid rows
// all belong to one slot it attends for all of them (flash-attention style), else it leaves
// the tile to the kernel above, which skips the rows marked done. Each warp holds 16 rows:
//   Q (BF16, rounded to nearest even) as mma.sync A fragments, loaded once;
//   keys in tiles of 64: K and V tiles (cp.async, two stages; keys past the tile's last
//   position zero-filled) in shared rows padded by 16 bytes (conflict-free ldmatrix);
//   S = Q K^T (m16n8k16, fp32), scaled by scale * log2(e) (soft-capped first when asked), -inf
//   past each row's position and before its window;
//   online softmax per row (running max and sum, in base 2: exp2), the probabilities rounded
//   to BF16 as the A fragments of P V (V through ldmatrix.trans), fp32 accumulators.
// A warp skips the key tiles past its rows' last position. Rows whose slot or position is out
// of range get zeros. The rounding of Q and P to BF16 puts the results within about 1e-2
// relative of the fp32 kernel's (the op test's tolerance for these cases).

constexpr int kTcRows = 64, kTcKeys = 64, kTcThreads = 128;
constexpr uint32_t kTcMinRows = 65; // fewer rows (decode steps) stay with the kernel above

template <int DIM> struct TcShape {
    static constexpr int PITCH = DIM + 8; // BF16 values per shared row
    static constexpr int Q = kTcRows * PITCH, KV = kTcKeys * PITCH;
    static constexpr size_t SHARED = (size_t)(Q + 4 * KV) * 2 + 2 * kTcRows * 4; // Q; 2 stages of K, V; rows
};

// Two fp32 values as two BF16 (nearest even), lo in the low half.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

template <int DIM>
__global__ void __launch_bounds__(kTcThreads) attention_tc_kernel(const AttnArgs a) {
    using S = TcShape<DIM>;
    constexpr int PITCH = S::PITCH, KD = DIM / 16, ND = DIM / 8, C8 = DIM / 8;
    extern __shared__ __align__(16) uint16_t tsm[];
    uint16_t *sq = tsm, *skv = tsm + S::Q; // skv: [stage][K, V][key][PITCH]
    int32_t *s_slot = reinterpret_cast<int32_t *>(tsm + S::Q + 4 * S::KV), *s_pos = s_slot + kTcRows;
    __shared__ int s_first, s_uniform, s_kmax;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, gr = lane >> 2, tq = lane & 3;
    const uint32_t h = blockIdx.x, g = h / a.group;
    const uint64_t n_tiles = ((uint64_t)a.rows + kTcRows - 1) / kTcRows, width = (uint64_t)a.n_kv * DIM;
    const float scale_log2 = a.scale * 1.4426950408889634f; // scores in base 2: exp2

    for (uint64_t tile = blockIdx.y; tile < n_tiles; tile += gridDim.y) {
        const uint64_t r0 = tile * kTcRows;
        const int n = (int)min((uint64_t)kTcRows, a.rows - r0);
        // The tile's rows: the first valid one's slot, whether every valid row has it, the last key.
        if (tid == 0) s_first = kTcRows, s_uniform = 1, s_kmax = -1;
        if (tid < kTcRows) {
            int32_t sl = -1, ps = -1;
            if (tid < n) {
                sl = __ldg(a.slots + r0 + tid);
                ps = __ldg(a.positions + r0 + tid);
                if (!(sl >= 0 && (uint32_t)sl < a.n_slots && ps >= 0 && (uint32_t)ps < a.max_ctx)) sl = -1, ps = -1;
            }
            s_slot[tid] = sl;
            s_pos[tid] = ps;
        }
        __syncthreads();
        if (tid < kTcRows && s_slot[tid] >= 0) atomicMin(&s_first, tid);
        __syncthreads();
        const int32_t slot = s_first < kTcRows ? s_slot[s_first] : 0;
        if (tid < kTcRows && s_slot[tid] >= 0) {
            if (s_slot[tid] != slot) s_uniform = 0;
            atomicMax(&s_kmax, s_pos[tid]);
        }
        __syncthreads();
        if (h == 0 && tid < n) a.done[r0 + tid] = (uint8_t)s_uniform;
        if (!s_uniform) { // left to the kernel above
            __syncthreads();
            continue;
        }
        const int kmax = s_kmax, n_kt = (kmax + kTcKeys) / kTcKeys; // kmax -1: no valid row, no keys

        // Q as BF16 (zeros past the tile's rows), then each warp's A fragments.
        for (int i = tid; i < kTcRows * (DIM / 4); i += kTcThreads) {
            const int row = i / (DIM / 4), c = i % (DIM / 4);
            float x[4] = {0.f, 0.f, 0.f, 0.f};
            if (row < n) {
                const float *qr = a.q + (r0 + row) * a.q_stride + (uint64_t)h * DIM + 4 * c;
#pragma unroll
                for (int e = 0; e < 4; e++) x[e] = __ldg(qr + e);
            }
            *reinterpret_cast<uint2 *>(sq + row * PITCH + 4 * c) = make_uint2(pack_bf16x2(x[0], x[1]), pack_bf16x2(x[2], x[3]));
        }
        const uint64_t base = (uint64_t)slot * a.max_ctx * width + (uint64_t)g * DIM;
        const uint16_t *kb = static_cast<const uint16_t *>(a.k) + base, *vb = static_cast<const uint16_t *>(a.v) + base;
        auto load = [&](int kt) {
            uint16_t *ks = skv + (kt & 1) * 2 * S::KV, *vs = ks + S::KV;
            for (int i = tid; i < kTcKeys * C8; i += kTcThreads) {
                const int key = i / C8, c = i % C8;
                const int j = kt * kTcKeys + key;
                const bool in = j <= kmax;
                const uint64_t off = (uint64_t)(in ? j : 0) * width + 8 * c;
                cp_async16(ks + key * PITCH + 8 * c, kb + off, in ? 16 : 0);
                cp_async16(vs + key * PITCH + 8 * c, vb + off, in ? 16 : 0);
            }
        };
        if (n_kt) load(0);
        cp_async_commit();
        __syncthreads(); // Q is in
        uint32_t qa[KD][4];
#pragma unroll
        for (int kk = 0; kk < KD; kk++)
            ldmatrix_x4(qa[kk][0], qa[kk][1], qa[kk][2], qa[kk][3],
                        sq + (warp * 16 + (lane & 15)) * PITCH + kk * 16 + (lane >> 4) * 8);
        const int pos_a = s_pos[warp * 16 + gr], pos_b = s_pos[warp * 16 + gr + 8];
        const int wmax = __reduce_max_sync(0xFFFFFFFFu, max(pos_a, pos_b));

        float o[ND][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
        for (int d = 0; d < ND; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
        for (int kt = 0; kt < n_kt; kt++) {
            cp_async_wait<0>();
            __syncthreads(); // tile kt is in; every warp is done with tile kt - 1's stage
            if (kt + 1 < n_kt) load(kt + 1);
            cp_async_commit();
            const int key0 = kt * kTcKeys;
            if (key0 > wmax) continue; // past every row of this warp (warp-uniform)
            const uint16_t *ks = skv + (kt & 1) * 2 * S::KV, *vs = ks + S::KV;
            float s[8][4];
#pragma unroll
            for (int j = 0; j < 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < KD; kk++)
#pragma unroll
                for (int j = 0; j < 8; j += 2) {
                    uint32_t b[4];
                    ldmatrix_x4(b[0], b[1], b[2], b[3],
                                ks + (j * 8 + (lane & 7) + ((lane >> 4) << 3)) * PITCH + kk * 16 + ((lane >> 3) & 1) * 8);
                    mma_bf16(s[j], qa[kk], b);
                    mma_bf16(s[j + 1], qa[kk], b + 2);
                }
            // Fragment (j, e): row gr (e < 2) or gr + 8, key key0 + 8j + 2 tq + (e & 1).
            float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int key = key0 + 8 * j + 2 * tq + (e & 1);
                    const int p = e < 2 ? pos_a : pos_b;
                    const bool seen = key <= p && (a.window == 0 || (uint32_t)(p - key) < a.window);
                    const float v = a.softcap > 0.f ? attn_cap(a, s[j][e] * a.scale) * 1.4426950408889634f
                                                    : s[j][e] * scale_log2;
                    s[j][e] = seen ? v : -INFINITY;
                    mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
                }
            float ref[2];
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xFFFFFFFFu, mx[hf], 1));
                mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xFFFFFFFFu, mx[hf], 2));
                const float m_new = fmaxf(m[hf], mx[hf]);
                ref[hf] = m_new == -INFINITY ? 0.f : m_new; // a row with no key yet: p = 0
                const float alpha = exp2f(m[hf] - ref[hf]);
                m[hf] = m_new;
                l[hf] *= alpha;
#pragma unroll
                for (int d = 0; d < ND; d++) o[d][2 * hf] *= alpha, o[d][2 * hf + 1] *= alpha;
            }
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    s[j][e] = exp2f(s[j][e] - ref[e >> 1]);
                    l[e >> 1] += s[j][e];
                }
#pragma unroll
            for (int c = 0; c < 4; c++) { // keys 16c .. 16c + 15
                const uint32_t pa[4] = {pack_bf16x2(s[2 * c][0], s[2 * c][1]), pack_bf16x2(s[2 * c][2], s[2 * c][3]),
                                        pack_bf16x2(s[2 * c + 1][0], s[2 * c + 1][1]),
                                        pack_bf16x2(s[2 * c + 1][2], s[2 * c + 1][3])};
#pragma unroll
                for (int d = 0; d < ND; d += 2) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b[0], b[1], b[2], b[3],
                                      vs + (16 * c + (lane & 7) + ((lane >> 3) & 1) * 8) * PITCH + 8 * d + (lane >> 4) * 8);
                    mma_bf16(o[d], pa, b);
                    mma_bf16(o[d + 1], pa, b + 2);
                }
            }
        }
        cp_async_wait<0>();
        // Sums over the quad; rows without keys (invalid) have l = 0: zeros.
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            l[hf] += __shfl_xor_sync(0xFFFFFFFFu, l[hf], 1);
            l[hf] += __shfl_xor_sync(0xFFFFFFFFu, l[hf], 2);
        }
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            const int row = warp * 16 + gr + 8 * hf;
            if (row >= n) continue;
            const float inv = l[hf] > 0.f ? 1.f / l[hf] : 0.f;
            float *orow = a.out + (r0 + row) * a.out_stride + (uint64_t)h * DIM + 2 * tq;
#pragma unroll
            for (int d = 0; d < ND; d++) {
                orow[8 * d] = o[d][2 * hf] * inv;
                orow[8 * d + 1] = o[d][2 * hf + 1] * inv;
            }
        }
        __syncthreads(); // shared memory is rewritten by the next tile
    }
}

template <int DIM> cudaError_t launch_attention_tc(const AttnArgs &a, cudaStream_t stream) {
    static unsigned long long allowed = 0;
    cudaError_t e = allow_shared(attention_tc_kernel<DIM>, (int)TcShape<DIM>::SHARED, allowed);
    if (e != cudaSuccess) return e;
    const uint64_t tiles = ((uint64_t)a.rows + kTcRows - 1) / kTcRows;
    const dim3 grid(a.n_heads, (unsigned)(tiles < 65535 ? tiles : 65535));
    attention_tc_kernel<DIM><<<grid, kTcThreads, TcShape<DIM>::SHARED, stream>>>(a);
    return cudaGetLastError();
}

// How an attention launch is cut: heads per block, splits of the keys, shared memory, scratch.
struct AttnPlan {
    int nc, hb_t; // template parameters: NC, HB
    uint32_t group, head_chunks, hb, n_splits, pitch4, pitch_kv, tile;
    size_t shared, scratch;
};

AttnPlan plan_attention(const dfrt_attention_args *p, int sm_count) {
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
    pl.pitch_kv = p->kv_type == DFRT_KV_BF16 ? attn_pitch_bf16(dim4) : pl.pitch4; // 8 <= 16 bytes: in the room
    pl.shared = attn_shared_bytes((int)pl.tile, pl.hb_t, pl.pitch4);
    // Split the keys when the (row, KV head, head chunk) blocks cannot keep every SM busy.
    const uint64_t base = (uint64_t)p->rows * p->n_kv * pl.head_chunks, target = 4 * (uint64_t)sm_count;
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

template <int NC, int HB, bool BF16>
cudaError_t launch_attention(const AttnArgs &a, const AttnPlan &pl, unsigned blocks, cudaStream_t stream) {
    using S = AttnShape<NC>;
    static unsigned long long allowed = 0;
    cudaError_t e =
        allow_shared(attention_kernel<NC, HB, BF16>, (int)attn_shared_bytes(S::T, HB, S::max_pitch4), allowed);
    if (e != cudaSuccess) return e;
    attention_kernel<NC, HB, BF16><<<blocks, S::THREADS, pl.shared, stream>>>(a);
    return cudaGetLastError();
}

template <int NC, bool BF16>
cudaError_t launch_attention_hb(const AttnArgs &a, const AttnPlan &pl, unsigned blocks, cudaStream_t stream) {
    constexpr int M = AttnShape<NC>::HB_MAX;
    if (pl.hb_t == 1) return launch_attention<NC, 1, BF16>(a, pl, blocks, stream);
    if (pl.hb_t == 2) return launch_attention<NC, 2, BF16>(a, pl, blocks, stream);
    if constexpr (M >= 4)
        if (pl.hb_t == 4) return launch_attention<NC, 4, BF16>(a, pl, blocks, stream);
    if constexpr (M >= 8)
        if (pl.hb_t == 8) return launch_attention<NC, 8, BF16>(a, pl, blocks, stream);
    return cudaErrorInvalidValue;
}

template <bool BF16>
cudaError_t launch_attention_nc(const AttnArgs &a, const AttnPlan &pl, unsigned blocks, cudaStream_t stream) {
    switch (pl.nc) {
    case 1: return launch_attention_hb<1, BF16>(a, pl, blocks, stream);
    case 2: return launch_attention_hb<2, BF16>(a, pl, blocks, stream);
    case 4: return launch_attention_hb<4, BF16>(a, pl, blocks, stream);
    default: return launch_attention_hb<8, BF16>(a, pl, blocks, stream);
    }
}

} // namespace

static_assert(DFRT_CUDA_ATTENTION_MAX_DIM == 8 * 128, "NC = 8 float4 columns per lane covers the largest head");

extern "C" dfrt_status dfrt_cuda_attention(dfrt_cuda_ctx *ctx, const dfrt_attention_args *p) {
    AttnPlan pl = plan_attention(p, ctx->sm_count);
    const bool bf16 = p->kv_type == DFRT_KV_BF16;
    // The tiled kernel for prefills: BF16 caches, head_dim 64 or 128, 16-byte aligned rows.
    bool tc = bf16 && (p->dim == 64 || p->dim == 128) && p->rows >= kTcMinRows && ctx->compute_capability >= 80 &&
              aligned(dev<const void>(p->k_cache), 16) && aligned(dev<const void>(p->v_cache), 16);
    // Scratch: the partial results of split keys, then the tiled kernel's row marks; without
    // it the keys are not split, and the tiled kernel does not run.
    const size_t done_at = (pl.scratch + 255) / 256 * 256, need = tc ? done_at + p->rows : pl.scratch;
    if (need) {
        dfrt_status s = dfrt_cuda_scratch(ctx, need, "attention");
        if (s != DFRT_OK && s != DFRT_OUT_OF_MEMORY) return s;
    }
    if (need > ctx->scratch_size || !ctx->scratch) tc = false;
    if (pl.scratch > ctx->scratch_size || !ctx->scratch) { // too little scratch: no splits
        pl.n_splits = 1;
        pl.scratch = 0;
    }
    AttnArgs a;
    a.out = dev<float>(p->out);
    a.q = dev<const float>(p->q);
    a.k = dev<const void>(p->k_cache);
    a.v = dev<const void>(p->v_cache);
    a.slots = dev<const int32_t>(p->slots);
    a.positions = dev<const int32_t>(p->positions);
    const size_t parts = (size_t)p->rows * p->n_heads * pl.n_splits;
    a.part_acc = pl.n_splits > 1 ? static_cast<float *>(ctx->scratch) : nullptr;
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
    a.pitch_kv = pl.pitch_kv;
    a.tile = pl.tile;
    a.done = tc ? static_cast<uint8_t *>(ctx->scratch) + done_at : nullptr;
    a.vec = p->dim % 4 == 0 && aligned(a.k, bf16 ? 8 : 16) && aligned(a.v, bf16 ? 8 : 16);
    a.scale = p->scale;
    a.window = p->window;
    a.softcap = p->softcap;
    if (a.done) { // the tiled kernel first: it marks the rows it attended for
        const cudaError_t e = p->dim == 64 ? launch_attention_tc<64>(a, ctx->stream) : launch_attention_tc<128>(a, ctx->stream);
        if (e != cudaSuccess) return dfrt_cuda_check(e, "attention (tiled)", __FILE__, __LINE__);
    }
    const unsigned blocks = blocks_for((uint64_t)p->rows * p->n_kv * pl.head_chunks * pl.n_splits);
    const cudaError_t e = bf16 ? launch_attention_nc<true>(a, pl, blocks, ctx->stream)
                               : launch_attention_nc<false>(a, pl, blocks, ctx->stream);
    if (e != cudaSuccess || pl.n_splits == 1) return dfrt_cuda_check(e, "attention", __FILE__, __LINE__);
    attention_combine<<<blocks_for((uint64_t)p->rows * p->n_heads), kCombineThreads, 0, ctx->stream>>>(a);
    return DFRT_CUDA_LAUNCHED("attention (combine)");
}
