#version 450
// Y[M,N] = X[M,K] . W[N,K]^T (+ bias) for M <= 16 (MM, specialized), K % 8 == 0, W and X on
// 16-byte boundaries: a pass over W at the memory's pace. A lane group of TPR invocations (the
// subgroup's size) takes RPT consecutive rows of W; lane l takes each row's 8-weight vectors
// l, l + TPR, ... (gemv_sg.glsl), so that X, read once per vector, serves RPT rows. The sums
// meet by subgroup shuffles; no shared memory, no barriers.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "gemv_sg.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TPR = 32; // lanes per row group: the subgroup size
layout(constant_id = 2) const uint RPT = 1;  // rows per row group
layout(constant_id = 3) const uint MM = 1;   // rows of X (M)

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x4[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { uvec4 w4[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint m, n, k;        // n: rows of W in this dispatch; m == MM
    uint x0;             // element of the X binding where X[0,0] is (a multiple of 4)
    uint w0;             // BF16 element of the W binding where row 0 starts (a multiple of 8)
    uint y0, y_stride;   // element of Y[0,0] in the Y binding; elements between Y rows
    uint bias0, has_bias;
    uint groups_x;       // workgroups per row of the dispatch grid
} pc;

void main() {
    uint lane = gl_SubgroupInvocationID % TPR;
    uint group = (gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID) / TPR; // the row group in the workgroup
    uint row0 = (flat_group(pc.groups_x) * (gl_WorkGroupSize.x / TPR) + group) * RPT;
    precise float acc[MM * RPT];
    for (uint i = 0u; i < MM * RPT; i++) acc[i] = 0.0;
    uint k8 = pc.k / 8u, xrow = pc.k / 4u, xv0 = pc.x0 / 4u;
    uint wrow[RPT];
    bool live[RPT];
    for (uint r = 0u; r < RPT; r++) {
        live[r] = row0 + r < pc.n;
        wrow[r] = pc.w0 / 8u + min(row0 + r, pc.n - 1u) * k8;
    }
    for (uint j = lane; j < k8; j += TPR) {
        uvec4 q[RPT];
        for (uint r = 0u; r < RPT; r++) q[r] = live[r] ? w4[wrow[r] + j] : uvec4(0u);
        for (uint m = 0u; m < MM; m++) {
            vec4 a = x4[xv0 + m * xrow + 2u * j], b = x4[xv0 + m * xrow + 2u * j + 1u];
            for (uint r = 0u; r < RPT; r++)
                acc[m * RPT + r] = dot8(acc[m * RPT + r], a, b, bf16_lo(q[r].x), bf16_hi(q[r].x), bf16_lo(q[r].y),
                                        bf16_hi(q[r].y), bf16_lo(q[r].z), bf16_hi(q[r].z), bf16_lo(q[r].w),
                                        bf16_hi(q[r].w));
        }
    }
    for (uint i = 0u; i < MM * RPT; i++) acc[i] = lanes_sum(acc[i], TPR);
    if (lane == 0u)
        for (uint r = 0u; r < RPT; r++) {
            if (!live[r]) continue;
            float b = pc.has_bias != 0u ? bias[pc.bias0 + row0 + r] : 0.0;
            for (uint m = 0u; m < MM; m++) y[pc.y0 + m * pc.y_stride + row0 + r] = acc[m * RPT + r] + b;
        }
}
