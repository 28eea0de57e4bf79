// Decoding DF11 units kept in the segment layout (runtime/backend.h,
// DFRT_DF11_LAYOUT_SEGMENTS), as cuda/df11_segments.cuh does: the segment index holds the
// stream bit where every 64th weight's code starts, so one invocation decodes one segment of
// 64 exponents on its own. Shared by df11_decode.comp (the standalone decode) and
// df11_gemv.comp (the fused DF11 GEMV).
//
// The includer declares, before including this file:
//   buffers Stream { uint stream[]; }  the code stream as little-endian words of big-endian
//                                      bytes (a range of the unit's stream, bound from word
//                                      pc.stream_word0 of the whole stream);
//           Segments { uint segments[]; }  the segment index: record pc.seg_rec0 from word
//                                          pc.seg_word0 of the binding on;
//           Fast { uint fast[]; }          the 4096-entry multi-code table (dfrt_df11_fast_table);
//           Luts { uint luts[]; }          the unit's tables and lengths row, as bytes in words;
//   push constants pc.stream_word0, pc.stream_words (the binding's words), pc.seg_rec0,
//   pc.seg_word0, pc.n_tables;
//   SEG_SLOTS: how many segments the workgroup holds decoded at once (one per invocation).
//
// Safety: the index of a corrupted unit may point anywhere: every stream read is clamped to
// the binding, a segment takes at most 64 batches of lookups (each puts at least one
// exponent; a code the tables do not resolve in four lookups decodes as symbol 0 of 32 bits),
// and exponents go only to the invocation's own SEG_PITCH words of s_exp.
#ifndef DFRT_DF11_SEGMENTS_GLSL
#define DFRT_DF11_SEGMENTS_GLSL

#define SEG_WEIGHTS 64u
#define SEG_GROUP_SEGMENTS 16u
#define SEG_GROUP_WORDS 10u
#define SEG_FAST_BITS 12u
#define SEG_BATCH 5u  // fast lookups per 64-bit window (seg_decode)
// Words per decoded segment in s_exp: 64 exponent bytes and up to 18 that the last batch of
// lookups writes past them (seg_decode); odd, so that slots start in different banks.
#define SEG_PITCH 21u
#define SEG_MAX_LUT_WORDS (18u * 64u) // 17 tables and the lengths row

// The fast table in the form seg_entry gives it, the luts, and the decoded exponents (in the
// rotated form of seg_rot, four to a word, the first in the low byte).
shared uint s_fast[1u << SEG_FAST_BITS];
shared uint s_luts[SEG_MAX_LUT_WORDS];
shared uint s_exp[SEG_SLOTS * SEG_PITCH];

// An exponent e7..e0 as e0 e7..e1: the form in which a BF16 weight's two bytes are two
// selects from it and the sign/mantissa byte (seg_bf16x4).
uint seg_rot(uint e) { return ((e >> 1) | (e << 7)) & 0xFFu; }

// A fast-table entry (dfrt_df11_fast_table: up to three exponents in bits 0-23, their codes'
// total length in bits 24-29, how many in bits 30-31; none: a code longer than 12 bits) in
// the form the decoder uses: the length (1..12) in bits 0-4, the exponents in the form of
// seg_rot in bits 5-12, 13-20, 21-28, how many in bits 30-31; 0 for a longer code, which then
// takes no bits and puts no exponent.
uint seg_entry(uint g) {
    if ((g >> 30) == 0u) return 0u;
    return ((g >> 24) & 31u) | (seg_rot(g & 0xFFu) << 5) | (seg_rot((g >> 8) & 0xFFu) << 13) |
           (seg_rot((g >> 16) & 0xFFu) << 21) | ((g >> 30) << 30);
}

// Loads the unit's tables into shared memory (the whole workgroup; ends with a barrier).
void seg_load_tables(uint n_tables) {
    for (uint i = gl_LocalInvocationID.x; i < (1u << SEG_FAST_BITS); i += gl_WorkGroupSize.x) s_fast[i] = seg_entry(fast[i]);
    uint lut_words = min((n_tables + 1u) * 64u, SEG_MAX_LUT_WORDS);
    for (uint i = gl_LocalInvocationID.x; i < lut_words; i += gl_WorkGroupSize.x) s_luts[i] = luts[i];
    barrier();
}

