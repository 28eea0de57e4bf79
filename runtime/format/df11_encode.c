/* The DF11 compressor, byte-identical to the reference: Huffman code with the reference's
 * tie-breaking and 32-bit limit, decode tables with its fill quirk, stream, gaps and output
 * positions with its bookkeeping. See the format doc, sections 4 and 5. */
#include "format/df11_internal.h"

#define EOF_SYMBOL 256
#define N_SYMBOLS 257
#define WORK_STEP ((uint64_t)1 << 22) /* weights between cancel polls and progress reports */

static inline unsigned load_bf16(const uint8_t *p, uint64_t i) {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
}

/* ---- Huffman code ---------------------------------------------------------------------- */

typedef struct code_table {
    uint8_t len[N_SYMBOLS];   /* 0 for absent symbols */
    uint32_t code[N_SYMBOLS]; /* valid when len <= 32 */
    unsigned max_len;
} code_table;

/* Builds the tree the reference builds: nodes keyed (count, representative), EOF the smallest
 * representative; the two smallest keys a then b merge into (a.count + b.count, a.rep), with a
 * 0 prepended to every code under a and a 1 under b. counts[EOF_SYMBOL] is EOF's count. */
static void build_code(const uint64_t counts[N_SYMBOLS], code_table *ct) {
    enum { MAX_NODES = 2 * N_SYMBOLS };
    uint64_t count[MAX_NODES];
    int rep[MAX_NODES], parent[MAX_NODES], active[N_SYMBOLS];
    uint8_t bit[MAX_NODES];
    int n_nodes = 0, n_active = 0;
    int leaf_node[N_SYMBOLS];
    for (int s = 0; s < N_SYMBOLS; s++) {
        leaf_node[s] = -1;
        if (counts[s] == 0) continue;
        count[n_nodes] = counts[s];
        rep[n_nodes] = s == EOF_SYMBOL ? -1 : s;
        parent[n_nodes] = -1;
        leaf_node[s] = n_nodes;
        active[n_active++] = n_nodes++;
    }
    while (n_active > 1) {
        int ia = -1, ib = -1; /* positions in active[] of the smallest and second smallest */
        for (int k = 0; k < n_active; k++) {
            int node = active[k];
            if (ia < 0 || count[node] < count[active[ia]] ||
                (count[node] == count[active[ia]] && rep[node] < rep[active[ia]])) {
                ib = ia;
                ia = k;
            } else if (ib < 0 || count[node] < count[active[ib]] ||
                       (count[node] == count[active[ib]] && rep[node] < rep[active[ib]])) {
                ib = k;
            }
        }
        int a = active[ia], b = active[ib];
        int m = n_nodes++;
        count[m] = count[a] + count[b];
        rep[m] = rep[a];
        parent[m] = -1;
        parent[a] = m;
        bit[a] = 0;
        parent[b] = m;
        bit[b] = 1;
        active[ia] = m;
        active[ib] = active[--n_active];
    }
    ct->max_len = 0;
    for (int s = 0; s < N_SYMBOLS; s++) {
        ct->len[s] = 0;
        ct->code[s] = 0;
        if (leaf_node[s] < 0) continue;
        unsigned depth = 0;
        uint64_t code = 0;
        for (int node = leaf_node[s]; parent[node] >= 0; node = parent[node]) {
            if (depth < 64) code |= (uint64_t)bit[node] << depth;
            depth++;
        }
        ct->len[s] = (uint8_t)DFRT_MIN(depth, 255u);
        ct->code[s] = (uint32_t)code;
        if (depth > ct->max_len) ct->max_len = depth;
    }
}

/* Applies the reference's 32-bit limit: while the longest code exceeds 32 bits, give the k
 * rarest symbols (k = 2, 3, ...) a count of 1 and rebuild. Ties at the boundary are broken by
 * symbol value (the reference's choice there depends on NumPy's argpartition). */
