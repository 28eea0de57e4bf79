/* dfrt bench model: whole-model prefill and decode speed, time to first token and peak device
 * memory, for a DF11 model and its BF16 twin, per backend and batch size. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: dfrt bench model [MODEL_DIR | --synthetic NAME] [--backend LIST] [--batch LIST]\n"
    "                        [--prompt-len P] [--gen G] [--formats df11,bf16] [--min-time SECONDS]\n"
    "                        [--kv-cache bf16|f32] [--max-rows N] [--eager] [--profile] [--cache DIR]\n"
    "                        [--threads N] [--offload-layers N | --gpu-memory GB]\n"
    "                        [--devices I,J,... [--split layer|tensor] [--tensor-split A,B,...]]\n"
    "                        [--in-memory [--host-memory GB]]\n"
    "                        [--json FILE] [--csv FILE] [--plot FILE.svg]\n"
    "\n"
    "Runs the model on each backend (default: every available GPU backend, else the CPU) for\n"
    "each batch size of --batch (default 1,8,64): B sequences of a P-token prompt of random ids\n"
    "(default 128), then G greedy tokens each (default 64, end-of-sequence ignored). Reports\n"
    "prefill tokens/s (B x P / prefill time), decode tokens/s (tokens after the first / their\n"
    "time), time to first token and peak device memory (the model loaded for that batch size:\n"
    "weights, scratch, KV cache for P + G positions, activations); wall clock; the KV cache's\n"
    "bytes (kv_cache_bytes, and per position of a sequence). Also the DF11\n"
    "weights' size in the files and in each backend's device memory (its layout of DF11\n"
    "units, dfrt_df11_device_bytes; the other tensors as stored). A warm-up run,\n"
    "then runs until at least --min-time seconds (default 1) and at least 2; medians with min\n"
    "and max.\n"
    "\n"
    "The DF11 model and its BF16 twin both run (--formats to choose): with --synthetic, models\n"
    "with the shapes of llama-3.1-8b, qwen3-8b, qwen3-4b, llama-3.3-70b, qwen3-32b or tiny and\n"
    "random normal weights (std 0.02), built by dfrt and cached under --cache (default\n"
    "$DFRT_CACHE_DIR, else $XDG_CACHE_HOME/dfrt, else ~/.cache/dfrt); with MODEL_DIR, the twin\n"
    "is made by decompressing (or compressing) it into the cache. Greedy tokens of the DF11 and\n"
    "BF16 runs are compared.\n"
    "\n"
    "--in-memory: the synthetic model is built in host memory instead, the same weights with no\n"
    "file written, each format right before its runs (the DF11 one unit by unit, without its BF16\n"
    "twin whole). A format larger than host memory (the machine's, or --host-memory GB where a\n"
    "VM reports less than it has) is reported as not fitting.\n"
    "\n"
    "Decode steps run as recorded graphs where the backend records work (CUDA graphs: one launch\n"
    "a step instead of one per op); --eager runs every step op by op instead. --profile (implies\n"
    "--eager): after the timed runs, one more in which each op is timed alone on the device;\n"
    "prints each op's device time per decode step beside the step's time. The KV cache holds\n"
    "BF16 keys and values (--kv-cache bf16, the default) or fp32 ones (--kv-cache f32).\n"
    "--max-rows: token rows per forward pass (dfrt_model_options.max_rows; default 2048, 512 on\n"
    "the CPU): longer prefills go in pieces of that many rows.\n"
    "\n"
    "--offload-layers N / --gpu-memory GB: the DF11 runs keep layers in host memory (dfrt run's\n"
    "options); the bench first measures host->device copies (figure \"h2d\") and reports the\n"
    "bytes copied per pass and the tokens/s those copies alone would allow.\n"
    "\n"
    "--devices I,J,... [--split layer|tensor] [--tensor-split A,B,...]: both formats run split\n"
    "over those devices of each backend (dfrt run's layer split or tensor parallelism; an index\n"
    "may repeat: logical devices on one GPU).\n"
    "Peak device memory is then the largest device's; the JSON lists each device's layers and\n"
    "peak (\"split\").\n"
    "\n"
    "--json and --csv write every figure; --plot draws tokens/s against batch size as SVG.\n"
    "\n"
    "example:\n"
    "  dfrt bench model --synthetic llama-3.1-8b --backend cuda,vulkan --batch 1,8,64 --plot sweep.svg\n";

#define MAX_BATCHES 16

typedef struct model_plan {
    const char *dirs[2]; /* df11, bf16 (NULL: not run) */
    dfrt_checkpoint *cps[2]; /* --in-memory: the model being run, built in memory */
    int batches[MAX_BATCHES], n_batches;
    int prompt_len, gen;
    double min_time;
    int eager;  /* dfrt_model_options.eager */
    int profile; /* --profile: a further run with every op timed alone (eager) */
    int kv_f32; /* dfrt_model_options.kv_f32 */
    int max_rows; /* dfrt_model_options.max_rows (0: its default) */
    dfrt_model_options offload; /* DF11 runs: offload_layers, weight_budget */
    double h2d_bytes_per_s;     /* measured on the backend when offloading (0: not) */
} model_plan;

static const char *const format_names[2] = {"df11", "bf16"};

/* ---- the cache and the models --------------------------------------------------------------- */

static char *default_cache_dir(void) {
    const char *env = getenv("DFRT_CACHE_DIR");
    if (env && *env) return strdup(env);
    char buf[4096];
    env = getenv("XDG_CACHE_HOME");
    if (env && *env) {
        snprintf(buf, sizeof buf, "%s/dfrt", env);
        return strdup(buf);
    }
    env = getenv("HOME");
    if (env && *env) {
        snprintf(buf, sizeof buf, "%s/.cache/dfrt", env);
        return strdup(buf);
    }
    return NULL;
}

static int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int mkdir_p(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return 0;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return 0;
        *p = '/';
    }
    return mkdir(buf, 0777) == 0 || errno == EEXIST;
}

