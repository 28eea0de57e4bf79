/* The CPU backend: matmul. Rows of W converted to fp32 in blocks, dot products with 8 partial
 * sums. */
#include "cpu_internal.h"

#define ROWS_PER_TASK 16

typedef struct matmul_job {
    const float *x;
    const uint8_t *w; /* bf16, maybe only 2-byte aligned */
    const float *bias;
    float *y;
    int64_t m, n, k;
} matmul_job;

static float dot(const float *a, const float *b, int64_t k) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < k; i++) s += a[i] * b[i];
    return s;
}

static dfrt_status matmul_task(void *ctx, size_t index) {
    matmul_job *j = ctx;
    int64_t n0 = (int64_t)index * ROWS_PER_TASK, n1 = DFRT_MIN(n0 + ROWS_PER_TASK, j->n);
    float *rows = dfrt_malloc((size_t)(n1 - n0) * (size_t)j->k * sizeof(float), "matmul rows");
    if (!rows) return DFRT_OUT_OF_MEMORY;
    for (int64_t r = n0; r < n1; r++) {
        const uint8_t *src = j->w + (size_t)r * (size_t)j->k * 2;
        float *dst = rows + (size_t)(r - n0) * (size_t)j->k;
        for (int64_t i = 0; i < j->k; i++) dst[i] = dfrt_bf16_load(src + 2 * i);
    }
    for (int64_t mi = 0; mi < j->m; mi++) {
        const float *xr = j->x + (size_t)mi * (size_t)j->k;
        for (int64_t r = n0; r < n1; r++) {
            float v = dot(xr, rows + (size_t)(r - n0) * (size_t)j->k, j->k);
            j->y[(size_t)mi * (size_t)j->n + (size_t)r] = j->bias ? v + j->bias[r] : v;
        }
    }
    free(rows);
    return DFRT_OK;
}

dfrt_status cpu_matmul(dfrt_backend *b, const dfrt_matmul_args *a) {
    matmul_job j = {
        .x = (const float *)((const uint8_t *)a->x.buf->impl + a->x.offset),
        .w = (const uint8_t *)a->w.buf->impl + a->w.offset,
        .bias = a->bias.buf ? (const float *)((const uint8_t *)a->bias.buf->impl + a->bias.offset) : NULL,
        .y = (float *)((uint8_t *)a->y.buf->impl + a->y.offset),
        .m = a->m,
        .n = a->n,
        .k = a->k,
    };
    size_t tasks = (size_t)((a->n + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
    return dfrt_parallel_for(tasks, cpu_threads(b), matmul_task, &j);
}
