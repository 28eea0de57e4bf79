/* dfrt chat: an interactive conversation in the terminal, in the model family's chat format
 * (dfrt_chat_encode_messages, as dfrt serve and dfrt run --chat), answers streamed as they are
 * generated. Each turn runs the whole conversation again (no KV cache kept between turns). */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: dfrt chat [MODEL_DIR] [options]\n"
    "\n"
    "An interactive chat with the model in its family's chat format; answers are streamed.\n"
    "The conversation is kept within the context: the oldest turns are dropped, with a\n"
    "notice, when it would not leave room for an answer. Without MODEL_DIR it runs the\n"
    "shipped kjv-qwen3 model.\n"
    "\n"
    "in the chat:\n"
    "  /reset               forget the conversation (the system message stays)\n"
    "  /system TEXT         set the system message and start over (/system alone: none)\n"
    "  /help                these commands\n"
    "  /quit, Ctrl-D        leave\n"
    "  Ctrl-C               stop the answer being written (the part written stays in the\n"
    "                       conversation); at the prompt, discard the line\n"
    "  a line ending in \\   continues on the next line\n"
    "\n"
    "options:\n"
    "  --system TEXT        the system message to start with\n"
    "  -n, --max-tokens N   tokens per answer at most (default: until the model ends it)\n"
    CLI_SAMPLING_HELP
    "  --context N          tokens the conversation may hold (default: min(model, 4096))\n"
    "  --kv-cache TYPE      bf16 (default) or f32\n"
    "  --backend NAME       auto (default), cuda, vulkan or cpu\n"
    "  --device I           device index within the backend\n"
    "  --threads N          CPU backend threads\n"
    CLI_OFFLOAD_HELP
    "  --verbose            after each answer: its tokens, tokens/s and the prompt's time\n";

static const char options[] = "--system= -n= --max-tokens= " CLI_SAMPLING_OPTIONS CLI_OFFLOAD_OPTIONS
                              "--context= --kv-cache= --backend= --device= --threads= --verbose --help -h";

/* Ctrl-C: raises the flag that dfrt_generate polls; no SA_RESTART, so a read waiting for the
 * next line returns EINTR. */
static volatile int interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct conversation {
    char *system;
    dfrt_chat_message *msgs; /* msgs[0] is the system message when there is one */
    size_t n, cap;
} conversation;

static void conv_clear(conversation *c) {
    for (size_t i = 0; i < c->n; i++) free((char *)c->msgs[i].content);
    c->n = 0;
    if (c->system && *c->system) {
        c->msgs[0] = (dfrt_chat_message){"system", strdup(c->system)};
        c->n = c->msgs[0].content ? 1 : 0;
    }
}

static int conv_add(conversation *c, const char *role, const char *text, size_t len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        dfrt_chat_message *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return 0;
        c->msgs = m;
        c->cap = cap;
    }
    char *copy = strndup(text, len);
    if (!copy) return 0;
    c->msgs[c->n++] = (dfrt_chat_message){role, copy};
    return 1;
}

/* Drops the oldest user message and the answers after it, before the last user message;
 * false when there is nothing before it to drop. */
static int conv_drop_oldest(conversation *c) {
    size_t first = c->n && strcmp(c->msgs[0].role, "system") == 0 ? 1 : 0, end = first + 1;
    while (end < c->n && strcmp(c->msgs[end].role, "user") != 0) end++;
    if (end >= c->n) return 0; /* the first user message is the last one */
    for (size_t i = first; i < end; i++) free((char *)c->msgs[i].content);
    memmove(c->msgs + first, c->msgs + end, (c->n - end) * sizeof *c->msgs);
    c->n -= end - first;
    return 1;
}

typedef struct answer {
    const dfrt_tokenizer *tok;
    cli_text raw; /* the answer's bytes as generated */
    size_t printed;
    int tokens;
} answer;