/* The twin of a user's model directory: <cache>/twins/<name>-<hash of path, config size and
 * mtime>/<format>, made by decompressing (DF11 -> BF16) or compressing (BF16 -> DF11). */
static char *make_twin(const char *dir, int dir_is_df11, const char *cache, int threads) {
    char *real = realpath(dir, NULL);
    char cfg_path[4096];
    struct stat st = {0};
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    stat(cfg_path, &st);
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = real ? real : dir; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ (uint64_t)st.st_size) * 0x100000001b3ull;
    h = (h ^ (uint64_t)st.st_mtime) * 0x100000001b3ull;
    const char *base = strrchr(real ? real : dir, '/');
    base = base ? base + 1 : (real ? real : dir);
    char parent[4096], out[4200];
    snprintf(parent, sizeof parent, "%s/twins/%.100s-%016llx", cache, base, (unsigned long long)h);
    snprintf(out, sizeof out, "%s/%s", parent, dir_is_df11 ? "bf16" : "df11");
    free(real);
    if (dir_exists(out)) return strdup(out);
    if (!mkdir_p(parent)) {
        fprintf(stderr, "dfrt bench model: cannot create %s: %s\n", parent, strerror(errno));
        return NULL;
    }
    cli_progress prog;
    char label[64];
    snprintf(label, sizeof label, "%s the %s twin", dir_is_df11 ? "decompressing" : "compressing",
             dir_is_df11 ? "BF16" : "DF11");
    cli_progress_init(&prog, label);
    prog.log_lines = 1;
    fprintf(stderr, "dfrt bench model: %s of %s into %s\n", label, dir, out);
    dfrt_status s;
    if (dir_is_df11) {
        dfrt_decompress_options o = {.n_threads = threads, .progress = cli_progress_cb, .progress_user = &prog,
                                     .cancel = &cli_cancel_flag};
        s = dfrt_decompress_dir(dir, out, &o);
    } else {
        dfrt_compress_options o = {.n_threads = threads, .progress = cli_progress_cb, .progress_user = &prog,
                                   .cancel = &cli_cancel_flag};
        s = dfrt_compress_dir(dir, out, &o);
    }
    cli_progress_finish(&prog);
    if (s != DFRT_OK) {
        cli_fail("bench model", s);
        return NULL;
    }
    return strdup(out);
}

/* ---- one run -------------------------------------------------------------------------------- */

typedef struct run_state {
    double start, first_token;
    dfrt_op_profile *profile; /* emptied at the first token: what follows is decode steps */
    int32_t *tokens; /* sequence 0's tokens, when recording */
    int n_tokens, cap;
} run_state;

static bool on_token(void *user, int sequence, int32_t token) {
    run_state *s = user;
    if (s->first_token == 0) {
        s->first_token = cli_now();
        if (s->profile) *s->profile = (dfrt_op_profile){0};
    }
    if (sequence == 0 && s->tokens && s->n_tokens < s->cap) s->tokens[s->n_tokens++] = token;
    return !cli_cancel_flag;
}

#define MAX_RUNS 64

/* Host to device copies from dfrt_host_alloc memory, as offloading makes them (dfrt_host_copy): the median of
 * 5 copies of 512 MiB, in bytes/s (0 when the memory is not there). */
static double h2d_rate(dfrt_backend *b) {
    const size_t size = (size_t)512 << 20;
    void *host = dfrt_host_alloc(b, size);
    dfrt_buffer *dev = NULL;
    double rate[5], best = 0;
    int n = 0;
    if (host && dfrt_buffer_alloc(b, size, &dev) == DFRT_OK) {
        memset(host, 0x5A, size);
        for (int i = 0; i < 6; i++) { /* the first is a warm-up */
            double t0 = cli_now();
            if (dfrt_host_copy(dev, 0, host, size) != DFRT_OK || dfrt_backend_synchronize(b) != DFRT_OK) break;
            if (i) rate[n++] = (double)size / (cli_now() - t0);
        }
    }
    dfrt_buffer_free(dev);
    dfrt_host_free(b, host);
    if (n) best = bench_summarize(rate, n).median;
    return best;
}

/* A model that does not fit (dfrt_last_error says why): said and recorded, not a failure. */
static void record_no_fit(bench_report *r, const char *bn, int format, int batch) {
    fprintf(stderr, "dfrt bench model: %s %s batch %d: does not fit: %s\n", bn, format_names[format], batch,
            dfrt_last_error());
    cJSON *f = bench_figure(r, bn, "model");
    cJSON_AddStringToObject(f, "format", format_names[format]);
    cJSON_AddNumberToObject(f, "batch", batch);
    cJSON_AddBoolToObject(f, "fits", false);
    cJSON_AddStringToObject(f, "reason", dfrt_last_error());
}

