/* The op test: a table of cases (op_cases.h: one line per case, op, shape and parameters), each
 * run on the CPU backend and on every other available backend (each Vulkan and CUDA device,
 * Vulkan once more with 1 MiB bindings) by one generic loop, run_case, which puts guard bytes
 * around every output, checks outputs for NaN/Inf, compares them with a host reference (fp64
 * where it computes) within the op's tolerance, and compares the other backends with the CPU
 * backend, the oracle. A backend that declines a case (dfrt_backend_supports: DFRT_UNSUPPORTED)
 * skips it, counted. Around the table: DF11 decode and the DF11 matmul (also bit for bit against
 * the backend's own matmul over the decoded weights) over every unit of the shipped model, the
 * format's edge cases and corrupted units; buffer copies and fills; bad input with the exact
 * error. Prints "backend NAME: N passed, N failed, N skipped" per backend.
 *
 * usage: test_ops [BACKEND [GROUPS]]: only that backend (cpu, cuda, vulkan), only those groups
 * of cases (a comma-separated list of buffers, transformer, decode, df11_matmul, mutated,
 * matmul, errors, vendor). */
#include "test_ops.h"

#include <math.h>

target targets[MAX_TARGETS], oracle = {.label = "cpu (the oracle)"};
int n_targets;
target *cur;
int case_failed, case_skipped;
const char *cur_what;

void begin_case(target *t) { cur = t, case_failed = 0, case_skipped = 0; }
void end_case(void) {
    if (case_failed) cur->failed++;
    else if (case_skipped) cur->skipped++;
    else cur->passed++;
}

/* ---- the generic loop --------------------------------------------------------------------- */

/* Runs the case on target tg: every tensor in its own buffer (inputs at their offset, outputs
 * between GUARD bytes of GUARD_BYTE), each output read back whole with its guards checked;
 * got[i]: output i's payload (malloc'ed). Returns 1 when the case ran. */
static int run_on(target *tg, const host_case *h, uint8_t **got) {
    const op_case *c = h->c;
    dfrt_buffer *buf[OP_MAX_TENSORS] = {0};
    dfrt_tensor_arg ta[OP_MAX_TENSORS] = {{0}};
    dfrt_device_df11 *du = NULL;
    int ran = 0;
    if (c->unit) EXPECT_OK(dfrt_df11_upload(tg->b, c->unit, &du), "upload of unit %s", c->unit->name);
    for (int i = 0; i < h->n && !case_failed; i++) {
        const op_tensor *t = &h->t[i];
        if (t->role == OPT_ABSENT) continue;
        size_t at = t->role == OPT_IN ? t->offset : GUARD, size = at + t->bytes + (t->role == OPT_IN ? 0 : GUARD);
        EXPECT_OK(dfrt_buffer_alloc(tg->b, size, &buf[i]), "alloc %s (%zu bytes)", t->name, size);
        if (!case_failed && t->role != OPT_IN) EXPECT_OK(dfrt_buffer_fill(buf[i], 0, size, GUARD_BYTE), "fill %s", t->name);
        if (!case_failed && t->role != OPT_OUT) EXPECT_OK(dfrt_buffer_write(buf[i], at, h->data[i], t->bytes), "write %s", t->name);
        ta[i] = (dfrt_tensor_arg){buf[i], at};
    }
    dfrt_op ops[OP_MAX_CALLS];
    op_args args[OP_MAX_CALLS];
    int n_calls = case_failed ? 0 : op_case_calls(c, ta, du, ops, args);
    for (int j = 0; j < n_calls && !case_failed && !case_skipped; j++) {
        dfrt_status s;
        if (dfrt_backend_supports(tg->b, ops[j], &args[j], &s)) continue;
        if (s == DFRT_UNSUPPORTED) {
            fprintf(stderr, "skip [%s] %s: %s\n", tg->label, dfrt_op_name(ops[j]), dfrt_last_error());
            case_skipped = 1;
        } else EXPECT(0, "%s: %s: %s", dfrt_op_name(ops[j]), dfrt_status_string(s), dfrt_last_error());
    }
    for (int j = 0; j < n_calls && !case_failed && !case_skipped; j++) {
        dfrt_status s = op_call(tg->b, ops[j], &args[j]);
        if (s == DFRT_FORMAT_ERROR && (c->flags & OPC_CORRUPT)) break; /* the CPU decoder checks as it goes */
        EXPECT(s == DFRT_OK, "%s: %s: %s", dfrt_op_name(ops[j]), dfrt_status_string(s), dfrt_last_error());
    }
    if (!case_failed && !case_skipped) {
        ran = 1;
        for (int i = 0; i < h->n && !case_failed; i++) {
            const op_tensor *t = &h->t[i];
            if (t->role != OPT_OUT && t->role != OPT_INOUT) continue;
            uint8_t *host = malloc(t->bytes + 2 * GUARD);
            EXPECT_OK(dfrt_buffer_read(buf[i], 0, host, t->bytes + 2 * GUARD), "read back %s", t->name);
            int guard_ok = !case_failed;
            for (size_t k = 0; k < GUARD && guard_ok; k++)
                guard_ok = host[k] == GUARD_BYTE && host[GUARD + t->bytes + k] == GUARD_BYTE;
            EXPECT(guard_ok || case_failed, "%s: guard bytes around the output were overwritten", t->name);
            got[i] = malloc(t->bytes ? t->bytes : 1);
            memcpy(got[i], host + GUARD, t->bytes);
            free(host);
        }
    }
    for (int i = 0; i < h->n; i++) dfrt_buffer_free(buf[i]);
    dfrt_device_df11_free(du);
    return ran && !case_failed;
}

