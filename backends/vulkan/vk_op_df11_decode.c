/* DF11 decode from the segment layout (shaders/df11_decode.comp, df11_segments.glsl): the
 * weights of the op's chunk range, in pieces whose stream, index, sign/mantissa and output
 * ranges each fit one binding. Also the bindings the fused GEMV shares (vk_seg_bindings). */
#include "vk_internal.h"

#include "format/df11_internal.h"

#include "df11_decode.spv.h"

typedef struct decode_push {
    uint32_t seg0, skip, count, sm0, out0, stream_word0, stream_words, seg_rec0, seg_word0, n_tables;
} decode_push;
_Static_assert(sizeof(decode_push) == 40, "decode push constants");

/* The decoders' shared memory: the fast table (4096 words), the luts (18 x 64 words), and 21
 * words per segment decoded at once (df11_segments.glsl). */
#define SEG_TABLE_WORDS (4096u + 18u * 64u)
#define SEG_PITCH_WORDS 21u

dfrt_status vk_df11_decode_pipelines(vk_backend *vk) {
    uint32_t shared = vk->limits.maxComputeSharedMemorySize;
    for (uint32_t wg = 256; wg >= 128 && !vk->seg_workgroup; wg /= 2)
        if (4 * (SEG_TABLE_WORDS + wg * SEG_PITCH_WORDS) <= shared) vk->seg_workgroup = wg;
    if (!vk->seg_workgroup) return DFRT_OK; /* supports() says why */
    return vk_pipeline_create(vk, &vk->df11_decode, "df11_decode", df11_decode_spv, sizeof df11_decode_spv, 6,
                              sizeof(decode_push), &vk->seg_workgroup, 1);
}

static uint64_t device_chunk_start(const void *ctx, uint32_t c) {
    return ((const dfrt_device_df11 *)ctx)->positions[c];
}

bool vk_seg_bindings(const vk_backend *vk, const dfrt_device_df11 *u, uint64_t wa, uint64_t wb, vk_seg_bind *out) {
    uint64_t limit = vk_range_limit(vk);
    /* the stream: the chunks whose weights cover [wa, wb), and the three words a decoder reads
     * from its last code's word; codes of a chunk start inside it */
    uint32_t c0, nc;
    dfrt_chunks_covering(u->n_chunks, u->n, device_chunk_start, u, wa, wb, &c0, &nc);
    vk_buffer *stream = u->stream->impl, *segments = u->segments->impl;
    uint64_t s_begin = (uint64_t)c0 * DFRT_DF11_CHUNK_BYTES;
    uint64_t s_end = DFRT_MIN(((uint64_t)c0 + nc) * DFRT_DF11_CHUNK_BYTES + 16, (uint64_t)stream->size);
    if (s_begin >= s_end) s_begin = s_end > 16 ? s_end - 16 : 0; /* a corrupted unit: any range will do */
    uint64_t r0 = wa / (DFRT_DF11_SEGMENT_WEIGHTS * DFRT_DF11_GROUP_SEGMENTS);
    uint64_t r1 = (wb - 1) / (DFRT_DF11_SEGMENT_WEIGHTS * DFRT_DF11_GROUP_SEGMENTS) + 1;
    if (s_end - s_begin > limit || (r1 - r0) * DFRT_DF11_GROUP_WORDS * 4 > limit || r0 > UINT32_MAX) return false;
    size_t ds, dg;
    out->stream = vk_bind(stream, (size_t)s_begin, (size_t)(s_end - s_begin), vk->min_align, &ds);
    out->segments = vk_bind(segments, (size_t)(r0 * DFRT_DF11_GROUP_WORDS * 4),
                            (size_t)((r1 - r0) * DFRT_DF11_GROUP_WORDS * 4), vk->min_align, &dg);
    out->stream_word0 = (uint32_t)(out->stream.offset / 4);
    out->stream_words = (uint32_t)(out->stream.range / 4);
    out->seg_rec0 = (uint32_t)r0;
    out->seg_word0 = (uint32_t)(dg / 4);
    return true;
}

