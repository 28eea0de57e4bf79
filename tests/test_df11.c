/* DF11 units in memory: encoder -> validator -> every decoder, on the format's edge cases;
 * and malformed units, each refused with its own message. */
#include "synth.h"

#include "format/df11_internal.h"

static uint16_t *concat(const synth_case *c, uint64_t *out_n) {
    uint64_t n = 0;
    for (int p = 0; p < c->n_parts; p++) n += c->counts[p];
    uint16_t *all = malloc(n * 2);
    uint64_t at = 0;
    for (int p = 0; p < c->n_parts; p++) {
        memcpy(all + at, c->parts[p], c->counts[p] * 2);
        at += c->counts[p];
    }
    *out_n = n;
    return all;
}

/* The device layout's segment index and one-lookup table (format/df11_internal.h), against a
 * walk of the whole stream from its first bit with the unit's own tables: every 64th weight's
 * code starts where the index says, and every table entry that resolves a code gives that
 * code's symbol and length. */
static void check_segment_index(const dfrt_df11_unit *u) {
    uint64_t groups = dfrt_df11_segment_groups(u->n);
    uint32_t *index = malloc(groups * DFRT_DF11_GROUP_WORDS * 4);
    CHECK_OK(dfrt_df11_segment_index(u, 2, index));
    const uint8_t *lengths = u->luts + 256 * (size_t)u->n_tables;
    uint64_t p = 0;
    int bad = 0;
    for (uint64_t i = 0; i < u->n && !bad; i++) {
        if (i % DFRT_DF11_SEGMENT_WEIGHTS == 0) {
            uint64_t s = i / DFRT_DF11_SEGMENT_WEIGHTS;
            const uint32_t *rec = index + (s / DFRT_DF11_GROUP_SEGMENTS) * DFRT_DF11_GROUP_WORDS;
            uint32_t pair = rec[2 + (s % DFRT_DF11_GROUP_SEGMENTS) / 2];
            uint64_t at = (rec[0] | (uint64_t)rec[1] << 32) + ((s & 1) ? pair >> 16 : pair & 0xFFFF);
            bad = at != p;
            CHECK(at == p);
        }
        /* the code at p: up to four lookups, MSB first */
        uint64_t w = 0;
        for (unsigned b = 0; b < 8; b++) {
            uint64_t byte = (p >> 3) + b;
            w = w << 8 | (byte < u->n_bytes ? u->stream[byte] : 0);
        }
        w <<= p & 7;
        unsigned v = u->luts[w >> 56];
        for (unsigned level = 1; v >= DFRT_DF11_FIRST_POINTER && level < 4; level++)
            v = u->luts[256 * (size_t)(256 - v) + ((w >> (56 - 8 * level)) & 0xFF)];
        p += lengths[v];
    }
    free(index);
    uint32_t fast[1u << DFRT_DF11_FAST_BITS];
    dfrt_df11_fast_table(u, fast);
    int resolved = 0, multi = 0;
    for (unsigned k = 0; k < (1u << DFRT_DF11_FAST_BITS); k++) {
        if (!fast[k]) continue;
        resolved++;
        unsigned count = fast[k] >> 30, total = (fast[k] >> 24) & 63, pos = 0;
        CHECK(count >= 1 && count <= DFRT_DF11_FAST_MAX_SYMBOLS && total <= DFRT_DF11_FAST_BITS);
        multi += count > 1;
        /* each symbol's code is the next bits of k: table 0, then table pointers */
        for (unsigned j = 0; j < count && j < DFRT_DF11_FAST_MAX_SYMBOLS; j++) {
            unsigned sym = (fast[k] >> (8 * j)) & 0xFF;
            uint64_t w = ((uint64_t)k << (64 - DFRT_DF11_FAST_BITS)) << pos;
            unsigned v = u->luts[w >> 56];
            for (unsigned level = 1; v >= DFRT_DF11_FIRST_POINTER && level < 4; level++)
                v = u->luts[256 * (size_t)(256 - v) + ((w >> (56 - 8 * level)) & 0xFF)];
            CHECK(v == sym && lengths[sym] >= 1);
            pos += lengths[sym];
        }
        CHECK(pos == total);
        /* greedy: a further code that fits would have been taken */
    }
    CHECK(resolved > 0);
    (void)multi;
}

