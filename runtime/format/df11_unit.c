/* DF11 units: building one from its six tensors and validating everything a decoder relies on. */
#include "format/df11_internal.h"

/* "model_layers_3.safetensors: tensor model.layers.3.gaps" */
#define TENSOR_FMT "%s: tensor %s"
#define TENSOR_ARGS(t) dfrt_basename((t)->file ? (t)->file : "(memory)"), (t)->name

static dfrt_status check_u8_vector(const dfrt_tensor *t) {
    if (t->dtype != DFRT_DTYPE_U8 || t->n_dims != 1)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": %s with %d dimensions, expected a U8 vector",
                         TENSOR_ARGS(t), dfrt_dtype_name(t->dtype), t->n_dims);
    return DFRT_OK;
}

void dfrt_df11_unit_release(dfrt_df11_unit *u) {
    if (!u) return;
    free(u->name);
    for (int i = 0; i < u->n_parts; i++) free(u->parts[i].name);
    free(u->parts);
    memset(u, 0, sizeof *u);
}

static dfrt_status check_tables(const char *unit, const dfrt_tensor *t, const uint8_t *luts, uint32_t n_tables,
                                uint32_t *out_max_bits) {
    const uint8_t *lengths = luts + 256 * (size_t)n_tables;
    uint64_t kraft = 0; /* in units of 2^-32 */
    uint32_t max_bits = 0;
    for (unsigned s = 0; s < 256; s++) {
        unsigned len = lengths[s];
        if (len == 0) continue;
        if (s >= DFRT_DF11_FIRST_POINTER)
            return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": code-length row gives length %u to %u, which is a table "
                             "pointer value, not an exponent", TENSOR_ARGS(t), len, s);
        if (len > DFRT_DF11_MAX_CODE_BITS)
            return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": code-length row gives exponent %u a %u-bit code (at most 32)",
                             TENSOR_ARGS(t), s, len);
        kraft += (uint64_t)1 << (32 - len);
        if (len > max_bits) max_bits = len;
    }
    if (kraft > ((uint64_t)1 << 32))
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": code lengths are not a prefix code (Kraft sum %.6f > 1)",
                         TENSOR_ARGS(t), (double)kraft / 4294967296.0);
    if (max_bits == 0)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": code-length row is all zeros", TENSOR_ARGS(t));
    for (uint32_t tab = 0; tab < n_tables; tab++)
        for (unsigned k = 0; k < 256; k++) {
            unsigned v = luts[256 * (size_t)tab + k];
            if (v >= DFRT_DF11_FIRST_POINTER) {
                unsigned target = 256 - v;
                if (target >= n_tables)
                    return dfrt_fail(DFRT_FORMAT_ERROR,
                                     TENSOR_FMT ": table %u entry %u points to table %u, but there are only %u tables",
                                     TENSOR_ARGS(t), tab, k, target, n_tables);
            } else if (lengths[v] == 0) {
                return dfrt_fail(DFRT_FORMAT_ERROR,
                                 TENSOR_FMT ": table %u entry %u decodes to exponent %u, which has no code length",
                                 TENSOR_ARGS(t), tab, k, v);
            }
        }
    DFRT_UNUSED(unit);
    *out_max_bits = max_bits;
    return DFRT_OK;
}

