/* Generation: prefill of all sequences together, then one token per sequence per step;
 * greedy picks on the device (argmax), sampling (temperature, top-k, top-p) on the host. */
#include "model_internal.h"

#include <math.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xoshiro256** seeded through splitmix64: one independent stream per sequence. */
typedef struct rng {
    uint64_t s[4];
} rng;

static void rng_seed(rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = dfrt_splitmix64(&seed);
}

static double rng_uniform(rng *r) { return (double)(dfrt_xoshiro_next(r->s) >> 11) * 0x1.0p-53; } /* [0, 1) */

typedef struct candidate {
    float logit;
    int32_t id;
} candidate;

static int by_logit_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Samples from softmax(logits / T) restricted to the top k and to the smallest set whose
 * probability reaches p. */
static int32_t sample(const float *logits, uint32_t vocab, const dfrt_sampling *s, rng *r, candidate *work) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < vocab; i++)
        if (isfinite(logits[i])) work[n++] = (candidate){logits[i], (int32_t)i};
    if (n == 0) return 0;
    qsort(work, n, sizeof *work, by_logit_desc);
    if (s->top_k > 0 && (uint32_t)s->top_k < n) n = (uint32_t)s->top_k;
    double max = work[0].logit, total = 0;
    for (uint32_t i = 0; i < n; i++) total += exp(((double)work[i].logit - max) / s->temperature);
    if (s->top_p > 0 && s->top_p < 1) {
        double cum = 0;
        for (uint32_t i = 0; i < n; i++) {
            cum += exp(((double)work[i].logit - max) / s->temperature) / total;
            if (cum >= s->top_p) {
                n = i + 1;
                break;
            }
        }
        total = 0;
        for (uint32_t i = 0; i < n; i++) total += exp(((double)work[i].logit - max) / s->temperature);
    }
    double u = rng_uniform(r) * total, acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += exp(((double)work[i].logit - max) / s->temperature);
        if (u < acc) return work[i].id;
    }
    return work[n - 1].id;
}

static bool is_eos(const dfrt_model *m, int32_t t) {
    for (int i = 0; i < m->n_eos; i++)
        if (m->eos[i] == t) return true;
    return false;
}

typedef struct gen_state {
    dfrt_model *m;
    const dfrt_generate_options *o;
    bool greedy;
    float *logits;    /* (n_sequences, vocab) when sampling */
    int32_t *next;    /* the token each sequence feeds next */
    bool *active;
    int *produced;
    rng *rngs;
    candidate *work;
    int32_t *tokens, *slots, *positions;
    uint32_t *logit_rows;
} gen_state;

/* Picks and reports the next token of each sequence in `which` (logit row i is sequence
 * which[i]); returns how many stay active. */
static int pick(gen_state *g, const int *which, int n, const int32_t *argmax, int *stats_tokens) {
    int alive = 0;
    for (int i = 0; i < n; i++) {
        int seq = which[i];
        int32_t t = g->greedy ? argmax[i] : sample(g->logits + (size_t)i * g->m->vocab, g->m->vocab, &g->o->sampling,
                                                   &g->rngs[seq], g->work);
        g->next[seq] = t;
        g->produced[seq]++;
        (*stats_tokens)++;
        bool keep = !g->o->on_token || g->o->on_token(g->o->user, seq, t);
        if (!keep || (!g->o->ignore_eos && is_eos(g->m, t)) || g->produced[seq] >= g->o->max_new_tokens) g->active[seq] = false;
        alive += g->active[seq];
    }
    return alive;
}

