#version 450
// Y[M,N] = X[M,K] . W[N,K]^T (+ bias) with W rows of a DF11 unit in the segment layout, M <= 16
// (MM), K % 64 == 0, rows starting on a segment, X on 16-byte boundaries: the twin of
// matmul_gemv_sg.comp at one row per row group, giving its bits over the decoded weights.
// A row group (TPR lanes: the subgroup) takes a row in rounds of TPR segments, one per lane,
// decoded into shared memory (df11_segments.glsl); then lane l takes the round's 8-weight
// vectors l, l + TPR, ... as matmul_gemv_sg does, joining each one's exponents (another lane's
// segment) with its sign/mantissa bytes (loaded before the decode). Workgroups loop over the
// rows, the unit's tables loaded once.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "gemv_sg.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TPR = 32; // lanes per row group: the subgroup size
layout(constant_id = 2) const uint MM = 1;   // rows of X (M)
#define SEG_SLOTS gl_WorkGroupSize.x

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x4[]; };
layout(std430, set = 0, binding = 1) readonly buffer Stream { uint stream[]; };
layout(std430, set = 0, binding = 2) readonly buffer Segments { uint segments[]; };
layout(std430, set = 0, binding = 3) readonly buffer Fast { uint fast[]; };
layout(std430, set = 0, binding = 4) readonly buffer Luts { uint luts[]; };
layout(std430, set = 0, binding = 5) readonly buffer SignMantissa { uvec2 sm2[]; };
layout(std430, set = 0, binding = 6) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 7) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint m, n, k;        // n: rows in this dispatch; m == MM
    uint x0;             // element of the X binding where X[0,0] is (a multiple of 4)
    uint y0, y_stride;   // element of Y[0,0] in the Y binding; elements between Y rows
    uint bias0, has_bias;
    uint seg_first;      // the unit's segment where row 0 starts
    uint sm0;            // byte of the sign/mantissa binding where row 0 starts (a multiple of 8)
    uint stream_word0;   // the unit's stream word where the stream binding starts
    uint stream_words;   // words in the stream binding
    uint seg_rec0;       // the first index record in the segments binding
    uint seg_word0;      // the binding's word where that record starts
    uint n_tables;
} pc;

#include "df11_segments.glsl"

void main() {
    seg_load_tables(pc.n_tables);
    uint lane = gl_SubgroupInvocationID % TPR;
    uint group = (gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID) / TPR;
    uint groups = gl_WorkGroupSize.x / TPR;
    uint slot0 = group * TPR; // the row group's slots in s_exp
    uint k8 = pc.k / 8u, xrow = pc.k / 4u, xv0 = pc.x0 / 4u, row_segs = pc.k / SEG_WEIGHTS;
    uint rounds = (row_segs + TPR - 1u) / TPR;
    precise float acc[MM];
    uint stride = gl_NumWorkGroups.x * groups;
    // this lane's segment of round rd of a row, and whether it is one
    #define SEG_OF(row, rd) (pc.seg_first + (row) * row_segs + (rd) * TPR + lane)
    #define SEG_IN(row, rd) ((row) < pc.n && (rd) * TPR + lane < row_segs)
    // the next round's segment start and stream words are loaded while this round is decoded
    SegCursor cur = SegCursor(0u, 0u, 0u, 0u, 0u);
    if (SEG_IN(gl_WorkGroupID.x * groups + group, 0u)) cur = seg_open(seg_start(SEG_OF(gl_WorkGroupID.x * groups + group, 0u)));
    // every row group of the workgroup takes the same number of rows and rounds, so that the
    // subgroup barriers are reached together
    for (uint base = gl_WorkGroupID.x * groups; base < pc.n; base += stride) {
        uint row = base + group;
        bool live = row < pc.n;
        for (uint m = 0u; m < MM; m++) acc[m] = 0.0;
        for (uint rd = 0u; rd < rounds; rd++) {
            uint next_row = rd + 1u < rounds ? row : row + stride, next_rd = rd + 1u < rounds ? rd + 1u : 0u;
            bool next_in = SEG_IN(next_row, next_rd);
            uvec2 next_start = next_in ? seg_start(SEG_OF(next_row, next_rd)) : uvec2(0u);
            // the sign/mantissa bytes of this lane's vectors, loaded before the decode
            uvec2 sv[8];
            [[unroll]] for (uint i = 0u; i < 8u; i++) {
                uint j = rd * TPR * 8u + lane + TPR * i;
                sv[i] = live && j < k8 ? sm2[pc.sm0 / 8u + row * k8 + j] : uvec2(0u);
            }
            if (SEG_IN(row, rd)) seg_decode(cur, SEG_WEIGHTS, slot0 + lane);
            if (next_in) cur = seg_open(next_start);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            [[unroll]] for (uint i = 0u; i < 8u; i++) {
                uint v = lane + TPR * i, j = rd * TPR * 8u + v; // the vector in the round, in the row
                if (!live || j >= k8) break;
                uint ew = (slot0 + v / 8u) * SEG_PITCH + (v % 8u) * 2u;
                uint e0 = s_exp[ew], e1 = s_exp[ew + 1u];
                uvec2 s = sv[i];
                vec4 w0 = seg_weights4(e0, s.x), w1 = seg_weights4(e1, s.y);
                for (uint m = 0u; m < MM; m++) {
                    vec4 a = x4[xv0 + m * xrow + 2u * j], b = x4[xv0 + m * xrow + 2u * j + 1u];
                    acc[m] = dot8(acc[m], a, b, w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w);
                }
            }
            subgroupBarrier(); // the slots are read by other lanes before the next round writes them
        }
        for (uint m = 0u; m < MM; m++) acc[m] = lanes_sum(acc[m], TPR);
        if (lane == 0u && live) {
            float b = pc.has_bias != 0u ? bias[pc.bias0 + row] : 0.0;
            for (uint m = 0u; m < MM; m++) y[pc.y0 + m * pc.y_stride + row] = acc[m] + b;
        }
    }
}
