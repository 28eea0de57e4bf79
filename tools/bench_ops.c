/* dfrt bench ops: the device's copy bandwidth, DF11 decode of one decoder layer, the matmuls
 * of a model's shapes each beside its DF11 matmul (df11_matmul over the same rows of a DF11
 * unit), and a layer's matmuls as the executor runs them (df11_matmul, or decode + matmul),
 * per backend, with device timestamps. The decode and BF16 matmuls are cases of the op test's
 * table (tests/op_cases.h), run through the same op kinds: the test runs small shapes, this
 * the model's; df11_matmul is called directly. */
#include "bench_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt bench ops [--backend LIST] [--shapes NAME|MODEL_DIR] [--m LIST] [--ops LIST]\n"
    "                      [--reference] [--min-time SECONDS] [--json FILE] [--csv FILE]\n"
    "\n"
    "Per backend (default: every available GPU backend, else the CPU), with device timestamps\n"
    "(CUDA events, Vulkan timestamp queries; the wall clock on the CPU):\n"
    "  copy     the device's copy bandwidth (read + write), the limit the other figures are\n"
    "           stated against;\n"
    "  decode   DF11 decode of one decoder layer's unit (the seven projections, random normal\n"
    "           weights with std 0.02) in G weights/s and GB/s (compressed in + BF16 out);\n"
    "  matmul   y = x W^T for each matmul the executor runs (qkv, o, gate_up, down, lm_head) at\n"
    "           M = 1, 2, 4, 8, 16, 32, 64, 512, 4096 rows (--m): us, GB/s of weights, TFLOP/s;\n"
    "           successive calls take successive copies of W from a 1 GiB set, so W comes from\n"
    "           device memory, not from a cache. Beside each, the DF11 matmul (df11_matmul: the\n"
    "           decode fused into the matmul) over the same rows of the layer's DF11 unit (of a\n"
    "           synthetic lm_head unit for lm_head), from copies of the unit in turn, with its\n"
    "           DF11 / BF16 time, checked bit-identical to the BF16 matmul where Y <= 256 MiB;\n"
    "           not available on a backend without df11_matmul;\n"
    "  layer    one decoder layer's four matmuls as the executor runs them: on DF11, the four\n"
    "           df11_matmul calls where the backend has it, else DF11 decode + the four BF16\n"
    "           matmuls; on BF16 weights, the four matmuls; at each M; DF11 / BF16 time.\n"
    "--reference: beside each matmul, the device vendor's library on the same shape and\n"
    "copies of W (cuBLAS's BF16 GEMM on CUDA, loaded at run time: DFRT_CUBLAS names the file\n"
    "if the loader does not find it), with X in BF16, and dfrt / library time; its Y is\n"
    "checked against dfrt's where Y <= 256 MiB. Backends without such a library say so.\n"
    "Also the layer unit's size in the file and in each backend's device memory, and the\n"
    "kernel each backend ran for each matmul and DF11 matmul (dfrt_matmul_kernel).\n"
    "--shapes: llama-3.1-8b (default), qwen3-8b, qwen3-4b, tiny, or a model directory's\n"
    "config.json. Each figure: warm-up, then samples for at least --min-time seconds (default\n"
    "1); median, min and max. --json and --csv write every figure.\n"
    "\n"
    "example:\n"
    "  dfrt bench ops --backend cuda,vulkan --shapes qwen3-8b --json ops.json\n";

#define MAX_COPIES 16 /* of the layer unit, for the DF11 matmul figures */
#define CHECK_LIMIT (256ull << 20) /* largest Y the bit-exact check reads back */

/* How the layer figure runs: BF16 matmuls; DF11 decode + BF16 matmuls; df11_matmul calls. */
enum { LAYER_BF16, LAYER_DECODE, LAYER_FUSED };

typedef struct ops_ctx {
    dfrt_backend *b;
    dfrt_device_df11 *units[MAX_COPIES]; /* the layer unit; copies to rotate through (DF11 matmul figures) */
    int n_units;
    dfrt_device_df11 *head; /* lm_head as a DF11 unit, or NULL */
    dfrt_buffer *layer, *x, *y, *copy_src, *copy_dst;
    dfrt_buffer *wset; /* weights for the matmul figures: copies to rotate through */
    uint64_t wset_bytes, next;
    size_t copy_bytes;
    op_case *shapes; /* the layer's four matmuls first, in the order of their weights in the layer */
    uint64_t first[OP_MODEL_MATMULS]; /* each shape's first weight in its unit (lm_head: its own) */
    op_case decode;  /* the whole layer unit */
    const op_case *cur;
    int cur_shape, layer_mode;
    int df11; /* the backend runs df11_matmul */
    dfrt_buffer *xb; /* --reference: X in BF16 (the same values as x) */
    int vendor;      /* --reference: 1 the library runs, 0 not tried yet, -1 the backend has none */
    uint64_t layer_n, head_n; /* weights of the layer and lm_head units */
} ops_ctx;

static dfrt_status op_copy(void *p) {
    ops_ctx *c = p;
    return dfrt_buffer_copy(c->copy_dst, 0, c->copy_src, 0, c->copy_bytes);
}

static dfrt_status op_decode(void *p) {
    ops_ctx *c = p;
    return op_case_run(c->b, &c->decode, (dfrt_tensor_arg[]){{c->layer, 0}}, c->units[0]);
}

