/* dfrt serve: an OpenAI-compatible HTTP server over the continuous-batching engine, on
 * libmicrohttpd (a thread per connection: a streaming response blocks its own thread on its
 * call's condition variable while the engine produces tokens) and cJSON.
 *
 * A call is shared by the connection and the engine, and freed by whichever lets go last: the
 * engine after on_done, the connection when its response is done or the client has gone (then
 * it cancels the engine's request, which ends at the next step). */
#include "cli.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char serve_help[] =
    "usage: dfrt serve [MODEL_DIR] [OPTIONS]\n"
    "\n"
    "Serves the model over HTTP with OpenAI's API: POST /v1/chat/completions and\n"
    "/v1/completions (streamed as server-sent events with \"stream\": true), GET /v1/models,\n"
    "GET /health, GET /metrics (Prometheus), POST /tokenize and /detokenize. Requests join the\n"
    "running batch at the next step (continuous batching), each in its own KV slot.\n"
    "/v1/completions also takes a prompt of token ids, and vLLM's \"ignore_eos\": true.\n"
    "\n"
    "options:\n"
    "  --host ADDR          IPv4 address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port N             TCP port (default 8080; 0: any free one, printed)\n"
    "  --backend NAME       cuda, vulkan, cpu or auto (default auto)\n"
    "  --device N           device index within the backend (default: the backend's choice)\n"
    "  --threads N          CPU backend threads (default: the CPUs this process may use)\n"
    "  --parallel N         sequences decoded together: KV slots (default 4)\n"
    "  --context N          tokens per sequence (default: the model's, at most 4096)\n"
    "  --queue N            requests waiting for a slot before 503 (default 4 x --parallel)\n"
    "  --api-key KEY        require \"Authorization: Bearer KEY\" (also $DFRT_API_KEY)\n"
    "  --api-key-file F     the key from a file's first line\n"
    "  --max-body BYTES     largest request body (default 1048576)\n"
    "  --timeout S          a connection idle this long, or whose request has not arrived\n"
    "                       whole this long after it began, is closed (default 30)\n"
    "  --name NAME          the model's id in responses (default: the directory's name)\n"
    "  --kv-cache TYPE      bf16 (default) or f32\n"
    "  --tokenizer FILE     a tokenizer.json to use instead of the model directory's\n"
    CLI_OFFLOAD_HELP
    "\n"
    "SIGINT or SIGTERM: stop accepting, let running requests finish for up to 10 s, exit 0.\n";

/* ---------------------------------------------------------------------------------------- */
/* Calls                                                                                     */
/* ---------------------------------------------------------------------------------------- */

#define MAX_STOPS 4

typedef struct server server;

typedef struct call {
    server *srv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* the connection's and the engine's */
    uint64_t engine_id;
    int fd; /* the connection's socket, to notice a client that left while it waits */
    bool chat, stream, include_usage, done, gone;
    char id[48];
    long created;
    /* generated text (raw token bytes, up to a stop string) and how much was sent */
    cli_text raw;
    size_t sent;
    char *stops[MAX_STOPS];
    int n_stops;
    size_t longest_stop;
    bool stopped; /* a stop string ended it */
    int prompt_tokens, generated;
    dfrt_finish_reason reason;
    char error[256];
    /* the streamed response's pending bytes */
    cli_text out;
    size_t out_at;
    bool sent_role, finished; /* the first chunk (role) and the last ([DONE]) are out */
} call;

struct server {
    dfrt_model *m;
    dfrt_engine *e;
    const dfrt_tokenizer *tok;
    const char *name;
    char *api_key;
    size_t max_body;
    int context;
    atomic_ullong requests, http_errors, next_id;
    /* histograms (seconds): time to first token and per output token */
    pthread_mutex_t hist_mu;
    uint64_t ttft_bucket[12], tpot_bucket[12], ttft_count, tpot_count;
    double ttft_sum, tpot_sum;
    /* connections whose request is still arriving (the watchdog's list) */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    struct watch *watches;
    double request_timeout;
    bool watchdog_stop;
};

static const double buckets[12] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

static void observe(uint64_t *b, uint64_t *count, double *sum, double v) {
    for (int i = 0; i < 12; i++)
        if (v <= buckets[i]) b[i]++;
    (*count)++;
    *sum += v;
}

static void call_release(call *c) {
    pthread_mutex_lock(&c->mu);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last) return;
    for (int i = 0; i < c->n_stops; i++) free(c->stops[i]);
    free(c->raw.p);
    free(c->out.p);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* Whether the client closed its side of the connection (what it sent before stays readable). */
