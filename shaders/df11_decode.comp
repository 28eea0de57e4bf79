#version 450
// DF11 decode of a weight range [a, a + count) of a unit in the segment layout, as
// cuda/df11_decode.cu does: a workgroup takes an item of SEG_SLOTS consecutive segments at a
// time (workgroups loop over the items, the unit's tables loaded once), each invocation
// decodes one segment's exponents into shared memory (df11_segments.glsl), then the workgroup
// joins them with the sign/mantissa bytes and writes BF16, four weights an invocation and step,
// consecutive invocations writing consecutive weights: one 8-byte store where the output is
// aligned for it (2-byte stores, whose partial sectors took 70% of the decode's time on the
// H200, at the range's ends or otherwise). Only weights inside the range are written.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#define SEG_SLOTS gl_WorkGroupSize.x

layout(std430, set = 0, binding = 0) readonly buffer Stream { uint stream[]; };
layout(std430, set = 0, binding = 1) readonly buffer Segments { uint segments[]; };
layout(std430, set = 0, binding = 2) readonly buffer Fast { uint fast[]; };
layout(std430, set = 0, binding = 3) readonly buffer Luts { uint luts[]; };
layout(std430, set = 0, binding = 4) readonly buffer SignMantissa { uint sm_words[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { uint16_t out16[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out4 { uvec2 out4[]; }; // the same, four at a time

layout(push_constant) uniform Push {
    uint seg0;           // the unit's segment where the range starts (a / 64)
    uint skip;           // weights of segment seg0 before the range (a % 64)
    uint count;          // weights in the range
    uint sm0;            // byte of the sign/mantissa binding where segment seg0 starts (a multiple of 4)
    uint out0;           // element of the output binding where weight a goes
    uint stream_word0;   // the unit's stream word where the stream binding starts
    uint stream_words;   // words in the stream binding
    uint seg_rec0;       // the first index record in the segments binding
    uint seg_word0;      // the binding's word where that record starts
    uint n_tables;
} pc;

#include "df11_segments.glsl"

void main() {
    seg_load_tables(pc.n_tables);
    uint t = gl_LocalInvocationID.x;
    uint end = pc.skip + pc.count;                    // the range's end, in weights from segment seg0
    uint n_segs = (end + SEG_WEIGHTS - 1u) / SEG_WEIGHTS;
    uint items = (n_segs + SEG_SLOTS - 1u) / SEG_SLOTS;
    for (uint item = gl_WorkGroupID.x; item < items; item += gl_NumWorkGroups.x) {
        uint s = item * SEG_SLOTS + t;                // this invocation's segment, from seg0
        if (s < n_segs) seg_decode(seg_open(seg_start(pc.seg0 + s)), min(SEG_WEIGHTS, end - s * SEG_WEIGHTS), t);
        barrier();
        uint base = item * SEG_SLOTS * SEG_WEIGHTS;   // the item's first weight, from segment seg0
        // four weights a step: one word of exponents, one of sign/mantissa bytes (sm0 % 4 == 0)
        for (uint i = 4u * t; i < SEG_SLOTS * SEG_WEIGHTS; i += 4u * SEG_SLOTS) {
            uint w = base + i;
            if (w >= end) break;
            if (w + 4u <= pc.skip) continue;
            uint e = s_exp[(i / SEG_WEIGHTS) * SEG_PITCH + (i % SEG_WEIGHTS) / 4u];
            uint sm = sm_words[(pc.sm0 + w) / 4u];
            uint v[4];
            for (uint b = 0u; b < 4u; b++) v[b] = seg_join((e >> (8u * b)) & 0xFFu, (sm >> (8u * b)) & 0xFFu);
            uint o = pc.out0 + w - pc.skip; // where weight w goes, when w >= skip
            if (w >= pc.skip && w + 4u <= end && o % 4u == 0u) {
                out4[o / 4u] = uvec2(v[0] | v[1] << 16, v[2] | v[3] << 16);
            } else {
                for (uint b = 0u; b < 4u; b++)
                    if (w + b >= pc.skip && w + b < end) out16[pc.out0 + w + b - pc.skip] = uint16_t(v[b]);
            }
        }
        barrier();
    }
}
