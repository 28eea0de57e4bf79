/* dfrt bench ops: the device's copy bandwidth, DF11 decode of one decoder layer, the matmuls
 * of a model's shapes, and a layer's decode + matmuls as the executor runs them, per backend,
 * with device timestamps. The decode and matmuls are cases of the op test's table
 * (tests/op_cases.h), run through the same op kinds: the test runs small shapes, this the
 * model's. */
#include "../tests/op_cases.h"
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt bench ops [--backend LIST] [--shapes NAME|MODEL_DIR] [--m LIST] [--ops LIST]\n"
    "                      [--min-time SECONDS] [--json FILE] [--csv FILE]\n"
    "\n"
    "Per backend (default: every available GPU backend, else the CPU), with device timestamps\n"
    "(CUDA events, Vulkan timestamp queries; the wall clock on the CPU):\n"
    "  copy     the device's copy bandwidth (read + write), the limit the other figures are\n"
    "           stated against;\n"
    "  decode   DF11 decode of one decoder layer's unit (the seven projections, random normal\n"
    "           weights with std 0.02) in G weights/s and GB/s (compressed in + BF16 out);\n"
    "  matmul   y = x W^T for each matmul the executor runs (qkv, o, gate_up, down, lm_head) at\n"
    "           M = 1, 8, 64, 512, 4096 rows (--m): us, GB/s of weights, TFLOP/s; successive\n"
    "           calls take successive copies of W from a 1 GiB set, so W comes from device\n"
    "           memory, not from a cache;\n"
    "  layer    one decoder layer as the executor runs it: DF11 decode + the four matmuls, and\n"
    "           the same matmuls on BF16 weights, at each M; the ratio is DF11 / BF16 time.\n"
    "--shapes: llama-3.1-8b (default), qwen3-8b, qwen3-4b, tiny, or a model directory's\n"
    "config.json. Each figure: warm-up, then samples for at least --min-time seconds (default\n"
    "1); median, min and max. --json and --csv write every figure.\n"
    "\n"
    "example:\n"
    "  dfrt bench ops --backend cuda,vulkan --shapes qwen3-8b --json ops.json\n";

#define MAX_M 8

typedef struct ops_ctx {
    dfrt_backend *b;
    dfrt_device_df11 *unit;
    dfrt_buffer *layer, *x, *y, *copy_src, *copy_dst;
    dfrt_buffer *wset; /* weights for the matmul figures: copies to rotate through */
    uint64_t wset_bytes, next;
    size_t copy_bytes;
    op_case *shapes; /* the layer's four matmuls first, in the order of their weights in the layer */
    op_case decode;  /* the whole layer unit */
    const op_case *cur;
    int with_decode;
} ops_ctx;

static dfrt_status op_copy(void *p) {
    ops_ctx *c = p;
    return dfrt_buffer_copy(c->copy_dst, 0, c->copy_src, 0, c->copy_bytes);
}

static dfrt_status op_decode(void *p) {
    ops_ctx *c = p;
    return op_case_run(c->b, &c->decode, (dfrt_tensor_arg[]){{c->layer, 0}}, c->unit);
}

/* A matmul case with its weights at w (Y, X, W, no bias). */
static dfrt_status run_matmul(ops_ctx *c, const op_case *mm, dfrt_tensor_arg w) {
    return op_case_run(c->b, mm, (dfrt_tensor_arg[]){{c->y, 0}, {c->x, 0}, w, {NULL, 0}}, NULL);
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

/* A layer's four matmuls on the weights of the layer block, after its decode. */
static dfrt_status op_layer(void *p) {
    ops_ctx *c = p;
    dfrt_status s = c->with_decode ? op_decode(c) : DFRT_OK;
    size_t at = 0;
    for (int i = 0; i < 4 && s == DFRT_OK; i++) {
        s = run_matmul(c, &c->shapes[i], (dfrt_tensor_arg){c->layer, at});
        at += 2 * (size_t)(c->shapes[i].s[1] * c->shapes[i].s[2]);
    }
    return s;
}

/* The model's layer as one DF11 unit: q, k, v, o, gate, up, down (the reference's order). */
typedef struct layer_unit {
    dfrt_df11_encoded e;
    bench_unit u;
    uint16_t *weights;
    uint64_t n;
} layer_unit;

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
    dfrt_df11_encoded *e = &L->e;
    if (dfrt_df11_encode("layer", 7, parts, counts, NULL, NULL, e) != DFRT_OK) return cli_fail("bench ops", DFRT_FORMAT_ERROR), 0;
    if (bench_unit_init(&L->u, "layer", e, 7) != DFRT_OK) return cli_fail("bench ops", DFRT_FORMAT_ERROR), 0;
    return 1;
}

