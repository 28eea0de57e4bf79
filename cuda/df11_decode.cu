// DF11 decode on CUDA, from the segment layout (df11_segments.cuh): the weights of a chunk
// range, which the op names, are a weight range [a, b); each warp takes 32 consecutive
// segments (2048 weights) at a time, each lane decodes one segment's exponents into shared
// memory, then the warp joins them with the sign/mantissa bytes and writes BF16, coalesced.
// Only weights inside [a, b) are written.
#include "df11_segments.cuh"

namespace {

constexpr int kDecodeThreads = 256;
constexpr int kDecodeWarps = kDecodeThreads / 32;
constexpr int kDecodeShared = kSegTableBytes + kDecodeWarps * 32 * kSegPitchWords * 4;

__global__ void __launch_bounds__(kDecodeThreads) df11_decode_kernel(SegUnit u, uint64_t a, uint64_t b, uint16_t *out) {
    extern __shared__ __align__(16) uint8_t smem[];
    const SegTables t = seg_load_tables(u, smem);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint32_t *exps = reinterpret_cast<uint32_t *>(smem + kSegTableBytes) + warp * 32 * kSegPitchWords;
    const uint8_t *exp_bytes = reinterpret_cast<const uint8_t *>(exps);
    const uint64_t seg0 = a / kSegWeights, segs = (b - 1) / kSegWeights + 1 - seg0;
    const uint64_t items = (segs + 31) / 32;
    for (uint64_t item = (uint64_t)blockIdx.x * kDecodeWarps + warp; item < items; item += (uint64_t)gridDim.x * kDecodeWarps) {
        const uint64_t s = seg0 + item * 32 + lane, w0 = s * kSegWeights;
        if (w0 < b) seg_decode(u, t, s, (int)min((uint64_t)kSegWeights, b - w0), exps + lane * kSegPitchWords);
        __syncwarp();
        const uint64_t base = (seg0 + item * 32) * kSegWeights;
        for (int e = lane; e < 32 * kSegWeights; e += 32) {
            const uint64_t i = base + e;
            if (i >= a && i < b) {
                uint32_t sm = __ldg(u.sign_mantissa + i), x = exp_bytes[(e / kSegWeights) * kSegPitchWords * 4 + e % kSegWeights];
                out[i - a] = (uint16_t)((sm & 0x80u) << 8 | x << 7 | (sm & 0x7Fu));
            }
        }
        __syncwarp();
    }
}

} // namespace

// Weights [a, b) of the unit into out (BF16), on the stream.
extern "C" dfrt_status dfrt_cuda_df11_decode_range(dfrt_cuda_ctx *ctx, const dfrt_device_df11 *unit, uint64_t a,
                                                   uint64_t b, uint16_t *out) {
    if (b <= a) return DFRT_OK;
    static unsigned long long allowed = 0;
    DFRT_CUDA_TRY(allow_shared(df11_decode_kernel, kDecodeShared, allowed));
    const uint64_t segs = (b - 1) / kSegWeights + 1 - a / kSegWeights;
    const uint64_t blocks = (segs + 32 * kDecodeWarps - 1) / (32 * kDecodeWarps);
    const uint64_t most = (uint64_t)ctx->sm_count * 8; // enough to fill the GPU; blocks then loop
    df11_decode_kernel<<<(unsigned)(blocks < most ? blocks : most), kDecodeThreads, kDecodeShared, ctx->stream>>>(
        seg_unit(unit), a, b, out);
    return DFRT_CUDA_LAUNCHED("df11_decode");
}

extern "C" dfrt_status dfrt_cuda_df11_decode(dfrt_cuda_ctx *ctx, const dfrt_df11_decode_args *a) {
    const dfrt_device_df11 *u = a->unit;
    const uint64_t begin = u->positions[a->first_chunk], end = u->positions[a->first_chunk + a->n_chunks];
    return dfrt_cuda_df11_decode_range(ctx, u, begin, end, dev<uint16_t>(a->out));
}