dfrt_status dfrt_df11_unit_init(const char *name, const dfrt_df11_tensors *ts, int n_part_names,
                                const char *const *part_names, dfrt_df11_unit *out) {
    memset(out, 0, sizeof *out);
    if (!name || !ts) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_df11_unit_init: name or tensors is NULL");
    const struct {
        const dfrt_tensor *t;
        const char *field;
    } fields[] = {
        {ts->luts, "luts"},         {ts->encoded_exponent, "encoded_exponent"}, {ts->sign_mantissa, "sign_mantissa"},
        {ts->output_positions, "output_positions"}, {ts->gaps, "gaps"}, {ts->split_positions, "split_positions"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (!fields[i].t)
            return dfrt_fail(DFRT_FORMAT_ERROR, "DF11 unit %s: tensor %s.%s is missing", name, name, fields[i].field);

    const dfrt_tensor *luts = ts->luts, *enc = ts->encoded_exponent, *sm = ts->sign_mantissa,
                      *op = ts->output_positions, *gaps = ts->gaps, *sp = ts->split_positions;

    if (luts->dtype != DFRT_DTYPE_U8 || luts->n_dims != 2 || luts->shape[1] != 256 || luts->shape[0] < 2 ||
        luts->shape[0] > DFRT_DF11_MAX_TABLES + 1)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         TENSOR_FMT ": expected U8 of shape [T+1, 256] with 1 <= T <= %u decode tables",
                         TENSOR_ARGS(luts), DFRT_DF11_MAX_TABLES);
    DFRT_TRY(check_u8_vector(enc));
    DFRT_TRY(check_u8_vector(sm));
    DFRT_TRY(check_u8_vector(op));
    DFRT_TRY(check_u8_vector(gaps));
    if (sp->dtype != DFRT_DTYPE_I64 || sp->n_dims != 1)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": %s with %d dimensions, expected an I64 vector",
                         TENSOR_ARGS(sp), dfrt_dtype_name(sp->dtype), sp->n_dims);

    uint64_t n = sm->n_elements, n_bytes = enc->n_elements;
    if (n == 0) return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": the unit has no weights", TENSOR_ARGS(sm));
    if (n > UINT32_MAX)
        return dfrt_fail(DFRT_UNSUPPORTED, TENSOR_FMT ": %llu weights; output positions are 32-bit, so at most %u",
                         TENSOR_ARGS(sm), (unsigned long long)n, UINT32_MAX);
    if (n_bytes * 8 < n)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": %llu bytes cannot hold %llu codes of at least 1 bit",
                         TENSOR_ARGS(enc), (unsigned long long)n_bytes, (unsigned long long)n);
    uint64_t n_chunks = (n_bytes + DFRT_DF11_CHUNK_BYTES - 1) / DFRT_DF11_CHUNK_BYTES;
    if (gaps->n_bytes != n_chunks * DFRT_DF11_GAP_BYTES_PER_CHUNK)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": %llu bytes, expected %llu (320 per 4096-byte chunk, %llu chunks)",
                         TENSOR_ARGS(gaps), (unsigned long long)gaps->n_bytes,
                         (unsigned long long)(n_chunks * DFRT_DF11_GAP_BYTES_PER_CHUNK), (unsigned long long)n_chunks);
    if (op->n_bytes % 4 != 0 || (op->n_bytes / 4 != n_chunks + 1 && op->n_bytes / 4 != n_chunks))
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         TENSOR_FMT ": %llu bytes, expected %llu or %llu (one uint32 per chunk, plus the end)",
                         TENSOR_ARGS(op), (unsigned long long)op->n_bytes, (unsigned long long)(4 * (n_chunks + 1)),
                         (unsigned long long)(4 * n_chunks));

    out->n = n;
    out->n_bytes = n_bytes;
    out->n_chunks = (uint32_t)n_chunks;
    out->n_positions = (uint32_t)(op->n_bytes / 4);
    out->n_tables = (uint32_t)luts->shape[0] - 1;
    out->luts = luts->data;
    out->stream = enc->data;
    out->sign_mantissa = sm->data;
    out->output_positions = op->data;
    out->gaps = gaps->data;

    /* Output positions: 0 first, non-decreasing, n last, at most one code per bit of a chunk. */
    uint64_t prev = 0;
    for (uint32_t c = 0; c < out->n_positions; c++) {
        uint64_t v = dfrt_load_u32le(out->output_positions + 4 * (size_t)c);
        if (c == 0 && v != 0)
            return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": first position is %llu, expected 0", TENSOR_ARGS(op),
                             (unsigned long long)v);
        if (v < prev)
            return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": position %u (%llu) is below position %u (%llu)",
                             TENSOR_ARGS(op), c, (unsigned long long)v, c - 1, (unsigned long long)prev);
        if (v - prev > DFRT_DF11_CHUNK_BITS)
            return dfrt_fail(DFRT_FORMAT_ERROR,
                             TENSOR_FMT ": chunk %u would hold %llu codes; a 4096-byte chunk holds at most 32768",
                             TENSOR_ARGS(op), c - 1, (unsigned long long)(v - prev));
        if (c > 0 && v - prev > out->max_chunk_weights) out->max_chunk_weights = (uint32_t)(v - prev);
        prev = v;
    }
    if (prev != n)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": last position is %llu, expected the weight count %llu",
                         TENSOR_ARGS(op), (unsigned long long)prev, (unsigned long long)n);

    /* Gaps of windows that start past the end of the stream are padding and must be zero. */
    uint64_t first_padding_window = (n_bytes * 8 + DFRT_DF11_WINDOW_BITS - 1) / DFRT_DF11_WINDOW_BITS;
    for (uint64_t w = first_padding_window; w < n_chunks * DFRT_DF11_WINDOWS_PER_CHUNK; w++)
        if (df11_gap(out->gaps, w) != 0)
            return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": window %llu lies past the end of the stream but has gap %u",
                             TENSOR_ARGS(gaps), (unsigned long long)w, df11_gap(out->gaps, w));

    /* The first code starts the stream: window 0's gap is 0 (the sequential decoder starts at
     * bit 0, the indexed one at that gap; they must agree). */
    if (n_bytes && df11_gap(out->gaps, 0) != 0)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": window 0 has gap %u, but the stream's first code starts at bit 0",
                         TENSOR_ARGS(gaps), df11_gap(out->gaps, 0));

    DFRT_TRY(check_tables(name, luts, out->luts, out->n_tables, &out->max_code_bits));

    /* Split positions: strictly increasing inside (0, n). */
    uint64_t n_splits = sp->n_elements;
    if (part_names && (uint64_t)n_part_names != n_splits + 1)
        return dfrt_fail(DFRT_FORMAT_ERROR, TENSOR_FMT ": %llu split positions make %llu weights, but the pattern lists %d",
                         TENSOR_ARGS(sp), (unsigned long long)n_splits, (unsigned long long)n_splits + 1, n_part_names);
    if (n_splits + 1 > 4096)
        return dfrt_fail(DFRT_UNSUPPORTED, TENSOR_FMT ": %llu parts in one unit", TENSOR_ARGS(sp),
                         (unsigned long long)n_splits + 1);
    out->parts = dfrt_calloc(n_splits + 1, sizeof *out->parts, "unit parts");
    if (!out->parts) return DFRT_OUT_OF_MEMORY;
    if (!(out->name = dfrt_strdup(name))) {
        dfrt_df11_unit_release(out);
        return DFRT_OUT_OF_MEMORY;
    }
    uint64_t start = 0;
    for (uint64_t i = 0; i <= n_splits; i++) {
        uint64_t end = n;
        if (i < n_splits) {
            int64_t v;
            memcpy(&v, (const uint8_t *)sp->data + 8 * i, 8);
            if (v <= (int64_t)start || (uint64_t)v >= n) {
                dfrt_df11_unit_release(out);
                return dfrt_fail(DFRT_FORMAT_ERROR,
                                 TENSOR_FMT ": split position %llu is %lld, expected a value in (%llu, %llu)",
                                 TENSOR_ARGS(sp), (unsigned long long)i, (long long)v, (unsigned long long)start,
                                 (unsigned long long)n);
            }
            end = (uint64_t)v;
        }
        dfrt_df11_part *p = &out->parts[out->n_parts++];
        p->name = part_names ? dfrt_strdup(part_names[i]) : dfrt_asprintf("%s.part%llu", name, (unsigned long long)i);
        if (!p->name) {
            dfrt_df11_unit_release(out);
            return DFRT_OUT_OF_MEMORY;
        }
        p->offset = start;
        p->count = end - start;
        p->n_dims = 1;
        p->shape[0] = (int64_t)p->count;
        start = end;
    }
    return DFRT_OK;
}

