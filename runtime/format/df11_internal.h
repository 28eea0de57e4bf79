/* Pieces shared by the DF11 validator, decoders and encoder. */
#ifndef DFRT_DF11_INTERNAL_H
#define DFRT_DF11_INTERNAL_H

#include "base/internal.h"

/* 5-bit gap of window t, packed MSB first. */
static inline unsigned df11_gap(const uint8_t *gaps, uint64_t t) {
    uint64_t bit = t * 5;
    unsigned two = ((unsigned)gaps[bit >> 3] << 8) | ((bit & 7) > 3 ? gaps[(bit >> 3) + 1] : 0);
    return (two >> (11 - (bit & 7))) & 31;
}

/* Output position c of the stored list (c < n_positions). */
static inline uint64_t df11_position(const dfrt_df11_unit *u, uint32_t c) {
    return c < u->n_positions ? dfrt_load_u32le(u->output_positions + 4 * (size_t)c) : u->n;
}

/* Decodes chunks [first, first + count) on n_threads threads into out, which receives weights
 * from chunk_start(first) on. */
dfrt_status df11_decode_parallel(const dfrt_df11_unit *u, uint32_t first, uint32_t count, uint16_t *out,
                                 int n_threads);

/* The segment index of the device layout that GPU backends keep (backend.h): a record of
 * DFRT_DF11_GROUP_WORDS uint32 per group of DFRT_DF11_GROUP_SEGMENTS segments of
 * DFRT_DF11_SEGMENT_WEIGHTS weights: words 0-1 the stream bit (low, high) where the group's
 * first code starts, then one uint16 per segment (two per word, low half first): the bit
 * where the segment's first code starts, relative to the group's. */
#define DFRT_DF11_SEGMENT_WEIGHTS 64u
#define DFRT_DF11_GROUP_SEGMENTS 16u
#define DFRT_DF11_GROUP_WORDS 10u
static inline uint64_t dfrt_df11_segment_groups(uint64_t n) {
    return (n + DFRT_DF11_SEGMENT_WEIGHTS * DFRT_DF11_GROUP_SEGMENTS - 1) / (DFRT_DF11_SEGMENT_WEIGHTS * DFRT_DF11_GROUP_SEGMENTS);
}
/* Fills out (dfrt_df11_segment_groups(n) records), in parallel over chunks. */
dfrt_status dfrt_df11_segment_index(const dfrt_df11_unit *u, int n_threads, uint32_t *out);

/* A decode table over the stream's next DFRT_DF11_FAST_BITS bits that gives the codes lying
 * wholly inside them whose decode does not depend on the bits after them (always so for tables
 * built from a code), up to DFRT_DF11_FAST_MAX_SYMBOLS: symbols in bytes 0, 1, 2 (first code
 * first), their total length << 24 (6 bits), their count << 30; 0 where not even the first
 * code qualifies (follow the luts). 4096 entries. The CPU decoder, the segment index and the
 * CUDA decoder use it; each gives what decoding one code at a time gives. */
#define DFRT_DF11_FAST_BITS 12u
#define DFRT_DF11_FAST_MAX_SYMBOLS 3u
void dfrt_df11_fast_table(const dfrt_df11_unit *u, uint32_t *out);

/* The six tensors of an encoded unit (luts, encoded_exponent, sign_mantissa,
 * output_positions, gaps, split_positions), shaped as the reference writes them and named by
 * their field alone; their data is enc's. */
void dfrt_df11_encoded_tensors(const dfrt_df11_encoded *enc, dfrt_tensor out[6]);

/* Internal encoder entry point with progress reporting. */
dfrt_status df11_encode(const char *unit_name, int n_parts, const void *const *parts, const uint64_t *counts,
                        const char *const *part_names, const volatile int *cancel, dfrt_progress *progress,
                        dfrt_df11_encoded *out);

/* The smallest chunk range [*out_first, *out_first + *out_count) whose weights cover
 * [begin, end) of n weights, where start(ctx, c) is chunk c's first weight (n for c = n_chunks).
 * Shared by host units (dfrt_df11_chunks_covering) and device units (the executor). */
typedef uint64_t (*dfrt_chunk_start_fn)(const void *ctx, uint32_t chunk);
void dfrt_chunks_covering(uint32_t n_chunks, uint64_t n, dfrt_chunk_start_fn start, const void *ctx, uint64_t begin,
                          uint64_t end, uint32_t *out_first, uint32_t *out_count);

#endif
