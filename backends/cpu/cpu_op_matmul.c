/* The CPU backend: matmul. Rows of W converted to fp32 in blocks, dot products with 8 partial
 * sums (cpu_matmul_block). */
#include "cpu_internal.h"

#define ROWS_PER_TASK CPU_MATMUL_BLOCK_ROWS

typedef struct matmul_job {
    const float *x;
    const uint8_t *w; /* bf16, maybe only 2-byte aligned */
    const float *bias;
    float *y;
    int64_t m, n, k;
} matmul_job;

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
    cpu_matmul_block(j->x, rows, j->bias, j->y, j->m, j->n, j->k, n0, n1);
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