static double elem(const op_tensor *t, const uint8_t *p, size_t i) {
    if (t->type == OPT_F32) return ((const float *)p)[i];
    if (t->type == OPT_I32) return ((const int32_t *)p)[i];
    return ((const uint16_t *)p)[i];
}

static void diff(const op_tensor *t, const uint8_t *got, size_t j, double want, const char *from) {
    if (t->type == OPT_F32) EXPECT(0, "%s: element %zu is %.9g, expected %.9g%s", t->name, j, elem(t, got, j), want, from);
    else EXPECT(0, "%s: element %zu is 0x%llx, expected 0x%llx%s", t->name, j, (unsigned long long)elem(t, got, j),
                (unsigned long long)want, from);
}

/* Output i: no NaN/Inf, equal to the reference (exact outputs) or within tol of it, and equal
 * to the CPU backend's (exact) or within nmse of it. */
static void check_output(const host_case *h, int i, const uint8_t *got, const uint8_t *cpu, double tol, double nmse) {
    const op_tensor *t = &h->t[i];
    const op_check *k = &op_checks[h->c->op];
    if (h->c->flags & OPC_CORRUPT) return; /* the guard bytes only */
    size_t n = op_tensor_elems(t), nonfinite = 0;
    const double *mag = h->mag[i];
    for (size_t j = 0; j < n && t->type == OPT_F32; j++) nonfinite += !(mag && mag[j] < 0) && !isfinite(elem(t, got, j));
    EXPECT(nonfinite == 0, "%s: %zu non-finite values", t->name, nonfinite);
    if (h->want[i] && memcmp(got, h->want[i], t->bytes) != 0) {
        size_t j = 0;
        while (elem(t, got, j) == elem(t, h->want[i], j)) j++;
        diff(t, got, j, elem(t, h->want[i], j), "");
    }
    if (h->val[i]) {
        size_t bad = n, worst_at = 0;
        double worst = 0;
        for (size_t j = 0; j < n; j++) {
            double scale = isnan(mag[j]) ? fabs(h->val[i][j]) + k->floor : mag[j];
            if (scale < 0) continue;
            double err = fabs(elem(t, got, j) - h->val[i][j]) / scale;
            if (!(err <= tol) && bad == n) bad = j;
            if (!(err <= worst)) worst = err, worst_at = j;
        }
        if (bad < n) {
            diff(t, got, bad, h->val[i][bad], "");
            fprintf(stderr, "     the worst relative error %.3g > %.3g at element %zu\n", worst, tol, worst_at);
        }
    }
    if (!cpu) return;
    if (t->exact || !h->val[i]) {
        if (memcmp(got, cpu, t->bytes) != 0) {
            size_t j = 0;
            while (elem(t, got, j) == elem(t, cpu, j)) j++;
            diff(t, got, j, elem(t, cpu, j), " on the CPU backend");
        }
    } else {
        double err = 0, norm = 0;
        for (size_t j = 0; j < n; j++) {
            if (mag[j] < 0) continue;
            double d = elem(t, got, j) - elem(t, cpu, j);
            err += d * d;
            norm += elem(t, cpu, j) * elem(t, cpu, j);
        }
        EXPECT(err <= nmse * norm, "%s: normalised mean squared error %.3g against the CPU backend > %.3g", t->name,
               err / norm, nmse);
    }
}

/* df11_matmul's Y must be, bit for bit, the backend's own matmul over the weights decoded on
 * the host and stored 16-byte aligned (ops.h), with the same X and bias. */
static void same_as_matmul(target *tg, const host_case *h, const uint8_t *y) {
    const op_case *c = h->c;
    op_case mc = {DFRT_OP_MATMUL, {c->s[0], c->s[1], c->s[2]}, c->flags & OPC_BIAS, {0, 16}};
    host_case mh = {.c = &mc};
    mh.n = op_case_tensors(&mc, mh.t);
    mh.data[1] = h->data[1];                                        /* X */
    mh.data[2] = (uint8_t *)(uintptr_t)(c->decoded + c->s[3]);      /* W, read only */
    mh.data[3] = h->data[2];                                        /* bias */
    uint8_t *got[OP_MAX_TENSORS] = {0};
    int skipped = case_skipped, failed = case_failed;
    case_failed = 0; /* compared even when the reference check failed */
    if (run_on(tg, &mh, got) && memcmp(got[0], y, mh.t[0].bytes) != 0) {
        const uint32_t *a = (const uint32_t *)y, *b = (const uint32_t *)got[0];
        size_t n = op_tensor_elems(&mh.t[0]), first = n, count = 0;
        for (size_t j = 0; j < n; j++)
            if (a[j] != b[j]) count++, first = first < n ? first : j;
        float fa, fb;
        memcpy(&fa, &a[first], 4), memcpy(&fb, &b[first], 4);
        EXPECT(0, "Y: element %zu (row %zu, column %zu) is %.9g (0x%08x), but matmul over the decoded weights gives "
               "%.9g (0x%08x); %zu of %zu elements differ", first, first / (size_t)c->s[1], first % (size_t)c->s[1],
               (double)fa, a[first], (double)fb, b[first], count, n);
    } else if (case_skipped && !skipped) {
        fprintf(stderr, "     [%s] %s: so df11_matmul is not compared with matmul\n", tg->label, cur_what);
        case_skipped = 0;
    }
    case_failed |= failed;
    for (int i = 0; i < mh.n; i++) free(got[i]);
}

static uint64_t case_seq;

/* One case on every target: the CPU first (or, when it is not a target, the oracle uncounted),
 * then every other target, compared with the reference and the CPU's outputs. */
