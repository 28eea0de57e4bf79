/* CPU reference decoders for DF11 units: indexed (parallel over chunks) and sequential. */
#include "format/df11_internal.h"

/* The stream's 64 bits starting at bit p, MSB first; bytes past the end read as zero. At least
 * 57 leading bits are exact, which covers any code (32 bits) and the 4 table lookups. */
static inline uint64_t peek64(const uint8_t *stream, uint64_t n_bytes, uint64_t p) {
    uint64_t b = p >> 3, w;
    if (b + 8 <= n_bytes) {
        memcpy(&w, stream + b, 8);
        w = __builtin_bswap64(w);
    } else {
        w = 0;
        for (unsigned i = 0; i < 8; i++) w = (w << 8) | (b + i < n_bytes ? stream[b + i] : 0);
    }
    return w << (p & 7);
}

/* Per-decode lookup state: table 0 fused with code lengths for the common one-lookup case, and
 * the codes that lie wholly inside the next 12 bits (dfrt_df11_fast_table), taken at once. */
typedef struct decoder {
    const uint8_t *luts;
    const uint8_t *lengths;
    const uint8_t *stream;
    const uint8_t *sm;
    uint64_t n_bytes;
    uint16_t fast[256]; /* symbol | length << 8 when table 0 resolves it, else 0xFFFF */
    uint32_t multi[1u << DFRT_DF11_FAST_BITS];
} decoder;

static void build_multi(const decoder *d, uint32_t *out);

static void decoder_init(decoder *d, const dfrt_df11_unit *u) {
    d->luts = u->luts;
    d->lengths = u->luts + 256 * (size_t)u->n_tables;
    d->stream = u->stream;
    d->sm = u->sign_mantissa;
    d->n_bytes = u->n_bytes;
    for (unsigned k = 0; k < 256; k++) {
        unsigned v = d->luts[k];
        d->fast[k] = v >= DFRT_DF11_FIRST_POINTER ? 0xFFFF : (uint16_t)(v | d->lengths[v] << 8);
    }
    build_multi(d, d->multi);
}

/* Follows table pointers for the code at the top of w. Returns the symbol and its length, or
 * 0 when the code needs a fifth lookup (no valid code does). */
static inline unsigned slow_lookup(const decoder *d, uint64_t w, unsigned *len) {
    unsigned v = d->luts[w >> 56];
    for (unsigned level = 1; v >= DFRT_DF11_FIRST_POINTER; level++) {
        if (level == 4) return 0;
        v = d->luts[256 * (size_t)(256 - v) + ((w >> (56 - 8 * level)) & 0xFF)];
    }
    *len = d->lengths[v];
    return 1 | v << 1;
}

static inline uint16_t combine(uint8_t sm, unsigned exponent) {
    return (uint16_t)(((unsigned)(sm & 0x80) << 8) | exponent << 7 | (sm & 0x7F));
}

static dfrt_status invalid_code(const dfrt_df11_unit *u, uint64_t p) {
    return dfrt_fail(DFRT_FORMAT_ERROR, "DF11 unit %s: invalid code at bit %llu of the stream (more than 4 table "
                     "lookups)", u->name, (unsigned long long)p);
}

/* Decodes chunk c into out (which receives weights from chunk_start(c) on), checking that
 * every window's first code starts where its gap says and that the chunk ends where the next
 * one begins. */
