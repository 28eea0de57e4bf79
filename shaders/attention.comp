#version 450
// Causal grouped-query attention, fp32 math over fp32 or (flag KV_BF16) BF16 caches, bound as
// words (an fp32 value or two BF16 ones; BF16 rows have an even head_dim): query row r, head h (q[r * q_stride + h * dim ..])
// attends to keys 0..positions[r] of sequence slots[r] in KV head h / group (with a window W:
// the last W of them), with softmax(s) over s = q.k * scale (with softcap c: c tanh(s / c));
// the result goes to out[r * out_stride + h * dim ..]. Rows whose slot or position is out of
// range get zeros. A window's first key is first_key(pos): splits end before it are empty,
// skipped in both modes.
//
// MODE 0 (attend): one workgroup (WG = 128 invocations, or one subgroup if larger) per (row,
// KV head, QH of its query heads, split of the keys); the grid is flattened. A split covers
// kps keys: [split * kps, ..); the host picks kps for about 4096 workgroups in flight, at least
// 64 keys each (decode: one row, thousands of keys). Each key and value row is loaded once
// for the QH heads that share it. Each subgroup takes KU keys at a time (the workgroup's
// subgroups interleave) and loads their key and value rows together: every lane holds MAXE
// elements of each row, of q and of the accumulators (element c * subgroup-size + lane:
// loads are coalesced), a dot product is one subgroupAdd, and the softmax is online
// (running maximum m, sum l, accumulator rescaled when m grows), so there is no cap on the
// number of keys. The subgroups' (m, l, accumulator) then merge through shared memory: m and l
// per subgroup and head (2 * MAXSG * QH floats) and one DIMMAX-sized accumulator per head
// (QH * DIMMAX floats: 2 KiB for the pipelines of head_dim 128 and 256, 4 KiB for 1024) that
// the subgroups add into in turn. With one split (flag DIRECT) the workgroup writes the
// normalized result; otherwise it writes (m, l, accumulator) to the partial buffer, at
// ((row * n_heads + head) * n_splits + split) * (dim + 2).
// MODE 1 (combine): one workgroup per (row, head) merges the splits that hold keys
// (split * kps <= position) and writes the result, or zeros (shared: 2 * WG floats).
//
// Bindings within the device's range limit: the host binds a range of query rows, and of the
// caches either whole slots [slot_lo, slot_end) or keys [key_lo, key_end) of one slot (then
// key_lo is a multiple of kps and splits never straddle two dispatches); a dispatch attends
// only for rows whose slot lies in its range, so every index stays inside the bindings.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MAXE = 4;     // row elements per lane: dim <= MAXE * subgroup size
layout(constant_id = 2) const uint DIMMAX = 128; // head_dim this pipeline takes
layout(constant_id = 3) const uint MODE = 0;     // 0: attend to a range of keys; 1: combine
layout(constant_id = 4) const uint QH = 4;       // query heads per workgroup (past the group's: q = 0)
layout(constant_id = 5) const uint KU = 4;       // keys per subgroup step
layout(constant_id = 6) const uint MAXSG = 16;   // subgroups per workgroup (MODE 1: WG)

