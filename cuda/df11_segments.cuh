// Decoding DF11 units kept in the segment layout (backend.h, DFRT_DF11_LAYOUT_SEGMENTS): the
// stream bit where every 64th weight's code starts is in the segment index, so one thread
// decodes one segment of 64 weights on its own, in one pass, from any weight range. Shared by
// the standalone decode (df11_decode.cu) and the fused DF11 matmul (matmul.cu).
//
// Safety: the index of a corrupted unit may point anywhere; every stream read is clamped to
// the buffer, and every batch of lookups decodes at least one symbol, so a thread decodes a
// fixed count of symbols and writes at most 18 bytes past them, inside its segment's room.
// Output positions come from the caller's weight range, never from the stream.
//
// tests/test_cuda_segments.cpp compiles these functions for the host (DFRT_SEG_HOST, with
// stand-ins for the CUDA built-ins in tests/cuda_host.h) and checks them against the CPU
// decoder, so that the decoder's logic is tested where no GPU is.
#ifndef DFRT_CUDA_DF11_SEGMENTS_CUH
#define DFRT_CUDA_DF11_SEGMENTS_CUH

#ifndef DFRT_SEG_HOST
#include "common.cuh"
#endif

namespace {

constexpr int kSegWeights = 64;       // DFRT_DF11_SEGMENT_WEIGHTS
constexpr int kGroupSegments = 16;    // DFRT_DF11_GROUP_SEGMENTS
constexpr int kGroupWords = 10;       // DFRT_DF11_GROUP_WORDS
constexpr int kFastBits = 12;         // DFRT_DF11_FAST_BITS
constexpr int kSegBatch = 5;          // fast lookups per bit window (seg_decode)
// A decoded segment's exponent bytes in shared memory: 64, and up to 18 more that the last
// batch of lookups writes past them (seg_decode); an odd number of words, so that the lanes'
// segments start in different banks.
constexpr int kSegPitchWords = 21;
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

// The form a fast-table entry takes in shared memory (seg_load_tables makes it from the
// device table's, dfrt_df11_fast_table): bits 0-4 the codes' total length (1..12), bits 5-12,
// 13-20 and 21-28 up to three exponents in the rotated form of seg_rot, bits 30-31 how many; 0:
// the code is longer than 12 bits (seg_slow). The length in the low bits shifts the bit
// window as it is (funnel shifts take their amount mod 32); the count at the top moves the
// output in one instruction.
__device__ __forceinline__ uint32_t seg_rot(uint32_t e) { return (e >> 1 | e << 7) & 0xFFu; }

__device__ __forceinline__ uint32_t seg_entry(uint32_t g) {
    if (g == 0) return 0;
    return ((g >> 24) & 31u) | seg_rot(g & 0xFFu) << 5 | seg_rot((g >> 8) & 0xFFu) << 13 | seg_rot((g >> 16) & 0xFFu) << 21 |
           (g >> 30) << 30;
}

// The unit's tables in shared memory, at addresses known when the kernel is compiled (so that
// a lookup is one shift and a load): the fast table in the form of seg_entry, and the luts;
// and the decoded exponents, kSegPitchWords words for each lane of a block of kSegWarps warps
// (static too, so that an exponent's address is one register and an immediate). Each kernel
// that uses them has them (42.5 KB).
constexpr int kSegWarps = 8;
__shared__ uint32_t seg_fast_smem[1 << kFastBits];
__shared__ __align__(16) uint8_t seg_luts_smem[kMaxLutBytes];
__shared__ __align__(16) uint32_t seg_smem[kSegWarps * 32 * kSegPitchWords];

__device__ __forceinline__ uint8_t *seg_bytes() { return reinterpret_cast<uint8_t *>(seg_smem); }

// Loads the unit's tables into shared memory (the whole block; ends with a barrier).
__device__ __forceinline__ void seg_load_tables(const SegUnit &u) {
    uint4 *fast = reinterpret_cast<uint4 *>(seg_fast_smem);
    const uint4 *src = reinterpret_cast<const uint4 *>(u.fast);
    for (int i = threadIdx.x; i < (1 << kFastBits) / 4; i += blockDim.x) {
        const uint4 g = __ldg(src + i);
        fast[i] = make_uint4(seg_entry(g.x), seg_entry(g.y), seg_entry(g.z), seg_entry(g.w));
    }
    uint32_t *luts = reinterpret_cast<uint32_t *>(seg_luts_smem);
    const uint32_t lut_words = (u.n_tables + 1) * 64;
    for (uint32_t i = threadIdx.x; i < lut_words; i += blockDim.x) luts[i] = __ldg(reinterpret_cast<const uint32_t *>(u.luts) + i);
    __syncthreads();
}

// The stream bit where segment s's first code starts.
__device__ __forceinline__ uint64_t seg_start(const uint32_t *segments, uint64_t s) {
    const uint32_t *rec = segments + (s / kGroupSegments) * kGroupWords;
    uint64_t base = __ldg(rec) | (uint64_t)__ldg(rec + 1) << 32;
    uint32_t pair = __ldg(rec + 2 + (s % kGroupSegments) / 2);
    return base + ((s & 1) ? pair >> 16 : pair & 0xFFFFu);
}

// A code longer than the fast table's 12 bits, from the 32 stream bits at it: up to four
// lookups in the unit's tables; a fifth (no valid stream has one) decodes as symbol 0 of 32
// bits. Returns the exponent in the rotated form of seg_rot, its length (1..32) << 8.
__device__ __noinline__ uint32_t seg_slow(uint32_t n_tables, uint32_t bits) {
    const uint8_t *luts = seg_luts_smem;
    uint32_t v = luts[bits >> 24];
#pragma unroll
    for (int level = 1; level < 4; level++)
        if (v >= 240u) v = luts[(256u - v) * 256u + ((bits >> (24 - 8 * level)) & 0xFFu)];
    if (v >= 240u) return 32u << 8;
    uint32_t len = luts[n_tables * 256u + v];
    return seg_rot(v) | (len == 0 ? 1u : len > 32u ? 32u : len) << 8;
}

// Where a thread starts in the stream: bit o of p[0], and p[0..2] (loads in flight until the
// decode uses them). Words are read three at a time from p[i] with i clamped to lim, so a
// corrupted index reads inside the buffer; a valid stream never needs the clamp, as the
// buffer has two words of zeros after the stream (dfrt_df11_upload).
struct SegCursor {
    const uint32_t *p;
    uint32_t lim, o;
    uint32_t b0, b1, b2;
};

__device__ __forceinline__ uint32_t seg_word(const uint32_t *p) { return __byte_perm(__ldg(p), 0, 0x0123); }

// The cursor at a stream bit.
__device__ __forceinline__ SegCursor seg_open(const SegUnit &u, uint64_t bit) {
    SegCursor c;
    const uint64_t top = u.n_words - 3; // the buffer is at least 16 bytes
    const uint64_t w = (bit >> 5) < top ? bit >> 5 : top;
    c.p = u.stream + w;
    c.lim = top - w < 0xFFFFFFFFu ? (uint32_t)(top - w) : 0xFFFFFFFFu;
    c.o = (uint32_t)(bit & 31);
    c.b0 = seg_word(c.p), c.b1 = seg_word(c.p + 1), c.b2 = seg_word(c.p + 2);
    return c;
}

// A thread's 64-bit window on the stream: bit q of its cursor's words is the first of hi; lo
// holds the next 31 bits and then a marker bit 1 (bit 0), which the shifts move up as codes
// are taken.
struct SegWin {
    uint32_t q, hi, lo;
};

// Loads a window (SegWin) at bit q of the cursor's words.
__device__ __forceinline__ void seg_window(const SegCursor &c, uint32_t q, uint32_t &hi, uint32_t &lo) {
    const uint32_t *p = c.p + min(q >> 5, c.lim);
    const uint32_t w0 = seg_word(p), w1 = seg_word(p + 1), w2 = seg_word(p + 2);
    hi = __funnelshift_l(w1, w0, q);
    lo = __funnelshift_l(w2, w1, q) | 1u;
}

__device__ __forceinline__ SegWin seg_win(const SegCursor &c) {
    SegWin w;
    w.q = c.o;
    w.hi = __funnelshift_l(c.b1, c.b0, c.o);
    w.lo = __funnelshift_l(c.b2, c.b1, c.o) | 1u;
    return w;
}

// How decoded exponents reach seg_smem, chosen per kernel (measured on the H200, llama-3.1-8b
// layer; figures in matmul.cu and df11_decode.cu):
//   kOutBytes: a byte store per exponent, three per lookup;
//   kOutWords: the word being filled is stored after every lookup, without a branch, and the
//              next word begun once it is full: one store per lookup instead of three (the
//              byte stores took 1.85 wavefronts each), for about six more instructions per
//              lookup in the SASS. It pays where the kernel waits on shared memory.
// (Storing a word only once it is full, behind a branch, measured slower than kOutWords on
// every shape, and than kOutBytes at M >= 4 and in the standalone decode.)
enum { kOutBytes = 0, kOutWords = 1 };

// The exponents on their way: for kOutBytes the next byte, wp; for kOutWords, words are
// stored from word wp on, q holding the next word's first fill / 8 bytes (fill: 0, 8, 16 or
// 24) and zeros above them.
template <int OUT> struct SegOut {
    uint32_t wp, q, fill;

    __device__ __forceinline__ explicit SegOut(uint32_t off) : wp(OUT == kOutBytes ? off : off / 4), q(0), fill(0) {}

    // The exponents so far, as bytes of seg_smem up to them.
    __device__ __forceinline__ uint32_t end() const { return OUT == kOutBytes ? wp : 4 * wp + (fill >> 3); }

    // Puts up to three exponents, the low `bits` bits of x (8 per exponent; x is zero above
    // them).
    __device__ __forceinline__ void put(uint32_t x, uint32_t bits) {
        if constexpr (OUT == kOutBytes) {
            uint8_t *const bytes = seg_bytes();
            bytes[wp] = (uint8_t)x;
            bytes[wp + 1] = (uint8_t)(x >> 8);
            bytes[wp + 2] = (uint8_t)(x >> 16);
            wp += bits >> 3;
        } else {
            const uint32_t carry = __funnelshift_l(x, 0u, fill); // the bits of x past the word
            q |= x << fill;
            seg_smem[wp] = q;
            fill += bits;
            const uint32_t full = fill >> 5;
            wp += full;
            q = full ? carry : q;
            fill &= 31u;
        }
    }

    // Puts the exponents of fast-table entry e (seg_entry).
    __device__ __forceinline__ void put_entry(uint32_t e) { put((e >> 5) & 0xFFFFFFu, (e >> 30) * 8); }

    // kOutWords: stores the bytes that a last put carried past a full word.
    __device__ __forceinline__ void finish() {
        if constexpr (OUT == kOutWords) seg_smem[wp] = q;
    }
};

// One fast lookup: up to three exponents to o; returns the entry.
template <int OUT> __device__ __forceinline__ uint32_t seg_lookup(SegWin &w, SegOut<OUT> &o) {
    const uint32_t e = seg_fast_smem[w.hi >> (32 - kFastBits)];
    o.put_entry(e);
    w.hi = __funnelshift_l(w.lo, w.hi, e); // e's low 5 bits: the length
    w.lo = __funnelshift_l(0u, w.lo, e);
    return e;
}

// After a batch of lookups whose last entry was e: whether the segment is done (end
// exponents in o); if not, the window is loaded again at the bit the marker shows, and a code
// longer than 12 bits that the batch ended on is decoded on its own.
template <int OUT>
__device__ __forceinline__ bool seg_next(uint32_t n_tables, const SegCursor &c, SegWin &w, uint32_t e, SegOut<OUT> &o,
                                         uint32_t end) {
    if (o.end() >= end) return true;
    w.q += w.lo ? __ffs(w.lo) - 1 : 31 + __ffs(w.hi); // the bits taken: the marker's distance from bit 0
    seg_window(c, w.q, w.hi, w.lo);
    if (e == 0) {
        const uint32_t s = seg_slow(n_tables, w.hi);
        o.put(s & 0xFFu, 8);
        if (o.end() >= end) return true;
        w.q += s >> 8;
        seg_window(c, w.q, w.hi, w.lo);
    }
    return false;
}

// Decodes `count` (1..64) exponents from the cursor into shared memory from byte `off` (a
// multiple of 4) of seg_smem, in the rotated form of seg_rot: bytes [off, off + count) are
// the exponents, and up to 18 bytes past them are written too (kSegPitchWords leaves room:
// five lookups after byte end - 1 reach byte end + 13, and kOutWords stores whole words).
// Each batch makes five lookups in the window (each takes at most 12 bits and reads 12: five
// fit in its 63) with no test between them: a code longer than 12 bits has entry 0, which
// takes no bits and puts nothing, so the lookups after it repeat it harmlessly until seg_next
// decodes it.
template <int OUT>
__device__ __forceinline__ void seg_decode(uint32_t n_tables, const SegCursor &c, int count, uint32_t off) {
    const uint32_t end = off + (uint32_t)count;
    SegWin w = seg_win(c);
    SegOut<OUT> o(off);
    for (;;) {
        uint32_t e;
#pragma unroll
        for (int j = 0; j < kSegBatch; j++) e = seg_lookup(w, o);
        if (seg_next(n_tables, c, w, e, o, end)) break;
    }
    o.finish();
}

// a where M has 1 bits, b where it has 0 bits, in one LOP3 (written out, the compiler makes
// two of it).
template <uint32_t M> __device__ __forceinline__ uint32_t seg_select(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, 0xE4;" : "=r"(d) : "r"(a), "r"(b), "n"(M));
    return d;
#else
    return (a & M) | (b & ~M);
#endif
}

// Four BF16 weights as two words (weights 0 and 1, then 2 and 3; the first of each in the low
// half), from their exponents in the rotated form of seg_rot (a word of seg_smem, one byte
// each) and their sign/mantissa bytes. With r = e0 e7..e1 and sm = s m6..m0, a BF16 weight
// s e7..e0 m6..m0 is the byte (r & 0x7F | sm & 0x80) over the byte (sm & 0x7F | r & 0x80):
// two selects for the four weights' high and low bytes, then a byte permute per word.
__device__ __forceinline__ uint2 seg_bf16x4(uint32_t e, uint32_t sm) {
    const uint32_t hi = seg_select<0x7F7F7F7Fu>(e, sm), lo = seg_select<0x7F7F7F7Fu>(sm, e);
    return make_uint2(__byte_perm(hi, lo, 0x1504), __byte_perm(hi, lo, 0x3726));
}

// Eight BF16 weights of decoded segments as four such words: their exponents are words ew and
// ew + 1 of seg_smem, their sign/mantissa bytes sm.
__device__ __forceinline__ uint4 seg_bf16x8(uint32_t ew, uint2 sm) {
    const uint2 lo = seg_bf16x4(seg_smem[ew], sm.x), hi = seg_bf16x4(seg_smem[ew + 1], sm.y);
    return make_uint4(lo.x, lo.y, hi.x, hi.y);
}

} // namespace

#endif