uint64_t dfrt_df11_chunk_start(const dfrt_df11_unit *u, uint32_t chunk) {
    return chunk >= u->n_chunks ? u->n : df11_position(u, chunk);
}

void dfrt_chunks_covering(uint32_t n_chunks, uint64_t n, dfrt_chunk_start_fn start, const void *ctx, uint64_t begin,
                          uint64_t end, uint32_t *out_first, uint32_t *out_count) {
    if (end > n) end = n;
    if (begin >= end) {
        *out_first = 0;
        *out_count = 0;
        return;
    }
    /* first: the last chunk starting at or before begin. */
    uint32_t lo = 0, hi = n_chunks; /* invariant: start(lo) <= begin */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (start(ctx, mid) <= begin) lo = mid;
        else hi = mid;
    }
    uint32_t first = lo;
    /* last: the first chunk boundary at or after end. */
    lo = first;
    hi = n_chunks; /* start(n_chunks) = n >= end */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (start(ctx, mid) >= end) hi = mid;
        else lo = mid;
    }
    *out_first = first;
    *out_count = hi - first;
}

static uint64_t unit_chunk_start(const void *unit, uint32_t chunk) { return dfrt_df11_chunk_start(unit, chunk); }

void dfrt_df11_chunks_covering(const dfrt_df11_unit *u, uint64_t begin, uint64_t end, uint32_t *out_first,
                               uint32_t *out_count) {
    dfrt_chunks_covering(u->n_chunks, u->n, unit_chunk_start, u, begin, end, out_first, out_count);
}
