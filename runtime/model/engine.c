/* The serving engine: one thread owns the model and runs continuous batching. Requests wait in
 * a bounded queue, take a KV slot (a sequence of the model's batch) when one is free, and join
 * the running batch at the next step; each step is one dfrt_model_forward over the decode rows
 * of every running sequence (first, so that a pure decode step is a recorded pass) and a chunk
 * of the prompts still being prefilled, so that a long prompt never stalls the others' tokens
 * for more than a chunk. A sequence leaves at an end-of-sequence token, its max_tokens, a full
 * context, its caller's request (on_token returning false, dfrt_engine_cancel) or an error. */
#include "model/model_internal.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

typedef struct pending {
    uint64_t id;
    dfrt_request req;
    int32_t *prompt; /* owned copy */
    double submitted;
    bool cancel; /* dfrt_engine_cancel while it waited */
} pending;

typedef struct sequence {
    bool used, cancel;
    uint64_t id;
    dfrt_request req;
    int32_t *prompt;
    size_t n_prompt, prefilled; /* prompt tokens in the KV cache */
    int produced;
    int32_t next; /* the token to feed next */
    dfrt_rng rng;
    uint8_t *seen;      /* (vocab) the prompt's and generated tokens: the repetition penalty */
    int32_t *generated; /* (vocab) counts of generated tokens: presence and frequency penalties */
    double submitted, started, first_token;
} sequence;

