/* The op test: every case on the CPU backend and on every available backend (each Vulkan and
 * CUDA device), compared with a host reference: DF11 decode bit-exact, matmul within a stated
 * tolerance of an fp64 reference. Guard bytes around every output, NaN/Inf checks, bad input
 * with the exact error. Prints "backend NAME: N passed, N failed, N skipped" per backend. */
#include "synth.h"

#include <math.h>

#define GUARD 256
#define GUARD_BYTE 0xA5

typedef struct target {
    char label[128];
    dfrt_backend *b;
    int passed, failed, skipped;
} target;

static target *cur;
static int case_failed, case_skipped;

/* Checks after an op the backend skipped (OP_OR_SKIP) are moot and not counted. */
#define EXPECT(cond, ...) \
    do { \
        if (!(cond) && !case_skipped) { \
            if (!case_failed) fprintf(stderr, "FAIL [%s] ", cur->label); \
            else fprintf(stderr, "     [%s] ", cur->label); \
            fprintf(stderr, __VA_ARGS__); \
            fprintf(stderr, "\n"); \
            case_failed = 1; \
        } \
    } while (0)
#define EXPECT_OK(expr, what) \
    do { \
        dfrt_status s_ = (expr); \
        EXPECT(s_ == DFRT_OK, "%s: %s: %s", what, dfrt_status_string(s_), dfrt_last_error()); \
    } while (0)

static void begin_case(void) { case_failed = 0, case_skipped = 0; }
static void end_case(void) {
    if (case_skipped && !case_failed) cur->skipped++;
    else if (case_failed) cur->failed++;
    else cur->passed++;
}

/* Runs an op; a backend that does not implement it skips the case (and says so once). */
#define OP_OR_SKIP(expr, what) \
    do { \
        dfrt_status s_ = (expr); \
        if (s_ == DFRT_UNSUPPORTED) { \
            if (!case_skipped) fprintf(stderr, "skip [%s] %s: %s\n", cur->label, what, dfrt_last_error()); \
            case_skipped = 1; \
        } else { \
            EXPECT(s_ == DFRT_OK, "%s: %s: %s", what, dfrt_status_string(s_), dfrt_last_error()); \
        } \
    } while (0)

static uint8_t *guarded_readback(dfrt_buffer *buf, size_t payload, const char *what) {
    uint8_t *host = malloc(payload + 2 * GUARD);
    dfrt_status s = dfrt_buffer_read(buf, 0, host, payload + 2 * GUARD);
    EXPECT(s == DFRT_OK, "%s: read back: %s", what, dfrt_last_error());
    int guard_ok = 1;
    for (size_t i = 0; i < GUARD; i++)
        guard_ok &= host[i] == GUARD_BYTE && host[GUARD + payload + i] == GUARD_BYTE;
    EXPECT(guard_ok, "%s: guard bytes around the output were overwritten", what);
    return host;
}

/* ---- DF11 decode ------------------------------------------------------------------------- */

static void decode_case(const char *name, const dfrt_df11_unit *u, const uint16_t *want, uint32_t first, uint32_t count) {
    begin_case();
    dfrt_device_df11 *du = NULL;
    dfrt_buffer *out = NULL;
    uint64_t start = dfrt_df11_chunk_start(u, first), end = dfrt_df11_chunk_start(u, first + count);
    size_t payload = (size_t)(end - start) * 2;
    char what[200];
    snprintf(what, sizeof what, "decode %s chunks [%u, %u)", name, first, first + count);
    EXPECT_OK(dfrt_df11_upload(cur->b, u, &du), what);
    EXPECT_OK(dfrt_buffer_alloc(cur->b, payload + 2 * GUARD, &out), what);
    if (!case_failed) {
        EXPECT_OK(dfrt_buffer_fill(out, 0, payload + 2 * GUARD, GUARD_BYTE), what);
        EXPECT_OK(dfrt_op_df11_decode(cur->b, &(dfrt_df11_decode_args){.unit = du, .first_chunk = first, .n_chunks = count, .out = {out, GUARD}}), what);
        uint8_t *host = guarded_readback(out, payload, what);
        if (memcmp(host + GUARD, want + start, payload) != 0) {
            uint64_t i = 0;
            while (i < end - start && memcmp(host + GUARD + 2 * i, want + start + i, 2) == 0) i++;
            uint16_t got;
            memcpy(&got, host + GUARD + 2 * i, 2);
            EXPECT(0, "%s: weight %llu is 0x%04x, expected 0x%04x", what, (unsigned long long)(start + i), got,
                   want[start + i]);
        }
        free(host);
    }
    dfrt_buffer_free(out);
    dfrt_device_df11_free(du);
    end_case();
}

static void decode_unit_cases(const char *name, const dfrt_df11_unit *u) {
    uint16_t *want = malloc(u->n * 2);
    if (dfrt_df11_decode(u, want, 0) != DFRT_OK) {
        fprintf(stderr, "host decode of %s failed: %s\n", name, dfrt_last_error());
        exit(2);
    }
    decode_case(name, u, want, 0, u->n_chunks);
    if (u->n_chunks > 2) {
        decode_case(name, u, want, u->n_chunks - 1, 1);
        decode_case(name, u, want, 1, u->n_chunks / 2);
    }
    free(want);
}

static void decode_cases(synth_case *cases, int n_cases) {
    dfrt_checkpoint *cp;
    if (dfrt_checkpoint_open(test_model_dir(), &cp) != DFRT_OK) {
        fprintf(stderr, "cannot open the shipped model: %s\n", dfrt_last_error());
        exit(2);
    }
    for (size_t i = 0; i < dfrt_checkpoint_unit_count(cp); i++)
        decode_unit_cases(dfrt_checkpoint_unit(cp, i)->name, dfrt_checkpoint_unit(cp, i));
    dfrt_checkpoint_close(cp);
    for (int i = 0; i < n_cases; i++) {
        dfrt_df11_encoded e;
        if (dfrt_df11_encode("synth", cases[i].n_parts, (const uint16_t *const *)cases[i].parts, cases[i].counts, NULL,
                             NULL, &e) != DFRT_OK)
            exit(2);
        mem_unit m;
        mem_unit_wrap(&m, "synth", &e);
        dfrt_df11_unit u;
        if (dfrt_df11_unit_init("synth", &m.ts, 0, NULL, &u) != DFRT_OK) exit(2);
        decode_unit_cases(cases[i].label, &u);
        dfrt_df11_unit_release(&u);
        dfrt_df11_encoded_free(&e);
    }
}

