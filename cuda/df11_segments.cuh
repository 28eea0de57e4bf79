// Decoding DF11 units kept in the segment layout (backend.h, DFRT_DF11_LAYOUT_SEGMENTS): the
// stream bit where every 64th weight's code starts is in the segment index, so one thread
// decodes one segment of 64 weights on its own, in one pass, from any weight range. Shared by
// the standalone decode (df11_decode.cu) and the fused DF11 matmul (matmul.cu).
//
// Safety: the index of a corrupted unit may point anywhere; every stream read is clamped to
// the buffer, every code advances 1..32 bits, so a thread reads a bounded window and decodes a
// fixed count of symbols. Output positions come from the caller's weight range, never from
// the stream.
#ifndef DFRT_CUDA_DF11_SEGMENTS_CUH
#define DFRT_CUDA_DF11_SEGMENTS_CUH

#include "common.cuh"

namespace {

constexpr int kSegWeights = 64;       // DFRT_DF11_SEGMENT_WEIGHTS
constexpr int kGroupSegments = 16;    // DFRT_DF11_GROUP_SEGMENTS
constexpr int kGroupWords = 10;       // DFRT_DF11_GROUP_WORDS
constexpr int kFastBits = 12;         // DFRT_DF11_FAST_BITS
constexpr int kSegPitchWords = 17;    // a decoded segment's 64 exponent bytes in shared memory, padded
constexpr int kMaxLutBytes = 18 * 256; // 17 tables and the lengths row

// A device unit in the segment layout, pointers resolved.
struct SegUnit {
    const uint32_t *stream;   // the code stream as words (big-endian bytes), n_words of them (padded)
    uint64_t n_words;
    const uint32_t *segments; // the segment index
    const uint32_t *fast;     // (4096) up to three codes per lookup (dfrt_df11_fast_table), 0: follow the luts
    const uint8_t *luts;      // (n_tables + 1) * 256
    const uint8_t *sign_mantissa;
    uint64_t n;               // weights
    uint32_t n_tables;
};

inline SegUnit seg_unit(const dfrt_device_df11 *u) {
    SegUnit s;
    s.stream = static_cast<const uint32_t *>(u->stream->impl);
    s.n_words = u->stream->size / 4;
    s.segments = static_cast<const uint32_t *>(u->segments->impl);
    s.fast = static_cast<const uint32_t *>(u->fast->impl);
    s.luts = static_cast<const uint8_t *>(u->luts->impl);
    s.sign_mantissa = static_cast<const uint8_t *>(u->sign_mantissa->impl);
    s.n = u->n;
    s.n_tables = u->n_tables;
    return s;
}

// Shared-memory copies of the unit's decode tables, loaded by the whole block.
struct SegTables {
    const uint32_t *fast;
    const uint8_t *luts;
    uint32_t n_tables;
};

// Bytes of shared memory the tables take (at the start of the block's dynamic shared memory).
constexpr int kSegTableBytes = (1 << kFastBits) * 4 + kMaxLutBytes;

__device__ __forceinline__ SegTables seg_load_tables(const SegUnit &u, uint8_t *smem) {
    uint4 *fast = reinterpret_cast<uint4 *>(smem);
    const uint4 *src = reinterpret_cast<const uint4 *>(u.fast);
    for (int i = threadIdx.x; i < (1 << kFastBits) / 4; i += blockDim.x) fast[i] = __ldg(src + i);
    uint32_t *luts = reinterpret_cast<uint32_t *>(smem + (1 << kFastBits) * 4);
    const uint32_t lut_words = (u.n_tables + 1) * 64;
    for (uint32_t i = threadIdx.x; i < lut_words; i += blockDim.x) luts[i] = __ldg(reinterpret_cast<const uint32_t *>(u.luts) + i);
    __syncthreads();
    return SegTables{reinterpret_cast<const uint32_t *>(fast), reinterpret_cast<const uint8_t *>(luts), u.n_tables};
}

// The stream bit where segment s's first code starts.
__device__ __forceinline__ uint64_t seg_start(const uint32_t *segments, uint64_t s) {
    const uint32_t *rec = segments + (s / kGroupSegments) * kGroupWords;
    uint64_t base = __ldg(rec) | (uint64_t)__ldg(rec + 1) << 32;
    uint32_t pair = __ldg(rec + 2 + (s % kGroupSegments) / 2);
    return base + ((s & 1) ? pair >> 16 : pair & 0xFFFFu);
}

// A code longer than the fast table's 12 bits: up to four lookups in the unit's tables; a
// fifth (no valid stream has one) decodes as symbol 0 of 32 bits. The result has the fast
// table's form: one symbol, its length (1..32) << 24, count 1 << 30.
__device__ __noinline__ uint32_t seg_slow(const SegTables &t, uint32_t bits) {
    uint32_t v = t.luts[bits >> 24];
#pragma unroll
    for (int level = 1; level < 4; level++)
        if (v >= 240u) v = t.luts[(256u - v) * 256u + ((bits >> (24 - 8 * level)) & 0xFFu)];
    if (v >= 240u) return 32u << 24 | 1u << 30;
    uint32_t len = t.luts[t.n_tables * 256u + v];
    return v | (len == 0 ? 1u : len > 32u ? 32u : len) << 24 | 1u << 30;
}

// A thread's place in the stream: four words in registers from p[0], read MSB first from bit
// o of the first; p[i] for i > last would be past the buffer (reads are clamped to p[last]).
struct SegCursor {
    const uint32_t *p;
    uint32_t last, o;
    uint32_t b0, b1, b2, b3;
};

__device__ __forceinline__ uint32_t seg_word(const uint32_t *p, uint32_t i, uint32_t last) {
    return __byte_perm(__ldg(p + (i < last ? i : last)), 0, 0x0123);
}

// The cursor at a stream bit (its four words are loads in flight until first used).
__device__ __forceinline__ SegCursor seg_open(const SegUnit &u, uint64_t bit) {
    SegCursor c;
    const uint64_t w = (bit >> 5) < u.n_words ? bit >> 5 : u.n_words - 1;
    const uint64_t left = u.n_words - 1 - w; // words after p[0] inside the buffer
    c.p = u.stream + w;
    c.last = left < 0xFFFFFFFFu ? (uint32_t)left : 0xFFFFFFFFu;
    c.o = (uint32_t)(bit & 31);
    c.b0 = seg_word(c.p, 0, c.last), c.b1 = seg_word(c.p, 1, c.last);
    c.b2 = seg_word(c.p, 2, c.last), c.b3 = seg_word(c.p, 3, c.last);
    return c;
}

// Decodes `count` (<= 64) exponents from the cursor into dst (shared memory): bytes [0, count)
// are the exponents, up to 2 bytes past them are written too (the pitch leaves room). The next
// word is loaded as the first is used up, well before it is needed.
__device__ __forceinline__ void seg_decode(const SegTables &t, SegCursor c, int count, uint32_t *dst_words) {
    uint32_t next = 4, o = c.o, b0 = c.b0, b1 = c.b1, b2 = c.b2, b3 = c.b3;
    uint8_t *dst = reinterpret_cast<uint8_t *>(dst_words);
    for (int pos = 0; pos < count;) {
        const uint32_t bits = __funnelshift_l(b1, b0, o);
        uint32_t e = t.fast[bits >> (32 - kFastBits)];
        if (e == 0) e = seg_slow(t, bits);
        dst[pos] = (uint8_t)e;
        dst[pos + 1] = (uint8_t)(e >> 8);
        dst[pos + 2] = (uint8_t)(e >> 16);
        pos += e >> 30;
        o += (e >> 24) & 63u; // 1..32: at most one word is used up
        if (o >= 32) {
            o -= 32;
            b0 = b1, b1 = b2, b2 = b3;
            b3 = seg_word(c.p, next, c.last);
            next++;
        }
    }
}

// The fp32 value of the BF16 weight with this exponent and sign/mantissa byte.
__device__ __forceinline__ float seg_weight(uint32_t exponent, uint32_t sm) {
    return __uint_as_float((sm & 0x80u) << 24 | exponent << 23 | (sm & 0x7Fu) << 16);
}

} // namespace

#endif