static bool on_token(void *user, int seq, int32_t token) {
    (void)seq;
    answer *a = user;
    const char *bytes;
    size_t len;
    a->tokens++;
    if (dfrt_tokenizer_token_bytes(a->tok, token, &bytes, &len) == DFRT_OK) cli_text_append(&a->raw, bytes, len);
    size_t upto = a->raw.len - cli_utf8_incomplete_tail(a->raw.p + a->printed, a->raw.len - a->printed);
    if (upto > a->printed) {
        fwrite(a->raw.p + a->printed, 1, upto - a->printed, stdout);
        fflush(stdout);
        a->printed = upto;
    }
    return true;
}

/* Reads the next message (lines ending in a backslash continue it); NULL at the end of input.
 * *interrupted_line is set when Ctrl-C discarded what was being typed. */
static char *read_message(int prompt, int *interrupted_line) {
    cli_text t = {0};
    char *line = NULL;
    size_t cap = 0;
    *interrupted_line = 0;
    for (;;) {
        if (prompt) {
            fputs(t.len ? ". " : "> ", stdout);
            fflush(stdout);
        }
        interrupted = 0;
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR || interrupted) {
                clearerr(stdin);
                *interrupted_line = 1;
                free(t.p);
                free(line);
                return NULL;
            }
            free(line);
            if (t.len) return t.p; /* the last line had no newline */
            free(t.p);
            return NULL;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        int more = n > 0 && line[n - 1] == '\\';
        cli_text_append(&t, line, (size_t)n - (size_t)more);
        if (!more) break;
        cli_text_puts(&t, "\n");
    }
    free(line);
    if (t.failed) {
        free(t.p);
        return strdup("");
    }
    return t.p ? t.p : strdup("");
}

typedef struct chat_args {
    const char *model_dir, *system, *backend_name;
    int device, threads, context, kv_f32, max_tokens, verbose, seed_given;
    dfrt_sampling sampling;
    dfrt_model_options offload; /* offload_layers, weight_budget */
} chat_args;

/* One answer to the conversation as it stands (its last message is the user's): 1, or 0 when
 * the message was not sent (said why), or -1 when memory ran out. */
static int respond(dfrt_model *m, const chat_args *r, conversation *c, int turn) {
    const dfrt_tokenizer *tok = dfrt_model_tokenizer(m);
    int context = dfrt_model_max_context(m);
    /* room for an answer: --max-tokens, else a quarter of the context */
    int reserve = r->max_tokens ? r->max_tokens : context / 4;
    if (reserve > context - 1) reserve = context - 1;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int dropped = 0;
    dfrt_status s;
    for (;;) {
        free(ids);
        if ((s = dfrt_chat_encode_messages(tok, c->msgs, c->n, &ids, &n_ids)) != DFRT_OK) {
            cli_fail("chat", s);
            c->n--; /* the message that failed goes */
            free((char *)c->msgs[c->n].content);
            return 0;
        }
        if (n_ids + (size_t)reserve <= (size_t)context) break;
        if (!conv_drop_oldest(c)) break;
        dropped++;
    }
    if (dropped)
        fprintf(stderr, "[the conversation no longer fits the context of %d tokens: the oldest %d turn%s dropped]\n",
                context, dropped, dropped == 1 ? " was" : "s were");
    if (n_ids >= (size_t)context) {
        fprintf(stderr, "[that message is %zu tokens in the chat format; the context holds %d: it was not sent]\n",
                n_ids, context);
        free(ids);
        c->n--;
        free((char *)c->msgs[c->n].content);
        return 0;
    }
    int room = context - (int)n_ids;
    answer a = {.tok = tok};
    dfrt_generate_options go = {.sampling = r->sampling, .max_new_tokens = r->max_tokens && r->max_tokens < room ? r->max_tokens : room,
                                .n_sequences = 1, .on_token = on_token, .user = &a, .cancel = &interrupted};
    go.sampling.seed += (uint64_t)turn;
    dfrt_generate_stats st = {0};
    interrupted = 0;
    s = dfrt_generate(m, ids, n_ids, &go, &st);
    free(ids);
    fwrite(a.raw.p ? a.raw.p + a.printed : "", 1, a.raw.len - a.printed, stdout); /* an unfinished character */
    printf("\n");
    fflush(stdout);
    int stopped = s == DFRT_CANCELLED || interrupted;
    interrupted = 0;
    if (stopped) fprintf(stderr, "[stopped]\n");
    else if (s != DFRT_OK) cli_fail("chat", s);
    else if (st.context_full || (a.tokens == go.max_new_tokens && go.max_new_tokens == room))
        fprintf(stderr, "[the context of %d tokens is full: /reset starts over]\n", context);
    else if (r->max_tokens && a.tokens == r->max_tokens)
        fprintf(stderr, "[the answer reached --max-tokens %d]\n", r->max_tokens);
    if (r->verbose)
        fprintf(stderr, "[%d tokens in %.2f s, %.1f tokens/s; prompt %d tokens in %.2f s]\n", a.tokens,
                st.decode_seconds, st.decode_seconds > 0 && a.tokens > 1 ? (a.tokens - 1) / st.decode_seconds : 0.0,
                st.prompt_tokens, st.prefill_seconds);
    /* the answer, as far as it went, joins the conversation as valid UTF-8 */
    cli_text valid = {0};
    cli_text_append_valid(&valid, a.raw.p ? a.raw.p : "", a.raw.len);
    int ok = !valid.failed && !a.raw.failed && conv_add(c, "assistant", valid.p ? valid.p : "", valid.len);
    free(valid.p);
    free(a.raw.p);
    return ok ? 1 : -1;
}