layout(std430, set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { uint kc[]; };
layout(std430, set = 0, binding = 2) readonly buffer V { uint vc[]; };
layout(std430, set = 0, binding = 3) readonly buffer Slots { int slots[]; };
layout(std430, set = 0, binding = 4) readonly buffer Positions { int positions[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 6) buffer Partial { float part[]; };

#define DIRECT 1u        // one split: MODE 0 writes the result
#define WRITE_INVALID 2u // with DIRECT: this dispatch writes the zeros of invalid rows
#define KV_BF16 4u       // the caches hold BF16 values

layout(push_constant) uniform Push {
    uint rows, n_heads, group, dim; // group: query heads per KV head
    uint q_stride, out_stride, width; // width = n_kv * dim: elements between cached keys
    uint n_slots, max_ctx;
    // element of each binding holding row 0's first value (the caches: the word holding entry
    // (slot_lo, key_lo))
    uint q0, out0, k0, v0, slots0, pos0, part0;
    uint slot_lo, slot_end, key_lo, key_end;    // the cache entries bound
    uint kps, n_splits, split_count;            // keys per split; splits per (row, head); splits in this dispatch
    uint flags;
    float scale;
    uint groups_x; // workgroups per row of the dispatch grid
    uint window;   // keys seen, 0: all
    float softcap; // 0: none
} pc;

// The first key a query at position pos sees.
uint first_key(int pos) { return pc.window != 0u && uint(pos) >= pc.window ? uint(pos) - pc.window + 1u : 0u; }

shared float s_m[MAXSG * QH];
shared float s_l[MAXSG * QH];
shared float s_acc[QH * DIMMAX];

const float LOWEST = -3.402823466e38;

// The largest / the sum of one value per invocation (every invocation calls it).
float workgroup_max(float v) {
    v = subgroupMax(v);
    barrier();
    if (subgroupElect()) s_m[gl_SubgroupID] = v;
    barrier();
    for (uint i = 0u; i < gl_NumSubgroups; i++) v = max(v, s_m[i]);
    return v;
}

float workgroup_sum(float v) {
    v = subgroupAdd(v);
    barrier();
    if (subgroupElect()) s_l[gl_SubgroupID] = v;
    barrier();
    v = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; i++) v += s_l[i];
    return v;
}

void zero_row(uint ob) {
    for (uint e = gl_LocalInvocationID.x; e < pc.dim; e += gl_WorkGroupSize.x) o[ob + e] = 0.0;
}

void combine(uint rh, uint r, int pos) {
    uint ob = pc.out0 + r * pc.out_stride + (rh % pc.n_heads) * pc.dim;
    uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x, stride = pc.dim + 2u;
    uint s_first = first_key(pos) / pc.kps;     // splits holding keys: s_first ..
    uint ns = uint(pos) / pc.kps + 1u - s_first; // .. pos / kps
    uint pb = pc.part0 + (rh * pc.n_splits + s_first) * stride;
    float m = LOWEST;
    for (uint s = t; s < ns; s += wg) m = max(m, part[pb + s * stride]);
    m = workgroup_max(m);
    float l = 0.0;
    for (uint s = t; s < ns; s += wg) l += part[pb + s * stride + 1u] * exp(part[pb + s * stride] - m);
    float inv = 1.0 / workgroup_sum(l);
    // out[e] = sum over splits of weight * accumulator[e]: invocations t = slice * dim + e (or
    // e, e + WG, .. for dim > WG), each slice over every slices-th split, four loads in
    // flight; the splits' weights WG at a time in s_m; the slices meet in s_l.
    uint slices = max(wg / pc.dim, 1u), slice = t / pc.dim;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0); // elements t, t + WG, .. when dim > WG
    for (uint s0 = 0u; s0 < ns; s0 += wg) {
        barrier();
        if (s0 + t < ns) s_m[t] = exp(part[pb + (s0 + t) * stride] - m) * inv;
        barrier();
        uint n = min(wg, ns - s0);
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            uint e = slices > 1u ? t % pc.dim : t + c * wg;
            if (e >= pc.dim || slice >= slices || (slices > 1u && c > 0u)) continue;
            uint at = pb + s0 * stride + 2u + e;
            float a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
            uint s = slice;
            for (; s + 3u * slices < n; s += 4u * slices) {
                a0 += part[at + s * stride] * s_m[s];
                a1 += part[at + (s + slices) * stride] * s_m[s + slices];
                a2 += part[at + (s + 2u * slices) * stride] * s_m[s + 2u * slices];
                a3 += part[at + (s + 3u * slices) * stride] * s_m[s + 3u * slices];
            }
            for (; s < n; s += slices) a0 += part[at + s * stride] * s_m[s];
            acc[c] += (a0 + a1) + (a2 + a3);
        }
    }
    if (slices > 1u) {
        barrier();
        s_l[t] = acc[0];
        barrier();
        if (t < pc.dim) {
            float a = 0.0;
            for (uint i = 0u; i < slices; i++) a += s_l[i * pc.dim + t];
            o[ob + t] = a;
        }
    } else {
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            uint e = t + c * wg;
            if (e < pc.dim) o[ob + e] = acc[c];
        }
        // dims beyond 4 * WG (not reached with WG >= 256 and dim <= 1024)
        for (uint e = t + 4u * wg; e < pc.dim; e += wg) {
            float a = 0.0;
            for (uint s = 0u; s < ns; s++) a += part[pb + s * stride + 2u + e] * exp(part[pb + s * stride] - m) * inv;
            o[ob + e] = a;
        }
    }
}