static void round_trip(const synth_case *c) {
    test_current = c->label;
    dfrt_df11_encoded e;
    CHECK_OK(dfrt_df11_encode("unit", c->n_parts, (const uint16_t *const *)c->parts, c->counts, NULL, NULL, &e));
    if (test_failed) return;
    uint64_t n;
    uint16_t *want = concat(c, &n);
    CHECK(e.n == n);
    CHECK(e.max_code_bits <= 32);
    if (c->expect_bytes) CHECK(e.n_bytes == c->expect_bytes);
    uint64_t n_chunks = (e.n_bytes + 4095) / 4096;
    if (c->expect_spill) CHECK(e.n_positions == n_chunks && e.n_bytes % 4096 != 0);
    else CHECK(e.n_positions == n_chunks + 1);
    if (c->expect_limited) CHECK(e.code_limited && e.max_code_bits <= 32);

    mem_unit m;
    mem_unit_wrap(&m, "unit", &e);
    dfrt_df11_unit u;
    CHECK_OK(dfrt_df11_unit_init("unit", &m.ts, 0, NULL, &u));
    CHECK(u.n == n && u.n_parts == c->n_parts && u.max_code_bits == e.max_code_bits);
    uint64_t at = 0;
    for (int p = 0; p < c->n_parts && p < u.n_parts; p++) {
        CHECK(u.parts[p].offset == at && u.parts[p].count == c->counts[p]);
        at += c->counts[p];
    }

    uint16_t *got = malloc(n * 2 + 64);
    /* guard bytes after the output */
    memset(got, 0xA5, n * 2 + 64);
    CHECK_OK(dfrt_df11_decode(&u, got, 0));
    CHECK(memcmp(got, want, n * 2) == 0);
    int guard_ok = 1;
    for (int i = 0; i < 64; i++) guard_ok &= ((uint8_t *)got)[n * 2 + i] == 0xA5;
    CHECK(guard_ok);

    memset(got, 0, n * 2);
    CHECK_OK(dfrt_df11_decode(&u, got, 1));
    CHECK(memcmp(got, want, n * 2) == 0);
    memset(got, 0, n * 2);
    CHECK_OK(dfrt_df11_decode_sequential(&u, got));
    CHECK(memcmp(got, want, n * 2) == 0);

    /* Chunk ranges, and the chunks covering a weight range (as for embedding rows). */
    test_rng r = {n};
    for (int trial = 0; trial < 20; trial++) {
        uint64_t a = test_rand(&r) % n, b = a + 1 + test_rand(&r) % (n - a < 5000 ? n - a : 5000);
        uint32_t first, count;
        dfrt_df11_chunks_covering(&u, a, b, &first, &count);
        uint64_t start = dfrt_df11_chunk_start(&u, first), end = dfrt_df11_chunk_start(&u, first + count);
        CHECK(count >= 1 && start <= a && end >= b);
        if (first > 0) CHECK(dfrt_df11_chunk_start(&u, first) <= a);
        memset(got, 0, n * 2);
        CHECK_OK(dfrt_df11_decode_chunks(&u, first, count, got));
        CHECK(memcmp(got, want + start, (end - start) * 2) == 0);
    }
    CHECK_ERROR(dfrt_df11_decode_chunks(&u, u.n_chunks, 1, got), DFRT_INVALID_ARGUMENT, "outside its");
    check_segment_index(&u);

    free(got);
    free(want);
    dfrt_df11_unit_release(&u);
    dfrt_df11_encoded_free(&e);
}

/* A valid multi-chunk unit to break in many ways. */
typedef struct victim {
    dfrt_df11_encoded e;
    mem_unit m;
    uint16_t *data;
    uint64_t n;
} victim;

static void victim_make(victim *v) {
    test_rng r = {99};
    v->n = 200000;
    v->data = synth_normal(&r, v->n, 0.02);
    const uint16_t *parts[2] = {v->data, v->data + 150000};
    uint64_t counts[2] = {150000, 50000};
    if (dfrt_df11_encode("victim", 2, parts, counts, NULL, NULL, &v->e) != DFRT_OK) exit(2);
    mem_unit_wrap(&v->m, "victim", &v->e);
}

