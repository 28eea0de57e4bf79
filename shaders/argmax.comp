#version 450
// out[r] (int32) = the first index of the largest of x[r * stride + 0..n) (fp32); NaN never
// wins (comparisons with NaN are false); a row with no value above -inf gives 0, as the CPU
// reference. One workgroup per row: each invocation scans the row WG apart, eight loads in
// flight, keeping its first best (strictly greater replaces); then subgroupMax, subgroupMin of
// the indices holding the maximum, and one (value, index) per subgroup in shared memory
// (2 * MAXSG words), reduced by invocation 0. The host splits the rows into dispatches whose
// x range fits one binding.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MAXSG = 64; // subgroups per workgroup

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { int y[]; };

layout(push_constant) uniform Push {
    uint rows, n, stride;
    uint x0, out0;  // element of each binding holding row 0's value
    uint groups_x;  // workgroups per row of the dispatch grid
} pc;

shared float s_best[MAXSG];
shared uint s_index[MAXSG];

const uint NONE = 0xFFFFFFFFu;

void main() {
    uint r = flat_group(pc.groups_x);
    if (r >= pc.rows) return; // uniform across the workgroup
    const float NEG_INF = uintBitsToFloat(0xFF800000u);
    uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    uint base = pc.x0 + r * pc.stride;
    float best = NEG_INF;
    uint index = NONE;
    for (uint i0 = t; i0 < pc.n; i0 += 8u * wg) {
        float v[8];
        [[unroll]] for (uint u = 0u; u < 8u; u++) {
            uint i = i0 + u * wg;
            v[u] = i < pc.n ? x[base + i] : NEG_INF;
        }
        [[unroll]] for (uint u = 0u; u < 8u; u++)
            if (v[u] > best) {
                best = v[u];
                index = i0 + u * wg;
            }
    }
    float m = subgroupMax(best);
    uint first = subgroupMin(best == m ? index : NONE);
    if (subgroupElect()) {
        s_best[gl_SubgroupID] = m;
        s_index[gl_SubgroupID] = first;
    }
    barrier();
    if (t == 0u) {
        m = s_best[0];
        first = s_index[0];
        for (uint s = 1u; s < gl_NumSubgroups; s++)
            if (s_best[s] > m || (s_best[s] == m && s_index[s] < first)) {
                m = s_best[s];
                first = s_index[s];
            }
        y[pc.out0 + r] = m > NEG_INF ? int(first) : 0;
    }
}
