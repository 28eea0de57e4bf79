/* The CPU backend's transformer ops: the reference the GPU backends are tested against. */
#include "backend.h"
#include "cpu_internal.h"

#include <math.h>

#define F32(arg) ((float *)((uint8_t *)(arg).buf->impl + (arg).offset))
#define CF32(arg) ((const float *)((const uint8_t *)(arg).buf->impl + (arg).offset))
#define CI32(arg) ((const int32_t *)((const uint8_t *)(arg).buf->impl + (arg).offset))

dfrt_status cpu_embedding(dfrt_backend *b, const dfrt_embedding_args *a) {
    (void)b;
    float *out = F32(a->out);
    const uint8_t *table = (const uint8_t *)a->table.buf->impl + a->table.offset;
    const uint32_t *offsets = (const uint32_t *)((const uint8_t *)a->offsets.buf->impl + a->offsets.offset);
    for (uint32_t r = 0; r < a->rows; r++) {
        uint64_t first = offsets[r];
        float *row = out + (size_t)r * a->dim;
        if (first + a->dim > a->table_elems) {
            memset(row, 0, (size_t)a->dim * sizeof *row);
            continue;
        }
        for (uint32_t k = 0; k < a->dim; k++) {
            uint16_t h;
            memcpy(&h, table + 2 * (first + k), 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&row[k], &u, 4);
        }
    }
    return DFRT_OK;
}

dfrt_status cpu_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a) {
    (void)b;
    float *y = F32(a->y);
    const float *x = CF32(a->x), *w = CF32(a->w);
    for (uint32_t r = 0; r < a->rows; r++)
        for (uint32_t h = 0; h < a->heads; h++) {
            size_t at = (size_t)r * a->row_stride + (size_t)h * a->dim;
            double ss = 0;
            for (uint32_t i = 0; i < a->dim; i++) ss += (double)x[at + i] * x[at + i];
            float inv = (float)(1.0 / sqrt(ss / a->dim + (double)a->eps));
            for (uint32_t i = 0; i < a->dim; i++) y[at + i] = x[at + i] * inv * w[i];
        }
    return DFRT_OK;
}

dfrt_status cpu_rope(dfrt_backend *b, const dfrt_rope_args *a) {
    (void)b;
    float *x = F32(a->x);
    const int32_t *pos = CI32(a->positions);
    const float *inv_freq = CF32(a->inv_freq);
    uint32_t half = a->dim / 2;
    for (uint32_t r = 0; r < a->rows; r++)
        for (uint32_t i = 0; i < half; i++) {
            float angle = (float)pos[r] * inv_freq[i];
            float c = (float)cos((double)angle), s = (float)sin((double)angle);
            for (uint32_t h = 0; h < a->heads; h++) {
                float *v = x + (size_t)r * a->row_stride + (size_t)h * a->dim;
                float lo = v[i], hi = v[i + half];
                v[i] = lo * c - hi * s;
                v[i + half] = hi * c + lo * s;
            }
        }
    return DFRT_OK;
}

dfrt_status cpu_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a) {
    (void)b;
    float *kc = F32(a->k_cache), *vc = F32(a->v_cache);
    const float *src = CF32(a->src);
    const int32_t *slots = CI32(a->slots), *pos = CI32(a->positions);
    for (uint32_t r = 0; r < a->rows; r++) {
        if (slots[r] < 0 || (uint32_t)slots[r] >= a->n_slots || pos[r] < 0 || (uint32_t)pos[r] >= a->max_ctx) continue;
        size_t dst = ((size_t)slots[r] * a->max_ctx + (size_t)pos[r]) * a->width;
        const float *row = src + (size_t)r * a->src_stride;
        memcpy(kc + dst, row + a->k_col, (size_t)a->width * sizeof(float));
        memcpy(vc + dst, row + a->v_col, (size_t)a->width * sizeof(float));
    }
    return DFRT_OK;
}

typedef struct attention_job {
    const dfrt_attention_args *a;
} attention_job;

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
    const float *k = CF32(a->k_cache) + (size_t)slot * a->max_ctx * width + (size_t)g * a->dim;
    const float *v = CF32(a->v_cache) + (size_t)slot * a->max_ctx * width + (size_t)g * a->dim;
    float *scores = dfrt_malloc(((size_t)pos + 1) * sizeof *scores, "attention scores");
    double *acc = dfrt_calloc(a->dim, sizeof *acc, "attention accumulator");
    if (!scores || !acc) {
        free(scores);
        free(acc);
        return DFRT_OUT_OF_MEMORY;
    }
    float best = -INFINITY;
    for (int32_t j = 0; j <= pos; j++) {
        const float *kj = k + (size_t)j * width;
        double s = 0;
        for (uint32_t i = 0; i < a->dim; i++) s += (double)q[i] * kj[i];
        scores[j] = (float)s * a->scale;
        if (scores[j] > best) best = scores[j];
    }
    double sum = 0;
    for (int32_t j = 0; j <= pos; j++) {
        double p = exp((double)scores[j] - best);
        sum += p;
        const float *vj = v + (size_t)j * width;
        for (uint32_t i = 0; i < a->dim; i++) acc[i] += p * vj[i];
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

dfrt_status cpu_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a) {
    (void)b;
    float *out = F32(a->out);
    const float *in = CF32(a->in);
    for (uint32_t r = 0; r < a->rows; r++) {
        const float *row = in + (size_t)r * a->in_stride;
        for (uint32_t i = 0; i < a->width; i++) {
            float g = row[i];
            out[(size_t)r * a->width + i] = g / (1.0f + expf(-g)) * row[a->up_col + i];
        }
    }
    return DFRT_OK;
}

dfrt_status cpu_add(dfrt_backend *b, const dfrt_add_args *a) {
    (void)b;
    float *y = F32(a->y);
    const float *x = CF32(a->a), *z = CF32(a->b);
    for (uint64_t i = 0; i < a->n; i++) y[i] = x[i] + z[i];
    return DFRT_OK;
}

dfrt_status cpu_argmax(dfrt_backend *b, const dfrt_argmax_args *a) {
    (void)b;
    int32_t *out = (int32_t *)((uint8_t *)a->out.buf->impl + a->out.offset);
    const float *x = CF32(a->x);
    for (uint32_t r = 0; r < a->rows; r++) {
        const float *row = x + (size_t)r * a->stride;
        float best = -INFINITY;
        int32_t at = 0;
        for (uint32_t i = 0; i < a->n; i++)
            if (row[i] > best) {
                best = row[i];
                at = (int32_t)i;
            }
        out[r] = at;
    }
    return DFRT_OK;
}
