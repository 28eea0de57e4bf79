/* dfrt bench: performance figures. `codec` measures the CPU DF11 compressor and decoders. */
#include "cli.h"

#include <math.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt bench codec [--weights N] [--std S] [--threads LIST] [--min-time SECONDS]\n"
    "       dfrt bench ops [--backend LIST] [--ops copy,decode,matmul] [--min-time SECONDS]\n"
    "       dfrt bench tokenizer (MODEL_DIR | tokenizer.json) [--text FILE] [--min-time SECONDS]\n"
    "\n"
    "ops: per backend (default: every available GPU backend, else the CPU), with device\n"
    "timestamps: the device's copy bandwidth; DF11 decode of a synthetic unit shaped like a\n"
    "Llama-3.1-8B decoder layer (218,103,808 normal weights, std 0.02) in G weights/s; matmul\n"
    "with W = 14336 x 4096 BF16 at M = 1, 8, 64, 512, 4096 in us, GB/s of weight traffic and\n"
    "TFLOP/s. Each figure: a warm-up, then samples for at least --min-time seconds (default 1);\n"
    "median, min and max.\n"
    "\n"
    "codec: the CPU DF11 compressor and decoders on one synthetic unit of normal weights\n"
    "(default 218,103,808 weights, a Llama-3.1-8B decoder layer; std 0.02). Compression runs\n"
    "on one core (units are compressed in parallel, each on one core); the indexed decoder runs\n"
    "with each thread count of LIST (default: 1 and every core); the sequential decoder on one\n"
    "core. Each figure: one warm-up, then repeats for at least --min-time seconds (default 1);\n"
    "median, min and max of the repeats, in M weights/s and per core.\n"
    "\n"
    "example:\n"
    "  dfrt bench codec --weights 200000000 --threads 1,2\n";

typedef struct stats {
    double median, min, max;
    int runs;
} stats;

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stats summarize(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, compare_doubles);
    stats s = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], t[n - 1], n};
    return s;
}

/* xorshift + Box-Muller, rounded to BF16 (nearest even). */
static uint16_t *normal_bf16(uint64_t n, double std) {
    uint16_t *w = malloc(n * sizeof *w);
    if (!w) return NULL;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint64_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            u[k] = ((double)(x >> 11) + 0.5) * 0x1.0p-53;
        }
        double r = std * sqrt(-2.0 * log(u[0])), a = 6.283185307179586 * u[1];
        float v[2] = {(float)(r * cos(a)), (float)(r * sin(a))};
        for (int k = 0; k < 2 && i + (uint64_t)k < n; k++) {
            uint32_t b;
            memcpy(&b, &v[k], 4);
            b += 0x7FFF + ((b >> 16) & 1);
            w[i + (uint64_t)k] = (uint16_t)(b >> 16);
        }
    }
    return w;
}

typedef enum { OP_ENCODE, OP_DECODE, OP_SEQUENTIAL } codec_op;

typedef struct codec_ctx {
    const uint16_t *weights;
    uint64_t n;
    const dfrt_df11_unit *unit;
    uint16_t *out;
} codec_ctx;

static dfrt_status run_op(codec_ctx *c, codec_op op, int threads) {
    if (op == OP_ENCODE) {
        dfrt_df11_encoded e;
        const uint16_t *parts[1] = {c->weights};
        dfrt_status s = dfrt_df11_encode("bench", 1, parts, &c->n, NULL, NULL, &e);
        dfrt_df11_encoded_free(&e);
        return s;
    }
    if (op == OP_DECODE) return dfrt_df11_decode(c->unit, c->out, threads);
    return dfrt_df11_decode_sequential(c->unit, c->out);
}

static int measure(codec_ctx *c, codec_op op, int threads, double min_time, stats *out) {
    double times[1000];
    int n = 0;
    if (run_op(c, op, threads) != DFRT_OK) return 0; /* warm-up */
    double start = cli_now();
    while (n < 1000 && (n < 3 || cli_now() - start < min_time)) {
        double t0 = cli_now();
        if (run_op(c, op, threads) != DFRT_OK) return 0;
        times[n++] = cli_now() - t0;
    }
    *out = summarize(times, n);
    return 1;
}

