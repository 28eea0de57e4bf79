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
static int case_failed;

#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) { \
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

static void begin_case(void) { case_failed = 0; }
static void end_case(void) {
    if (case_failed) cur->failed++;
    else cur->passed++;
}

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
        EXPECT_OK(dfrt_op_df11_decode(cur->b, du, first, count, out, GUARD), what);
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

/* A unit whose validated tensors were corrupted: any decoder must stay inside its output. */
static void mutated_decode_cases(void) {
    test_rng r = {2024};
    int valid = 0;
    uint16_t *w = synth_normal(&r, 60000, 0.02);
    const uint16_t *parts[1] = {w};
    uint64_t count = 60000;
    for (int trial = 0; trial < 40; trial++) {
        dfrt_df11_encoded e;
        if (dfrt_df11_encode("mutant", 1, parts, &count, NULL, NULL, &e) != DFRT_OK) exit(2);
        /* flip a few random bits in one of the tensors */
        uint8_t *target_bytes[4] = {e.stream, e.gaps, e.luts, e.output_positions};
        size_t sizes[4] = {e.n_bytes, e.gaps_bytes, 256 * ((size_t)e.n_tables + 1), 4 * (size_t)e.n_positions};
        int which = trial % 4;
        for (int f = 0; f < 3; f++) target_bytes[which][test_rand(&r) % sizes[which]] ^= (uint8_t)(1u << (test_rand(&r) % 8));
        mem_unit m;
        mem_unit_wrap(&m, "mutant", &e);
        dfrt_df11_unit u;
        if (dfrt_df11_unit_init("mutant", &m.ts, 0, NULL, &u) == DFRT_OK) {
            valid++;
            begin_case();
            dfrt_device_df11 *du = NULL;
            dfrt_buffer *out = NULL;
            size_t payload = u.n * 2;
            EXPECT_OK(dfrt_df11_upload(cur->b, &u, &du), "upload mutant");
            EXPECT_OK(dfrt_buffer_alloc(cur->b, payload + 2 * GUARD, &out), "alloc");
            if (!case_failed) {
                EXPECT_OK(dfrt_buffer_fill(out, 0, payload + 2 * GUARD, GUARD_BYTE), "fill");
                /* GPU decoders cannot tell (no error), the CPU one checks the index as it goes
                 * (format error): both are fine; writing outside the output is not. */
                dfrt_status s = dfrt_op_df11_decode(cur->b, du, 0, 0, out, GUARD);
                EXPECT(s == DFRT_OK || s == DFRT_FORMAT_ERROR, "decode mutant: %s", dfrt_last_error());
                free(guarded_readback(out, payload, "mutated unit"));
            }
            dfrt_buffer_free(out);
            dfrt_device_df11_free(du);
            end_case();
            dfrt_df11_unit_release(&u);
        }
        dfrt_df11_encoded_free(&e);
    }
    free(w);
    if (!valid) cur->skipped++;
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
        EXPECT_OK(dfrt_op_matmul(cur->b, bx, c->x_off, bw, c->w_off, c->bias ? bb : NULL, 0, by, GUARD, c->m, c->n, c->k),
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
        expect_error(dfrt_op_matmul(b, x, 8, w, 0, NULL, 0, y, 0, 1, 16, 64), DFRT_INVALID_ARGUMENT,
                     "X (fp32 M x K) needs 256 bytes at offset 8", "matmul X offset out of range");
        expect_error(dfrt_op_matmul(b, x, 0, w, 0, NULL, 0, y, 0, 1, 17, 64), DFRT_INVALID_ARGUMENT,
                     "W (bf16 N x K) needs 2176 bytes", "matmul W too small for N x K");
        expect_error(dfrt_op_matmul(b, x, 0, w, 0, NULL, 0, y, 0, 2, 16, 64), DFRT_INVALID_ARGUMENT, "X (fp32 M x K)",
                     "matmul M too large for X");
        expect_error(dfrt_op_matmul(b, x, 2, w, 0, NULL, 0, y, 0, 1, 16, 32), DFRT_INVALID_ARGUMENT,
                     "offset 2 is not a multiple of 4", "matmul misaligned X");
        expect_error(dfrt_op_matmul(b, x, 0, w, 0, NULL, 0, y, 0, 0, 16, 64), DFRT_INVALID_ARGUMENT, "M=0",
                     "matmul empty shape");
        expect_error(dfrt_op_matmul(b, x, 0, w, 0, small, 0, y, 0, 1, 16, 64), DFRT_INVALID_ARGUMENT, "bias (fp32 N)",
                     "matmul bias too small");
        expect_error(dfrt_op_matmul(b, x, 0, w, 0, NULL, 0, x, 0, 1, 16, 16), DFRT_INVALID_ARGUMENT,
                     "Y overlaps an input", "matmul Y aliasing X");
        if (cpu != b) {
            EXPECT_OK(dfrt_buffer_alloc(cpu, 4 * 16, &other), "alloc on the CPU");
            expect_error(dfrt_op_matmul(b, x, 0, w, 0, NULL, 0, other, 0, 1, 16, 64), DFRT_INVALID_ARGUMENT,
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
                    expect_error(dfrt_op_df11_decode(b, du, u.n_chunks, 1, y, 0), DFRT_INVALID_ARGUMENT,
                                 "first chunk", "decode past the last chunk");
                    expect_error(dfrt_op_df11_decode(b, du, 0, u.n_chunks + 1, y, 0), DFRT_INVALID_ARGUMENT,
                                 "run past its", "decode too many chunks");
                    expect_error(dfrt_op_df11_decode(b, du, 0, 0, y, 0), DFRT_INVALID_ARGUMENT, "output needs 100000 bytes",
                                 "decode into a small buffer");
                    expect_error(dfrt_op_df11_decode(b, du, 0, 1, y, 1), DFRT_INVALID_ARGUMENT, "not a multiple of 2",
                                 "decode at an odd offset");
                }
                dfrt_device_df11_free(du);
                dfrt_df11_unit_release(&u);
            }
            dfrt_df11_encoded_free(&e);
        }
        free(wt);
        /* the device still works */
        EXPECT_OK(dfrt_op_matmul(b, x, 0, w, 0, NULL, 0, y, 0, 1, 16, 64), "matmul after errors");
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

static void run_target(target *t, dfrt_backend *cpu, synth_case *cases, int n_cases) {
    cur = t;
    buffer_cases();
    decode_cases(cases, n_cases);
    mutated_decode_cases();
    matmul_cases();
    bad_input_cases(cpu);
    printf("backend %s: %d passed, %d failed, %d skipped\n", t->label, t->passed, t->failed, t->skipped);
    fflush(stdout);
}

int main(int argc, char **argv) {
    /* optional filter: only backends whose name is given */
    const char *only = argc > 1 ? argv[1] : NULL;
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
