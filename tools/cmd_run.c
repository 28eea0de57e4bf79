/* dfrt run */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: dfrt run [MODEL_DIR] (--prompt TEXT | --prompt-file FILE | --tokens 1,2,3) [options]\n"
    "\n"
    "Runs a DF11 or BF16 Hugging Face model (Llama, Mistral, Qwen2, Qwen3) and streams the\n"
    "generated text to stdout; the chosen backend and device, load time, prefill and decode\n"
    "tokens/s and peak device memory go to stderr. Without MODEL_DIR it runs the shipped\n"
    "kjv-qwen3 model. Arguments are checked before the model is loaded.\n"
    "\n"
    "prompt:\n"
    "  --prompt TEXT        the prompt, tokenized with the model's tokenizer.json (- reads stdin)\n"
    "  --prompt-file FILE   the prompt is the contents of FILE (- reads stdin)\n"
    "  --tokens LIST        the prompt as token ids (\"1,2,3\" or \"1 2 3\"): no tokenizer needed\n"
    "  --chat               wrap the prompt in the model family's chat format; special-token\n"
    "                       text in the prompt (\"<|im_end|>\") stays text\n"
    "  --system TEXT        the chat format's system message (with --chat)\n"
    "\n"
    "generation:\n"
    "  -n, --max-tokens N   tokens to generate per sequence (default 64)\n"
    CLI_SAMPLING_HELP
    "  --stop STRING        stop a sequence when its text contains STRING, which is not printed\n"
    "                       (repeatable)\n"
    "  --ignore-eos         keep generating after an end-of-sequence token\n"
    "  --batch B            B independent sequences of the same prompt\n"
    "  --context N          tokens per sequence the KV cache holds (default: min(model, 4096));\n"
    "                       generation stops, with a message, when it is full\n"
    "  --kv-cache TYPE      what the KV cache stores: bf16 (default; half the memory of f32,\n"
    "                       attention's math in fp32) or f32\n"
    "\n"
    "device:\n"
    "  --backend NAME       auto (default), cuda, vulkan or cpu\n"
    "  --device I           device index within the backend\n"
    "  --threads N          CPU backend threads (default: the CPUs this process may use)\n"
    CLI_OFFLOAD_HELP
    "\n"
    "output:\n"
    "  --ids                print only the generated token ids, one line per sequence\n"
    "  --logits-out FILE    write the fp32 logits of the last prompt position (vocab_size\n"
    "                       little-endian floats) through a temporary file renamed onto FILE;\n"
    "                       a symbolic link is followed (its target is replaced) and a device\n"
    "                       or FIFO is written in place\n"
    "\n"
    "A generated id the tokenizer cannot decode is printed as [id N], with a warning.\n"
    "Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted (Ctrl-C).\n"
    "\n"
    "examples:\n"
    "  dfrt run --prompt 'And the LORD said unto Moses,' -n 48\n"
    "  dfrt run Qwen3-8B-DF11 --chat --system 'Answer briefly.' --prompt 'What is a binary tree?'\n"
    "  dfrt run --prompt-file psalm.txt --temperature 0.7 --min-p 0.05 --stop Amen\n";

static const char options[] =
    "--prompt= --prompt-file= --tokens= --chat --system= -n= --max-tokens= " CLI_SAMPLING_OPTIONS CLI_OFFLOAD_OPTIONS
    "--stop= --ignore-eos --batch= --context= --kv-cache= --backend= --device= "
    "--threads= --ids --logits-out= --help -h";

#define MAX_PROMPT_BYTES ((size_t)64 << 20)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The shipped model: $DFRT_MODEL, else the installed copy, else the source tree's. */

/* ---------------------------------------------------------------------------------------- */
/* The prompt                                                                                */
/* ---------------------------------------------------------------------------------------- */