/* Decodes chunks [first, first + count) of a corrupted unit (count 0: all) into a guarded
 * buffer. GPU decoders cannot tell (no error); the CPU one checks the index as it goes (format
 * error): both are fine. Writing outside the output is not; neither is reading outside the
 * unit, which compute-sanitizer checks on CUDA. */
static void mutant_decode(const dfrt_df11_unit *u, const dfrt_device_df11 *du, uint32_t first, uint32_t count,
                          const char *what) {
    uint32_t last = count ? first + count : u->n_chunks;
    size_t payload = (size_t)(dfrt_df11_chunk_start(u, last) - dfrt_df11_chunk_start(u, first)) * 2;
    dfrt_buffer *out = NULL;
    EXPECT_OK(dfrt_buffer_alloc(cur->b, payload + 2 * GUARD, &out), what);
    if (!case_failed) {
        EXPECT_OK(dfrt_buffer_fill(out, 0, payload + 2 * GUARD, GUARD_BYTE), what);
        dfrt_status s = dfrt_op_df11_decode(cur->b, &(dfrt_df11_decode_args){.unit = du, .first_chunk = first, .n_chunks = count, .out = {out, GUARD}});
        EXPECT(s == DFRT_OK || s == DFRT_FORMAT_ERROR, "%s: %s", what, dfrt_last_error());
        free(guarded_readback(out, payload, what));
    }
    dfrt_buffer_free(out);
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
 * plausible_change. Every mutant that still passes validation is uploaded and decoded whole
 * and in a random chunk range. Each tensor's mutants must reach the decoders. */
static void mutated_decode_cases(void) {
    enum { TRIALS_PER_TENSOR = 60, N = 60000 };
    static const char *const tensor_names[4] = {"encoded_exponent", "gaps", "luts", "output_positions"};
    test_rng r = {2024};
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
            begin_case();
            char what[160];
            dfrt_device_df11 *du = NULL;
            snprintf(what, sizeof what, "mutant %d (%d changes in %s)", trial, changes, tensor_names[which]);
            EXPECT_OK(dfrt_df11_upload(cur->b, &u, &du), what);
            if (!case_failed) {
                mutant_decode(&u, du, 0, 0, what);
                uint32_t first = (uint32_t)(test_rand(&r) % u.n_chunks);
                mutant_decode(&u, du, first, 1 + (uint32_t)(test_rand(&r) % (u.n_chunks - first)), what);
            }
            dfrt_device_df11_free(du);
            end_case();
            dfrt_df11_unit_release(&u);
        }
        dfrt_df11_encoded_free(&e);
    }
    free(w);
    begin_case();
    for (int i = 0; i < 4; i++)
        EXPECT(valid[i] >= TRIALS_PER_TENSOR / 4, "only %d of %d %s mutants passed validation: too few to test the decoders",
               valid[i], TRIALS_PER_TENSOR, tensor_names[i]);
    end_case();
    printf("  mutated units that passed validation and were decoded: %d encoded_exponent, %d gaps, %d luts, %d "
           "output_positions (of %d each)\n", valid[0], valid[1], valid[2], valid[3], TRIALS_PER_TENSOR);
}

/* ---- matmul ----------------------------------------------------------------------------------- */

typedef struct mm_case {
    int64_t m, n, k;
    int bias;
    size_t x_off, w_off; /* byte offsets inside the buffers */
} mm_case;

/* Tolerance relative to sum |x_k w_k|: fp32 accumulation everywhere, except CUDA's tensor-core
 * path for M > 8, which rounds X to BF16 first (2^-8 relative per product). */
static double tolerance(const char *backend, int64_t m) {
    return strcmp(backend, "cuda") == 0 && m > 8 ? 5e-3 : 1e-4;
}