static void victim_free(victim *v) {
    dfrt_df11_encoded_free(&v->e);
    free(v->data);
}

static dfrt_status init(victim *v) {
    dfrt_df11_unit u;
    dfrt_status s = dfrt_df11_unit_init("victim", &v->m.ts, 0, NULL, &u);
    if (s == DFRT_OK) dfrt_df11_unit_release(&u);
    return s;
}

/* Init must pass; decoding must fail with the given fragment. */
static dfrt_status init_and_decode(victim *v) {
    dfrt_df11_unit u;
    dfrt_status s = dfrt_df11_unit_init("victim", &v->m.ts, 0, NULL, &u);
    if (s != DFRT_OK) return s;
    uint16_t *out = malloc(v->n * 2);
    s = dfrt_df11_decode(&u, out, 2);
    free(out);
    dfrt_df11_unit_release(&u);
    return s;
}

/* Table entries changed to another symbol that has a code (validation cannot see it): the
 * decoders that take several short codes per lookup (the indexed one, the segment index) must
 * still give what one code at a time gives, the sequential decoder's result. */
static void test_changed_tables(void) {
    victim v;
    victim_make(&v);
    test_rng r = {7};
    uint16_t *a = malloc(v.n * 2), *b = malloc(v.n * 2);
    int compared = 0;
    for (int trial = 0; trial < 200; trial++) {
        dfrt_df11_encoded *e = &v.e;
        uint8_t saved[256 * 18];
        size_t lut_bytes = 256 * ((size_t)e->n_tables + 1);
        memcpy(saved, e->luts, lut_bytes);
        const uint8_t *lengths = e->luts + 256 * (size_t)e->n_tables;
        for (int changes = 1 + (int)(test_rand(&r) % 3); changes > 0; changes--) {
            unsigned sym;
            do sym = (unsigned)(test_rand(&r) % 240); while (!lengths[sym]);
            e->luts[256 * (test_rand(&r) % e->n_tables) + test_rand(&r) % 256] = (uint8_t)sym;
        }
        dfrt_df11_unit u;
        if (dfrt_df11_unit_init("victim", &v.m.ts, 0, NULL, &u) == DFRT_OK) {
            dfrt_status sa = dfrt_df11_decode(&u, a, 2), sb = dfrt_df11_decode_sequential(&u, b);
            if (sa == DFRT_OK && sb == DFRT_OK) {
                compared++;
                CHECK(memcmp(a, b, v.n * 2) == 0);
                /* the segment index (walked chunk by chunk, several codes per lookup) against a
                 * walk of the whole stream one code at a time */
                check_segment_index(&u);
            }
            dfrt_df11_unit_release(&u);
        }
        memcpy(e->luts, saved, lut_bytes);
    }
    CHECK(compared >= 20);
    free(a);
    free(b);
    victim_free(&v);
}