void run_case(const op_case *c) {
    host_case h = {.c = c};
    h.n = op_case_tensors(c, h.t);
    const op_check *k = &op_checks[c->op];
    test_rng r = {1000 + case_seq++};
    for (int i = 0; i < h.n; i++) {
        const op_tensor *t = &h.t[i];
        if (t->role == OPT_IN || t->role == OPT_INOUT) h.data[i] = calloc(1, t->bytes);
        if ((t->role != OPT_OUT && t->role != OPT_INOUT) || (c->flags & OPC_CORRUPT)) continue;
        if (t->exact || t->type != OPT_F32) h.want[i] = calloc(1, t->bytes);
        else {
            h.val[i] = calloc(op_tensor_elems(t), sizeof(double));
            h.mag[i] = malloc(op_tensor_elems(t) * sizeof(double));
            for (size_t j = 0; j < op_tensor_elems(t); j++) h.mag[i][j] = NAN;
        }
    }
    if (k->init) k->init(&h, &r);
    if (!(c->flags & OPC_CORRUPT)) k->reference(&h);
    char what[200];
    op_case_describe(c, what, sizeof what);
    target *order[MAX_TARGETS + 1];
    int n = 0, have_cpu = 0;
    for (int i = 0; i < n_targets; i++)
        if (targets[i].b == oracle.b) order[n++] = &targets[i], have_cpu = 1;
    if (!have_cpu && n_targets && !(c->flags & OPC_CORRUPT)) order[n++] = &oracle;
    for (int i = 0; i < n_targets; i++)
        if (targets[i].b != oracle.b) order[n++] = &targets[i];
    uint8_t *cpu_out[OP_MAX_TENSORS] = {0};
    int cpu_ok = 0;
    for (int o = 0; o < n; o++) {
        target *tg = order[o];
        uint8_t *got[OP_MAX_TENSORS] = {0};
        begin_case(tg);
        cur_what = what;
        if (run_on(tg, &h, got)) {
            const char *bn = dfrt_backend_name(tg->b);
            double tol = k->tolerance ? k->tolerance(bn, c) : k->tol;
            double nmse = k->nmse_tolerance ? k->nmse_tolerance(bn, c) : k->nmse;
            for (int i = 0; i < h.n; i++)
                if (got[i]) check_output(&h, i, got[i], tg->b == oracle.b ? NULL : cpu_ok ? cpu_out[i] : NULL, tol, nmse);
            if (c->op == DFRT_OP_DF11_MATMUL && !(c->flags & OPC_CORRUPT)) same_as_matmul(tg, &h, got[0]);
        }
        if (tg->b == oracle.b && !case_failed && !case_skipped && !(c->flags & OPC_CORRUPT)) cpu_ok = 1;
        for (int i = 0; i < h.n; i++) {
            if (tg->b == oracle.b) cpu_out[i] = got[i];
            else free(got[i]);
        }
        end_case();
    }
    cur_what = NULL;
    for (int i = 0; i < h.n; i++) free(cpu_out[i]), free(h.data[i]), free(h.want[i]), free(h.val[i]), free(h.mag[i]);
}

/* ---- the table ------------------------------------------------------------------------------ */

#define MATMUL(m, n, k, ...) {DFRT_OP_MATMUL, {m, n, k}, __VA_ARGS__}
#define EMBEDDING(rows, dim, ...) {DFRT_OP_EMBEDDING, {rows, dim}, __VA_ARGS__}
#define RMSNORM(rows, heads, dim, stride, ...) {DFRT_OP_RMSNORM, {rows, heads, dim, stride}, __VA_ARGS__}
#define ROPE(rows, heads, dim, stride, ...) {DFRT_OP_ROPE, {rows, heads, dim, stride, __VA_ARGS__}} /* then rot_dim */
#define ATTENTION(rows, heads, kv_heads, dim, ctx, ...) {DFRT_OP_ATTENTION, {rows, heads, kv_heads, dim, ctx}, __VA_ARGS__}
#define SILU_MUL(rows, width, stride, up, ...) {DFRT_OP_SILU_MUL, {rows, width, stride, up}, __VA_ARGS__}
#define ADD(n, ...) {DFRT_OP_ADD, {n}, __VA_ARGS__}
#define ARGMAX(rows, n, stride) {DFRT_OP_ARGMAX, {rows, n, stride}}