/* A matmul case with its weights at w (Y, X, W, no bias). */
static dfrt_status run_matmul(ops_ctx *c, const op_case *mm, dfrt_tensor_arg w) {
    return op_case_run(c->b, mm, (dfrt_tensor_arg[]){{c->y, 0}, {c->x, 0}, w, {NULL, 0}}, NULL);
}

/* The same matmul over weights [first, first + n k) of a DF11 unit (Y, X, no bias). */
static dfrt_df11_matmul_args df11_args(ops_ctx *c, const op_case *mm, const dfrt_device_df11 *u, uint64_t first) {
    return (dfrt_df11_matmul_args){.y = {c->y, 0}, .x = {c->x, 0}, .unit = u, .first = first, .m = mm->s[0],
                                   .n = mm->s[1], .k = mm->s[2]};
}

static dfrt_status run_df11_matmul(ops_ctx *c, const op_case *mm, const dfrt_device_df11 *u, uint64_t first) {
    dfrt_df11_matmul_args a = df11_args(c, mm, u, first);
    return dfrt_op_df11_matmul(c->b, &a);
}

/* Whether the backend runs this df11_matmul: 1 yes, 0 declined (DFRT_UNSUPPORTED), -1 invalid
 * arguments; the reason in dfrt_last_error(). */
static int df11_supported(ops_ctx *c, const op_case *mm, const dfrt_device_df11 *u, uint64_t first) {
    dfrt_df11_matmul_args a = df11_args(c, mm, u, first);
    dfrt_status st;
    if (dfrt_backend_supports(c->b, DFRT_OP_DF11_MATMUL, &a, &st)) return 1;
    return st == DFRT_UNSUPPORTED ? 0 : -1;
}

/* One matmul figure: each call takes the next copy of W in the rotation set, so that the
 * weights come from device memory and not from a cache that holds one copy (H100: 50 MB L2). */
static dfrt_status op_matmul(void *p) {
    ops_ctx *c = p;
    uint64_t stride = (2 * (uint64_t)c->cur->s[1] * (uint64_t)c->cur->s[2] + 255) & ~(uint64_t)255;
    uint64_t copies = c->wset_bytes / stride ? c->wset_bytes / stride : 1;
    uint64_t off = (c->next++ % copies) * stride;
    return run_matmul(c, c->cur, (dfrt_tensor_arg){c->wset, off});
}

/* One DF11 matmul figure: successive calls read successive copies of the layer unit (lm_head's
 * unit alone is larger than a cache). */
static dfrt_status op_df11_matmul(void *p) {
    ops_ctx *c = p;
    const dfrt_device_df11 *u = c->cur_shape == LM_HEAD ? c->head : c->units[c->next++ % (uint64_t)c->n_units];
    return run_df11_matmul(c, c->cur, u, c->first[c->cur_shape]);
}

/* The vendor library's matmul (--reference) on the next copy of W, as op_matmul takes them. */
static dfrt_status run_vendor_matmul(ops_ctx *c, dfrt_tensor_arg w, const char **library) {
    const op_case *mm = c->cur;
    dfrt_vendor_matmul_args a = {.y = {c->y, 0}, .x = {c->xb, 0}, .w = w, .m = mm->s[0], .n = mm->s[1], .k = mm->s[2]};
    return dfrt_vendor_matmul(c->b, &a, library);
}

static dfrt_status op_vendor_matmul(void *p) {
    ops_ctx *c = p;
    uint64_t stride = (2 * (uint64_t)c->cur->s[1] * (uint64_t)c->cur->s[2] + 255) & ~(uint64_t)255;
    uint64_t copies = c->wset_bytes / stride ? c->wset_bytes / stride : 1;
    return run_vendor_matmul(c, (dfrt_tensor_arg){c->wset, (c->next++ % copies) * stride}, NULL);
}

/* A layer's four matmuls: on the weights of the layer block (after its decode), or straight
 * from the unit. */
static dfrt_status op_layer(void *p) {
    ops_ctx *c = p;
    dfrt_status s = c->layer_mode == LAYER_DECODE ? op_decode(c) : DFRT_OK;
    for (int i = 0; i < 4 && s == DFRT_OK; i++)
        s = c->layer_mode == LAYER_FUSED ? run_df11_matmul(c, &c->shapes[i], c->units[0], c->first[i])
                                         : run_matmul(c, &c->shapes[i], (dfrt_tensor_arg){c->layer, 2 * c->first[i]});
    return s;
}

/* df11_matmul against the BF16 matmul over the same weights decoded (at ref): bit-identical on
 * one backend (ops.h). 1 equal, 0 not, -1 not checked (Y beyond CHECK_LIMIT, or a failure). */
static int check_df11_matmul(ops_ctx *c, const op_case *mm, const dfrt_device_df11 *u, uint64_t first,
                             dfrt_tensor_arg ref) {
    uint64_t bytes = 4 * (uint64_t)mm->s[0] * (uint64_t)mm->s[1];
    if (bytes > CHECK_LIMIT) return -1;
    float *want = malloc(bytes), *got = malloc(bytes);
    int r = -1;
    if (want && got && run_matmul(c, mm, ref) == DFRT_OK && dfrt_buffer_read(c->y, 0, want, bytes) == DFRT_OK &&
        dfrt_buffer_fill(c->y, 0, bytes, 0xFF) == DFRT_OK && run_df11_matmul(c, mm, u, first) == DFRT_OK &&
        dfrt_buffer_read(c->y, 0, got, bytes) == DFRT_OK)
        r = memcmp(want, got, bytes) == 0;
    free(want);
    free(got);
    return r;
}