static bool limit_code(const uint64_t counts[N_SYMBOLS], code_table *ct) {
    build_code(counts, ct);
    if (ct->max_len <= DFRT_DF11_MAX_CODE_BITS) return false;
    int order[256], n_present = 0;
    for (int s = 0; s < 256; s++)
        if (counts[s]) order[n_present++] = s;
    for (int i = 1; i < n_present; i++) { /* insertion sort by (count, symbol) */
        int s = order[i], j = i - 1;
        while (j >= 0 && counts[order[j]] > counts[s]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = s;
    }
    for (int k = 2; ct->max_len > DFRT_DF11_MAX_CODE_BITS; k++) {
        uint64_t limited[N_SYMBOLS];
        memcpy(limited, counts, sizeof limited);
        for (int i = 0; i < k && i < n_present; i++) limited[order[i]] = 1;
        build_code(limited, ct);
    }
    return true;
}

/* ---- Decode tables --------------------------------------------------------------------- */

typedef struct prefix {
    unsigned bits; /* 0, 8, 16 or 24 */
    uint32_t value;
} prefix;

static int find_prefix(const prefix *p, int n, unsigned bits, uint32_t value) {
    for (int i = 0; i < n; i++)
        if (p[i].bits == bits && p[i].value == value) return i;
    return -1;
}

typedef struct sym_order {
    int sym;
    uint64_t key; /* code left-aligned in 64 bits */
} sym_order;

static int compare_sym_order(const void *a, const void *b) {
    const sym_order *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

#define MAX_PREFIXES 1024 /* far above what a 257-symbol code can need */

static dfrt_status build_tables(const char *unit, const code_table *ct, uint8_t **out_luts, uint32_t *out_tables) {
    sym_order order[256];
    int n_sym = 0;
    for (int s = 0; s < 256; s++)
        if (ct->len[s]) {
            order[n_sym].sym = s;
            order[n_sym].key = (uint64_t)ct->code[s] << (64 - ct->len[s]);
            n_sym++;
        }
    qsort(order, (size_t)n_sym, sizeof *order, compare_sym_order);

    /* Distinct prefixes in code order, starting with the empty one. */
    prefix pre[MAX_PREFIXES];
    int n_pre = 1;
    pre[0] = (prefix){0, 0};
    for (int k = 0; k < n_sym; k++) {
        unsigned len = ct->len[order[k].sym];
        unsigned bits = 8 * ((len - 1) / 8);
        uint32_t value = ct->code[order[k].sym] >> (len - bits);
        if (find_prefix(pre, n_pre, bits, value) < 0) pre[n_pre++] = (prefix){bits, value};
    }
    /* A table whose every code lies deeper than 8 more bits has no prefix of its own in the
     * reference (which then fails); add such missing parents so that the stream stays
     * decodable. This never changes tables of codes the reference handles. */
    for (int i = 0; i < n_pre; i++)
        for (unsigned bits = 8; bits < pre[i].bits; bits += 8) {
            uint32_t value = pre[i].value >> (pre[i].bits - bits);
            if (find_prefix(pre, n_pre, bits, value) < 0) {
                if (n_pre == MAX_PREFIXES) return dfrt_fail(DFRT_UNSUPPORTED, "DF11 unit %s: code too deep", unit);
                pre[n_pre++] = (prefix){bits, value};
            }
        }
    for (int i = 1; i < n_pre; i++) { /* stable sort by length */
        prefix p = pre[i];
        int j = i - 1;
        while (j >= 0 && pre[j].bits > p.bits) {
            pre[j + 1] = pre[j];
            j--;
        }
        pre[j + 1] = p;
    }
    if ((unsigned)n_pre > DFRT_DF11_MAX_TABLES)
        return dfrt_fail(DFRT_UNSUPPORTED,
                         "DF11 unit %s: the exponent code needs %d decode tables, more than the %u the format allows",
                         unit, n_pre, DFRT_DF11_MAX_TABLES);

    uint8_t *luts = dfrt_calloc((size_t)n_pre + 1, 256, "decode tables");
    if (!luts) return DFRT_OUT_OF_MEMORY;
    int carried = -1; /* the reference carries the last value from one table into the next */
    for (int t = 0; t < n_pre; t++) {
        int key_value[256];
        for (int k = 0; k < 256; k++) key_value[k] = -1;
        int first_key = -1;
        unsigned bits = pre[t].bits, level = bits / 8;
        for (int k = 0; k < n_sym; k++) {
            int s = order[k].sym;
            unsigned len = ct->len[s];
            uint32_t code = ct->code[s];
            if (len <= bits || (bits && (code >> (len - bits)) != pre[t].value)) continue;
            int key, value;
            if ((len - 1) / 8 == level) {
                unsigned rem = len - bits;
                key = (int)((code & ((1u << rem) - 1)) << (8 - rem));
                value = s;
            } else {
                uint32_t next = code >> (len - bits - 8);
                key = (int)(next & 0xFF);
                int j = find_prefix(pre, n_pre, bits + 8, next);
                value = 256 - j;
            }
            if (key_value[key] >= 0 && key_value[key] != value) {
                free(luts);
                return dfrt_fail(DFRT_FORMAT_ERROR, "DF11 unit %s: internal error: table %d key %d has two values", unit,
                                 t, key);
            }
            key_value[key] = value;
            if (first_key < 0 || key < first_key) first_key = key;
        }
        if (carried < 0) carried = first_key >= 0 ? key_value[first_key] : 0;
        for (int k = 0; k < 256; k++) {
            if (key_value[k] >= 0) carried = key_value[k];
            luts[256 * (size_t)t + k] = (uint8_t)carried;
        }
    }
    for (int s = 0; s < 256; s++) luts[256 * (size_t)n_pre + s] = ct->len[s];
    *out_luts = luts;
    *out_tables = (uint32_t)n_pre;
    return DFRT_OK;
}

/* ---- Stream ---------------------------------------------------------------------------- */

void dfrt_df11_encoded_tensors(const dfrt_df11_encoded *e, dfrt_tensor t[6]) {
    const struct {
        const char *field;
        dfrt_dtype dtype;
        uint64_t n;
        const void *data;
    } f[6] = {
        {"luts", DFRT_DTYPE_U8, ((uint64_t)e->n_tables + 1) * 256, e->luts},
        {"encoded_exponent", DFRT_DTYPE_U8, e->n_bytes, e->stream},
        {"sign_mantissa", DFRT_DTYPE_U8, e->n, e->sign_mantissa},
        {"output_positions", DFRT_DTYPE_U8, 4ull * e->n_positions, e->output_positions},
        {"gaps", DFRT_DTYPE_U8, e->gaps_bytes, e->gaps},
        {"split_positions", DFRT_DTYPE_I64, e->n_splits, e->split_positions},
    };
    for (int i = 0; i < 6; i++)
        t[i] = (dfrt_tensor){.name = f[i].field, .dtype = f[i].dtype, .n_dims = 1, .shape = {(int64_t)f[i].n},
                             .n_elements = f[i].n, .n_bytes = f[i].n * dfrt_dtype_size(f[i].dtype), .data = f[i].data};
    t[0].n_dims = 2; /* luts: [tables + 1, 256] */
    t[0].shape[0] = (int64_t)e->n_tables + 1;
    t[0].shape[1] = 256;
}

void dfrt_df11_encoded_free(dfrt_df11_encoded *e) {
    if (!e) return;
    free(e->luts);
    dfrt_free_large(e->stream, e->n_bytes + 8);
    dfrt_free_large(e->sign_mantissa, e->n);
    free(e->output_positions);
    free(e->gaps);
    free(e->split_positions);
    memset(e, 0, sizeof *e);
}

static dfrt_status refuse_exponent(const char *unit, int n_parts, const void *const *parts, const uint64_t *counts,
                                   const char *const *names) {
    for (int p = 0; p < n_parts; p++)
        for (uint64_t i = 0; i < counts[p]; i++) {
            unsigned w = load_bf16(parts[p], i), e = (w >> 7) & 0xFF;
            if (e >= DFRT_DF11_FIRST_POINTER) {
                char fallback[32];
                snprintf(fallback, sizeof fallback, "part %d", p);
                return dfrt_fail(DFRT_UNSUPPORTED,
                                 "DF11 unit %s: %s element %llu is 0x%04x, exponent %u (%s); DF11 cannot code "
                                 "exponents 240..255",
                                 unit, names ? names[p] : fallback, (unsigned long long)i, w, e,
                                 e == 255 ? ((w & 0x7F) ? "NaN" : "infinity") : "|w| >= 2^113");
            }
        }
    return dfrt_fail(DFRT_UNSUPPORTED, "DF11 unit %s: exponent >= 240", unit);
}

dfrt_status df11_encode(const char *unit_name, int n_parts, const void *const *parts, const uint64_t *counts,
                        const char *const *part_names, const volatile int *cancel, dfrt_progress *progress,
                        dfrt_df11_encoded *out) {
    memset(out, 0, sizeof *out);
    const char *unit = unit_name ? unit_name : "(unnamed)";
    if (n_parts < 1 || !parts || !counts)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "DF11 unit %s: no weights to compress", unit);
    uint64_t n = 0;
    for (int p = 0; p < n_parts; p++) {
        if (counts[p] == 0)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "DF11 unit %s: %s is empty", unit,
                             part_names ? part_names[p] : "a part");
        if (!parts[p]) return dfrt_fail(DFRT_INVALID_ARGUMENT, "DF11 unit %s: part %d has no data", unit, p);
        n += counts[p];
    }
    if (n > UINT32_MAX)
        return dfrt_fail(DFRT_UNSUPPORTED, "DF11 unit %s: %llu weights; DF11 output positions are 32-bit", unit,
                         (unsigned long long)n);

    /* One pass over the input: exponent counts and the sign/mantissa bytes. */
    out->n = n; /* dfrt_df11_encoded_free needs the sizes of what is allocated */
    out->sign_mantissa = dfrt_alloc_large(n, "sign_mantissa");
    if (!out->sign_mantissa) return DFRT_OUT_OF_MEMORY;
    uint64_t hist[N_SYMBOLS] = {0};
    uint64_t base = 0;
    for (int p = 0; p < n_parts; p++) {
        const uint8_t *src = parts[p];
        uint8_t *sm = out->sign_mantissa + base;
        uint64_t h[4][256] = {{0}};
        for (uint64_t i0 = 0; i0 < counts[p]; i0 += WORK_STEP) {
            if (dfrt_cancelled(cancel)) {
                dfrt_df11_encoded_free(out);
                return dfrt_fail(DFRT_CANCELLED, "DF11 unit %s: cancelled", unit);
            }
            uint64_t i1 = DFRT_MIN(i0 + WORK_STEP, counts[p]), i = i0;
            for (; i < i1; i++) {
                unsigned w = load_bf16(src, i);
                sm[i] = (uint8_t)(((w >> 8) & 0x80) | (w & 0x7F));
            }
            for (i = i0; i + 4 <= i1; i += 4) {
                h[0][(load_bf16(src, i) >> 7) & 0xFF]++;
                h[1][(load_bf16(src, i + 1) >> 7) & 0xFF]++;
                h[2][(load_bf16(src, i + 2) >> 7) & 0xFF]++;
                h[3][(load_bf16(src, i + 3) >> 7) & 0xFF]++;
            }
            for (; i < i1; i++) h[0][(load_bf16(src, i) >> 7) & 0xFF]++;
        }
        for (int s = 0; s < 256; s++) hist[s] += h[0][s] + h[1][s] + h[2][s] + h[3][s];
        base += counts[p];
    }
    for (int s = DFRT_DF11_FIRST_POINTER; s < 256; s++)
        if (hist[s]) {
            dfrt_df11_encoded_free(out);
            return refuse_exponent(unit, n_parts, parts, counts, part_names);
        }
    hist[EOF_SYMBOL] = 1;

    code_table ct;
    out->code_limited = limit_code(hist, &ct);
    out->max_code_bits = ct.max_len;
    out->n = n;
    dfrt_status s = build_tables(unit, &ct, &out->luts, &out->n_tables);
    if (s != DFRT_OK) {
        dfrt_df11_encoded_free(out);
        return s;
    }

    uint64_t bits = 0;
    for (int sym = 0; sym < 256; sym++) bits += hist[sym] * ct.len[sym];
    bool add_eof = bits % 8 != 0;
    out->n_bytes = (bits + 7) / 8;
    uint64_t n_chunks = (out->n_bytes + DFRT_DF11_CHUNK_BYTES - 1) / DFRT_DF11_CHUNK_BYTES;
    uint64_t n_windows = n_chunks * DFRT_DF11_WINDOWS_PER_CHUNK;
    out->gaps_bytes = n_chunks * DFRT_DF11_GAP_BYTES_PER_CHUNK;
    uint8_t *gap_values = NULL;
    uint32_t *positions = NULL;
    /* 8 bytes of slack let the bit writer store 64 bits at a time. */
    out->stream = dfrt_alloc_large(out->n_bytes + 8, "the encoded stream");
    out->gaps = dfrt_calloc(out->gaps_bytes, 1, "gaps");
    /* One spare slot each: bookkeeping writes go there when no new window or chunk starts,
     * which keeps the loop free of branches. */
    gap_values = dfrt_calloc(n_windows + 1, 1, "gap values");
    positions = dfrt_calloc(n_chunks + 2, sizeof *positions, "output positions");
    if (!out->stream || !out->gaps || !gap_values || !positions) {
        s = DFRT_OUT_OF_MEMORY;
        goto fail;
    }
    uint64_t table[256]; /* code | length << 32 */
    for (int sym = 0; sym < 256; sym++) table[sym] = ct.code[sym] | (uint64_t)ct.len[sym] << 32;

    uint8_t *dst = out->stream;
    uint64_t acc = 0; /* pending bits, left-aligned; fewer than 8 after each flush */
    unsigned n_acc = 0;
    uint64_t p = 0, i = 0, window = UINT64_MAX, chunk = UINT64_MAX;
    for (int part = 0; part < n_parts; part++) {
        const uint8_t *src = parts[part];
        for (uint64_t j0 = 0; j0 < counts[part]; j0 += WORK_STEP) {
            if (dfrt_cancelled(cancel)) {
                s = dfrt_fail(DFRT_CANCELLED, "DF11 unit %s: cancelled", unit);
                goto fail;
            }
            uint64_t j1 = DFRT_MIN(j0 + WORK_STEP, counts[part]);
            for (uint64_t j = j0; j < j1; j++, i++) {
                /* Bookkeeping: the first code starting in a window gives its gap, the first in a
                 * chunk its output position. */
                uint64_t win = p >> 6, ch = p >> 15;
                gap_values[win != window ? win : n_windows] = (uint8_t)(p & 63);
                positions[ch != chunk ? ch : n_chunks + 1] = (uint32_t)i;
                window = win;
                chunk = ch;
                uint64_t t = table[(load_bf16(src, j) >> 7) & 0xFF];
                unsigned len = (unsigned)(t >> 32);
                acc |= (t & 0xFFFFFFFFu) << (64 - n_acc - len);
                n_acc += len;
                p += len;
                uint64_t be = __builtin_bswap64(acc);
                memcpy(dst, &be, 8);
                dst += n_acc >> 3;
                acc <<= n_acc & ~7u;
                n_acc &= 7;
            }
            dfrt_progress_add(progress, j1 - j0);
        }
    }
    uint32_t n_pos = (uint32_t)(chunk + 1);
    if (add_eof) {
        /* The reference appends EOF's code and keeps only the byte that holds the end: the
         * leftover bits, then EOF's leading bits (zeros if its code is shorter). */
        if ((p >> 6) != window) {
            gap_values[p >> 6] = (uint8_t)(p & 63);
            if ((p >> 15) != chunk) positions[n_pos++] = (uint32_t)n;
        }
        unsigned len = ct.len[EOF_SYMBOL];
        uint64_t eof = (uint64_t)ct.code[EOF_SYMBOL] << (64 - len);
        acc |= eof >> n_acc;
        *dst++ = (uint8_t)(acc >> 56);
        n_acc = 0;
    }
    if ((uint64_t)(dst - out->stream) != out->n_bytes || n_acc != 0) {
        s = dfrt_fail(DFRT_FORMAT_ERROR, "DF11 unit %s: internal error: stream length mismatch", unit);
        goto fail;
    }
    memset(out->stream + out->n_bytes, 0, 8);
    positions[n_pos++] = (uint32_t)n;
    out->n_positions = n_pos;

    for (uint64_t t = 0; t < n_windows; t++) { /* pack 5 bits each, MSB first */
        uint64_t bit = t * 5;
        unsigned v = gap_values[t] & 31;
        unsigned shifted = v << (11 - (bit & 7)); /* 16-bit window starting at byte bit/8 */
        out->gaps[bit >> 3] |= (uint8_t)(shifted >> 8);
        if ((bit & 7) > 3) out->gaps[(bit >> 3) + 1] |= (uint8_t)shifted;
    }
    out->output_positions = dfrt_malloc(4 * (size_t)n_pos, "output positions");
    if (!out->output_positions) {
        s = DFRT_OUT_OF_MEMORY;
        goto fail;
    }
    memcpy(out->output_positions, positions, 4 * (size_t)n_pos);

    out->n_splits = (uint32_t)(n_parts - 1);
    out->split_positions = dfrt_calloc((size_t)n_parts, sizeof *out->split_positions, "split positions");
    if (!out->split_positions) {
        s = DFRT_OUT_OF_MEMORY;
        goto fail;
    }
    uint64_t cum = 0;
    for (int k = 0; k + 1 < n_parts; k++) out->split_positions[k] = (int64_t)(cum += counts[k]);
    free(gap_values);
    free(positions);
    return DFRT_OK;
fail:
    free(gap_values);
    free(positions);
    dfrt_df11_encoded_free(out);
    return s;
}

dfrt_status dfrt_df11_encode(const char *unit_name, int n_parts, const uint16_t *const *parts, const uint64_t *counts,
                             const char *const *part_names, const volatile int *cancel, dfrt_df11_encoded *out) {
    return df11_encode(unit_name, n_parts, (const void *const *)parts, counts, part_names, cancel, NULL, out);
}
