/* The CPU backend: causal grouped-query attention (sliding window, soft-capping), one task per
 * (row, head), softmax in double; BF16 caches read as their exact fp32 values. */
#include "cpu_internal.h"

#include <math.h>

typedef struct attention_job {
    const dfrt_attention_args *a;
} attention_job;

/* Value i of a cache of kv_type. */
static inline float cache_at(const void *cache, size_t i, dfrt_kv_type type) {
    return type == DFRT_KV_F32 ? ((const float *)cache)[i] : dfrt_bf16_to_f32(((const uint16_t *)cache)[i]);
}

static dfrt_status attention_task(void *ctx, size_t index) {
    const dfrt_attention_args *a = ((attention_job *)ctx)->a;
    uint32_t r = (uint32_t)(index / a->n_heads), h = (uint32_t)(index % a->n_heads);
    float *out = F32(a->out) + (size_t)r * a->out_stride + (size_t)h * a->dim;
    const float *q = CF32(a->q) + (size_t)r * a->q_stride + (size_t)h * a->dim;
    int32_t slot = CI32(a->slots)[r], pos = CI32(a->positions)[r];
    if (slot < 0 || (uint32_t)slot >= a->n_slots || pos < 0 || (uint32_t)pos >= a->max_ctx) {
        memset(out, 0, (size_t)a->dim * sizeof *out);
        return DFRT_OK;
    }
    uint32_t g = h / (a->n_heads / a->n_kv), width = a->n_kv * a->dim;
    const void *k = CPU_PTR(a->k_cache), *v = CPU_PTR(a->v_cache);
    const size_t base = (size_t)slot * a->max_ctx * width + (size_t)g * a->dim;
    float *scores = dfrt_malloc(((size_t)pos + 1) * sizeof *scores, "attention scores");
    double *acc = dfrt_calloc(a->dim, sizeof *acc, "attention accumulator");
    if (!scores || !acc) {
        free(scores);
        free(acc);
        return DFRT_OUT_OF_MEMORY;
    }
    /* the sliding window: keys first..pos */
    const int32_t first = a->window && (uint32_t)pos >= a->window ? pos - (int32_t)a->window + 1 : 0;
    float best = -INFINITY;
    for (int32_t j = first; j <= pos; j++) {
        const size_t kj = base + (size_t)j * width;
        double s = 0;
        for (uint32_t i = 0; i < a->dim; i++) s += (double)q[i] * cache_at(k, kj + i, a->kv_type);
        scores[j] = (float)s * a->scale;
        if (a->softcap > 0) scores[j] = a->softcap * tanhf(scores[j] / a->softcap);
        if (scores[j] > best) best = scores[j];
    }
    double sum = 0;
    for (int32_t j = first; j <= pos; j++) {
        double p = exp((double)scores[j] - best);
        sum += p;
        const size_t vj = base + (size_t)j * width;
        for (uint32_t i = 0; i < a->dim; i++) acc[i] += p * cache_at(v, vj + i, a->kv_type);
    }
    for (uint32_t i = 0; i < a->dim; i++) out[i] = (float)(acc[i] / sum);
    free(scores);
    free(acc);
    return DFRT_OK;
}

dfrt_status cpu_attention(dfrt_backend *b, const dfrt_attention_args *a) {
    attention_job job = {a};
    return dfrt_parallel_for((size_t)a->rows * a->n_heads, cpu_threads(b), attention_task, &job);
}