struct dfrt_engine {
    dfrt_model *m;
    int n_slots, max_queue, chunk;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping, draining;
    uint64_t next_id;
    pending *queue; /* FIFO of n_queued from queue_head: max_queue waiting, and those bound for free slots */
    int queue_cap, queue_head, n_queued;
    sequence *seqs; /* (n_slots); touched by the engine thread only, but for cancel (under mu) */
    dfrt_engine_stats stats;
    /* the engine thread's step buffers */
    int32_t *tokens, *slots, *positions, *argmax;
    uint32_t *logit_rows;
    int *owner; /* the sequence of each logit row */
    float *logits;
    dfrt_candidate *work;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool wants_host(const dfrt_request *r) {
    return r->sampling.temperature > 0 || (r->sampling.repeat_penalty > 0 && r->sampling.repeat_penalty != 1) ||
           r->presence_penalty != 0 || r->frequency_penalty != 0;
}

/* Ends sequence s: on_done, then the slot is free. */
static void finish(dfrt_engine *e, sequence *s, dfrt_finish_reason reason, const char *error) {
    double t = now_seconds();
    dfrt_request_result r = {.prompt_tokens = (int)s->n_prompt, .generated_tokens = s->produced,
                             .queue_seconds = s->started - s->submitted,
                             .ttft_seconds = s->first_token > 0 ? s->first_token - s->submitted : 0,
                             .decode_seconds = s->first_token > 0 ? t - s->first_token : 0, .error = error};
    dfrt_request req = s->req;
    free(s->prompt);
    free(s->seen);
    free(s->generated);
    /* the slot and the counts first: whoever on_done wakes sees the engine's room */
    pthread_mutex_lock(&e->mu);
    *s = (sequence){0};
    e->stats.running--;
    if (reason == DFRT_FINISH_ERROR) e->stats.failed++;
    else e->stats.completed++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (req.on_done) req.on_done(req.user, reason, &r);
}

/* Under mu: queued requests into free slots, in order. */
static void admit(dfrt_engine *e) {
    for (int i = 0; i < e->n_slots && e->n_queued; i++) {
        sequence *s = &e->seqs[i];
        if (s->used) continue;
        pending *p = &e->queue[e->queue_head];
        e->queue_head = (e->queue_head + 1) % e->queue_cap;
        e->n_queued--;
        *s = (sequence){.used = true, .cancel = p->cancel, .id = p->id, .req = p->req, .prompt = p->prompt,
                        .n_prompt = p->req.n_prompt, .submitted = p->submitted, .started = now_seconds()};
        s->req.prompt = s->prompt;
        dfrt_rng_seed(&s->rng, s->req.sampling.seed);
        e->stats.running++;
        e->stats.queued = e->n_queued;
    }
}

/* The host-side penalties on one logit row: transformers' repetition penalty over the prompt
 * and what was generated, then OpenAI's presence and frequency penalties over what was
 * generated (logit -= presence [count > 0] + frequency count). */
static void penalize(const dfrt_engine *e, const sequence *s, float *row) {
    const dfrt_request *r = &s->req;
    float rp = r->sampling.repeat_penalty;
    for (uint32_t t = 0; t < e->m->vocab; t++) {
        if (s->seen && s->seen[t] && rp > 0 && rp != 1) row[t] = row[t] < 0 ? row[t] * rp : row[t] / rp;
        if (s->generated && s->generated[t])
            row[t] -= r->presence_penalty + r->frequency_penalty * (float)s->generated[t];
    }
}

/* Delivers sequence s's next token t; false when s has finished (and its slot is free). */
static bool deliver(dfrt_engine *e, sequence *s, int32_t t) {
    if (s->produced == 0) s->first_token = now_seconds();
    s->produced++;
    s->next = t;
    if (s->seen) s->seen[t] = 1;
    if (s->generated) s->generated[t]++;
    pthread_mutex_lock(&e->mu);
    e->stats.generated_tokens++;
    bool cancelled = s->cancel;
    pthread_mutex_unlock(&e->mu);
    if (cancelled) {
        finish(e, s, DFRT_FINISH_CANCELLED, NULL);
        return false;
    }
    bool keep = !s->req.on_token || s->req.on_token(s->req.user, t);
    if (!keep || (!s->req.ignore_eos && dfrt_model_is_eos(e->m, t))) {
        finish(e, s, DFRT_FINISH_STOP, NULL);
        return false;
    }
    /* the next token would go to position n_prompt + produced - 1 + 1 */
    if (s->produced >= s->req.max_tokens || s->n_prompt + (size_t)s->produced >= (size_t)e->m->max_ctx) {
        finish(e, s, DFRT_FINISH_LENGTH, NULL);
        return false;
    }
    return true;
}

/* One step: the decode rows, then prefill chunks; false when there was nothing to do. */
static bool step(dfrt_engine *e) {
    dfrt_model *m = e->m;
    uint32_t rows = 0, n_logits = 0, decode_rows;
    bool host = false;
    for (int i = 0; i < e->n_slots; i++) { /* decode rows first */
        sequence *s = &e->seqs[i];
        if (!s->used || s->prefilled < s->n_prompt || s->produced == 0) continue;
        e->tokens[rows] = s->next;
        e->slots[rows] = i;
        e->positions[rows] = (int32_t)(s->n_prompt + (size_t)s->produced - 1);
        e->logit_rows[n_logits] = rows;
        e->owner[n_logits++] = i;
        host |= wants_host(&s->req);
        rows++;
    }
    decode_rows = rows;
    uint32_t chunk_left = (uint32_t)e->chunk;
    for (int i = 0; i < e->n_slots && chunk_left && rows < (uint32_t)m->max_rows; i++) {
        sequence *s = &e->seqs[i];
        if (!s->used || s->prefilled >= s->n_prompt) continue;
        size_t k = DFRT_MIN(s->n_prompt - s->prefilled, (size_t)DFRT_MIN(chunk_left, (uint32_t)m->max_rows - rows));
        for (size_t j = 0; j < k; j++, rows++) {
            e->tokens[rows] = s->prompt[s->prefilled + j];
            e->slots[rows] = i;
            e->positions[rows] = (int32_t)(s->prefilled + j);
        }
        s->prefilled += k;
        chunk_left -= (uint32_t)k;
        if (s->prefilled == s->n_prompt) { /* the prompt's last row gives the first token */
            e->logit_rows[n_logits] = rows - 1;
            e->owner[n_logits++] = i;
            host |= wants_host(&s->req);
        }
    }
    if (rows == 0) return false;
    dfrt_status st = dfrt_model_forward(m, e->tokens, e->slots, e->positions, rows, e->logit_rows, n_logits,
                                        host ? e->logits : NULL, e->argmax);
    pthread_mutex_lock(&e->mu);
    e->stats.steps++;
    e->stats.prompt_tokens += rows - decode_rows;
    pthread_mutex_unlock(&e->mu);
    if (st != DFRT_OK) { /* every sequence in the step fails with the message */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", dfrt_last_error());
        for (int i = 0; i < e->n_slots; i++)
            if (e->seqs[i].used) finish(e, &e->seqs[i], DFRT_FINISH_ERROR, msg);
        return true;
    }
    for (uint32_t k = 0; k < n_logits; k++) {
        sequence *s = &e->seqs[e->owner[k]];
        int32_t t = e->argmax[k];
        if (wants_host(&s->req)) {
            float *row = e->logits + (size_t)k * m->vocab;
            penalize(e, s, row);
            t = s->req.sampling.temperature > 0 ? dfrt_sample(row, m->vocab, &s->req.sampling, &s->rng, e->work)
                                                : dfrt_host_argmax(row, m->vocab);
        }
        deliver(e, s, t);
    }
    return true;
}

/* Penalty tables for a sequence that uses them; false when out of memory. */
static bool prepare(dfrt_engine *e, sequence *s) {
    const dfrt_request *r = &s->req;
    if (r->sampling.repeat_penalty > 0 && r->sampling.repeat_penalty != 1 && !s->seen) {
        if (!(s->seen = calloc(e->m->vocab, 1))) return false;
        for (size_t i = 0; i < s->n_prompt; i++) s->seen[s->prompt[i]] = 1;
    }
    if ((r->presence_penalty != 0 || r->frequency_penalty != 0) && !s->generated)
        if (!(s->generated = calloc(e->m->vocab, sizeof *s->generated))) return false;
    return true;
}

static void *engine_main(void *arg) {
    dfrt_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        for (;;) { /* until there is work, or the end */
            if (e->stopping) break;
            admit(e);
            bool any = false;
            for (int i = 0; i < e->n_slots; i++) any |= e->seqs[i].used;
            if (any) break;
            pthread_cond_wait(&e->cv, &e->mu);
        }
        bool stopping = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stopping) break;
        for (int i = 0; i < e->n_slots; i++) {
            sequence *s = &e->seqs[i];
            if (!s->used) continue;
            pthread_mutex_lock(&e->mu);
            bool cancelled = s->cancel;
            pthread_mutex_unlock(&e->mu);
            if (cancelled) finish(e, s, DFRT_FINISH_CANCELLED, NULL);
            else if (!prepare(e, s)) finish(e, s, DFRT_FINISH_ERROR, "out of memory for the penalties' tables");
        }
        step(e);
    }
    /* stopping: whatever runs or waits is cancelled */
    for (int i = 0; i < e->n_slots; i++)
        if (e->seqs[i].used) finish(e, &e->seqs[i], DFRT_FINISH_CANCELLED, NULL);
    pthread_mutex_lock(&e->mu);
    while (e->n_queued) {
        pending p = e->queue[e->queue_head];
        e->queue_head = (e->queue_head + 1) % e->queue_cap;
        e->n_queued--;
        pthread_mutex_unlock(&e->mu);
        dfrt_request_result r = {.prompt_tokens = (int)p.req.n_prompt};
        if (p.req.on_done) p.req.on_done(p.req.user, DFRT_FINISH_CANCELLED, &r);
        free(p.prompt);
        pthread_mutex_lock(&e->mu);
    }
    e->stats.queued = 0;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