static bool peer_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return true;
    char byte;
    return (p.revents & POLLIN) && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* CLOCK_REALTIME (pthread_cond_timedwait's) `ms` milliseconds from now. */
static struct timespec in_ms(long ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ms * 1000 * 1000;
    t.tv_sec += t.tv_nsec / 1000000000;
    t.tv_nsec %= 1000000000;
    return t;
}

/* Waits (under c->mu) for the engine's next word on this call, up to 100 ms; false when the
 * client has gone meanwhile. */
static bool wait_call(call *c) {
    struct timespec until = in_ms(100);
    pthread_cond_timedwait(&c->cv, &c->mu, &until);
    return !peer_gone(c->fd);
}

/* The engine's thread: a token's bytes, and the stop strings over the text so far. */
static bool call_token(void *user, int32_t token) {
    call *c = user;
    const char *bytes;
    size_t len;
    pthread_mutex_lock(&c->mu);
    c->generated++;
    size_t before = c->raw.len;
    if (dfrt_tokenizer_token_bytes(c->srv->tok, token, &bytes, &len) == DFRT_OK) cli_text_append(&c->raw, bytes, len);
    bool keep = !c->gone;
    if (c->n_stops && !c->raw.failed) {
        size_t cut = cli_stop_find(c->raw.p, c->raw.len, before, (const char *const *)c->stops, c->n_stops,
                                   c->longest_stop);
        if (cut != SIZE_MAX) {
            c->raw.len = cut;
            c->stopped = true;
            keep = false;
        }
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return keep;
}

static void call_done(void *user, dfrt_finish_reason reason, const dfrt_request_result *r) {
    call *c = user;
    server *s = c->srv;
    pthread_mutex_lock(&s->hist_mu);
    if (r->ttft_seconds > 0) observe(s->ttft_bucket, &s->ttft_count, &s->ttft_sum, r->ttft_seconds);
    if (r->generated_tokens > 1)
        observe(s->tpot_bucket, &s->tpot_count, &s->tpot_sum, r->decode_seconds / (r->generated_tokens - 1));
    pthread_mutex_unlock(&s->hist_mu);
    pthread_mutex_lock(&c->mu);
    c->reason = reason;
    c->prompt_tokens = r->prompt_tokens;
    if (r->error) snprintf(c->error, sizeof c->error, "%s", r->error);
    c->done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    call_release(c);
}

static const char *finish_name(const call *c) {
    if (c->stopped || c->reason == DFRT_FINISH_STOP || c->reason == DFRT_FINISH_CANCELLED) return "stop";
    return c->reason == DFRT_FINISH_LENGTH ? "length" : "error";
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
                                 const char *extra_header, const char *extra_value) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (extra_header) MHD_add_response_header(r, extra_header, extra_value);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, cJSON *body) {
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) return send_text(conn, 500, "text/plain", "out of memory\n", NULL, NULL);
    enum MHD_Result r = send_text(conn, status, "application/json", text, NULL, NULL);
    free(text);
    return r;
}

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}}. */
static enum MHD_Result send_error(server *s, struct MHD_Connection *conn, unsigned status, const char *param,
                                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(server *s, struct MHD_Connection *conn, unsigned status, const char *param,
                                  const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&s->http_errors, 1);
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cli_text valid = {0};
    cli_text_append_valid(&valid, msg, strlen(msg)); /* the message may quote a request's bytes */
    cJSON_AddStringToObject(err, "message", valid.p ? valid.p : "");
    free(valid.p);
    cJSON_AddStringToObject(err, "type", status == 401   ? "authentication_error"
                                         : status == 503 ? "server_busy"
                                         : status >= 500 ? "server_error"
                                                         : "invalid_request_error");
    if (param) cJSON_AddStringToObject(err, "param", param);
    else cJSON_AddNullToObject(err, "param");
    cJSON_AddNullToObject(err, "code");
    if (status == 503) {
        char *text = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        enum MHD_Result r = send_text(conn, 503, "application/json", text ? text : "{}", "Retry-After", "1");
        free(text);
        return r;
    }
    return send_json(conn, status, root);
}

/* The text generated so far that can go out: valid UTF-8, nothing a stop string may still
 * claim, nothing of an unfinished character. Under c->mu. */
static size_t sendable(const call *c) {
    size_t upto = c->raw.len;
    if (!c->done && !c->stopped) {
        upto -= cli_stop_prefix(c->raw.p, c->sent, upto, (const char *const *)c->stops, c->n_stops);
        upto -= cli_utf8_incomplete_tail(c->raw.p + c->sent, upto - c->sent);
    }
    return upto;
}

static cJSON *response_head(const call *c, const char *object) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", c->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)c->created);
    cJSON_AddStringToObject(root, "model", c->srv->name);
    return root;
}

static cJSON *usage(const call *c) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", c->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", c->generated);
    cJSON_AddNumberToObject(u, "total_tokens", c->prompt_tokens + c->generated);
    return u;
}

/* One SSE event into c->out: a chunk with this delta text (NULL: none), and a finish reason
 * on the last. */