static void matmul_case(const mm_case *c, test_rng *r) {
    begin_case();
    char what[160];
    snprintf(what, sizeof what, "matmul M=%lld N=%lld K=%lld%s x_off=%zu w_off=%zu", (long long)c->m, (long long)c->n,
             (long long)c->k, c->bias ? " +bias" : "", c->x_off, c->w_off);
    size_t xn = (size_t)(c->m * c->k), wn = (size_t)(c->n * c->k), yn = (size_t)(c->m * c->n);
    float *x = malloc(xn * 4), *bias = malloc((size_t)c->n * 4);
    uint16_t *w = malloc(wn * 2);
    for (size_t i = 0; i < xn; i++) x[i] = (float)(2 * test_uniform(r) - 1);
    for (size_t i = 0; i < wn; i++) w[i] = test_bf16((float)(0.05 * test_normal(r)));
    for (int64_t i = 0; i < c->n; i++) bias[i] = (float)test_normal(r);
    dfrt_buffer *bx = NULL, *bw = NULL, *bb = NULL, *by = NULL;
    EXPECT_OK(dfrt_buffer_alloc(cur->b, c->x_off + xn * 4, &bx), what);
    EXPECT_OK(dfrt_buffer_alloc(cur->b, c->w_off + wn * 2, &bw), what);
    EXPECT_OK(dfrt_buffer_alloc(cur->b, (size_t)c->n * 4, &bb), what);
    EXPECT_OK(dfrt_buffer_alloc(cur->b, yn * 4 + 2 * GUARD, &by), what);
    if (!case_failed) {
        EXPECT_OK(dfrt_buffer_write(bx, c->x_off, x, xn * 4), what);
        EXPECT_OK(dfrt_buffer_write(bw, c->w_off, w, wn * 2), what);
        EXPECT_OK(dfrt_buffer_write(bb, 0, bias, (size_t)c->n * 4), what);
        EXPECT_OK(dfrt_buffer_fill(by, 0, yn * 4 + 2 * GUARD, GUARD_BYTE), what);
        EXPECT_OK(dfrt_op_matmul(cur->b, &(dfrt_matmul_args){.y = {by, GUARD}, .x = {bx, c->x_off}, .w = {bw, c->w_off}, .bias = {c->bias ? bb : NULL, 0}, .m = c->m, .n = c->n, .k = c->k}),
                  what);
        uint8_t *host = guarded_readback(by, yn * 4, what);
        const float *y = (const float *)(host + GUARD);
        double tol = tolerance(dfrt_backend_name(cur->b), c->m), worst = 0;
        int64_t bad_at = -1, nonfinite = 0;
        for (int64_t i = 0; i < c->m; i++)
            for (int64_t j = 0; j < c->n; j++) {
                double ref = c->bias ? bias[j] : 0, mag = c->bias ? fabs(bias[j]) : 0;
                for (int64_t k = 0; k < c->k; k++) {
                    double p = (double)x[i * c->k + k] * test_float(w[j * c->k + k]);
                    ref += p;
                    mag += fabs(p);
                }
                double got = y[i * c->n + j];
                if (!isfinite(got)) nonfinite++;
                double err = fabs(got - ref) / (mag + 1e-30);
                if (err > worst) worst = err;
                if (err > tol && bad_at < 0) bad_at = i * c->n + j;
            }
        EXPECT(nonfinite == 0, "%s: %lld non-finite outputs", what, (long long)nonfinite);
        EXPECT(bad_at < 0, "%s: relative error %.3g > %.3g (first at Y[%lld][%lld])", what, worst, tol,
               (long long)(bad_at / c->n), (long long)(bad_at % c->n));
        free(host);
    }
    dfrt_buffer_free(bx);
    dfrt_buffer_free(bw);
    dfrt_buffer_free(bb);
    dfrt_buffer_free(by);
    free(x);
    free(w);
    free(bias);
    end_case();
}

static void matmul_cases(void) {
    static const int64_t ms[] = {1, 2, 7, 8, 9, 64, 257};
    static const int64_t nk[][2] = {{1, 1}, {3, 3}, {1, 3}, {3, 1}, {17, 33}, {64, 64}, {100, 255}, {129, 520}};
    test_rng r = {77};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        for (size_t j = 0; j < sizeof nk / sizeof *nk; j++) {
            mm_case c = {ms[i], nk[j][0], nk[j][1], (int)((i + j) % 2), 0, 0};
            matmul_case(&c, &r);
        }
    /* unaligned offsets force the element-wise paths */
    mm_case odd[] = {{1, 40, 64, 1, 4, 2}, {8, 40, 64, 0, 12, 6}, {9, 40, 64, 1, 4, 2}, {1, 40, 64, 0, 16, 16}};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) matmul_case(&odd[i], &r);
    /* a Llama-3.1-8B down projection, 117 MB of weights */
    static const int64_t big_ms[] = {1, 2, 8, 9};
    for (size_t i = 0; i < sizeof big_ms / sizeof *big_ms; i++) {
        mm_case c = {big_ms[i], 4096, 14336, (int)(i % 2), 0, 0};
        matmul_case(&c, &r);
    }
}

/* ---- bad input: a clear status, and the device still works afterwards --------------------------- */

static void expect_error(dfrt_status got, dfrt_status want, const char *fragment, const char *what) {
    EXPECT(got == want && strstr(dfrt_last_error(), fragment) != NULL, "%s: got %s \"%s\", expected %s containing \"%s\"",
           what, dfrt_status_string(got), dfrt_last_error(), dfrt_status_string(want), fragment);
}

