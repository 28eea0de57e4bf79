/* Picking tokens on the host: sampling from the logits (temperature, top-k, top-p, min-p) with
 * a random stream per sequence, the argmax, end-of-sequence ids. Shared by dfrt_generate and
 * the serving engine. */
#include "model/model_internal.h"

#include <math.h>

/* xoshiro256** seeded through splitmix64: one independent stream per sequence. */
void dfrt_rng_seed(dfrt_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = dfrt_splitmix64(&seed);
}

static double rng_uniform(dfrt_rng *r) { return (double)(dfrt_xoshiro_next(r->s) >> 11) * 0x1.0p-53; } /* [0, 1) */

static int by_logit_desc(const void *a, const void *b) {
    const dfrt_candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Samples from softmax(logits / T) restricted to the top k, to the smallest set whose
 * probability reaches top_p, and to the tokens at least min_p times as likely as the first. */
int32_t dfrt_sample(const float *logits, uint32_t vocab, const dfrt_sampling *s, dfrt_rng *r, dfrt_candidate *work) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < vocab; i++)
        if (isfinite(logits[i])) work[n++] = (dfrt_candidate){logits[i], (int32_t)i};
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
    if (s->min_p > 0) { /* work is sorted: keep the leading candidates above the threshold */
        uint32_t keep = 1;
        while (keep < n && exp(((double)work[keep].logit - max) / s->temperature) >= s->min_p) keep++;
        if (keep < n) {
            n = keep;
            total = 0;
            for (uint32_t i = 0; i < n; i++) total += exp(((double)work[i].logit - max) / s->temperature);
        }
    }
    double u = rng_uniform(r) * total, acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += exp(((double)work[i].logit - max) / s->temperature);
        if (u < acc) return work[i].id;
    }
    return work[n - 1].id;
}

bool dfrt_model_is_eos(const dfrt_model *m, int32_t t) {
    for (int i = 0; i < m->n_eos; i++)
        if (m->eos[i] == t) return true;
    return false;
}

/* The first index of the largest logit (NaN never wins), as dfrt_op_argmax. */
int32_t dfrt_host_argmax(const float *logits, uint32_t vocab) {
    int32_t best = 0;
    bool found = false;
    for (uint32_t i = 0; i < vocab; i++)
        if (!isnan(logits[i]) && (!found || logits[i] > logits[best])) {
            best = (int32_t)i;
            found = true;
        }
    return best;
}

