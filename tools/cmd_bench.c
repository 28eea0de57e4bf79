/* dfrt bench: performance figures. `codec` measures the CPU DF11 compressor and decoders. */
#include "bench.h"

#include <math.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt bench codec [--weights N] [--std S] [--threads LIST] [--min-time SECONDS]\n"
    "       dfrt bench ops [--backend LIST] [--shapes NAME|MODEL_DIR] [--m LIST] ...\n"
    "       dfrt bench model [MODEL_DIR | --synthetic NAME] [--backend LIST] [--batch LIST] ...\n"
    "       dfrt bench tokenizer (MODEL_DIR | tokenizer.json) [--text FILE] [--min-time SECONDS]\n"
    "\n"
    "ops: DF11 decode and matmuls per backend with device timestamps (dfrt bench ops --help).\n"
    "model: whole-model prefill and decode, DF11 against BF16, per backend and batch size\n"
    "(dfrt bench model --help).\n"
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

static int measure(codec_ctx *c, codec_op op, int threads, double min_time, bench_stats *out) {
    double times[1000];
    int n = 0;
    if (run_op(c, op, threads) != DFRT_OK) return 0; /* warm-up */
    double start = cli_now();
    while (n < 1000 && (n < 3 || cli_now() - start < min_time)) {
        double t0 = cli_now();
        if (run_op(c, op, threads) != DFRT_OK) return 0;
        times[n++] = cli_now() - t0;
    }
    *out = bench_summarize(times, n);
    return 1;
}

static void report(const char *what, int threads, uint64_t n, const bench_stats *s) {
    double med = (double)n / s->median / 1e6;
    printf("  %-22s %3d  %9.1f  %9.1f  %9.1f  %9.1f  %5d\n", what, threads, med, (double)n / s->max / 1e6,
           (double)n / s->min / 1e6, med / threads, s->runs);
}

static int bench_codec(int argc, char **argv) {
    cli_args a = {argc, argv, 2, "bench codec", "--weights= --std= --min-time= --threads= --help -h", help};
    double weights = 218103808.0, std = 0.02, min_time = 1.0;
    int thread_list[16], n_threads = 0, is_option;
    const char *arg, *inline_value;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        const char *v = NULL;
        if (!is_option) return cli_usage_error("bench codec", "unexpected argument \"%s\"", arg);
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
    uint16_t *w = bench_normal_bf16(c.n, std);
    c.out = malloc(c.n * sizeof *c.out);
    if (!w || !c.out) {
        fprintf(stderr, "dfrt bench codec: out of memory for %llu weights\n", (unsigned long long)c.n);
        free(w);
        free(c.out);
        return CLI_FAIL;
    }
    c.weights = w;
    int rc = CLI_FAIL;
    bench_stats st;
    dfrt_df11_encoded e = {0};
    const uint16_t *parts[1] = {w};
    if (dfrt_df11_encode("bench", 1, parts, &c.n, NULL, NULL, &e) != DFRT_OK) {
        rc = cli_fail("bench codec", DFRT_FORMAT_ERROR);
        goto done;
    }
    printf("DF11 codec on the CPU: %llu weights, normal std %g: %.4f bits per exponent, %.2f%% of BF16, %u tables\n",
           (unsigned long long)c.n, std, 8.0 * (double)e.n_bytes / (double)c.n,
           100.0 * (double)bench_unit_bytes(&e, 1) / (2.0 * (double)c.n),
           e.n_tables);
    bench_unit bu;
    if (bench_unit_init(&bu, "bench", &e, 1) != DFRT_OK) {
        rc = cli_fail("bench codec", DFRT_FORMAT_ERROR);
        goto done;
    }
    c.unit = &bu.unit;
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
    bench_unit_release(&bu);
    goto done;
fail_unit:
    rc = cli_fail("bench codec", DFRT_FORMAT_ERROR);
    bench_unit_release(&bu);
done:
    dfrt_df11_encoded_free(&e);
    free(w);
    free(c.out);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "codec") == 0) return bench_codec(argc, argv);
    if (strcmp(argv[1], "ops") == 0) return bench_ops(argc, argv);
    if (strcmp(argv[1], "model") == 0) return bench_model(argc, argv);
    if (strcmp(argv[1], "tokenizer") == 0) return bench_tokenizer(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark \"%s\" (available: codec, ops, model, tokenizer)", argv[1]);
}