static void stream_chunk(call *c, const char *text, size_t n, const char *finish) {
    cJSON *root = response_head(c, c->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cli_text valid = {0};
    if (text) cli_text_append_valid(&valid, text, n);
    if (c->chat) {
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (!c->sent_role) cJSON_AddStringToObject(delta, "role", "assistant");
        if (text) cJSON_AddStringToObject(delta, "content", valid.p ? valid.p : "");
    } else {
        cJSON_AddStringToObject(ch, "text", valid.p ? valid.p : "");
        cJSON_AddNullToObject(ch, "logprobs");
    }
    c->sent_role = true;
    free(valid.p);
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (json) cli_text_printf(&c->out, "data: %s\n\n", json);
    free(json);
}

/* libmicrohttpd's reader of a streamed response, on the connection's thread: waits for text
 * (or the end), then hands out SSE events. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    call *c = cls;
    pthread_mutex_lock(&c->mu);
    while (c->out_at == c->out.len) {
        if (c->finished) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        c->out.len = c->out_at = 0;
        size_t upto = sendable(c);
        if (!c->sent_role && c->chat) stream_chunk(c, NULL, 0, NULL); /* the role first */
        if (upto > c->sent) {
            stream_chunk(c, c->raw.p + c->sent, upto - c->sent, NULL);
            c->sent = upto;
        }
        if (c->done && c->sent == sendable(c)) {
            if (c->reason == DFRT_FINISH_ERROR) {
                cJSON *e = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(e, "error");
                cJSON_AddStringToObject(o, "message", c->error);
                cJSON_AddStringToObject(o, "type", "server_error");
                char *json = cJSON_PrintUnformatted(e);
                cJSON_Delete(e);
                if (json) cli_text_printf(&c->out, "data: %s\n\n", json);
                free(json);
            } else {
                stream_chunk(c, c->chat ? NULL : "", 0, finish_name(c));
            }
            if (c->include_usage) {
                cJSON *root = response_head(c, c->chat ? "chat.completion.chunk" : "text_completion");
                cJSON_AddArrayToObject(root, "choices");
                cJSON_AddItemToObject(root, "usage", usage(c));
                char *json = cJSON_PrintUnformatted(root);
                cJSON_Delete(root);
                if (json) cli_text_printf(&c->out, "data: %s\n\n", json);
                free(json);
            }
            cli_text_puts(&c->out, "data: [DONE]\n\n");
            c->finished = true;
        }
        if (c->out.failed) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (c->out_at == c->out.len && !c->finished && !wait_call(c)) {
            pthread_mutex_unlock(&c->mu); /* the client left: stream_free cancels the request */
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = c->out.len - c->out_at < max ? c->out.len - c->out_at : max;
    memcpy(buf, c->out.p + c->out_at, n);
    c->out_at += n;
    pthread_mutex_unlock(&c->mu);
    return (ssize_t)n;
}

/* The streamed response is over (sent, or the client went away): the engine's request ends. */
static void stream_free(void *cls) {
    call *c = cls;
    pthread_mutex_lock(&c->mu);
    bool running = !c->done;
    c->gone = true;
    pthread_mutex_unlock(&c->mu);
    if (running) dfrt_engine_cancel(c->srv->e, c->engine_id);
    call_release(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct body {
    cli_text text;
    bool too_large;
} body;

/* A number field in [min, max] (absent or null: unchanged); false after an error response. */
static bool number_field(server *s, struct MHD_Connection *conn, const cJSON *root, const char *key, double min,
                         double max, double *out, enum MHD_Result *ret) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max)) {
        *ret = send_error(s, conn, 400, key, "'%s' must be a number from %g to %g", key, min, max);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bool int_field(server *s, struct MHD_Connection *conn, const cJSON *root, const char *key, double min,
                      double max, double *out, enum MHD_Result *ret) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v && cJSON_IsNumber(v) && v->valuedouble != floor(v->valuedouble)) {
        *ret = send_error(s, conn, 400, key, "'%s' must be an integer", key);
        return false;
    }
    return number_field(s, conn, root, key, min, max, out, ret);
}

/* The text of a message's content: a string, or an array of {"type": "text", "text": ...}
 * parts (joined). NULL after an error response; *owned to free. */
static const char *content_text(server *s, struct MHD_Connection *conn, const cJSON *content, size_t i, char **owned,
                                enum MHD_Result *ret) {
    *owned = NULL;
    if (cJSON_IsString(content)) return content->valuestring;
    if (!cJSON_IsArray(content)) {
        *ret = send_error(s, conn, 400, "messages", "messages[%zu].content must be a string or an array of text parts", i);
        return NULL;
    }
    cli_text t = {0};
    cli_text_puts(&t, "");
    const cJSON *p;
    int k = 0;
    cJSON_ArrayForEach(p, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type"), *text = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text)) {
            free(t.p);
            *ret = send_error(s, conn, 400, "messages",
                              "messages[%zu].content[%d] must be {\"type\": \"text\", \"text\": STRING} (dfrt serves "
                              "text)",
                              i, k);
            return NULL;
        }
        cli_text_puts(&t, text->valuestring);
        k++;
    }
    *owned = t.p;
    return t.p ? t.p : "";
}

/* The prompt's ids for a chat or completion request; false after an error response. */
/* A prompt given as token ids (OpenAI's completions take them): each an integer id of the
 * model's vocabulary. */
static bool token_prompt(server *s, struct MHD_Connection *conn, const cJSON *prompt, int32_t **ids, size_t *n,
                         enum MHD_Result *ret) {
    int count = cJSON_GetArraySize(prompt), vocab = (int)dfrt_model_config(s->m)->vocab_size;
    if (count > s->context) {
        *ret = send_error(s, conn, 400, "prompt", "the prompt is %d tokens; the context is %d tokens", count, s->context);
        return false;
    }
    if (!(*ids = malloc((size_t)count * sizeof **ids))) {
        *ret = send_error(s, conn, 500, NULL, "out of memory");
        return false;
    }
    for (int i = 0; i < count; i++) {
        const cJSON *e = cJSON_GetArrayItem(prompt, i);
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < vocab) || e->valuedouble != floor(e->valuedouble)) {
            free(*ids);
            *ids = NULL;
            *ret = send_error(s, conn, 400, "prompt", "prompt[%d] must be a token id from 0 to %d", i, vocab - 1);
            return false;
        }
        (*ids)[i] = (int32_t)e->valuedouble;
    }
    *n = (size_t)count;
    return true;
}