static const op_case transformer_cases[] = {
    EMBEDDING(7, 64), EMBEDDING(3, 33), EMBEDDING(1, 4096),
    EMBEDDING(5, 64, OPC_SCALE), EMBEDDING(2, 33, OPC_SCALE), /* Gemma: scaled by sqrt(hidden_size) */
    RMSNORM(1, 1, 4096, 4096), RMSNORM(5, 1, 256, 256, OPC_IN_PLACE), RMSNORM(33, 4, 64, 512 + 7, OPC_IN_PLACE),
    RMSNORM(3, 8, 128, 8 * 128 + 128), RMSNORM(2, 1, 33, 40),
    /* the residual add fused: into x itself (as the executor does), and into its own tensor */
    RMSNORM(8, 1, 4096, 4096, OPC_RESIDUAL | OPC_IN_PLACE), RMSNORM(5, 1, 256, 256 + 4, OPC_RESIDUAL),
    RMSNORM(3, 2, 33, 70, OPC_RESIDUAL | OPC_IN_PLACE), RMSNORM(1, 1, 5000, 5000, OPC_RESIDUAL),
    ROPE(9, 6, 64, 6 * 64 + 64), ROPE(3, 40, 128, 48 * 128), ROPE(1, 1, 2, 2),
    /* partial rotary (Phi-3: 3/4, Phi-4-mini: 96 of 128); rot_dim 2 mod 4 */
    ROPE(5, 12, 128, 12 * 128, 96), ROPE(4, 3, 96, 3 * 96 + 7, 24), ROPE(2, 5, 64, 5 * 64, 6),
    {DFRT_OP_ROPE, {6, 8, 128, 8 * 128, 96}, OPC_SCALE}, {DFRT_OP_ROPE, {3, 2, 64, 2 * 64}, OPC_SCALE},
    ATTENTION(6, 4, 2, 64, 50), ATTENTION(4, 32, 8, 128, 300), ATTENTION(3, 2, 2, 16, 1), ATTENTION(9, 8, 1, 64, 129),
    ATTENTION(6, 4, 2, 64, 50, OPC_KV_BF16), ATTENTION(4, 32, 8, 128, 300, OPC_KV_BF16),
    ATTENTION(3, 2, 2, 18, 7, OPC_KV_BF16), /* head_dim 2 mod 4: the element-wise loads */
    /* contexts past 4096 (split keys), query heads per KV head 1, 4 and 8 */
    ATTENTION(2, 4, 4, 128, 4500, OPC_KV_BF16), ATTENTION(3, 16, 4, 128, 4200), ATTENTION(2, 8, 1, 128, 5000),
    ATTENTION(2, 8, 1, 128, 5000, OPC_KV_BF16),
    /* prefills (CUDA: the tiled kernel where a 64-row tile holds one slot, the other kernel for
     * the rest and for fp32 caches) */
    ATTENTION(150, 8, 2, 128, 400, OPC_KV_BF16 | OPC_PREFILL), ATTENTION(200, 4, 4, 64, 4700, OPC_KV_BF16 | OPC_PREFILL),
    ATTENTION(130, 8, 1, 128, 4200, OPC_KV_BF16 | OPC_PREFILL), ATTENTION(100, 6, 2, 96, 300, OPC_KV_BF16 | OPC_PREFILL),
    ATTENTION(150, 8, 2, 128, 400, OPC_PREFILL),
    /* sliding windows (Gemma 3, Mistral, Phi-3) and soft-capped scores (Gemma 2 style): a window
     * of one key; decode rows; splits past a window's start; the prefill kernels */
    ATTENTION(3, 2, 2, 18, 7, OPC_WINDOW), ATTENTION(6, 4, 2, 64, 50, OPC_KV_BF16 | OPC_WINDOW | OPC_SOFTCAP),
    ATTENTION(9, 8, 1, 64, 129, OPC_SOFTCAP), ATTENTION(3, 16, 4, 128, 4200, OPC_WINDOW),
    ATTENTION(2, 8, 1, 128, 5000, OPC_KV_BF16 | OPC_WINDOW | OPC_SOFTCAP),
    ATTENTION(150, 8, 2, 128, 400, OPC_KV_BF16 | OPC_PREFILL | OPC_WINDOW),
    ATTENTION(130, 8, 1, 128, 4200, OPC_KV_BF16 | OPC_PREFILL | OPC_WINDOW | OPC_SOFTCAP),
    ATTENTION(100, 6, 2, 96, 300, OPC_PREFILL | OPC_WINDOW | OPC_SOFTCAP),
    SILU_MUL(3, 100, 250, 120),
    /* Gemma's GELU-tanh gate (inputs of std 4: the tails saturate) */
    SILU_MUL(3, 100, 250, 120, OPC_GELU), SILU_MUL(2, 1024, 2048, 1024, OPC_GELU),
    ADD(1001, OPC_IN_PLACE),
    ARGMAX(4, 4096 + 7, 4096 + 10),
};

/* Besides the grid of M = 1, 2, 3, 7, 8, 9, 16, 17, 64, 257 by small odd N x K and the model's matmuls
 * (matmul_group): */
static const op_case matmul_cases[] = {
    /* unaligned offsets force the element-wise paths */
    MATMUL(1, 40, 64, OPC_BIAS, {4, 2}), MATMUL(8, 40, 64, 0, {12, 6}), MATMUL(9, 40, 64, OPC_BIAS, {4, 2}),
    MATMUL(1, 40, 64, 0, {16, 16}),
    /* a Llama-3.1-8B down projection, 117 MB of weights (CUDA: M = 3 to 16 the tensor-core GEMV,
     * K split over 8 warps; M = 17 the GEMM, on Hopper K split 8 ways) */
    MATMUL(1, 4096, 14336), MATMUL(2, 4096, 14336, OPC_BIAS), MATMUL(8, 4096, 14336), MATMUL(9, 4096, 14336, OPC_BIAS),
    MATMUL(16, 4096, 14336), MATMUL(17, 4096, 14336),
    /* few tiles and a long K: split K on Hopper into 5 ranges (the last shorter) and 2 */
    MATMUL(64, 300, 2568, OPC_BIAS), MATMUL(17, 129, 1032),
    /* rows of X and W outside fp16's range, huge and tiny (Vulkan's cooperative-matrix GEMM
     * computes their blocks in fp32; the others in fp16) */
    MATMUL(40, 300, 520, OPC_RANGE), MATMUL(300, 257, 136, OPC_RANGE | OPC_BIAS), MATMUL(8, 64, 64, OPC_RANGE),
    /* Y in whole blocks of Vulkan's cooperative-matrix GEMM (64 x 64 up to M = 128, 128 x 128
     * above), stored straight from its accumulators */
    MATMUL(128, 192, 264), MATMUL(256, 256, 136), MATMUL(256, 384, 520, OPC_RANGE),
};

