// DF11 decode on CUDA: one block per 4096-byte chunk, one thread per 64-bit window.
//
// Each thread keeps its window's 96 bits (64 plus 32 of look-ahead) in registers, counts the
// codes that start in the window, a block-wide scan turns counts into output indices, and a
// second pass decodes again, storing exponents in shared memory. A last, coalesced loop joins
// them with the sign/mantissa bytes into BF16. Only indices inside the chunk's
// [positions[c], positions[c+1]) are stored, so no input can make the kernel write outside
// its output; reads of the stream stop at the buffer's padded end.
#include "common.cuh"

namespace {

constexpr int kDecodeThreads = 512;
constexpr int kStreamWords = 1024 + 2; // 4096 bytes + 8 of look-ahead

// The kernel's parameters: the unit's device tensors and the chunks to decode. out receives
// weight positions[first_chunk] at out[0]; max_chunk_weights bounds the shared staging.
struct DecodeArgs {
    const uint8_t *luts;       // (n_tables + 1) * 256
    const uint8_t *stream;     // n_bytes, buffer padded to 16 bytes
    const uint8_t *sign_mantissa;
    const uint32_t *positions; // n_chunks + 1
    const uint8_t *gaps;
    uint16_t *out;
    uint64_t n_bytes;
    uint32_t first_chunk, n_chunks;
    uint32_t n_tables;
    uint32_t max_chunk_weights;
};

__device__ __forceinline__ uint32_t bswap32(uint32_t x) { return __byte_perm(x, 0, 0x0123); }

// The 32 bits at offset o (< 64) of a window held in w0:w1:w2, MSB first.
__device__ __forceinline__ uint32_t peek(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t o) {
    return o < 32 ? __funnelshift_l(w1, w0, o) : __funnelshift_l(w2, w1, o - 32);
}

struct Tables {
    const uint8_t *luts; // shared: (n_tables + 1) * 256
    const uint16_t *fast; // shared: symbol | length << 8 when table 0 resolves it, else 0xFFFF
    uint32_t n_tables;
};

// Decodes the code at the top of `bits`: symbol | length << 8. A code needing a fifth lookup
// (none in a valid stream) decodes as symbol 0 of length 32, so decoding always advances.
__device__ __forceinline__ uint32_t decode(const Tables &t, uint32_t bits) {
    uint32_t f = t.fast[bits >> 24];
    if (f != 0xFFFFu) return f;
    uint32_t v = t.luts[bits >> 24];
#pragma unroll
    for (int level = 1; level < 4; level++)
        if (v >= 240u) v = t.luts[(256u - v) * 256u + ((bits >> (24 - 8 * level)) & 0xFFu)];
    if (v >= 240u) return 32u << 8;
    uint32_t len = t.luts[t.n_tables * 256u + v];
    return v | (len ? len : 1u) << 8;
}

__device__ __forceinline__ uint32_t gap_of(const uint8_t *gaps, uint64_t window) {
    uint64_t bit = window * 5;
    uint32_t two = (uint32_t)gaps[bit >> 3] << 8;
    if ((bit & 7) > 3) two |= gaps[(bit >> 3) + 1];
    return (two >> (11 - (bit & 7))) & 31u;
}

__global__ void __launch_bounds__(kDecodeThreads) df11_decode_kernel(DecodeArgs p) {
    extern __shared__ __align__(16) uint8_t smem[];
    uint32_t *s_stream = reinterpret_cast<uint32_t *>(smem);
    uint16_t *s_fast = reinterpret_cast<uint16_t *>(s_stream + kStreamWords);
    uint32_t *s_warp = reinterpret_cast<uint32_t *>(s_fast + 256);
    uint8_t *s_luts = reinterpret_cast<uint8_t *>(s_warp + kDecodeThreads / 32);
    uint8_t *s_exp = s_luts + 18 * 256;

    const uint32_t t = threadIdx.x, lane = t & 31, warp = t >> 5;
    const uint32_t c = p.first_chunk + blockIdx.x;
    const uint32_t begin = p.positions[c], end = p.positions[c + 1];
    const uint32_t base = p.positions[p.first_chunk];

    // The chunk's words (big-endian) and the tables.
    const uint64_t chunk_byte = (uint64_t)c * 4096u;
    const uint64_t padded_words = (p.n_bytes + 15) / 16 * 4;
    const uint32_t *stream_words = reinterpret_cast<const uint32_t *>(p.stream);
    for (uint32_t i = t; i < kStreamWords; i += kDecodeThreads) {
        uint64_t w = chunk_byte / 4 + i;
        s_stream[i] = w < padded_words ? bswap32(__ldg(stream_words + w)) : 0u;
    }
    const uint32_t lut_words = (p.n_tables + 1) * 64;
    for (uint32_t i = t; i < lut_words; i += kDecodeThreads)
        reinterpret_cast<uint32_t *>(s_luts)[i] = __ldg(reinterpret_cast<const uint32_t *>(p.luts) + i);
    __syncthreads();
    if (t < 256) {
        uint32_t v = s_luts[t];
        s_fast[t] = v >= 240u ? 0xFFFFu : (uint16_t)(v | (s_luts[p.n_tables * 256u + v] ? s_luts[p.n_tables * 256u + v] : 1u) << 8);
    }
    __syncthreads();
    Tables tab = {s_luts, s_fast, p.n_tables};

    const uint32_t w0 = s_stream[2 * t], w1 = s_stream[2 * t + 1], w2 = s_stream[2 * t + 2];
    const uint32_t gap = gap_of(p.gaps, (uint64_t)c * kDecodeThreads + t);

    // Pass 1: count the codes that start in this window.
    uint32_t count = 0;
    for (uint32_t o = gap; o < 64; count++) o += decode(tab, peek(w0, w1, w2, o)) >> 8;

    // Exclusive scan of the counts over the block.
    uint32_t incl = count;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        uint32_t v = __shfl_up_sync(0xFFFFFFFFu, incl, d);
        if (lane >= (uint32_t)d) incl += v;
    }
    if (lane == 31) s_warp[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        uint32_t v = lane < kDecodeThreads / 32 ? s_warp[lane] : 0u;
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            uint32_t u = __shfl_up_sync(0xFFFFFFFFu, v, d);
            if (lane >= (uint32_t)d) v += u;
        }
        if (lane < kDecodeThreads / 32) s_warp[lane] = v;
    }
    __syncthreads();
    uint32_t index = begin + incl - count + (warp ? s_warp[warp - 1] : 0u);

    // Pass 2: decode again; exponents of this chunk's weights go to shared memory.
    for (uint32_t o = gap; o < 64 && index < end; index++) {
        uint32_t d = decode(tab, peek(w0, w1, w2, o));
        o += d >> 8;
        s_exp[index - begin] = (uint8_t)d;
    }
    __syncthreads();

    // Join with sign and mantissa, coalesced.
    const uint8_t *sm = p.sign_mantissa + begin;
    uint16_t *out = p.out + (begin - base);
    for (uint32_t e = t; e < end - begin; e += kDecodeThreads) {
        uint32_t s = __ldg(sm + e);
        out[e] = (uint16_t)(((s & 0x80u) << 8) | ((uint32_t)s_exp[e] << 7) | (s & 0x7Fu));
    }
}

} // namespace

