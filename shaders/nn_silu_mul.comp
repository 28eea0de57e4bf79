#version 450
// out[r, i] = silu(in[r * in_stride + i]) * in[r * in_stride + up_col + i], silu(g) = g / (1 + e^-g),
// fp32. A workgroup covers 4 * WG consecutive values of one row (the grid is rows x
// groups_per_row, flattened), each invocation 4 values a workgroup apart: coalesced loads of
// the gate and the up halves and coalesced stores. The host splits the rows into dispatches
// whose ranges fit one binding each.
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer In { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float y[]; };

layout(push_constant) uniform Push {
    uint rows, width, in_stride, up_col;
    uint in0, out0;      // element of each binding holding row 0's first value
    uint groups_per_row; // workgroups per row: ceil(width / (4 * WG))
    uint groups_x;       // workgroups per row of the dispatch grid
} pc;

void main() {
    uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * pc.groups_x;
    uint r = group / pc.groups_per_row;
    if (r >= pc.rows) return;
    uint i = (group % pc.groups_per_row) * 4u * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint src = pc.in0 + r * pc.in_stride, dst = pc.out0 + r * pc.width;
    for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
        if (i < pc.width) {
            float g = x[src + i];
            y[dst + i] = g / (1.0 + exp(-g)) * x[src + pc.up_col + i];
        }
}