static void report(const char *what, int threads, uint64_t n, const stats *s) {
    double med = (double)n / s->median / 1e6;
    printf("  %-22s %3d  %9.1f  %9.1f  %9.1f  %9.1f  %5d\n", what, threads, med, (double)n / s->max / 1e6,
           (double)n / s->min / 1e6, med / threads, s->runs);
}

static int bench_codec(int argc, char **argv) {
    cli_args a = {argc, argv, 2, "bench codec"};
    double weights = 218103808.0, std = 0.02, min_time = 1.0;
    int thread_list[16], n_threads = 0, is_option;
    const char *arg, *inline_value;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        const char *v = NULL;
        if (!is_option) return cli_usage_error("bench codec", "unexpected argument \"%s\"", arg);
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (!(v = cli_value(&a, arg, inline_value))) return CLI_USAGE;
        char *end;
        if (strcmp(arg, "--weights") == 0) {
            weights = strtod(v, &end);
            if (*end || !(weights >= 1 && weights <= 4e9))
                return cli_usage_error("bench codec", "--weights expects 1 to 4e9, got \"%s\"", v);
        } else if (strcmp(arg, "--std") == 0) {
            std = strtod(v, &end);
            if (*end || !(std > 0 && std < 1e30)) return cli_usage_error("bench codec", "--std expects a positive number");
        } else if (strcmp(arg, "--min-time") == 0) {
            min_time = strtod(v, &end);
            if (*end || !(min_time >= 0 && min_time <= 600))
                return cli_usage_error("bench codec", "--min-time expects 0 to 600 seconds");
        } else if (strcmp(arg, "--threads") == 0) {
            n_threads = 0;
            for (char *p = (char *)v; *p;) {
                long t = strtol(p, &end, 10);
                if (end == p || t < 1 || t > 4096 || n_threads == 16 || (*end && *end != ','))
                    return cli_usage_error("bench codec", "--threads expects a list like 1,2,8");
                thread_list[n_threads++] = (int)t;
                p = *end ? end + 1 : end;
            }
        } else {
            return cli_usage_error("bench codec", "unknown option %s", arg);
        }
    }
    if (!n_threads) {
        thread_list[n_threads++] = 1;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (cores > 1) thread_list[n_threads++] = (int)cores;
    }
    codec_ctx c = {.n = (uint64_t)weights};
    fprintf(stderr, "generating %llu normal weights (std %g)...\n", (unsigned long long)c.n, std);
    uint16_t *w = normal_bf16(c.n, std);
    c.out = malloc(c.n * sizeof *c.out);
    if (!w || !c.out) {
        fprintf(stderr, "dfrt bench codec: out of memory for %llu weights\n", (unsigned long long)c.n);
        free(w);
        free(c.out);
        return CLI_FAIL;
    }
    c.weights = w;
    int rc = CLI_FAIL;
    stats st;
    dfrt_df11_encoded e = {0};
    const uint16_t *parts[1] = {w};
    if (dfrt_df11_encode("bench", 1, parts, &c.n, NULL, NULL, &e) != DFRT_OK) {
        rc = cli_fail("bench codec", DFRT_FORMAT_ERROR);
        goto done;
    }
    printf("DF11 codec on the CPU: %llu weights, normal std %g: %.4f bits per exponent, %.2f%% of BF16, %u tables\n",
           (unsigned long long)c.n, std, 8.0 * (double)e.n_bytes / (double)c.n,
           100.0 * (double)(e.n_bytes + e.n + e.gaps_bytes + 4ull * e.n_positions + 256ull * (e.n_tables + 1)) /
               (2.0 * (double)c.n),
           e.n_tables);
    /* The unit's six tensors, in memory. */
    dfrt_tensor t[6] = {
        {.name = "bench.luts", .dtype = DFRT_DTYPE_U8, .n_dims = 2, .shape = {e.n_tables + 1, 256}, .data = e.luts},
        {.name = "bench.encoded_exponent", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {(int64_t)e.n_bytes}, .data = e.stream},
        {.name = "bench.sign_mantissa", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {(int64_t)e.n}, .data = e.sign_mantissa},
        {.name = "bench.output_positions", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {4 * (int64_t)e.n_positions},
         .data = e.output_positions},
        {.name = "bench.gaps", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {(int64_t)e.gaps_bytes}, .data = e.gaps},
        {.name = "bench.split_positions", .dtype = DFRT_DTYPE_I64, .n_dims = 1, .shape = {0}, .data = e.split_positions},
    };
    for (int i = 0; i < 6; i++) {
        t[i].n_elements = (uint64_t)t[i].shape[0] * (t[i].n_dims == 2 ? (uint64_t)t[i].shape[1] : 1);
        t[i].n_bytes = t[i].n_elements * dfrt_dtype_size(t[i].dtype);
        t[i].file = "(memory)";
    }
    dfrt_df11_tensors ts = {&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]};
    dfrt_df11_unit unit;
    if (dfrt_df11_unit_init("bench", &ts, 0, NULL, &unit) != DFRT_OK) {
        rc = cli_fail("bench codec", DFRT_FORMAT_ERROR);
        goto done;
    }
    c.unit = &unit;
    printf("\n  %-22s %3s  %9s  %9s  %9s  %9s  %5s\n", "M weights/s", "thr", "median", "min", "max", "per core", "runs");
    if (!measure(&c, OP_ENCODE, 1, min_time, &st)) goto fail_unit;
    report("compress", 1, c.n, &st);
    for (int i = 0; i < n_threads; i++) {
        if (!measure(&c, OP_DECODE, thread_list[i], min_time, &st)) goto fail_unit;
        report("decode (indexed)", thread_list[i], c.n, &st);
    }
    if (!measure(&c, OP_SEQUENTIAL, 1, min_time, &st)) goto fail_unit;
    report("decode (sequential)", 1, c.n, &st);
    rc = memcmp(c.out, w, c.n * 2) == 0 ? CLI_OK : CLI_FAIL;
    if (rc != CLI_OK) fprintf(stderr, "dfrt bench codec: decoded weights differ from the input\n");
    dfrt_df11_unit_release(&unit);
    goto done;