dfrt_status dfrt_generate(dfrt_model *m, const int32_t *prompt, size_t n_prompt, const dfrt_generate_options *o,
                          dfrt_generate_stats *out_stats) {
    dfrt_generate_stats stats = {0};
    if (out_stats) *out_stats = stats;
    if (!m || !o || (!prompt && n_prompt)) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_generate: NULL argument");
    int B = o->n_sequences > 0 ? o->n_sequences : 1;
    if (B > m->max_batch)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%d sequences, but the model was loaded for at most %d", B, m->max_batch);
    if (n_prompt == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "the prompt is empty");
    if (n_prompt > (size_t)m->max_ctx)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "the prompt has %zu tokens, more than the context of %d", n_prompt, m->max_ctx);
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= m->vocab)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "prompt token %zu is %d, outside the vocabulary (0 .. %u)", i, prompt[i],
                             m->vocab - 1);
    const dfrt_sampling *s = &o->sampling;
    if (!(s->temperature >= 0) || s->top_k < 0 || !(s->top_p >= 0 && s->top_p <= 1))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "sampling: temperature %g, top_k %d, top_p %g", (double)s->temperature,
                         s->top_k, (double)s->top_p);

    gen_state g = {.m = m, .o = o, .greedy = s->temperature == 0};
    size_t rows = (size_t)m->max_rows;
    g.next = dfrt_calloc((size_t)B, sizeof *g.next, "generation");
    g.active = dfrt_calloc((size_t)B, sizeof *g.active, "generation");
    g.produced = dfrt_calloc((size_t)B, sizeof *g.produced, "generation");
    g.rngs = dfrt_calloc((size_t)B, sizeof *g.rngs, "generation");
    g.tokens = dfrt_calloc(rows, sizeof *g.tokens, "generation");
    g.slots = dfrt_calloc(rows, sizeof *g.slots, "generation");
    g.positions = dfrt_calloc(rows, sizeof *g.positions, "generation");
    g.logit_rows = dfrt_calloc((size_t)B, sizeof *g.logit_rows, "generation");
    int32_t *argmax = dfrt_calloc((size_t)B, sizeof *argmax, "generation");
    int *which = dfrt_calloc((size_t)B, sizeof *which, "generation");
    bool want_logits = !g.greedy || o->last_logits;
    if (want_logits) g.logits = dfrt_malloc((size_t)B * m->vocab * sizeof *g.logits, "logits");
    if (!g.greedy) g.work = dfrt_malloc((size_t)m->vocab * sizeof *g.work, "sampling");
    dfrt_status st = DFRT_OK;
    if (!g.next || !g.active || !g.produced || !g.rngs || !g.tokens || !g.slots || !g.positions || !g.logit_rows ||
        !argmax || !which || (want_logits && !g.logits) || (!g.greedy && !g.work)) {
        st = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    for (int b = 0; b < B; b++) {
        rng_seed(&g.rngs[b], s->seed + (uint64_t)b * 0x632BE59BD9B4E019ull);
        g.active[b] = o->max_new_tokens > 0;
    }
    stats.prompt_tokens = (int)n_prompt;

    /* Prefill: the B copies of the prompt, sequence by sequence, max_rows rows per pass. */
    double t0 = now_seconds();
    size_t total = (size_t)B * n_prompt, done_rows = 0;
    int n_first = 0;
    while (done_rows < total) {
        uint32_t r = (uint32_t)DFRT_MIN(rows, total - done_rows), n_logit = 0;
        int first_seq = -1;
        for (uint32_t i = 0; i < r; i++) {
            size_t k = done_rows + i;
            int seq = (int)(k / n_prompt);
            size_t pos = k % n_prompt;
            g.tokens[i] = prompt[pos];
            g.slots[i] = seq;
            g.positions[i] = (int32_t)pos;
            if (pos == n_prompt - 1) {
                if (first_seq < 0) first_seq = seq;
                g.logit_rows[n_logit++] = i;
            }
        }
        st = dfrt_model_forward(m, g.tokens, g.slots, g.positions, r, g.logit_rows, n_logit,
                                want_logits ? g.logits + (size_t)n_first * m->vocab : NULL, argmax + n_first);
        if (st != DFRT_OK) goto done;
        n_first += (int)n_logit;
        done_rows += r;
    }
    stats.prefill_seconds = now_seconds() - t0;
    if (o->last_logits) memcpy(o->last_logits, g.logits, (size_t)m->vocab * sizeof(float));
    if (o->max_new_tokens <= 0) goto done;

    /* The first token of every sequence, then one step at a time. */
    t0 = now_seconds();
    for (int b = 0; b < B; b++) which[b] = b;
    int alive = pick(&g, which, B, argmax, &stats.generated_tokens);
    for (int step = 0; alive > 0; step++) {
        int32_t pos = (int32_t)n_prompt + step;
        if (pos >= m->max_ctx) break; /* the context is full */
        uint32_t n = 0;
        for (int b = 0; b < B; b++)
            if (g.active[b]) {
                which[n] = b;
                g.tokens[n] = g.next[b];
                g.slots[n] = b;
                g.positions[n] = pos;
                g.logit_rows[n] = n;
                n++;
            }
        st = dfrt_model_forward(m, g.tokens, g.slots, g.positions, n, g.logit_rows, n, g.greedy ? NULL : g.logits,
                                g.greedy ? argmax : NULL);
        if (st != DFRT_OK) goto done;
        alive = pick(&g, which, (int)n, argmax, &stats.generated_tokens);
    }
    stats.decode_seconds = now_seconds() - t0;
done:
    free(g.next), free(g.active), free(g.produced), free(g.rngs), free(g.tokens), free(g.slots), free(g.positions);
    free(g.logit_rows), free(argmax), free(which), free(g.logits), free(g.work);
    if (out_stats) *out_stats = stats;
    return st;
}