static void test_bad_units(void) {
    victim v;
    victim_make(&v);
    CHECK_OK(init(&v));
    uint32_t T = v.e.n_tables;
    uint64_t n_chunks = (v.e.n_bytes + 4095) / 4096;
    CHECK(n_chunks >= 10 && T >= 2);

    /* Wrong dtype or shape of each of the six tensors. */
    dfrt_tensor saved;
    for (int f = 0; f < 6; f++) {
        saved = v.m.t[f];
        v.m.t[f].dtype = f == 5 ? DFRT_DTYPE_I32 : DFRT_DTYPE_I8;
        CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, saved.name, "memory: tensor");
        v.m.t[f] = saved;
    }
    saved = v.m.t[0];
    v.m.t[0].shape[1] = 255;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.luts", "[T+1, 256]");
    v.m.t[0].shape[1] = 256;
    v.m.t[0].shape[0] = 19;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.luts", "1 <= T <= 17");
    v.m.t[0] = saved;

    saved = v.m.t[1];
    v.m.t[1].n_dims = 2;
    v.m.t[1].shape[1] = 1;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.encoded_exponent", "expected a U8 vector");
    v.m.t[1] = saved;
    v.m.t[1].n_elements = v.m.t[1].n_bytes = v.e.n_bytes + 4096; /* one chunk more than the gaps cover */
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.gaps", "expected");
    v.m.t[1] = saved;
    v.m.t[1].n_elements = v.m.t[1].n_bytes = v.n / 8 - 1;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "cannot hold 200000 codes");
    v.m.t[1] = saved;

    saved = v.m.t[2];
    v.m.t[2].n_elements = v.m.t[2].n_bytes = 0;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.sign_mantissa", "no weights");
    v.m.t[2].n_elements = v.m.t[2].n_bytes = v.n - 1; /* n no longer matches the last position */
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.output_positions", "last position is 200000, expected the weight count 199999");
    v.m.t[2] = saved;

    saved = v.m.t[3];
    v.m.t[3].n_elements = v.m.t[3].n_bytes = 4 * (n_chunks + 2);
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.output_positions", "one uint32 per chunk");
    v.m.t[3].n_elements = v.m.t[3].n_bytes = 4 * (n_chunks + 1) - 1;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.output_positions");
    v.m.t[3] = saved;

    saved = v.m.t[4];
    v.m.t[4].n_elements = v.m.t[4].n_bytes = v.e.gaps_bytes - 1;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.gaps", "320 per 4096-byte chunk");
    v.m.t[4] = saved;

    saved = v.m.t[5];
    v.m.t[5].n_dims = 2;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.split_positions", "expected an I64 vector");
    v.m.t[5] = saved;
    for (int i = 0; i < 6; i++) {
        const dfrt_tensor *keep = (&v.m.ts.luts)[i];
        (&v.m.ts.luts)[i] = NULL;
        CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "is missing");
        (&v.m.ts.luts)[i] = keep;
    }

    /* Split positions. */
    int64_t sp = v.e.split_positions[0];
    v.e.split_positions[0] = (int64_t)v.n;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "split position 0 is 200000");
    v.e.split_positions[0] = 0;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "split position 0 is 0");
    v.e.split_positions[0] = sp;
    {
        dfrt_df11_unit u;
        const char *names[3] = {"a", "b", "c"};
        CHECK_ERROR(dfrt_df11_unit_init("victim", &v.m.ts, 3, names, &u), DFRT_FORMAT_ERROR, "make 2 weights",
                    "lists 3");
    }

    /* Output positions: first not 0, decreasing, not ending at n, too many in one chunk. */
    uint8_t *pos = v.e.output_positions;
    uint8_t keep_pos[16];
    memcpy(keep_pos, pos, 16);
    pos[0] = 1;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "first position is 1, expected 0");
    memcpy(pos, keep_pos, 16);
    uint32_t p2;
    memcpy(&p2, pos + 8, 4);
    uint32_t p1;
    memcpy(&p1, pos + 4, 4);
    uint32_t bad = p1 - 1;
    memcpy(pos + 8, &bad, 4);
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "position 2", "is below position 1");
    bad = 40000;
    memcpy(pos + 4, &bad, 4);
    memcpy(pos + 8, &bad, 4);
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "chunk 0 would hold 40000 codes");
    memcpy(pos, keep_pos, 16);
    uint32_t last;
    memcpy(&last, pos + 4 * (v.e.n_positions - 1), 4);
    uint32_t wrong = last - 1;
    memcpy(pos + 4 * (v.e.n_positions - 1), &wrong, 4);
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "last position is 199999, expected the weight count 200000");
    memcpy(pos + 4 * (v.e.n_positions - 1), &last, 4);
    /* A position that passes validation but disagrees with the stream: the indexed decoder
     * catches it. */
    memcpy(&p2, pos + 8, 4);
    bad = p2 + 1;
    memcpy(pos + 8, &bad, 4);
    CHECK_ERROR(init_and_decode(&v), DFRT_FORMAT_ERROR, "victim: chunk 1", "output_positions");
    memcpy(pos + 8, &p2, 4);
    CHECK_OK(init_and_decode(&v));

    /* Tables: a pointer past the table count; a leaf with no code length; bad length row. */
    uint8_t *luts = v.e.luts;
    uint8_t keep_luts[18 * 256];
    memcpy(keep_luts, luts, 256 * (size_t)(T + 1));
    luts[7] = (uint8_t)(256 - T);
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "table 0 entry 7 points to table", "but there are only");
    memcpy(luts, keep_luts, 256 * (size_t)(T + 1));
    uint8_t *lengths = luts + 256 * (size_t)T;
    int absent = -1;
    for (int s = 0; s < 240 && absent < 0; s++)
        if (!lengths[s]) absent = s;
    CHECK(absent >= 0);
    luts[3] = (uint8_t)absent;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "table 0 entry 3 decodes to exponent", "has no code length");
    memcpy(luts, keep_luts, 256 * (size_t)(T + 1));
    lengths[absent] = 33;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "a 33-bit code (at most 32)");
    lengths[absent] = 1;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "not a prefix code (Kraft sum");
    lengths[absent] = 0;
    lengths[245] = 3;
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "length 3 to 245", "table pointer value");
    memcpy(luts, keep_luts, 256 * (size_t)(T + 1));
    CHECK_OK(init(&v));

    /* Gaps: a gap that disagrees with where the window's first code starts; a non-zero gap in
     * a padding window past the end of the stream. (A gap >= 32 cannot be written: gaps are
     * 5-bit fields.) */
    uint8_t *gaps = v.e.gaps;
    uint8_t keep_g = gaps[320 * 3 + 40];
    gaps[320 * 3 + 40] ^= 0x21;
    CHECK_ERROR(init_and_decode(&v), DFRT_FORMAT_ERROR, "victim: chunk 3", "gap is");
    gaps[320 * 3 + 40] = keep_g;
    uint8_t keep_first = gaps[320 * 2];
    gaps[320 * 2] ^= 0x08; /* the first window of chunk 2: where chunk 2 starts */
    CHECK_ERROR(init_and_decode(&v), DFRT_FORMAT_ERROR, "chunk 1 ends at bit", "chunk 2 starts at bit");
    gaps[320 * 2] = keep_first;
    gaps[0] ^= 0x08; /* window 0: the stream's first code starts at bit 0, whatever the gap */
    CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "unit.gaps", "window 0 has gap 1, but the stream's first code starts at bit 0");
    gaps[0] ^= 0x08;
    uint64_t last_window = n_chunks * 512 - 1;
    if (v.e.n_bytes * 8 <= last_window * 64) {
        uint64_t bit = last_window * 5;
        gaps[bit >> 3] |= (uint8_t)(0x80 >> (bit & 7));
        CHECK_ERROR(init(&v), DFRT_FORMAT_ERROR, "past the end of the stream but has gap");
        gaps[bit >> 3] &= (uint8_t)~(0x80 >> (bit & 7));
    }
    CHECK_OK(init_and_decode(&v));

    /* A corrupted stream cannot make the decoders misbehave: every outcome is a clean status. */
    test_rng r = {7};
    int flagged = 0;
    for (int trial = 0; trial < 200; trial++) {
        uint64_t at = test_rand(&r) % v.e.n_bytes;
        uint8_t was = v.e.stream[at];
        v.e.stream[at] ^= (uint8_t)(1u << (test_rand(&r) % 8));
        dfrt_df11_unit u;
        CHECK_OK(dfrt_df11_unit_init("victim", &v.m.ts, 0, NULL, &u));
        uint16_t *out = malloc(v.n * 2);
        dfrt_status s1 = dfrt_df11_decode(&u, out, 2);
        dfrt_status s2 = dfrt_df11_decode_sequential(&u, out);
        CHECK((s1 == DFRT_OK || s1 == DFRT_FORMAT_ERROR) && (s2 == DFRT_OK || s2 == DFRT_FORMAT_ERROR));
        flagged += s1 != DFRT_OK;
        free(out);
        dfrt_df11_unit_release(&u);
        v.e.stream[at] = was;
    }
    printf("stream bit flips caught by the index checks: %d of 200\n", flagged);
    CHECK(flagged > 0);
    victim_free(&v);
}

