/* The op test's DF11 cases (see test_ops.c): df11_decode and df11_matmul over every unit of the
 * shipped model and of synth.c, units of 1 to 21 weights and of 17 tables, the executor's row
 * ranges, and corrupted units. */
#include "test_ops.h"

/* ---- DF11 decode and matmul: the shipped model, the format's edge cases, corrupted units ------- */

/* The whole unit, its last chunk and chunks [1, 1 + n/2), bit-exact. */
static void decode_unit_cases(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded) {
    run_case(&(op_case){DFRT_OP_DF11_DECODE, {0, u->n_chunks}, .name = name, .unit = u, .decoded = decoded});
    if (u->n_chunks > 2) {
        run_case(&(op_case){DFRT_OP_DF11_DECODE, {u->n_chunks - 1, 1}, .name = name, .unit = u, .decoded = decoded});
        run_case(&(op_case){DFRT_OP_DF11_DECODE, {1, u->n_chunks / 2}, .name = name, .unit = u, .decoded = decoded});
    }
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* One df11_matmul case: Y (M, N) = X . W^T with W the weights [first, first + N K) of u. */
static void df11_matmul_case(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded, int64_t m, int64_t n,
                             int64_t k, uint64_t first, unsigned flags) {
    if (n < 1 || k < 1 || first > u->n || (uint64_t)n * (uint64_t)k > u->n - first) {
        fprintf(stderr, "test_ops: df11_matmul case N=%lld K=%lld first=%llu does not fit unit %s (%llu weights)\n",
                (long long)n, (long long)k, (unsigned long long)first, name, (unsigned long long)u->n);
        exit(2);
    }
    run_case(&(op_case){DFRT_OP_DF11_MATMUL, {m, n, k, (int64_t)first}, flags, .name = name, .unit = u,
                        .decoded = decoded});
}

/* Any unit: rows from its first weight (K = 64 where it holds 3 such rows, else 1), rows that end
 * at its last weight (K = 33, else 1), past 2 chunks rows from inside its middle chunk, and past
 * 2.6 M weights a range of 2.5 M. */
static void df11_matmul_unit_cases(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded) {
    const int64_t n = (int64_t)u->n;
    int64_t k = n >= 3 * 64 ? 64 : 1, rows = min64(n / k, 512);
    df11_matmul_case(name, u, decoded, 1, rows, k, 0, OPC_BIAS);
    k = n >= 3 * 33 ? 33 : 1, rows = min64(n / k, 300);
    df11_matmul_case(name, u, decoded, 9, rows, k, (uint64_t)(n - rows * k), 0);
    uint64_t at = dfrt_df11_chunk_start(u, u->n_chunks / 2) + 5;
    k = u->n - at >= 3 * 4096 ? 4096 : 257, rows = at < u->n ? min64((int64_t)(u->n - at) / k, 3) : 0;
    if (u->n_chunks > 2 && rows > 0) df11_matmul_case(name, u, decoded, 3, rows, k, at, OPC_BIAS);
    if (u->n >= 2600000) {
        /* 2.5 M weights: on 2 threads, 4 tasks of the CPU backend (at most 1 M weights each) */
        dfrt_backend_set_threads(oracle.b, 2);
        df11_matmul_case(name, u, decoded, 2, 2501, 1000, 777, OPC_BIAS);
        dfrt_backend_set_threads(oracle.b, 0);
    }
}

/* The shapes of the op, on a unit of normal weights of 24 chunks: row ranges that start and end
 * inside chunks (and exactly on chunk boundaries), M from 1 to 512, small odd K, K a multiple of
 * 64 with first a multiple of 64 (the GPUs' fast path) and not, rows across several chunks. */
static void df11_matmul_shape_cases(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded) {
    static const int64_t ms[] = {1, 2, 3, 7, 8, 9, 16, 17, 64, 65, 512};
    uint64_t c2 = dfrt_df11_chunk_start(u, 2), c5 = dfrt_df11_chunk_start(u, 5);
    uint64_t aligned = (c2 + 64 + 63) / 64 * 64; /* inside chunk 2, a multiple of 64 */
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        df11_matmul_case(name, u, decoded, ms[i], 40, 64, aligned, i % 2 ? OPC_BIAS : 0);
        df11_matmul_case(name, u, decoded, ms[i], 100, 255, c5 + 3, i % 2 ? 0 : OPC_BIAS); /* over 2 chunks */
    }
    for (int64_t k = 1; k <= 5; k += 2) {
        df11_matmul_case(name, u, decoded, 1, 5001, k, dfrt_df11_chunk_start(u, 7) + 11, OPC_BIAS);
        df11_matmul_case(name, u, decoded, 9, 37, k, dfrt_df11_chunk_start(u, 1) - 2, 0); /* across a boundary */
        df11_matmul_case(name, u, decoded, 2, 1, k, u->n - (uint64_t)k, OPC_BIAS);        /* the unit's last weights */
    }
    /* (CUDA's tensor-core GEMV splits K over 8 warps: 1536 gives each of them 3 blocks of 64,
     * an odd count) */
    static const int64_t ks[] = {64, 128, 1536, 4096};
    uint64_t at = (dfrt_df11_chunk_start(u, 3) + 100 + 63) / 64 * 64;
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        int64_t n = ks[i] == 4096 ? 7 : 50;
        for (uint64_t odd = 0; odd <= 33; odd += 33) {
            df11_matmul_case(name, u, decoded, 1, n, ks[i], at + odd, odd ? 0 : OPC_BIAS);
            df11_matmul_case(name, u, decoded, ks[i] == 4096 ? 2 : 9, n, ks[i], at + odd, odd ? OPC_BIAS : 0);
            df11_matmul_case(name, u, decoded, ks[i] >= 1536 ? 16 : 4, n, ks[i], at + odd, 0);
        }
    }
    /* exactly chunks [4, 6), with K = 1; the whole unit as 600 rows of 500 */
    uint64_t c4 = dfrt_df11_chunk_start(u, 4), c6 = dfrt_df11_chunk_start(u, 6);
    df11_matmul_case(name, u, decoded, 1, (int64_t)(c6 - c4), 1, c4, 0);
    if (u->n % 500 == 0) df11_matmul_case(name, u, decoded, 2, (int64_t)u->n / 500, 500, 0, OPC_BIAS);
}

