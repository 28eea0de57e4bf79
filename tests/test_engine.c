/* The serving engine (continuous batching) on the CPU with the shipped model: a greedy request
 * gives dfrt_generate's tokens alone and among 16 concurrent requests of other lengths, with
 * prompts prefilled in small chunks between decode steps; a seed makes sampling reproducible;
 * max_tokens, cancellation, on_token's stop, a full queue, draining and destroying with work
 * left; bad requests, each with its message. */
#include "test.h"

#include <pthread.h>
#include <unistd.h>

#define MAX_OUT 64

typedef struct job {
    int32_t tokens[MAX_OUT];
    int n, stop_after; /* on_token returns false after stop_after tokens (0: never) */
    dfrt_finish_reason reason;
    dfrt_request_result result;
    int done; /* on_done calls */
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static bool on_token(void *user, int32_t t) {
    job *j = user;
    if (j->n < MAX_OUT) j->tokens[j->n++] = t;
    return !(j->stop_after && j->n >= j->stop_after);
}

static void on_done(void *user, dfrt_finish_reason reason, const dfrt_request_result *r) {
    job *j = user;
    pthread_mutex_lock(&mu);
    j->reason = reason;
    j->result = *r;
    j->done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* dfrt_engine_submit; a refused request counts as done (no on_done will come). */
static dfrt_status submit(dfrt_engine *e, const dfrt_request *r, uint64_t *id) {
    dfrt_status s = dfrt_engine_submit(e, r, id);
    if (s != DFRT_OK && r->user) ((job *)r->user)->done = 1;
    return s;
}

static void wait_all(job *jobs, int n) {
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++)
        while (!jobs[i].done) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static dfrt_request request(const int32_t *prompt, size_t n, int max_tokens, job *j) {
    return (dfrt_request){.prompt = prompt, .n_prompt = n, .max_tokens = max_tokens, .ignore_eos = true,
                          .on_token = on_token, .on_done = on_done, .user = j};
}

static bool ref_token(void *user, int seq, int32_t t) {
    (void)seq;
    job *j = user;
    if (j->n < MAX_OUT) j->tokens[j->n++] = t;
    return true;
}

static void test_engine(void) {
    dfrt_backend *b = NULL;
    CHECK_OK(dfrt_backend_open("cpu", 0, &b));
    if (!b) return;
    dfrt_model *m = NULL;
    CHECK_OK(dfrt_model_load(b, test_model_dir(), &(dfrt_model_options){.max_context = 96, .max_batch = 16}, &m));
    if (!m) {
        dfrt_backend_close(b);
        return;
    }
    /* prompts of 3 to 33 tokens */
    enum { N = 16 };
    int32_t prompts[N][40];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        lens[i] = 3 + (size_t)(i * 2);
        for (size_t k = 0; k < lens[i]; k++) prompts[i][k] = (int32_t)(100 + (i * 37 + (int)k * 11) % 3000);
    }
    /* the references, one at a time through dfrt_generate (before the engine owns the model) */
    static job ref[N];
    for (int i = 0; i < N; i++) {
        dfrt_generate_options go = {.max_new_tokens = 8 + i, .n_sequences = 1, .ignore_eos = true,
                                    .on_token = ref_token, .user = &ref[i]};
        CHECK_OK(dfrt_generate(m, prompts[i], lens[i], &go, NULL));
    }
    dfrt_engine *e = NULL;
    CHECK_OK(dfrt_engine_create(m, &(dfrt_engine_options){.prefill_chunk = 7, .max_queue = 4}, &e));
    if (!e) goto out;
    /* alone */
    static job alone;
    CHECK_OK(submit(e, &(dfrt_request){.prompt = prompts[5], .n_prompt = lens[5], .max_tokens = 8 + 5,
                                                   .ignore_eos = true, .on_token = on_token, .on_done = on_done,
                                                   .user = &alone},
                                NULL));
    wait_all(&alone, 1);
    CHECK(alone.reason == DFRT_FINISH_LENGTH && alone.n == ref[5].n && alone.result.generated_tokens == alone.n);
    CHECK(memcmp(alone.tokens, ref[5].tokens, (size_t)alone.n * sizeof(int32_t)) == 0);
    CHECK(alone.result.prompt_tokens == (int)lens[5] && alone.done == 1);
    /* 16 at once (the free slots take them; 4 more could wait): the same tokens each */
    static job many[N];
    for (int i = 0; i < N; i++) {
        dfrt_request r = request(prompts[i], lens[i], 8 + i, &many[i]);
        CHECK_OK(submit(e, &r, NULL));
    }
    wait_all(many, N);
    for (int i = 0; i < N; i++) {
        CHECK(many[i].done == 1 && many[i].reason == DFRT_FINISH_LENGTH && many[i].n == ref[i].n);
        CHECK(memcmp(many[i].tokens, ref[i].tokens, (size_t)ref[i].n * sizeof(int32_t)) == 0);
    }
    dfrt_engine_stats st;
    dfrt_engine_get_stats(e, &st);
    CHECK(st.slots == 16 && st.running == 0 && st.queued == 0 && st.completed == N + 1 && st.failed == 0);
    /* sampling: the same seed, the same tokens; another seed, others (almost surely) */
    static job s1, s2, s3;
    dfrt_request r = request(prompts[2], lens[2], 24, &s1);
    r.sampling = (dfrt_sampling){.temperature = 1.5f, .seed = 42};
    CHECK_OK(submit(e, &r, NULL));
    r.user = &s2;
    CHECK_OK(submit(e, &r, NULL));
    r.user = &s3;
    r.sampling.seed = 43;
    r.presence_penalty = 0.5f, r.frequency_penalty = 0.25f, r.sampling.repeat_penalty = 1.2f;
    CHECK_OK(submit(e, &r, NULL));
    wait_all(&s1, 1), wait_all(&s2, 1), wait_all(&s3, 1);
    CHECK(s1.n == 24 && s2.n == 24 && memcmp(s1.tokens, s2.tokens, sizeof s1.tokens) == 0);
    CHECK(memcmp(s1.tokens, s3.tokens, sizeof s1.tokens) != 0);
    /* on_token's stop, and cancelling */
    static job stop, cancelled;
    r = request(prompts[1], lens[1], 40, &stop);
    stop.stop_after = 3;
    CHECK_OK(submit(e, &r, NULL));
    wait_all(&stop, 1);
    CHECK(stop.reason == DFRT_FINISH_STOP && stop.n == 3);
    uint64_t id = 0;
    r = request(prompts[1], lens[1], 60, &cancelled);
    CHECK_OK(submit(e, &r, &id));
    dfrt_engine_cancel(e, id);
    wait_all(&cancelled, 1);
    CHECK(cancelled.reason == DFRT_FINISH_CANCELLED && cancelled.n < 60);
    dfrt_engine_cancel(e, 987654); /* unknown: nothing */
    /* bad requests */
    int32_t bad = 1 << 30;
    r = request(&bad, 1, 4, NULL);
    CHECK_ERROR(dfrt_engine_submit(e, &r, NULL), DFRT_INVALID_ARGUMENT, "token id 1073741824 is outside the vocabulary");
    r = request(prompts[0], 0, 4, NULL);
    CHECK_ERROR(dfrt_engine_submit(e, &r, NULL), DFRT_INVALID_ARGUMENT, "the prompt is empty");
    static int32_t longp[96];
    r = request(longp, 96, 4, NULL);
    CHECK_ERROR(dfrt_engine_submit(e, &r, NULL), DFRT_INVALID_ARGUMENT,
                "the prompt's 96 tokens leave no room in the context of 96 tokens");
    r = request(prompts[0], lens[0], 0, NULL);
    CHECK_ERROR(dfrt_engine_submit(e, &r, NULL), DFRT_INVALID_ARGUMENT, "max_tokens 0");
    r = request(prompts[0], lens[0], 4, NULL);
    r.sampling.top_p = 2;
    CHECK_ERROR(dfrt_engine_submit(e, &r, NULL), DFRT_INVALID_ARGUMENT, "out of range");
    /* a full context ends a request with LENGTH */
    static job full;
    r = request(longp, 90, 50, &full);
    CHECK_OK(submit(e, &r, NULL));
    wait_all(&full, 1);
    CHECK(full.reason == DFRT_FINISH_LENGTH && full.n == 6);
    /* a full queue: 16 running and 4 waiting, then refused; then draining, and the end */
    static job flood[24];
    int accepted = 0, refused = 0;
    for (int i = 0; i < 24; i++) {
        r = request(prompts[i % N], lens[i % N], 40, &flood[i]);
        dfrt_status s = submit(e, &r, NULL);
        if (s == DFRT_OK) accepted++;
        else {
            CHECK(s == DFRT_UNAVAILABLE && strstr(dfrt_last_error(), "the engine is full: 16 requests running and 4 waiting"));
            refused++;
        }
    }
    CHECK(accepted >= 20 && refused >= 1);
    CHECK(dfrt_engine_drain(e, 120.0));
    wait_all(flood, 24);
    r = request(prompts[0], lens[0], 4, NULL);
    CHECK_ERROR(dfrt_engine_submit(e, &r, NULL), DFRT_UNAVAILABLE, "shutting down");
    dfrt_engine_destroy(e);
    /* destroying with work left: every request ends, cancelled */
    CHECK_OK(dfrt_engine_create(m, NULL, &e));
    static job left[3];
    for (int i = 0; i < 3 && e; i++) {
        r = request(prompts[i], lens[i], 60, &left[i]);
        CHECK_OK(submit(e, &r, NULL));
    }
    dfrt_engine_destroy(e);
    for (int i = 0; i < 3; i++) CHECK(left[i].done == 1);
out:
    dfrt_model_free(m);
    dfrt_backend_close(b);
}

int main(void) {
    RUN(test_engine);
    CHECK_ERROR(dfrt_engine_create(NULL, NULL, NULL), DFRT_INVALID_ARGUMENT, "dfrt_engine_create");
    return test_finish();
}