/* The weights from a (up to `want`) whose ranges fit the bindings, decoding from the start of
 * a's segment; 0 if none. */
static uint64_t piece(const vk_backend *vk, const dfrt_device_df11 *u, uint64_t a, uint64_t want, vk_seg_bind *sb) {
    uint64_t limit = vk_range_limit(vk), first = a - a % DFRT_DF11_SEGMENT_WEIGHTS;
    uint64_t n = DFRT_MIN(want, (limit - 64) / 2); /* the output: 2 bytes a weight */
    n = DFRT_MIN(n, (uint64_t)UINT32_MAX / 2);
    while (n && !vk_seg_bindings(vk, u, first, a + n, sb)) n /= 2;
    return n;
}

dfrt_status vk_df11_decode_range(vk_backend *vk, const dfrt_device_df11 *u, uint64_t a, uint64_t b, vk_buffer *out,
                                 size_t out_byte) {
    vk_buffer *sm = u->sign_mantissa->impl;
    const vk_binding fast = {((vk_buffer *)u->fast->impl)->buffer, 0, VK_WHOLE_SIZE};
    const vk_binding luts = {((vk_buffer *)u->luts->impl)->buffer, 0, VK_WHOLE_SIZE};
    while (a < b) {
        vk_seg_bind sb;
        uint64_t n = piece(vk, u, a, b - a, &sb);
        if (!n)
            return dfrt_fail(DFRT_UNSUPPORTED, "vulkan df11_decode: unit %s: the stream of one weight does not fit the "
                                               "device's %llu-byte binding limit", u->name,
                             (unsigned long long)vk->max_range);
        uint64_t seg0 = a / DFRT_DF11_SEGMENT_WEIGHTS, first = seg0 * DFRT_DF11_SEGMENT_WEIGHTS;
        size_t dm, dout;
        vk_binding bindings[6] = {
            sb.stream,
            sb.segments,
            fast,
            luts,
            vk_bind(sm, (size_t)first, (size_t)(a + n - first), vk->min_align, &dm),
            vk_bind(out, out_byte, (size_t)(2 * n), vk->min_align, &dout),
        };
        decode_push push = {
            .seg0 = (uint32_t)seg0,
            .skip = (uint32_t)(a - first),
            .count = (uint32_t)n,
            .sm0 = (uint32_t)dm,
            .out0 = (uint32_t)(dout / 2),
            .stream_word0 = sb.stream_word0,
            .stream_words = sb.stream_words,
            .seg_rec0 = sb.seg_rec0,
            .seg_word0 = sb.seg_word0,
            .n_tables = u->n_tables,
        };
        /* workgroups loop over items of seg_workgroup segments: enough of them to fill a GPU */
        uint64_t items = vk_ceil_div(vk_ceil_div(a - first + n, DFRT_DF11_SEGMENT_WEIGHTS), vk->seg_workgroup);
        uint32_t groups = (uint32_t)DFRT_MIN(items, DFRT_MIN(1024ull, (uint64_t)vk->max_groups));
        DFRT_TRY(vk_dispatch(vk, &vk->df11_decode, bindings, &push, groups, 1));
        a += n;
        out_byte += 2 * n;
    }
    return DFRT_OK;
}

dfrt_status vk_seg_decoder_supported(const vk_backend *vk, const char *op) {
    if (!vk->seg_workgroup)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan %s: the device's %u bytes of shared memory per workgroup do not hold "
                                           "the DF11 decoder's tables",
                         op, vk->limits.maxComputeSharedMemorySize);
    return DFRT_OK;
}

dfrt_status vk_df11_decode_supports(const vk_backend *vk, const dfrt_df11_decode_args *a) {
    (void)a;
    return vk_seg_decoder_supported(vk, "df11_decode");
}

dfrt_status vk_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a) {
    const dfrt_device_df11 *u = a->unit;
    uint64_t begin = u->positions[a->first_chunk], end = u->positions[a->first_chunk + a->n_chunks];
    return vk_df11_decode_range(vk_of(b), u, begin, end, a->out.buf->impl, a->out.offset);
}