/* The executor's matmuls on the shipped model's units (op_model_matmuls): q|k|v, o, gate|up and
 * down, row ranges of a layer unit one after the other, and lm_head, at M = 1 and 9. */
static const dfrt_config *shipped_config;
static void df11_matmul_model_cases(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded) {
    op_case mm[OP_MODEL_MATMULS];
    for (int64_t m = 1; m <= 9; m += 8) {
        op_model_matmuls(shipped_config, m, mm);
        uint64_t first = 0;
        for (int i = 0; i < OP_MODEL_MATMULS; i++) {
            bool lm_head = strcmp(mm[i].name, "lm_head") == 0;
            if (lm_head == (strcmp(name, "lm_head") == 0))
                df11_matmul_case(name, u, decoded, m, mm[i].s[1], mm[i].s[2], lm_head ? 0 : first, 0);
            first += (uint64_t)(mm[i].s[1] * mm[i].s[2]);
        }
    }
}

/* Units of 1 to 21 weights: rows of K = 1, 3 and 5 from several first weights. */
static void tiny_unit_cases(void) {
    test_rng r = {77};
    for (uint64_t n = 1; n <= 21; n++) {
        uint16_t *w = synth_normal(&r, n, 0.5);
        const uint16_t *parts[1] = {w};
        dfrt_df11_encoded e;
        dfrt_df11_unit u;
        mem_unit m;
        uint16_t decoded[21];
        char name[48];
        snprintf(name, sizeof name, "%llu weights", (unsigned long long)n);
        if (dfrt_df11_encode("tiny", 1, parts, &n, NULL, NULL, &e) != DFRT_OK) exit(2);
        mem_unit_wrap(&m, "tiny", &e);
        if (dfrt_df11_unit_init("tiny", &m.ts, 0, NULL, &u) != DFRT_OK || dfrt_df11_decode(&u, decoded, 1) != DFRT_OK ||
            memcmp(decoded, w, n * 2) != 0)
            exit(2);
        df11_matmul_case(name, &u, decoded, 1, (int64_t)n, 1, 0, n % 2 ? OPC_BIAS : 0);
        if (n >= 2) df11_matmul_case(name, &u, decoded, 2, (int64_t)(n - 1), 1, 1, 0);
        if (n >= 3) df11_matmul_case(name, &u, decoded, 3, (int64_t)n / 3, 3, n % 3, OPC_BIAS);
        if (n >= 6) df11_matmul_case(name, &u, decoded, 17, (int64_t)(n - 1) / 5, 5, 1, 0);
        dfrt_df11_unit_release(&u);
        dfrt_df11_encoded_free(&e);
        free(w);
    }
}

