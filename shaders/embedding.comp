#version 450
// Embedding lookup: out[r, 0..dim) = fp32(table[offsets[r] .. offsets[r] + dim)), table BF16
// (widened by a shift), offsets uint32 read from the device; a row that does not lie wholly
// within the table's table_elems elements gives zeros. A workgroup covers 4 * WG consecutive
// values of one row (the grid is rows x groups_per_row, flattened), each invocation 4 values
// a workgroup apart: coalesced. Large tables: the host binds one window of the table per
// dispatch; windows overlap by dim elements, and a dispatch copies the rows whose first
// element is in [w_lo, w_last], so every valid row is copied by exactly one dispatch, and
// only the dispatch flagged WRITE_INVALID writes the zeros of the invalid rows. No index
// leaves the window: first - w_lo + dim <= the window's length.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Table { uint16_t table[]; };
layout(std430, set = 0, binding = 1) readonly buffer Offsets { uint offsets[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { float y[]; };

#define ANY_VALID 1u     // table_elems >= dim: some offsets are valid
#define WRITE_INVALID 2u // this dispatch writes the zeros of invalid rows

layout(push_constant) uniform Push {
    uint rows, dim;
    uint offsets0, out0;  // element of each binding holding row 0's value
    uint table0;          // element of the table binding holding table element w_lo
    uint w_lo, w_last;    // this dispatch copies rows whose first element is in [w_lo, w_last]
    uint max_first;       // the largest valid offset: min(table_elems - dim, 2^32 - 1)
    uint flags;
    uint groups_per_row;  // ceil(dim / (4 * WG))
    uint groups_x;        // workgroups per row of the dispatch grid
    float scale;          // each value multiplied by it (1: none)
} pc;

void main() {
    uint group = flat_group(pc.groups_x);
    uint r = group / pc.groups_per_row;
    if (r >= pc.rows) return;
    uint i = (group % pc.groups_per_row) * 4u * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint first = offsets[pc.offsets0 + r];
    uint dst = pc.out0 + r * pc.dim;
    if ((pc.flags & ANY_VALID) == 0u || first > pc.max_first) {
        if ((pc.flags & WRITE_INVALID) != 0u)
            for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
                if (i < pc.dim) y[dst + i] = 0.0;
        return;
    }
    if (first < pc.w_lo || first > pc.w_last) return; // another dispatch's row
    uint src = pc.table0 + (first - pc.w_lo);
    for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
        if (i < pc.dim) y[dst + i] = bf16_lo(uint(table[src + i])) * pc.scale;
}