static dfrt_status decode_chunk(const dfrt_df11_unit *u, const decoder *d, uint32_t c, uint16_t *out) {
    uint64_t i = df11_position(u, c), end = df11_position(u, c + 1);
    uint64_t first_window = (uint64_t)c * DFRT_DF11_WINDOWS_PER_CHUNK;
    uint64_t next_chunk_window = first_window + DFRT_DF11_WINDOWS_PER_CHUNK;
    uint64_t p = first_window * DFRT_DF11_WINDOW_BITS + df11_gap(u->gaps, first_window);
    uint64_t window = first_window;
    while (i < end) {
        uint64_t w_idx = p >> 6;
        if (w_idx != window) {
            if (w_idx >= next_chunk_window)
                return dfrt_fail(DFRT_FORMAT_ERROR,
                                 "DF11 unit %s: chunk %u: output_positions say %llu codes start in it, but code %llu "
                                 "starts at bit %llu, past the chunk", u->name, c,
                                 (unsigned long long)(end - df11_position(u, c)), (unsigned long long)i,
                                 (unsigned long long)p);
            if (df11_gap(u->gaps, w_idx) != (p & 63))
                return dfrt_fail(DFRT_FORMAT_ERROR,
                                 "DF11 unit %s: chunk %u window %llu: gap is %u but its first code starts at offset %u",
                                 u->name, c, (unsigned long long)w_idx, df11_gap(u->gaps, w_idx), (unsigned)(p & 63));
            window = w_idx;
        }
        uint64_t w = peek64(d->stream, d->n_bytes, p);
        /* Several codes at once when all of them start in this window (so no gap is passed
         * unchecked) and belong to this chunk. */
        uint32_t e = d->multi[w >> (64 - DFRT_DF11_FAST_BITS)], count = e >> 30, total = (e >> 24) & 63;
        if (count > 1 && i + count <= end && (p & 63) + total <= 64) {
            for (uint32_t j = 0; j < count; j++) out[j] = combine(d->sm[i + j], (e >> (8 * j)) & 0xFF);
            out += count;
            i += count;
            p += total;
            continue;
        }
        unsigned f = d->fast[w >> 56], sym, len;
        if (f != 0xFFFF) {
            sym = f & 0xFF;
            len = f >> 8;
        } else {
            unsigned r = slow_lookup(d, w, &len);
            if (!r) return invalid_code(u, p);
            sym = r >> 1;
        }
        *out++ = combine(d->sm[i], sym);
        p += len;
        i++;
    }
    if (end < u->n) {
        /* The next code must open chunk c + 1 exactly where its first gap says. */
        uint64_t expect = next_chunk_window * DFRT_DF11_WINDOW_BITS + df11_gap(u->gaps, next_chunk_window);
        if (p != expect)
            return dfrt_fail(DFRT_FORMAT_ERROR,
                             "DF11 unit %s: chunk %u ends at bit %llu, but chunk %u starts at bit %llu (gaps or "
                             "output_positions disagree with the stream)", u->name, c, (unsigned long long)p, c + 1,
                             (unsigned long long)expect);
    } else if (p > u->n_bytes * 8) {
        return dfrt_fail(DFRT_FORMAT_ERROR, "DF11 unit %s: the last code ends at bit %llu, past the %llu-bit stream",
                         u->name, (unsigned long long)p, (unsigned long long)(u->n_bytes * 8));
    }
    return DFRT_OK;
}

dfrt_status dfrt_df11_decode_chunks(const dfrt_df11_unit *u, uint32_t first, uint32_t count, uint16_t *out) {
    if (!u || (!out && count)) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_df11_decode_chunks: NULL argument");
    if (first > u->n_chunks || count > u->n_chunks - first)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "DF11 unit %s: chunks [%u, %u) are outside its %u chunks", u->name,
                         first, first + count, u->n_chunks);
    decoder d;
    decoder_init(&d, u);
    uint64_t base = dfrt_df11_chunk_start(u, first);
    for (uint32_t c = first; c < first + count; c++)
        DFRT_TRY(decode_chunk(u, &d, c, out + (dfrt_df11_chunk_start(u, c) - base)));
    return DFRT_OK;
}

typedef struct decode_job {
    const dfrt_df11_unit *u;
    decoder d;
    uint16_t *out; /* receives weights from chunk_start(first) on */
    uint32_t first, end, chunks_per_task;
} decode_job;

static dfrt_status decode_task(void *ctx, size_t index) {
    decode_job *job = ctx;
    uint32_t first = job->first + (uint32_t)index * job->chunks_per_task;
    uint32_t last = DFRT_MIN(first + job->chunks_per_task, job->end);
    uint64_t base = dfrt_df11_chunk_start(job->u, job->first);
    for (uint32_t c = first; c < last; c++)
        DFRT_TRY(decode_chunk(job->u, &job->d, c, job->out + (dfrt_df11_chunk_start(job->u, c) - base)));
    return DFRT_OK;
}

dfrt_status df11_decode_parallel(const dfrt_df11_unit *u, uint32_t first, uint32_t count, uint16_t *out,
                                 int n_threads) {
    decode_job job = {.u = u, .out = out, .first = first, .end = first + count};
    decoder_init(&job.d, u);
    int threads = dfrt_thread_count(n_threads);
    /* A few tasks per thread balance the load; 16 chunks (64 KiB of stream) amortise the
     * hand-out. */
    uint32_t per = count / ((uint32_t)threads * 4);
    job.chunks_per_task = DFRT_MAX(per, 16u);
    size_t tasks = (count + job.chunks_per_task - 1) / job.chunks_per_task;
    return dfrt_parallel_for(tasks, threads, decode_task, &job);
}

dfrt_status dfrt_df11_decode(const dfrt_df11_unit *u, uint16_t *out, int n_threads) {
    if (!u || !out) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_df11_decode: NULL argument");
    return df11_decode_parallel(u, 0, u->n_chunks, out, n_threads);
}