static int compress_unit(const char *name, int n_parts, const uint16_t *const *parts, const uint64_t *counts,
                         host_unit *h) {
    h->n_parts = n_parts;
    h->n = 0;
    for (int i = 0; i < n_parts; i++) h->n += counts[i];
    dfrt_status s = dfrt_df11_encode(name, n_parts, parts, counts, NULL, &cli_cancel_flag, &h->e);
    if (s == DFRT_OK) s = bench_unit_init(&h->u, name, &h->e, n_parts);
    return s == DFRT_OK;
}

static void host_unit_free(host_unit *h) {
    bench_unit_release(&h->u);
    dfrt_df11_encoded_free(&h->e);
}

uint64_t host_unit_bytes(const host_unit *h) { return bench_unit_bytes(&h->e, h->n_parts); }

static int make_layer_unit(const dfrt_config *cfg, layer_unit *L) {
    int64_t H = cfg->hidden_size, I = cfg->intermediate_size, q = cfg->n_heads * cfg->head_dim,
            kv = cfg->n_kv_heads * cfg->head_dim;
    const uint64_t counts[7] = {(uint64_t)(q * H), (uint64_t)(kv * H), (uint64_t)(kv * H), (uint64_t)(H * q),
                                (uint64_t)(I * H), (uint64_t)(I * H), (uint64_t)(H * I)};
    L->n = 0;
    for (int i = 0; i < 7; i++) L->n += counts[i];
    fprintf(stderr, "dfrt bench ops: generating and compressing a %llu-weight decoder layer...\n", (unsigned long long)L->n);
    L->weights = bench_normal_bf16(L->n, 0.02);
    if (!L->weights) {
        fprintf(stderr, "dfrt bench ops: out of memory for a %llu-weight layer\n", (unsigned long long)L->n);
        return 0;
    }
    const uint16_t *parts[7];
    uint64_t offset = 0;
    for (int i = 0; i < 7; i++) {
        parts[i] = L->weights + offset;
        offset += counts[i];
    }
    if (!compress_unit("layer", 7, parts, counts, &L->h)) return cli_fail("bench ops", DFRT_FORMAT_ERROR), 0;
    return 1;
}

static void layer_unit_free(layer_unit *L) {
    host_unit_free(&L->h);
    free(L->weights);
}

int ops_wants(const ops_plan *p, const char *op) {
    size_t len = strlen(op);
    for (const char *s = p->ops; *s;) {
        size_t l = strcspn(s, ",");
        if (l == len && strncmp(s, op, len) == 0) return 1;
        s += l + (s[l] == ',');
    }
    return 0;
}

static int make_head_unit(ops_plan *p, const layer_unit *L) {
    if (p->head_state) return p->head_state > 0;
    const op_case *head = &p->shapes[LM_HEAD];
    uint64_t n = (uint64_t)head->s[1] * (uint64_t)head->s[2];
    int n_parts = (int)((n + L->n - 1) / L->n);
    const uint16_t **parts = malloc((size_t)n_parts * sizeof *parts);
    uint64_t *counts = malloc((size_t)n_parts * sizeof *counts);
    fprintf(stderr, "dfrt bench ops: compressing a %lldx%lld lm_head for its DF11 matmul...\n", (long long)head->s[1],
            (long long)head->s[2]);
    double t0 = cli_now();
    p->head_state = -1;
    if (!parts || !counts) {
        snprintf(p->head_note, sizeof p->head_note, "out of memory");
    } else {
        for (int i = 0; i < n_parts; i++) {
            parts[i] = L->weights;
            counts[i] = i < n_parts - 1 ? L->n : n - (uint64_t)(n_parts - 1) * L->n;
        }
        if (compress_unit("lm_head", n_parts, parts, counts, &p->head)) p->head_state = 1;
        else snprintf(p->head_note, sizeof p->head_note, "%.150s", dfrt_last_error());
    }
    free(parts);
    free(counts);
    if (p->head_state > 0)
        fprintf(stderr, "dfrt bench ops: lm_head compressed in %.1f s, %.2f%% of BF16\n", cli_now() - t0,
                100.0 * (double)host_unit_bytes(&p->head) / (2.0 * (double)n));
    else
        fprintf(stderr, "dfrt bench ops: lm_head: no DF11 unit (%s): its DF11 matmul is not measured\n", p->head_note);
    return p->head_state > 0;
}

static void note_failure(const char *backend, const char *what) {
    fprintf(stderr, "dfrt bench ops: %s: %s: %s\n", backend, what, dfrt_last_error());
}

/* The layer unit on the device: its bytes there, against the file's and against what
 * dfrt_df11_device_bytes predicts. */
static void record_unit_bytes(cJSON *bj, dfrt_backend *b, const layer_unit *L, const dfrt_device_df11 *u) {
    int layout = dfrt_backend_df11_layout(b);
    uint64_t bytes = dfrt_device_df11_bytes(u), predicted = dfrt_df11_device_bytes(&L->h.u.unit, layout);
    cJSON_AddStringToObject(bj, "df11_layout", bench_layout_name(layout));
    cJSON_AddNumberToObject(bj, "layer_device_bytes", (double)bytes);
    cJSON_AddNumberToObject(bj, "layer_device_percent_of_bf16", 100.0 * (double)bytes / (2.0 * (double)L->n));
    if (bytes != predicted)
        fprintf(stderr, "dfrt bench ops: %s: warning: the layer unit holds %llu bytes on the device, "
                        "dfrt_df11_device_bytes says %llu\n",
                dfrt_backend_name(b), (unsigned long long)bytes, (unsigned long long)predicted);
}