static int parse(int argc, char **argv, chat_args *r) {
    cli_args a = {argc, argv, 1, "chat", options, help};
    const char *arg, *inline_value;
    int is_option, rc;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (r->model_dir) return cli_usage_error("chat", "unexpected argument \"%s\"", arg);
            r->model_dir = arg;
            continue;
        }
        if (strcmp(arg, "--verbose") == 0) {
            r->verbose = 1;
            continue;
        }
        const char *v = cli_value(&a, arg, inline_value);
        if (!v) return CLI_USAGE;
        if (strcmp(arg, "--system") == 0) {
            if ((rc = cli_check_text("chat", "--system", v))) return rc;
            r->system = v;
        } else if (strcmp(arg, "--backend") == 0) {
            r->backend_name = v;
        } else if (strcmp(arg, "-n") == 0 || strcmp(arg, "--max-tokens") == 0) {
            if (!cli_parse_int("chat", arg, v, 1, 1 << 24, &r->max_tokens)) return CLI_USAGE;
        } else if (strcmp(arg, "--device") == 0) {
            if (!cli_parse_int("chat", arg, v, 0, 1024, &r->device)) return CLI_USAGE;
        } else if (strcmp(arg, "--threads") == 0) {
            if (!cli_parse_int("chat", arg, v, 1, 4096, &r->threads)) return CLI_USAGE;
        } else if (strcmp(arg, "--context") == 0) {
            if (!cli_parse_int("chat", arg, v, 2, 1 << 22, &r->context)) return CLI_USAGE;
        } else if (strcmp(arg, "--kv-cache") == 0) {
            if (!cli_parse_kv_cache("chat", arg, v, &r->kv_f32)) return CLI_USAGE;
        } else if ((rc = cli_sampling_option("chat", arg, v, &r->sampling, &r->seed_given)) != -1 ||
                   (rc = cli_offload_option("chat", arg, v, &r->offload)) != -1) {
            if (rc != CLI_OK) return rc;
        }
    }
    return CLI_OK;
}