static void matmul_group(void) {
    static const int64_t ms[] = {1, 2, 3, 7, 8, 9, 16, 17, 64, 257};
    static const int64_t nk[][2] = {{1, 1}, {3, 3}, {1, 3}, {3, 1}, {17, 33}, {64, 64}, {100, 255}, {129, 520}};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        for (size_t j = 0; j < sizeof nk / sizeof *nk; j++)
            run_case(&(op_case)MATMUL(ms[i], nk[j][0], nk[j][1], (i + j) % 2 ? OPC_BIAS : 0));
    for (size_t i = 0; i < sizeof matmul_cases / sizeof *matmul_cases; i++) run_case(&matmul_cases[i]);
    /* the cases dfrt bench ops times, at the shapes of the tiny synthetic model */
    dfrt_config *cfg;
    if (dfrt_synthetic_config("tiny", &cfg) != DFRT_OK) exit(2);
    op_case model[OP_MODEL_MATMULS];
    for (int64_t m = 1; m <= 9; m += 8) {
        op_model_matmuls(cfg, m, model);
        for (int i = 0; i < OP_MODEL_MATMULS; i++) run_case(&model[i]);
    }
    dfrt_config_free(cfg);
}

/* ---- bad input: a clear status, and the device still works afterwards --------------------------- */

static void expect_error(dfrt_status got, dfrt_status want, const char *fragment, const char *what) {
    EXPECT(got == want && strstr(dfrt_last_error(), fragment) != NULL, "%s: got %s \"%s\", expected %s containing \"%s\"",
           what, dfrt_status_string(got), dfrt_last_error(), dfrt_status_string(want), fragment);
}

/* dfrt_vendor_matmul (the bench's reference): its checks, and where the backend has a vendor
 * library that loads (cuBLAS on CUDA), Y = X . W^T for M = 3, N = 40, K = 72 against fp64 on the
 * host; the CPU and Vulkan backends have none and say so. */
static void vendor_matmul_case(void) {
    begin_case(cur);
    dfrt_backend *b = cur->b;
    enum { M = 3, N = 40, K = 72 };
    uint16_t xh[M * K], wh[N * K];
    float xf[M * K], wf[N * K], got[M * N];
    for (int i = 0; i < M * K; i++) xh[i] = (uint16_t)(0x3F80 + (i * 37 % 200) - 100), xf[i] = test_float(xh[i]);
    for (int i = 0; i < N * K; i++) wh[i] = (uint16_t)(0xBC00 + (i * 53 % 300)), wf[i] = test_float(wh[i]);
    dfrt_buffer *x = NULL, *w = NULL, *y = NULL;
    EXPECT_OK(dfrt_buffer_alloc(b, sizeof xh, &x), "alloc");
    EXPECT_OK(dfrt_buffer_alloc(b, sizeof wh, &w), "alloc");
    EXPECT_OK(dfrt_buffer_alloc(b, sizeof got, &y), "alloc");
    if (!case_failed) {
        EXPECT_OK(dfrt_buffer_write(x, 0, xh, sizeof xh), "write X");
        EXPECT_OK(dfrt_buffer_write(w, 0, wh, sizeof wh), "write W");
    }
    const dfrt_vendor_matmul_args good = {.y = {y, 0}, .x = {x, 0}, .w = {w, 0}, .m = M, .n = N, .k = K};
    dfrt_vendor_matmul_args a = good;
    if (!case_failed) {
        a.m = 0;
        expect_error(dfrt_vendor_matmul(b, &a, NULL), DFRT_INVALID_ARGUMENT, "vendor_matmul: shape M=0",
                     "vendor_matmul empty shape");
        a = good, a.n = N + 1;
        expect_error(dfrt_vendor_matmul(b, &a, NULL), DFRT_INVALID_ARGUMENT, "W (bf16 N x K) needs 5904 bytes",
                     "vendor_matmul W too small");
        a = good, a.y = (dfrt_tensor_arg){w, 0};
        expect_error(dfrt_vendor_matmul(b, &a, NULL), DFRT_INVALID_ARGUMENT,
                     "vendor_matmul: Y (fp32 M x N) overlaps W (bf16 N x K)", "vendor_matmul Y aliasing W");
        expect_error(dfrt_vendor_matmul(b, NULL, NULL), DFRT_INVALID_ARGUMENT, "arguments are NULL",
                     "vendor_matmul without arguments");
    }
    const char *library = NULL;
    dfrt_status s = case_failed ? DFRT_OK : dfrt_vendor_matmul(b, &good, &library);
    const char *name = dfrt_backend_name(b);
    if (!case_failed && strcmp(name, "cuda") != 0) {
        expect_error(s, DFRT_UNSUPPORTED, "has no vendor library", "vendor_matmul without a library");
    } else if (!case_failed && s == DFRT_UNAVAILABLE) {
        fprintf(stderr, "skip [%s] vendor_matmul: %s\n", cur->label, dfrt_last_error());
        case_skipped = 1;
    } else if (!case_failed) {
        EXPECT_OK(s, "vendor_matmul");
        EXPECT(library && strstr(library, "cuBLAS"), "vendor_matmul names its library: %s", library ? library : "NULL");
        if (!case_failed) EXPECT_OK(dfrt_buffer_read(y, 0, got, sizeof got), "read Y");
        for (int i = 0; i < M && !case_failed; i++)
            for (int j = 0; j < N && !case_failed; j++) {
                double want = 0;
                for (int k = 0; k < K; k++) want += (double)xf[i * K + k] * (double)wf[j * K + k];
                EXPECT(fabs(got[i * N + j] - want) <= 1e-5 * (1 + fabs(want)), "vendor_matmul Y[%d, %d] = %.9g, want %.9g",
                       i, j, got[i * N + j], want);
            }
    }
    dfrt_buffer_free(x);
    dfrt_buffer_free(w);
    dfrt_buffer_free(y);
    end_case();
}