static void test_encoder_refusals(void) {
    uint16_t w[100];
    for (int i = 0; i < 100; i++) w[i] = test_bf16(0.5f);
    w[42] = 0x7F80; /* +inf */
    const uint16_t *parts[1] = {w};
    const char *names[1] = {"model.layers.0.mlp.up_proj.weight"};
    uint64_t counts[1] = {100};
    dfrt_df11_encoded e;
    CHECK_ERROR(dfrt_df11_encode("model.layers.0", 1, parts, counts, names, NULL, &e), DFRT_UNSUPPORTED,
                "model.layers.0.mlp.up_proj.weight element 42", "0x7f80", "infinity", "240..255");
    w[42] = 0x7FC1;
    CHECK_ERROR(dfrt_df11_encode("u", 1, parts, counts, names, NULL, &e), DFRT_UNSUPPORTED, "NaN");
    w[42] = (uint16_t)(0x8000 | (241 << 7));
    CHECK_ERROR(dfrt_df11_encode("u", 1, parts, counts, names, NULL, &e), DFRT_UNSUPPORTED, "exponent 241",
                "|w| >= 2^113");
    w[42] = (uint16_t)(239 << 7); /* the largest codable exponent */
    CHECK_OK(dfrt_df11_encode("u", 1, parts, counts, names, NULL, &e));
    dfrt_df11_encoded_free(&e);
    counts[0] = 0;
    CHECK_ERROR(dfrt_df11_encode("u", 1, parts, counts, names, NULL, &e), DFRT_INVALID_ARGUMENT, "is empty");
    volatile int cancel = 1;
    counts[0] = 100;
    CHECK_ERROR(dfrt_df11_encode("u", 1, parts, counts, names, &cancel, &e), DFRT_CANCELLED, "cancelled");
}