static bool prompt_ids(server *s, struct MHD_Connection *conn, const cJSON *root, bool chat, int32_t **ids, size_t *n,
                       enum MHD_Result *ret) {
    *ids = NULL;
    *n = 0;
    dfrt_status st;
    if (chat) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        int count = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : -1;
        if (count < 1 || count > 4096) {
            *ret = send_error(s, conn, 400, "messages", "'messages' must be an array of 1 to 4096 messages");
            return false;
        }
        dfrt_chat_message *list = calloc((size_t)count, sizeof *list);
        char **owned = calloc((size_t)count, sizeof *owned);
        bool ok = list && owned;
        if (!ok) *ret = send_error(s, conn, 500, NULL, "out of memory");
        for (int i = 0; i < count && ok; i++) {
            const cJSON *m = cJSON_GetArrayItem(msgs, i), *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (!cJSON_IsString(role)) {
                *ret = send_error(s, conn, 400, "messages", "messages[%d].role must be a string", i);
                ok = false;
                break;
            }
            list[i].role = role->valuestring;
            list[i].content = content_text(s, conn, cJSON_GetObjectItemCaseSensitive(m, "content"), (size_t)i, &owned[i], ret);
            ok = list[i].content != NULL;
        }
        if (ok && (st = dfrt_chat_encode_messages(s->tok, list, (size_t)count, ids, n)) != DFRT_OK) {
            *ret = send_error(s, conn, st == DFRT_OUT_OF_MEMORY ? 500 : 400, "messages", "%s", dfrt_last_error());
            ok = false;
        }
        for (int i = 0; owned && i < count; i++) free(owned[i]);
        free(owned);
        free(list);
        return ok;
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) == 1 && cJSON_IsString(cJSON_GetArrayItem(prompt, 0)))
        prompt = cJSON_GetArrayItem(prompt, 0);
    if (cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) >= 1 && cJSON_IsNumber(cJSON_GetArrayItem(prompt, 0)))
        return token_prompt(s, conn, prompt, ids, n, ret);
    if (!cJSON_IsString(prompt)) {
        *ret = send_error(s, conn, 400, "prompt",
                          "'prompt' must be a string, an array of one string, or an array of token ids");
        return false;
    }
    if ((st = dfrt_prompt_encode(s->m, prompt->valuestring, false, ids, n)) != DFRT_OK) {
        *ret = send_error(s, conn, st == DFRT_OUT_OF_MEMORY ? 500 : 400, "prompt", "%s", dfrt_last_error());
        return false;
    }
    return true;
}

