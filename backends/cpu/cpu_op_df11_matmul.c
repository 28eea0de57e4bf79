/* The CPU backend: df11_matmul, y = x . W^T (+ bias) over rows of a DF11 unit. Parallel over
 * tasks of rows of W: a task decodes the chunks covering its rows into its own buffer (the
 * chunk decoder, which checks the unit as it goes: a corrupted unit gives DFRT_FORMAT_ERROR),
 * converts them to fp32 CPU_MATMUL_BLOCK_ROWS rows at a time and runs cpu_matmul_block over
 * them, as matmul does: the result is matmul's over the decoded weights, bit for bit. No BF16
 * copy of the whole of W is made. */
#include "cpu_internal.h"

/* A task's rows hold about this many weights at most (2 MiB decoded), unless one row holds more. */
#define TASK_MAX_WEIGHTS (1u << 20)

typedef struct df11_matmul_job {
    dfrt_df11_unit view; /* the device unit seen from the host */
    const float *x;      /* fp32 (m, k) */
    const float *bias;   /* fp32 (n), or NULL */
    float *y;            /* fp32 (m, n) */
    uint64_t first;      /* the unit's weight index of W[0, 0] */
    int64_t m, n, k;
    int64_t rows_per_task;
} df11_matmul_job;

static dfrt_status df11_matmul_task(void *ctx, size_t index) {
    const df11_matmul_job *j = ctx;
    const size_t k = (size_t)j->k;
    int64_t r0 = (int64_t)index * j->rows_per_task, r1 = DFRT_MIN(r0 + j->rows_per_task, j->n);
    /* The chunks holding weights [begin, end) of rows [r0, r1): at most one partly used chunk at
     * each end, so (r1 - r0) k + 2 max_chunk_weights weights at most. */
    uint64_t begin = j->first + (uint64_t)r0 * k, end = j->first + (uint64_t)r1 * k;
    uint32_t chunk, count;
    dfrt_df11_chunks_covering(&j->view, begin, end, &chunk, &count);
    uint64_t base = dfrt_df11_chunk_start(&j->view, chunk);
    size_t decoded = (size_t)(dfrt_df11_chunk_start(&j->view, chunk + count) - base);
    int64_t block = DFRT_MIN(r1 - r0, (int64_t)CPU_MATMUL_BLOCK_ROWS);
    uint16_t *w = dfrt_malloc(decoded * sizeof *w, "df11_matmul decoded rows");
    float *rows = dfrt_malloc((size_t)block * k * sizeof *rows, "df11_matmul rows");
    dfrt_status s = w && rows ? dfrt_df11_decode_chunks(&j->view, chunk, count, w) : DFRT_OUT_OF_MEMORY;
    for (int64_t b0 = r0; s == DFRT_OK && b0 < r1; b0 += block) {
        int64_t b1 = DFRT_MIN(b0 + block, r1);
        const uint16_t *src = w + (j->first + (uint64_t)b0 * k - base);
        for (size_t i = 0; i < (size_t)(b1 - b0) * k; i++) rows[i] = dfrt_bf16_to_f32(src[i]);
        cpu_matmul_block(j->x, rows, j->bias, j->y, j->m, j->n, j->k, b0, b1);
    }
    free(w);
    free(rows);
    return s;
}

dfrt_status cpu_df11_matmul(dfrt_backend *b, const dfrt_df11_matmul_args *a) {
    df11_matmul_job j = {
        .x = CF32(a->x),
        .bias = a->bias.buf ? CF32(a->bias) : NULL,
        .y = F32(a->y),
        .first = a->first,
        .m = a->m,
        .n = a->n,
        .k = a->k,
    };
    cpu_df11_view(a->unit, &j.view);
    /* A task decodes about one chunk more than its rows (the partly used chunks at its ends), so
     * fewer, larger tasks waste less: one per thread, but none of less than 2 chunks' worth of
     * weights, nor of more than TASK_MAX_WEIGHTS (then a multiple of the thread count of
     * tasks). The rows are shared evenly. */
    const uint64_t threads = (uint64_t)cpu_threads(b), weights = (uint64_t)a->n * (uint64_t)a->k;
    const uint64_t chunk = DFRT_MAX(j.view.max_chunk_weights, 1u);
    uint64_t tasks = DFRT_MAX(DFRT_MIN(threads, weights / (2 * chunk)), 1u);
    if (weights > tasks * TASK_MAX_WEIGHTS)
        tasks = (weights + threads * TASK_MAX_WEIGHTS - 1) / (threads * TASK_MAX_WEIGHTS) * threads;
    tasks = DFRT_MIN(tasks, (uint64_t)a->n);
    j.rows_per_task = (a->n + (int64_t)tasks - 1) / (int64_t)tasks;
    tasks = (uint64_t)((a->n + j.rows_per_task - 1) / j.rows_per_task);
    return dfrt_parallel_for((size_t)tasks, (int)threads, df11_matmul_task, &j);
}