/* A unit with 17 tables, the most the format allows: 15 exponents with 4-bit codes and 32 with
 * 9-bit codes (a dyadic distribution makes exactly those lengths), whose 16 first bytes each open
 * a table. */
static uint16_t *seventeen_tables(uint64_t *out_n) {
    enum { REPS = 100 };
    test_rng r = {17};
    uint64_t n = 0;
    uint16_t *w = malloc(REPS * (15 * 32 + 32) * sizeof *w);
    for (int rep = 0; rep < REPS; rep++) {
        for (unsigned s = 0; s < 15; s++)
            for (int j = 0; j < 32; j++) w[n++] = (uint16_t)((test_rand(&r) & 0x807F) | (110 + s) << 7);
        for (unsigned s = 0; s < 32; s++) w[n++] = (uint16_t)((test_rand(&r) & 0x807F) | (125 + s) << 7);
    }
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = test_rand(&r) % i;
        uint16_t t = w[i - 1];
        w[i - 1] = w[j], w[j] = t;
    }
    *out_n = n;
    return w;
}

static void seventeen_table_cases(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded) {
    if (u->n_tables != 17) {
        fprintf(stderr, "test_ops: the 17-table unit has %u tables\n", u->n_tables);
        exit(2);
    }
    static const int64_t ms[] = {1, 8, 9, 17};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        df11_matmul_case(name, u, decoded, ms[i], 300, 64, 640, i % 2 ? OPC_BIAS : 0);
        df11_matmul_case(name, u, decoded, ms[i], 201, 37, dfrt_df11_chunk_start(u, 1) - 1000 - i, i % 2 ? 0 : OPC_BIAS);
    }
}

/* A unit's decode cases (group decode) and df11_matmul cases (group df11_matmul: the generic
 * ones and, when more is set, those). */
static void unit_cases(const char *name, const dfrt_df11_unit *u,
                       void (*more)(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded)) {
    uint16_t *decoded = malloc(u->n * 2);
    if (dfrt_df11_decode(u, decoded, 0) != DFRT_OK) {
        fprintf(stderr, "host decode of %s failed: %s\n", name, dfrt_last_error());
        exit(2);
    }
    if (group("decode")) decode_unit_cases(name, u, decoded);
    if (group("df11_matmul")) {
        df11_matmul_unit_cases(name, u, decoded);
        if (more) more(name, u, decoded);
    }
    free(decoded);
}

/* Encodes parts into a unit and runs unit_cases on it. */
static void synth_unit_cases(const char *name, int n_parts, const uint16_t *const *parts, const uint64_t *counts,
                             void (*more)(const char *name, const dfrt_df11_unit *u, const uint16_t *decoded)) {
    dfrt_df11_encoded e;
    if (dfrt_df11_encode("synth", n_parts, parts, counts, NULL, NULL, &e) != DFRT_OK) exit(2);
    mem_unit m;
    mem_unit_wrap(&m, "synth", &e);
    dfrt_df11_unit u;
    if (dfrt_df11_unit_init("synth", &m.ts, 0, NULL, &u) != DFRT_OK) exit(2);
    unit_cases(name, &u, more);
    dfrt_df11_unit_release(&u);
    dfrt_df11_encoded_free(&e);
}