static enum MHD_Result completion(server *s, struct MHD_Connection *conn, const cJSON *root, bool chat) {
    enum MHD_Result ret = MHD_NO;
    double max_tokens = -1, temperature = 1, top_p = 1, top_k = 0, min_p = 0, seed = 0, presence = 0, frequency = 0,
           repetition = 1, n = 1;
    const char *mt_key = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens") ? "max_completion_tokens"
                                                                                           : "max_tokens";
    if (!int_field(s, conn, root, mt_key, 1, 1 << 24, &max_tokens, &ret) ||
        !number_field(s, conn, root, "temperature", 0, 2, &temperature, &ret) ||
        !number_field(s, conn, root, "top_p", 0, 1, &top_p, &ret) ||
        !int_field(s, conn, root, "top_k", 0, 1 << 24, &top_k, &ret) ||
        !number_field(s, conn, root, "min_p", 0, 1, &min_p, &ret) ||
        !int_field(s, conn, root, "seed", -9007199254740991.0, 9007199254740991.0, &seed, &ret) ||
        !number_field(s, conn, root, "presence_penalty", -2, 2, &presence, &ret) ||
        !number_field(s, conn, root, "frequency_penalty", -2, 2, &frequency, &ret) ||
        !number_field(s, conn, root, "repetition_penalty", 0.01, 100, &repetition, &ret) ||
        !int_field(s, conn, root, "n", 1, 1, &n, &ret))
        return ret;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream))
        return send_error(s, conn, 400, "stream", "'stream' must be true or false");
    const cJSON *ignore_eos = cJSON_GetObjectItemCaseSensitive(root, "ignore_eos"); /* vLLM's extension */
    if (ignore_eos && !cJSON_IsNull(ignore_eos) && !cJSON_IsBool(ignore_eos))
        return send_error(s, conn, 400, "ignore_eos", "'ignore_eos' must be true or false");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (opts && !cJSON_IsNull(opts) && !cJSON_IsObject(opts))
        return send_error(s, conn, 400, "stream_options", "'stream_options' must be an object");
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(opts, "include_usage");
    if (iu && !cJSON_IsNull(iu) && !cJSON_IsBool(iu))
        return send_error(s, conn, 400, "stream_options", "'stream_options.include_usage' must be true or false");
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    const char *stops[MAX_STOPS];
    int n_stops = 0;
    if (cJSON_IsString(stop)) stops[n_stops++] = stop->valuestring;
    else if (cJSON_IsArray(stop)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, stop) {
            if (!cJSON_IsString(e) || !*e->valuestring || n_stops == MAX_STOPS)
                return send_error(s, conn, 400, "stop", "'stop' must be a string or an array of up to 4 non-empty strings");
            stops[n_stops++] = e->valuestring;
        }
    } else if (stop && !cJSON_IsNull(stop)) {
        return send_error(s, conn, 400, "stop", "'stop' must be a string or an array of up to 4 non-empty strings");
    }
    for (int i = 0; i < n_stops; i++)
        if (!*stops[i] || dfrt_utf8_invalid_at(stops[i], strlen(stops[i])) != strlen(stops[i]))
            return send_error(s, conn, 400, "stop", "'stop' strings must be non-empty UTF-8");
    int32_t *ids;
    size_t n_ids;
    if (!prompt_ids(s, conn, root, chat, &ids, &n_ids, &ret)) return ret;
    if (n_ids + 1 > (size_t)s->context) {
        free(ids);
        return send_error(s, conn, 400, chat ? "messages" : "prompt",
                          "the prompt is %zu tokens; the context is %d tokens, and the answer needs at least one", n_ids,
                          s->context);
    }
    int room = s->context - (int)n_ids;
    call *c = calloc(1, sizeof *c);
    if (!c) {
        free(ids);
        return send_error(s, conn, 500, NULL, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->srv = s;
    c->refs = 2;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = ci ? ci->connect_fd : -1;
    c->chat = chat;
    c->stream = cJSON_IsTrue(stream);
    c->include_usage = cJSON_IsTrue(iu);
    c->created = (long)time(NULL);
    snprintf(c->id, sizeof c->id, "%s-%llu", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)atomic_fetch_add(&s->next_id, 1));
    for (int i = 0; i < n_stops; i++) {
        c->stops[c->n_stops++] = strdup(stops[i]);
        if (strlen(stops[i]) > c->longest_stop) c->longest_stop = strlen(stops[i]);
    }
    cli_text_puts(&c->raw, "");
    dfrt_request req = {.prompt = ids, .n_prompt = n_ids, .max_tokens = max_tokens > 0 ? (int)fmin(max_tokens, room) : room,
                        .sampling = {.temperature = (float)temperature, .top_p = (float)top_p, .top_k = (int)top_k,
                                     .min_p = (float)min_p, .repeat_penalty = (float)repetition,
                                     .seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)c},
                        .presence_penalty = (float)presence, .frequency_penalty = (float)frequency,
                        .ignore_eos = cJSON_IsTrue(ignore_eos),
                        .on_token = call_token, .on_done = call_done, .user = c};
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "seed"))) req.sampling.seed = (uint64_t)(int64_t)seed;
    dfrt_status st = dfrt_engine_submit(s->e, &req, &c->engine_id);
    free(ids);
    if (st != DFRT_OK) {
        c->refs = 1;
        call_release(c);
        return send_error(s, conn, st == DFRT_UNAVAILABLE ? 503 : 400, NULL, "%s", dfrt_last_error());
    }
    if (c->stream) {
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, c, stream_free);
        if (!r) {
            stream_free(c);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* not streamed: wait for the end, here on the connection's thread */
    pthread_mutex_lock(&c->mu);
    bool left = false;
    while (!c->done) {
        if (!left && !wait_call(c)) { /* the client left: its slot frees at the next step */
            left = c->gone = true;
            pthread_mutex_unlock(&c->mu);
            dfrt_engine_cancel(s->e, c->engine_id);
            pthread_mutex_lock(&c->mu);
        } else if (left) {
            pthread_cond_wait(&c->cv, &c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (left) {
        call_release(c);
        return MHD_NO; /* closes the connection */
    }
    if (c->reason == DFRT_FINISH_ERROR) {
        ret = send_error(s, conn, 500, NULL, "generation failed: %s", c->error);
        call_release(c);
        return ret;
    }
    cJSON *rootr = response_head(c, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(rootr, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cli_text valid = {0};
    cli_text_append_valid(&valid, c->raw.p, c->raw.len);
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", valid.p ? valid.p : "");
    } else {
        cJSON_AddStringToObject(ch, "text", valid.p ? valid.p : "");
        cJSON_AddNullToObject(ch, "logprobs");
    }
    free(valid.p);
    cJSON_AddStringToObject(ch, "finish_reason", finish_name(c));
    cJSON_AddItemToObject(rootr, "usage", usage(c));
    call_release(c);
    return send_json(conn, 200, rootr);
}

static enum MHD_Result tokenize(server *s, struct MHD_Connection *conn, const cJSON *root, bool encode) {
    if (encode) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
        if (!cJSON_IsString(content)) return send_error(s, conn, 400, "content", "'content' must be a string");
        int32_t *ids;
        size_t n;
        dfrt_status st = dfrt_tokenizer_encode(s->tok, content->valuestring, strlen(content->valuestring), &ids, &n);
        if (st != DFRT_OK) return send_error(s, conn, 400, "content", "%s", dfrt_last_error());
        cJSON *r = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(r, "tokens");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
        free(ids);
        return send_json(conn, 200, r);
    }
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    int count = cJSON_IsArray(tokens) ? cJSON_GetArraySize(tokens) : -1;
    if (count < 0 || count > 1 << 20) return send_error(s, conn, 400, "tokens", "'tokens' must be an array of token ids");
    int32_t *ids = malloc(((size_t)count + 1) * sizeof *ids);
    if (!ids) return send_error(s, conn, 500, NULL, "out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, tokens) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble >= dfrt_tokenizer_vocab_size(s->tok)) {
            free(ids);
            return send_error(s, conn, 400, "tokens", "tokens[%d] is not a token id (0 .. %d)", i,
                              dfrt_tokenizer_vocab_size(s->tok) - 1);
        }
        ids[i++] = (int32_t)e->valuedouble;
    }
    char *text;
    size_t len;
    dfrt_status st = dfrt_tokenizer_decode(s->tok, ids, (size_t)count, &text, &len);
    free(ids);
    if (st != DFRT_OK) return send_error(s, conn, 400, "tokens", "%s", dfrt_last_error());
    cli_text valid = {0};
    cli_text_append_valid(&valid, text, len);
    free(text);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "content", valid.p ? valid.p : "");
    free(valid.p);
    return send_json(conn, 200, r);
}

static enum MHD_Result metrics(server *s, struct MHD_Connection *conn) {
    dfrt_engine_stats st;
    dfrt_engine_get_stats(s->e, &st);
    cli_text t = {0};
    cli_text_printf(&t,
                    "# TYPE dfrt_requests_total counter\ndfrt_requests_total %llu\n"
                    "# TYPE dfrt_http_errors_total counter\ndfrt_http_errors_total %llu\n"
                    "# TYPE dfrt_completed_total counter\ndfrt_completed_total %llu\n"
                    "# TYPE dfrt_failed_total counter\ndfrt_failed_total %llu\n"
                    "# TYPE dfrt_prompt_tokens_total counter\ndfrt_prompt_tokens_total %llu\n"
                    "# TYPE dfrt_generated_tokens_total counter\ndfrt_generated_tokens_total %llu\n"
                    "# TYPE dfrt_queue_length gauge\ndfrt_queue_length %d\n"
                    "# TYPE dfrt_running_sequences gauge\ndfrt_running_sequences %d\n"
                    "# TYPE dfrt_kv_slots_in_use gauge\ndfrt_kv_slots_in_use %d\n"
                    "# TYPE dfrt_kv_slots gauge\ndfrt_kv_slots %d\n",
                    (unsigned long long)atomic_load(&s->requests), (unsigned long long)atomic_load(&s->http_errors),
                    (unsigned long long)st.completed, (unsigned long long)st.failed,
                    (unsigned long long)st.prompt_tokens, (unsigned long long)st.generated_tokens, st.queued,
                    st.running, st.running, st.slots);
    pthread_mutex_lock(&s->hist_mu);
    const char *names[2] = {"dfrt_time_to_first_token_seconds", "dfrt_time_per_output_token_seconds"};
    const uint64_t *b[2] = {s->ttft_bucket, s->tpot_bucket}, count[2] = {s->ttft_count, s->tpot_count};
    const double sum[2] = {s->ttft_sum, s->tpot_sum};
    for (int h = 0; h < 2; h++) {
        cli_text_printf(&t, "# TYPE %s histogram\n", names[h]);
        for (int i = 0; i < 12; i++) cli_text_printf(&t, "%s_bucket{le=\"%g\"} %llu\n", names[h], buckets[i], (unsigned long long)b[h][i]);
        cli_text_printf(&t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", names[h],
                        (unsigned long long)count[h], names[h], sum[h], names[h], (unsigned long long)count[h]);
    }
    pthread_mutex_unlock(&s->hist_mu);
    enum MHD_Result r = t.failed ? send_text(conn, 500, "text/plain", "out of memory\n", NULL, NULL)
                                 : send_text(conn, 200, "text/plain; version=0.0.4", t.p, NULL, NULL);
    free(t.p);
    return r;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
/* ---------------------------------------------------------------------------------------- */
/* The request deadline                                                                      */
/* ---------------------------------------------------------------------------------------- */

/* libmicrohttpd's timeout is an idle one: a client sending a byte now and then would hold its
 * connection (and its thread) for ever. So a request must arrive whole within --timeout of
 * its connection opening, or of the previous response on a kept-alive connection; a watchdog
 * thread shuts the sockets of those that do not, and libmicrohttpd then closes them. */
typedef struct watch {
    int fd;
    double since;      /* when this request began to arrive */
    bool reading, cut; /* still arriving; shut by the watchdog */
    struct watch *prev, *next;
} watch;

static watch *watch_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void watch_reading(server *s, struct MHD_Connection *conn, bool reading) {
    watch *w = watch_of(conn);
    if (!w) return;
    pthread_mutex_lock(&s->watch_mu);
    w->reading = reading;
    w->since = cli_now();
    pthread_mutex_unlock(&s->watch_mu);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        watch *w = ci ? calloc(1, sizeof *w) : NULL;
        if (!w) return; /* unwatched: the idle timeout still holds */
        w->fd = ci->connect_fd;
        w->since = cli_now();
        w->reading = true;
        pthread_mutex_lock(&s->watch_mu);
        w->next = s->watches;
        if (s->watches) s->watches->prev = w;
        s->watches = w;
        pthread_mutex_unlock(&s->watch_mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        /* libmicrohttpd closes the socket after this: the fd is not reused while listed */
        watch *w = *socket_context;
        pthread_mutex_lock(&s->watch_mu);
        if (w->prev) w->prev->next = w->next;
        else s->watches = w->next;
        if (w->next) w->next->prev = w->prev;
        pthread_mutex_unlock(&s->watch_mu);
        free(w);
        *socket_context = NULL;
    }
}

static void *watchdog(void *arg) {
    server *s = arg;
    pthread_mutex_lock(&s->watch_mu);
    while (!s->watchdog_stop) {
        double now = cli_now();
        for (watch *w = s->watches; w; w = w->next)
            if (w->reading && !w->cut && now - w->since > s->request_timeout) {
                shutdown(w->fd, SHUT_RDWR);
                w->cut = true;
            }
        struct timespec until = in_ms(250);
        pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &until);
    }
    pthread_mutex_unlock(&s->watch_mu);
    return NULL;
}

static bool authorized(const server *s, struct MHD_Connection *conn) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    const char *got = h + 7;
    size_t a = strlen(got), b = strlen(s->api_key);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(s->api_key[i] ^ (i < a ? got[i] : 0));
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    server *s = cls;
    bool post = strcmp(method, "POST") == 0;
    if (!*con_cls) { /* the first call: headers only */
        body *b = calloc(1, sizeof *b);
        if (!b) return MHD_NO;
        *con_cls = b;
        atomic_fetch_add(&s->requests, 1);
        return MHD_YES;
    }
    body *b = *con_cls;
    if (post && *upload_size) { /* a piece of the body */
        if (b->text.len + *upload_size > s->max_body) b->too_large = true;
        else cli_text_append(&b->text, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    watch_reading(s, conn, false); /* the request is whole */
    if (strcmp(url, "/health") == 0 && strcmp(method, "GET") == 0)
        return send_text(conn, 200, "application/json", "{\"status\":\"ok\"}", NULL, NULL);
    if (!authorized(s, conn)) return send_error(s, conn, 401, NULL, "missing or wrong API key (Authorization: Bearer KEY)");
    if (strcmp(method, "GET") == 0) {
        if (strcmp(url, "/v1/models") == 0) {
            cJSON *r = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(r, "data"), *m = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "object", "list");
            cJSON_AddItemToArray(data, m);
            cJSON_AddStringToObject(m, "id", s->name);
            cJSON_AddStringToObject(m, "object", "model");
            cJSON_AddNumberToObject(m, "created", 0);
            cJSON_AddStringToObject(m, "owned_by", "dfrt");
            cJSON_AddNumberToObject(m, "context_length", s->context);
            return send_json(conn, 200, r);
        }
        if (strcmp(url, "/metrics") == 0) return metrics(s, conn);
    }
    bool known = strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/v1/completions") == 0 ||
                 strcmp(url, "/tokenize") == 0 || strcmp(url, "/detokenize") == 0;
    if (!known && strcmp(url, "/v1/models") != 0 && strcmp(url, "/metrics") != 0)
        return send_error(s, conn, 404, NULL, "no such endpoint");
    if (!post) return send_error(s, conn, 405, NULL, "method %s not allowed here", method);
    if (b->too_large)
        return send_error(s, conn, 413, NULL, "the request body is larger than %zu bytes (--max-body)", s->max_body);
    if (!b->text.p || !b->text.len) return send_error(s, conn, 400, NULL, "the request has no JSON body");
    if (b->text.failed) return send_error(s, conn, 500, NULL, "out of memory");
    if (dfrt_utf8_invalid_at(b->text.p, b->text.len) != b->text.len)
        return send_error(s, conn, 400, NULL, "the request body is not valid UTF-8");
    cJSON *root = cJSON_ParseWithLength(b->text.p, b->text.len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return send_error(s, conn, 400, NULL, "the request body is not a JSON object");
    }
    enum MHD_Result r = strcmp(url, "/tokenize") == 0      ? tokenize(s, conn, root, true)
                        : strcmp(url, "/detokenize") == 0  ? tokenize(s, conn, root, false)
                                                           : completion(s, conn, root, strcmp(url, "/v1/chat/completions") == 0);
    cJSON_Delete(root);
    return r;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    watch_reading(cls, conn, true); /* the next request on this connection, if any, is arriving */
    body *b = *con_cls;
    if (!b) return;
    free(b->text.p);
    free(b);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The command                                                                               */
/* ---------------------------------------------------------------------------------------- */


static int stop_pipe[2] = {-1, -1};
static void on_signal(int sig) {
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(stop_pipe[1], &c, 1) < 0) { /* the pipe is full: a signal is already there */
    }
    errno = saved;
}

static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char line[1024];
    char *r = fgets(line, sizeof line, f) ? strdup(line) : strdup("");
    fclose(f);
    if (r) r[strcspn(r, "\r\n")] = '\0';
    return r;
}

