#version 450
// Y[M,N] = X[M,K] . W[N,K]^T (+ bias), tiled: a 64x64 block of Y per workgroup, K in steps of
// 16 through shared memory (BF16 widened to fp32 on load), 4x4 outputs per invocation. Every
// load and store is bounds-checked, so any M, N, K works.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
#define BM 64
#define BN 64
#define BK 16

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint m, n, k;
    uint x0, w0;
    uint y0, y_stride;
    uint bias0, has_bias;
    uint groups_x;
} pc;

shared float s_a[BK][BM + 1];
shared float s_b[BK][BN + 1];

void main() {
    uint t = gl_LocalInvocationID.x;
    uint tx = t % 16u, ty = t / 16u;
    uint n_base = gl_WorkGroupID.x * BN, m_base = gl_WorkGroupID.y * BM;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;
    for (uint k0 = 0u; k0 < pc.k; k0 += BK) {
        for (uint e = t; e < BM * BK; e += 256u) {
            uint r = e / BK, c = e % BK;
            uint gm = m_base + r, gk = k0 + c;
            s_a[c][r] = (gm < pc.m && gk < pc.k) ? x[pc.x0 + gm * pc.k + gk] : 0.0;
            uint gn = n_base + r;
            float wv = 0.0;
            if (gn < pc.n && gk < pc.k) {
                uint idx = pc.w0 + gn * pc.k + gk;
                uint word = w[idx >> 1];
                wv = bf16_half(word, idx & 1u);
            }
            s_b[c][r] = wv;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            float a[4], b[4];
            for (uint i = 0u; i < 4u; i++) a[i] = s_a[kk][ty * 4u + i];
            for (uint j = 0u; j < 4u; j++) b[j] = s_b[kk][tx * 4u + j];
            for (uint i = 0u; i < 4u; i++)
                for (uint j = 0u; j < 4u; j++) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }
    for (uint i = 0u; i < 4u; i++) {
        uint gm = m_base + ty * 4u + i;
        if (gm >= pc.m) continue;
        for (uint j = 0u; j < 4u; j++) {
            uint gn = n_base + tx * 4u + j;
            if (gn >= pc.n) continue;
            float b = pc.has_bias != 0u ? bias[pc.bias0 + gn] : 0.0;
            y[pc.y0 + gm * pc.y_stride + gn] = acc[i][j] + b;
        }
    }
}