void main() {
    uint wid = flat_group(pc.groups_x);
    if (MODE == 1u) {
        uint rh = wid;
        if (rh >= pc.rows * pc.n_heads) return; // uniform across the workgroup
        uint r = rh / pc.n_heads;
        int slot = slots[pc.slots0 + r], pos = positions[pc.pos0 + r];
        if (slot >= 0 && uint(slot) < pc.n_slots && pos >= 0 && uint(pos) < pc.max_ctx) combine(rh, r, pos);
        else zero_row(pc.out0 + r * pc.out_stride + (rh % pc.n_heads) * pc.dim);
        return;
    }
    // (row, KV head g, chunk hc of its query heads: h0 .. h0 + nh), split of the keys
    uint chunks = (pc.group + QH - 1u) / QH, per_row = (pc.n_heads / pc.group) * chunks;
    uint unit = wid / pc.split_count, split = wid % pc.split_count;
    if (unit >= pc.rows * per_row) return; // uniform across the workgroup, as every branch below
    uint r = unit / per_row, g = unit % per_row / chunks, hc = unit % chunks;
    uint h0 = g * pc.group + hc * QH, nh = min(QH, pc.group - hc * QH);
    uint ob = pc.out0 + r * pc.out_stride + h0 * pc.dim;
    int slot = slots[pc.slots0 + r], pos = positions[pc.pos0 + r];
    if (slot < 0 || uint(slot) >= pc.n_slots || pos < 0 || uint(pos) >= pc.max_ctx) {
        if ((pc.flags & (DIRECT | WRITE_INVALID)) == (DIRECT | WRITE_INVALID) && split == 0u)
            for (uint qh = 0u; qh < nh; qh++) zero_row(ob + qh * pc.dim);
        return;
    }
    if (uint(slot) < pc.slot_lo || uint(slot) >= pc.slot_end) return; // another dispatch's row
    uint kb = pc.key_lo + split * pc.kps;
    if (kb >= pc.key_end || kb > uint(pos)) return; // no keys here
    uint ke = kb + min(pc.kps, min(pc.key_end, uint(pos) + 1u) - kb);
    if (ke <= first_key(pos)) return; // before the window
    kb = max(kb, first_key(pos));

    uint lane = gl_SubgroupInvocationID, sgs = gl_SubgroupSize, sg = gl_SubgroupID, nsg = gl_NumSubgroups;
    uint qb = pc.q0 + r * pc.q_stride + h0 * pc.dim;
    float qv[QH][MAXE], acc[QH][MAXE], m[QH], l[QH];
    [[unroll]] for (uint qh = 0u; qh < QH; qh++) {
        [[unroll]] for (uint c = 0u; c < MAXE; c++) {
            uint e = c * sgs + lane;
            qv[qh][c] = qh < nh && e < pc.dim ? q[qb + qh * pc.dim + e] : 0.0;
            acc[qh][c] = 0.0;
        }
        m[qh] = LOWEST;
        l[qh] = 0.0;
    }
    // key j's first value in the cache bindings: (entry0 + j) * width + head0 (mod 2^32), value
    // e of a binding being word k0 + e (fp32) or half e % 2 of word (2 k0 + e) / 2 (BF16)
    uint entry0 = (uint(slot) - pc.slot_lo) * pc.max_ctx - pc.key_lo;
    uint head0 = g * pc.dim;
    bool bf16 = (pc.flags & KV_BF16) != 0u;
    for (uint j0 = kb + KU * sg; j0 < ke; j0 += KU * nsg) { // j0 < ke is uniform in the subgroup
        float kr[KU][MAXE], vr[KU][MAXE];
        [[unroll]] for (uint u = 0u; u < KU; u++) {
            uint row = (entry0 + j0 + u) * pc.width + head0;
            [[unroll]] for (uint c = 0u; c < MAXE; c++) {
                uint e = c * sgs + lane;
                bool ok = j0 + u < ke && e < pc.dim;
                if (!ok) {
                    kr[u][c] = vr[u][c] = 0.0;
                } else if (bf16) {
                    uint ki = 2u * pc.k0 + row + e, vi = 2u * pc.v0 + row + e;
                    kr[u][c] = bf16_half(kc[ki >> 1], ki & 1u);
                    vr[u][c] = bf16_half(vc[vi >> 1], vi & 1u);
                } else {
                    kr[u][c] = uintBitsToFloat(kc[pc.k0 + row + e]);
                    vr[u][c] = uintBitsToFloat(vc[pc.v0 + row + e]);
                }
            }
        }
        [[unroll]] for (uint qh = 0u; qh < QH; qh++) { // heads past nh have q = 0: no branch
            float s[KU];
            float mn = m[qh];
            [[unroll]] for (uint u = 0u; u < KU; u++) {
                float d = 0.0;
                [[unroll]] for (uint c = 0u; c < MAXE; c++) d += qv[qh][c] * kr[u][c];
                s[u] = subgroupAdd(d) * pc.scale;
                if (pc.softcap > 0.0) s[u] = pc.softcap * tanh(s[u] / pc.softcap);
                if (j0 + u < ke) mn = max(mn, s[u]);
            }
            float corr = exp(m[qh] - mn), p[KU];
            l[qh] *= corr;
            [[unroll]] for (uint u = 0u; u < KU; u++) {
                p[u] = j0 + u < ke ? exp(s[u] - mn) : 0.0;
                l[qh] += p[u];
            }
            [[unroll]] for (uint c = 0u; c < MAXE; c++) {
                float a = acc[qh][c] * corr;
                [[unroll]] for (uint u = 0u; u < KU; u++) a += p[u] * vr[u][c];
                acc[qh][c] = a;
            }
            m[qh] = mn;
        }
    }

    // Merge the subgroups, per head: the workgroup's maximum M and sum L, and the
    // accumulators scaled by e^(m - M), added into s_acc one subgroup after another.
    if (subgroupElect())
        [[unroll]] for (uint qh = 0u; qh < QH; qh++) {
            s_m[sg * QH + qh] = m[qh];
            s_l[sg * QH + qh] = l[qh];
        }
    barrier();
    float big_m[QH], big_l[QH], f[QH];
    [[unroll]] for (uint qh = 0u; qh < QH; qh++) {
        big_m[qh] = LOWEST;
        for (uint i = 0u; i < nsg; i++) big_m[qh] = max(big_m[qh], s_m[i * QH + qh]);
        big_l[qh] = 0.0;
        for (uint i = 0u; i < nsg; i++) big_l[qh] += s_l[i * QH + qh] * exp(s_m[i * QH + qh] - big_m[qh]);
        f[qh] = exp(m[qh] - big_m[qh]);
    }
    for (uint i = 0u; i < nsg; i++) {
        if (sg == i)
            [[unroll]] for (uint qh = 0u; qh < QH; qh++)
                [[unroll]] for (uint c = 0u; c < MAXE; c++) {
                    uint e = c * sgs + lane;
                    if (qh < nh && e < pc.dim)
                        s_acc[qh * DIMMAX + e] = (i == 0u ? 0.0 : s_acc[qh * DIMMAX + e]) + acc[qh][c] * f[qh];
                }
        barrier();
    }
    uint t = gl_LocalInvocationID.x;
    [[unroll]] for (uint qh = 0u; qh < QH; qh++) {
        if (qh >= nh) continue;
        if ((pc.flags & DIRECT) != 0u) {
            float inv = 1.0 / big_l[qh];
            for (uint e = t; e < pc.dim; e += gl_WorkGroupSize.x)
                o[ob + qh * pc.dim + e] = s_acc[qh * DIMMAX + e] * inv;
        } else {
            uint rh = r * pc.n_heads + h0 + qh;
            uint pb = pc.part0 + (rh * pc.n_splits + pc.key_lo / pc.kps + split) * (pc.dim + 2u);
            if (t == 0u) {
                part[pb] = big_m[qh];
                part[pb + 1u] = big_l[qh];
            }
            for (uint e = t; e < pc.dim; e += gl_WorkGroupSize.x) part[pb + 2u + e] = s_acc[qh * DIMMAX + e];
        }
    }
}
