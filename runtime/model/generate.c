/* Generation: prefill of all sequences together, then one token per sequence per step;
 * greedy picks on the device (argmax), sampling (sampling.c) and the repetition penalty on the
 * host. Prompt encoding (chat formats: chat.c). */
#include "model/model_internal.h"

#include <math.h>

typedef struct gen_state {
    dfrt_model *m;
    const dfrt_generate_options *o;
    bool greedy;      /* temperature 0 */
    bool penalize;    /* a repetition penalty: logits come to the host even when greedy */
    float *logits;    /* (n_sequences, vocab) when picking on the host */
    const int32_t *prompt;
    size_t n_prompt;
    int32_t *history; /* (n_sequences, history_cap): generated tokens, with a penalty */
    int history_cap;
    uint32_t *seen, stamp; /* (vocab): seen[t] == stamp when t's logit has been penalised */
    int32_t *next;    /* the token each sequence feeds next */
    bool *active;
    int *produced;
    dfrt_rng *rngs;
    dfrt_candidate *work;
    int32_t *tokens, *slots, *positions;
    uint32_t *logit_rows;
} gen_state;

static void penalize_one(gen_state *g, float *logits, int32_t t) {
    if (g->seen[t] == g->stamp) return; /* once per distinct token */
    g->seen[t] = g->stamp;
    float r = g->o->sampling.repeat_penalty;
    logits[t] = logits[t] < 0 ? logits[t] * r : logits[t] / r;
}

/* The repetition penalty on one sequence's logits: every distinct token of the prompt and of
 * what it has generated so far. */
static void penalize(gen_state *g, float *logits, int seq) {
    if (++g->stamp == 0) { /* the stamps wrapped: start over */
        memset(g->seen, 0, (size_t)g->m->vocab * sizeof *g->seen);
        g->stamp = 1;
    }
    for (size_t i = 0; i < g->n_prompt; i++) penalize_one(g, logits, g->prompt[i]);
    const int32_t *h = g->history + (size_t)seq * (size_t)g->history_cap;
    for (int i = 0; i < g->produced[seq] && i < g->history_cap; i++) penalize_one(g, logits, h[i]);
}

/* Picks and reports the next token of each sequence in `which` (logit row i is sequence
 * which[i]); returns how many stay active. */