fail_unit:
    rc = cli_fail("bench codec", DFRT_FORMAT_ERROR);
    dfrt_df11_unit_release(&unit);
done:
    dfrt_df11_encoded_free(&e);
    free(w);
    free(c.out);
    return rc;
}

/* ---- bench ops -------------------------------------------------------------------------------- */

typedef dfrt_status (*op_fn)(void *ctx);

/* Times op with device timestamps: samples of `reps` calls each, until min_time has passed. */
static int time_op(dfrt_backend *b, op_fn op, void *ctx, double min_time, stats *out) {
    double times[4000];
    int n = 0;
    double t0 = 0;
    if (op(ctx) != DFRT_OK || dfrt_backend_timer_begin(b) != DFRT_OK || op(ctx) != DFRT_OK ||
        dfrt_backend_timer_end(b, &t0) != DFRT_OK)
        return 0;
    int reps = t0 > 0 ? (int)(20.0 / t0) : 100; /* samples of about 20 ms */
    if (reps < 1) reps = 1;
    if (reps > 1000) reps = 1000;
    double start = cli_now();
    while (n < 4000 && (n < 5 || cli_now() - start < min_time)) {
        double ms;
        if (dfrt_backend_timer_begin(b) != DFRT_OK) return 0;
        for (int r = 0; r < reps; r++)
            if (op(ctx) != DFRT_OK) return 0;
        if (dfrt_backend_timer_end(b, &ms) != DFRT_OK) return 0;
        times[n++] = ms / reps;
    }
    *out = summarize(times, n);
    return 1;
}

typedef struct ops_ctx {
    dfrt_backend *b;
    dfrt_device_df11 *unit;
    dfrt_buffer *decoded, *x, *w, *y, *copy_src, *copy_dst;
    size_t copy_bytes;
    int64_t m, n, k;
} ops_ctx;

