/* dfrt run */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: dfrt run [MODEL_DIR] (--prompt TEXT | --tokens 1,2,3) [options]\n"
    "\n"
    "Runs a DF11 or BF16 Hugging Face model (Llama, Mistral, Qwen2, Qwen3) and streams the\n"
    "generated text to stdout; the chosen backend and device, load time, prefill and decode\n"
    "tokens/s and peak device memory go to stderr. Without MODEL_DIR it runs the shipped\n"
    "kjv-qwen3 model.\n"
    "\n"
    "options:\n"
    "  --prompt TEXT        the prompt, tokenized with the model's tokenizer.json\n"
    "  --tokens LIST        the prompt as token ids (\"1,2,3\" or \"1 2 3\"): no tokenizer needed\n"
    "  --chat               wrap the prompt in the model family's chat format\n"
    "  -n, --max-tokens N   tokens to generate per sequence (default 64)\n"
    "  --backend NAME       auto (default), cuda, vulkan or cpu\n"
    "  --device I           device index within the backend\n"
    "  --temperature T      0 (default) is greedy\n"
    "  --top-k K, --top-p P, --seed S   sampling (defaults: off, off, 0)\n"
    "  --batch B            B independent sequences of the same prompt\n"
    "  --context N          tokens per sequence the KV cache holds (default: min(model, 4096))\n"
    "  --ignore-eos         keep generating after an end-of-sequence token\n"
    "  --ids                print only the generated token ids, one line per sequence\n"
    "  --logits-out FILE    write the fp32 logits of the last prompt position (vocab_size\n"
    "                       little-endian floats)\n"
    "\n"
    "examples:\n"
    "  dfrt run --prompt 'And the LORD said unto Moses,' -n 48\n"
    "  dfrt run Qwen3-8B-DF11 --chat --prompt 'What is a binary tree?' --backend vulkan\n";

/* The shipped model: $DFRT_MODEL, else the installed copy, else the source tree's. */
static const char *default_model(void) {
    const char *env = getenv("DFRT_MODEL");
    if (env && *env) return env;
    struct stat st;
    static const char *const candidates[] = {DFRT_INSTALLED_MODEL_DIR, DFRT_SOURCE_MODEL_DIR};
    for (size_t i = 0; i < 2; i++)
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) return candidates[i];
    return NULL;
}

typedef struct run_ctx {
    const dfrt_tokenizer *tok;
    int ids_only, batch;
    int32_t **generated; /* per sequence, for --ids and batch > 1 */
    int *n_generated, cap;
} run_ctx;

static bool on_token(void *user, int seq, int32_t token) {
    run_ctx *c = user;
    if (c->n_generated[seq] < c->cap) c->generated[seq][c->n_generated[seq]++] = token;
    if (!c->ids_only && c->batch == 1 && c->tok) { /* stream the text */
        const char *bytes;
        size_t len;
        if (dfrt_tokenizer_token_bytes(c->tok, token, &bytes, &len) == DFRT_OK) fwrite(bytes, 1, len, stdout);
        fflush(stdout);
    }
    return !cli_cancel_flag;
}

static int write_logits(const char *path, const float *logits, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(logits, sizeof *logits, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "dfrt run: cannot write %s: %s\n", path, strerror(errno));
        if (f) remove(path);
        return 0;
    }
    return 1;
}