/* Loads the model for `batch` sequences, runs it and records a figure. */
static int bench_one(bench_report *r, dfrt_backend *b, const model_plan *p, int format, int batch,
                     const int32_t *prompt) {
    const char *bn = dfrt_backend_name(b);
    dfrt_model_options mo = {.max_context = p->prompt_len + p->gen, .max_batch = batch, .eager = p->eager,
                             .kv_f32 = p->kv_f32, .max_rows = p->max_rows};
    cli_placement(&mo, &p->offload); /* the split for both formats, offloading for DF11 only */
    if (format != 0) mo.offload_layers = 0, mo.weight_budget = 0;
    dfrt_model *m;
    fprintf(stderr, "dfrt bench model: %s %s batch %d: loading...\n", bn, format_names[format], batch);
    dfrt_backend_reset_peak(b);
    double t0 = cli_now();
    dfrt_status ls = p->cps[format] ? dfrt_model_load_checkpoint(b, p->cps[format], &mo, &m)
                                    : dfrt_model_load(b, p->dirs[format], &mo, &m);
    if (ls == DFRT_OUT_OF_MEMORY) { /* a finding, not a failure: say so, and record it */
        record_no_fit(r, bn, format, batch);
        return 1;
    }
    if (ls != DFRT_OK) {
        fprintf(stderr, "dfrt bench model: %s %s batch %d: %s\n", bn, format_names[format], batch, dfrt_last_error());
        return 0;
    }
    double load_s = cli_now() - t0;
    int32_t *tokens = malloc((size_t)p->gen * sizeof *tokens);
    run_state rs = {.tokens = tokens, .cap = tokens ? p->gen : 0};
    dfrt_generate_options go = {.sampling = {.temperature = 0}, .n_sequences = batch, .ignore_eos = true,
                                .on_token = on_token, .user = &rs};
    dfrt_generate_stats gs;
    double prefill[MAX_RUNS], decode[MAX_RUNS], ttft[MAX_RUNS];
    int runs = 0, ok = 1;
    /* warm-up: the prompt and two steps */
    go.max_new_tokens = p->gen < 3 ? p->gen : 3;
    rs.tokens = NULL;
    if (dfrt_generate(m, prompt, (size_t)p->prompt_len, &go, &gs) != DFRT_OK) ok = 0;
    rs.tokens = tokens;
    go.max_new_tokens = p->gen;
    double start = cli_now();
    uint64_t copied0 = 0, copied1 = 0;
    int offloaded = dfrt_model_offloaded_layers(m, NULL, &copied0);
    while (ok && !cli_cancel_flag && runs < MAX_RUNS && (runs < 2 || cli_now() - start < p->min_time)) {
        rs.first_token = 0;
        rs.start = cli_now();
        if (dfrt_generate(m, prompt, (size_t)p->prompt_len, &go, &gs) != DFRT_OK) {
            ok = 0;
            break;
        }
        if (cli_cancel_flag) break;
        if (gs.generated_tokens != batch * p->gen || gs.prefill_seconds <= 0 || gs.decode_seconds <= 0) {
            fprintf(stderr, "dfrt bench model: %s %s batch %d: %d tokens generated, expected %d\n", bn,
                    format_names[format], batch, gs.generated_tokens, batch * p->gen);
            ok = 0;
            break;
        }
        prefill[runs] = (double)batch * p->prompt_len / gs.prefill_seconds;
        decode[runs] = (double)(gs.generated_tokens - batch) / gs.decode_seconds;
        ttft[runs] = 1e3 * (rs.first_token - rs.start);
        runs++;
        rs.tokens = NULL; /* sequence 0's tokens of the first run */
    }
    dfrt_model_offloaded_layers(m, NULL, &copied1);
    /* --profile: one more run, each op timed alone; its decode steps' device time per op */
    dfrt_op_profile prof = {0};
    double prof_steps = 0;
    if (ok && runs && p->profile && !cli_cancel_flag) {
        rs.first_token = 0;
        rs.profile = &prof;
        dfrt_backend_set_profile(b, &prof);
        dfrt_status st = dfrt_generate(m, prompt, (size_t)p->prompt_len, &go, &gs);
        dfrt_backend_set_profile(b, NULL);
        rs.profile = NULL;
        if (st != DFRT_OK) ok = 0;
        else if (prof.status != DFRT_OK) {
            fprintf(stderr, "dfrt bench model: %s %s batch %d: --profile: the backend's timer failed: %s\n", bn,
                    format_names[format], batch, dfrt_last_error());
            ok = 0;
        }
        prof_steps = p->gen - 1;
    }
    if (!ok && !cli_cancel_flag)
        fprintf(stderr, "dfrt bench model: %s %s batch %d: %s\n", bn, format_names[format], batch, dfrt_last_error());
    if (ok && runs && !cli_cancel_flag) {
        cJSON *f = bench_figure(r, bn, "model");
        cJSON_AddStringToObject(f, "format", format_names[format]);
        cJSON_AddNumberToObject(f, "batch", batch);
        cJSON_AddNumberToObject(f, "prompt_len", p->prompt_len);
        cJSON_AddNumberToObject(f, "gen", p->gen);
        cJSON_AddBoolToObject(f, "eager", p->eager);
        bench_stats s = bench_summarize(prefill, runs);
        bench_metric(f, "prefill_tokens_per_s", s.median, s.min, s.max, "tokens/s", runs);
        s = bench_summarize(decode, runs);
        bench_metric(f, "decode_tokens_per_s", s.median, s.min, s.max, "tokens/s", runs);
        s = bench_summarize(ttft, runs);
        bench_metric(f, "ttft_ms", s.median, s.min, s.max, "ms", runs);
        /* a split: the largest device's peak (the one that decides whether it fits), and each one's */
        dfrt_model_device parts[DFRT_MAX_DEVICES];
        int n_parts = dfrt_model_devices(m, parts, DFRT_MAX_DEVICES);
        uint64_t peak = 0;
        cJSON *split = n_parts > 1 ? cJSON_AddArrayToObject(f, "split") : NULL;
        for (int i = 0; i < n_parts; i++) {
            uint64_t pk = dfrt_backend_peak_allocated(parts[i].backend);
            peak = pk > peak ? pk : peak;
            cJSON *d = split ? cJSON_CreateObject() : NULL;
            if (!d) continue;
            cJSON_AddNumberToObject(d, "device", dfrt_backend_info(parts[i].backend)->index);
            cJSON_AddNumberToObject(d, "first_layer", parts[i].first_layer);
            cJSON_AddNumberToObject(d, "n_layers", parts[i].n_layers);
            cJSON_AddNumberToObject(d, "peak_device_bytes", (double)pk);
            if (!cJSON_AddItemToArray(split, d)) cJSON_Delete(d);
        }
        cJSON_AddNumberToObject(f, "peak_device_bytes", (double)peak);
        cJSON_AddNumberToObject(f, "model_device_bytes", (double)dfrt_model_device_bytes(m));
        uint64_t kv_per_token;
        cJSON_AddNumberToObject(f, "kv_cache_bytes", (double)dfrt_model_kv_bytes(m, &kv_per_token));
        cJSON_AddNumberToObject(f, "kv_bytes_per_token", (double)kv_per_token);
        cJSON_AddStringToObject(f, "kv_cache", dfrt_kv_type_name(dfrt_model_kv_type(m)));
        cJSON_AddNumberToObject(f, "load_seconds", load_s);
        if (offloaded) { /* passes per run: the prefill and gen - 1 decode steps */
            double per_pass = (double)(copied1 - copied0) / runs / p->gen;
            cJSON_AddNumberToObject(f, "offloaded_layers", offloaded);
            cJSON_AddNumberToObject(f, "offload_bytes_per_pass", per_pass);
            if (p->h2d_bytes_per_s > 0 && per_pass > 0) {
                double bound = p->h2d_bytes_per_s / per_pass * batch; /* tokens/s if copies were all */
                cJSON_AddNumberToObject(f, "offload_bound_tokens_per_s", bound);
                fprintf(stderr, "dfrt bench model: %s df11 batch %d: %d layers offloaded, %.2f GB copied per pass; "
                        "host->device %.1f GB/s allows %.2f tokens/s; decode %.2f tokens/s = %.2fx that\n",
                        bn, batch, offloaded, per_pass / 1e9, p->h2d_bytes_per_s / 1e9, bound,
                        bench_median(f, "decode_tokens_per_s"), bench_median(f, "decode_tokens_per_s") / bound);
            }
        }
        cJSON_AddNumberToObject(f, "runs", runs);
        if (prof_steps > 0) { /* microseconds per decode step, per op */
            cJSON *pj = cJSON_AddObjectToObject(f, "profile_us_per_step");
            double total = 0;
            for (int op = 0; pj && op < DFRT_OP_COUNT; op++) {
                if (!prof.calls[op]) continue;
                cJSON *o = cJSON_AddObjectToObject(pj, dfrt_op_name((dfrt_op)op));
                cJSON_AddNumberToObject(o, "us", 1e3 * prof.ms[op] / prof_steps);
                cJSON_AddNumberToObject(o, "calls", (double)prof.calls[op] / prof_steps);
                total += 1e3 * prof.ms[op] / prof_steps;
            }
            cJSON_AddNumberToObject(f, "profile_device_us_per_step", total);
        }
        cJSON *t = cJSON_AddArrayToObject(f, "tokens");
        for (int i = 0; t && i < rs.n_tokens; i++) cJSON_AddItemToArray(t, cJSON_CreateNumber(tokens[i]));
        fprintf(stderr, "dfrt bench model: %s %s batch %d: prefill %.1f tokens/s, decode %.1f tokens/s, TTFT %.1f ms\n", bn,
                format_names[format], batch, bench_median(f, "prefill_tokens_per_s"), bench_median(f, "decode_tokens_per_s"),
                bench_median(f, "ttft_ms"));
    }
    free(tokens);
    dfrt_model_free(m);
    return ok && !cli_cancel_flag;
}