static dfrt_status op_copy(void *p) {
    ops_ctx *c = p;
    return dfrt_buffer_copy(c->copy_dst, 0, c->copy_src, 0, c->copy_bytes);
}
static dfrt_status op_decode(void *p) {
    ops_ctx *c = p;
    return dfrt_op_df11_decode(c->b, c->unit, 0, 0, c->decoded, 0);
}
static dfrt_status op_matmul(void *p) {
    ops_ctx *c = p;
    return dfrt_op_matmul(c->b, c->x, 0, c->w, 0, NULL, 0, c->y, 0, c->m, c->n, c->k);
}

/* The seven projections of a Llama-3.1-8B decoder layer as one DF11 unit. */
static int llama_layer_unit(dfrt_df11_encoded *e, dfrt_df11_unit *u, dfrt_tensor t[6], uint16_t **weights) {
    static const uint64_t shapes[7][2] = {{4096, 4096}, {1024, 4096}, {1024, 4096}, {4096, 4096},
                                          {14336, 4096}, {14336, 4096}, {4096, 14336}};
    uint64_t counts[7], n = 0;
    for (int i = 0; i < 7; i++) n += counts[i] = shapes[i][0] * shapes[i][1];
    fprintf(stderr, "generating and compressing a %llu-weight Llama-3.1-8B layer...\n", (unsigned long long)n);
    *weights = normal_bf16(n, 0.02);
    if (!*weights) return 0;
    const uint16_t *parts[7];
    uint64_t offset = 0;
    for (int i = 0; i < 7; i++) {
        parts[i] = *weights + offset;
        offset += counts[i];
    }
    if (dfrt_df11_encode("layer", 7, parts, counts, NULL, NULL, e) != DFRT_OK) return 0;
    t[0] = (dfrt_tensor){.name = "layer.luts", .dtype = DFRT_DTYPE_U8, .n_dims = 2, .shape = {e->n_tables + 1, 256}, .data = e->luts};
    t[1] = (dfrt_tensor){.name = "layer.encoded_exponent", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {(int64_t)e->n_bytes}, .data = e->stream};
    t[2] = (dfrt_tensor){.name = "layer.sign_mantissa", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {(int64_t)e->n}, .data = e->sign_mantissa};
    t[3] = (dfrt_tensor){.name = "layer.output_positions", .dtype = DFRT_DTYPE_U8, .n_dims = 1,
                         .shape = {4 * (int64_t)e->n_positions}, .data = e->output_positions};
    t[4] = (dfrt_tensor){.name = "layer.gaps", .dtype = DFRT_DTYPE_U8, .n_dims = 1, .shape = {(int64_t)e->gaps_bytes}, .data = e->gaps};
    t[5] = (dfrt_tensor){.name = "layer.split_positions", .dtype = DFRT_DTYPE_I64, .n_dims = 1, .shape = {6}, .data = e->split_positions};
    for (int i = 0; i < 6; i++) {
        t[i].n_elements = (uint64_t)t[i].shape[0] * (t[i].n_dims == 2 ? (uint64_t)t[i].shape[1] : 1);
        t[i].n_bytes = t[i].n_elements * dfrt_dtype_size(t[i].dtype);
        t[i].file = "(memory)";
    }
    dfrt_df11_tensors ts = {&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]};
    return dfrt_df11_unit_init("layer", &ts, 0, NULL, u) == DFRT_OK;
}

static void print_row(const char *what, const stats *s, const char *unit, double per_ms_to_unit) {
    printf("  %-34s %9.1f us  %9.1f %-9s (min %.1f, max %.1f)\n", what, 1e3 * s->median, per_ms_to_unit / s->median, unit,
           per_ms_to_unit / s->max, per_ms_to_unit / s->min);
}