static void bad_input_cases(dfrt_backend *cpu) {
    begin_case(cur);
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
        expect_error(dfrt_op_df11_matmul(b, &(dfrt_df11_matmul_args){.y = {y, 0}, .x = {x, 0}, .unit = NULL, .m = 1, .n = 16, .k = 64}), DFRT_INVALID_ARGUMENT,
                     "df11_matmul: unit is NULL", "df11_matmul without a unit");
        /* rope's rotated part: even, within the head */
        dfrt_rope_args rope = {.x = {x, 0}, .positions = {y, 0}, .inv_freq = {x, 128}, .rows = 1, .heads = 2,
                               .dim = 16, .row_stride = 32, .rot_dim = 7};
        expect_error(dfrt_op_rope(b, &rope), DFRT_INVALID_ARGUMENT, "rope: rot_dim 7 must be even and at most dim 16",
                     "rope odd rot_dim");
        rope.rot_dim = 18;
        expect_error(dfrt_op_rope(b, &rope), DFRT_INVALID_ARGUMENT, "rot_dim 18 must be even and at most dim 16",
                     "rope rot_dim past the head");
        expect_error(dfrt_op_silu_mul(b, &(dfrt_silu_mul_args){.out = {x, 0}, .in = {x, 128}, .rows = 1, .width = 8,
                                                                .in_stride = 16, .up_col = 8, .act = (dfrt_gate_act)5}),
                     DFRT_INVALID_ARGUMENT, "silu_mul: act 5 is neither silu (0) nor gelu_tanh (1)", "silu_mul act");
        /* KV caches: the type, BF16's even rows, BF16 caches counted in bytes (w: 2048 bytes) */
        dfrt_kv_store_args kv = {.k_cache = {w, 0}, .v_cache = {w, 1024}, .src = {x, 0}, .slots = {y, 0},
                                 .positions = {y, 0}, .rows = 1, .width = 8, .src_stride = 16, .k_col = 0,
                                 .v_col = 8, .n_slots = 1, .max_ctx = 64, .kv_type = (dfrt_kv_type)7};
        expect_error(dfrt_op_kv_store(b, &kv), DFRT_INVALID_ARGUMENT, "kv_store: kv_type 7 is neither", "kv_store kv_type");
        kv.kv_type = DFRT_KV_BF16, kv.width = 7, kv.v_col = 7;
        expect_error(dfrt_op_kv_store(b, &kv), DFRT_INVALID_ARGUMENT, "a BF16 KV cache needs an even width, not 7",
                     "kv_store BF16 odd width");
        kv.width = 8, kv.v_col = 8, kv.max_ctx = 65;
        expect_error(dfrt_op_kv_store(b, &kv), DFRT_INVALID_ARGUMENT, "v_cache (kv_type n_slots x max_ctx x width) needs 1040 bytes at offset 1024",
                     "kv_store BF16 cache too small");
        kv.max_ctx = 64, kv.kv_type = DFRT_KV_F32;
        expect_error(dfrt_op_kv_store(b, &kv), DFRT_INVALID_ARGUMENT, "v_cache (kv_type n_slots x max_ctx x width) needs 2048 bytes at offset 1024",
                     "kv_store fp32 cache: twice the bytes");
        kv.kv_type = DFRT_KV_BF16;
        EXPECT_OK(dfrt_op_kv_store(b, &kv), "kv_store into BF16 caches of 1024 bytes each");
        expect_error(dfrt_op_attention(b, &(dfrt_attention_args){.out = {x, 0}, .q = {x, 0}, .k_cache = {w, 0}, .v_cache = {w, 1024},
                                                                  .slots = {y, 0}, .positions = {y, 0}, .rows = 1, .n_heads = 1,
                                                                  .n_kv = 1, .dim = 3, .q_stride = 3, .out_stride = 3,
                                                                  .n_slots = 1, .max_ctx = 4, .scale = 1, .kv_type = DFRT_KV_BF16}),
                     DFRT_INVALID_ARGUMENT, "attention: a BF16 KV cache needs an even dim, not 3", "attention BF16 odd dim");
        /* rmsnorm's fused residual: residual and sum together; y apart from sum */
        const dfrt_rmsnorm_args norm = {.y = {y, 0}, .x = {x, 0}, .w = {x, 0}, .residual = {w, 0}, .sum = {x, 0},
                                        .rows = 1, .heads = 1, .dim = 16, .row_stride = 16, .eps = 1e-6f};
        EXPECT_OK(dfrt_op_rmsnorm(b, &norm), "rmsnorm with a residual, its sum in place");
        expect_error(dfrt_op_rmsnorm(b, &(dfrt_rmsnorm_args){.y = {y, 0}, .x = {x, 0}, .w = {x, 0}, .residual = {w, 0},
                                                             .rows = 1, .heads = 1, .dim = 16, .row_stride = 16}),
                     DFRT_INVALID_ARGUMENT, "rmsnorm: residual and sum go together (residual given, sum NULL)",
                     "rmsnorm residual without sum");
        expect_error(dfrt_op_rmsnorm(b, &(dfrt_rmsnorm_args){.y = {x, 0}, .x = {x, 0}, .w = {w, 0}, .residual = {w, 64},
                                                             .sum = {x, 0}, .rows = 1, .heads = 1, .dim = 16,
                                                             .row_stride = 16}),
                     DFRT_INVALID_ARGUMENT, "rmsnorm: y (fp32) partly overlaps sum (fp32)", "rmsnorm y over sum");
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
                    expect_error(dfrt_op_df11_matmul(b, &(dfrt_df11_matmul_args){.y = {y, 0}, .x = {x, 0}, .unit = du, .first = 49990, .m = 1, .n = 1, .k = 64}), DFRT_INVALID_ARGUMENT,
                                 "weights [49990, 49990 + 1 x 64) run past its 50000 weights", "df11_matmul past the unit");
                    expect_error(dfrt_op_df11_matmul(b, &(dfrt_df11_matmul_args){.y = {y, 0}, .x = {x, 0}, .unit = du, .first = 0, .m = 1, .n = 17, .k = 64}), DFRT_INVALID_ARGUMENT,
                                 "Y (fp32 M x N)", "df11_matmul Y too small");
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
    begin_case(cur);
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
        /* copies from dfrt_host_alloc memory (the backend's copy queue, as offloading uses),
         * between work that writes the buffer and work that reads it, and from other memory */
        uint8_t *host = dfrt_host_alloc(cur->b, size);
        EXPECT(host != NULL, "dfrt_host_alloc");
        if (host && bm) {
            memcpy(host, model, size);
            EXPECT_OK(dfrt_buffer_fill(b, 0, size, 0x11), "fill before");
            EXPECT_OK(dfrt_host_copy(b, 7, host + 100, size - 200), "host copy");
            EXPECT_OK(dfrt_host_copy(b, 0, model, 7), "copy from other memory");
            EXPECT_OK(dfrt_buffer_copy(a, 0, b, 16, 1 << 20), "work after the copy");
            memset(bm, 0x11, size);
            memcpy(bm + 7, model + 100, size - 200);
            memcpy(bm, model, 7);
            EXPECT_OK(dfrt_backend_synchronize(cur->b), "synchronize");
            EXPECT_OK(dfrt_buffer_read(b, 0, got, size), "read");
            EXPECT(memcmp(got, bm, size) == 0, "buffer contents after host copies differ from the model");
            EXPECT_OK(dfrt_buffer_read(a, 0, got, 1 << 20), "read");
            EXPECT(memcmp(got, bm + 16, 1 << 20) == 0, "work after a host copy read other bytes");
            expect_error(dfrt_host_copy(b, size - 8, host, 16), DFRT_INVALID_ARGUMENT, "do not fit",
                         "host copy past the end");
            dfrt_host_free(cur->b, host);
        }
        free(bm);
    }
    dfrt_buffer_free(a);
    dfrt_buffer_free(b);
    free(model);
    free(got);
    end_case();
}