dfrt_status dfrt_chat_format(const dfrt_model *m, const char *user, char **out) {
    *out = NULL;
    if (!m || !user) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_chat_format: NULL argument");
    const dfrt_tokenizer *t = m->tokenizer;
    if (!t) return dfrt_fail(DFRT_UNSUPPORTED, "the model has no tokenizer.json, so no chat format");
    if (dfrt_tokenizer_find(t, "<\xef\xbd\x9cUser\xef\xbd\x9c>") >= 0) /* DeepSeek-R1 distills: full-width bars */
        *out = dfrt_asprintf("<\xef\xbd\x9cUser\xef\xbd\x9c>%s<\xef\xbd\x9c""Assistant\xef\xbd\x9c>", user);
    else if (dfrt_tokenizer_find(t, "<|im_start|>") >= 0) /* Qwen: ChatML */
        *out = dfrt_asprintf("<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
    else if (dfrt_tokenizer_find(t, "<|start_header_id|>") >= 0) /* Llama 3 */
        *out = dfrt_asprintf("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n",
                             user);
    else if (dfrt_tokenizer_find(t, "[INST]") >= 0) /* Mistral */
        *out = dfrt_asprintf("<s>[INST]%s[/INST]", user);
    else
        return dfrt_fail(DFRT_UNSUPPORTED, "no chat format for this model (its tokenizer has none of ChatML's, Llama 3's, "
                                           "DeepSeek's or Mistral's special tokens)");
    return *out ? DFRT_OK : DFRT_OUT_OF_MEMORY;
}

dfrt_status dfrt_prompt_encode(const dfrt_model *m, const char *text, bool chat, int32_t **out_ids, size_t *out_count) {
    *out_ids = NULL;
    *out_count = 0;
    if (!m || !text) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_prompt_encode: NULL argument");
    if (!m->tokenizer) return dfrt_fail(DFRT_UNSUPPORTED, "the model has no tokenizer.json: give token ids instead");
    char *formatted = NULL;
    if (chat) DFRT_TRY(dfrt_chat_format(m, text, &formatted));
    const char *src = formatted ? formatted : text;
    int32_t *ids;
    size_t n;
    dfrt_status s = dfrt_tokenizer_encode(m->tokenizer, src, strlen(src), &ids, &n);
    free(formatted);
    if (s != DFRT_OK) return s;
    const char *type = m->config->model_type;
    bool bos = !chat && m->config->bos_token_id >= 0 && (strcmp(type, "llama") == 0 || strcmp(type, "mistral") == 0);
    if (bos) {
        int32_t *grown = realloc(ids, (n + 1) * sizeof *ids);
        if (!grown) {
            free(ids);
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding the prompt");
        }
        memmove(grown + 1, grown, n * sizeof *grown);
        grown[0] = (int32_t)m->config->bos_token_id;
        ids = grown;
        n++;
    }
    *out_ids = ids;
    *out_count = n;
    return DFRT_OK;
}