/* What a matmul figure and a DF11 matmul figure hold alike: the shape, the time, GB/s of the
 * `bytes` of weights read, TFLOP/s and the share of the copy rate. */
static void matmul_fields(cJSON *f, const op_case *mm, const bench_stats *st, double bytes, double copy_gbs) {
    double flop = 2.0 * (double)mm->s[0] * (double)mm->s[1] * (double)mm->s[2];
    cJSON_AddStringToObject(f, "shape", mm->name);
    cJSON_AddNumberToObject(f, "m", (double)mm->s[0]);
    cJSON_AddNumberToObject(f, "n", (double)mm->s[1]);
    cJSON_AddNumberToObject(f, "k", (double)mm->s[2]);
    bench_metric(f, "time_us", 1e3 * st->median, 1e3 * st->min, 1e3 * st->max, "us", st->runs);
    bench_rate(f, "gb_per_s", bytes / 1e6, st, "GB/s");
    bench_rate(f, "tflop_per_s", flop / 1e9, st, "TFLOP/s");
    if (!isnan(copy_gbs)) cJSON_AddNumberToObject(f, "percent_of_copy", 100.0 * bench_median(f, "gb_per_s") / copy_gbs);
}

/* The kernel the backend names for a matmul figure (dfrt_matmul_kernel), where it names one. */
static void add_kernel(cJSON *f, const char *kernel) {
    if (kernel) cJSON_AddStringToObject(f, "kernel", kernel);
}

/* The DF11 matmul figure of a case, after its BF16 figure bf (NULL when that failed). Returns 0
 * after a failure. */
static int df11_matmul_figure(bench_report *r, ops_ctx *c, const ops_plan *p, int si, const cJSON *bf,
                              double copy_gbs) {
    const char *bn = dfrt_backend_name(c->b);
    const op_case *mm = &p->shapes[si];
    const dfrt_device_df11 *u = si == LM_HEAD ? c->head : c->units[0];
    char what[96];
    snprintf(what, sizeof what, "df11_matmul %s M=%lld", mm->name, (long long)mm->s[0]);
    int sup = df11_supported(c, mm, u, c->first[si]);
    if (sup <= 0) {
        if (sup < 0) return note_failure(bn, what), 0;
        fprintf(stderr, "dfrt bench ops: %s: %s: declined: %s\n", bn, what, dfrt_last_error());
        return 1;
    }
    c->cur = mm;
    c->cur_shape = si;
    bench_stats st;
    if (!bench_time_op(c->b, op_df11_matmul, c, p->min_time, &st)) return note_failure(bn, what), 0;
    uint64_t nk = (uint64_t)mm->s[1] * (uint64_t)mm->s[2];
    /* the bytes read: the rows' share of the unit's bytes in device memory */
    double bytes = (double)nk * (double)dfrt_device_df11_bytes(u) / (double)(si == LM_HEAD ? c->head_n : c->layer_n);
    cJSON *f = bench_figure(r, bn, "df11_matmul");
    matmul_fields(f, mm, &st, bytes, copy_gbs);
    dfrt_df11_matmul_args ka = df11_args(c, mm, u, c->first[si]);
    add_kernel(f, dfrt_matmul_kernel(c->b, DFRT_OP_DF11_MATMUL, &ka));
    cJSON_AddNumberToObject(f, "df11_bytes", bytes);
    if (bf) cJSON_AddNumberToObject(f, "df11_over_bf16_time", bench_median(f, "time_us") / bench_median(bf, "time_us"));
    /* the reference: the layer block (decoded or uploaded) or the rotation set's first copy */
    dfrt_tensor_arg ref = si == LM_HEAD ? (dfrt_tensor_arg){c->wset, 0} : (dfrt_tensor_arg){c->layer, 2 * c->first[si]};
    int exact = check_df11_matmul(c, mm, u, c->first[si], ref);
    if (exact >= 0) cJSON_AddBoolToObject(f, "bit_exact", exact);
    if (exact == 0) fprintf(stderr, "dfrt bench ops: %s: %s is NOT bit-identical to matmul\n", bn, what);
    return exact != 0;
}

/* --reference: X with values that BF16 holds exactly, as fp32 (c->x) and as BF16 (c->xb, made
 * here), so that the library and dfrt multiply the same numbers. */
static int reference_x(ops_ctx *c, uint64_t count) {
    float *xf = malloc(count * sizeof *xf);
    uint16_t *xh = malloc(count * sizeof *xh);
    int ok = xf && xh && dfrt_buffer_alloc(c->b, count * sizeof *xh, &c->xb) == DFRT_OK;
    for (uint64_t i = 0; ok && i < count; i++) {
        xf[i] = (float)((int)(i * 7 % 17) - 8) / 8.0f;
        uint32_t bits;
        memcpy(&bits, &xf[i], 4);
        xh[i] = (uint16_t)(bits >> 16);
    }
    ok = ok && dfrt_buffer_write(c->x, 0, xf, count * sizeof *xf) == DFRT_OK &&
         dfrt_buffer_write(c->xb, 0, xh, count * sizeof *xh) == DFRT_OK;
    free(xf);
    free(xh);
    return ok;
}

/* The vendor library's figure of a case (--reference), after dfrt's BF16 figure bf (NULL when
 * that failed). Its Y on the first copy of W is checked against dfrt's matmul first (which
 * also loads the library): the largest difference, over the largest |Y|, must be below 1e-3
 * (both accumulate in fp32, in different orders). Returns 0 after a failure or a mismatch. */
