/* DF11 decode (shaders/df11_decode.comp): groups of chunks whose stream, sign/mantissa and
 * output ranges each fit one binding, one workgroup a chunk. */
#include "vk_internal.h"

#include "df11_decode.spv.h"

typedef struct decode_push {
    uint32_t first_chunk, n_tables, stream_word0, stream_words, sm_byte0, sm_bytes, out_elem0, n_group_chunks;
} decode_push;
_Static_assert(sizeof(decode_push) == 32, "decode push constants");

/* The shader's shared memory besides its staging area: the fused first table (256 words), the
 * scan (512) and a flag. */
#define DECODE_FIXED_SHARED ((256 + 512 + 1) * 4)

/* One pipeline per size of the shared staging area (in words of four exponents). */
dfrt_status vk_df11_decode_pipelines(vk_backend *vk) {
    uint32_t shared = vk->limits.maxComputeSharedMemorySize;
    uint32_t stage_max = shared > DECODE_FIXED_SHARED + 64 ? (shared - DECODE_FIXED_SHARED - 64) / 4 : 1;
    stage_max = DFRT_MIN(stage_max, 8192u); /* 32768 weights: a chunk never holds more */
    /* Variants: no staging (1 word), and staging areas for chunks of up to 8K, 12K, 16K, ...
     * weights. DFRT_VULKAN_DECODE_STAGING=0 keeps only the first (for measurements). */
    const char *staging = getenv("DFRT_VULKAN_DECODE_STAGING");
    vk->decode_stage_words[vk->n_decode++] = 1;
    static const uint32_t sizes[] = {2048, 3072, 4096, 6144};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes && sizes[i] < stage_max && !(staging && *staging == '0'); i++)
        vk->decode_stage_words[vk->n_decode++] = sizes[i];
    if (!(staging && *staging == '0') && stage_max > 1) vk->decode_stage_words[vk->n_decode++] = stage_max;
    for (int i = 0; i < vk->n_decode; i++) {
        char name[32];
        snprintf(name, sizeof name, "df11_decode_%u", vk->decode_stage_words[i]);
        DFRT_TRY(vk_pipeline_create(vk, &vk->decode[i], name, df11_decode_spv, sizeof df11_decode_spv, 6,
                                    sizeof(decode_push), &vk->decode_stage_words[i], 1));
    }
    return DFRT_OK;
}

VK_SUPPORTS_ANY_SIZE(df11_decode)

dfrt_status vk_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a) {
    vk_backend *vk = vk_of(b);
    const dfrt_device_df11 *u = a->unit;
    const uint32_t *pos = u->positions;
    uint64_t limit = vk_range_limit(vk);
    uint64_t max_chunks = (uint64_t)vk->max_groups * vk->max_groups;
    vk_buffer *stream = u->stream->impl, *sm = u->sign_mantissa->impl, *out = a->out.buf->impl;
    uint32_t end = a->first_chunk + a->n_chunks;
    /* the smallest staging area that holds the unit's largest chunk, else the largest */
    const vk_pipeline *pipe = &vk->decode[vk->n_decode - 1];
    for (int i = vk->n_decode - 1; i >= 1; i--)
        if (4ull * vk->decode_stage_words[i] >= u->max_chunk_weights) pipe = &vk->decode[i];
    for (uint32_t c = a->first_chunk; c < end;) {
        /* The largest group of chunks whose stream, sign/mantissa and output ranges all fit
         * one binding: stream 4096 bytes a chunk (+8 look-ahead), outputs 2 bytes a weight. */
        uint64_t g = DFRT_MIN((uint64_t)end, c + DFRT_MIN((limit - 8) / DFRT_DF11_CHUNK_BYTES, max_chunks));
        uint32_t lo = c + 1, hi = (uint32_t)g; /* largest g in [lo, hi] with 2 * weights <= limit */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo + 1) / 2;
            if (2ull * (pos[mid] - pos[c]) <= limit) lo = mid;
            else hi = mid - 1;
        }
        g = lo;
        uint32_t n = (uint32_t)(g - c);
        size_t ds, dm, dout;
        vk_binding bindings[6] = {
            {((vk_buffer *)u->luts->impl)->buffer, 0, VK_WHOLE_SIZE},
            vk_bind(stream, (size_t)c * DFRT_DF11_CHUNK_BYTES, (size_t)n * DFRT_DF11_CHUNK_BYTES + 8, vk->min_align, &ds),
            vk_bind(sm, pos[c], pos[g] - pos[c], vk->min_align, &dm),
            {((vk_buffer *)u->positions_buf->impl)->buffer, 0, VK_WHOLE_SIZE},
            {((vk_buffer *)u->gaps->impl)->buffer, 0, VK_WHOLE_SIZE},
            vk_bind(out, a->out.offset + 2 * (size_t)(pos[c] - pos[a->first_chunk]), 2 * (size_t)(pos[g] - pos[c]),
                    vk->min_align, &dout),
        };
        decode_push push = {
            .first_chunk = c,
            .n_tables = u->n_tables,
            .stream_word0 = (uint32_t)(ds / 4),
            .stream_words = (uint32_t)(bindings[1].range / 4),
            .sm_byte0 = (uint32_t)dm,
            .sm_bytes = (uint32_t)bindings[2].range,
            .out_elem0 = (uint32_t)(dout / 2),
            .n_group_chunks = n,
        };
        /* the shader numbers its chunks from gl_NumWorkGroups, not from push constants */
        DFRT_TRY(vk_launch(vk, pipe, bindings, &push, NULL, n));
        c = (uint32_t)g;
    }
    return DFRT_OK;
}