static void layer_unit_free(layer_unit *L) {
    bench_unit_release(&L->u);
    dfrt_df11_encoded_free(&L->e);
    free(L->weights);
}

typedef struct ops_plan {
    const dfrt_config *cfg;
    const char *shapes_name;
    op_case shapes[OP_MODEL_MATMULS]; /* qkv, o, gate_up, down, lm_head (op_model_matmuls) */
    int ms[MAX_M], n_m;
    const char *ops;
    double min_time;
} ops_plan;

static int wants(const ops_plan *p, const char *op) {
    size_t len = strlen(op);
    for (const char *s = p->ops; *s;) {
        size_t l = strcspn(s, ",");
        if (l == len && strncmp(s, op, len) == 0) return 1;
        s += l + (s[l] == ',');
    }
    return 0;
}

static void note_failure(const char *backend, const char *what) {
    fprintf(stderr, "dfrt bench ops: %s: %s: %s\n", backend, what, dfrt_last_error());
}

/* Measures one backend; figures go into the report. Returns 0 when something failed. */
static int bench_backend(bench_report *r, dfrt_backend *b, ops_plan *p, const layer_unit *L) {
    const char *bn = dfrt_backend_name(b);
    const dfrt_device_info *info = dfrt_backend_info(b);
    cJSON *bj = bench_report_backend(r, b);
    ops_ctx c = {.b = b, .shapes = p->shapes, .decode = {DFRT_OP_DF11_DECODE, {0, 0}, .name = "layer", .unit = &L->u.unit}};
    bench_stats st;
    int ok = 1;
    double copy_gbs = NAN;
    fprintf(stderr, "dfrt bench ops: %s: %s\n", bn, info->name);

    if (wants(p, "copy")) {
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
    int need_unit = wants(p, "decode") || wants(p, "layer");
    if (need_unit && dfrt_df11_upload(b, &L->u.unit, &c.unit) != DFRT_OK) {
        note_failure(bn, "DF11 upload");
        dfrt_buffer_free(c.layer);
        return 0;
    }
    if (wants(p, "decode")) {
        if (bench_time_op(b, op_decode, &c, p->min_time, &st)) {
            cJSON *f = bench_figure(r, bn, "df11_decode");
            double traffic = 2.0 * (double)L->n + (double)dfrt_device_df11_bytes(c.unit);
            cJSON_AddStringToObject(f, "shape", "layer");
            cJSON_AddNumberToObject(f, "weights", (double)L->n);
            cJSON_AddNumberToObject(f, "compressed_bytes", (double)bench_unit_bytes(&L->e, 7));
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
    if ((wants(p, "matmul") || wants(p, "layer")) && ok) {
        /* The rotation set: at least 1 GiB (256 MiB on small devices) and the largest W
         * (lm_head), filled with the layer's weights repeated (values do not matter for timing). */
        const op_case *head = &p->shapes[4];
        uint64_t head_bytes = (2 * (uint64_t)head->s[1] * (uint64_t)head->s[2] + 255) & ~(uint64_t)255;
        c.wset_bytes = info->memory_bytes >= (16ull << 30) ? (1ull << 30) : (256ull << 20);
        if (head_bytes > c.wset_bytes) c.wset_bytes = head_bytes;
        if (dfrt_buffer_alloc(b, (size_t)(max_m * max_k * 4), &c.x) != DFRT_OK ||
            dfrt_buffer_fill(c.x, 0, (size_t)(max_m * max_k * 4), 0x3c) != DFRT_OK ||
            dfrt_buffer_alloc(b, (size_t)(max_m * max_n * 4), &c.y) != DFRT_OK ||
            (wants(p, "matmul") && dfrt_buffer_alloc(b, c.wset_bytes, &c.wset) != DFRT_OK)) {
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
    }
    for (int si = 0; si < OP_MODEL_MATMULS && ok && wants(p, "matmul"); si++) {
        op_case *mm = &p->shapes[si];
        c.cur = mm;
        for (int mi = 0; mi < p->n_m && !cli_cancel_flag; mi++) {
            mm->s[0] = p->ms[mi];
            if (!bench_time_op(b, op_matmul, &c, p->min_time, &st)) {
                char what[64];
                snprintf(what, sizeof what, "matmul %s M=%lld", mm->name, (long long)mm->s[0]);
                note_failure(bn, what);
                ok = 0;
                continue;
            }
            cJSON *f = bench_figure(r, bn, "matmul");
            cJSON_AddStringToObject(f, "shape", mm->name);
            cJSON_AddNumberToObject(f, "m", (double)mm->s[0]);
            cJSON_AddNumberToObject(f, "n", (double)mm->s[1]);
            cJSON_AddNumberToObject(f, "k", (double)mm->s[2]);
            double flop = 2.0 * (double)mm->s[0] * (double)mm->s[1] * (double)mm->s[2];
            bench_metric(f, "time_us", 1e3 * st.median, 1e3 * st.min, 1e3 * st.max, "us", st.runs);
            bench_rate(f, "gb_per_s", 2.0 * (double)mm->s[1] * (double)mm->s[2] / 1e6, &st, "GB/s");
            bench_rate(f, "tflop_per_s", flop / 1e9, &st, "TFLOP/s");
            if (!isnan(copy_gbs)) cJSON_AddNumberToObject(f, "percent_of_copy", 100.0 * bench_median(f, "gb_per_s") / copy_gbs);
        }
    }
    uint64_t layer_weights = 0;
    for (int i = 0; i < 4; i++) layer_weights += (uint64_t)p->shapes[i].s[1] * (uint64_t)p->shapes[i].s[2];
    for (int mi = 0; mi < p->n_m && ok && wants(p, "layer") && !cli_cancel_flag; mi++) {
        for (int i = 0; i < 4; i++) p->shapes[i].s[0] = p->ms[mi];
        double t[2];
        for (int df11 = 1; df11 >= 0; df11--) {
            c.with_decode = df11;
            if (!bench_time_op(b, op_layer, &c, p->min_time, &st)) {
                note_failure(bn, "layer");
                ok = 0;
                break;
            }
            cJSON *f = bench_figure(r, bn, "layer");
            cJSON_AddStringToObject(f, "format", df11 ? "df11" : "bf16");
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
    dfrt_device_df11_free(c.unit);
    dfrt_buffer_free(c.layer);
    dfrt_buffer_free(c.wset);
    dfrt_buffer_free(c.x);
    dfrt_buffer_free(c.y);
    return ok && !cli_cancel_flag;
}

/* ---- the table ----------------------------------------------------------------------------- */

/* One cell: "time us  rate unit  pct  [TFLOP/s]". */
static void cell(char *out, size_t size, const cJSON *f, const char *rate, const char *unit, int tflops) {
    if (!f) {
        snprintf(out, size, "-");
        return;
    }
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(f, "percent_of_copy");
    char p[16] = "", x[24] = "";
    if (cJSON_IsNumber(pct)) snprintf(p, sizeof p, "%3.0f%%", pct->valuedouble);
    if (tflops) snprintf(x, sizeof x, " %7.1f TF", bench_median(f, "tflop_per_s"));
    snprintf(out, size, "%9.1f us %8.1f %-4s %4s%s", bench_median(f, "time_us"), bench_median(f, rate), unit, p, x);
}

static void print_row(const char *label, const bench_report *r, char names[][16], int n, const char *figure,
                      const char *shape, const char *format, double m, const char *rate, const char *unit, int tflops) {
    printf("%-26s", label);
    double first = NAN;
    for (int i = 0; i < n; i++) {
        const cJSON *f = bench_find(r, names[i], figure, shape, format, m, NAN);
        char c[96];
        cell(c, sizeof c, f, rate, unit, tflops);
        printf("  %-44s", c);
        double v = f ? bench_median(f, rate) : NAN;
        if (i == 0) first = v;
        else if (i == 1) printf("  %5.2f", v / first);
    }
    const cJSON *df = bench_find(r, names[0], figure, shape, format, m, NAN);
    const cJSON *ratio = df ? cJSON_GetObjectItemCaseSensitive(df, "df11_over_bf16_time") : NULL;
    if (cJSON_IsNumber(ratio)) printf("  DF11/BF16 time %.2f", ratio->valuedouble);
    printf("\n");
}

static void print_table(const bench_report *r, char names[][16], int n, const ops_plan *p) {
    const dfrt_config *cfg = p->cfg;
    printf("\ndfrt bench ops, shapes of %s (hidden %lld, intermediate %lld, heads %lld/%lld x %lld, vocab %lld)\n",
           p->shapes_name, (long long)cfg->hidden_size, (long long)cfg->intermediate_size, (long long)cfg->n_heads,
           (long long)cfg->n_kv_heads, (long long)cfg->head_dim, (long long)cfg->vocab_size);
    printf("median of samples; %% = share of the device's copy bandwidth (read + write)\n\n");
    printf("%-26s", "");
    for (int i = 0; i < n; i++) {
        char h[45];
        bench_backend_label(r, i, names[i], h, sizeof h);
        printf("  %-44s", h);
        if (i == 1) printf("  %.6s/%.6s", names[1], names[0]);
    }
    printf("\n");
    print_row("copy (read + write)", r, names, n, "copy", NULL, NULL, NAN, "gb_per_s", "GB/s", 0);
    print_row("DF11 decode, layer", r, names, n, "df11_decode", "layer", NULL, NAN, "g_weights_per_s", "Gw/s", 0);
    print_row("  traffic (in + out)", r, names, n, "df11_decode", "layer", NULL, NAN, "gb_per_s", "GB/s", 0);
    for (int si = 0; si < OP_MODEL_MATMULS; si++)
        for (int mi = 0; mi < p->n_m; mi++) {
            char label[64];
            snprintf(label, sizeof label, "%s %lldx%lld M=%d", p->shapes[si].name, (long long)p->shapes[si].s[1],
                     (long long)p->shapes[si].s[2], p->ms[mi]);
            if (bench_find(r, names[0], "matmul", p->shapes[si].name, NULL, p->ms[mi], NAN))
                print_row(label, r, names, n, "matmul", p->shapes[si].name, NULL, p->ms[mi], "gb_per_s", "GB/s", 1);
        }
    for (int mi = 0; mi < p->n_m; mi++)
        for (int df11 = 1; df11 >= 0; df11--) {
            char label[64];
            snprintf(label, sizeof label, "layer %s M=%d", df11 ? "DF11" : "BF16", p->ms[mi]);
            if (bench_find(r, names[0], "layer", NULL, df11 ? "df11" : "bf16", p->ms[mi], NAN))
                print_row(label, r, names, n, "layer", NULL, df11 ? "df11" : "bf16", p->ms[mi], "g_weights_per_s", "Gw/s", 0);
        }
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
    cli_args a = {argc, argv, 2, "bench ops", "--backend= --ops= --shapes= --m= --min-time= --json= --csv= --help -h", help};
    ops_plan p = {.shapes_name = "llama-3.1-8b", .ops = "copy,decode,matmul,layer", .min_time = 1.0,
                  .ms = {1, 8, 64, 512, 4096}, .n_m = 5};
    const char *list = NULL, *json = NULL, *csv = NULL, *arg, *inline_value;
    int is_option;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) return cli_usage_error("bench ops", "unexpected argument \"%s\"", arg);
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
    cJSON_AddNumberToObject(sj, "layer_df11_bytes", (double)bench_unit_bytes(&L.e, 7));
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
    if (measured) {
        printf("DF11 layer unit: %llu weights, %.2f%% of BF16\n", (unsigned long long)L.n,
               100.0 * (double)bench_unit_bytes(&L.e, 7) / (2.0 * (double)L.n));
        print_table(&r, names, measured, &p);
    }
    if (json && !bench_write_json(&r, json)) rc = CLI_FAIL;
    if (csv && !bench_write_csv(&r, csv)) rc = CLI_FAIL;
done:
    layer_unit_free(&L);
    bench_report_free(&r);
    dfrt_config_free(cfg);
    return rc;
}
