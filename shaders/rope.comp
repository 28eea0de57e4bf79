#version 450
// Rotary embedding in place, rotate-half convention: for each (row, head) vector v of dim
// values and i < half = rot/2 (rot <= dim: partial rotary leaves the rest as it is), a = float(positions[r]) * inv_freq[i] (fp32, not contracted),
// (v[i], v[i+half]) <- (v[i] cos a - v[i+half] sin a, v[i+half] cos a + v[i] sin a).
// One invocation per (head, i) pair; a workgroup covers WG consecutive pairs of one row (the
// grid is rows x groups_per_row, flattened), so loads and stores are coalesced. cos and sin:
// GLSL's builtins are only specified on [-pi, pi] (fast hardware versions reduce the angle
// with one fp32 multiply and lose accuracy as it grows: positions reach 10^5), so the angle
// is reduced by pi/2 in exact Cody-Waite steps and cos and sin come from the Cephes minimax
// polynomials on [-pi/4, pi/4]. Error against cos/sin in double of the same fp32 angle,
// measured on the host with and without fused multiply-adds: 1.4e-7 to |a| = 1e6, 3e-5 to
// 2^31 (any int32 position). The host splits the rows into dispatches whose x range fits one
// binding.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Positions { int positions[]; };
layout(std430, set = 0, binding = 2) readonly buffer InvFreq { float inv_freq[]; };

layout(push_constant) uniform Push {
    uint rows, heads, half_dim, row_stride;
    uint x0, pos0, inv0;  // element of each binding holding row 0's (or inv_freq's) first value
    uint groups_per_row;  // ceil(heads * half_dim / WG)
    uint groups_x;        // workgroups per row of the dispatch grid
    uint dim;             // values per head (half_dim * 2 of them rotated)
    float scale;          // cos and sin multiplied by it (1: none)
} pc;

// pi/2 as seven parts of 5 significant bits (their sum is off by 1.4e-21): the product of a
// part with an integer below 2^19 is exact, with or without fused multiply-adds.
const float PIO2[7] = float[7](1.5625f, 0.00830078125f, -4.5299530029296875e-06f, 7.4505805969238281e-08f,
                               9.8953023552894592e-10f, 2.6147972675971687e-12f, -5.1453114636784356e-14f);

// (cos a, sin a) for an fp32 angle.
vec2 cos_sin(float a) {
    // a = (kh + kl) * pi/2 + r, kh a multiple of 4096 and |kl| < 4096 so that every product
    // is exact; a second step brings r into [-pi/4, pi/4] where k is too large to be exact.
    float k = roundEven(a * 0.636619772367581343f);
    float kh = trunc(k * (1.0f / 4096.0f)) * 4096.0f, kl = k - kh;
    precise float r = a;
    [[unroll]] for (uint i = 0u; i < 7u; i++) {
        r = fma(-kh, PIO2[i], r);
        r = fma(-kl, PIO2[i], r);
    }
    float k2 = roundEven(r * 0.636619772367581343f);
    [[unroll]] for (uint i = 0u; i < 7u; i++) r = fma(-k2, PIO2[i], r);
    float z = r * r;
    float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
    float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z +
              1.0f;
    uint q = uint(int(kl) + int(k2)) & 3u; // kh is a multiple of 4
    if (q == 0u) return vec2(c, s);
    if (q == 1u) return vec2(-s, c);
    if (q == 2u) return vec2(-c, -s);
    return vec2(s, -c);
}

void main() {
    uint group = flat_group(pc.groups_x);
    uint r = group / pc.groups_per_row;
    if (r >= pc.rows) return;
    uint item = (group % pc.groups_per_row) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (item >= pc.heads * pc.half_dim) return;
    uint h = item / pc.half_dim, i = item % pc.half_dim;
    precise float a = float(positions[pc.pos0 + r]) * inv_freq[pc.inv0 + i];
    vec2 cs = cos_sin(a);
    if (pc.scale != 1.0) cs *= pc.scale;
    uint at = pc.x0 + r * pc.row_stride + h * pc.dim + i;
    float lo = x[at], hi = x[at + pc.half_dim];
    x[at] = lo * cs.x - hi * cs.y;
    x[at + pc.half_dim] = hi * cs.x + lo * cs.y;
}