int cmd_run(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "run"};
    const char *model_dir = NULL, *prompt = NULL, *tokens_text = NULL, *backend_name = "auto", *logits_path = NULL;
    int device = -1, max_tokens = 64, batch = 1, context = 0, chat = 0, ids_only = 0, ignore_eos = 0, is_option;
    dfrt_sampling sampling = {.temperature = 0, .top_k = 0, .top_p = 1, .seed = 0};
    const char *arg, *inline_value;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (model_dir) return cli_usage_error("run", "unexpected argument \"%s\"", arg);
            model_dir = arg;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (strcmp(arg, "--chat") == 0) { chat = 1; continue; }
        if (strcmp(arg, "--ids") == 0) { ids_only = 1; continue; }
        if (strcmp(arg, "--ignore-eos") == 0) { ignore_eos = 1; continue; }
        const char *v = cli_value(&a, arg, inline_value);
        if (!v) return CLI_USAGE;
        char *end;
        if (strcmp(arg, "--prompt") == 0) prompt = v;
        else if (strcmp(arg, "--tokens") == 0) tokens_text = v;
        else if (strcmp(arg, "--backend") == 0) backend_name = v;
        else if (strcmp(arg, "--logits-out") == 0) logits_path = v;
        else if (strcmp(arg, "-n") == 0 || strcmp(arg, "--max-tokens") == 0) {
            if (!cli_parse_int("run", arg, v, 0, 1 << 24, &max_tokens)) return CLI_USAGE;
        } else if (strcmp(arg, "--device") == 0) {
            if (!cli_parse_int("run", arg, v, 0, 1024, &device)) return CLI_USAGE;
        } else if (strcmp(arg, "--batch") == 0) {
            if (!cli_parse_int("run", arg, v, 1, 4096, &batch)) return CLI_USAGE;
        } else if (strcmp(arg, "--context") == 0) {
            if (!cli_parse_int("run", arg, v, 1, 1 << 22, &context)) return CLI_USAGE;
        } else if (strcmp(arg, "--top-k") == 0) {
            if (!cli_parse_int("run", arg, v, 0, 1 << 24, &sampling.top_k)) return CLI_USAGE;
        } else if (strcmp(arg, "--temperature") == 0) {
            sampling.temperature = strtof(v, &end);
            if (*end || !(sampling.temperature >= 0 && sampling.temperature <= 100))
                return cli_usage_error("run", "--temperature expects a number from 0 to 100, got \"%s\"", v);
        } else if (strcmp(arg, "--top-p") == 0) {
            sampling.top_p = strtof(v, &end);
            if (*end || !(sampling.top_p > 0 && sampling.top_p <= 1))
                return cli_usage_error("run", "--top-p expects a number in (0, 1], got \"%s\"", v);
        } else if (strcmp(arg, "--seed") == 0) {
            sampling.seed = strtoull(v, &end, 10);
            if (*end || !*v) return cli_usage_error("run", "--seed expects a non-negative integer, got \"%s\"", v);
        } else {
            return cli_usage_error("run", "unknown option %s", arg);
        }
    }
    if (!prompt == !tokens_text) return cli_usage_error("run", "give exactly one of --prompt TEXT and --tokens LIST");
    if (chat && !prompt) return cli_usage_error("run", "--chat needs --prompt");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (tokens_text) {
        int ok = cli_parse_ids(tokens_text, &ids, &n_ids) && n_ids > 0;
        for (size_t i = 0; ok && i < n_ids; i++) ok = ids[i] >= 0;
        if (!ok) {
            free(ids);
            return cli_usage_error("run", "--tokens expects non-negative integers separated by commas or spaces");
        }
    }
    if (!model_dir && !(model_dir = default_model())) {
        free(ids);
        fprintf(stderr, "dfrt run: no MODEL_DIR given and the shipped model is not at %s or %s (set DFRT_MODEL)\n",
                DFRT_INSTALLED_MODEL_DIR, DFRT_SOURCE_MODEL_DIR);
        return CLI_FAIL;
    }

    int rc = CLI_FAIL;
    dfrt_backend *b = NULL;
    dfrt_model *m = NULL;
    float *logits = NULL;
    run_ctx ctx = {.ids_only = ids_only, .batch = batch};
    dfrt_status s = dfrt_backend_open(backend_name, device, &b);
    if (s != DFRT_OK) {
        rc = cli_fail("run", s);
        goto done;
    }
    fprintf(stderr, "backend: %s\n", dfrt_backend_selection(b));
    double t0 = cli_now();
    dfrt_model_options mo = {.max_context = context, .max_batch = batch};
    if ((s = dfrt_model_load(b, model_dir, &mo, &m)) != DFRT_OK) {
        rc = cli_fail("run", s);
        goto done;
    }
    char mem[32];
    cli_format_bytes(mem, sizeof mem, (double)dfrt_model_device_bytes(m));
    fprintf(stderr, "model: %s (%s) loaded in %.2f s, %s on the device\n", model_dir, dfrt_model_config(m)->architecture,
            cli_now() - t0, mem);
    ctx.tok = dfrt_model_tokenizer(m);
    if (prompt && (s = dfrt_prompt_encode(m, prompt, chat, &ids, &n_ids)) != DFRT_OK) {
        rc = cli_fail("run", s);
        goto done;
    }
    if (!ctx.tok && !ids_only) {
        fprintf(stderr, "dfrt run: the model has no tokenizer.json; printing token ids (--ids)\n");
        ctx.ids_only = 1;
    }
    ctx.cap = max_tokens;
    ctx.generated = calloc((size_t)batch, sizeof *ctx.generated);
    ctx.n_generated = calloc((size_t)batch, sizeof *ctx.n_generated);
    if (!ctx.generated || !ctx.n_generated) goto oom;
    for (int i = 0; i < batch; i++)
        if (!(ctx.generated[i] = malloc(((size_t)max_tokens + 1) * sizeof **ctx.generated))) goto oom;
    if (logits_path && !(logits = malloc((size_t)dfrt_model_config(m)->vocab_size * sizeof *logits))) goto oom;

    cli_install_interrupt_handler();
    dfrt_generate_options go = {.sampling = sampling, .max_new_tokens = max_tokens, .n_sequences = batch,
                                .ignore_eos = ignore_eos, .on_token = on_token, .user = &ctx, .last_logits = logits};
    dfrt_generate_stats st;
    s = dfrt_generate(m, ids, n_ids, &go, &st);
    if (!ctx.ids_only && batch == 1) printf("\n");
    if (s != DFRT_OK) {
        rc = cli_fail("run", s);
        goto done;
    }
    for (int i = 0; i < batch && (ctx.ids_only || batch > 1); i++) {
        if (ctx.ids_only) {
            for (int k = 0; k < ctx.n_generated[i]; k++) printf(k ? " %d" : "%d", ctx.generated[i][k]);
            printf("\n");
        } else {
            char *text;
            size_t len;
            if (dfrt_tokenizer_decode(ctx.tok, ctx.generated[i], (size_t)ctx.n_generated[i], &text, &len) == DFRT_OK) {
                printf("[sequence %d] %s\n", i, text);
                free(text);
            }
        }
    }
    if (logits_path && !write_logits(logits_path, logits, (size_t)dfrt_model_config(m)->vocab_size)) goto done;
    cli_format_bytes(mem, sizeof mem, (double)dfrt_backend_peak_allocated(b));
    fprintf(stderr, "prefill: %d tokens x %d sequences in %.1f ms (%.1f tokens/s)\n", st.prompt_tokens, batch,
            1e3 * st.prefill_seconds, st.prefill_seconds > 0 ? st.prompt_tokens * batch / st.prefill_seconds : 0.0);
    fprintf(stderr, "decode: %d tokens in %.3f s (%.1f tokens/s%s)\n", st.generated_tokens, st.decode_seconds,
            st.decode_seconds > 0 ? (st.generated_tokens - batch) / st.decode_seconds : 0.0,
            batch > 1 ? " over all sequences" : "");
    fprintf(stderr, "peak device memory: %s\n", mem);
    rc = cli_cancel_flag ? CLI_INTERRUPTED : CLI_OK;
    goto done;
oom:
    fprintf(stderr, "dfrt run: out of memory\n");
done:
    if (ctx.generated)
        for (int i = 0; i < batch; i++) free(ctx.generated[i]);
    free(ctx.generated);
    free(ctx.n_generated);
    free(logits);
    free(ids);
    dfrt_model_free(m);
    dfrt_backend_close(b);
    return rc;
}