/* DF11 and BF16 runs of the same backend and batch: the same greedy tokens? */
static void compare_tokens(bench_report *r, char names[][16], int n, const model_plan *p) {
    for (int i = 0; i < n; i++)
        for (int bi = 0; bi < p->n_batches; bi++) {
            cJSON *d = (cJSON *)bench_find(r, names[i], "model", NULL, "df11", NAN, p->batches[bi]);
            const cJSON *f = bench_find(r, names[i], "model", NULL, "bf16", NAN, p->batches[bi]);
            if (!d || !f) continue;
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "tokens"), *c = cJSON_GetObjectItemCaseSensitive(f, "tokens");
            if (!a || !c) continue; /* a run that did not fit */
            int same = cJSON_GetArraySize(a) == cJSON_GetArraySize(c) && cJSON_GetArraySize(a) > 0;
            for (int k = 0; same && k < cJSON_GetArraySize(a); k++)
                same = cJSON_GetArrayItem(a, k)->valuedouble == cJSON_GetArrayItem(c, k)->valuedouble;
            cJSON_AddBoolToObject(d, "tokens_match_bf16", same);
            if (!same)
                fprintf(stderr, "dfrt bench model: %s batch %d: DF11 and BF16 runs generated different tokens\n", names[i],
                        p->batches[bi]);
        }
}

/* ---- the table ------------------------------------------------------------------------------ */

static void print_cells(const cJSON *f) {
    if (!f || cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(f, "fits"))) {
        printf("  %-38s", f ? "does not fit" : "-");
        return;
    }
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(f, "peak_device_bytes");
    printf("  %9.1f %9.1f %8.1f %8.3f ", bench_median(f, "prefill_tokens_per_s"), bench_median(f, "decode_tokens_per_s"),
           bench_median(f, "ttft_ms"), cJSON_IsNumber(peak) ? peak->valuedouble / 1e9 : NAN);
}

static void print_ratio_cells(const cJSON *a, const cJSON *b) {
    if (!a || !b) {
        printf("  %-38s", "");
        return;
    }
    /* a run that did not fit has no figures: NaN ratios */
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(a, "peak_device_bytes"), *pb = cJSON_GetObjectItemCaseSensitive(b, "peak_device_bytes");
    printf("  %9.2f %9.2f %8.2f %8.2f ", bench_median(a, "prefill_tokens_per_s") / bench_median(b, "prefill_tokens_per_s"),
           bench_median(a, "decode_tokens_per_s") / bench_median(b, "decode_tokens_per_s"),
           bench_median(a, "ttft_ms") / bench_median(b, "ttft_ms"),
           cJSON_IsNumber(pa) && cJSON_IsNumber(pb) ? pa->valuedouble / pb->valuedouble : NAN);
}

/* --profile: per run, each op's device time per decode step (us) and calls per step; the sum;
 * and the step's time in the timed runs (op by op), whose excess over the sum is the host's
 * work and the device's gaps between ops. */
