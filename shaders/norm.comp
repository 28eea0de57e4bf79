#version 450
// RMSNorm of each (row, head) vector v = x[r * row_stride + h * dim + 0..dim):
// y = v / sqrt(mean(v^2) + eps) * w, fp32 throughout (y may be x: each value is read and then
// written by the same invocation). With a residual (pc.residual != 0) v = x + residual, stored
// to sum (which may be x) in the first pass and read back from it in the second, by the same
// invocation; without one, R and S are bound to x and y and not used. One workgroup per
// vector (the grid is rows x heads, flattened): invocations stride over the vector
// (coalesced, four loads in flight), the sum of squares meets by subgroupAdd and one shared
// word per subgroup. Shared memory: WG floats (sized for subgroups of one). The host splits
// the rows into dispatches whose x and y ranges fit one binding each.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;

// Each element is read and written by one invocation only (restrict); each pass loads four
// values before it stores any: with a store after each load
// (as first written) the H200's compiler kept one load in flight (16 registers; 21.6 us for a
// 4096-wide row with residual, against 8.4 on CUDA), restrict or not.
layout(std430, set = 0, binding = 0) restrict readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) restrict readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 2) restrict writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 3) restrict readonly buffer R { float res[]; };
layout(std430, set = 0, binding = 4) restrict buffer S { float sum[]; };

layout(push_constant) uniform Push {
    uint rows, heads, dim, row_stride;
    uint x0, y0, w0; // element of each binding holding row 0's (or w's) first value
    float eps;
    uint groups_x;   // workgroups per row of the dispatch grid
    uint r0, s0;     // as x0 for R and S
    uint residual;   // 1: v = x + res, stored to sum
} pc;

shared float s_sum[gl_WorkGroupSize.x]; // one per subgroup (sized for subgroups of one)

void main() {
    uint group = flat_group(pc.groups_x);
    if (group >= pc.rows * pc.heads) return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x;
    uint r = group / pc.heads, h = group % pc.heads;
    uint at = r * pc.row_stride + h * pc.dim;
    uint wg = gl_WorkGroupSize.x;
    float ss = 0.0;
    for (uint i0 = t; i0 < pc.dim; i0 += 4u * wg) {
        // the first pass: x, or x + res stored to sum; every load before any store
        float v[4], r[4];
        [[unroll]] for (uint u = 0u; u < 4u; u++) v[u] = i0 + u * wg < pc.dim ? x[pc.x0 + at + i0 + u * wg] : 0.0;
        if (pc.residual != 0u) {
            [[unroll]] for (uint u = 0u; u < 4u; u++) r[u] = i0 + u * wg < pc.dim ? res[pc.r0 + at + i0 + u * wg] : 0.0;
            [[unroll]] for (uint u = 0u; u < 4u; u++) {
                v[u] += r[u];
                if (i0 + u * wg < pc.dim) sum[pc.s0 + at + i0 + u * wg] = v[u];
            }
        }
        ss += (v[0] * v[0] + v[1] * v[1]) + (v[2] * v[2] + v[3] * v[3]);
    }
    ss = subgroupAdd(ss);
    if (subgroupElect()) s_sum[gl_SubgroupID] = ss;
    barrier();
    float total = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; i++) total += s_sum[i];
    float inv = 1.0 / sqrt(total / float(pc.dim) + pc.eps);
    for (uint i0 = t; i0 < pc.dim; i0 += 4u * wg) { // as the first pass: every load before any store
        float v[4], g[4];
        [[unroll]] for (uint u = 0u; u < 4u; u++) {
            uint i = min(i0 + u * wg, pc.dim - 1u);
            v[u] = pc.residual != 0u ? sum[pc.s0 + at + i] : x[pc.x0 + at + i];
            g[u] = w[pc.w0 + i];
        }
        [[unroll]] for (uint u = 0u; u < 4u; u++)
            if (i0 + u * wg < pc.dim) y[pc.y0 + at + i0 + u * wg] = v[u] * inv * g[u];
    }
}
