#version 450
// Elementwise fp32 ops, one variant each (-DOP=...). Each invocation handles 4 values a
// workgroup apart, so every load and store is coalesced; the host splits the work into
// dispatches whose ranges each fit one binding, and passes the element of each binding where
// the dispatch's first value is.
//
// OP_ADD: y = a + b over n values (y may be a or b: the same range bound twice).
// OP_SILU_MUL: out[r, i] = act(in[r * in_stride + i]) * in[r * in_stride + up_col + i],
// act(g) = g / (1 + e^-g) (silu), or (pc.act 1) GELU's tanh approximation as g / (1 + e^(-2y))
// (ops.h). A workgroup covers 4 * WG consecutive values of one row (the grid
// is rows x groups_per_row, flattened).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define OP_ADD 0
#define OP_SILU_MUL 1
layout(local_size_x_id = 0) in;

#if OP == OP_ADD
layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;          // values in this dispatch
    uint a0, b0, y0; // element of each binding holding value 0
    uint groups_x;   // workgroups per row of the dispatch grid
} pc;

void main() {
    uint group = flat_group(pc.groups_x);
    uint i = group * 4u * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
        if (i < pc.n) y[pc.y0 + i] = a[pc.a0 + i] + b[pc.b0 + i];
}

#elif OP == OP_SILU_MUL
layout(std430, set = 0, binding = 0) readonly buffer In { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float y[]; };

layout(push_constant) uniform Push {
    uint rows, width, in_stride, up_col;
    uint in0, out0;      // element of each binding holding row 0's first value
    uint groups_per_row; // workgroups per row: ceil(width / (4 * WG))
    uint groups_x;       // workgroups per row of the dispatch grid
    uint act;            // 0: silu; 1: GELU, tanh approximation
} pc;

void main() {
    uint group = flat_group(pc.groups_x);
    uint r = group / pc.groups_per_row;
    if (r >= pc.rows) return;
    uint i = (group % pc.groups_per_row) * 4u * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint src = pc.in0 + r * pc.in_stride, dst = pc.out0 + r * pc.width;
    for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
        if (i < pc.width) {
            float g = x[src + i];
            float act = pc.act != 0u ? g / (1.0 + exp(-1.5957691216057308 * (g + 0.044715 * g * g * g)))
                                     : g / (1.0 + exp(-g));
            y[dst + i] = act * x[src + pc.up_col + i];
        }
}

#else
#error "OP: OP_ADD or OP_SILU_MUL"
#endif