/* Every unit of the shipped model and every edge case of synth.c; for df11_matmul also the
 * executor's shapes, a sweep of shapes, units of 1 to 21 weights and one of 17 tables. */
void unit_group(synth_case *cases, int n_cases) {
    dfrt_checkpoint *cp;
    if (dfrt_checkpoint_open(test_model_dir(), &cp) != DFRT_OK) {
        fprintf(stderr, "cannot open the shipped model: %s\n", dfrt_last_error());
        exit(2);
    }
    shipped_config = dfrt_checkpoint_config(cp);
    for (size_t i = 0; i < dfrt_checkpoint_unit_count(cp); i++) {
        const dfrt_df11_unit *u = dfrt_checkpoint_unit(cp, i);
        bool executor = strcmp(u->name, "model.layers.0") == 0 || strcmp(u->name, "lm_head") == 0;
        unit_cases(u->name, u, executor ? df11_matmul_model_cases : NULL);
    }
    dfrt_checkpoint_close(cp);
    shipped_config = NULL;
    for (int i = 0; i < n_cases; i++) {
        bool sweep = strcmp(cases[i].label, "normal weights, std 0.02") == 0;
        synth_unit_cases(cases[i].label, cases[i].n_parts, (const uint16_t *const *)cases[i].parts, cases[i].counts,
                         sweep ? df11_matmul_shape_cases : NULL);
    }
    uint64_t n;
    uint16_t *w = seventeen_tables(&n);
    synth_unit_cases("17 tables", 1, (const uint16_t *const *)&w, &n, seventeen_table_cases);
    free(w);
    if (group("df11_matmul")) tiny_unit_cases();
}

/* A change validation cannot see, so that corrupted tables and positions reach the decoders too:
 * a table entry that decodes to another exponent that has a code, or an output position moved
 * between its neighbours. Stream and gap bytes are changed at random (validation cannot see
 * those either). */
static void plausible_change(dfrt_df11_encoded *e, int which, test_rng *r) {
    if (which == 2) {
        const uint8_t *lengths = e->luts + 256 * (size_t)e->n_tables;
        unsigned v;
        do v = (unsigned)(test_rand(r) % 240); while (!lengths[v]);
        e->luts[256 * (test_rand(r) % e->n_tables) + test_rand(r) % 256] = (uint8_t)v;
    } else if (which == 3) {
        if (e->n_positions <= 2) return;
        uint32_t c = 1 + (uint32_t)(test_rand(r) % (e->n_positions - 2)), lo, hi;
        memcpy(&lo, e->output_positions + 4 * (c - 1), 4);
        memcpy(&hi, e->output_positions + 4 * (c + 1), 4);
        uint32_t v = lo + (uint32_t)(test_rand(r) % ((uint64_t)hi - lo + 1));
        if (v - lo <= 32768 && hi - v <= 32768) memcpy(e->output_positions + 4 * c, &v, 4);
    } else {
        uint8_t *b = which == 0 ? e->stream : e->gaps;
        b[test_rand(r) % (which == 0 ? e->n_bytes : e->gaps_bytes)] = (uint8_t)test_rand(r);
    }
}

/* Units whose tensors were corrupted after encoding: 1 to 8 changes to one of encoded_exponent,
 * gaps, luts and output_positions, half of the trials random bit flips or byte changes, half
 * plausible_change. Every mutant that still passes validation is decoded whole and in a random
 * chunk range, and multiplied by (df11_matmul) as 100 rows of 600 and in a random row range
 * (OPC_CORRUPT: GPU decoders cannot tell, the CPU one may say DFRT_FORMAT_ERROR;
 * writing outside the output is never fine, nor is reading outside the unit, which
 * compute-sanitizer and GPU-assisted validation check). Each tensor's mutants must reach the
 * decoders. */