/* Reads a whole prompt from a file or stdin ("-"); NULL after printing why. */
static char *read_prompt(const char *option, const char *path) {
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "dfrt run: %s %s: %s\n", option, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "dfrt run: %s %s: is a directory\n", option, path);
        if (!is_stdin) fclose(f);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    int failed = !text;
    while (!failed) {
        if (len + 1 >= cap) {
            char *grown = cap <= MAX_PROMPT_BYTES ? realloc(text, 2 * cap) : NULL;
            if (!grown) break;
            text = grown;
            cap *= 2;
        }
        size_t got = fread(text + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) break;
        if (len > MAX_PROMPT_BYTES) break;
    }
    if (!failed && len > MAX_PROMPT_BYTES) {
        fprintf(stderr, "dfrt run: %s %s: more than %zu MiB; dfrt reads prompts up to that\n", option, name,
                MAX_PROMPT_BYTES >> 20);
        failed = 1;
    } else if (!failed && ferror(f)) {
        fprintf(stderr, "dfrt run: %s %s: read failed: %s\n", option, name, strerror(errno));
        failed = 1;
    } else if (!failed && !feof(f)) {
        fprintf(stderr, "dfrt run: %s %s: out of memory\n", option, name);
        failed = 1;
    }
    if (!is_stdin) fclose(f);
    if (failed) {
        free(text);
        return NULL;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        fprintf(stderr, "dfrt run: %s %s: holds a NUL byte at offset %zu; a prompt is text\n", option, name,
                strlen(text));
        free(text);
        return NULL;
    }
    return text;
}

/* A usage error for text that is empty or not UTF-8; 0 when it is fine. */
/* ---------------------------------------------------------------------------------------- */
/* --logits-out: a temporary file renamed into place                                        */
/* ---------------------------------------------------------------------------------------- */

typedef struct out_file {
    const char *arg; /* as given, for messages */
    char *target;    /* what is replaced: the path, or a symbolic link's target */
    int in_place;    /* a device or FIFO: written directly, never replaced or removed */
} out_file;

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* A temporary file beside the target, "DIR/.NAME.dfrt-tmp-XXXXXX"; -1 with errno set. */
static int make_temp(const char *target, char **out_path) {
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = dir_of(target);
    size_t size = (dir ? strlen(dir) : 0) + strlen(base) + 32;
    char *tmp = dir ? malloc(size) : NULL;
    if (!tmp) {
        free(dir);
        errno = ENOMEM;
        return -1;
    }
    snprintf(tmp, size, "%s/.%s.dfrt-tmp-XXXXXX", dir, base);
    free(dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        errno = e;
        return -1;
    }
    *out_path = tmp;
    return fd;
}

/* Checks, before anything is loaded, that FILE can be written: the same steps as the write,
 * down to creating (and removing) a temporary file beside it. */