int cmd_chat(int argc, char **argv) {
    chat_args r = {.backend_name = "auto", .device = -1, .sampling = CLI_SAMPLING_DEFAULT};
    int rc = parse(argc, argv, &r);
    if (rc != CLI_OK) return rc;
    if (!r.model_dir && !(r.model_dir = cli_default_model())) {
        fprintf(stderr, "dfrt chat: no MODEL_DIR given and the shipped model is not there (set DFRT_MODEL)\n");
        return CLI_FAIL;
    }
    dfrt_backend *b = NULL;
    dfrt_model *m = NULL;
    conversation c = {0};
    dfrt_model_options mo = {.max_context = r.context, .max_batch = 1, .kv_f32 = r.kv_f32};
    cli_placement(&mo, &r.offload);
    if ((rc = cli_load_model("chat", r.model_dir, r.backend_name, r.device, r.threads, &mo, &b, &m)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    if (!dfrt_model_tokenizer(m)) {
        fprintf(stderr, "dfrt chat: %s has no tokenizer.json, which a chat needs\n", r.model_dir);
        goto done;
    }
    if (r.sampling.temperature > 0) {
        if (!r.seed_given) r.sampling.seed = cli_random_seed();
        fprintf(stderr, "seed: %llu\n", (unsigned long long)r.sampling.seed);
    }
    if (r.system && !(c.system = strdup(r.system))) goto oom;
    c.msgs = malloc(16 * sizeof *c.msgs);
    if (!c.msgs) goto oom;
    c.cap = 16;
    conv_clear(&c);
    int tty = isatty(STDIN_FILENO);
    if (tty) fprintf(stderr, "context %d tokens; /help lists the commands, Ctrl-D leaves\n", dfrt_model_max_context(m));
    struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    for (int turn = 0;; turn++) {
        int discarded;
        char *msg = read_message(tty, &discarded);
        if (!msg) {
            if (discarded) {
                printf("\n");
                continue;
            }
            if (tty) printf("\n");
            break;
        }
        if (strcmp(msg, "/quit") == 0 || strcmp(msg, "/exit") == 0) {
            free(msg);
            break;
        }
        if (strcmp(msg, "/reset") == 0) {
            conv_clear(&c);
            fprintf(stderr, "[the conversation was reset]\n");
        } else if (strcmp(msg, "/system") == 0 || strncmp(msg, "/system ", 8) == 0) {
            const char *text = msg[7] ? msg + 8 : "";
            free(c.system);
            c.system = *text ? strdup(text) : NULL;
            conv_clear(&c);
            fprintf(stderr, *text ? "[system message set; the conversation starts over]\n"
                                  : "[no system message; the conversation starts over]\n");
        } else if (strcmp(msg, "/help") == 0) {
            fputs("/reset, /system TEXT, /quit (or Ctrl-D); Ctrl-C stops an answer; a line ending in \\ continues\n",
                  stderr);
        } else if (msg[0] == '/' && msg[1] != '/' && msg[1] != ' ' && msg[1]) {
            fprintf(stderr, "[unknown command %s; /help lists them (start a message with // to send a slash)]\n", msg);
        } else if (*msg) {
            const char *text = msg[0] == '/' && msg[1] == '/' ? msg + 1 : msg;
            if (dfrt_utf8_invalid_at(text, strlen(text)) != strlen(text)) {
                fprintf(stderr, "[that message is not valid UTF-8: it was not sent]\n");
            } else if (!conv_add(&c, "user", text, strlen(text)) || respond(m, &r, &c, turn) < 0) {
                free(msg);
                goto oom;
            }
        }
        free(msg);
    }
    rc = CLI_OK;
    goto done;
oom:
    fprintf(stderr, "dfrt chat: out of memory\n");
    rc = CLI_FAIL;
done:
    for (size_t i = 0; i < c.n; i++) free((char *)c.msgs[i].content);
    free(c.msgs);
    free(c.system);
    dfrt_model_free(m);
    dfrt_backend_close(b);
    return rc;
}