static int bench_ops_backend(dfrt_backend *b, const dfrt_df11_unit *unit, const uint16_t *weights, double min_time,
                             const char *ops) {
    const dfrt_device_info *info = dfrt_backend_info(b);
    printf("\n%s: %s (%s, %s)\n", dfrt_backend_name(b), info->name, info->api_version, info->driver_version);
    ops_ctx c = {.b = b};
    stats st;
    int ok = 1;
    /* copy bandwidth: 1 GiB (256 MiB on small devices), read + write */
    c.copy_bytes = info->memory_bytes >= (16ull << 30) ? (1ull << 30) : (256ull << 20);
    if (!strstr(ops, "copy")) ok = 0;
    else if (dfrt_buffer_alloc(b, c.copy_bytes, &c.copy_src) != DFRT_OK || dfrt_buffer_alloc(b, c.copy_bytes, &c.copy_dst) != DFRT_OK ||
        dfrt_buffer_fill(c.copy_src, 0, c.copy_bytes, 1) != DFRT_OK)
        ok = 0;
    double copy_gbs = 0;
    if (ok && time_op(b, op_copy, &c, min_time, &st)) {
        copy_gbs = 2.0 * (double)c.copy_bytes / 1e6 / st.median;
        print_row("copy (read + write)", &st, "GB/s", 2.0 * (double)c.copy_bytes / 1e6);
    } else if (strstr(ops, "copy")) {
        printf("  copy: %s\n", dfrt_last_error());
    }
    dfrt_buffer_free(c.copy_src);
    dfrt_buffer_free(c.copy_dst);
    c.copy_src = c.copy_dst = NULL;
    /* DF11 decode of the layer */
    if (!strstr(ops, "decode")) {
    } else if (dfrt_df11_upload(b, unit, &c.unit) == DFRT_OK && dfrt_buffer_alloc(b, unit->n * 2, &c.decoded) == DFRT_OK &&
        time_op(b, op_decode, &c, min_time, &st)) {
        print_row("DF11 decode, Llama-3.1-8B layer", &st, "G w/s", (double)unit->n / 1e6);
        double bytes = 2.0 * (double)unit->n + (double)dfrt_device_df11_bytes(c.unit);
        printf("  %-34s %9s     %9.1f GB/s      (%.0f%% of copy)\n", "  traffic (compressed in, BF16 out)", "",
               bytes / 1e6 / st.median, copy_gbs > 0 ? 100.0 * bytes / 1e6 / st.median / copy_gbs : 0.0);
        uint16_t *check = malloc(unit->n * 2);
        if (check && dfrt_buffer_read(c.decoded, 0, check, unit->n * 2) == DFRT_OK)
            printf("  %-34s %s\n", "  bit-exact", memcmp(check, weights, unit->n * 2) == 0 ? "yes" : "NO");
        free(check);
    } else {
        printf("  decode: %s\n", dfrt_last_error());
    }
    dfrt_device_df11_free(c.unit);
    dfrt_buffer_free(c.decoded);
    /* matmul with W = 14336 x 4096 */
    c.n = 14336;
    c.k = 4096;
    static const int64_t ms[] = {1, 8, 64, 512, 4096};
    if (!strstr(ops, "matmul")) {
    } else if (dfrt_buffer_alloc(b, (size_t)(c.n * c.k * 2), &c.w) != DFRT_OK ||
        dfrt_buffer_write(c.w, 0, weights, (size_t)(c.n * c.k * 2)) != DFRT_OK ||
        dfrt_buffer_alloc(b, (size_t)(4096 * c.k * 4), &c.x) != DFRT_OK ||
        dfrt_buffer_fill(c.x, 0, (size_t)(4096 * c.k * 4), 0x3c) != DFRT_OK ||
        dfrt_buffer_alloc(b, (size_t)(4096 * c.n * 4), &c.y) != DFRT_OK) {
        printf("  matmul: %s\n", dfrt_last_error());
    } else {
        for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
            c.m = ms[i];
            char what[64];
            snprintf(what, sizeof what, "matmul M=%lld, W 14336x4096", (long long)c.m);
            if (!time_op(b, op_matmul, &c, min_time, &st)) {
                printf("  %s: %s\n", what, dfrt_last_error());
                continue;
            }
            double flop = 2.0 * (double)c.m * (double)c.n * (double)c.k;
            double wbytes = 2.0 * (double)c.n * (double)c.k;
            printf("  %-34s %9.1f us  %9.1f GB/s of W  %7.1f TFLOP/s\n", what, 1e3 * st.median, wbytes / 1e6 / st.median,
                   flop / 1e9 / st.median);
        }
    }
    dfrt_buffer_free(c.w);
    dfrt_buffer_free(c.x);
    dfrt_buffer_free(c.y);
    return 1;
}