uint seg_lut(uint i) { return (s_luts[min(i >> 2, SEG_MAX_LUT_WORDS - 1u)] >> (8u * (i & 3u))) & 0xFFu; }

// Word i of the stream binding, its bytes in stream order (the first byte the most
// significant), clamped to the binding.
uint seg_word(uint i) {
    uint w = stream[min(i, pc.stream_words - 1u)];
    return (w << 24) | ((w & 0xFF00u) << 8) | ((w >> 8) & 0xFF00u) | (w >> 24);
}

// Where segment s (of the whole unit) starts: the stream word within the binding (the index's
// bit minus the binding's first bit, clamped to [0, 2^32)) and the bit in that word.
uvec2 seg_start(uint s) {
    uint rec = pc.seg_word0 + (s / SEG_GROUP_SEGMENTS - pc.seg_rec0) * SEG_GROUP_WORDS;
    uint lo = segments[rec], hi = segments[rec + 1u];
    uint pair = segments[rec + 2u + (s % SEG_GROUP_SEGMENTS) / 2u];
    uint off = (s & 1u) != 0u ? pair >> 16 : pair & 0xFFFFu;
    uint carry;
    lo = uaddCarry(lo, off, carry);
    hi += carry;
    uint bit_in_word = lo & 31u;
    uint word_hi = hi >> 27, word = (lo >> 5) | (hi << 27); // the 64-bit word index, high and low parts
    if (word_hi != 0u) word = 0xFFFFFFFFu;
    word = word >= pc.stream_word0 ? word - pc.stream_word0 : 0xFFFFFFFFu; // before the binding: clamped
    return uvec2(word, bit_in_word);
}

// The 32 bits at bit o (0..31) of the words a, b (no shift by 32: b's part is shifted twice).
uint seg_funnel(uint a, uint b, uint o) { return (a << o) | ((b >> 1) >> (31u - o)); }

// Where a decode starts: the stream word wi (within the binding), the bit o in it, and the
// three words from wi on (loaded ahead of the decode by seg_open).
struct SegCursor {
    uint wi, o, c0, c1, c2;
};

SegCursor seg_open(uvec2 start) {
    SegCursor c;
    c.wi = start.x;
    c.o = start.y;
    c.c0 = seg_word(c.wi);
    c.c1 = seg_word(c.wi + 1u);
    c.c2 = seg_word(c.wi + 2u);
    return c;
}

// A 64-bit window on the stream at bit q from word wi: hi, then in lo the next 31 bits and a
// marker bit 1 (bit 0), which the shifts move up as codes are taken.
void seg_window(uint wi, uint q, out uint hi, out uint lo) {
    uint i = wi + (q >> 5), o = q & 31u;
    uint w0 = seg_word(i), w1 = seg_word(i + 1u), w2 = seg_word(i + 2u);
    hi = seg_funnel(w0, w1, o);
    lo = seg_funnel(w1, w2, o) | 1u;
}

// A code longer than the fast table's 12 bits, from the 32 stream bits at it: up to four
// lookups in the luts; a fifth (no valid stream has one) decodes as symbol 0 of 32 bits.
void seg_slow(uint bits, out uint sym, out uint len) {
    uint v = seg_lut(bits >> 24);
    for (uint level = 1u; level < 4u && v >= 240u; level++) v = seg_lut((256u - v) * 256u + ((bits >> (24u - 8u * level)) & 0xFFu));
    if (v >= 240u) {
        sym = 0u;
        len = 32u;
    } else {
        sym = v;
        len = seg_lut(pc.n_tables * 256u + v);
        len = len == 0u ? 1u : min(len, 32u);
    }
}

// Puts the low `bits` bits of x (8 per exponent, up to three; x is zero above them) after the
// `fill` bits of word wp that q holds: the word is stored every time, without a branch, and
// the next one begun once it is full.
void seg_put(uint x, uint bits, inout uint wp, inout uint q, inout uint fill) {
    uint carry = (x >> 1) >> (31u - fill); // the bits of x past the word
    q |= x << fill;
    s_exp[wp] = q;
    fill += bits;
    uint full = fill >> 5;
    wp += full;
    q = full != 0u ? carry : q;
    fill &= 31u;
}

