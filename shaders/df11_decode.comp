#version 450
// DF11 decode: one workgroup per 4096-byte chunk of the exponent stream, one invocation per
// 64-bit window (512 windows per chunk). Each invocation reads its window's 96 bits (64 plus
// 32 of look-ahead) into registers; pass 1 counts the codes that start in the window, a
// workgroup prefix sum turns counts into output indices, pass 2 decodes again. When the
// pipeline has a staging area (STAGE_WORDS > 1) and the chunk's exponents fit, they are staged
// in shared memory and joined with the sign/mantissa bytes in a coalesced last loop;
// otherwise pass 2 writes BF16 values directly. Shared memory is kept small on purpose: some
// drivers run fewer workgroups per multiprocessor the more a workgroup reserves. Only indices
// inside the chunk's [positions[c], positions[c+1]) are written, so no input can write outside
// the output range; reads are clamped to the bound ranges.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x = 512) in;
// Shared words for staging exponents (four per word); 1 means no staging.
layout(constant_id = 0) const uint STAGE_WORDS = 1;

layout(std430, set = 0, binding = 0) readonly buffer Luts { uint luts[]; };
layout(std430, set = 0, binding = 1) readonly buffer Stream { uint stream_words[]; };
layout(std430, set = 0, binding = 2) readonly buffer SignMantissa { uint sm_words[]; };
layout(std430, set = 0, binding = 3) readonly buffer Positions { uint positions[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gaps { uint gap_words[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { uint16_t out16[]; };

layout(push_constant) uniform Push {
    uint first_chunk;    // absolute index of this dispatch's first chunk
    uint n_tables;
    uint stream_word0;   // word of the stream binding where first_chunk begins
    uint stream_words;   // words readable in the stream binding
    uint sm_byte0;       // byte of the sign_mantissa binding holding weight positions[first_chunk]
    uint sm_bytes;       // bytes readable in the sign_mantissa binding
    uint out_elem0;      // element of the output binding receiving weight positions[first_chunk]
    uint n_group_chunks; // chunks in this dispatch (the grid may have a few more workgroups)
} pc;

shared uint s_fast[256]; // table 0 fused with lengths: symbol | length << 8, or 0xFFFF
shared uint s_scan[512]; // subgroup totals, or every count in the fallback scan
shared uint s_flag;
shared uint s_exp[STAGE_WORDS];

uint bswap(uint x) {
    return (x << 24) | ((x & 0xFF00u) << 8) | ((x >> 8) & 0xFF00u) | (x >> 24);
}

uint lut(uint table, uint index) { // from the (small, cached) tables in global memory
    uint i = table * 256u + index;
    return (luts[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu;
}

// The 32 bits at offset o (< 64) of the window w0:w1:w2, MSB first, without branches.
uint peek(uint w0, uint w1, uint w2, uint o) {
    uint a = o < 32u ? w0 : w1, b = o < 32u ? w1 : w2, s = o & 31u;
    return (a << s) | ((b >> 1) >> (31u - s)); // s = 0 gives a
}

// symbol | length << 8 of the code at the top of bits. A code that needs a fifth lookup (no
// valid stream has one) decodes as exponent 0 of length 32, so decoding always advances.
uint decode(uint bits) {
    uint f = s_fast[bits >> 24];
    if (f != 0xFFFFu) return f;
    uint v = lut(0u, bits >> 24);
    for (uint level = 1u; level < 4u && v >= 240u; level++)
        v = lut(256u - v, (bits >> (24u - 8u * level)) & 0xFFu);
    if (v >= 240u) return 32u << 8;
    return v | (max(lut(pc.n_tables, v), 1u) << 8);
}

uint gap(uint window) { // 5-bit field, MSB first; the gaps binding holds the whole unit's gaps
    uint bit = window * 5u;
    uint byte_i = bit >> 3;
    uint b0 = (gap_words[byte_i >> 2] >> ((byte_i & 3u) * 8u)) & 0xFFu;
    uint b1 = 0u;
    if ((bit & 7u) > 3u) {
        uint j = byte_i + 1u;
        b1 = (gap_words[j >> 2] >> ((j & 3u) * 8u)) & 0xFFu;
    }
    return (((b0 << 8) | b1) >> (11u - (bit & 7u))) & 31u;
}

uint stream_word(uint local_chunk, uint i) { // word i of the chunk, big-endian; 0 past the end
    uint w = pc.stream_word0 + local_chunk * 1024u + i;
    return w < pc.stream_words ? bswap(stream_words[w]) : 0u;
}

uint sm_word(uint w) {
    return w < pc.sm_bytes / 4u ? sm_words[w] : 0u;
}

uint bf16(uint sm, uint exponent) {
    return ((sm & 0x80u) << 8) | (exponent << 7) | (sm & 0x7Fu);
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint local_chunk = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (local_chunk >= pc.n_group_chunks) return; // uniform across the workgroup
    uint c = pc.first_chunk + local_chunk;
    uint begin = positions[c], end = positions[c + 1u];
    uint base = positions[pc.first_chunk];
    uint n = end - begin;
    bool staged = STAGE_WORDS > 1u && n <= 4u * STAGE_WORDS;

    uint w0 = stream_word(local_chunk, 2u * t), w1 = stream_word(local_chunk, 2u * t + 1u);
    uint w2 = stream_word(local_chunk, 2u * t + 2u);
    uint start = gap(c * 512u + t);
    if (t < 256u) {
        uint v = lut(0u, t);
        s_fast[t] = v >= 240u ? 0xFFFFu : v | (max(lut(pc.n_tables, v), 1u) << 8);
    }
    if (staged)
        for (uint i = t; i < (n + 3u) / 4u; i += 512u) s_exp[i] = 0u;
    if (t == 0u) s_flag = 0u;
    barrier();
    // The subgroup scan below needs subgroups made of consecutive invocations.
    if (gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID != t) s_flag = 1u;
    barrier();

    // Pass 1: count the codes that start in this window.
    uint count = 0u;
    for (uint o = start; o < 64u; count++) o += decode(peek(w0, w1, w2, o)) >> 8;

    // Exclusive prefix sum of the counts over the workgroup.
    uint before;
    if (s_flag == 0u) {
        uint incl = subgroupInclusiveAdd(count);
        if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) s_scan[gl_SubgroupID] = incl;
        barrier();
        if (t == 0u) {
            uint run = 0u;
            for (uint i = 0u; i < gl_NumSubgroups; i++) {
                uint v = s_scan[i];
                s_scan[i] = run;
                run += v;
            }
        }
        barrier();
        before = s_scan[gl_SubgroupID] + incl - count;
    } else { // Hillis-Steele over shared memory
        s_scan[t] = count;
        barrier();
        for (uint d = 1u; d < 512u; d <<= 1) {
            uint v = t >= d ? s_scan[t - d] : 0u;
            barrier();
            s_scan[t] += v;
            barrier();
        }
        before = s_scan[t] - count;
    }
    uint index = begin + before;

    // Pass 2: decode again; keep the weights that belong to this chunk.
    uint sm_w = ~0u, sm = 0u;
    for (uint o = start; o < 64u && index < end; index++) {
        uint d = decode(peek(w0, w1, w2, o));
        o += d >> 8;
        uint e = index - begin;
        if (staged) {
            atomicOr(s_exp[e >> 2], (d & 0xFFu) << (8u * (e & 3u)));
        } else {
            uint byte_i = pc.sm_byte0 + index - base; // one load serves four weights
            if (byte_i >> 2 != sm_w) {
                sm_w = byte_i >> 2;
                sm = sm_word(sm_w);
            }
            out16[pc.out_elem0 + index - base] = uint16_t(bf16((sm >> (8u * (byte_i & 3u))) & 0xFFu, d & 0xFFu));
        }
    }
    if (staged) {
        // Join: one 32-bit load of sign/mantissa bytes gives four weights; two loads in flight.
        barrier();
        uint first_byte = pc.sm_byte0 + begin - base;
        uint w_first = first_byte >> 2, w_end = (first_byte + n + 3u) >> 2;
        for (uint w = w_first + t; w < w_end; w += 1024u) {
            uint w2b = w + 512u;
            uint sm0 = sm_word(w), sm1 = w2b < w_end ? sm_word(w2b) : 0u;
            for (uint j = 0u; j < 4u; j++) {
                uint e = 4u * w + j - first_byte; // below the chunk this wraps: out of range
                if (e < n) {
                    uint exponent = (s_exp[e >> 2] >> (8u * (e & 3u))) & 0xFFu;
                    out16[pc.out_elem0 + begin - base + e] = uint16_t(bf16((sm0 >> (8u * j)) & 0xFFu, exponent));
                }
                uint e2 = 4u * w2b + j - first_byte;
                if (w2b < w_end && e2 < n) {
                    uint exponent = (s_exp[e2 >> 2] >> (8u * (e2 & 3u))) & 0xFFu;
                    out16[pc.out_elem0 + begin - base + e2] = uint16_t(bf16((sm1 >> (8u * j)) & 0xFFu, exponent));
                }
            }
        }
    }
}