/* ---- between devices: copies to a second backend on the same device (a logical device, as a
 * layer split makes), and sums over a communicator (tensor parallelism): over both (the host
 * sum), and over this backend alone (NCCL on CUDA where it loads) ---------------------------- */

static void device_cases(void) {
    begin_case(cur);
    const dfrt_device_info *info = dfrt_backend_info(cur->b);
    dfrt_backend *other = NULL;
    EXPECT_OK(dfrt_backend_open(info->backend, info->index, &other), "opening the device again");
    const size_t n = (1u << 18) + 7; /* floats: over 1 MiB */
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *got = malloc(n * sizeof *got);
    test_rng r = {77};
    for (size_t i = 0; i < n; i++) x[i] = (float)test_normal(&r), y[i] = (float)test_normal(&r);
    dfrt_buffer *a = NULL, *b = NULL;
    if (!case_failed) EXPECT_OK(dfrt_buffer_alloc(cur->b, n * 4, &a), "alloc");
    if (!case_failed) EXPECT_OK(dfrt_buffer_alloc(other, n * 4 + 64, &b), "alloc on the second backend");
    if (!case_failed) {
        /* a copy each way, after work that writes the source and before work that reads it */
        EXPECT_OK(dfrt_buffer_write(a, 0, x, n * 4), "write");
        EXPECT_OK(dfrt_buffer_fill(b, 0, n * 4 + 64, 0), "fill");
        EXPECT_OK(dfrt_buffer_copy(b, 64, a, 0, n * 4), "copy to the other backend");
        EXPECT_OK(dfrt_buffer_read(b, 64, got, n * 4), "read");
        EXPECT(memcmp(got, x, n * 4) == 0, "a copy between backends changed the data");
        EXPECT_OK(dfrt_buffer_write(b, 64, y, n * 4), "write");
        EXPECT_OK(dfrt_buffer_copy(a, 4, b, 64, (n - 1) * 4), "copy back, unaligned to the buffers");
        EXPECT_OK(dfrt_buffer_read(a, 0, got, n * 4), "read");
        EXPECT(got[0] == x[0] && memcmp(got + 1, y, (n - 1) * 4) == 0, "a copy back changed the data");
        /* the sum over both, in device order, on each */
        dfrt_backend *both[2] = {cur->b, other};
        dfrt_comm *c = NULL;
        EXPECT_OK(dfrt_comm_create(both, 2, &c), "a communicator over two logical devices");
        if (c) {
            EXPECT(strstr(dfrt_comm_name(c), "host memory") != NULL, "communicator over one device twice: %s",
                   dfrt_comm_name(c));
            EXPECT_OK(dfrt_buffer_write(a, 0, x, n * 4), "write");
            EXPECT_OK(dfrt_buffer_write(b, 0, y, n * 4), "write");
            EXPECT_OK(dfrt_comm_all_reduce(c, (dfrt_buffer *[]){a, b}, 0, n), "all-reduce at offset 0");
            EXPECT_OK(dfrt_buffer_read(a, 0, got, n * 4), "read");
            bool ok = true;
            for (size_t i = 0; i < n; i++) ok &= got[i] == x[i] + y[i];
            EXPECT(ok, "the sum on the first device is not x + y");
            EXPECT_OK(dfrt_buffer_read(b, 0, got, n * 4), "read");
            for (size_t i = 0; i < n; i++) ok &= got[i] == x[i] + y[i];
            EXPECT(ok, "the sum on the second device is not x + y");
            expect_error(dfrt_comm_all_reduce(c, (dfrt_buffer *[]){b, a}, 0, n), DFRT_INVALID_ARGUMENT,
                         "not on the communicator's device", "buffers in the wrong order");
            expect_error(dfrt_comm_all_reduce(c, (dfrt_buffer *[]){a, b}, 64, n), DFRT_INVALID_ARGUMENT, "",
                         "a sum past the end of a buffer");
            dfrt_comm_free(c);
        }
        /* over this backend alone: the values stay */
        c = NULL;
        EXPECT_OK(dfrt_comm_create(&cur->b, 1, &c), "a communicator over one device");
        if (c) {
            printf("%s: communicator over one device: %s\n", cur->label, dfrt_comm_name(c));
            EXPECT_OK(dfrt_buffer_write(a, 0, x, n * 4), "write");
            EXPECT_OK(dfrt_comm_all_reduce(c, &a, 0, n), "all-reduce over one device");
            EXPECT_OK(dfrt_buffer_read(a, 0, got, n * 4), "read");
            EXPECT(memcmp(got, x, n * 4) == 0, "a sum over one device changed the values");
            dfrt_comm_free(c);
        }
        expect_error(dfrt_comm_create(&cur->b, 0, &c), DFRT_INVALID_ARGUMENT, "0 backends", "no backends");
    }
    dfrt_buffer_free(a);
    dfrt_buffer_free(b);
    dfrt_backend_close(other);
    free(x);
    free(y);
    free(got);
    end_case();
}