dfrt_status dfrt_df11_decode_sequential(const dfrt_df11_unit *u, uint16_t *out) {
    if (!u || !out) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_df11_decode_sequential: NULL argument");
    decoder d;
    decoder_init(&d, u);
    uint64_t p = 0;
    for (uint64_t i = 0; i < u->n; i++) {
        uint64_t w = peek64(d.stream, d.n_bytes, p);
        unsigned f = d.fast[w >> 56], sym, len;
        if (f != 0xFFFF) {
            sym = f & 0xFF;
            len = f >> 8;
        } else {
            unsigned r = slow_lookup(&d, w, &len);
            if (!r) return invalid_code(u, p);
            sym = r >> 1;
        }
        out[i] = combine(d.sm[i], sym);
        p += len;
    }
    if (p > u->n_bytes * 8)
        return dfrt_fail(DFRT_FORMAT_ERROR, "DF11 unit %s: %llu codes need %llu bits, but the stream has %llu",
                         u->name, (unsigned long long)u->n, (unsigned long long)p,
                         (unsigned long long)(u->n_bytes * 8));
    return DFRT_OK;
}

/* ---- the segment index of the device layout ---------------------------------------------------- */

typedef struct index_job {
    const dfrt_df11_unit *u;
    decoder d;
    uint64_t *bits; /* (n_segments): the stream bit where each segment's first code starts */
    uint32_t chunks_per_task;
} index_job;

/* Walks chunks from their first gap, as the indexed decoder does, recording the start bit of
 * every weight that opens a segment. Unlike the decoder it checks nothing: a corrupted unit
 * gives a meaningless index, which device kernels read only within bounds. */
static dfrt_status index_task(void *ctx, size_t index) {
    index_job *job = ctx;
    const dfrt_df11_unit *u = job->u;
    uint32_t first = (uint32_t)index * job->chunks_per_task, last = DFRT_MIN(first + job->chunks_per_task, u->n_chunks);
    for (uint32_t c = first; c < last; c++) {
        uint64_t i = df11_position(u, c), end = df11_position(u, c + 1);
        uint64_t window = (uint64_t)c * DFRT_DF11_WINDOWS_PER_CHUNK;
        uint64_t p = window * DFRT_DF11_WINDOW_BITS + df11_gap(u->gaps, window);
        if (end > u->n) end = u->n;
        while (i < end) {
            if (i % DFRT_DF11_SEGMENT_WEIGHTS == 0) job->bits[i / DFRT_DF11_SEGMENT_WEIGHTS] = p;
            uint64_t w = peek64(job->d.stream, job->d.n_bytes, p);
            /* the codes in the next 12 bits at once, unless they would cross a segment or the chunk */
            uint32_t e = job->d.multi[w >> (64 - DFRT_DF11_FAST_BITS)], count = e >> 30;
            if (count > 1 && i % DFRT_DF11_SEGMENT_WEIGHTS + count <= DFRT_DF11_SEGMENT_WEIGHTS && i + count <= end) {
                p += (e >> 24) & 63;
                i += count;
                continue;
            }
            unsigned f = job->d.fast[w >> 56], len;
            if (f != 0xFFFF) len = f >> 8;
            else if (!slow_lookup(&job->d, w, &len)) len = DFRT_DF11_MAX_CODE_BITS;
            p += len ? len : 1;
            i++;
        }
    }
    return DFRT_OK;
}

