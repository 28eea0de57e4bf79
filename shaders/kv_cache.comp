#version 450
// Stores K and V rows into caches of (n_slots, max_ctx, width) values, fp32 or (push constant
// bf16) BF16 rounded to nearest even: source row r goes to (slots[r], positions[r]), K from
// src[r * src_stride + k_col ..], V from src[r * src_stride + v_col ..]; rows whose slot or
// position is out of range are skipped. The caches are bound as words: an fp32 value, or two
// BF16 ones (width is even then, so a row starts on a word). A workgroup covers 4 * WG
// consecutive words of one row (the grid is rows x groups_per_row, flattened), each invocation
// 4 words a workgroup apart: coalesced. Caches larger than one binding: the host binds, per
// dispatch, the cache entries of slots [slot_lo, slot_end) and positions [key_lo, key_end)
// (whole slots, or a range of positions of one slot), and a dispatch stores only the rows that
// land there, so every index stays inside the bindings.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { float src[]; };
layout(std430, set = 0, binding = 1) readonly buffer Slots { int slots[]; };
layout(std430, set = 0, binding = 2) readonly buffer Positions { int positions[]; };
layout(std430, set = 0, binding = 3) writeonly buffer KCache { uint kc[]; };
layout(std430, set = 0, binding = 4) writeonly buffer VCache { uint vc[]; };

layout(push_constant) uniform Push {
    uint rows, width, src_stride, k_col, v_col;
    uint src0, slots0, pos0; // element of each binding holding row 0's first value
    uint k0, v0;             // word of each cache binding holding entry (slot_lo, key_lo)
    uint slot_lo, slot_end, key_lo, key_end, max_ctx;
    uint groups_per_row;     // ceil(words per row / (4 * WG))
    uint groups_x;           // workgroups per row of the dispatch grid
    uint bf16;               // nonzero: BF16 caches
} pc;

void main() {
    uint group = flat_group(pc.groups_x);
    uint r = group / pc.groups_per_row;
    if (r >= pc.rows) return;
    int slot = slots[pc.slots0 + r], pos = positions[pc.pos0 + r];
    if (slot < 0 || uint(slot) < pc.slot_lo || uint(slot) >= pc.slot_end || pos < 0 || uint(pos) < pc.key_lo ||
        uint(pos) >= pc.key_end)
        return;
    bool bf16 = pc.bf16 != 0u;
    uint words = bf16 ? pc.width / 2u : pc.width;
    uint entry = ((uint(slot) - pc.slot_lo) * pc.max_ctx + (uint(pos) - pc.key_lo)) * words;
    uint i = (group % pc.groups_per_row) * 4u * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint kr = pc.src0 + r * pc.src_stride + pc.k_col, vr = pc.src0 + r * pc.src_stride + pc.v_col;
    for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
        if (i < words) {
            if (bf16) {
                kc[pc.k0 + entry + i] = f32_to_bf16(src[kr + 2u * i]) | f32_to_bf16(src[kr + 2u * i + 1u]) << 16;
                vc[pc.v0 + entry + i] = f32_to_bf16(src[vr + 2u * i]) | f32_to_bf16(src[vr + 2u * i + 1u]) << 16;
            } else {
                kc[pc.k0 + entry + i] = floatBitsToUint(src[kr + i]);
                vc[pc.v0 + entry + i] = floatBitsToUint(src[vr + i]);
            }
        }
}
