/* The CUDA backend's host side, in C through the CUDA runtime API (linked statically, so the
 * binary starts where no driver is installed; the backend then reports itself unavailable). */
#include "backend.h"
#include "base/internal.h"

#include "kernels.h"

#include <cuda_runtime_api.h>

typedef struct cuda_backend {
    int device;
    cudaStream_t stream;
    cudaEvent_t timer_start, timer_stop;
    void *scratch; /* BF16 copy of X for the tensor-core GEMM */
    size_t scratch_size;
} cuda_backend;

static dfrt_status cuda_fail(cudaError_t e, const char *call, const char *file, int line) {
    dfrt_status s = e == cudaErrorMemoryAllocation ? DFRT_OUT_OF_MEMORY
                    : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? DFRT_UNAVAILABLE
                                                                                     : DFRT_DEVICE_ERROR;
    cudaGetLastError(); /* clear a non-sticky error so later calls are not blamed for it */
    return dfrt_fail(s, "cuda: %s failed: %s (%s) at %s:%d", call, cudaGetErrorString(e), cudaGetErrorName(e),
                     dfrt_basename(file), line);
}

#define CUDA_TRY(call) \
    do { \
        cudaError_t cuda_try_error_ = (call); \
        if (cuda_try_error_ != cudaSuccess) return cuda_fail(cuda_try_error_, #call, __FILE__, __LINE__); \
    } while (0)

static cuda_backend *cu_of(dfrt_backend *b) { return (cuda_backend *)b->impl; }

static void describe(int index, const struct cudaDeviceProp *p, dfrt_device_info *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->backend, sizeof info->backend, "cuda");
    info->index = index;
    snprintf(info->name, sizeof info->name, "%s", p->name);
    info->type = p->integrated ? DFRT_DEVICE_INTEGRATED_GPU : DFRT_DEVICE_DISCRETE_GPU;
    info->memory_bytes = p->totalGlobalMem;
    int runtime = 0, driver = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    snprintf(info->api_version, sizeof info->api_version, "CUDA runtime %d.%d", runtime / 1000, (runtime % 1000) / 10);
    snprintf(info->driver_version, sizeof info->driver_version, "CUDA driver API %d.%d", driver / 1000,
             (driver % 1000) / 10);
    info->subgroup_size = (uint32_t)p->warpSize;
    info->shared_memory_bytes = (uint32_t)p->sharedMemPerBlockOptin;
    info->max_storage_buffer_range = p->totalGlobalMem;
    info->max_allocation_bytes = p->totalGlobalMem;
    info->min_storage_buffer_offset_alignment = 1;
    info->storage_8bit = info->storage_16bit = info->int64 = info->subgroup_arithmetic = true;
    info->timestamps = true;
    info->compute_capability = p->major * 10 + p->minor;
    info->multiprocessors = p->multiProcessorCount;
    info->available = true;
    if (info->compute_capability < 80) {
        info->available = false;
        snprintf(info->unavailable_reason, sizeof info->unavailable_reason,
                 "compute capability %d.%d; dfrt's CUDA kernels need 8.0 or newer", p->major, p->minor);
    }
}

/* Why the CUDA runtime found no device: no driver at all (cudaErrorInsufficientDriver with
 * driver version 0, which is what a machine without libcuda.so.1 gives), a driver older than
 * the runtime dfrt was built with, or a driver without GPUs. */
static void no_device_reason(cudaError_t e, char *buf, size_t size) {
    int driver = 0, runtime = 0;
    if (e == cudaErrorInsufficientDriver && (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0)) {
        snprintf(buf, size, "no NVIDIA driver found (libcuda.so.1 is not installed)");
    } else if (e == cudaErrorInsufficientDriver) {
        cudaRuntimeGetVersion(&runtime);
        snprintf(buf, size,
                 "the NVIDIA driver supports CUDA %d.%d, older than the CUDA runtime %d.%d dfrt was built with: "
                 "update the driver",
                 driver / 1000, (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10);
    } else if (e == cudaSuccess || e == cudaErrorNoDevice) {
        snprintf(buf, size, "no NVIDIA GPU found (the driver is installed)");
    } else {
        snprintf(buf, size, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    }
    cudaGetLastError();
}

static dfrt_status cuda_probe(dfrt_device_info **out, size_t *out_count) {
    *out = NULL;
    *out_count = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        dfrt_device_info *info = dfrt_calloc(1, sizeof *info, "device info");
        if (!info) return DFRT_OUT_OF_MEMORY;
        snprintf(info->backend, sizeof info->backend, "cuda");
        snprintf(info->name, sizeof info->name, "(none)");
        info->index = -1; /* no device: the entry only says why */
        info->type = DFRT_DEVICE_OTHER;
        no_device_reason(e, info->unavailable_reason, sizeof info->unavailable_reason);
        *out = info;
        *out_count = 1;
        return DFRT_OK;
    }
    dfrt_device_info *infos = dfrt_calloc((size_t)n, sizeof *infos, "device info");
    if (!infos) return DFRT_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        struct cudaDeviceProp p;
        e = cudaGetDeviceProperties(&p, i);
        if (e != cudaSuccess) {
            memset(&infos[i], 0, sizeof infos[i]);
            snprintf(infos[i].backend, sizeof infos[i].backend, "cuda");
            infos[i].index = i;
            snprintf(infos[i].unavailable_reason, sizeof infos[i].unavailable_reason, "%s", cudaGetErrorString(e));
            cudaGetLastError();
            continue;
        }
        describe(i, &p, &infos[i]);
    }
    *out = infos;
    *out_count = (size_t)n;
    return DFRT_OK;
}