static int bench_ops(int argc, char **argv) {
    cli_args a = {argc, argv, 2, "bench ops"};
    double min_time = 1.0;
    const char *list = NULL, *ops = "copy,decode,matmul", *arg, *inline_value;
    int is_option;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) return cli_usage_error("bench ops", "unexpected argument \"%s\"", arg);
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        const char *v = cli_value(&a, arg, inline_value);
        if (!v) return CLI_USAGE;
        if (strcmp(arg, "--backend") == 0) list = v;
        else if (strcmp(arg, "--ops") == 0) ops = v;
        else if (strcmp(arg, "--min-time") == 0) {
            char *end;
            min_time = strtod(v, &end);
            if (*end || !(min_time >= 0 && min_time <= 600))
                return cli_usage_error("bench ops", "--min-time expects 0 to 600 seconds");
        } else
            return cli_usage_error("bench ops", "unknown option %s", arg);
    }
    /* which backends */
    char names[8][16];
    int n_names = 0;
    if (list) {
        for (const char *p = list; *p && n_names < 8;) {
            size_t len = strcspn(p, ",");
            snprintf(names[n_names++], sizeof names[0], "%.*s", (int)len, p);
            p += len + (p[len] == ',');
        }
    } else {
        dfrt_device_info *devs;
        size_t nd;
        if (dfrt_device_list(&devs, &nd) != DFRT_OK) return cli_fail("bench ops", DFRT_DEVICE_ERROR);
        for (size_t i = 0; i < nd && n_names < 8; i++) {
            if (!devs[i].available || devs[i].type == DFRT_DEVICE_CPU) continue;
            int seen = 0;
            for (int j = 0; j < n_names; j++) seen |= strncmp(names[j], devs[i].backend, sizeof names[j]) == 0;
            if (!seen) snprintf(names[n_names++], sizeof names[0], "%s", devs[i].backend);
        }
        free(devs);
        if (!n_names) snprintf(names[n_names++], sizeof names[0], "cpu");
    }
    dfrt_df11_encoded e = {0};
    dfrt_df11_unit unit;
    dfrt_tensor t[6];
    uint16_t *weights = NULL;
    if (!llama_layer_unit(&e, &unit, t, &weights)) {
        int rc = cli_fail("bench ops", DFRT_FORMAT_ERROR);
        free(weights);
        dfrt_df11_encoded_free(&e);
        return rc;
    }
    printf("DF11 unit: %llu weights, %.2f%% of BF16, %u tables\n", (unsigned long long)unit.n,
           100.0 * (double)(e.n_bytes + e.n + e.gaps_bytes + 4ull * e.n_positions) / (2.0 * (double)unit.n), unit.n_tables);
    int rc = CLI_OK;
    for (int i = 0; i < n_names; i++) {
        dfrt_backend *b;
        if (dfrt_backend_open(names[i], -1, &b) != DFRT_OK) {
            printf("\n%s: %s\n", names[i], dfrt_last_error());
            rc = CLI_FAIL;
            continue;
        }
        bench_ops_backend(b, &unit, weights, min_time, ops);
        dfrt_backend_close(b);
    }
    dfrt_df11_unit_release(&unit);
    dfrt_df11_encoded_free(&e);
    free(weights);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "codec") == 0) return bench_codec(argc, argv);
    if (strcmp(argv[1], "ops") == 0) return bench_ops(argc, argv);
    if (strcmp(argv[1], "tokenizer") == 0) return bench_tokenizer(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark \"%s\" (available: codec, ops, tokenizer)", argv[1]);
}