static void bad_input_cases(dfrt_backend *cpu) {
    begin_case();
    dfrt_backend *b = cur->b;
    dfrt_buffer *x = NULL, *w = NULL, *y = NULL, *small = NULL, *huge = NULL, *other = NULL;
    EXPECT_OK(dfrt_buffer_alloc(b, 4 * 64, &x), "alloc");
    EXPECT_OK(dfrt_buffer_alloc(b, 2 * 64 * 16, &w), "alloc");
    EXPECT_OK(dfrt_buffer_alloc(b, 4 * 16, &y), "alloc");
    EXPECT_OK(dfrt_buffer_alloc(b, 8, &small), "alloc");
    if (!case_failed) {
        EXPECT_OK(dfrt_buffer_fill(x, 0, 4 * 64, 0), "fill");
        EXPECT_OK(dfrt_buffer_fill(w, 0, 2 * 64 * 16, 0), "fill");
        expect_error(dfrt_buffer_alloc(b, (size_t)1 << 52, &huge), DFRT_OUT_OF_MEMORY, "4503599627370496",
                     "allocation beyond device memory");
        expect_error(dfrt_buffer_alloc(b, 0, &huge), DFRT_INVALID_ARGUMENT, "size is 0", "zero allocation");
        expect_error(dfrt_buffer_write(small, 4, "12345678", 8), DFRT_INVALID_ARGUMENT, "outside the 8-byte buffer",
                     "write past the end");
        expect_error(dfrt_buffer_read(small, (size_t)-4, (char[8]){0}, 8), DFRT_INVALID_ARGUMENT, "outside",
                     "read with a wrapping offset");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 8}, .w = {w, 0}, .bias = {NULL, 0}, .m = 1, .n = 16, .k = 64}), DFRT_INVALID_ARGUMENT,
                     "X (fp32 M x K) needs 256 bytes at offset 8", "matmul X offset out of range");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {NULL, 0}, .m = 1, .n = 17, .k = 64}), DFRT_INVALID_ARGUMENT,
                     "W (bf16 N x K) needs 2176 bytes", "matmul W too small for N x K");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {NULL, 0}, .m = 2, .n = 16, .k = 64}), DFRT_INVALID_ARGUMENT, "X (fp32 M x K)",
                     "matmul M too large for X");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 2}, .w = {w, 0}, .bias = {NULL, 0}, .m = 1, .n = 16, .k = 32}), DFRT_INVALID_ARGUMENT,
                     "offset 2 is not a multiple of 4", "matmul misaligned X");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {NULL, 0}, .m = 0, .n = 16, .k = 64}), DFRT_INVALID_ARGUMENT, "M=0",
                     "matmul empty shape");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {small, 0}, .m = 1, .n = 16, .k = 64}), DFRT_INVALID_ARGUMENT, "bias (fp32 N)",
                     "matmul bias too small");
        expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {x, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {NULL, 0}, .m = 1, .n = 16, .k = 16}), DFRT_INVALID_ARGUMENT,
                     "matmul: Y (fp32 M x N) overlaps X (fp32 M x K)", "matmul Y aliasing X");
        if (cpu != b) {
            EXPECT_OK(dfrt_buffer_alloc(cpu, 4 * 16, &other), "alloc on the CPU");
            expect_error(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {other, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {NULL, 0}, .m = 1, .n = 16, .k = 64}), DFRT_INVALID_ARGUMENT,
                         "belongs to backend cpu", "matmul with a buffer of another backend");
        }
        /* decode: chunk range and output size */
        test_rng r = {5};
        uint16_t *wt = synth_normal(&r, 50000, 0.02);
        const uint16_t *parts[1] = {wt};
        uint64_t count = 50000;
        dfrt_df11_encoded e;
        dfrt_df11_unit u;
        mem_unit m;
        dfrt_device_df11 *du = NULL;
        if (dfrt_df11_encode("bad", 1, parts, &count, NULL, NULL, &e) == DFRT_OK) {
            mem_unit_wrap(&m, "bad", &e);
            if (dfrt_df11_unit_init("bad", &m.ts, 0, NULL, &u) == DFRT_OK) {
                EXPECT_OK(dfrt_df11_upload(b, &u, &du), "upload");
                if (du) {
                    expect_error(dfrt_op_df11_decode(b, &(dfrt_df11_decode_args){.unit = du, .first_chunk = u.n_chunks, .n_chunks = 1, .out = {y, 0}}), DFRT_INVALID_ARGUMENT,
                                 "first chunk", "decode past the last chunk");
                    expect_error(dfrt_op_df11_decode(b, &(dfrt_df11_decode_args){.unit = du, .first_chunk = 0, .n_chunks = u.n_chunks + 1, .out = {y, 0}}), DFRT_INVALID_ARGUMENT,
                                 "run past its", "decode too many chunks");
                    expect_error(dfrt_op_df11_decode(b, &(dfrt_df11_decode_args){.unit = du, .first_chunk = 0, .n_chunks = 0, .out = {y, 0}}), DFRT_INVALID_ARGUMENT, "output needs 100000 bytes",
                                 "decode into a small buffer");
                    expect_error(dfrt_op_df11_decode(b, &(dfrt_df11_decode_args){.unit = du, .first_chunk = 0, .n_chunks = 1, .out = {y, 1}}), DFRT_INVALID_ARGUMENT, "not a multiple of 2",
                                 "decode at an odd offset");
                }
                dfrt_device_df11_free(du);
                dfrt_df11_unit_release(&u);
            }
            dfrt_df11_encoded_free(&e);
        }
        free(wt);
        /* the device still works */
        EXPECT_OK(dfrt_op_matmul(b, &(dfrt_matmul_args){.y = {y, 0}, .x = {x, 0}, .w = {w, 0}, .bias = {NULL, 0}, .m = 1, .n = 16, .k = 64}), "matmul after errors");
        float out[16];
        EXPECT_OK(dfrt_buffer_read(y, 0, out, sizeof out), "read after errors");
        EXPECT(out[0] == 0.0f && out[15] == 0.0f, "matmul after errors gave %g", out[0]);
        EXPECT_OK(dfrt_backend_synchronize(b), "synchronize");
    }
    dfrt_buffer_free(x);
    dfrt_buffer_free(w);
    dfrt_buffer_free(y);
    dfrt_buffer_free(small);
    dfrt_buffer_free(other);
    end_case();
}

/* ---- buffers: write, fill, copy (aligned and not, larger than one binding), read ------------ */

static void buffer_cases(void) {
    begin_case();
    const size_t size = (3u << 20) + 13; /* over 3 MiB: more than one 1 MiB binding */
    uint8_t *model = malloc(size), *got = malloc(size);
    test_rng r = {31};
    for (size_t i = 0; i < size; i++) model[i] = (uint8_t)test_rand(&r);
    dfrt_buffer *a = NULL, *b = NULL;
    EXPECT_OK(dfrt_buffer_alloc(cur->b, size, &a), "alloc");
    EXPECT_OK(dfrt_buffer_alloc(cur->b, size, &b), "alloc");
    if (!case_failed) {
        EXPECT_OK(dfrt_buffer_write(a, 0, model, size), "write");
        EXPECT_OK(dfrt_buffer_fill(b, 0, size, 0x5A), "fill");
        uint8_t *bm = malloc(size);
        memset(bm, 0x5A, size);
        struct { size_t dst, src, n; } copies[] = {
            {16, 32, (2u << 20) + 4096}, /* aligned: the copy shader, split on small bindings */
            {3, 1001, 70001},            /* unaligned */
            {size - 100, 0, 100},        /* to the very end */
        };
        for (size_t i = 0; i < sizeof copies / sizeof *copies; i++) {
            EXPECT_OK(dfrt_buffer_copy(b, copies[i].dst, a, copies[i].src, copies[i].n), "copy");
            memcpy(bm + copies[i].dst, model + copies[i].src, copies[i].n);
        }
        EXPECT_OK(dfrt_buffer_fill(b, 5, 7, 0xC3), "unaligned fill");
        memset(bm + 5, 0xC3, 7);
        uint32_t small[3] = {1, 2, 3}; /* a small write goes inline with the work */
        EXPECT_OK(dfrt_buffer_write(b, 4096, small, sizeof small), "small write");
        memcpy(bm + 4096, small, sizeof small);
        EXPECT_OK(dfrt_buffer_read(b, 0, got, size), "read");
        EXPECT(memcmp(got, bm, size) == 0, "buffer contents after writes, fills and copies differ from the model");
        EXPECT_OK(dfrt_buffer_read(a, 7, got, 1000), "read at an offset");
        EXPECT(memcmp(got, model + 7, 1000) == 0, "read at an offset differs");
        expect_error(dfrt_buffer_copy(b, 0, b, 8, 16), DFRT_INVALID_ARGUMENT, "overlap", "overlapping copy");
        free(bm);
    }
    dfrt_buffer_free(a);
    dfrt_buffer_free(b);
    free(model);
    free(got);
    end_case();
}