extern "C" dfrt_status dfrt_cuda_df11_decode(dfrt_cuda_ctx *ctx, const dfrt_df11_decode_args *a) {
    const dfrt_device_df11 *u = a->unit;
    DecodeArgs p;
    p.luts = static_cast<const uint8_t *>(u->luts->impl);
    p.stream = static_cast<const uint8_t *>(u->stream->impl);
    p.sign_mantissa = static_cast<const uint8_t *>(u->sign_mantissa->impl);
    p.positions = static_cast<const uint32_t *>(u->positions_buf->impl);
    p.gaps = static_cast<const uint8_t *>(u->gaps->impl);
    p.out = dev<uint16_t>(a->out);
    p.n_bytes = u->n_bytes;
    p.first_chunk = a->first_chunk;
    p.n_chunks = a->n_chunks;
    p.n_tables = u->n_tables;
    p.max_chunk_weights = u->max_chunk_weights;
    const size_t fixed = kStreamWords * 4 + 256 * 2 + (kDecodeThreads / 32) * 4 + 18 * 256;
    size_t shared = (fixed + p.max_chunk_weights + 15) / 16 * 16;
    // Room for the largest chunk any unit can have (32768 weights).
    static unsigned long long allowed = 0;
    DFRT_CUDA_TRY(allow_shared(df11_decode_kernel, (int)((fixed + 32768 + 15) / 16 * 16), allowed));
    // A unit has at most 2^32 weights of at least one bit: fewer than 2^17 chunks, one block each.
    df11_decode_kernel<<<p.n_chunks, kDecodeThreads, shared, ctx->stream>>>(p);
    return DFRT_CUDA_LAUNCHED("df11_decode");
}