static void print_profile(const bench_report *r, char names[][16], int n, const model_plan *p) {
    bool used[DFRT_OP_COUNT] = {false};
    const cJSON *f;
    cJSON_ArrayForEach(f, r->figures) {
        const cJSON *pj = cJSON_GetObjectItemCaseSensitive(f, "profile_us_per_step");
        for (int op = 0; op < DFRT_OP_COUNT; op++)
            if (cJSON_GetObjectItemCaseSensitive(pj, dfrt_op_name((dfrt_op)op))) used[op] = true;
    }
    printf("\ndecode step profile (--profile): us of device time per step for each op, each op timed alone in a\n"
           "further run (calls per step in brackets); sum = their total; step = a step's time in the timed runs\n"
           "(op by op), its excess over the sum the host's work and the gaps between ops\n%-24s", "");
    for (int op = 0; op < DFRT_OP_COUNT; op++)
        if (used[op]) printf(" %17.17s", dfrt_op_name((dfrt_op)op));
    printf(" %9s %9s\n", "sum", "step");
    for (int i = 0; i < n; i++)
        for (int bi = 0; bi < p->n_batches; bi++)
            for (int fmt = 0; fmt < 2; fmt++) {
                if (!p->dirs[fmt]) continue;
                f = bench_find(r, names[i], "model", NULL, format_names[fmt], NAN, p->batches[bi]);
                const cJSON *pj = cJSON_GetObjectItemCaseSensitive(f, "profile_us_per_step");
                if (!pj) continue;
                char label[48];
                snprintf(label, sizeof label, "%.12s %s batch %d", names[i], fmt ? "BF16" : "DF11", p->batches[bi]);
                printf("%-24s", label);
                for (int op = 0; op < DFRT_OP_COUNT; op++) {
                    if (!used[op]) continue;
                    const cJSON *o = cJSON_GetObjectItemCaseSensitive(pj, dfrt_op_name((dfrt_op)op));
                    const cJSON *us = cJSON_GetObjectItemCaseSensitive(o, "us"), *c = cJSON_GetObjectItemCaseSensitive(o, "calls");
                    if (cJSON_IsNumber(us) && cJSON_IsNumber(c)) printf(" %10.1f (%4.0f)", us->valuedouble, c->valuedouble);
                    else printf(" %17s", "-");
                }
                const cJSON *sum = cJSON_GetObjectItemCaseSensitive(f, "profile_device_us_per_step");
                double tps = bench_median(f, "decode_tokens_per_s");
                printf(" %9.1f %9.1f\n", cJSON_IsNumber(sum) ? sum->valuedouble : NAN,
                       tps > 0 ? 1e6 * p->batches[bi] / tps : NAN);
            }
}

static void print_table(const bench_report *r, char names[][16], int n, const model_plan *p, const char *model_name) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->root, "model");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(model, "parameters");
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(model, "df11_weight_bytes");
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(model, "bf16_weight_bytes");
    printf("\ndfrt bench model: %s", model_name);
    if (cJSON_IsNumber(params)) printf(", %.2f G parameters", params->valuedouble / 1e9);
    /* the BF16 model's bytes: its files', or (not built) two per parameter */
    double bf16_bytes = cJSON_IsNumber(bb) ? bb->valuedouble : cJSON_IsNumber(params) ? 2 * params->valuedouble : NAN;
    if (cJSON_IsNumber(db) && !isnan(bf16_bytes))
        printf(", DF11 %.2f GB = %.1f%% of BF16 %.2f GB", db->valuedouble / 1e9, 100 * db->valuedouble / bf16_bytes,
               bf16_bytes / 1e9);
    /* the DF11 weights in each backend's device memory */
    int shown = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *bj = cJSON_GetArrayItem(r->backends, i);
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(bj, "df11_device_weight_bytes");
        if (!cJSON_IsNumber(dev)) continue;
        char size[32];
        cli_format_bytes(size, sizeof size, dev->valuedouble);
        printf("%s %s %s", shown++ ? "," : "\nDF11 weights in device memory (units as uploaded, other tensors as stored):",
               names[i], size);
        if (!isnan(bf16_bytes)) printf(" = %.1f%% of BF16", 100 * dev->valuedouble / bf16_bytes);
        printf(" (%s layout)", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(bj, "df11_layout")));
    }
    printf("\nprompt %d tokens, %d generated per sequence; decode steps %s; medians; prefill and decode in\n"
           "tokens/s (all sequences), TTFT = time to first token in ms, peak = peak device memory in GB; ratios\n"
           "are of these values\n",
           p->prompt_len, p->gen, p->eager ? "op by op (--eager)" : "recorded where the backend records work");
    /* the KV cache (the same for both formats): per position, and for each batch's sequences */
    const cJSON *f, *kv = NULL;
    cJSON_ArrayForEach(f, r->figures) {
        kv = cJSON_GetObjectItemCaseSensitive(f, "kv_bytes_per_token");
        if (cJSON_IsNumber(kv)) break;
    }
    if (cJSON_IsNumber(kv)) {
        const double per_token = kv->valuedouble;
        char size[32];
        cli_format_bytes(size, sizeof size, per_token);
        printf("KV cache: %s per position of a sequence (%s keys and values), so batch x %d positions:", size,
               p->kv_f32 ? "fp32" : "BF16", p->prompt_len + p->gen);
        for (int i = 0; i < p->n_batches; i++) {
            cli_format_bytes(size, sizeof size, per_token * p->batches[i] * (p->prompt_len + p->gen));
            printf("%s %s at %d", i ? "," : "", size, p->batches[i]);
        }
        printf("\n");
    }
    printf("\n");
    printf("%-17s", "");
    for (int i = 0; i < n; i++) {
        char h[39];
        bench_backend_label(r, i, names[i], h, sizeof h);
        printf("  %-38s", h);
    }
    for (int i = 1; i < n; i++) {
        char h[40];
        snprintf(h, sizeof h, "%.15s / %.15s", names[i], names[0]);
        printf("  %-38s", h);
    }
    printf("\n%-17s", "batch  format");
    for (int i = 0; i < 2 * n - 1; i++) printf("  %9s %9s %8s %8s ", "prefill", "decode", "TTFT", "peak");
    printf("\n");
    for (int bi = 0; bi < p->n_batches; bi++) {
        double batch = p->batches[bi];
        for (int fmt = 0; fmt < 2; fmt++) {
            if (!p->dirs[fmt]) continue;
            printf("%-6d %-10s", p->batches[bi], fmt ? "BF16" : "DF11");
            for (int i = 0; i < n; i++) print_cells(bench_find(r, names[i], "model", NULL, format_names[fmt], NAN, batch));
            for (int i = 1; i < n; i++)
                print_ratio_cells(bench_find(r, names[i], "model", NULL, format_names[fmt], NAN, batch),
                                  bench_find(r, names[0], "model", NULL, format_names[fmt], NAN, batch));
            printf("\n");
        }
        if (p->dirs[0] && p->dirs[1]) {
            printf("%-6s %-10s", "", "DF11/BF16");
            for (int i = 0; i < n; i++)
                print_ratio_cells(bench_find(r, names[i], "model", NULL, "df11", NAN, batch),
                                  bench_find(r, names[i], "model", NULL, "bf16", NAN, batch));
            printf("\n");
        }
    }
    if (p->profile) print_profile(r, names, n, p);
}

