#version 450
// DF11 decode: one workgroup per 4096-byte chunk of the exponent stream, one invocation per
// 64-bit window (512 windows per chunk). Pass 1 counts the codes that start in each window,
// a workgroup prefix sum turns counts into output indices, pass 2 decodes again and writes
// BF16 values. Only indices inside the chunk's [positions[c], positions[c+1]) are written,
// so a corrupted stream can never write outside the output range. Reads are clamped to the
// bound ranges. Needs 16-bit storage (for the BF16 output) and nothing else beyond 1.2 core.
#extension GL_EXT_shader_16bit_storage : require

layout(local_size_x = 512) in;
// Shared words available for staging outputs (two BF16 per word); chunks with more weights
// than 2 * STAGE_WORDS write straight to the output instead.
layout(constant_id = 0) const uint STAGE_WORDS = 1;

layout(std430, set = 0, binding = 0) readonly buffer Luts { uint luts[]; };
layout(std430, set = 0, binding = 1) readonly buffer Stream { uint stream_words[]; };
layout(std430, set = 0, binding = 2) readonly buffer SignMantissa { uint sm_words[]; };
layout(std430, set = 0, binding = 3) readonly buffer Positions { uint positions[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gaps { uint gap_words[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { uint16_t out16[]; };

layout(push_constant) uniform Push {
    uint first_chunk;   // absolute index of this dispatch's first chunk
    uint n_tables;
    uint stream_word0;  // word of the stream binding where first_chunk begins
    uint stream_words;  // words readable in the stream binding
    uint sm_byte0;      // byte of the sign_mantissa binding holding weight positions[first_chunk]
    uint sm_bytes;      // bytes readable in the sign_mantissa binding
    uint out_elem0;     // element of the output binding receiving weight positions[first_chunk]
    uint n_group_chunks; // chunks in this dispatch (the grid may have a few more workgroups)
} pc;

shared uint s_stream[1024 + 2]; // the chunk's 4096 bytes (+8 look-ahead), big-endian words
shared uint s_luts[64 * 18];    // up to 17 tables and the length row, 4 bytes per word
shared uint s_scan[512];
shared uint s_stage[STAGE_WORDS];

uint bswap(uint x) {
    return (x << 24) | ((x & 0xFF00u) << 8) | ((x >> 8) & 0xFF00u) | (x >> 24);
}

uint lut(uint table, uint index) {
    uint i = table * 256u + index;
    return (s_luts[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu;
}

// The 32 stream bits starting at bit p of the chunk (p < 32768 + 32).
uint peek32(uint p) {
    uint w = p >> 5, s = p & 31u;
    uint a = s_stream[w];
    return s == 0u ? a : (a << s) | (s_stream[w + 1u] >> (32u - s));
}

// Decodes the code at bit p: returns symbol | length << 8. A code that needs a fifth lookup
// (no valid stream has one) decodes as exponent 0 of length 32, so decoding always advances.
uint decode_at(uint p) {
    uint bits = peek32(p);
    uint v = lut(0u, bits >> 24);
    for (uint level = 1u; level < 4u && v >= 240u; level++)
        v = lut(256u - v, (bits >> (24u - 8u * level)) & 0xFFu);
    if (v >= 240u) return 32u << 8;
    uint len = lut(pc.n_tables, v);
    return v | (max(len, 1u) << 8);
}

uint gap(uint window) { // 5-bit field, MSB first; the gaps binding holds the whole unit's gaps
    uint bit = window * 5u;
    uint byte_i = bit >> 3;
    uint w = gap_words[byte_i >> 2];
    uint b0 = (w >> ((byte_i & 3u) * 8u)) & 0xFFu;
    uint b1 = 0u;
    if ((bit & 7u) > 3u) {
        uint j = byte_i + 1u;
        b1 = (gap_words[j >> 2] >> ((j & 3u) * 8u)) & 0xFFu;
    }
    return (((b0 << 8) | b1) >> (11u - (bit & 7u))) & 31u;
}

uint sign_mantissa(uint rel) { // rel: weight index relative to positions[first_chunk]
    uint byte_i = pc.sm_byte0 + rel;
    if (byte_i >= pc.sm_bytes) return 0u;
    return (sm_words[byte_i >> 2] >> ((byte_i & 3u) * 8u)) & 0xFFu;
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint local_chunk = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (local_chunk >= pc.n_group_chunks) return; // uniform across the workgroup
    uint c = pc.first_chunk + local_chunk;
    uint begin = positions[c], end = positions[c + 1u];
    uint base = positions[pc.first_chunk];
    bool staged = end - begin <= 2u * STAGE_WORDS && STAGE_WORDS > 1u;

    // Load the chunk (and 8 bytes of look-ahead) and the tables into shared memory.
    for (uint i = t; i < 1026u; i += 512u) {
        uint w = pc.stream_word0 + local_chunk * 1024u + i;
        s_stream[i] = w < pc.stream_words ? bswap(stream_words[w]) : 0u;
    }
    for (uint i = t; i < 64u * (pc.n_tables + 1u); i += 512u) s_luts[i] = luts[i];
    if (staged)
        for (uint i = t; i < (end - begin + 1u) / 2u; i += 512u) s_stage[i] = 0u;
    barrier();

    // Pass 1: count the codes that start in this window.
    uint start = 64u * t + gap(c * 512u + t);
    uint window_end = 64u * t + 64u;
    uint count = 0u;
    for (uint p = start; p < window_end; count++) p += decode_at(p) >> 8;

    // Exclusive prefix sum of the counts (Hillis-Steele over 512 entries).
    s_scan[t] = count;
    barrier();
    for (uint d = 1u; d < 512u; d <<= 1) {
        uint v = t >= d ? s_scan[t - d] : 0u;
        barrier();
        s_scan[t] += v;
        barrier();
    }
    uint index = begin + s_scan[t] - count;

    // Pass 2: decode again and write the weights that belong to this chunk.
    for (uint p = start; p < window_end && index < end; index++) {
        uint d = decode_at(p);
        p += d >> 8;
        uint sm = sign_mantissa(index - base);
        uint value = ((sm & 0x80u) << 8) | ((d & 0xFFu) << 7) | (sm & 0x7Fu);
        if (staged) {
            uint e = index - begin;
            atomicOr(s_stage[e >> 1], value << (16u * (e & 1u)));
        } else {
            out16[pc.out_elem0 + index - base] = uint16_t(value);
        }
    }
    if (staged) {
        barrier();
        for (uint e = t; e < end - begin; e += 512u)
            out16[pc.out_elem0 + begin - base + e] = uint16_t((s_stage[e >> 1] >> (16u * (e & 1u))) & 0xFFFFu);
    }
}
