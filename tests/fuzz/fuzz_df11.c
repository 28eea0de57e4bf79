/* DF11 unit validation, then the CPU decoders. The input is a 32-byte header of little-endian
 * uint32s (rows of luts, bytes of encoded_exponent, sign_mantissa, output_positions and gaps,
 * count of split_positions, and a first chunk and chunk count for a partial decode), followed
 * by the six tensors' bytes in that order. Each tensor gets its own allocation of exactly its
 * size, so that the sanitizers catch a read past any of them.
 *
 * Promises checked: a unit that passes validation decodes without touching memory outside its
 * tensors and output; when the indexed decoder succeeds, the sequential decoder (which ignores
 * gaps and output positions) gives the same weights, and so does a decode of any chunk range. */
#include "fuzz.h"
#include "../tensor_desc.h"

#define HEADER_BYTES 32

static void set_tensor(dfrt_tensor *t, const char *name, dfrt_dtype dtype, int n_dims, int64_t d0, int64_t d1,
                       const uint8_t **p) {
    tensor_describe(t, name, "fuzz.safetensors", dtype, n_dims, d0, d1);
    uint8_t *copy = malloc(t->n_bytes ? t->n_bytes : 1);
    if (!copy) abort();
    memcpy(copy, *p, t->n_bytes);
    *p += t->n_bytes;
    t->data = copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEADER_BYTES) return 0;
    uint32_t h[8];
    for (int i = 0; i < 8; i++) h[i] = dfrt_load_u32le(data + 4 * i);
    uint64_t need = 256 * (uint64_t)h[0] + h[1] + h[2] + h[3] + h[4] + 8 * (uint64_t)h[5];
    if (need > size - HEADER_BYTES) return 0;
    const uint8_t *p = data + HEADER_BYTES;
    dfrt_tensor t[6];
    set_tensor(&t[0], "unit.luts", DFRT_DTYPE_U8, 2, h[0], 256, &p);
    set_tensor(&t[1], "unit.encoded_exponent", DFRT_DTYPE_U8, 1, h[1], 0, &p);
    set_tensor(&t[2], "unit.sign_mantissa", DFRT_DTYPE_U8, 1, h[2], 0, &p);
    set_tensor(&t[3], "unit.output_positions", DFRT_DTYPE_U8, 1, h[3], 0, &p);
    set_tensor(&t[4], "unit.gaps", DFRT_DTYPE_U8, 1, h[4], 0, &p);
    set_tensor(&t[5], "unit.split_positions", DFRT_DTYPE_I64, 1, h[5], 0, &p);
    dfrt_df11_tensors ts = {&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]};

    dfrt_df11_unit u;
    dfrt_status s = dfrt_df11_unit_init("unit", &ts, 0, NULL, &u);
    FUZZ_EXPECT_MESSAGE(s, "unit");
    if (s == DFRT_OK) {
        FUZZ_ASSERT(u.n == h[2] && u.n_chunks == (h[1] + 4095) / 4096, "unit sizes");
        uint16_t *indexed = malloc(u.n * 2), *sequential = malloc(u.n * 2);
        if (!indexed || !sequential) abort();
        dfrt_status si = dfrt_df11_decode(&u, indexed, 1);
        FUZZ_EXPECT_MESSAGE(si, "unit");
        dfrt_status ss = dfrt_df11_decode_sequential(&u, sequential);
        FUZZ_EXPECT_MESSAGE(ss, "unit");
        if (si == DFRT_OK) {
            FUZZ_ASSERT(ss == DFRT_OK, "the index decoded but the stream did not");
            FUZZ_ASSERT(memcmp(indexed, sequential, u.n * 2) == 0, "indexed and sequential decodes differ");
            /* a chunk range inside the unit */
            uint32_t first = h[6] % u.n_chunks, count = 1 + h[7] % (u.n_chunks - first);
            uint64_t begin = dfrt_df11_chunk_start(&u, first), end = dfrt_df11_chunk_start(&u, first + count);
            FUZZ_ASSERT(begin <= end && end <= u.n, "chunk starts %llu .. %llu", (unsigned long long)begin,
                        (unsigned long long)end);
            uint16_t *part = malloc((end - begin) * 2 + 2);
            if (!part) abort();
            FUZZ_ASSERT(dfrt_df11_decode_chunks(&u, first, count, part) == DFRT_OK, "chunks %u + %u", first, count);
            FUZZ_ASSERT(memcmp(part, indexed + begin, (end - begin) * 2) == 0, "chunks %u + %u differ", first, count);
            free(part);
            /* the chunk range that covers a weight range */
            uint64_t wb = h[6] % u.n, we = wb + 1 + h[7] % (u.n - wb);
            dfrt_df11_chunks_covering(&u, wb, we, &first, &count);
            FUZZ_ASSERT(first + (uint64_t)count <= u.n_chunks && dfrt_df11_chunk_start(&u, first) <= wb &&
                            dfrt_df11_chunk_start(&u, first + count) >= we,
                        "chunks %u + %u do not cover weights %llu .. %llu", first, count, (unsigned long long)wb,
                        (unsigned long long)we);
        }
        free(indexed);
        free(sequential);
        dfrt_df11_unit_release(&u);
    }
    for (int i = 0; i < 6; i++) free((void *)t[i].data);
    return 0;
}