/* A checkpoint's weights: as stored (*stored), and for a DF11 model in device memory per layout
 * of DF11 units (dfrt_backend_df11_layout): its units as dfrt_df11_upload lays them out, the
 * other tensors as stored. */
static void checkpoint_bytes(const dfrt_checkpoint *cp, double *stored, double device[2]) {
    const dfrt_tensor_set *ts = dfrt_checkpoint_tensors(cp);
    double plain = 0, all = 0;
    for (size_t i = 0; i < dfrt_tensor_set_count(ts); i++) {
        const dfrt_tensor *t = dfrt_tensor_set_get(ts, i);
        all += (double)t->n_bytes;
        if (!dfrt_checkpoint_is_unit_tensor(cp, t->name)) plain += (double)t->n_bytes;
    }
    *stored = all;
    device[0] = device[1] = plain;
    for (size_t i = 0; i < dfrt_checkpoint_unit_count(cp); i++)
        for (int l = 0; l < 2; l++) device[l] += (double)dfrt_df11_device_bytes(dfrt_checkpoint_unit(cp, i), l);
}

/* The model's sizes in the report ("df11_weight_bytes", "parameters", ...). */
static void report_bytes(cJSON *mj, int format, const dfrt_checkpoint *cp, double device[2]) {
    double stored;
    checkpoint_bytes(cp, &stored, device);
    char key[32];
    snprintf(key, sizeof key, "%s_weight_bytes", format_names[format]);
    cJSON_AddNumberToObject(mj, key, stored);
    if (format == 1 && !cJSON_GetObjectItemCaseSensitive(mj, "parameters")) cJSON_AddNumberToObject(mj, "parameters", stored / 2);
}

/* --in-memory: builds format f of the synthetic model into p->cps[f], its weights' device bytes
 * per layout into device (report_bytes). DFRT_OUT_OF_MEMORY when host memory is short
 * (dfrt_last_error says so). */
static dfrt_status build_in_memory(model_plan *p, int f, const char *name, int threads, uint64_t host_memory,
                                   cJSON *mj, double device[2]) {
    cli_progress prog;
    char label[96];
    snprintf(label, sizeof label, "building synthetic %.40s (%s) in memory", name, f ? "BF16" : "DF11");
    cli_progress_init(&prog, label);
    prog.log_lines = 1;
    dfrt_synthetic_options so = {.n_threads = threads, .progress = cli_progress_cb, .progress_user = &prog,
                                 .cancel = &cli_cancel_flag, .host_memory_bytes = host_memory};
    double t0 = cli_now();
    dfrt_status s = dfrt_synthetic_checkpoint(name, f == 0, &so, &p->cps[f]);
    cli_progress_finish(&prog);
    if (s != DFRT_OK) return s;
    double seconds = cli_now() - t0, stored;
    fprintf(stderr, "dfrt bench model: built %s in %.1f s\n", dfrt_checkpoint_dir(p->cps[f]), seconds);
    char key[40];
    snprintf(key, sizeof key, "%s_build_seconds", format_names[f]);
    if (!cJSON_GetObjectItemCaseSensitive(mj, key)) { /* once, though each backend builds it again */
        cJSON_AddNumberToObject(mj, key, seconds);
        report_bytes(mj, f, p->cps[f], device);
    } else {
        checkpoint_bytes(p->cps[f], &stored, device);
    }
    return DFRT_OK;
}