/* The reference's code construction on a hand-checked example. Counts: EOF 1, e0 1, e1 2,
 * e2 4. Merges: (EOF,e0)->2 rep EOF; (e1:2 vs node 2 rep EOF): node rep EOF is smaller, so
 * a = node, b = e1 -> 4 rep EOF; then a = node(4, EOF) vs e2 (4, 2): node smaller. Codes:
 * EOF 000, e0 001, e1 01, e2 1. */
static void test_tie_breaking(void) {
    uint16_t w[7];
    unsigned exps[7] = {0, 1, 1, 2, 2, 2, 2};
    for (int i = 0; i < 7; i++) w[i] = (uint16_t)(exps[i] << 7);
    const uint16_t *parts[1] = {w};
    uint64_t counts[1] = {7};
    dfrt_df11_encoded e;
    CHECK_OK(dfrt_df11_encode("u", 1, parts, counts, NULL, NULL, &e));
    CHECK(e.n_tables == 1);
    const uint8_t *len = e.luts + 256;
    CHECK(len[0] == 3 && len[1] == 2 && len[2] == 1);
    /* table 0: key 0x20 (001) -> 0, 0x40 (01) -> 1, 0x80 (1) -> 2; entries before the first
     * key take its value. */
    CHECK(e.luts[0] == 0 && e.luts[0x1F] == 0 && e.luts[0x20] == 0 && e.luts[0x3F] == 0);
    CHECK(e.luts[0x40] == 1 && e.luts[0x7F] == 1 && e.luts[0x80] == 2 && e.luts[0xFF] == 2);
    /* stream: 001 01 01 1 | 1 1 1 + EOF 000 -> 00101011 11100000 */
    CHECK(e.n_bytes == 2 && e.stream[0] == 0x2B && e.stream[1] == 0xE0);
    CHECK(e.n_positions == 2);
    dfrt_df11_encoded_free(&e);
}

int main(void) {
    synth_case *cases;
    int n = synth_cases(&cases);
    for (int i = 0; i < n; i++) round_trip(&cases[i]);
    synth_cases_free(cases, n);
    RUN(test_bad_units);
    RUN(test_changed_tables);
    RUN(test_encoder_refusals);
    RUN(test_tie_breaking);
    return test_finish();
}