/* ---- main ----------------------------------------------------------------------------------- */

/* Case groups; the second argument of test_ops, a comma-separated list, runs only those (e.g.
 * under compute-sanitizer). */
static const char *only_groups;
bool group(const char *name) {
    if (!only_groups) return true;
    size_t n = strlen(name);
    for (const char *p = only_groups; (p = strstr(p, name)) != NULL; p += n)
        if ((p == only_groups || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
    return false;
}

static int add_target(const char *backend, int index, const char *label) {
    target *t = &targets[n_targets];
    snprintf(t->label, sizeof t->label, "%.127s", label);
    if (strcmp(backend, "cpu") == 0) t->b = oracle.b;
    else if (dfrt_backend_open(backend, index, &t->b) != DFRT_OK) {
        printf("backend %s: 0 passed, 1 failed, 0 skipped (cannot open: %s)\n", label, dfrt_last_error());
        return 1;
    }
    n_targets++;
    return 0;
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    only_groups = argc > 2 ? argv[2] : NULL;
    static const char *const groups[] = {"buffers", "transformer", "decode", "df11_matmul", "mutated", "matmul",
                                         "errors", "vendor"};
    int known = 0, listed = 1;
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) known += group(groups[i]);
    for (const char *p = only_groups; p && *p; p++) listed += *p == ',';
    if (only_groups && known != listed) {
        fprintf(stderr, "test_ops: unknown case group in \"%s\" (groups: buffers, transformer, decode, df11_matmul, "
                        "mutated, matmul, errors, vendor)\n", only_groups);
        return 2;
    }
    if (dfrt_backend_open("cpu", 0, &oracle.b) != DFRT_OK) {
        fprintf(stderr, "cannot open the CPU backend: %s\n", dfrt_last_error());
        return 2;
    }
    dfrt_device_info *devs;
    size_t n_devs;
    if (dfrt_device_list(&devs, &n_devs) != DFRT_OK) return 2;
    int failed = 0;
    for (size_t i = 0; i < n_devs && n_targets < MAX_TARGETS - 1; i++) {
        const dfrt_device_info *d = &devs[i];
        if (only && strcmp(only, d->backend) != 0) continue;
        char label[128];
        if (strcmp(d->backend, "cpu") == 0) snprintf(label, sizeof label, "cpu");
        else snprintf(label, sizeof label, "%.15s %d (%.60s)", d->backend, d->index, d->name);
        if (!d->available) {
            printf("backend %s: 0 passed, 0 failed, 1 skipped (unavailable: %s)\n", label, d->unavailable_reason);
            continue;
        }
        failed += add_target(d->backend, d->index, label);
        /* Vulkan again with small bindings, so that range splitting runs everywhere. */
        if (strcmp(d->backend, "vulkan") == 0 && !getenv("DFRT_VULKAN_MAX_RANGE")) {
            setenv("DFRT_VULKAN_MAX_RANGE", "1048576", 1);
            char small[160];
            snprintf(small, sizeof small, "%.100s, 1 MiB bindings", label);
            failed += add_target("vulkan", d->index, small);
            unsetenv("DFRT_VULKAN_MAX_RANGE");
        }
    }
    free(devs);

    synth_case *cases;
    int n_cases = synth_cases(&cases);
    for (int i = 0; i < n_targets && group("buffers"); i++) cur = &targets[i], buffer_cases();
    for (int i = 0; i < n_targets && group("buffers"); i++) cur = &targets[i], device_cases();
    for (size_t i = 0; i < sizeof transformer_cases / sizeof *transformer_cases && group("transformer"); i++)
        run_case(&transformer_cases[i]);
    if (group("decode") || group("df11_matmul")) unit_group(cases, n_cases);
    if (group("mutated")) mutated_group();
    if (group("matmul")) matmul_group();
    for (int i = 0; i < n_targets && group("errors"); i++) cur = &targets[i], bad_input_cases(oracle.b);
    for (int i = 0; i < n_targets && group("vendor"); i++) cur = &targets[i], vendor_matmul_case();
    synth_cases_free(cases, n_cases);

    for (int i = 0; i < n_targets; i++) {
        target *t = &targets[i];
        printf("backend %s: %d passed, %d failed, %d skipped\n", t->label, t->passed, t->failed, t->skipped);
        failed += t->failed;
        if (t->b != oracle.b) dfrt_backend_close(t->b);
    }
    if (oracle.failed) printf("backend %s: %d failed\n", oracle.label, oracle.failed);
    failed += oracle.failed;
    dfrt_backend_close(oracle.b);
    if (only && !n_targets) printf("no available %s device\n", only);
    return failed ? 1 : 0;
}