void mutated_group(void) {
    enum { TRIALS_PER_TENSOR = 60, N = 60000 };
    static const char *const tensor_names[4] = {"encoded_exponent", "gaps", "luts", "output_positions"};
    test_rng r = {2024}, shapes = {2025}; /* the mutants as they were before df11_matmul */
    int valid[4] = {0};
    uint16_t *w = synth_normal(&r, N, 0.02);
    const uint16_t *parts[1] = {w};
    uint64_t count = N;
    for (int trial = 0; trial < 4 * TRIALS_PER_TENSOR; trial++) {
        dfrt_df11_encoded e;
        if (dfrt_df11_encode("mutant", 1, parts, &count, NULL, NULL, &e) != DFRT_OK) exit(2);
        uint8_t *bytes[4] = {e.stream, e.gaps, e.luts, e.output_positions};
        size_t sizes[4] = {e.n_bytes, e.gaps_bytes, 256 * ((size_t)e.n_tables + 1), 4 * (size_t)e.n_positions};
        int which = trial % 4, changes = 1 + (int)(test_rand(&r) % 8);
        for (int f = 0; f < changes; f++) {
            if (trial % 8 >= 4) {
                plausible_change(&e, which, &r);
                continue;
            }
            size_t at = test_rand(&r) % sizes[which];
            if (test_rand(&r) % 2) bytes[which][at] ^= (uint8_t)(1u << (test_rand(&r) % 8));
            else bytes[which][at] = (uint8_t)test_rand(&r);
        }
        mem_unit m;
        mem_unit_wrap(&m, "mutant", &e);
        dfrt_df11_unit u;
        if (dfrt_df11_unit_init("mutant", &m.ts, 0, NULL, &u) == DFRT_OK) {
            valid[which]++;
            char name[96];
            snprintf(name, sizeof name, "mutant %d (%d changes in %s)", trial, changes, tensor_names[which]);
            uint32_t first = (uint32_t)(test_rand(&r) % u.n_chunks), n = 1 + (uint32_t)(test_rand(&r) % (u.n_chunks - first));
            run_case(&(op_case){DFRT_OP_DF11_DECODE, {0, 0}, OPC_CORRUPT, .name = name, .unit = &u});
            run_case(&(op_case){DFRT_OP_DF11_DECODE, {first, n}, OPC_CORRUPT, .name = name, .unit = &u});
            int64_t k = 1 + (int64_t)(test_rand(&shapes) % 300), at = (int64_t)(test_rand(&shapes) % (N - k + 1));
            int64_t rows = 1 + (int64_t)(test_rand(&shapes) % (uint64_t)((N - at) / k));
            run_case(&(op_case){DFRT_OP_DF11_MATMUL, {1, N / 600, 600, 0}, OPC_CORRUPT, .name = name, .unit = &u});
            run_case(&(op_case){DFRT_OP_DF11_MATMUL, {3, rows, k, at}, OPC_CORRUPT | OPC_BIAS, .name = name, .unit = &u});
            dfrt_df11_unit_release(&u);
        }
        dfrt_df11_encoded_free(&e);
    }
    free(w);
    for (int t = 0; t < n_targets; t++) {
        begin_case(&targets[t]);
        for (int i = 0; i < 4; i++)
            EXPECT(valid[i] >= TRIALS_PER_TENSOR / 4, "only %d of %d %s mutants passed validation: too few to test the decoders",
                   valid[i], TRIALS_PER_TENSOR, tensor_names[i]);
        end_case();
    }
    printf("  mutated units that passed validation and were decoded: %d encoded_exponent, %d gaps, %d luts, %d "
           "output_positions (of %d each)\n", valid[0], valid[1], valid[2], valid[3], TRIALS_PER_TENSOR);
}