static int vendor_matmul_figure(bench_report *r, ops_ctx *c, cJSON *bj, const op_case *mm, const cJSON *bf,
                                double min_time, double copy_gbs) {
    const char *bn = dfrt_backend_name(c->b), *library = NULL;
    char what[96];
    snprintf(what, sizeof what, "reference matmul %s M=%lld", mm->name, (long long)mm->s[0]);
    c->cur = mm;
    const dfrt_tensor_arg w0 = {c->wset, 0};
    dfrt_status s = run_vendor_matmul(c, w0, &library);
    if (s == DFRT_UNSUPPORTED || s == DFRT_UNAVAILABLE) {
        c->vendor = -1;
        cJSON_AddStringToObject(bj, "reference_unavailable", dfrt_last_error());
        fprintf(stderr, "dfrt bench ops: %s: --reference: %s\n", bn, dfrt_last_error());
        return 1;
    }
    if (s != DFRT_OK) return note_failure(bn, what), 0;
    c->vendor = 1;
    double diff = NAN;
    uint64_t count = (uint64_t)mm->s[0] * (uint64_t)mm->s[1];
    if (4 * count <= CHECK_LIMIT) {
        float *got = malloc(4 * count), *want = malloc(4 * count);
        int read = got && want && dfrt_buffer_read(c->y, 0, got, 4 * count) == DFRT_OK &&
                   run_matmul(c, mm, w0) == DFRT_OK && dfrt_buffer_read(c->y, 0, want, 4 * count) == DFRT_OK;
        double worst = 0, top = 0;
        for (uint64_t i = 0; read && i < count; i++) {
            double d = fabs((double)got[i] - (double)want[i]), v = fabs((double)want[i]);
            if (!(d <= worst)) worst = d; /* NaN sticks */
            if (v > top) top = v;
        }
        free(got);
        free(want);
        if (!read) return note_failure(bn, what), 0;
        diff = worst / (top > 0 ? top : 1);
    }
    bench_stats st;
    if (!bench_time_op(c->b, op_vendor_matmul, c, min_time, &st)) return note_failure(bn, what), 0;
    cJSON *f = bench_figure(r, bn, "vendor_matmul");
    matmul_fields(f, mm, &st, 2.0 * (double)mm->s[1] * (double)mm->s[2], copy_gbs);
    cJSON_AddStringToObject(f, "library", library);
    if (!cJSON_GetObjectItemCaseSensitive(bj, "reference_library")) cJSON_AddStringToObject(bj, "reference_library", library);
    if (4 * count <= CHECK_LIMIT) cJSON_AddNumberToObject(f, "max_difference_over_max_y", diff);
    if (bf) cJSON_AddNumberToObject(f, "dfrt_over_vendor_time", bench_median(bf, "time_us") / bench_median(f, "time_us"));
    if (4 * count <= CHECK_LIMIT && !(diff < 1e-3)) {
        fprintf(stderr, "dfrt bench ops: %s: %s: %s's Y differs from dfrt's matmul by %.3g of the largest |Y|\n", bn,
                what, library, diff);
        return 0;
    }
    return 1;
}

