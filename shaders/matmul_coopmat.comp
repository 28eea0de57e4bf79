#version 450
// Y[M,N] = X[M,K] . W[N,K]^T (+ bias) on tensor cores through VK_NV_cooperative_matrix
// (16x16x16, fp16 operands, fp32 accumulation), K % 8 == 0, X and W on 16-byte boundaries. A
// workgroup of 8 subgroups takes a 128x128 block of Y, K in steps of 32: X (fp32) and W (BF16)
// are converted to fp16 into shared memory, then each subgroup multiplies its 64x32 part
// (4x2 tiles). Every load is bounds-checked (zeros outside), every store too.
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
#include "common.glsl"
layout(local_size_x = 256) in;
#define BM 128
#define BN 128
#define BK 32
#define LDS 40 // fp16 elements per row of a shared tile (BK + 8: 16-byte aligned rows, fewer bank conflicts)


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

shared float16_t s_a[BM * LDS];
shared float16_t s_b[BN * LDS];
shared float s_c[8 * 256];     // each subgroup's 16x16 tile on its way to Y
shared uint s_xmax[BM], s_wmax[BN];
shared uint s_bad;

const float FP16_MAX = 65504.0;
const float SMALL = 1.0 / 1024.0;

void main() {
    uint t = gl_LocalInvocationID.x;
    uint n_base = gl_WorkGroupID.x * BN, m_base = gl_WorkGroupID.y * BM;
    uint sg = gl_SubgroupID, sg_m = sg / 4u, sg_n = sg % 4u; // 2 x 4 subgroups: 64 rows x 32 columns each
    if (t < BM) { s_xmax[t] = 0u; s_wmax[t] = 0u; }
    if (t == 0u) s_bad = 0u;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[4][2];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 2u; j++) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    // this invocation loads half a row (16 of the 32 k) of X and of W at each step
    uint lr = t / 2u, lk = (t % 2u) * 16u;
    uint gm = m_base + lr, gn = n_base + lr;
    float xmax = 0.0, wmax = 0.0;
    for (uint k0 = 0u; k0 < pc.k; k0 += BK) {
        uint gk = k0 + lk; // 16 k from here: two 8-element halves, each inside K or not (K % 8 == 0)
        for (uint h = 0u; h < 2u; h++) {
            uint kk = gk + 8u * h;
            vec4 a = vec4(0.0), b = vec4(0.0);
            uvec4 q = uvec4(0u);
            if (gm < pc.m && kk < pc.k) {
                uint xi = pc.x0 / 4u + (gm * pc.k + kk) / 4u;
                a = x4[xi];
                b = x4[xi + 1u];
            }
            if (gn < pc.n && kk < pc.k) q = w4[pc.w0 / 8u + (gn * pc.k + kk) / 8u];
            vec4 w0 = vec4(bf16_lo(q.x), bf16_hi(q.x), bf16_lo(q.y), bf16_hi(q.y));
            vec4 w1 = vec4(bf16_lo(q.z), bf16_hi(q.z), bf16_lo(q.w), bf16_hi(q.w));
            vec4 ma = max(abs(a), abs(b)), mw = max(abs(w0), abs(w1));
            xmax = max(xmax, max(max(ma.x, ma.y), max(ma.z, ma.w)));
            wmax = max(wmax, max(max(mw.x, mw.y), max(mw.z, mw.w)));
            uint at = lr * LDS + lk + 8u * h;
            f16vec4 ha = f16vec4(a), hb = f16vec4(b), hw0 = f16vec4(w0), hw1 = f16vec4(w1);
            for (uint e = 0u; e < 4u; e++) {
                s_a[at + e] = ha[e];
                s_a[at + 4u + e] = hb[e];
                s_b[at + e] = hw0[e];
                s_b[at + 4u + e] = hw1[e];
            }
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk += 16u) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fa[4];
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fb[2];
            for (uint i = 0u; i < 4u; i++) coopMatLoadNV(fa[i], s_a, (sg_m * 64u + i * 16u) * LDS + kk, LDS, false);
            for (uint j = 0u; j < 2u; j++) coopMatLoadNV(fb[j], s_b, (sg_n * 32u + j * 16u) * LDS + kk, LDS, true);
            for (uint i = 0u; i < 4u; i++)
                for (uint j = 0u; j < 2u; j++) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
        }
        barrier();
    }
    // the rows' largest magnitudes (NaN's bits order above Inf's: both count as too large)
    atomicMax(s_xmax[lr], floatBitsToUint(isnan(xmax) ? uintBitsToFloat(0x7F800000u) : xmax));
    atomicMax(s_wmax[lr], floatBitsToUint(isnan(wmax) ? uintBitsToFloat(0x7F800000u) : wmax));
    barrier();
    if (t < BM) {
        float xm = uintBitsToFloat(s_xmax[t]), wm = uintBitsToFloat(s_wmax[t]);
        if (xm > FP16_MAX || (xm > 0.0 && xm < SMALL) || wm > FP16_MAX || (wm > 0.0 && wm < SMALL)) s_bad = 1u;
    }
    barrier();
    if (s_bad == 0u) {
        uint lane = gl_SubgroupInvocationID;
        for (uint i = 0u; i < 4u; i++)
            for (uint j = 0u; j < 2u; j++) {
                coopMatStoreNV(acc[i][j], s_c, sg * 256u, 16u, false);
                subgroupMemoryBarrierShared();
                subgroupBarrier();
                for (uint e = lane; e < 256u; e += gl_SubgroupSize) {
                    uint r = m_base + sg_m * 64u + i * 16u + e / 16u, c = n_base + sg_n * 32u + j * 16u + e % 16u;
                    if (r < pc.m && c < pc.n)
                        y[pc.y0 + r * pc.y_stride + c] = s_c[sg * 256u + e] + (pc.has_bias != 0u ? bias[pc.bias0 + c] : 0.0);
                }
                subgroupBarrier();
            }
        return;
    }
    // fp32 for the whole block: invocation t takes column t % 128 and rows t / 128, + 2, ...
    uint c = n_base + t % BN;
    if (c >= pc.n) return;
    float bv = pc.has_bias != 0u ? bias[pc.bias0 + c] : 0.0;
    for (uint r = m_base + t / BN; r < min(m_base + BM, pc.m); r += 2u) {
        float s = 0.0;
        for (uint kk = 0u; kk < pc.k; kk += 8u) {
            uint xi = pc.x0 / 4u + (r * pc.k + kk) / 4u;
            vec4 a = x4[xi], b = x4[xi + 1u];
            uvec4 q = w4[pc.w0 / 8u + (c * pc.k + kk) / 8u];
            s += a.x * bf16_lo(q.x) + a.y * bf16_hi(q.x) + a.z * bf16_lo(q.y) + a.w * bf16_hi(q.y) + b.x * bf16_lo(q.z) +
                 b.y * bf16_hi(q.z) + b.z * bf16_lo(q.w) + b.w * bf16_hi(q.w);
        }
        y[pc.y0 + r * pc.y_stride + c] = s + bv;
    }
}