/* ---- transformer ops -------------------------------------------------------------------- */

/* A device buffer of `bytes` with GUARD bytes on each side; returns the payload offset. */
static dfrt_buffer *guarded(size_t bytes, const void *init) {
    dfrt_buffer *buf = NULL;
    if (dfrt_buffer_alloc(cur->b, bytes + 2 * GUARD, &buf) != DFRT_OK) {
        EXPECT(0, "alloc %zu bytes: %s", bytes, dfrt_last_error());
        return NULL;
    }
    EXPECT_OK(dfrt_buffer_fill(buf, 0, bytes + 2 * GUARD, GUARD_BYTE), "fill");
    if (init) EXPECT_OK(dfrt_buffer_write(buf, GUARD, init, bytes), "write");
    return buf;
}

static dfrt_buffer *upload(const void *data, size_t bytes) {
    dfrt_buffer *buf = NULL;
    if (dfrt_buffer_alloc(cur->b, bytes, &buf) != DFRT_OK) {
        EXPECT(0, "alloc %zu bytes: %s", bytes, dfrt_last_error());
        return NULL;
    }
    EXPECT_OK(dfrt_buffer_write(buf, 0, data, bytes), "write");
    return buf;
}

static void random_f32(test_rng *r, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * test_normal(r));
}

/* Compares n floats with |got - want| <= tol * (|want| + floor). */
static void compare_f32(const char *what, const float *got, const double *want, size_t n, double tol, double floor) {
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!isfinite(got[i]) || err > tol * (fabs(want[i]) + floor)) {
            EXPECT(0, "%s: element %zu is %.9g, expected %.9g", what, i, got[i], want[i]);
            return;
        }
    }
}

static void embedding_case(uint32_t rows, uint32_t dim, test_rng *r) {
    begin_case();
    uint32_t vocab = 300;
    uint64_t elems = (uint64_t)vocab * dim;
    uint16_t *table = malloc(elems * 2);
    for (uint64_t i = 0; i < elems; i++) table[i] = test_bf16((float)test_normal(r));
    uint32_t *offsets = malloc(rows * 4);
    for (uint32_t i = 0; i < rows; i++) offsets[i] = (uint32_t)(test_rand(r) % vocab) * dim;
    offsets[rows - 1] = (uint32_t)(elems - dim / 2); /* runs past the table: zeros */
    dfrt_buffer *bt = upload(table, elems * 2), *bo = upload(offsets, rows * 4), *out = guarded((size_t)rows * dim * 4, NULL);
    char what[64];
    snprintf(what, sizeof what, "embedding rows=%u dim=%u", rows, dim);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_embedding(cur->b, &(dfrt_embedding_args){.out = {out, GUARD}, .table = {bt, 0}, .offsets = {bo, 0}, .table_elems = elems, .rows = rows, .dim = dim}), what);
        uint8_t *host = guarded_readback(out, (size_t)rows * dim * 4, what);
        const float *y = (const float *)(host + GUARD);
        for (uint32_t i = 0; i < rows && !case_failed; i++)
            for (uint32_t k = 0; k < dim; k++) {
                float want = i == rows - 1 ? 0.0f : test_float(table[offsets[i] + k]);
                if (y[(size_t)i * dim + k] != want) {
                    EXPECT(0, "%s: row %u element %u is %g, expected %g", what, i, k, y[(size_t)i * dim + k], want);
                    break;
                }
            }
        free(host);
    }
    dfrt_buffer_free(bt);
    dfrt_buffer_free(bo);
    dfrt_buffer_free(out);
    free(table);
    free(offsets);
    end_case();
}

static void rmsnorm_case(uint32_t rows, uint32_t heads, uint32_t dim, uint32_t stride, int in_place, test_rng *r) {
    begin_case();
    size_t n = (size_t)(rows - 1) * stride + (size_t)heads * dim;
    float *x = malloc(n * 4), *w = malloc(dim * 4);
    random_f32(r, x, n, 3.0);
    random_f32(r, w, dim, 1.0);
    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = x[i]; /* untouched padding keeps its value */
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t h = 0; h < heads; h++) {
            size_t at = (size_t)i * stride + (size_t)h * dim;
            double ss = 0;
            for (uint32_t k = 0; k < dim; k++) ss += (double)x[at + k] * x[at + k];
            double inv = 1.0 / sqrt(ss / dim + 1e-6);
            for (uint32_t k = 0; k < dim; k++) want[at + k] = x[at + k] * inv * w[k];
        }
    char what[96];
    snprintf(what, sizeof what, "rmsnorm rows=%u heads=%u dim=%u stride=%u%s", rows, heads, dim, stride,
             in_place ? " in place" : "");
    dfrt_buffer *bx = guarded(n * 4, x), *bw = upload(w, dim * 4), *by = in_place ? bx : guarded(n * 4, x);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_rmsnorm(cur->b, &(dfrt_rmsnorm_args){.y = {by, GUARD}, .x = {bx, GUARD}, .w = {bw, 0}, .rows = rows, .heads = heads, .dim = dim, .row_stride = stride, .eps = 1e-6f}), what);
        uint8_t *host = guarded_readback(by, n * 4, what);
        compare_f32(what, (const float *)(host + GUARD), want, n, 2e-5, 1e-3);
        free(host);
    }
    if (by != bx) dfrt_buffer_free(by);
    dfrt_buffer_free(bx);
    dfrt_buffer_free(bw);
    free(x);
    free(w);
    free(want);
    end_case();
}

