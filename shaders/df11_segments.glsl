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
// the binding, a segment takes at most 64 lookups (each decodes at least one symbol, a code
// the tables do not resolve in four lookups decodes as symbol 0 of 32 bits), and exponents go
// only to the invocation's own 16 words of s_exp.
#ifndef DFRT_DF11_SEGMENTS_GLSL
#define DFRT_DF11_SEGMENTS_GLSL

#define SEG_WEIGHTS 64u
#define SEG_GROUP_SEGMENTS 16u
#define SEG_GROUP_WORDS 10u
#define SEG_FAST_BITS 12u
#define SEG_PITCH 17u // words per decoded segment in s_exp (16, and one so that slots start in different banks)
#define SEG_MAX_LUT_WORDS (18u * 64u) // 17 tables and the lengths row

shared uint s_fast[1u << SEG_FAST_BITS];
shared uint s_luts[SEG_MAX_LUT_WORDS];
shared uint s_exp[SEG_SLOTS * SEG_PITCH];

// Loads the unit's tables into shared memory (the whole workgroup; ends with a barrier).
void seg_load_tables(uint n_tables) {
    for (uint i = gl_LocalInvocationID.x; i < (1u << SEG_FAST_BITS); i += gl_WorkGroupSize.x) s_fast[i] = fast[i];
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

// The 32 bits at bit o (0..31) of the words a, b.
uint seg_funnel(uint a, uint b, uint o) { return o == 0u ? a : (a << o) | (b >> (32u - o)); }

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

// Decodes `count` (1..64) exponents of the segment at cursor `cur` into
// s_exp[slot * SEG_PITCH ..], four to a word (the first in the low byte). Up to two
// exponents past the count may be written too (inside the slot: SEG_PITCH has room).
void seg_decode(SegCursor cur, uint count, uint slot) {
    uint wi = cur.wi, o = cur.o, c0 = cur.c0, c1 = cur.c1, c2 = cur.c2;
    uint outw = slot * SEG_PITCH, cnt = 0u;
    uint pend = 0u, np = 0u; // exponents not stored yet: np (0..3) bytes of pend
    for (uint iter = 0u; iter < SEG_WEIGHTS && cnt < count; iter++) {
        if (o >= 32u) { // the window moves on a word
            c0 = c1;
            c1 = c2;
            wi++;
            c2 = seg_word(wi + 2u);
            o -= 32u;
        }
        uint bits = seg_funnel(c0, c1, o);
        uint e = s_fast[bits >> (32u - SEG_FAST_BITS)];
        uint n = e >> 30, len, syms;
        if (n != 0u) {
            len = (e >> 24) & 63u;
            syms = e & (0xFFFFFFu >> (8u * (3u - n)));
        } else { // a code longer than 12 bits: up to four lookups in the tables
            uint v = seg_lut(bits >> 24);
            for (uint level = 1u; level < 4u && v >= 240u; level++)
                v = seg_lut((256u - v) * 256u + ((bits >> (24u - 8u * level)) & 0xFFu));
            if (v >= 240u) {
                syms = 0u;
                len = 32u;
            } else {
                syms = v;
                len = seg_lut(pc.n_tables * 256u + v);
                len = len == 0u ? 1u : min(len, 32u);
            }
            n = 1u;
        }
        o += len;
        cnt += n;
        // append n exponents to the np pending ones; a full word is stored
        uint lo = pend | (syms << (8u * np));
        uint hi = np != 0u ? syms >> (32u - 8u * np) : 0u;
        np += n;
        if (np >= 4u) {
            s_exp[outw++] = lo;
            pend = hi;
            np -= 4u;
        } else {
            pend = lo;
        }
    }
    if (np != 0u) s_exp[outw] = pend;
}

// The BF16 bits of a weight from its exponent x and sign/mantissa byte s.
uint seg_join(uint x, uint s) { return ((s & 0x80u) << 8) | (x << 7) | (s & 0x7Fu); }

// The fp32 value of the BF16 weight whose exponent is byte b of word e and sign/mantissa byte
// b of word sm (what widening the BF16 gives).
float seg_weight(uint e, uint sm, uint b) {
    return uintBitsToFloat(seg_join((e >> (8u * b)) & 0xFFu, (sm >> (8u * b)) & 0xFFu) << 16);
}

#endif
