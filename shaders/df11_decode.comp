#version 450
// DF11 decode of a weight range [a, a + count) of a unit in the segment layout, as
// cuda/df11_decode.cu does: a workgroup takes an item of SEG_SLOTS consecutive segments at a
// time (workgroups loop over the items, the unit's tables loaded once), each invocation
// decodes one segment's exponents into shared memory (df11_segments.glsl), then each subgroup
// joins its segments' exponents with their sign/mantissa bytes and writes BF16, eight weights
// an invocation and step, consecutive invocations writing consecutive weights: one 16-byte store where the
// output is aligned for it (2-byte stores at the range's ends or otherwise). The sign/mantissa
// bytes are loaded before the decode, so that their loads are in flight while it runs. Only
// weights inside the range are written.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#define SEG_SLOTS gl_WorkGroupSize.x

layout(std430, set = 0, binding = 0) readonly buffer Stream { uint stream[]; };
layout(std430, set = 0, binding = 1) readonly buffer Segments { uint segments[]; };
layout(std430, set = 0, binding = 2) readonly buffer Fast { uint fast[]; };
layout(std430, set = 0, binding = 3) readonly buffer Luts { uint luts[]; };
layout(std430, set = 0, binding = 4) readonly buffer SignMantissa { uint sm_words[]; };
layout(std430, set = 0, binding = 4) readonly buffer SignMantissa8 { uvec2 sm8[]; }; // the same, eight at a time
layout(std430, set = 0, binding = 5) writeonly buffer Out { uint16_t out16[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out8 { uvec4 out8[]; }; // the same, eight at a time

layout(push_constant) uniform Push {
    uint seg0;           // the unit's segment where the range starts (a / 64)
    uint skip;           // weights of segment seg0 before the range (a % 64)
    uint count;          // weights in the range
    uint sm0;            // byte of the sign/mantissa binding where segment seg0 starts (a multiple of 8)
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
    // A subgroup takes SG consecutive segments of the item, one a lane, and writes their
    // weights itself: its lanes meet at subgroup barriers, not the workgroup's, so that one
    // slow segment holds up SG lanes, not the workgroup.
    uint sg = gl_SubgroupSize, lane = gl_SubgroupInvocationID, t = gl_SubgroupID * sg + lane;
    uint end = pc.skip + pc.count;                    // the range's end, in weights from segment seg0
    uint n_segs = (end + SEG_WEIGHTS - 1u) / SEG_WEIGHTS;
    uint items = (n_segs + SEG_SLOTS - 1u) / SEG_SLOTS;
    uint slot0 = gl_SubgroupID * sg;                  // the subgroup's first slot
    // the next item's segment start and stream words are loaded while this one is decoded
    uint item = gl_WorkGroupID.x;
    SegCursor cur = SegCursor(0u, 0u, 0u, 0u, 0u);
    if (item * SEG_SLOTS + t < n_segs) cur = seg_open(seg_start(pc.seg0 + item * SEG_SLOTS + t));
    for (; item < items; item += gl_NumWorkGroups.x) {
        uint s = item * SEG_SLOTS + t;                // this invocation's segment, from seg0
        uint next = s + gl_NumWorkGroups.x * SEG_SLOTS;
        bool next_in = item + gl_NumWorkGroups.x < items && next < n_segs;
        uvec2 next_start = next_in ? seg_start(pc.seg0 + next) : uvec2(0u);
        uint base = (item * SEG_SLOTS + slot0) * SEG_WEIGHTS; // the subgroup's first weight, from segment seg0
        // this lane's sign/mantissa bytes: weights base + 8 (lane + sg k), k < 8 (SEG_WEIGHTS / 8
        // steps cover the subgroup's segments), eight a step (sm0 % 8 == 0); past the end, none
        uvec2 s8[SEG_WEIGHTS / 8u];
        [[unroll]] for (uint k = 0u; k < SEG_WEIGHTS / 8u; k++) {
            uint w = base + 8u * (lane + sg * k);
            if (w + 8u <= end) s8[k] = sm8[(pc.sm0 + w) / 8u];
            else s8[k] = uvec2(w < end ? sm_words[(pc.sm0 + w) / 4u] : 0u, w + 4u < end ? sm_words[(pc.sm0 + w) / 4u + 1u] : 0u);
        }
        if (s < n_segs) seg_decode(cur, min(SEG_WEIGHTS, end - s * SEG_WEIGHTS), t);
        if (next_in) cur = seg_open(next_start);
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        [[unroll]] for (uint k = 0u; k < SEG_WEIGHTS / 8u; k++) {
            uint i = 8u * (lane + sg * k), w = base + i;
            if (w < end && w + 8u > pc.skip) {
                uint ew = (slot0 + i / SEG_WEIGHTS) * SEG_PITCH + (i % SEG_WEIGHTS) / 4u;
                uvec2 lo = seg_bf16x4(s_exp[ew], s8[k].x), hi = seg_bf16x4(s_exp[ew + 1u], s8[k].y);
                uint o = pc.out0 + w - pc.skip; // where weight w goes, when w >= skip
                if (w >= pc.skip && w + 8u <= end && o % 8u == 0u) {
                    out8[o / 8u] = uvec4(lo, hi);
                } else {
                    uint v[4] = uint[4](lo.x, lo.y, hi.x, hi.y);
                    for (uint b = 0u; b < 8u; b++)
                        if (w + b >= pc.skip && w + b < end) out16[pc.out0 + w + b - pc.skip] = uint16_t(v[b / 2u] >> (16u * (b % 2u)));
                }
            }
        }
        subgroupBarrier(); // the slots are read by other lanes before the next item writes them
    }
}
