// DF11 decode on CUDA, from the segment layout (df11_segments.cuh): the weights of a chunk
// range, which the op names, are a weight range [a, b); each warp takes 32 consecutive
// segments (2048 weights) at a time, each lane decodes one segment's exponents into shared
// memory, then the warp joins them with the sign/mantissa bytes, 8 weights per lane and step,
// and writes BF16 (16-byte stores where aligned). Only weights inside [a, b) are written.
#include "df11_segments.cuh"

namespace {

constexpr int kDecodeThreads = 256;
constexpr int kDecodeWarps = kDecodeThreads / 32;
static_assert(kDecodeWarps == kSegWarps, "seg_smem has room for kSegWarps warps");

__global__ void __launch_bounds__(kDecodeThreads, 4) df11_decode_kernel(SegUnit u, uint64_t a, uint64_t b, uint16_t *out) {
    seg_load_tables(u);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // this warp's 32 decoded segments in seg_smem (words), and this lane's own (bytes)
    const uint32_t exps = warp * 32 * kSegPitchWords;
    const uint32_t mine = 4 * (exps + lane * kSegPitchWords);
    // the exponents of this lane's vector k (8 weights: lane + 32 k of the item's 256) are
    // words ew + 4 k kSegPitchWords and the next
    const uint32_t ew = exps + (lane / 8) * kSegPitchWords + (lane % 8) * 2;
    const uint64_t seg0 = a / kSegWeights, segs = (b - 1) / kSegWeights + 1 - seg0;
    const uint64_t items = (segs + 31) / 32;
    // out + i - a for weight i: 16-byte stores of 8 weights when that is aligned for i % 8 == 0
    const bool vec = ((reinterpret_cast<uintptr_t>(out) - 2 * (a % 8)) & 15) == 0;
    // The next item's segment start and stream words are loaded while this one is decoded.
    const uint64_t step = (uint64_t)gridDim.x * kDecodeWarps;
    auto in_range = [&](uint64_t it) { return it < items && (seg0 + it * 32 + lane) * kSegWeights < b; };
    uint64_t item = (uint64_t)blockIdx.x * kDecodeWarps + warp;
    SegCursor cur = {};
    if (in_range(item)) cur = seg_open(u, seg_start(u.segments, seg0 + item * 32 + lane));
    for (; item < items; item += step) {
        const bool next_in = in_range(item + step);
        const uint64_t next_bit = next_in ? seg_start(u.segments, seg0 + (item + step) * 32 + lane) : 0;
        const uint64_t base = (seg0 + item * 32) * kSegWeights, w0 = base + (uint64_t)lane * kSegWeights;
        // the whole item inside [a, b) with aligned stores: the same for the whole warp
        const bool whole = vec && base >= a && base + 32 * kSegWeights <= b;
        const uint2 *sm = reinterpret_cast<const uint2 *>(u.sign_mantissa + base) + lane;
        uint2 s8[8]; // this lane's sign/mantissa bytes, 8 weights per step (buffer padded to 16)
#pragma unroll
        for (int k = 0; k < 8; k++)
            s8[k] = whole || base + 8 * (uint64_t)(lane + 32 * k) < b ? __ldg(sm + 32 * k) : make_uint2(0, 0);
        // byte stores: 1082 G weights/s on the H200 (layer unit), 1053 with word stores
        if (w0 < b) seg_decode<kOutBytes>(u.n_tables, cur, (int)min((uint64_t)kSegWeights, b - w0), mine);
        if (next_in) cur = seg_open(u, next_bit);
        __syncwarp();
        if (whole) {
            uint4 *o = reinterpret_cast<uint4 *>(out + (base - a)) + lane;
#pragma unroll
            for (int k = 0; k < 8; k++) o[32 * k] = seg_bf16x8(ew + 4 * k * kSegPitchWords, s8[k]);
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) { // 8 weights per lane and step
                const uint64_t i = base + 8 * (uint64_t)(lane + 32 * k);
                if (i >= b || i + 8 <= a) continue;
                const uint4 v = seg_bf16x8(ew + 4 * k * kSegPitchWords, s8[k]);
                const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int j = 0; j < 8; j++)
                    if (i + j >= a && i + j < b) out[i + j - a] = (uint16_t)(w[j / 2] >> (16 * (j % 2)));
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
    const uint64_t segs = (b - 1) / kSegWeights + 1 - a / kSegWeights;
    const uint64_t blocks = (segs + 32 * kDecodeWarps - 1) / (32 * kDecodeWarps);
    static int per_sm = 0; // blocks loop over items
    unsigned grid;
    DFRT_CUDA_TRY(one_wave(df11_decode_kernel, kDecodeThreads, 0, ctx->sm_count, per_sm, blocks, grid));
    df11_decode_kernel<<<grid, kDecodeThreads, 0, ctx->stream>>>(seg_unit(unit), a, b, out);
    return DFRT_CUDA_LAUNCHED("df11_decode");
}

extern "C" dfrt_status dfrt_cuda_df11_decode(dfrt_cuda_ctx *ctx, const dfrt_df11_decode_args *a) {
    const dfrt_device_df11 *u = a->unit;
    const uint64_t begin = u->positions[a->first_chunk], end = u->positions[a->first_chunk + a->n_chunks];
    return dfrt_cuda_df11_decode_range(ctx, u, begin, end, dev<uint16_t>(a->out));
}