int cmd_serve(int argc, char **argv) {
    const char *model_dir = NULL, *host = "127.0.0.1", *backend_name = "auto", *name = NULL, *key = NULL,
               *key_file = NULL, *tokenizer = NULL;
    dfrt_model_options offload = {0}; /* offload_layers, weight_budget */
    int port = 8080, device = -1, threads = 0, parallel = 4, context = 0, queue = 0, timeout = 30, kv_f32 = 0, max_body = 1 << 20;
    cli_args a = {argc, argv, 1, "serve",
                  "--host= --port= --backend= --device= --threads= --parallel= --context= --queue= --api-key= --api-key-file= "
                  "--max-body= --timeout= --name= --kv-cache= --tokenizer= " CLI_OFFLOAD_OPTIONS "--help -h",
                  serve_help, 0, NULL};
    int is_opt;
    const char *arg, *inl;
    while ((arg = cli_next(&a, &is_opt, &inl))) {
        if (!is_opt) {
            if (model_dir) return cli_usage_error("serve", "one MODEL_DIR at most (got \"%s\" and \"%s\")", model_dir, arg);
            model_dir = arg;
            continue;
        }
        const char *v = cli_value(&a, arg, inl);
        if (!v) return CLI_USAGE;
        if (strcmp(arg, "--host") == 0) host = v;
        else if (strcmp(arg, "--port") == 0) { if (!cli_parse_int("serve", arg, v, 0, 65535, &port)) return CLI_USAGE; }
        else if (strcmp(arg, "--backend") == 0) backend_name = v;
        else if (strcmp(arg, "--device") == 0) { if (!cli_parse_int("serve", arg, v, 0, 1 << 16, &device)) return CLI_USAGE; }
        else if (strcmp(arg, "--threads") == 0) { if (!cli_parse_int("serve", arg, v, 1, 4096, &threads)) return CLI_USAGE; }
        else if (strcmp(arg, "--parallel") == 0) { if (!cli_parse_int("serve", arg, v, 1, 4096, &parallel)) return CLI_USAGE; }
        else if (strcmp(arg, "--context") == 0) { if (!cli_parse_int("serve", arg, v, 2, 1 << 22, &context)) return CLI_USAGE; }
        else if (strcmp(arg, "--queue") == 0) { if (!cli_parse_int("serve", arg, v, 1, 1 << 20, &queue)) return CLI_USAGE; }
        else if (strcmp(arg, "--api-key") == 0) key = v;
        else if (strcmp(arg, "--api-key-file") == 0) key_file = v;
        else if (strcmp(arg, "--max-body") == 0) { if (!cli_parse_int("serve", arg, v, 64, 1 << 30, &max_body)) return CLI_USAGE; }
        else if (strcmp(arg, "--timeout") == 0) { if (!cli_parse_int("serve", arg, v, 1, 86400, &timeout)) return CLI_USAGE; }
        else if (strcmp(arg, "--name") == 0) name = v;
        else if (strcmp(arg, "--tokenizer") == 0) tokenizer = v;
        else if (cli_offload_option("serve", arg, v, &offload) != CLI_OK) return CLI_USAGE;
        else if (strcmp(arg, "--kv-cache") == 0) { if (!cli_parse_kv_cache("serve", arg, v, &kv_f32)) return CLI_USAGE; }
    }
    if (key && key_file) return cli_usage_error("serve", "give --api-key or --api-key-file, not both");
    struct in_addr addr;
    if (inet_pton(AF_INET, host, &addr) != 1) return cli_usage_error("serve", "--host expects an IPv4 address, got \"%s\"", host);
    server s = {.max_body = (size_t)max_body};
    pthread_mutex_init(&s.hist_mu, NULL);
    pthread_mutex_init(&s.watch_mu, NULL);
    pthread_cond_init(&s.watch_cv, NULL);
    pthread_t watchdog_thread;
    bool watchdog_started = false;
    atomic_store(&s.next_id, 1);
    if (key_file && !(s.api_key = read_key_file(key_file))) {
        fprintf(stderr, "dfrt serve: --api-key-file %s: %s\n", key_file, strerror(errno));
        return CLI_FAIL;
    }
    if (!s.api_key && (key || (getenv("DFRT_API_KEY") && *getenv("DFRT_API_KEY"))))
        s.api_key = strdup(key ? key : getenv("DFRT_API_KEY"));
    if (s.api_key && !*s.api_key) {
        free(s.api_key);
        return cli_usage_error("serve", "the API key is empty");
    }
    if (!model_dir && !(model_dir = cli_default_model())) {
        free(s.api_key);
        fprintf(stderr, "dfrt serve: no MODEL_DIR given and the shipped model is not there (set DFRT_MODEL)\n");
        return CLI_FAIL;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = CLI_FAIL;
    dfrt_backend *b = NULL;
    dfrt_status st;
    struct MHD_Daemon *d = NULL;
    dfrt_model_options mo = {.max_context = context, .max_batch = parallel, .kv_f32 = kv_f32, .tokenizer_path = tokenizer};
    cli_placement(&mo, &offload);
    if ((rc = cli_load_model("serve", model_dir, backend_name, device, threads, &mo, &b, &s.m)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    if (!(s.tok = dfrt_model_tokenizer(s.m))) {
        fprintf(stderr, "dfrt serve: %s has no tokenizer.json, which serving text needs\n", model_dir);
        goto done;
    }
    s.context = dfrt_model_max_context(s.m);
    if (!name) {
        name = strrchr(model_dir, '/') && strrchr(model_dir, '/')[1] ? strrchr(model_dir, '/') + 1 : model_dir;
    }
    s.name = name;
    if ((st = dfrt_engine_create(s.m, &(dfrt_engine_options){.max_queue = queue}, &s.e)) != DFRT_OK) {
        rc = cli_fail("serve", st);
        goto done;
    }
    /* SIGINT and SIGTERM may reach any thread (the backend's, the engine's, a connection's):
     * the handler only writes the signal's number to a pipe that this thread reads */
    if (pipe(stop_pipe) != 0) {
        fprintf(stderr, "dfrt serve: pipe: %s\n", strerror(errno));
        goto done;
    }
    struct sigaction act = {.sa_handler = on_signal};
    sigemptyset(&act.sa_mask);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    s.request_timeout = timeout;
    if (pthread_create(&watchdog_thread, NULL, watchdog, &s) != 0) {
        fprintf(stderr, "dfrt serve: cannot start a thread\n");
        goto done;
    }
    watchdog_started = true;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = addr};
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                         (uint16_t)port, NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)(4 * parallel + 64), MHD_OPTION_NOTIFY_COMPLETED, request_done, &s,
                         MHD_OPTION_NOTIFY_CONNECTION, notify_connection, &s,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "dfrt serve: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        goto done;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("dfrt serve: listening on http://%s:%u (%s, %d slots, context %d)\n", host,
           info ? (unsigned)info->port : (unsigned)port, s.name, parallel, s.context);
    fflush(stdout);
    unsigned char sig = 0;
    while (read(stop_pipe[0], &sig, 1) != 1) continue;
    fprintf(stderr, "dfrt serve: %s: finishing the running requests (up to 10 s)\n",
            sig == SIGINT ? "interrupted" : "terminated");
    MHD_socket listen_fd = MHD_quiesce_daemon(d); /* no new connections */
    if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
    if (!dfrt_engine_drain(s.e, 10.0)) {
        fprintf(stderr, "dfrt serve: cancelling the requests still running\n");
        dfrt_engine_cancel_all(s.e); /* they end at the next step, and their connections with them */
        dfrt_engine_drain(s.e, 10.0);
    }
    rc = CLI_OK;
done:
    if (d) MHD_stop_daemon(d); /* the connections' threads end: no call can reach the engine after */
    if (watchdog_started) {
        pthread_mutex_lock(&s.watch_mu);
        s.watchdog_stop = true;
        pthread_cond_signal(&s.watch_cv);
        pthread_mutex_unlock(&s.watch_mu);
        pthread_join(watchdog_thread, NULL);
    }
    dfrt_engine_destroy(s.e);
    if (stop_pipe[0] >= 0) { /* a second signal now ends the process at once */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    for (int i = 0; i < 2; i++)
        if (stop_pipe[i] >= 0) close(stop_pipe[i]);
    stop_pipe[0] = stop_pipe[1] = -1;
    dfrt_model_free(s.m);
    dfrt_backend_close(b);
    free(s.api_key);
    pthread_mutex_destroy(&s.hist_mu);
    pthread_mutex_destroy(&s.watch_mu);
    pthread_cond_destroy(&s.watch_cv);
    return rc;
}