int bench_model(int argc, char **argv) {
    cli_args a = {argc, argv, 2, "bench model",
                  "--backend= --synthetic= --batch= --prompt-len= --gen= --formats= --min-time= --cache= --threads= "
                  "--kv-cache= --max-rows= --eager --profile --in-memory --host-memory= --json= --csv= --plot= " CLI_OFFLOAD_OPTIONS
                  "--help -h",
                  help};
    model_plan p = {.batches = {1, 8, 64}, .n_batches = 3, .prompt_len = 128, .gen = 64, .min_time = 1.0};
    const char *list = NULL, *json = NULL, *csv = NULL, *plot = NULL, *synthetic = NULL, *dir = NULL, *cache_arg = NULL;
    const char *formats = "df11,bf16", *arg, *inline_value;
    int is_option, threads = 0, in_memory = 0;
    uint64_t host_memory = 0;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (dir) return cli_usage_error("bench model", "unexpected argument \"%s\" (one MODEL_DIR at most)", arg);
            dir = arg;
            continue;
        }
        if (strcmp(arg, "--eager") == 0) {
            p.eager = 1;
            continue;
        }
        if (strcmp(arg, "--profile") == 0) {
            p.profile = p.eager = 1;
            continue;
        }
        if (strcmp(arg, "--in-memory") == 0) {
            in_memory = 1;
            continue;
        }
        const char *v = cli_value(&a, arg, inline_value);
        if (!v) return CLI_USAGE;
        if (strcmp(arg, "--backend") == 0) list = v;
        else if (strcmp(arg, "--synthetic") == 0) synthetic = v;
        else if (strcmp(arg, "--host-memory") == 0) {
            if (!cli_parse_gb("bench model", arg, v, &host_memory)) return CLI_USAGE;
        }
        else if (strcmp(arg, "--max-rows") == 0) {
            if (!cli_parse_int("bench model", arg, v, 1, 1 << 20, &p.max_rows)) return CLI_USAGE;
        } else if (strcmp(arg, "--kv-cache") == 0) {
            if (!cli_parse_kv_cache("bench model", arg, v, &p.kv_f32)) return CLI_USAGE;
        }
        else if (strcmp(arg, "--batch") == 0) {
            if ((p.n_batches = bench_int_list("bench model", arg, v, 1, 4096, p.batches, MAX_BATCHES)) < 0) return CLI_USAGE;
        } else if (strcmp(arg, "--prompt-len") == 0) {
            if (!cli_parse_int("bench model", arg, v, 1, 1 << 20, &p.prompt_len)) return CLI_USAGE;
        } else if (strcmp(arg, "--gen") == 0) {
            if (!cli_parse_int("bench model", arg, v, 2, 1 << 20, &p.gen)) return CLI_USAGE;
        } else if (strcmp(arg, "--formats") == 0) {
            if (strcmp(v, "df11,bf16") && strcmp(v, "bf16,df11") && strcmp(v, "df11") && strcmp(v, "bf16"))
                return cli_usage_error("bench model", "--formats expects df11, bf16 or df11,bf16; got \"%s\"", v);
            formats = v;
        } else if (strcmp(arg, "--min-time") == 0) {
            if (!bench_parse_seconds("bench model", arg, v, &p.min_time)) return CLI_USAGE;
        } else if (strcmp(arg, "--cache") == 0) cache_arg = v;
        else if (strcmp(arg, "--threads") == 0) {
            if (!cli_parse_int("bench model", arg, v, 1, 4096, &threads)) return CLI_USAGE;
        } else if (strcmp(arg, "--json") == 0) json = v;
        else if (strcmp(arg, "--csv") == 0) csv = v;
        else if (strcmp(arg, "--plot") == 0) plot = v;
        else {
            int rc2 = cli_offload_option("bench model", arg, v, &p.offload);
            if (rc2 == -1) return cli_usage_error("bench model", "unknown option %s", arg);
            if (rc2 != CLI_OK) return rc2;
        }
    }
    if (!!dir == !!synthetic) return cli_usage_error("bench model", "give a MODEL_DIR or --synthetic NAME (one of them)");
    if (cli_check_placement("bench model", &p.offload) != CLI_OK) return CLI_USAGE;
    if ((in_memory || host_memory) && !synthetic)
        return cli_usage_error("bench model", "--in-memory and --host-memory build a --synthetic model");
    if (host_memory && !in_memory) return cli_usage_error("bench model", "--host-memory goes with --in-memory");
    char names[BENCH_MAX_BACKENDS][16];
    int n_names = bench_backend_list("bench model", list, names);
    if (n_names < 0) return CLI_USAGE;
    int want[2] = {strstr(formats, "df11") != NULL, strstr(formats, "bf16") != NULL};

    cli_install_interrupt_handler();
    char *cache = cache_arg ? strdup(cache_arg) : default_cache_dir();
    char *paths[2] = {NULL, NULL};
    const char *model_name = synthetic ? synthetic : dir;
    dfrt_config *cfg = NULL;
    bench_report r = {0};
    int rc = CLI_FAIL;
    if (!cache && !in_memory) {
        fprintf(stderr, "dfrt bench model: no cache directory: give --cache DIR or set DFRT_CACHE_DIR or HOME\n");
        goto done;
    }
    if (in_memory) { /* built format by format in the runs below */
        paths[0] = strdup("in memory");
        paths[1] = strdup("in memory");
        if (dfrt_synthetic_config(synthetic, &cfg) != DFRT_OK) {
            rc = cli_fail("bench model", DFRT_INVALID_ARGUMENT);
            goto done;
        }
    } else if (synthetic) {
        cli_progress prog;
        char label[96];
        snprintf(label, sizeof label, "building synthetic %.40s (BF16, then DF11)", synthetic);
        cli_progress_init(&prog, label);
        prog.log_lines = 1;
        dfrt_synthetic_options so = {.n_threads = threads, .progress = cli_progress_cb, .progress_user = &prog,
                                     .cancel = &cli_cancel_flag};
        bool built = false;
        double t0 = cli_now();
        dfrt_status s = dfrt_synthetic_model(synthetic, cache, &so, &paths[1], &paths[0], &built);
        cli_progress_finish(&prog);
        if (s != DFRT_OK) {
            rc = s == DFRT_CANCELLED ? CLI_INTERRUPTED : cli_fail("bench model", s);
            goto done;
        }
        if (built) fprintf(stderr, "dfrt bench model: built %s and %s in %.1f s\n", paths[1], paths[0], cli_now() - t0);
        else fprintf(stderr, "dfrt bench model: using cached %s and %s (delete them to rebuild)\n", paths[1], paths[0]);
    } else {
        if (dfrt_config_load(dir, &cfg) != DFRT_OK) {
            rc = cli_fail("bench model", DFRT_FORMAT_ERROR);
            goto done;
        }
        int is_df11 = cfg->is_df11;
        paths[is_df11 ? 0 : 1] = strdup(dir);
        if (want[is_df11 ? 1 : 0] && !(paths[is_df11 ? 1 : 0] = make_twin(dir, is_df11, cache, threads))) {
            rc = cli_cancel_flag ? CLI_INTERRUPTED : CLI_FAIL;
            goto done;
        }
    }
    for (int f = 0; f < 2; f++) p.dirs[f] = want[f] ? paths[f] : NULL;
    /* the user's directory's config is already read; a synthetic model's is read here */
    if (!cfg && dfrt_config_load(paths[0], &cfg) != DFRT_OK) {
        rc = cli_fail("bench model", DFRT_FORMAT_ERROR);
        goto done;
    }
    if (!bench_report_init(&r, "model", argc, argv)) {
        fprintf(stderr, "dfrt bench model: out of memory\n");
        goto done;
    }
    cJSON *mj = cJSON_AddObjectToObject(r.root, "model");
    cJSON_AddStringToObject(mj, "name", model_name);
    cJSON_AddStringToObject(mj, "source", in_memory ? "synthetic, in memory" : synthetic ? "synthetic" : "directory");
    cJSON_AddStringToObject(mj, "architecture", cfg->architecture);
    const dfrt_synthetic_info *infos;
    for (size_t i = 0, n = dfrt_synthetic_list(&infos); in_memory && i < n; i++)
        if (strcmp(infos[i].name, synthetic) == 0) cJSON_AddNumberToObject(mj, "parameters", (double)infos[i].parameters);
    double device_bytes[2] = {0, 0};
    int have_device_bytes = 0;
    for (int f = 0; f < 2 && !in_memory; f++) {
        char key[32];
        snprintf(key, sizeof key, "%s_dir", format_names[f]);
        if (p.dirs[f]) cJSON_AddStringToObject(mj, key, p.dirs[f]);
        dfrt_checkpoint *cp;
        if (!paths[f] || dfrt_checkpoint_open(paths[f], &cp) != DFRT_OK) continue;
        double device[2];
        report_bytes(mj, f, cp, device);
        if (f == 0) {
            memcpy(device_bytes, device, sizeof device);
            have_device_bytes = 1;
        }
        dfrt_checkpoint_close(cp);
    }
    cJSON_AddNumberToObject(mj, "prompt_len", p.prompt_len);
    cJSON_AddNumberToObject(mj, "gen", p.gen);
    cJSON_AddBoolToObject(mj, "eager", p.eager);
    cJSON_AddStringToObject(mj, "kv_cache", p.kv_f32 ? "f32" : "bf16");
    if (p.max_rows) cJSON_AddNumberToObject(mj, "max_rows", p.max_rows);

    /* The prompt: random ids (fixed seed) below the vocabulary size. */
    int32_t *prompt = malloc((size_t)p.prompt_len * sizeof *prompt);
    if (!prompt) {
        fprintf(stderr, "dfrt bench model: out of memory\n");
        goto done;
    }
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < p.prompt_len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        prompt[i] = (int32_t)(x % (uint64_t)cfg->vocab_size);
    }
    rc = CLI_OK;
    int measured = 0;
    for (int i = 0; i < n_names && !cli_cancel_flag; i++) {
        dfrt_backend *b;
        if (dfrt_backend_open(names[i], p.offload.n_devices > 0 ? p.offload.devices[0] : -1, &b) != DFRT_OK) {
            fprintf(stderr, "dfrt bench model: %s: %s\n", names[i], dfrt_last_error());
            rc = CLI_FAIL;
            continue;
        }
        cJSON *bj = bench_report_backend(&r, b);
        int layout = dfrt_backend_df11_layout(b);
        p.h2d_bytes_per_s = 0;
        if ((p.offload.offload_layers || p.offload.weight_budget) && p.dirs[0]) {
            p.h2d_bytes_per_s = h2d_rate(b);
            cJSON *hf = bench_figure(&r, dfrt_backend_name(b), "h2d");
            if (hf && p.h2d_bytes_per_s > 0) {
                cJSON_AddNumberToObject(hf, "bytes_per_s", p.h2d_bytes_per_s);
                fprintf(stderr, "dfrt bench model: %s: host->device copies from dfrt_host_alloc memory: %.1f GB/s\n",
                        dfrt_backend_name(b), p.h2d_bytes_per_s / 1e9);
            }
        }
        for (int f = 0; f < 2 && !cli_cancel_flag; f++) {
            if (!p.dirs[f]) continue;
            if (in_memory) {
                double device[2];
                dfrt_status s = build_in_memory(&p, f, synthetic, threads, host_memory, mj, device);
                if (s == DFRT_OK && f == 0) {
                    memcpy(device_bytes, device, sizeof device);
                    have_device_bytes = 1;
                }
                if (s == DFRT_OUT_OF_MEMORY) /* the host cannot hold it: a finding, as on the device */
                    for (int bi = 0; bi < p.n_batches; bi++) record_no_fit(&r, dfrt_backend_name(b), f, p.batches[bi]);
                if (s != DFRT_OK) {
                    if (s != DFRT_OUT_OF_MEMORY && !cli_cancel_flag) rc = cli_fail("bench model", s);
                    continue;
                }
            }
            if (f == 0 && bj && have_device_bytes && (layout == 0 || layout == 1)) {
                cJSON_AddStringToObject(bj, "df11_layout", bench_layout_name(layout));
                cJSON_AddNumberToObject(bj, "df11_device_weight_bytes", device_bytes[layout]);
            }
            for (int bi = 0; bi < p.n_batches && !cli_cancel_flag; bi++)
                if (!bench_one(&r, b, &p, f, p.batches[bi], prompt)) rc = CLI_FAIL;
            dfrt_checkpoint_close(p.cps[f]); /* host memory for the next */
            p.cps[f] = NULL;
        }
        snprintf(names[measured++], sizeof names[0], "%s", dfrt_backend_name(b));
        dfrt_backend_close(b);
    }
    free(prompt);
    if (cli_cancel_flag) {
        fprintf(stderr, "dfrt bench model: interrupted\n");
        rc = CLI_INTERRUPTED;
        goto done;
    }
    compare_tokens(&r, names, measured, &p);
    if (measured) print_table(&r, names, measured, &p, model_name);
    if (json && !bench_write_json(&r, json)) rc = CLI_FAIL;
    if (csv && !bench_write_csv(&r, csv)) rc = CLI_FAIL;
    if (plot && !bench_write_svg(&r, plot)) rc = CLI_FAIL;
done:
    bench_report_free(&r);
    dfrt_config_free(cfg);
    free(paths[0]);
    free(paths[1]);
    free(cache);
    return rc;
}