dfrt_status dfrt_engine_create(dfrt_model *m, const dfrt_engine_options *options, dfrt_engine **out) {
    if (out) *out = NULL;
    if (!m || !out) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_engine_create: NULL argument");
    dfrt_engine_options o = options ? *options : (dfrt_engine_options){0};
    if (o.max_queue < 0 || o.max_queue > (1 << 20) || o.prefill_chunk < 0)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_engine_create: max_queue %d or prefill_chunk %d out of range",
                         o.max_queue, o.prefill_chunk);
    dfrt_engine *e = dfrt_calloc(1, sizeof *e, "the serving engine");
    if (!e) return DFRT_OUT_OF_MEMORY;
    e->m = m;
    e->n_slots = m->max_batch;
    e->max_queue = o.max_queue ? o.max_queue : 4 * m->max_batch;
    e->chunk = DFRT_MIN(o.prefill_chunk ? o.prefill_chunk : 256, m->max_rows);
    e->next_id = 1;
    e->stats.slots = e->n_slots;
    size_t rows = (size_t)m->max_rows, B = (size_t)m->max_batch;
    e->queue_cap = e->max_queue + e->n_slots;
    e->queue = dfrt_calloc((size_t)e->queue_cap, sizeof *e->queue, "the request queue");
    e->seqs = dfrt_calloc(B, sizeof *e->seqs, "the sequences");
    e->tokens = dfrt_malloc(rows * sizeof *e->tokens, "step rows");
    e->slots = dfrt_malloc(rows * sizeof *e->slots, "step rows");
    e->positions = dfrt_malloc(rows * sizeof *e->positions, "step rows");
    e->argmax = dfrt_malloc(B * sizeof *e->argmax, "step rows");
    e->logit_rows = dfrt_malloc(B * sizeof *e->logit_rows, "step rows");
    e->owner = dfrt_malloc(B * sizeof *e->owner, "step rows");
    e->logits = dfrt_malloc(B * m->vocab * sizeof *e->logits, "logits");
    e->work = dfrt_malloc(m->vocab * sizeof *e->work, "sampling");
    if (!e->queue || !e->seqs || !e->tokens || !e->slots || !e->positions || !e->argmax || !e->logit_rows ||
        !e->owner || !e->logits || !e->work) {
        dfrt_engine_destroy(e);
        return DFRT_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        dfrt_engine_destroy(e);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "dfrt_engine_create: cannot start the engine's thread");
    }
    e->thread_started = true;
    *out = e;
    return DFRT_OK;
}

