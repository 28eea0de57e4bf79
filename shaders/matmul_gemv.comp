#version 450
// Y[M,N] = X[M,K] . W[N,K]^T (+ bias) for M <= 8: a bandwidth-bound pass over W. Each group of
// TPR invocations owns one row of W and strides over K; partial sums meet in shared memory.
// BF16 is widened to fp32 by a shift. VEC (compile-time): rows start on 8-element boundaries
// and X on 4 floats, so W is read 8 values per 16-byte load; otherwise element by element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TPR = 32;  // invocations per row (a power of two)
#define MAX_M 8

#if VEC
layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x4[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { uvec4 w4[]; };
#else
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { uint w[]; };
#endif
layout(std430, set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint m, n, k;        // n: rows of W in this dispatch
    uint x0;             // element of the X binding where X[0,0] is
    uint w0;             // BF16 element of the W binding where row 0 starts
    uint y0, y_stride;   // element of Y[0,0] in the Y binding; elements between Y rows
    uint bias0, has_bias;
    uint groups_x;       // workgroups per row of the dispatch grid
} pc;

shared float s_sum[MAX_M * gl_WorkGroupSize.x];

void main() {
    uint t = gl_LocalInvocationID.x;
    uint rows_per_group = gl_WorkGroupSize.x / TPR;
    uint group = flat_group(pc.groups_x);
    uint row = group * rows_per_group + t / TPR;
    uint lane = t % TPR;
    float acc[MAX_M];
    for (uint i = 0u; i < MAX_M; i++) acc[i] = 0.0;
    if (row < pc.n) {
#if VEC
        uint row4 = (pc.w0 + row * pc.k) / 8u; // uvec4 index of the row's start
        uint x4_0 = pc.x0 / 4u;
        uint k8 = pc.k / 8u;
        for (uint j = lane; j < k8; j += TPR) {
            uvec4 q = w4[row4 + j];
            for (uint i = 0u; i < pc.m; i++) {
                vec4 a = x4[x4_0 + (i * pc.k) / 4u + 2u * j];
                vec4 b = x4[x4_0 + (i * pc.k) / 4u + 2u * j + 1u];
                acc[i] += a.x * bf16_lo(q.x) + a.y * bf16_hi(q.x) + a.z * bf16_lo(q.y) + a.w * bf16_hi(q.y) +
                          b.x * bf16_lo(q.z) + b.y * bf16_hi(q.z) + b.z * bf16_lo(q.w) + b.w * bf16_hi(q.w);
            }
        }
#else
        uint e0 = pc.w0 + row * pc.k;
        for (uint kk = lane; kk < pc.k; kk += TPR) {
            uint e = e0 + kk;
            uint word = w[e >> 1];
            float wv = bf16_half(word, e & 1u);
            for (uint i = 0u; i < pc.m; i++) acc[i] += x[pc.x0 + i * pc.k + kk] * wv;
        }
#endif
    }
    for (uint i = 0u; i < MAX_M; i++) s_sum[i * gl_WorkGroupSize.x + t] = acc[i];
    barrier();
    for (uint s = TPR / 2u; s > 0u; s >>= 1) {
        if (lane < s)
            for (uint i = 0u; i < MAX_M; i++) s_sum[i * gl_WorkGroupSize.x + t] += s_sum[i * gl_WorkGroupSize.x + t + s];
        barrier();
    }
    if (lane == 0u && row < pc.n) {
        float b = pc.has_bias != 0u ? bias[pc.bias0 + row] : 0.0;
        for (uint i = 0u; i < pc.m; i++) y[pc.y0 + i * pc.y_stride + row] = s_sum[i * gl_WorkGroupSize.x + t] + b;
    }
}