/* Measures one backend; figures go into the report. Returns 0 when something failed. */
static int bench_backend(bench_report *r, dfrt_backend *b, ops_plan *p, const layer_unit *L) {
    const char *bn = dfrt_backend_name(b);
    const dfrt_device_info *info = dfrt_backend_info(b);
    cJSON *bj = bench_report_backend(r, b);
    ops_ctx c = {.b = b, .shapes = p->shapes, .n_units = 1, .layer_n = L->n, .head_n = p->head.n,
                 .decode = {DFRT_OP_DF11_DECODE, {0, 0}, .name = "layer", .unit = &L->h.u.unit}};
    for (int i = 1; i < 4; i++) c.first[i] = c.first[i - 1] + (uint64_t)p->shapes[i - 1].s[1] * (uint64_t)p->shapes[i - 1].s[2];
    bench_stats st;
    int ok = 1;
    double copy_gbs = NAN;
    fprintf(stderr, "dfrt bench ops: %s: %s\n", bn, info->name);

    if (ops_wants(p, "copy")) {
        /* 1 GiB (256 MiB on small devices), read + write */
        c.copy_bytes = info->memory_bytes >= (16ull << 30) ? (1ull << 30) : (256ull << 20);
        if (dfrt_buffer_alloc(b, c.copy_bytes, &c.copy_src) == DFRT_OK &&
            dfrt_buffer_alloc(b, c.copy_bytes, &c.copy_dst) == DFRT_OK &&
            dfrt_buffer_fill(c.copy_src, 0, c.copy_bytes, 1) == DFRT_OK && bench_time_op(b, op_copy, &c, p->min_time, &st)) {
            cJSON *f = bench_figure(r, bn, "copy");
            cJSON_AddNumberToObject(f, "bytes", (double)c.copy_bytes);
            bench_metric(f, "time_us", 1e3 * st.median, 1e3 * st.min, 1e3 * st.max, "us", st.runs);
            bench_rate(f, "gb_per_s", 2.0 * (double)c.copy_bytes / 1e6, &st, "GB/s");
            copy_gbs = bench_median(f, "gb_per_s");
            cJSON_AddNumberToObject(bj, "copy_gb_per_s", copy_gbs);
        } else {
            note_failure(bn, "copy");
            ok = 0;
        }
        dfrt_buffer_free(c.copy_src);
        dfrt_buffer_free(c.copy_dst);
    }

    /* The layer's weights on the device: decoded from the DF11 unit (checked bit-exact), or
     * uploaded when the decode is not measured. */
    uint64_t layer_bytes = 2 * L->n;
    if (dfrt_buffer_alloc(b, layer_bytes, &c.layer) != DFRT_OK) {
        note_failure(bn, "layer buffer");
        return 0;
    }
    if (dfrt_df11_upload(b, &L->h.u.unit, &c.units[0]) != DFRT_OK) {
        note_failure(bn, "DF11 upload");
        dfrt_buffer_free(c.layer);
        return 0;
    }
    record_unit_bytes(bj, b, L, c.units[0]);
    if (ops_wants(p, "decode")) {
        if (bench_time_op(b, op_decode, &c, p->min_time, &st)) {
            cJSON *f = bench_figure(r, bn, "df11_decode");
            double traffic = 2.0 * (double)L->n + (double)dfrt_device_df11_bytes(c.units[0]);
            cJSON_AddStringToObject(f, "shape", "layer");
            cJSON_AddNumberToObject(f, "weights", (double)L->n);
            cJSON_AddNumberToObject(f, "compressed_bytes", (double)host_unit_bytes(&L->h));
            bench_metric(f, "time_us", 1e3 * st.median, 1e3 * st.min, 1e3 * st.max, "us", st.runs);
            bench_rate(f, "g_weights_per_s", (double)L->n / 1e6, &st, "G weights/s");
            bench_rate(f, "gb_per_s", traffic / 1e6, &st, "GB/s");
            if (!isnan(copy_gbs)) cJSON_AddNumberToObject(f, "percent_of_copy", 100.0 * bench_median(f, "gb_per_s") / copy_gbs);
            uint16_t *check = malloc(layer_bytes);
            int exact = check && dfrt_buffer_read(c.layer, 0, check, layer_bytes) == DFRT_OK &&
                        memcmp(check, L->weights, layer_bytes) == 0;
            free(check);
            cJSON_AddBoolToObject(f, "bit_exact", exact);
            if (!exact) {
                fprintf(stderr, "dfrt bench ops: %s: DF11 decode is NOT bit-exact\n", bn);
                ok = 0;
            }
        } else {
            note_failure(bn, "DF11 decode");
            ok = 0;
        }
    } else if (dfrt_buffer_write(c.layer, 0, L->weights, layer_bytes) != DFRT_OK) {
        note_failure(bn, "layer upload");
        ok = 0;
    }

    /* matmuls and layers */
    int64_t max_m = 0, max_n = 0, max_k = 0;
    for (int i = 0; i < p->n_m; i++) max_m = p->ms[i] > max_m ? p->ms[i] : max_m;
    for (int i = 0; i < OP_MODEL_MATMULS; i++) {
        max_n = p->shapes[i].s[1] > max_n ? p->shapes[i].s[1] : max_n;
        max_k = p->shapes[i].s[2] > max_k ? p->shapes[i].s[2] : max_k;
    }
    int matmuls = ops_wants(p, "matmul");
    if ((matmuls || ops_wants(p, "layer")) && ok) {
        /* The rotation set: at least 1 GiB (256 MiB on small devices) and the largest W
         * (lm_head), filled with the layer's weights repeated (values do not matter for timing). */
        const op_case *head = &p->shapes[LM_HEAD];
        uint64_t head_bytes = (2 * (uint64_t)head->s[1] * (uint64_t)head->s[2] + 255) & ~(uint64_t)255;
        c.wset_bytes = info->memory_bytes >= (16ull << 30) ? (1ull << 30) : (256ull << 20);
        if (head_bytes > c.wset_bytes) c.wset_bytes = head_bytes;
        if (dfrt_buffer_alloc(b, (size_t)(max_m * max_k * 4), &c.x) != DFRT_OK ||
            dfrt_buffer_fill(c.x, 0, (size_t)(max_m * max_k * 4), 0x3c) != DFRT_OK ||
            dfrt_buffer_alloc(b, (size_t)(max_m * max_n * 4), &c.y) != DFRT_OK ||
            (matmuls && dfrt_buffer_alloc(b, c.wset_bytes, &c.wset) != DFRT_OK)) {
            note_failure(bn, "matmul buffers");
            ok = 0;
        }
        for (uint64_t at = 0; ok && c.wset && at < c.wset_bytes; at += layer_bytes) {
            uint64_t len = c.wset_bytes - at < layer_bytes ? c.wset_bytes - at : layer_bytes;
            if (dfrt_buffer_write(c.wset, at, L->weights, len) != DFRT_OK) {
                note_failure(bn, "matmul weights upload");
                ok = 0;
            }
        }
        /* df11_matmul: asked with the layer's qkv at M = 1 */
        p->shapes[0].s[0] = 1;
        int sup = ok ? df11_supported(&c, &p->shapes[0], c.units[0], 0) : 0;
        if (sup < 0) note_failure(bn, "df11_matmul"), ok = 0;
        c.df11 = sup > 0;
        cJSON_AddBoolToObject(bj, "df11_matmul", c.df11);
        if (ok && !c.df11) {
            cJSON_AddStringToObject(bj, "df11_matmul_unavailable", dfrt_last_error());
            fprintf(stderr, "dfrt bench ops: %s: no df11_matmul (%s): DF11 matmuls not measured, the DF11 layer is "
                            "decode + matmul\n", bn, dfrt_last_error());
        }
    }
    if (ok && matmuls && p->reference && !reference_x(&c, (uint64_t)(max_m * max_k))) {
        note_failure(bn, "--reference: X in BF16");
        ok = 0;
    }
    if (ok && c.df11 && matmuls) {
        /* copies of the layer unit to rotate through, about as many bytes as the BF16 set */
        uint64_t unit_bytes = dfrt_device_df11_bytes(c.units[0]);
        uint64_t copies = (c.wset_bytes + unit_bytes - 1) / unit_bytes;
        c.n_units = (int)(copies < MAX_COPIES ? copies : MAX_COPIES);
        for (int i = 1; i < c.n_units && ok; i++)
            if (dfrt_df11_upload(b, &L->h.u.unit, &c.units[i]) != DFRT_OK) note_failure(bn, "DF11 upload"), ok = 0;
        if (ok && make_head_unit(p, L) && dfrt_df11_upload(b, &p->head.u.unit, &c.head) != DFRT_OK) {
            note_failure(bn, "lm_head DF11 upload");
            ok = 0;
        }
        c.head_n = p->head.n;
        if (c.head) cJSON_AddNumberToObject(bj, "lm_head_device_bytes", (double)dfrt_device_df11_bytes(c.head));
    }
    for (int si = 0; si < OP_MODEL_MATMULS && ok && matmuls; si++) {
        op_case *mm = &p->shapes[si];
        for (int mi = 0; mi < p->n_m && !cli_cancel_flag; mi++) {
            mm->s[0] = p->ms[mi];
            c.cur = mm;
            cJSON *f = NULL;
            if (bench_time_op(b, op_matmul, &c, p->min_time, &st)) {
                f = bench_figure(r, bn, "matmul");
                matmul_fields(f, mm, &st, 2.0 * (double)mm->s[1] * (double)mm->s[2], copy_gbs);
                dfrt_matmul_args ka = {.y = {c.y, 0}, .x = {c.x, 0}, .w = {c.wset, 0}, .m = mm->s[0], .n = mm->s[1],
                                       .k = mm->s[2]};
                add_kernel(f, dfrt_matmul_kernel(b, DFRT_OP_MATMUL, &ka));
            } else {
                char what[64];
                snprintf(what, sizeof what, "matmul %s M=%lld", mm->name, (long long)mm->s[0]);
                note_failure(bn, what);
                ok = 0;
            }
            if (c.df11 && (si != LM_HEAD || c.head) && !df11_matmul_figure(r, &c, p, si, f, copy_gbs)) ok = 0;
            if (p->reference && c.vendor >= 0 && !vendor_matmul_figure(r, &c, bj, mm, f, p->min_time, copy_gbs)) ok = 0;
        }
    }
    uint64_t layer_weights = 0;
    for (int i = 0; i < 4; i++) layer_weights += (uint64_t)p->shapes[i].s[1] * (uint64_t)p->shapes[i].s[2];
    for (int mi = 0; mi < p->n_m && ok && ops_wants(p, "layer") && !cli_cancel_flag; mi++) {
        int fused = c.df11;
        for (int i = 0; i < 4; i++) {
            p->shapes[i].s[0] = p->ms[mi];
            if (fused && df11_supported(&c, &p->shapes[i], c.units[0], c.first[i]) != 1) fused = 0;
        }
        double t[2];
        for (int df11 = 1; df11 >= 0; df11--) {
            c.layer_mode = df11 ? (fused ? LAYER_FUSED : LAYER_DECODE) : LAYER_BF16;
            if (!bench_time_op(b, op_layer, &c, p->min_time, &st)) {
                note_failure(bn, "layer");
                ok = 0;
                break;
            }
            cJSON *f = bench_figure(r, bn, "layer");
            cJSON_AddStringToObject(f, "format", df11 ? "df11" : "bf16");
            if (df11) cJSON_AddStringToObject(f, "method", fused ? "df11_matmul" : "decode + matmul");
            cJSON_AddNumberToObject(f, "m", (double)p->ms[mi]);
            cJSON_AddNumberToObject(f, "weights", (double)layer_weights);
            bench_metric(f, "time_us", 1e3 * st.median, 1e3 * st.min, 1e3 * st.max, "us", st.runs);
            bench_rate(f, "g_weights_per_s", (double)layer_weights / 1e6, &st, "G weights/s");
            t[df11] = st.median;
            if (!df11) {
                const cJSON *d = bench_find(r, bn, "layer", NULL, "df11", (double)p->ms[mi], NAN);
                if (d) cJSON_AddNumberToObject((cJSON *)d, "df11_over_bf16_time", t[1] / t[0]);
            }
        }
    }
    for (int i = 0; i < c.n_units; i++) dfrt_device_df11_free(c.units[i]);
    dfrt_device_df11_free(c.head);
    dfrt_buffer_free(c.layer);
    dfrt_buffer_free(c.wset);
    dfrt_buffer_free(c.x);
    dfrt_buffer_free(c.xb);
    dfrt_buffer_free(c.y);
    return ok && !cli_cancel_flag;
}