static void rope_case(uint32_t rows, uint32_t heads, uint32_t dim, uint32_t stride, test_rng *r) {
    begin_case();
    size_t n = (size_t)(rows - 1) * stride + (size_t)heads * dim;
    float *x = malloc(n * 4), *inv = malloc(dim / 2 * 4);
    int32_t *pos = malloc(rows * 4);
    random_f32(r, x, n, 1.0);
    for (uint32_t i = 0; i < dim / 2; i++) inv[i] = (float)(1.0 / pow(10000.0, 2.0 * i / dim));
    for (uint32_t i = 0; i < rows; i++) pos[i] = (int32_t)(test_rand(r) % 4096);
    pos[0] = 0;
    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = x[i];
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t k = 0; k < dim / 2; k++) {
            double a = (double)((float)pos[i] * inv[k]), c = cos(a), s = sin(a);
            for (uint32_t h = 0; h < heads; h++) {
                size_t at = (size_t)i * stride + (size_t)h * dim;
                want[at + k] = x[at + k] * c - x[at + k + dim / 2] * s;
                want[at + k + dim / 2] = x[at + k + dim / 2] * c + x[at + k] * s;
            }
        }
    char what[96];
    snprintf(what, sizeof what, "rope rows=%u heads=%u dim=%u stride=%u", rows, heads, dim, stride);
    dfrt_buffer *bx = guarded(n * 4, x), *bp = upload(pos, rows * 4), *bi = upload(inv, dim / 2 * 4);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_rope(cur->b, &(dfrt_rope_args){.x = {bx, GUARD}, .positions = {bp, 0}, .inv_freq = {bi, 0}, .rows = rows, .heads = heads, .dim = dim, .row_stride = stride}), what);
        uint8_t *host = guarded_readback(bx, n * 4, what);
        compare_f32(what, (const float *)(host + GUARD), want, n, 1e-5, 1.0);
        free(host);
    }
    dfrt_buffer_free(bx);
    dfrt_buffer_free(bp);
    dfrt_buffer_free(bi);
    free(x);
    free(inv);
    free(pos);
    free(want);
    end_case();
}

static void kv_attention_case(uint32_t rows, uint32_t n_heads, uint32_t n_kv, uint32_t dim, uint32_t max_ctx,
                              test_rng *r) {
    begin_case();
    const uint32_t n_slots = 3, width = n_kv * dim;
    uint32_t q_stride = (n_heads + 2 * n_kv) * dim + 5, out_stride = n_heads * dim + 3;
    size_t cache = (size_t)n_slots * max_ctx * width;
    float *kc = malloc(cache * 4), *vc = malloc(cache * 4), *src = malloc((size_t)rows * q_stride * 4);
    random_f32(r, kc, cache, 1.0);
    random_f32(r, vc, cache, 1.0);
    random_f32(r, src, (size_t)rows * q_stride, 1.0);
    int32_t *slots = malloc(rows * 4), *pos = malloc(rows * 4);
    for (uint32_t i = 0; i < rows; i++) {
        slots[i] = (int32_t)(i % n_slots);
        pos[i] = (int32_t)(test_rand(r) % max_ctx);
    }
    pos[0] = 0;
    pos[rows - 1] = (int32_t)max_ctx - 1;
    if (rows > 2) slots[1] = (int32_t)n_slots; /* out of range: skipped by kv_store, zeros from attention */
    /* the host model: store, then attend */
    float *kw = malloc(cache * 4), *vw = malloc(cache * 4);
    memcpy(kw, kc, cache * 4);
    memcpy(vw, vc, cache * 4);
    uint32_t k_col = n_heads * dim, v_col = (n_heads + n_kv) * dim;
    for (uint32_t i = 0; i < rows; i++) {
        if (slots[i] >= (int32_t)n_slots) continue;
        size_t dst = ((size_t)slots[i] * max_ctx + (size_t)pos[i]) * width;
        memcpy(kw + dst, src + (size_t)i * q_stride + k_col, width * 4);
        memcpy(vw + dst, src + (size_t)i * q_stride + v_col, width * 4);
    }
    float scale = (float)(1.0 / sqrt((double)dim));
    size_t n_out = (size_t)(rows - 1) * out_stride + (size_t)n_heads * dim;
    double *want = calloc(n_out, sizeof *want);
    double *score = malloc(max_ctx * sizeof *score);
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t h = 0; h < n_heads; h++) {
            double *o = want + (size_t)i * out_stride + (size_t)h * dim;
            if (slots[i] >= (int32_t)n_slots) continue;
            const float *q = src + (size_t)i * q_stride + (size_t)h * dim;
            uint32_t g = h / (n_heads / n_kv);
            const float *kb = kw + (size_t)slots[i] * max_ctx * width + (size_t)g * dim;
            const float *vb = vw + (size_t)slots[i] * max_ctx * width + (size_t)g * dim;
            double best = -INFINITY, sum = 0;
            for (int32_t j = 0; j <= pos[i]; j++) {
                double d = 0;
                for (uint32_t k = 0; k < dim; k++) d += (double)q[k] * kb[(size_t)j * width + k];
                score[j] = d * scale;
                if (score[j] > best) best = score[j];
            }
            for (int32_t j = 0; j <= pos[i]; j++) {
                double p = exp(score[j] - best);
                sum += p;
                for (uint32_t k = 0; k < dim; k++) o[k] += p * vb[(size_t)j * width + k];
            }
            for (uint32_t k = 0; k < dim; k++) o[k] /= sum;
        }
    char what[128];
    snprintf(what, sizeof what, "kv_store + attention rows=%u heads=%u/%u dim=%u ctx=%u", rows, n_heads, n_kv, dim,
             max_ctx);
    dfrt_buffer *bk = guarded(cache * 4, kc), *bv = guarded(cache * 4, vc), *bs = upload(src, (size_t)rows * q_stride * 4),
                *bsl = upload(slots, rows * 4), *bp = upload(pos, rows * 4), *bo = guarded(n_out * 4, NULL);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_kv_store(cur->b, &(dfrt_kv_store_args){.k_cache = {bk, GUARD}, .v_cache = {bv, GUARD}, .src = {bs, 0}, .slots = {bsl, 0}, .positions = {bp, 0}, .rows = rows, .width = width, .src_stride = q_stride, .k_col = k_col, .v_col = v_col, .n_slots = n_slots, .max_ctx = max_ctx}),
                  what);
        OP_OR_SKIP(dfrt_op_attention(cur->b, &(dfrt_attention_args){.out = {bo, GUARD}, .q = {bs, 0}, .k_cache = {bk, GUARD}, .v_cache = {bv, GUARD}, .slots = {bsl, 0}, .positions = {bp, 0}, .rows = rows, .n_heads = n_heads, .n_kv = n_kv, .dim = dim, .q_stride = q_stride, .out_stride = out_stride, .n_slots = n_slots, .max_ctx = max_ctx, .scale = scale}),
                  what);
        uint8_t *hk = guarded_readback(bk, cache * 4, what), *hv = guarded_readback(bv, cache * 4, what);
        EXPECT(memcmp(hk + GUARD, kw, cache * 4) == 0 && memcmp(hv + GUARD, vw, cache * 4) == 0,
               "%s: the caches differ from the model after kv_store", what);
        uint8_t *ho = guarded_readback(bo, n_out * 4, what);
        const float *out = (const float *)(ho + GUARD);
        for (uint32_t i = 0; i < rows && !case_failed; i++) /* the heads of each row; padding is not written */
            compare_f32(what, out + (size_t)i * out_stride, want + (size_t)i * out_stride, (size_t)n_heads * dim, 1e-4, 0.05);
        free(hk);
        free(hv);
        free(ho);
    }
    dfrt_buffer_free(bk);
    dfrt_buffer_free(bv);
    dfrt_buffer_free(bs);
    dfrt_buffer_free(bsl);
    dfrt_buffer_free(bp);
    dfrt_buffer_free(bo);
    free(kc), free(vc), free(src), free(slots), free(pos), free(kw), free(vw), free(want), free(score);
    end_case();
}