// Decodes `count` (1..64) exponents of the segment at cursor `cur` into
// s_exp[slot * SEG_PITCH ..], four to a word in the form of seg_rot, as
// cuda/df11_segments.cuh does: batches of five fast lookups in a 64-bit window (each takes at
// most 12 bits: five fit in its 63) with no test between them. A code longer than 12 bits has
// entry 0, which takes no bits and puts nothing, so the lookups after it repeat it harmlessly;
// after the batch the window moves by the bits taken (the marker's distance from bit 0) and
// such a code is decoded on its own. Every batch puts at least one exponent, so at most 64
// run; up to 18 bytes past the count are written (inside the slot: SEG_PITCH has room).
void seg_decode(SegCursor cur, uint count, uint slot) {
    uint q = cur.o; // the window's bit, from word cur.wi
    uint hi = seg_funnel(cur.c0, cur.c1, cur.o), lo = seg_funnel(cur.c1, cur.c2, cur.o) | 1u;
    uint wp = slot * SEG_PITCH, end = 4u * wp + count, acc = 0u, fill = 0u;
    for (uint batch = 0u; batch < SEG_WEIGHTS; batch++) {
        uint e = 0u;
        [[unroll]] for (uint j = 0u; j < SEG_BATCH; j++) {
            e = s_fast[hi >> (32u - SEG_FAST_BITS)];
            seg_put((e >> 5) & 0xFFFFFFu, (e >> 30) * 8u, wp, acc, fill);
            uint sh = e & 31u;
            hi = (hi << sh) | ((lo >> 1) >> (31u - sh));
            lo <<= sh;
        }
        if (4u * wp + (fill >> 3) >= end) break;
        q += lo != 0u ? uint(findLSB(lo)) : 32u + uint(findLSB(hi));
        seg_window(cur.wi, q, hi, lo);
        if (e == 0u) {
            uint sym, len;
            seg_slow(hi, sym, len);
            seg_put(seg_rot(sym), 8u, wp, acc, fill);
            if (4u * wp + (fill >> 3) >= end) break;
            q += len;
            seg_window(cur.wi, q, hi, lo);
        }
    }
    s_exp[wp] = acc;
}

// Four BF16 weights as two words (weights 0 and 1, then 2 and 3; the first of each in the low
// half), from their exponents in the form of seg_rot (a word of s_exp, one byte each) and
// their sign/mantissa bytes: with r = e0 e7..e1 and sm = s m6..m0, a weight s e7..e0 m6..m0 is
// the byte (r & 0x7F | sm & 0x80) over the byte (sm & 0x7F | r & 0x80).
uvec2 seg_bf16x4(uint r, uint sm) {
    uint h = (r & 0x7F7F7F7Fu) | (sm & 0x80808080u), l = (sm & 0x7F7F7F7Fu) | (r & 0x80808080u);
    return uvec2((l & 0xFFu) | ((h & 0xFFu) << 8) | ((l & 0xFF00u) << 8) | ((h & 0xFF00u) << 16),
                 ((l >> 16) & 0xFFu) | ((h >> 8) & 0xFF00u) | ((l >> 8) & 0xFF0000u) | (h & 0xFF000000u));
}

// The same four weights widened to fp32.
vec4 seg_weights4(uint r, uint sm) {
    uint h = (r & 0x7F7F7F7Fu) | (sm & 0x80808080u), l = (sm & 0x7F7F7F7Fu) | (r & 0x80808080u);
    return vec4(uintBitsToFloat((h << 24) | ((l << 16) & 0xFF0000u)),
                uintBitsToFloat(((h << 16) & 0xFF000000u) | ((l << 8) & 0xFF0000u)),
                uintBitsToFloat(((h << 8) & 0xFF000000u) | (l & 0xFF0000u)),
                uintBitsToFloat((h & 0xFF000000u) | ((l >> 8) & 0xFF0000u)));
}

#endif
