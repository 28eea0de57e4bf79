/* The CPU backend: the reference every other backend is tested against. Buffers are host
 * memory; ops run when enqueued, multi-threaded where it is cheap (the ops: cpu_op_*.c). */
#include "cpu_internal.h"

#include <unistd.h>

typedef struct cpu_backend {
    int threads;
    double timer_start;
} cpu_backend;

int cpu_threads(const dfrt_backend *b) { return ((const cpu_backend *)b->impl)->threads; }

static void cpu_destroy(dfrt_backend *b) { free(b->impl); }

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

static dfrt_status cpu_synchronize(dfrt_backend *b) {
    (void)b;
    return DFRT_OK;
}

static dfrt_status cpu_timer_begin(dfrt_backend *b) {
    ((cpu_backend *)b->impl)->timer_start = 1e3 * dfrt_now_seconds();
    return DFRT_OK;
}

static dfrt_status cpu_timer_end(dfrt_backend *b, double *out_ms) {
    *out_ms = 1e3 * dfrt_now_seconds() - ((cpu_backend *)b->impl)->timer_start;
    return DFRT_OK;
}

static const char *cpu_matmul_kernel(dfrt_backend *b, dfrt_op op, const void *args) {
    (void)b, (void)args;
    return op == DFRT_OP_MATMUL ? "fp32 dot products" : "DF11 chunk decode per task + fp32 dot products";
}

static const dfrt_backend_vtable cpu_vtable = {
    DFRT_BACKEND_MEMBERS(cpu, "cpu", NULL),
    .matmul_kernel = cpu_matmul_kernel,
    .df11_decode = cpu_df11_decode,
    .matmul = cpu_matmul,
    .df11_matmul = cpu_df11_matmul,
    .embedding = cpu_embedding,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .silu_mul = cpu_silu_mul,
    .add = cpu_add,
    .argmax = cpu_argmax,
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
    cpu_backend *impl = dfrt_calloc(1, sizeof *impl, "the CPU backend");
    if (!impl) return DFRT_OUT_OF_MEMORY;
    impl->threads = dfrt_cpu_count();
    return dfrt_backend_finish_open(DFRT_OK, &cpu_vtable, &info, impl, out);
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