static void silu_add_argmax_cases(test_rng *r) {
    /* silu_mul */
    begin_case();
    uint32_t rows = 3, width = 100, stride = 250, up = 120;
    float *in = malloc((size_t)rows * stride * 4);
    random_f32(r, in, (size_t)rows * stride, 4.0);
    double *want = malloc((size_t)rows * width * sizeof *want);
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t k = 0; k < width; k++) {
            double g = in[(size_t)i * stride + k];
            want[(size_t)i * width + k] = g / (1 + exp(-g)) * in[(size_t)i * stride + up + k];
        }
    dfrt_buffer *bi = upload(in, (size_t)rows * stride * 4), *bo = guarded((size_t)rows * width * 4, NULL);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_silu_mul(cur->b, &(dfrt_silu_mul_args){.out = {bo, GUARD}, .in = {bi, 0}, .rows = rows, .width = width, .in_stride = stride, .up_col = up}), "silu_mul");
        uint8_t *h = guarded_readback(bo, (size_t)rows * width * 4, "silu_mul");
        compare_f32("silu_mul", (const float *)(h + GUARD), want, (size_t)rows * width, 1e-5, 1e-3);
        free(h);
    }
    dfrt_buffer_free(bi);
    dfrt_buffer_free(bo);
    free(in);
    free(want);
    end_case();

    /* add, in place */
    begin_case();
    uint64_t n = 1001;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    random_f32(r, a, n, 1.0);
    random_f32(r, b, n, 1.0);
    double *sum = malloc(n * sizeof *sum);
    for (uint64_t i = 0; i < n; i++) sum[i] = (double)(a[i] + b[i]);
    dfrt_buffer *ba = guarded(n * 4, a), *bb = upload(b, n * 4);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_add(cur->b, &(dfrt_add_args){.y = {ba, GUARD}, .a = {ba, GUARD}, .b = {bb, 0}, .n = n}), "add");
        uint8_t *h = guarded_readback(ba, n * 4, "add");
        compare_f32("add", (const float *)(h + GUARD), sum, n, 0, 0);
        free(h);
    }
    dfrt_buffer_free(ba);
    dfrt_buffer_free(bb);
    free(a), free(b), free(sum);
    end_case();

    /* argmax: ties go to the first index, NaN never wins */
    begin_case();
    uint32_t arows = 4, an = 4096 + 7, astride = an + 3;
    float *x = malloc((size_t)arows * astride * 4);
    random_f32(r, x, (size_t)arows * astride, 1.0);
    int32_t expect[4] = {17, 4000, an - 1, 0};
    for (uint32_t i = 0; i < arows; i++) x[(size_t)i * astride + (uint32_t)expect[i]] = 100.0f + (float)i;
    x[(size_t)1 * astride + 4001] = 101.0f; /* a tie after the first */
    x[(size_t)2 * astride + 5] = NAN;
    x[(size_t)2 * astride + an] = 1000.0f; /* padding past n is not looked at */
    dfrt_buffer *bx = upload(x, (size_t)arows * astride * 4), *bo2 = guarded(arows * 4, NULL);
    if (!case_failed) {
        OP_OR_SKIP(dfrt_op_argmax(cur->b, &(dfrt_argmax_args){.out = {bo2, GUARD}, .x = {bx, 0}, .rows = arows, .n = an, .stride = astride}), "argmax");
        uint8_t *h = guarded_readback(bo2, arows * 4, "argmax");
        int32_t got[4];
        memcpy(got, h + GUARD, sizeof got);
        for (uint32_t i = 0; i < arows; i++)
            EXPECT(got[i] == expect[i], "argmax row %u: %d, expected %d", i, got[i], expect[i]);
        free(h);
    }
    dfrt_buffer_free(bx);
    dfrt_buffer_free(bo2);
    free(x);
    end_case();
}