dfrt_status dfrt_df11_segment_index(const dfrt_df11_unit *u, int n_threads, uint32_t *out) {
    uint64_t n_segments = (u->n + DFRT_DF11_SEGMENT_WEIGHTS - 1) / DFRT_DF11_SEGMENT_WEIGHTS;
    uint64_t n_groups = dfrt_df11_segment_groups(u->n);
    index_job *job = dfrt_malloc(sizeof *job, "a DF11 segment index");
    if (!job) return DFRT_OUT_OF_MEMORY;
    job->u = u;
    job->bits = dfrt_calloc(n_segments, sizeof(uint64_t), "a DF11 segment index");
    if (!job->bits) {
        free(job);
        return DFRT_OUT_OF_MEMORY;
    }
    decoder_init(&job->d, u);
    int threads = dfrt_thread_count(n_threads);
    job->chunks_per_task = DFRT_MAX(u->n_chunks / ((uint32_t)threads * 4), 16u);
    size_t tasks = (u->n_chunks + job->chunks_per_task - 1) / job->chunks_per_task;
    dfrt_status s = dfrt_parallel_for(tasks, threads, index_task, job);
    for (uint64_t g = 0; s == DFRT_OK && g < n_groups; g++) {
        uint32_t *rec = out + g * DFRT_DF11_GROUP_WORDS;
        uint64_t s0 = g * DFRT_DF11_GROUP_SEGMENTS, base = job->bits[s0];
        rec[0] = (uint32_t)base;
        rec[1] = (uint32_t)(base >> 32);
        for (unsigned k = 0; k < DFRT_DF11_GROUP_SEGMENTS; k += 2) {
            uint32_t pair = 0;
            for (unsigned h = 0; h < 2; h++) {
                uint64_t seg = s0 + k + h, bit = seg < n_segments ? job->bits[seg] : base;
                /* valid units: < 16 x 64 x 32 bits apart; clamp what corruption makes */
                uint64_t delta = bit < base ? 0 : DFRT_MIN(bit - base, (uint64_t)UINT16_MAX);
                pair |= (uint32_t)delta << (16 * h);
            }
            rec[2 + k / 2] = pair;
        }
    }
    free(job->bits);
    free(job);
    return s;
}

/* The multi-code table. A code is taken into an entry only when its decode cannot depend on
 * the bits after it: it must end inside the last byte a lookup reads, and all entries of that
 * table that share the code's bits in that byte (an aligned block) must hold the same symbol. Tables
 * built from a code always have that; a corrupted table may not, and then the entry stops
 * before that code, so that every decoder keeps the one-code-at-a-time result. */
static void build_multi(const decoder *d, uint32_t *out) {
    /* uniform[t][s]: bit e set when the aligned block of 2^s entries of table t around e holds
     * one value (s = 0..8) */
    enum { MAXT = DFRT_DF11_MAX_TABLES };
    uint64_t uniform[MAXT][9][4];
    unsigned n_tables = (unsigned)((d->lengths - d->luts) / 256);
    for (unsigned t = 0; t < n_tables && t < MAXT; t++) {
        const uint8_t *tab = d->luts + 256 * (size_t)t;
        memset(uniform[t], 0, sizeof uniform[t]);
        for (unsigned e = 0; e < 256; e++) uniform[t][0][e >> 6] |= 1ull << (e & 63);
        for (unsigned sz = 1; sz <= 8; sz++)
            for (unsigned e = 0; e < 256; e++) {
                unsigned f = e ^ (1u << (sz - 1));
                bool same = (uniform[t][sz - 1][e >> 6] >> (e & 63) & 1) && (uniform[t][sz - 1][f >> 6] >> (f & 63) & 1) &&
                            tab[e & ~((1u << (sz - 1)) - 1)] == tab[f & ~((1u << (sz - 1)) - 1)]; /* the two halves */
                if (same) uniform[t][sz][e >> 6] |= 1ull << (e & 63);
            }
    }
    const unsigned rest = 64 - DFRT_DF11_FAST_BITS;
    for (uint64_t k = 0; k < (1u << DFRT_DF11_FAST_BITS); k++) {
        uint64_t bits = k << rest;
        unsigned pos = 0, count = 0;
        uint32_t entry = 0;
        while (count < DFRT_DF11_FAST_MAX_SYMBOLS) {
            /* slow_lookup, keeping the last table and entry */
            uint64_t w = bits << pos;
            unsigned t = 0, e = (unsigned)(w >> 56), level = 0, v = d->luts[e];
            while (v >= DFRT_DF11_FIRST_POINTER && level < 3) {
                level++;
                t = 256 - v;
                e = (unsigned)((w >> (56 - 8 * level)) & 0xFF);
                v = d->luts[256 * (size_t)t + e];
            }
            if (v >= DFRT_DF11_FIRST_POINTER || t >= MAXT) break;
            unsigned len = d->lengths[v], end_of_byte = 8 * level + 8;
            /* a code that ends before the last byte read (only in odd or changed tables) would
             * depend on more than that byte's block: left to the luts */
            if (len <= 8 * level || pos + len > DFRT_DF11_FAST_BITS) break;
            if (len < end_of_byte && !(uniform[t][end_of_byte - len][e >> 6] >> (e & 63) & 1)) break;
            entry |= (uint32_t)v << (8 * count);
            pos += len;
            count++;
        }
        out[k] = count ? entry | (uint32_t)pos << 24 | (uint32_t)count << 30 : 0;
    }
}

void dfrt_df11_fast_table(const dfrt_df11_unit *u, uint32_t *out) {
    decoder d; /* 17 KB */
    decoder_init(&d, u);
    memcpy(out, d.multi, sizeof d.multi);
}