/* --shapes: a synthetic model's name or a model directory. */
static int load_shapes(const char *spec, dfrt_config **out) {
    dfrt_status s = strchr(spec, '/') || strcmp(spec, ".") == 0 ? dfrt_config_load(spec, out)
                                                                : dfrt_synthetic_config(spec, out);
    if (s != DFRT_OK) return cli_fail("bench ops", s), 0;
    const dfrt_config *c = *out;
    if (c->hidden_size <= 0 || c->intermediate_size <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->head_dim <= 0 ||
        c->vocab_size <= 0) {
        fprintf(stderr, "dfrt bench ops: %s: config.json lacks the sizes of a decoder-only transformer\n", spec);
        return 0;
    }
    return 1;
}

int bench_ops(int argc, char **argv) {
    cli_args a = {argc, argv, 2, "bench ops", "--backend= --ops= --shapes= --m= --min-time= --reference --json= --csv= --help -h", help};
    ops_plan p = {.shapes_name = "llama-3.1-8b", .ops = "copy,decode,matmul,layer", .min_time = 1.0,
                  .ms = {1, 2, 4, 8, 16, 32, 64, 512, 4096}, .n_m = 9};
    const char *list = NULL, *json = NULL, *csv = NULL, *arg, *inline_value;
    int is_option;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) return cli_usage_error("bench ops", "unexpected argument \"%s\"", arg);
        if (strcmp(arg, "--reference") == 0) {
            p.reference = 1;
            continue;
        }
        const char *v = cli_value(&a, arg, inline_value);
        if (!v) return CLI_USAGE;
        if (strcmp(arg, "--backend") == 0) list = v;
        else if (strcmp(arg, "--ops") == 0) {
            p.ops = v;
            for (const char *s = v; *s;) {
                size_t l = strcspn(s, ",");
                if (!((l == 4 && !strncmp(s, "copy", 4)) || (l == 6 && !strncmp(s, "decode", 6)) ||
                      (l == 6 && !strncmp(s, "matmul", 6)) || (l == 5 && !strncmp(s, "layer", 5))))
                    return cli_usage_error("bench ops", "--ops expects a list of copy, decode, matmul, layer; got \"%s\"", v);
                s += l + (s[l] == ',');
            }
        } else if (strcmp(arg, "--shapes") == 0) p.shapes_name = v;
        else if (strcmp(arg, "--m") == 0) {
            if ((p.n_m = bench_int_list("bench ops", "--m", v, 1, 65536, p.ms, MAX_M)) < 0) return CLI_USAGE;
        } else if (strcmp(arg, "--min-time") == 0) {
            if (!bench_parse_seconds("bench ops", arg, v, &p.min_time)) return CLI_USAGE;
        } else if (strcmp(arg, "--json") == 0) json = v;
        else if (strcmp(arg, "--csv") == 0) csv = v;
        else
            return cli_usage_error("bench ops", "unknown option %s", arg);
    }
    char names[BENCH_MAX_BACKENDS][16];
    int n_names = bench_backend_list("bench ops", list, names);
    if (n_names < 0) return CLI_USAGE;
    dfrt_config *cfg = NULL;
    if (!load_shapes(p.shapes_name, &cfg)) return CLI_FAIL;
    p.cfg = cfg;
    int64_t H = cfg->hidden_size, I = cfg->intermediate_size;
    op_model_matmuls(cfg, 1, p.shapes);

    bench_report r;
    layer_unit L = {0};
    int rc = CLI_OK;
    if (!bench_report_init(&r, "ops", argc, argv)) {
        dfrt_config_free(cfg);
        fprintf(stderr, "dfrt bench ops: out of memory\n");
        return CLI_FAIL;
    }
    cJSON *sj = cJSON_AddObjectToObject(r.root, "shapes");
    cJSON_AddStringToObject(sj, "name", p.shapes_name);
    cJSON_AddNumberToObject(sj, "hidden_size", (double)H);
    cJSON_AddNumberToObject(sj, "intermediate_size", (double)I);
    cJSON_AddNumberToObject(sj, "num_attention_heads", (double)cfg->n_heads);
    cJSON_AddNumberToObject(sj, "num_key_value_heads", (double)cfg->n_kv_heads);
    cJSON_AddNumberToObject(sj, "head_dim", (double)cfg->head_dim);
    cJSON_AddNumberToObject(sj, "vocab_size", (double)cfg->vocab_size);
    cli_install_interrupt_handler();
    if (!make_layer_unit(cfg, &L)) {
        rc = CLI_FAIL;
        goto done;
    }
    cJSON_AddNumberToObject(sj, "layer_weights", (double)L.n);
    cJSON_AddNumberToObject(sj, "layer_df11_bytes", (double)host_unit_bytes(&L.h));
    int measured = 0;
    for (int i = 0; i < n_names && !cli_cancel_flag; i++) {
        dfrt_backend *b;
        if (dfrt_backend_open(names[i], -1, &b) != DFRT_OK) {
            fprintf(stderr, "dfrt bench ops: %s: %s\n", names[i], dfrt_last_error());
            rc = CLI_FAIL;
            continue;
        }
        if (!bench_backend(&r, b, &p, &L)) rc = CLI_FAIL;
        snprintf(names[measured++], sizeof names[0], "%s", dfrt_backend_name(b));
        dfrt_backend_close(b);
    }
    if (cli_cancel_flag) {
        fprintf(stderr, "dfrt bench ops: interrupted\n");
        rc = CLI_INTERRUPTED;
        goto done;
    }
    if (p.head_state > 0) cJSON_AddNumberToObject(sj, "lm_head_df11_bytes", (double)host_unit_bytes(&p.head));
    if (measured) ops_print_table(&r, names, measured, &p, &L);
    if (json && !bench_write_json(&r, json)) rc = CLI_FAIL;
    if (csv && !bench_write_csv(&r, csv)) rc = CLI_FAIL;
done:
    layer_unit_free(&L);
    host_unit_free(&p.head);
    bench_report_free(&r);
    dfrt_config_free(cfg);
    return rc;
}
