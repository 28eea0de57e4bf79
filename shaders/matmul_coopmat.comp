#version 450
// Y[M,N] = X[M,K] . W[N,K]^T (+ bias) on tensor cores through VK_NV_cooperative_matrix
// (16x16x16, fp16 operands, fp32 accumulation), K % 8 == 0, X and W on 16-byte boundaries.
// A workgroup of SG_M x SG_N subgroups (of 32) takes a BM x BN block of Y, K in steps of 32;
// each subgroup multiplies its (BM / SG_M) x (BN / SG_N) part. Two variants (-D): 128 x 128
// blocks of 8 subgroups for long M, 64 x 64 of 4 for M up to 128, where bigger blocks would
// leave most of the GPU idle.
//
// The K loop is software-pipelined: each invocation loads step s + 1 of X (fp32) and W (BF16)
// from global memory into registers, the subgroups multiply step s from shared memory, then
// the registers go to shared memory as fp16 (8 to a 16-byte store) into the other of two
// stages: one barrier per step. Every load is bounds-checked (zeros outside); a block wholly
// inside Y without bias is stored straight from the accumulators, any other through shared
// memory, element by element within bounds.
//
// fp16's range is narrower than BF16's: each workgroup tracks, for each of its rows of X and
// of W, the largest magnitude over all of K. Where one is above 65504 (it would become Inf),
// or nonzero but below 2^-10 (the row would lie mostly among fp16's subnormals, whose
// absolute step 2^-24 is then no longer small against it), the block is computed again in
// fp32 FMAs from the original values. A row whose largest value is at least 2^-10 loses,
// to subnormal rounding of its smallest values, at most 2^-25 each: under fp16's own
// rounding of its largest. BF16 weights in fp16's normal range convert exactly.
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#ifndef BM
#define BM 128
#define BN 128
#define SG_M 2
#define SG_N 4
#endif
#define NT (32 * SG_M * SG_N) // invocations; each loads half a row (16 of the 32 k) of X and of W a step
#define TM (BM / 16 / SG_M)   // 16 x 16 tiles of a subgroup, down (2 or 4) and across (2)
#define TN (BN / 16 / SG_N)
#if TN != 2 || (TM != 2 && TM != 4)
#error "the accumulators are named: TM = 2 or 4, TN = 2"
#endif
#define BK 32
#define LDV 5 // uvec4 (8 fp16) per row of a shared tile: BK + 8 fp16, rows on 16-byte boundaries
#define STAGE ((BM + BN) * LDV)
layout(local_size_x = NT) in;
#if BM != NT / 2 || BN != NT / 2
#error "each invocation loads half a row of X and of W"
#endif

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x4[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { uvec4 w4[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint m, n, k;
    uint x0, w0;         // X element (a multiple of 4), W element (a multiple of 8) of [0,0]
    uint y0, y_stride;
    uint bias0, has_bias;
    uint groups_x;
} pc;

// two stages, each BM rows of X then BN rows of W (fp16, in words of two, the first low);
// after the K loop, the subgroups' 16x16 fp32 tiles on their way to Y
shared uvec4 s_t[2 * STAGE];
shared uint s_xmax[BM], s_wmax[BN];
shared uint s_bad;

const float FP16_MAX = 65504.0;
const float SMALL = 1.0 / 1024.0;

uvec4 to_f16x8(vec4 a, vec4 b) {
    return uvec4(packFloat2x16(f16vec2(a.xy)), packFloat2x16(f16vec2(a.zw)), packFloat2x16(f16vec2(b.xy)),
                 packFloat2x16(f16vec2(b.zw)));
}
#define acc_t fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

// The 16 x 16 tile a of Y at row r, column c: straight from the accumulator where the block is
// wholly inside Y without bias (`whole`), else through this subgroup's part of shared memory.
void store_tile(acc_t a, uint r, uint c, bool whole) {
    if (whole) {
        coopMatStoreNV(a, y, pc.y0 + r * pc.y_stride + c, pc.y_stride, false);
        return;
    }
    uint lane = gl_SubgroupInvocationID, at = gl_SubgroupID * 64u; // 256 floats a subgroup, as uvec4
    coopMatStoreNV(a, s_t, at, 4u, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint e = lane; e < 256u; e += gl_SubgroupSize) {
        uint ry = r + e / 16u, cy = c + e % 16u;
        if (ry < pc.m && cy < pc.n)
            y[pc.y0 + ry * pc.y_stride + cy] =
                uintBitsToFloat(s_t[at + e / 4u][e % 4u]) + (pc.has_bias != 0u ? bias[pc.bias0 + cy] : 0.0);
    }
    subgroupBarrier();
}

// NaN's bits order above Inf's: both count as too large
uint mag_bits(float v) { return floatBitsToUint(isnan(v) ? uintBitsToFloat(0x7F800000u) : v); }

void main() {
    uint t = gl_LocalInvocationID.x;
    uint n_base = gl_WorkGroupID.x * BN, m_base = gl_WorkGroupID.y * BM;
    uint sg = gl_SubgroupID, sg_m = sg / SG_N, sg_n = sg % SG_N;
    if (t < BM) s_xmax[t] = 0u;
    if (t < BN) s_wmax[t] = 0u;
    if (t == 0u) s_bad = 0u;
    // the accumulators as named variables, not an array: indexed in loops, the driver kept
    // them in local memory (H200: 256 bytes an invocation, every multiply-add through it)
    acc_t acc00 = acc_t(0.0), acc01 = acc_t(0.0), acc10 = acc_t(0.0), acc11 = acc_t(0.0);
#if TM == 4
    acc_t acc20 = acc_t(0.0), acc21 = acc_t(0.0), acc30 = acc_t(0.0), acc31 = acc_t(0.0);
#endif

    uint lr = t / 2u, lh = t % 2u; // this invocation's row of X and of W, and which half of the step's 32 k
    uint gm = m_base + lr, gn = n_base + lr;
    bool x_row = gm < pc.m, w_row = gn < pc.n;
    uint xi = pc.x0 / 4u + gm * (pc.k / 4u) + lh * 4u; // vec4 index at k = 0
    uint wi = pc.w0 / 8u + gn * (pc.k / 8u) + lh * 2u; // uvec4 index at k = 0
    vec4 ra[4];
    uvec4 rb[2];
    float xmax = 0.0, wmax = 0.0;
    uint steps = (pc.k + BK - 1u) / BK;

    // step s's half rows into registers (K % 8 == 0: each 8 k lie wholly inside K or not)
#define LOAD(s)                                                                   \
    {                                                                             \
        uint k8 = (s) * BK + lh * 16u;                                            \
        [[unroll]] for (uint h = 0u; h < 2u; h++) {                               \
            bool in_k = k8 + 8u * h < pc.k;                                       \
            ra[2u * h] = x_row && in_k ? x4[xi + (s) * 8u + 2u * h] : vec4(0.0);  \
            ra[2u * h + 1u] = x_row && in_k ? x4[xi + (s) * 8u + 2u * h + 1u] : vec4(0.0); \
            rb[h] = w_row && in_k ? w4[wi + (s) * 4u + h] : uvec4(0u);            \
        }                                                                         \
    }
    // the registers as fp16 into stage st, with the rows' largest magnitudes
#define STORE(st)                                                                             \
    {                                                                                         \
        uint base = (st) * STAGE;                                                             \
        [[unroll]] for (uint h = 0u; h < 2u; h++) {                                           \
            vec4 w0 = vec4(bf16_lo(rb[h].x), bf16_hi(rb[h].x), bf16_lo(rb[h].y), bf16_hi(rb[h].y)); \
            vec4 w1 = vec4(bf16_lo(rb[h].z), bf16_hi(rb[h].z), bf16_lo(rb[h].w), bf16_hi(rb[h].w)); \
            vec4 ma = max(abs(ra[2u * h]), abs(ra[2u * h + 1u])), mw = max(abs(w0), abs(w1));  \
            xmax = max(xmax, max(max(ma.x, ma.y), max(ma.z, ma.w)));                          \
            wmax = max(wmax, max(max(mw.x, mw.y), max(mw.z, mw.w)));                          \
            s_t[base + lr * LDV + lh * 2u + h] = to_f16x8(ra[2u * h], ra[2u * h + 1u]);       \
            s_t[base + (BM + lr) * LDV + lh * 2u + h] = to_f16x8(w0, w1);                     \
        }                                                                                     \
    }

    LOAD(0u);
    STORE(0u);
    barrier();
    for (uint s = 0u; s < steps; s++) {
        if (s + 1u < steps) LOAD(s + 1u);
        uint base = (s & 1u) * STAGE;
        [[unroll]] for (uint kk = 0u; kk < BK / 8u; kk += 2u) { // in uvec4: 16 k a time
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fa, fb0, fb1;
            uint a_at = base + sg_m * (BM / SG_M) * LDV + kk, b_at = base + (BM + sg_n * (BN / SG_N)) * LDV + kk;
            coopMatLoadNV(fb0, s_t, b_at, LDV, true);
            coopMatLoadNV(fb1, s_t, b_at + 16u * LDV, LDV, true);
#define MMA_ROW(i)                                                            \
    coopMatLoadNV(fa, s_t, a_at + (i) * 16u * LDV, LDV, false);               \
    acc##i##0 = coopMatMulAddNV(fa, fb0, acc##i##0);                          \
    acc##i##1 = coopMatMulAddNV(fa, fb1, acc##i##1);
            MMA_ROW(0)
            MMA_ROW(1)
#if TM == 4
            MMA_ROW(2)
            MMA_ROW(3)
#endif
        }
        if (s + 1u < steps) STORE((s + 1u) & 1u);
        barrier();
    }
    atomicMax(s_xmax[lr], mag_bits(xmax));
    atomicMax(s_wmax[lr], mag_bits(wmax));
    barrier();
    if (t < BM) {
        float xm = uintBitsToFloat(s_xmax[t]), wm = uintBitsToFloat(s_wmax[t]);
        if (xm > FP16_MAX || (xm > 0.0 && xm < SMALL) || wm > FP16_MAX || (wm > 0.0 && wm < SMALL)) s_bad = 1u;
    }
    barrier();
    if (s_bad == 0u) {
        uint r0 = m_base + sg_m * (BM / SG_M), c0 = n_base + sg_n * (BN / SG_N);
        bool whole = m_base + BM <= pc.m && n_base + BN <= pc.n && pc.has_bias == 0u && pc.y0 % 4u == 0u &&
                     pc.y_stride % 4u == 0u;
        store_tile(acc00, r0, c0, whole);
        store_tile(acc01, r0, c0 + 16u, whole);
        store_tile(acc10, r0 + 16u, c0, whole);
        store_tile(acc11, r0 + 16u, c0 + 16u, whole);
#if TM == 4
        store_tile(acc20, r0 + 32u, c0, whole);
        store_tile(acc21, r0 + 32u, c0 + 16u, whole);
        store_tile(acc30, r0 + 48u, c0, whole);
        store_tile(acc31, r0 + 48u, c0 + 16u, whole);
#endif
        return;
    }
    // fp32 for the whole block: invocation t takes column t % BN and rows t / BN, + NT / BN, ...
    uint c = n_base + t % BN;
    if (c >= pc.n) return;
    float bv = pc.has_bias != 0u ? bias[pc.bias0 + c] : 0.0;
    for (uint r = m_base + t / BN; r < min(m_base + BM, pc.m); r += NT / BN) {
        float s = 0.0;
        for (uint kk = 0u; kk < pc.k; kk += 8u) {
            uint xj = pc.x0 / 4u + (r * pc.k + kk) / 4u;
            vec4 a = x4[xj], b = x4[xj + 1u];
            uvec4 q = w4[pc.w0 / 8u + (c * pc.k + kk) / 8u];
            s += a.x * bf16_lo(q.x) + a.y * bf16_hi(q.x) + a.z * bf16_lo(q.y) + a.w * bf16_hi(q.y) + b.x * bf16_lo(q.z) +
                 b.y * bf16_hi(q.z) + b.z * bf16_lo(q.w) + b.w * bf16_hi(q.w);
        }
        y[pc.y0 + r * pc.y_stride + c] = s + bv;
    }
}