static void cuda_destroy(dfrt_backend *b) {
    cuda_backend *c = cu_of(b);
    if (c) {
        cudaSetDevice(c->device);
        if (c->stream) cudaStreamSynchronize(c->stream);
        if (c->scratch) cudaFree(c->scratch);
        if (c->timer_start) cudaEventDestroy(c->timer_start);
        if (c->timer_stop) cudaEventDestroy(c->timer_stop);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(b);
}

static dfrt_status cuda_buffer_alloc(dfrt_backend *b, size_t size, void **out) {
    cuda_backend *c = cu_of(b);
    CUDA_TRY(cudaSetDevice(c->device));
    cudaError_t e = cudaMalloc(out, size);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_bytes = 0, total = 0;
        cudaMemGetInfo(&free_bytes, &total);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "cuda: out of device memory allocating %zu bytes (%zu of %zu bytes free)",
                         size, free_bytes, total);
    }
    CUDA_TRY(e);
    return DFRT_OK;
}

static void cuda_buffer_free(dfrt_backend *b, void *impl, size_t size) {
    (void)size;
    cuda_backend *c = cu_of(b);
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream); /* work in flight may still use it */
    cudaFree(impl);
}

static dfrt_status cuda_buffer_write(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size) {
    CUDA_TRY(cudaMemcpyAsync((uint8_t *)impl + offset, src, size, cudaMemcpyHostToDevice, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_buffer_read(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size) {
    cuda_backend *c = cu_of(b);
    CUDA_TRY(cudaMemcpyAsync(dst, (const uint8_t *)impl + offset, size, cudaMemcpyDeviceToHost, c->stream));
    CUDA_TRY(cudaStreamSynchronize(c->stream));
    return DFRT_OK;
}

static dfrt_status cuda_buffer_copy(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset,
                                    size_t size) {
    CUDA_TRY(cudaMemcpyAsync((uint8_t *)dst + dst_offset, (const uint8_t *)src + src_offset, size,
                             cudaMemcpyDeviceToDevice, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_buffer_fill(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value) {
    CUDA_TRY(cudaMemsetAsync((uint8_t *)impl + offset, value, size, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a) {
    const dfrt_device_df11 *u = a->unit;
    dfrt_cuda_decode p = {
        .luts = u->luts->impl,
        .stream = u->stream->impl,
        .sign_mantissa = u->sign_mantissa->impl,
        .positions = u->positions_buf->impl,
        .gaps = u->gaps->impl,
        .out = (uint16_t *)((uint8_t *)a->out.buf->impl + a->out.offset),
        .n_bytes = u->n_bytes,
        .first_chunk = a->first_chunk,
        .n_chunks = a->n_chunks,
        .n_tables = u->n_tables,
        .max_chunk_weights = u->max_chunk_weights,
    };
    CUDA_TRY(dfrt_cuda_df11_decode(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_matmul(dfrt_backend *b, const dfrt_matmul_args *a) {
    cuda_backend *c = cu_of(b);
    size_t need = dfrt_cuda_matmul_scratch_bytes((int)a->m, (int)a->k);
    if (need > c->scratch_size) {
        if (c->scratch) {
            CUDA_TRY(cudaStreamSynchronize(c->stream));
            cudaFree(c->scratch);
            c->scratch = NULL;
            c->scratch_size = 0;
        }
        cudaError_t e = cudaMalloc(&c->scratch, need);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "cuda matmul: out of device memory for a %zu-byte BF16 copy of X", need);
        }
        CUDA_TRY(e);
        c->scratch_size = need;
    }
    dfrt_cuda_matmul p = {
        .x = (const float *)((const uint8_t *)a->x.buf->impl + a->x.offset),
        .w = (const uint16_t *)((const uint8_t *)a->w.buf->impl + a->w.offset),
        .bias = a->bias.buf ? (const float *)((const uint8_t *)a->bias.buf->impl + a->bias.offset) : NULL,
        .y = (float *)((uint8_t *)a->y.buf->impl + a->y.offset),
        .m = (int)a->m,
        .n = (int)a->n,
        .k = (int)a->k,
        .scratch = c->scratch,
    };
    CUDA_TRY(dfrt_cuda_matmul_run(&p, c->stream));
    return DFRT_OK;
}

/* ---- transformer ops ------------------------------------------------------------------------- */

#define DEV_F32(arg) ((float *)((uint8_t *)(arg).buf->impl + (arg).offset))
#define DEV_CF32(arg) ((const float *)((const uint8_t *)(arg).buf->impl + (arg).offset))
#define DEV_CI32(arg) ((const int32_t *)((const uint8_t *)(arg).buf->impl + (arg).offset))

static dfrt_status cuda_embedding(dfrt_backend *b, const dfrt_embedding_args *a) {
    dfrt_cuda_embedding p = {
        .out = DEV_F32(a->out),
        .table = (const uint16_t *)((const uint8_t *)a->table.buf->impl + a->table.offset),
        .offsets = (const uint32_t *)((const uint8_t *)a->offsets.buf->impl + a->offsets.offset),
        .table_elems = a->table_elems,
        .rows = a->rows,
        .dim = a->dim,
    };
    CUDA_TRY(dfrt_cuda_embedding_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a) {
    dfrt_cuda_rmsnorm p = {
        .y = DEV_F32(a->y),
        .x = DEV_CF32(a->x),
        .w = DEV_CF32(a->w),
        .rows = a->rows,
        .heads = a->heads,
        .dim = a->dim,
        .row_stride = a->row_stride,
        .eps = a->eps,
    };
    CUDA_TRY(dfrt_cuda_rmsnorm_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_rope(dfrt_backend *b, const dfrt_rope_args *a) {
    dfrt_cuda_rope p = {
        .x = DEV_F32(a->x),
        .positions = DEV_CI32(a->positions),
        .inv_freq = DEV_CF32(a->inv_freq),
        .rows = a->rows,
        .heads = a->heads,
        .dim = a->dim,
        .row_stride = a->row_stride,
    };
    CUDA_TRY(dfrt_cuda_rope_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a) {
    dfrt_cuda_kv_store p = {
        .k_cache = DEV_F32(a->k_cache),
        .v_cache = DEV_F32(a->v_cache),
        .src = DEV_CF32(a->src),
        .slots = DEV_CI32(a->slots),
        .positions = DEV_CI32(a->positions),
        .rows = a->rows,
        .width = a->width,
        .src_stride = a->src_stride,
        .k_col = a->k_col,
        .v_col = a->v_col,
        .n_slots = a->n_slots,
        .max_ctx = a->max_ctx,
    };
    CUDA_TRY(dfrt_cuda_kv_store_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

/* Grows the backend's scratch (shared with matmul; both use it only from work on the stream) to
 * at least `need` bytes. */
static dfrt_status cuda_reserve_scratch(cuda_backend *c, size_t need, const char *what) {
    if (need <= c->scratch_size) return DFRT_OK;
    if (c->scratch) {
        CUDA_TRY(cudaStreamSynchronize(c->stream));
        cudaFree(c->scratch);
        c->scratch = NULL;
        c->scratch_size = 0;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, need);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "cuda %s: out of device memory for %zu bytes of scratch", what, need);
    }
    CUDA_TRY(e);
    c->scratch = p;
    c->scratch_size = need;
    return DFRT_OK;
}

static dfrt_status cuda_attention(dfrt_backend *b, const dfrt_attention_args *a) {
    cuda_backend *c = cu_of(b);
    dfrt_cuda_attention p = {
        .out = DEV_F32(a->out),
        .q = DEV_CF32(a->q),
        .k_cache = DEV_CF32(a->k_cache),
        .v_cache = DEV_CF32(a->v_cache),
        .slots = DEV_CI32(a->slots),
        .positions = DEV_CI32(a->positions),
        .rows = a->rows,
        .n_heads = a->n_heads,
        .n_kv = a->n_kv,
        .dim = a->dim,
        .q_stride = a->q_stride,
        .out_stride = a->out_stride,
        .n_slots = a->n_slots,
        .max_ctx = a->max_ctx,
        .scale = a->scale,
    };
    /* Scratch for the partial results of split keys; without it the kernel does not split. */
    size_t need = dfrt_cuda_attention_scratch_bytes(&p);
    if (need) {
        dfrt_status s = cuda_reserve_scratch(c, need, "attention");
        if (s != DFRT_OK && s != DFRT_OUT_OF_MEMORY) return s;
        p.scratch = c->scratch;
        p.scratch_bytes = c->scratch_size;
    }
    CUDA_TRY(dfrt_cuda_attention_run(&p, c->stream));
    return DFRT_OK;
}

static dfrt_status cuda_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a) {
    dfrt_cuda_silu_mul p = {
        .out = DEV_F32(a->out),
        .in = DEV_CF32(a->in),
        .rows = a->rows,
        .width = a->width,
        .in_stride = a->in_stride,
        .up_col = a->up_col,
    };
    CUDA_TRY(dfrt_cuda_silu_mul_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_add(dfrt_backend *b, const dfrt_add_args *a) {
    dfrt_cuda_add p = {
        .y = DEV_F32(a->y),
        .a = DEV_CF32(a->a),
        .b = DEV_CF32(a->b),
        .n = a->n,
    };
    CUDA_TRY(dfrt_cuda_add_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_argmax(dfrt_backend *b, const dfrt_argmax_args *a) {
    dfrt_cuda_argmax p = {
        .out = (int32_t *)((uint8_t *)a->out.buf->impl + a->out.offset),
        .x = DEV_CF32(a->x),
        .rows = a->rows,
        .n = a->n,
        .stride = a->stride,
    };
    CUDA_TRY(dfrt_cuda_argmax_run(&p, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_synchronize(dfrt_backend *b) {
    CUDA_TRY(cudaStreamSynchronize(cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_timer_begin(dfrt_backend *b) {
    cuda_backend *c = cu_of(b);
    CUDA_TRY(cudaEventRecord(c->timer_start, c->stream));
    return DFRT_OK;
}

static dfrt_status cuda_timer_end(dfrt_backend *b, double *out_ms) {
    cuda_backend *c = cu_of(b);
    CUDA_TRY(cudaEventRecord(c->timer_stop, c->stream));
    CUDA_TRY(cudaEventSynchronize(c->timer_stop));
    float ms = 0;
    CUDA_TRY(cudaEventElapsedTime(&ms, c->timer_start, c->timer_stop));
    *out_ms = ms;
    return DFRT_OK;
}

static const dfrt_backend_vtable cuda_vtable = {
    .name = "cuda",
    .destroy = cuda_destroy,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .buffer_write = cuda_buffer_write,
    .buffer_read = cuda_buffer_read,
    .buffer_copy = cuda_buffer_copy,
    .buffer_fill = cuda_buffer_fill,
    .df11_decode = cuda_df11_decode,
    .matmul = cuda_matmul,
    .embedding = cuda_embedding,
    .rmsnorm = cuda_rmsnorm,
    .rope = cuda_rope,
    .kv_store = cuda_kv_store,
    .attention = cuda_attention,
    .silu_mul = cuda_silu_mul,
    .add = cuda_add,
    .argmax = cuda_argmax,
    .synchronize = cuda_synchronize,
    .timer_begin = cuda_timer_begin,
    .timer_end = cuda_timer_end,
};

static dfrt_status cuda_open_device(int index, cuda_backend *c, dfrt_device_info *info) {
    struct cudaDeviceProp p;
    CUDA_TRY(cudaGetDeviceProperties(&p, index));
    describe(index, &p, info);
    if (!info->available)
        return dfrt_fail(DFRT_UNAVAILABLE, "cuda device %d (%s): %s", index, info->name, info->unavailable_reason);
    c->device = index;
    CUDA_TRY(cudaSetDevice(index));
    CUDA_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUDA_TRY(cudaEventCreate(&c->timer_start));
    CUDA_TRY(cudaEventCreate(&c->timer_stop));
    return DFRT_OK;
}

static dfrt_status cuda_open(int index, dfrt_backend **out) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        char why[256];
        no_device_reason(e, why, sizeof why);
        return dfrt_fail(DFRT_UNAVAILABLE, "cuda: %s", why);
    }
    if (index < 0 || index >= n) return dfrt_fail(DFRT_INVALID_ARGUMENT, "cuda device %d does not exist (%d devices)", index, n);
    dfrt_backend *b = dfrt_calloc(1, sizeof *b, "a backend");
    cuda_backend *c = dfrt_calloc(1, sizeof *c, "the CUDA backend");
    if (!b || !c) {
        free(b);
        free(c);
        return DFRT_OUT_OF_MEMORY;
    }
    b->vt = &cuda_vtable;
    b->impl = c;
    dfrt_status s = cuda_open_device(index, c, &b->info);
    if (s != DFRT_OK) {
        cuda_destroy(b);
        return s;
    }
    *out = b;
    return DFRT_OK;
}

const dfrt_backend_driver dfrt_cuda_driver = {
    .name = "cuda",
    .probe = cuda_probe,
    .open = cuda_open,
};
