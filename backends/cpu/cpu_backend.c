/* The CPU backend: the reference every other backend is tested against. Buffers are host
 * memory; ops run when enqueued, multi-threaded where it is cheap. */
#include "cpu_internal.h"
#include "format/df11_internal.h"

#include <time.h>
#include <unistd.h>

typedef struct cpu_backend {
    int threads;
    double timer_start;
} cpu_backend;

int cpu_threads(const dfrt_backend *b) { return ((const cpu_backend *)b->impl)->threads; }

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static void cpu_destroy(dfrt_backend *b) {
    free(b->impl);
    free(b);
}

static dfrt_status cpu_buffer_alloc(dfrt_backend *b, size_t size, void **out) {
    (void)b;
    *out = dfrt_alloc_large(size, "a CPU buffer");
    return *out ? DFRT_OK : DFRT_OUT_OF_MEMORY;
}

static void cpu_buffer_free(dfrt_backend *b, void *impl, size_t size) {
    (void)b;
    dfrt_free_large(impl, size);
}

static dfrt_status cpu_buffer_write(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size) {
    (void)b;
    memcpy((uint8_t *)impl + offset, src, size);
    return DFRT_OK;
}

static dfrt_status cpu_buffer_read(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size) {
    (void)b;
    memcpy(dst, (const uint8_t *)impl + offset, size);
    return DFRT_OK;
}

static dfrt_status cpu_buffer_copy(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset,
                                   size_t size) {
    (void)b;
    memmove((uint8_t *)dst + dst_offset, (const uint8_t *)src + src_offset, size);
    return DFRT_OK;
}

static dfrt_status cpu_buffer_fill(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value) {
    (void)b;
    memset((uint8_t *)impl + offset, value, size);
    return DFRT_OK;
}

static dfrt_status cpu_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a) {
    const dfrt_device_df11 *d = a->unit;
    /* A host view of the unit over the buffers; it was validated before upload. */
    dfrt_df11_unit view = {
        .name = d->name,
        .n = d->n,
        .n_tables = d->n_tables,
        .luts = d->luts->impl,
        .stream = d->stream->impl,
        .n_bytes = d->n_bytes,
        .sign_mantissa = d->sign_mantissa->impl,
        .output_positions = d->positions_buf->impl,
        .n_positions = d->n_chunks + 1,
        .gaps = d->gaps->impl,
        .n_chunks = d->n_chunks,
        .max_chunk_weights = d->max_chunk_weights,
    };
    uint16_t *out = (uint16_t *)((uint8_t *)a->out.buf->impl + a->out.offset);
    return df11_decode_parallel(&view, a->first_chunk, a->n_chunks, out, ((cpu_backend *)b->impl)->threads);
}

/* ---- matmul: rows of W converted to fp32 in blocks, dot products with 8 partial sums ------- */

#define ROWS_PER_TASK 16

typedef struct matmul_job {
    const float *x;
    const uint8_t *w; /* bf16, maybe only 2-byte aligned */
    const float *bias;
    float *y;
    int64_t m, n, k;
} matmul_job;

static inline float bf16_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

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
        for (int64_t i = 0; i < j->k; i++) dst[i] = bf16_to_float(src + 2 * i);
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

static dfrt_status cpu_matmul(dfrt_backend *b, const dfrt_matmul_args *a) {
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
    return dfrt_parallel_for(tasks, ((cpu_backend *)b->impl)->threads, matmul_task, &j);
}

static dfrt_status cpu_synchronize(dfrt_backend *b) {
    (void)b;
    return DFRT_OK;
}

static dfrt_status cpu_timer_begin(dfrt_backend *b) {
    ((cpu_backend *)b->impl)->timer_start = now_ms();
    return DFRT_OK;
}

static dfrt_status cpu_timer_end(dfrt_backend *b, double *out_ms) {
    *out_ms = now_ms() - ((cpu_backend *)b->impl)->timer_start;
    return DFRT_OK;
}

static const dfrt_backend_vtable cpu_vtable = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_copy = cpu_buffer_copy,
    .buffer_fill = cpu_buffer_fill,
    .df11_decode = cpu_df11_decode,
    .matmul = cpu_matmul,
    .embedding = cpu_embedding,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .silu_mul = cpu_silu_mul,
    .add = cpu_add,
    .argmax = cpu_argmax,
    .synchronize = cpu_synchronize,
    .timer_begin = cpu_timer_begin,
    .timer_end = cpu_timer_end,
};

static void cpu_info(dfrt_device_info *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->backend, sizeof info->backend, "cpu");
    snprintf(info->name, sizeof info->name, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    colon += 2;
                    colon[strcspn(colon, "\n")] = '\0';
                    snprintf(info->name, sizeof info->name, "%s", colon);
                }
                break;
            }
        fclose(f);
    }
    info->type = DFRT_DEVICE_CPU;
    info->available = true;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    info->max_allocation_bytes = info->memory_bytes;
    info->max_storage_buffer_range = info->memory_bytes;
    info->storage_8bit = info->storage_16bit = info->int64 = true;
    info->timestamps = true;
    info->multiprocessors = dfrt_cpu_count();
    snprintf(info->api_version, sizeof info->api_version, "C11, %d threads", dfrt_cpu_count());
    snprintf(info->driver_version, sizeof info->driver_version, "dfrt %s", dfrt_version());
}

static dfrt_status cpu_probe(dfrt_device_info **out, size_t *count) {
    *out = dfrt_calloc(1, sizeof **out, "device info");
    if (!*out) return DFRT_OUT_OF_MEMORY;
    cpu_info(*out);
    *count = 1;
    return DFRT_OK;
}

static dfrt_status cpu_open(int index, dfrt_backend **out) {
    *out = NULL;
    if (index != 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "cpu device %d does not exist (1 device)", index);
    dfrt_device_info info;
    cpu_info(&info);
    dfrt_backend *b = dfrt_backend_new(&cpu_vtable, &info);
    cpu_backend *impl = dfrt_calloc(1, sizeof *impl, "the CPU backend");
    if (!b || !impl) {
        free(b);
        free(impl);
        return DFRT_OUT_OF_MEMORY;
    }
    impl->threads = dfrt_cpu_count();
    b->impl = impl;
    *out = b;
    return DFRT_OK;
}

const dfrt_backend_driver dfrt_cpu_driver = {
    .name = "cpu",
    .probe = cpu_probe,
    .open = cpu_open,
};

dfrt_status dfrt_backend_set_threads(dfrt_backend *b, int n_threads) {
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_backend_set_threads: NULL backend");
    if (b->vt != &cpu_vtable)
        return dfrt_fail(DFRT_UNSUPPORTED, "the %s backend has no thread count (only the CPU backend has one)",
                         b->vt->name);
    if (n_threads < 0 || n_threads > 4096)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%d threads (0 for the default, at most 4096)", n_threads);
    cpu_backend *impl = b->impl;
    impl->threads = n_threads ? n_threads : dfrt_cpu_count();
    snprintf(b->info.api_version, sizeof b->info.api_version, "C11, %d threads", impl->threads);
    return DFRT_OK;
}