dfrt_status dfrt_engine_submit(dfrt_engine *e, const dfrt_request *r, uint64_t *out_id) {
    if (out_id) *out_id = 0;
    if (!e || !r || (!r->prompt && r->n_prompt))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_engine_submit: NULL argument");
    const dfrt_model *m = e->m;
    if (r->n_prompt == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "the prompt is empty");
    if (r->n_prompt >= (size_t)m->max_ctx)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "the prompt's %zu tokens leave no room in the context of %d tokens",
                         r->n_prompt, m->max_ctx);
    if (r->max_tokens < 1) return dfrt_fail(DFRT_INVALID_ARGUMENT, "max_tokens %d (at least 1)", r->max_tokens);
    for (size_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || (uint32_t)r->prompt[i] >= m->vocab)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "token id %d is outside the vocabulary (0 .. %u)", r->prompt[i],
                             m->vocab - 1);
    const dfrt_sampling *s = &r->sampling;
    if (!(s->temperature >= 0) || !isfinite(s->temperature) || s->top_k < 0 || !(s->top_p >= 0 && s->top_p <= 1) ||
        !(s->min_p >= 0 && s->min_p <= 1) || !(s->repeat_penalty >= 0) || !isfinite(s->repeat_penalty) ||
        !isfinite(r->presence_penalty) || !isfinite(r->frequency_penalty))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_engine_submit: a sampling setting is out of range");
    int32_t *copy = dfrt_malloc(r->n_prompt * sizeof *copy, "the prompt");
    if (!copy) return DFRT_OUT_OF_MEMORY;
    memcpy(copy, r->prompt, r->n_prompt * sizeof *copy);
    pthread_mutex_lock(&e->mu);
    if (e->stopping || e->draining) {
        pthread_mutex_unlock(&e->mu);
        free(copy);
        return dfrt_fail(DFRT_UNAVAILABLE, "the engine is shutting down");
    }
    if (e->n_queued >= e->max_queue + (e->n_slots - e->stats.running)) { /* free slots take requests too */
        pthread_mutex_unlock(&e->mu);
        free(copy);
        return dfrt_fail(DFRT_UNAVAILABLE, "the engine is full: %d requests running and %d waiting", e->n_slots,
                         e->max_queue);
    }
    uint64_t id = e->next_id++;
    e->queue[(e->queue_head + e->n_queued) % e->queue_cap] =
        (pending){.id = id, .req = *r, .prompt = copy, .submitted = now_seconds()};
    e->n_queued++;
    e->stats.queued = e->n_queued;
    e->stats.submitted++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (out_id) *out_id = id;
    return DFRT_OK;
}

void dfrt_engine_cancel(dfrt_engine *e, uint64_t id) {
    if (!e || !id) return;
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->n_slots; i++)
        if (e->seqs[i].used && e->seqs[i].id == id) e->seqs[i].cancel = true;
    for (int k = 0; k < e->n_queued; k++) { /* a waiting request ends when it is admitted */
        pending *p = &e->queue[(e->queue_head + k) % e->queue_cap];
        if (p->id == id) p->cancel = true;
    }
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void dfrt_engine_cancel_all(dfrt_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->n_slots; i++)
        if (e->seqs[i].used) e->seqs[i].cancel = true;
    for (int k = 0; k < e->n_queued; k++) e->queue[(e->queue_head + k) % e->queue_cap].cancel = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void dfrt_engine_get_stats(dfrt_engine *e, dfrt_engine_stats *out) {
    if (!e || !out) return;
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}

bool dfrt_engine_drain(dfrt_engine *e, double seconds) {
    if (!e) return true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double end = (double)until.tv_sec + 1e-9 * (double)until.tv_nsec + seconds;
    until.tv_sec = (time_t)end;
    until.tv_nsec = (long)((end - (double)until.tv_sec) * 1e9);
    pthread_mutex_lock(&e->mu);
    e->draining = true;
    int rc = 0;
    while ((e->stats.running || e->n_queued) && rc == 0) rc = pthread_cond_timedwait(&e->cv, &e->mu, &until);
    bool idle = !e->stats.running && !e->n_queued;
    pthread_mutex_unlock(&e->mu);
    return idle;
}

void dfrt_engine_destroy(dfrt_engine *e) {
    if (!e) return;
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
    }
    DFRT_FREE_ALL(e->queue, e->seqs, e->tokens, e->slots, e->positions, e->argmax, e->logit_rows, e->owner, e->logits,
                  e->work, e);
}