static void transformer_cases(void) {
    test_rng r = {4242};
    embedding_case(7, 64, &r);
    embedding_case(3, 33, &r);
    embedding_case(1, 4096, &r);
    rmsnorm_case(1, 1, 4096, 4096, 0, &r);
    rmsnorm_case(5, 1, 256, 256, 1, &r);
    rmsnorm_case(33, 4, 64, 512 + 7, 1, &r);
    rmsnorm_case(3, 8, 128, 8 * 128 + 128, 0, &r);
    rmsnorm_case(2, 1, 33, 40, 0, &r);
    rope_case(9, 6, 64, 6 * 64 + 64, &r);
    rope_case(3, 40, 128, 48 * 128, &r);
    rope_case(1, 1, 2, 2, &r);
    kv_attention_case(6, 4, 2, 64, 50, &r);
    kv_attention_case(4, 32, 8, 128, 300, &r);
    kv_attention_case(3, 2, 2, 16, 1, &r);
    kv_attention_case(9, 8, 1, 64, 129, &r);
    silu_add_argmax_cases(&r);
}

/* Case groups; the second argument of test_ops, a comma-separated list, runs only those (e.g.
 * under compute-sanitizer). */
static const char *only_groups;
static bool group(const char *name) {
    if (!only_groups) return true;
    size_t n = strlen(name);
    for (const char *p = only_groups; (p = strstr(p, name)) != NULL; p += n)
        if ((p == only_groups || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
    return false;
}

static void run_target(target *t, dfrt_backend *cpu, synth_case *cases, int n_cases) {
    cur = t;
    if (group("buffers")) buffer_cases();
    if (group("transformer")) transformer_cases();
    if (group("decode")) decode_cases(cases, n_cases);
    if (group("mutated")) mutated_decode_cases();
    if (group("matmul")) matmul_cases();
    if (group("errors")) bad_input_cases(cpu);
    printf("backend %s: %d passed, %d failed, %d skipped\n", t->label, t->passed, t->failed, t->skipped);
    fflush(stdout);
}

/* usage: test_ops [BACKEND [GROUPS]]: only that backend (cpu, cuda, vulkan), only those groups
 * of cases (a comma-separated list of buffers, transformer, decode, mutated, matmul, errors). */
int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    only_groups = argc > 2 ? argv[2] : NULL;
    static const char *const groups[] = {"buffers", "transformer", "decode", "mutated", "matmul", "errors"};
    int known = 0, listed = 1;
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) known += group(groups[i]);
    for (const char *p = only_groups; p && *p; p++) listed += *p == ',';
    if (only_groups && known != listed) {
        fprintf(stderr, "test_ops: unknown case group in \"%s\" (groups: buffers, transformer, decode, mutated, "
                        "matmul, errors)\n", only_groups);
        return 2;
    }
    synth_case *cases;
    int n_cases = synth_cases(&cases);
    dfrt_backend *cpu;
    if (dfrt_backend_open("cpu", 0, &cpu) != DFRT_OK) {
        fprintf(stderr, "cannot open the CPU backend: %s\n", dfrt_last_error());
        return 2;
    }
    dfrt_device_info *devs;
    size_t n_devs;
    if (dfrt_device_list(&devs, &n_devs) != DFRT_OK) return 2;
    int failed = 0, ran = 0;
    for (size_t i = 0; i < n_devs; i++) {
        const dfrt_device_info *d = &devs[i];
        if (only && strcmp(only, d->backend) != 0) continue;
        target t = {0};
        if (strcmp(d->backend, "cpu") == 0) snprintf(t.label, sizeof t.label, "cpu");
        else snprintf(t.label, sizeof t.label, "%.15s %d (%.60s)", d->backend, d->index, d->name);
        if (!d->available) {
            printf("backend %s: 0 passed, 0 failed, 1 skipped (unavailable: %s)\n", t.label, d->unavailable_reason);
            continue;
        }
        if (strcmp(d->backend, "cpu") == 0) t.b = cpu;
        else if (dfrt_backend_open(d->backend, d->index, &t.b) != DFRT_OK) {
            printf("backend %s: 0 passed, 1 failed, 0 skipped (cannot open: %s)\n", t.label, dfrt_last_error());
            failed++;
            continue;
        }
        run_target(&t, cpu, cases, n_cases);
        failed += t.failed;
        ran++;
        if (t.b != cpu) dfrt_backend_close(t.b);
        /* Vulkan again with small bindings, so that range splitting runs everywhere. */
        if (strcmp(d->backend, "vulkan") == 0 && !getenv("DFRT_VULKAN_MAX_RANGE")) {
            setenv("DFRT_VULKAN_MAX_RANGE", "1048576", 1);
            target s = {0};
            snprintf(s.label, sizeof s.label, "%.100s, 1 MiB bindings", t.label);
            if (dfrt_backend_open("vulkan", d->index, &s.b) == DFRT_OK) {
                run_target(&s, cpu, cases, n_cases);
                failed += s.failed;
                dfrt_backend_close(s.b);
            } else {
                printf("backend %s: 0 passed, 1 failed, 0 skipped (cannot open: %s)\n", s.label, dfrt_last_error());
                failed++;
            }
            unsetenv("DFRT_VULKAN_MAX_RANGE");
        }
    }
    free(devs);
    dfrt_backend_close(cpu);
    synth_cases_free(cases, n_cases);
    if (only && !ran) printf("no available %s device\n", only);
    return failed ? 1 : 0;
}