static int pick(gen_state *g, const int *which, int n, const int32_t *argmax, int *stats_tokens) {
    int alive = 0;
    for (int i = 0; i < n; i++) {
        int seq = which[i];
        float *row = g->logits ? g->logits + (size_t)i * g->m->vocab : NULL;
        if (g->penalize) penalize(g, row, seq);
        int32_t t = !g->greedy              ? dfrt_sample(row, g->m->vocab, &g->o->sampling, &g->rngs[seq], g->work)
                    : g->penalize           ? dfrt_host_argmax(row, g->m->vocab)
                                            : argmax[i];
        if (g->penalize && g->produced[seq] < g->history_cap)
            g->history[(size_t)seq * (size_t)g->history_cap + (size_t)g->produced[seq]] = t;
        g->next[seq] = t;
        g->produced[seq]++;
        (*stats_tokens)++;
        bool keep = !g->o->on_token || g->o->on_token(g->o->user, seq, t);
        if (!keep || (!g->o->ignore_eos && dfrt_model_is_eos(g->m, t)) || g->produced[seq] >= g->o->max_new_tokens) g->active[seq] = false;
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
    if (!(s->temperature >= 0 && isfinite(s->temperature)) || s->top_k < 0 || !(s->top_p >= 0 && s->top_p <= 1) ||
        !(s->min_p >= 0 && s->min_p <= 1) || !(s->repeat_penalty >= 0 && isfinite(s->repeat_penalty)))
        return dfrt_fail(DFRT_INVALID_ARGUMENT,
                         "sampling: temperature %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g (temperature and "
                         "repeat_penalty are finite and >= 0, top_k >= 0, top_p and min_p in [0, 1])",
                         (double)s->temperature, s->top_k, (double)s->top_p, (double)s->min_p,
                         (double)s->repeat_penalty);

    gen_state g = {.m = m, .o = o, .greedy = s->temperature == 0, .prompt = prompt, .n_prompt = n_prompt,
                   .penalize = s->repeat_penalty != 0 && s->repeat_penalty != 1};
    bool host_pick = !g.greedy || g.penalize;
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
    bool want_logits = host_pick || o->last_logits;
    if (want_logits) g.logits = dfrt_malloc((size_t)B * m->vocab * sizeof *g.logits, "logits");
    if (!g.greedy) g.work = dfrt_malloc((size_t)m->vocab * sizeof *g.work, "sampling");
    if (g.penalize) {
        /* a sequence generates at most until its context is full, one token past it */
        g.history_cap = (int)DFRT_MIN((int64_t)m->max_ctx - (int64_t)n_prompt + 1, (int64_t)DFRT_MAX(o->max_new_tokens, 0));
        g.history = dfrt_calloc((size_t)B * (size_t)DFRT_MAX(g.history_cap, 1), sizeof *g.history, "generation");
        g.seen = dfrt_calloc(m->vocab, sizeof *g.seen, "generation");
    }
    dfrt_status st = DFRT_OK;
    if (!g.next || !g.active || !g.produced || !g.rngs || !g.tokens || !g.slots || !g.positions || !g.logit_rows ||
        !argmax || !which || (want_logits && !g.logits) || (!g.greedy && !g.work) ||
        (g.penalize && (!g.history || !g.seen))) {
        st = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    m->cancel = o->cancel; /* polled between layers by dfrt_model_forward */
    for (int b = 0; b < B; b++) {
        dfrt_rng_seed(&g.rngs[b], s->seed + (uint64_t)b * 0x632BE59BD9B4E019ull);
        g.active[b] = o->max_new_tokens > 0;
    }
    stats.prompt_tokens = (int)n_prompt;

    /* Prefill: the B copies of the prompt, sequence by sequence, max_rows rows per pass. */
    double t0 = dfrt_now_seconds();
    size_t total = (size_t)B * n_prompt, done_rows = 0;
    int n_first = 0;
    while (done_rows < total) {
        if (o->cancel && *o->cancel) {
            st = dfrt_fail(DFRT_CANCELLED, "interrupted during the prefill");
            goto done;
        }
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
    stats.prefill_seconds = dfrt_now_seconds() - t0;
    if (o->last_logits) memcpy(o->last_logits, g.logits, (size_t)m->vocab * sizeof(float));
    if (o->max_new_tokens <= 0) goto done;

    /* The first token of every sequence, then one step at a time. */
    t0 = dfrt_now_seconds();
    for (int b = 0; b < B; b++) which[b] = b;
    int alive = pick(&g, which, B, argmax, &stats.generated_tokens);
    for (int step = 0; alive > 0; step++) {
        int32_t pos = (int32_t)n_prompt + step;
        if (pos >= m->max_ctx) { /* the context is full */
            stats.context_full = alive;
            break;
        }
        if (o->cancel && *o->cancel) {
            st = dfrt_fail(DFRT_CANCELLED, "interrupted");
            break;
        }
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
        st = dfrt_model_forward(m, g.tokens, g.slots, g.positions, n, g.logit_rows, n, host_pick ? g.logits : NULL,
                                host_pick ? NULL : argmax);
        if (st != DFRT_OK) break;
        alive = pick(&g, which, (int)n, argmax, &stats.generated_tokens);
    }
    stats.decode_seconds = dfrt_now_seconds() - t0;
done:
    m->cancel = NULL;
    free(g.next), free(g.active), free(g.produced), free(g.rngs), free(g.tokens), free(g.slots), free(g.positions);
    free(g.logit_rows), free(argmax), free(which), free(g.logits), free(g.work), free(g.history), free(g.seen);
    if (out_stats) *out_stats = stats;
    return st;
}

dfrt_status dfrt_prompt_encode(const dfrt_model *m, const char *text, bool chat, int32_t **out_ids, size_t *out_count) {
    *out_ids = NULL;
    *out_count = 0;
    if (!m || !text) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_prompt_encode: NULL argument");
    if (!m->tokenizer) return dfrt_fail(DFRT_UNSUPPORTED, "the model has no tokenizer.json: give token ids instead");
    if (chat) return dfrt_chat_encode(m->tokenizer, NULL, text, out_ids, out_count);
    int32_t *ids;
    size_t n;
    DFRT_TRY(dfrt_tokenizer_encode(m->tokenizer, text, strlen(text), &ids, &n));
    const char *type = m->config->model_type;
    /* the families whose tokenizer.json adds BOS (its post_processor) */
    bool bos = m->config->bos_token_id >= 0 &&
               (strcmp(type, "llama") == 0 || strcmp(type, "mistral") == 0 || dfrt_str_starts_with(type, "gemma"));
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