static int out_prepare(out_file *o, const char *arg) {
    memset(o, 0, sizeof *o);
    o->arg = arg;
    if (!*arg) return cli_usage_error("run", "--logits-out needs a file name");
    struct stat lst, st;
    int exists = lstat(arg, &lst) == 0;
    if (!exists && errno != ENOENT) {
        fprintf(stderr, "dfrt run: --logits-out %s: %s\n", arg, strerror(errno));
        return CLI_FAIL;
    }
    if (exists && S_ISLNK(lst.st_mode) && stat(arg, &st) == 0) {
        /* a link to something: write its target (the link stays) */
        if (!(o->target = realpath(arg, NULL))) {
            fprintf(stderr, "dfrt run: --logits-out %s: %s\n", arg, strerror(errno));
            return CLI_FAIL;
        }
    } else {
        st = lst; /* the path itself, or a dangling link that the rename replaces */
        if (!(o->target = strdup(arg))) return CLI_FAIL;
    }
    if (exists && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "dfrt run: --logits-out %s: is a directory\n", arg);
        return CLI_FAIL;
    }
    if (exists && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        o->in_place = 1;
        if (access(o->target, W_OK) != 0) {
            fprintf(stderr, "dfrt run: --logits-out %s: %s\n", arg, strerror(errno));
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    char *tmp;
    int fd = make_temp(o->target, &tmp);
    if (fd < 0) {
        char *dir = dir_of(o->target);
        fprintf(stderr, "dfrt run: --logits-out %s: cannot create a file in %s: %s\n", arg, dir ? dir : "its directory",
                strerror(errno));
        free(dir);
        return CLI_FAIL;
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return CLI_OK;
}

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* Writes the file; removes only the temporary file it made. */
static int out_write(out_file *o, const void *data, size_t n) {
    if (o->in_place) {
        int fd = open(o->target, O_WRONLY | O_TRUNC | O_NOCTTY | O_CLOEXEC);
        int ok = fd >= 0 && write_all(fd, data, n);
        int e = errno;
        if (fd >= 0 && close(fd) != 0 && ok) ok = 0, e = errno;
        if (!ok) fprintf(stderr, "dfrt run: --logits-out %s: not written: %s\n", o->arg, strerror(e));
        return ok;
    }
    char *tmp = NULL;
    int fd = make_temp(o->target, &tmp);
    if (fd < 0) {
        fprintf(stderr, "dfrt run: --logits-out %s: not written: %s\n", o->arg, strerror(errno));
        return 0;
    }
    /* the mode a new file gets (0666 less the umask), or the replaced file's */
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    mode_t mode = stat(o->target, &st) == 0 && S_ISREG(st.st_mode) ? st.st_mode & 07777 : 0666 & ~mask;
    int ok = write_all(fd, data, n) && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) ok = 0, e = errno;
    if (ok && rename(tmp, o->target) != 0) ok = 0, e = errno;
    if (!ok) {
        unlink(tmp);
        fprintf(stderr, "dfrt run: --logits-out %s: not written: %s\n", o->arg, strerror(e));
    }
    free(tmp);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Output: text per sequence, --stop, streaming                                              */
/* ---------------------------------------------------------------------------------------- */

typedef struct seq_out {
    cli_text text;  /* everything generated (up to a stop string) */
    size_t emitted; /* bytes of it already streamed */
    int stopped;    /* a stop string ended it */
} seq_out;

typedef struct run_ctx {
    const dfrt_tokenizer *tok;
    int ids_only, batch, stream;
    int32_t **generated; /* per sequence, for --ids */
    int *n_generated, cap;
    seq_out *seqs;
    const char **stops;
    int n_stops;
    size_t longest_stop;
    int warned_undecodable;
} run_ctx;

static void stream(run_ctx *c, seq_out *o, int final) {
    size_t upto = o->text.len - (final ? 0 : cli_stop_prefix(o->text.p, o->emitted, o->text.len, c->stops, c->n_stops));
    if (upto > o->emitted) {
        fwrite(o->text.p + o->emitted, 1, upto - o->emitted, stdout);
        fflush(stdout);
        o->emitted = upto;
    }
}

static bool on_token(void *user, int seq, int32_t token) {
    run_ctx *c = user;
    if (c->n_generated[seq] < c->cap) c->generated[seq][c->n_generated[seq]++] = token;
    if (!c->tok) return true;
    seq_out *o = &c->seqs[seq];
    size_t before = o->text.len;
    const char *bytes;
    size_t len;
    if (dfrt_tokenizer_token_bytes(c->tok, token, &bytes, &len) == DFRT_OK) {
        cli_text_append(&o->text, bytes, len); /* may hold NUL bytes (byte-level BPE has one for 0x00) */
    } else {
        if (!c->warned_undecodable) {
            fprintf(stderr, "dfrt run: warning: the model generated token %d, which the tokenizer cannot decode (it has "
                    "ids 0 to %d); such tokens are printed as [id N]\n",
                    token, dfrt_tokenizer_vocab_size(c->tok) - 1);
            c->warned_undecodable = 1;
        }
        cli_text_printf(&o->text, "[id %d]", token);
    }
    /* a stop string ending in this token: the earliest match, cut off with what follows */
    if (c->n_stops && !o->text.failed) {
        size_t cut = cli_stop_find(o->text.p, o->text.len, before, c->stops, c->n_stops, c->longest_stop);
        if (cut != SIZE_MAX) {
            o->text.len = cut;
            o->text.p[cut] = '\0';
            o->stopped = 1;
        }
    }
    if (c->stream) stream(c, o, o->stopped);
    return !o->stopped;
}

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct run_args {
    const char *model_dir, *prompt, *prompt_file, *tokens_text, *system, *backend_name, *logits_path;
    int device, max_tokens, batch, context, threads, chat, ids_only, ignore_eos, seed_given, kv_f32;
    dfrt_sampling sampling;
    dfrt_model_options offload; /* offload_layers, weight_budget */
    const char **stops;
    int n_stops;
} run_args;

/* Parses and checks every argument that needs no model; CLI_OK or the exit code. */
static int parse(int argc, char **argv, run_args *r) {
    cli_args a = {argc, argv, 1, "run", options, help};
    const char *arg, *inline_value;
    int is_option, rc;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (r->model_dir) return cli_usage_error("run", "unexpected argument \"%s\"", arg);
            r->model_dir = arg;
            continue;
        }
        if (strcmp(arg, "--chat") == 0) { r->chat = 1; continue; }
        if (strcmp(arg, "--ids") == 0) { r->ids_only = 1; continue; }
        if (strcmp(arg, "--ignore-eos") == 0) { r->ignore_eos = 1; continue; }
        const char *v = cli_value(&a, arg, inline_value);
        if (!v) return CLI_USAGE;
        if (strcmp(arg, "--prompt") == 0) r->prompt = v;
        else if (strcmp(arg, "--prompt-file") == 0) r->prompt_file = v;
        else if (strcmp(arg, "--tokens") == 0) r->tokens_text = v;
        else if (strcmp(arg, "--system") == 0) r->system = v;
        else if (strcmp(arg, "--backend") == 0) r->backend_name = v;
        else if (strcmp(arg, "--logits-out") == 0) r->logits_path = v;
        else if (strcmp(arg, "--stop") == 0) {
            if (!*v) return cli_usage_error("run", "--stop needs a non-empty STRING");
            r->stops[r->n_stops++] = v;
        } else if (strcmp(arg, "-n") == 0 || strcmp(arg, "--max-tokens") == 0) {
            if (!cli_parse_int("run", arg, v, 0, 1 << 24, &r->max_tokens)) return CLI_USAGE;
        } else if (strcmp(arg, "--device") == 0) {
            if (!cli_parse_int("run", arg, v, 0, 1024, &r->device)) return CLI_USAGE;
        } else if (strcmp(arg, "--threads") == 0) {
            if (!cli_parse_int("run", arg, v, 1, 4096, &r->threads)) return CLI_USAGE;
        } else if (strcmp(arg, "--batch") == 0) {
            if (!cli_parse_int("run", arg, v, 1, 4096, &r->batch)) return CLI_USAGE;
        } else if (strcmp(arg, "--context") == 0) {
            if (!cli_parse_int("run", arg, v, 1, 1 << 22, &r->context)) return CLI_USAGE;
        } else if (strcmp(arg, "--kv-cache") == 0) {
            if (!cli_parse_kv_cache("run", arg, v, &r->kv_f32)) return CLI_USAGE;
        } else if ((rc = cli_sampling_option("run", arg, v, &r->sampling, &r->seed_given)) != -1 ||
                   (rc = cli_offload_option("run", arg, v, &r->offload)) != -1) {
            if (rc != CLI_OK) return rc;
        }
    }
    int n_sources = !!r->prompt + !!r->prompt_file + !!r->tokens_text;
    if (n_sources != 1)
        return cli_usage_error("run", "give exactly one of --prompt TEXT, --prompt-file FILE and --tokens LIST");
    if (r->chat && r->tokens_text) return cli_usage_error("run", "--chat needs a text prompt (--prompt or --prompt-file)");
    if (r->system && !r->chat) return cli_usage_error("run", "--system is the chat format's system message: add --chat");
    if (r->prompt && strcmp(r->prompt, "-") != 0 && (rc = cli_check_text("run", "--prompt", r->prompt))) return rc;
    if (r->system && *r->system && (rc = cli_check_text("run", "--system", r->system))) return rc;
    for (int i = 0; i < r->n_stops; i++)
        if ((rc = cli_check_text("run", "--stop", r->stops[i]))) return rc;
    return CLI_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* dfrt run                                                                                  */
/* ---------------------------------------------------------------------------------------- */

int cmd_run(int argc, char **argv) {
    run_args r = {.backend_name = "auto", .device = -1, .max_tokens = 64, .batch = 1,
                  .sampling = CLI_SAMPLING_DEFAULT};
    r.stops = calloc((size_t)argc, sizeof *r.stops);
    if (!r.stops) return CLI_FAIL;
    int rc = parse(argc, argv, &r);
    char *prompt_text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    out_file logits_out = {0};
    dfrt_config *cfg = NULL;
    dfrt_backend *b = NULL;
    dfrt_model *m = NULL;
    float *logits = NULL;
    run_ctx ctx = {.ids_only = r.ids_only, .batch = r.batch, .stops = r.stops, .n_stops = r.n_stops};
    dfrt_status s;
    if (rc != CLI_OK) goto done;
    rc = CLI_FAIL;

    /* Everything that needs no model, before anything is loaded. */
    if (r.tokens_text) {
        int ok = cli_parse_ids(r.tokens_text, &ids, &n_ids) && n_ids > 0;
        for (size_t i = 0; ok && i < n_ids; i++) ok = ids[i] >= 0;
        if (!ok) {
            rc = cli_usage_error("run", "--tokens expects non-negative integers separated by commas or spaces");
            goto done;
        }
    } else if (r.prompt_file || strcmp(r.prompt, "-") == 0) {
        const char *option = r.prompt_file ? "--prompt-file" : "--prompt";
        if (!(prompt_text = read_prompt(option, r.prompt_file ? r.prompt_file : "-"))) goto done;
        char what[64];
        snprintf(what, sizeof what, "the prompt (%s %s)", option, r.prompt_file ? r.prompt_file : "-");
        if ((rc = cli_check_text("run", what, prompt_text))) goto done;
        rc = CLI_FAIL;
    }
    const char *prompt = prompt_text ? prompt_text : r.prompt;
    if (r.logits_path && (rc = out_prepare(&logits_out, r.logits_path)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    if (!r.model_dir && !(r.model_dir = cli_default_model())) {
        fprintf(stderr, "dfrt run: no MODEL_DIR given and the shipped model is not at %s or %s (set DFRT_MODEL)\n",
                DFRT_INSTALLED_MODEL_DIR, DFRT_SOURCE_MODEL_DIR);
        goto done;
    }
    /* config.json alone (a few KB) bounds --context and --tokens before the weights load */
    struct stat dir_st;
    int stat_ok = stat(r.model_dir, &dir_st) == 0;
    if (!stat_ok || !S_ISDIR(dir_st.st_mode)) {
        fprintf(stderr, "dfrt run: %s: cannot open model directory: %s\n", r.model_dir,
                stat_ok ? "not a directory" : strerror(errno));
        goto done;
    }
    if ((s = dfrt_config_load(r.model_dir, &cfg)) != DFRT_OK) {
        rc = cli_fail("run", s);
        goto done;
    }
    int64_t mpe = cfg->max_position_embeddings > 0 ? MIN(cfg->max_position_embeddings, 1 << 22) : 4096;
    if (r.context > mpe) {
        rc = cli_usage_error("run", "--context %d is more than the model's max_position_embeddings (%lld)", r.context,
                             (long long)mpe);
        goto done;
    }
    int context = r.context ? r.context : (int)MIN(mpe, 4096);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= cfg->vocab_size) {
            rc = cli_usage_error("run", "--tokens: id %d is outside the vocabulary (0 to %lld)", ids[i],
                                 (long long)cfg->vocab_size - 1);
            goto done;
        }
    if (n_ids > (size_t)context) {
        rc = cli_usage_error("run", "--tokens: %zu tokens do not fit the context of %d%s", n_ids, context,
                             r.context ? "" : " (see --context)");
        goto done;
    }

    dfrt_model_options mo = {.max_context = r.context, .max_batch = r.batch, .kv_f32 = r.kv_f32};
    cli_placement(&mo, &r.offload);
    if ((rc = cli_load_model("run", r.model_dir, r.backend_name, r.device, r.threads, &mo, &b, &m)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    char mem[32];
    ctx.tok = dfrt_model_tokenizer(m);
    if (prompt) {
        /* without a tokenizer, dfrt_prompt_encode says so */
        s = r.chat && ctx.tok ? dfrt_chat_encode(ctx.tok, r.system, prompt, &ids, &n_ids)
                              : dfrt_prompt_encode(m, prompt, false, &ids, &n_ids);
        if (s != DFRT_OK) {
            rc = cli_fail("run", s);
            goto done;
        }
    }
    if (!ctx.tok && r.n_stops) {
        fprintf(stderr, "dfrt run: --stop needs the model's tokenizer.json, which %s lacks\n", r.model_dir);
        goto done;
    }
    if (!ctx.tok && !r.ids_only) {
        fprintf(stderr, "dfrt run: the model has no tokenizer.json; printing token ids (--ids)\n");
        ctx.ids_only = 1;
    }
    ctx.stream = !ctx.ids_only && r.batch == 1;
    for (int i = 0; i < r.n_stops; i++) ctx.longest_stop = MAX(ctx.longest_stop, strlen(r.stops[i]));
    ctx.cap = r.max_tokens;
    ctx.generated = calloc((size_t)r.batch, sizeof *ctx.generated);
    ctx.n_generated = calloc((size_t)r.batch, sizeof *ctx.n_generated);
    ctx.seqs = calloc((size_t)r.batch, sizeof *ctx.seqs);
    if (!ctx.generated || !ctx.n_generated || !ctx.seqs) goto oom;
    for (int i = 0; i < r.batch; i++)
        if (!(ctx.generated[i] = malloc(((size_t)r.max_tokens + 1) * sizeof **ctx.generated))) goto oom;
    if (r.logits_path && !(logits = malloc((size_t)dfrt_model_config(m)->vocab_size * sizeof *logits))) goto oom;

    if (r.sampling.temperature > 0) {
        if (!r.seed_given) r.sampling.seed = cli_random_seed();
        fprintf(stderr, "seed: %llu\n", (unsigned long long)r.sampling.seed);
    }
    cli_install_interrupt_handler();
    dfrt_generate_options go = {.sampling = r.sampling, .max_new_tokens = r.max_tokens, .n_sequences = r.batch,
                                .ignore_eos = r.ignore_eos, .on_token = on_token, .user = &ctx, .last_logits = logits,
                                .cancel = &cli_cancel_flag};
    dfrt_generate_stats st;
    s = dfrt_generate(m, ids, n_ids, &go, &st);
    int interrupted = s == DFRT_CANCELLED || cli_cancel_flag;
    if (ctx.stream) {
        stream(&ctx, &ctx.seqs[0], 1); /* what was held back for a stop string that did not come */
        printf("\n");
    }
    for (int i = 0; i < r.batch && !ctx.stream; i++) {
        if (ctx.ids_only) {
            for (int k = 0; k < ctx.n_generated[i]; k++) printf(k ? " %d" : "%d", ctx.generated[i][k]);
            printf("\n");
        } else {
            printf("[sequence %d] ", i);
            fwrite(ctx.seqs[i].text.p ? ctx.seqs[i].text.p : "", 1, ctx.seqs[i].text.len, stdout);
            printf("\n");
        }
    }
    for (int i = 0; i < r.batch; i++)
        if (ctx.seqs[i].text.failed) goto oom;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "dfrt run: writing the output failed: %s\n", strerror(errno));
        goto done;
    }
    if (interrupted) {
        fprintf(stderr, "dfrt run: interrupted\n");
        rc = CLI_INTERRUPTED;
        goto done;
    }
    if (s != DFRT_OK) {
        rc = cli_fail("run", s);
        goto done;
    }
    if (st.context_full) {
        if (r.batch > 1)
            fprintf(stderr, "stopped: the context of %d tokens is full (%d of %d sequences)\n", dfrt_model_max_context(m),
                    st.context_full, r.batch);
        else
            fprintf(stderr, "stopped: the context of %d tokens is full\n", dfrt_model_max_context(m));
    }
    if (r.logits_path && !out_write(&logits_out, logits, (size_t)dfrt_model_config(m)->vocab_size * sizeof *logits))
        goto done;
    cli_format_bytes(mem, sizeof mem, (double)dfrt_backend_peak_allocated(b));
    fprintf(stderr, "prefill: %d tokens x %d sequences in %.1f ms (%.1f tokens/s)\n", st.prompt_tokens, r.batch,
            1e3 * st.prefill_seconds, st.prefill_seconds > 0 ? st.prompt_tokens * r.batch / st.prefill_seconds : 0.0);
    fprintf(stderr, "decode: %d tokens in %.3f s (%.1f tokens/s%s)\n", st.generated_tokens, st.decode_seconds,
            st.decode_seconds > 0 ? (st.generated_tokens - r.batch) / st.decode_seconds : 0.0,
            r.batch > 1 ? " over all sequences" : "");
    fprintf(stderr, "peak device memory: %s", mem);
    dfrt_model_device parts[DFRT_MAX_DEVICES];
    int n_parts = dfrt_model_devices(m, parts, DFRT_MAX_DEVICES);
    for (int i = 1; i < n_parts; i++) { /* a split: each device's */
        cli_format_bytes(mem, sizeof mem, (double)dfrt_backend_peak_allocated(parts[i].backend));
        fprintf(stderr, "%s%s", i == 1 ? " on the first device; then " : ", ", mem);
    }
    fprintf(stderr, "\n");
    uint64_t copies, copied;
    if (dfrt_model_offloaded_layers(m, &copies, &copied))
        fprintf(stderr, "offload: %llu layer copies, %.2f GB to the device\n", (unsigned long long)copies, copied / 1e9);
    rc = CLI_OK;
    goto done;
oom:
    fprintf(stderr, "dfrt run: out of memory\n");
    rc = CLI_FAIL;
done:
    for (int i = 0; ctx.generated && i < r.batch; i++) free(ctx.generated[i]);
    for (int i = 0; ctx.seqs && i < r.batch; i++) free(ctx.seqs[i].text.p);
    free(ctx.generated);
    free(ctx.n_generated);
    free(ctx.seqs);
    free(logits);
    free(ids);
    free(prompt_text);
    free(logits_out.target);
    free(r.stops);
    dfrt_config_free(cfg);
    dfrt_model_free(m);
    dfrt_backend_close(b);
    return rc;
}
