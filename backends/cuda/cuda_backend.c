/* The CUDA backend's host side, in C through the CUDA runtime API (linked statically, so the
 * binary starts where no driver is installed; the backend then reports itself unavailable). */
#include "backend.h"
#include "base/internal.h"

#include "cuda_cublas.h"
#include "cuda_nccl.h"
#include "kernels.h"

#include <cuda_runtime_api.h>

/* The backend's impl is the launchers' context (kernels.h). */
static dfrt_cuda_ctx *cu_of(dfrt_backend *b) { return (dfrt_cuda_ctx *)b->impl; }

dfrt_status dfrt_cuda_fail(cudaError_t e, const char *call, const char *file, int line) {
    dfrt_status s = e == cudaErrorMemoryAllocation ? DFRT_OUT_OF_MEMORY
                    : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? DFRT_UNAVAILABLE
                                                                                     : DFRT_DEVICE_ERROR;
    cudaGetLastError(); /* clear a non-sticky error so later calls are not blamed for it */
    return dfrt_fail(s, "cuda: %s failed: %s (%s) at %s:%d", call, cudaGetErrorString(e), cudaGetErrorName(e),
                     dfrt_basename(file), line);
}

/* Makes the context's device the calling thread's current one (a model split over devices
 * runs them from one thread), at the cost of a lookup where it already is. */
static dfrt_status use_device(const dfrt_cuda_ctx *c) {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now == c->device) return DFRT_OK;
    DFRT_CUDA_TRY(cudaSetDevice(c->device));
    return DFRT_OK;
}

/* Grows the scratch (matmul's BF16 copy of X, df11_matmul's decoded rows, attention's split
 * keys; all use it only from work on the stream) to at least `need` bytes. It counts in the
 * backend's allocated and peak bytes like any buffer. */
dfrt_status dfrt_cuda_scratch(dfrt_cuda_ctx *c, size_t need, const char *what) {
    if (need <= c->scratch_size) return DFRT_OK;
    if (c->scratch) {
        DFRT_CUDA_TRY(cudaStreamSynchronize(c->stream));
        cudaFree(c->scratch);
        c->scratch = NULL;
        if (c->owner) c->owner->allocated -= c->scratch_size;
        c->scratch_size = 0;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, need);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "cuda %s: out of device memory for %zu bytes of scratch", what, need);
    }
    DFRT_CUDA_TRY(e);
    c->scratch = p;
    c->scratch_size = need;
    c->scratch_moves++;
    if (c->owner) {
        c->owner->allocated += need;
        if (c->owner->allocated > c->owner->peak_allocated) c->owner->peak_allocated = c->owner->allocated;
    }
    return DFRT_OK;
}

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
        for (int j = 0; j < n && j < 32; j++) { /* which devices it reaches directly */
            int can = 0;
            if (j != i && cudaDeviceCanAccessPeer(&can, i, j) == cudaSuccess && can) infos[i].peer_mask |= 1u << j;
            cudaGetLastError();
        }
    }
    *out = infos;
    *out_count = (size_t)n;
    return DFRT_OK;
}

static void cuda_release(dfrt_cuda_ctx *c) {
    if (c) {
        cudaSetDevice(c->device);
        if (c->stream) cudaStreamSynchronize(c->stream);
        if (c->copy_stream) {
            cudaStreamSynchronize(c->copy_stream);
            cudaStreamDestroy(c->copy_stream);
            cudaEventDestroy(c->ops_done);
            cudaEventDestroy(c->copies_done);
        }
        if (c->handoff) cudaEventDestroy(c->handoff);
        if (c->scratch) cudaFree(c->scratch);
        dfrt_cuda_cublas_release(c);
        if (c->timer_start) cudaEventDestroy(c->timer_start);
        if (c->timer_stop) cudaEventDestroy(c->timer_stop);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
}

static void cuda_destroy(dfrt_backend *b) {
    cuda_release(cu_of(b));
}

static dfrt_status cuda_buffer_alloc(dfrt_backend *b, size_t size, void **out) {
    dfrt_cuda_ctx *c = cu_of(b);
    DFRT_CUDA_TRY(cudaSetDevice(c->device));
    cudaError_t e = cudaMalloc(out, size);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_bytes = 0, total = 0;
        cudaMemGetInfo(&free_bytes, &total);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "cuda: out of device memory allocating %zu bytes (%zu of %zu bytes free)",
                         size, free_bytes, total);
    }
    DFRT_CUDA_TRY(e);
    return DFRT_OK;
}

static void cuda_buffer_free(dfrt_backend *b, void *impl, size_t size) {
    (void)size;
    dfrt_cuda_ctx *c = cu_of(b);
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream); /* work in flight may still use it */
    if (c->copy_stream) cudaStreamSynchronize(c->copy_stream);
    cudaFree(impl);
}

static dfrt_status cuda_buffer_write(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size) {
    DFRT_TRY(use_device(cu_of(b)));
    DFRT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)impl + offset, src, size, cudaMemcpyHostToDevice, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_buffer_read(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    DFRT_CUDA_TRY(cudaMemcpyAsync(dst, (const uint8_t *)impl + offset, size, cudaMemcpyDeviceToHost, c->stream));
    DFRT_CUDA_TRY(cudaStreamSynchronize(c->stream));
    return DFRT_OK;
}

static dfrt_status cuda_buffer_copy(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset,
                                    size_t size) {
    DFRT_TRY(use_device(cu_of(b)));
    DFRT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)dst + dst_offset, (const uint8_t *)src + src_offset, size,
                             cudaMemcpyDeviceToDevice, cu_of(b)->stream));
    return DFRT_OK;
}

static dfrt_status cuda_host_alloc(dfrt_backend *b, size_t size, void **out) {
    cudaSetDevice(cu_of(b)->device);
    DFRT_CUDA_TRY(cudaHostAlloc(out, size, cudaHostAllocDefault));
    return DFRT_OK;
}

static void cuda_host_free(dfrt_backend *b, void *p) {
    dfrt_cuda_ctx *c = cu_of(b);
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream); /* copies from it may be in flight */
    if (c->copy_stream) cudaStreamSynchronize(c->copy_stream);
    cudaFreeHost(p);
}

/* Offloading's copies on their own stream, overlapping the ops: copy_async enqueues there;
 * copies_after_ops makes the later copies wait for the ops enqueued so far, ops_after_copies
 * the later ops for the copies enqueued so far. */
static dfrt_status copy_stream(dfrt_cuda_ctx *c) {
    if (c->copy_stream) return DFRT_OK;
    DFRT_CUDA_TRY(cudaSetDevice(c->device));
    DFRT_CUDA_TRY(cudaEventCreateWithFlags(&c->ops_done, cudaEventDisableTiming));
    DFRT_CUDA_TRY(cudaEventCreateWithFlags(&c->copies_done, cudaEventDisableTiming));
    DFRT_CUDA_TRY(cudaStreamCreateWithFlags(&c->copy_stream, cudaStreamNonBlocking));
    return DFRT_OK;
}

static dfrt_status cuda_copy_async(dfrt_backend *b, void *dst, size_t offset, const void *src, size_t size) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    DFRT_TRY(copy_stream(c));
    DFRT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)dst + offset, src, size, cudaMemcpyHostToDevice, c->copy_stream));
    return DFRT_OK;
}

static dfrt_status cuda_copies_after_ops(dfrt_backend *b) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    DFRT_TRY(copy_stream(c));
    DFRT_CUDA_TRY(cudaEventRecord(c->ops_done, c->stream));
    DFRT_CUDA_TRY(cudaStreamWaitEvent(c->copy_stream, c->ops_done, 0));
    return DFRT_OK;
}

static dfrt_status cuda_ops_after_copies(dfrt_backend *b) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    if (!c->copy_stream) return DFRT_OK;
    DFRT_CUDA_TRY(cudaEventRecord(c->copies_done, c->copy_stream));
    DFRT_CUDA_TRY(cudaStreamWaitEvent(c->stream, c->copies_done, 0));
    return DFRT_OK;
}

static dfrt_status cuda_buffer_fill(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value) {
    DFRT_TRY(use_device(cu_of(b)));
    DFRT_CUDA_TRY(cudaMemsetAsync((uint8_t *)impl + offset, value, size, cu_of(b)->stream));
    return DFRT_OK;
}

/* What this backend's kernels cannot do (ops.c has validated the arguments). */
static dfrt_status cuda_supports(dfrt_backend *b, dfrt_op op, const void *args) {
    (void)b;
    if (op == DFRT_OP_ATTENTION) {
        const dfrt_attention_args *a = args;
        if (a->dim > DFRT_CUDA_ATTENTION_MAX_DIM)
            return dfrt_fail(DFRT_UNSUPPORTED, "attention: head_dim %u; the CUDA kernel handles at most %d", a->dim,
                             DFRT_CUDA_ATTENTION_MAX_DIM);
    }
    return DFRT_OK;
}

/* The ops: each launcher (kernels.h) takes the args as they are, on the context's device. */
#define CUDA_OP(fn, OP)                                                      \
    static dfrt_status cuda_##fn(dfrt_backend *b, const dfrt_##fn##_args *a) { \
        DFRT_TRY(use_device(cu_of(b)));                                      \
        return dfrt_cuda_##fn(cu_of(b), a);                                  \
    }
DFRT_FOR_EACH_OP(CUDA_OP)
#undef CUDA_OP

static dfrt_status cuda_vendor_matmul(dfrt_backend *b, const dfrt_vendor_matmul_args *a, const char **library) {
    DFRT_TRY(use_device(cu_of(b)));
    return dfrt_cuda_vendor_matmul(cu_of(b), a, library);
}

static const char *cuda_matmul_kernel(dfrt_backend *b, dfrt_op op, const void *args) {
    return dfrt_cuda_matmul_kernel(cu_of(b), op, args);
}

/* A copy between two backends' buffers (devices, or logical devices on one): on the source's
 * stream once the destination's work so far is done (it may still read dst), and the
 * destination's later work waits for it. A peer copy over NVLink or PCIe where the devices
 * have peer access (enabled here on first use), else staged by the driver. */
static dfrt_status cuda_peer_copy(dfrt_backend *db, void *dst, size_t dst_offset, dfrt_backend *sb, void *src,
                                  size_t src_offset, size_t size) {
    dfrt_cuda_ctx *d = cu_of(db), *s = cu_of(sb);
    if (!d->handoff) {
        DFRT_TRY(use_device(d));
        DFRT_CUDA_TRY(cudaEventCreateWithFlags(&d->handoff, cudaEventDisableTiming));
    }
    if (!s->handoff) {
        DFRT_TRY(use_device(s));
        DFRT_CUDA_TRY(cudaEventCreateWithFlags(&s->handoff, cudaEventDisableTiming));
    }
    if (d->device != s->device && !(s->peers_enabled & (1ull << d->device))) {
        int can = 0;
        DFRT_TRY(use_device(s));
        if (cudaDeviceCanAccessPeer(&can, s->device, d->device) == cudaSuccess && can) {
            cudaError_t e = cudaDeviceEnablePeerAccess(d->device, 0);
            if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled)
                return dfrt_cuda_fail(e, "cudaDeviceEnablePeerAccess", __FILE__, __LINE__);
        }
        cudaGetLastError();
        s->peers_enabled |= 1ull << d->device;
    }
    DFRT_TRY(use_device(d));
    DFRT_CUDA_TRY(cudaEventRecord(d->handoff, d->stream));
    DFRT_TRY(use_device(s));
    DFRT_CUDA_TRY(cudaStreamWaitEvent(s->stream, d->handoff, 0));
    DFRT_CUDA_TRY(cudaMemcpyPeerAsync((uint8_t *)dst + dst_offset, d->device, (const uint8_t *)src + src_offset,
                                      s->device, size, s->stream));
    DFRT_CUDA_TRY(cudaEventRecord(s->handoff, s->stream));
    DFRT_TRY(use_device(d));
    DFRT_CUDA_TRY(cudaStreamWaitEvent(d->stream, s->handoff, 0));
    return DFRT_OK;
}

/* Tensor parallelism's communicator: NCCL (cuda_nccl.c). */
static dfrt_status cuda_comm_create(dfrt_backend *const *bs, int n, void **out, char *name, size_t name_size) {
    int devices[DFRT_MAX_DEVICES];
    for (int i = 0; i < n; i++) devices[i] = cu_of(bs[i])->device;
    return dfrt_cuda_nccl_create(devices, n, out, name, name_size);
}

static dfrt_status cuda_all_reduce(void *comm, dfrt_backend *const *bs, void *const *impls, size_t offset,
                                   uint64_t count) {
    dfrt_cuda_ctx *ctxs[DFRT_MAX_DEVICES];
    for (int i = 0; i < DFRT_MAX_DEVICES && bs[i]; i++) ctxs[i] = cu_of(bs[i]);
    return dfrt_cuda_nccl_all_reduce(comm, ctxs, impls, offset, count);
}

static dfrt_status cuda_synchronize(dfrt_backend *b) {
    DFRT_TRY(use_device(cu_of(b)));
    DFRT_CUDA_TRY(cudaStreamSynchronize(cu_of(b)->stream));
    if (cu_of(b)->copy_stream) DFRT_CUDA_TRY(cudaStreamSynchronize(cu_of(b)->copy_stream));
    return DFRT_OK;
}

static dfrt_status cuda_timer_begin(dfrt_backend *b) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    DFRT_CUDA_TRY(cudaEventRecord(c->timer_start, c->stream));
    return DFRT_OK;
}

static dfrt_status cuda_timer_end(dfrt_backend *b, double *out_ms) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    DFRT_CUDA_TRY(cudaEventRecord(c->timer_stop, c->stream));
    DFRT_CUDA_TRY(cudaEventSynchronize(c->timer_stop));
    float ms = 0;
    DFRT_CUDA_TRY(cudaEventElapsedTime(&ms, c->timer_start, c->timer_stop));
    *out_ms = ms;
    return DFRT_OK;
}

/* Recorded work: CUDA graphs, captured from the stream. A graph records the scratch's address,
 * so it runs only while the scratch has not moved. */
typedef struct cuda_graph {
    cudaGraphExec_t exec;
    uint64_t scratch_moves;
} cuda_graph;

static dfrt_status cuda_capture_begin(dfrt_backend *b) {
    DFRT_TRY(use_device(cu_of(b)));
    DFRT_CUDA_TRY(cudaStreamBeginCapture(cu_of(b)->stream, cudaStreamCaptureModeThreadLocal));
    return DFRT_OK;
}

static dfrt_status cuda_capture_end(dfrt_backend *b, bool keep, void **out) {
    dfrt_cuda_ctx *c = cu_of(b);
    *out = NULL;
    cudaGraph_t g = NULL;
    cudaSetDevice(c->device); /* the graph is instantiated on the current device */
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (!keep || e != cudaSuccess) {
        if (g) cudaGraphDestroy(g);
        if (e != cudaSuccess) return dfrt_cuda_fail(e, "cudaStreamEndCapture", __FILE__, __LINE__);
        return DFRT_OK;
    }
    cuda_graph *cg = dfrt_calloc(1, sizeof *cg, "a CUDA graph");
    if (!cg) {
        cudaGraphDestroy(g);
        return DFRT_OUT_OF_MEMORY;
    }
    e = cudaGraphInstantiate(&cg->exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        free(cg);
        return dfrt_cuda_fail(e, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    cg->scratch_moves = c->scratch_moves;
    *out = cg;
    return DFRT_OK;
}

static dfrt_status cuda_graph_launch(dfrt_backend *b, void *graph) {
    DFRT_TRY(use_device(cu_of(b)));
    dfrt_cuda_ctx *c = cu_of(b);
    cuda_graph *cg = graph;
    if (cg->scratch_moves != c->scratch_moves)
        return dfrt_fail(DFRT_UNSUPPORTED, "cuda: a recorded graph's scratch has moved since");
    DFRT_CUDA_TRY(cudaGraphLaunch(cg->exec, c->stream));
    return DFRT_OK;
}

static void cuda_graph_free(dfrt_backend *b, void *graph) {
    (void)b;
    cuda_graph *cg = graph;
    if (!cg) return;
    cudaGraphExecDestroy(cg->exec);
    free(cg);
}

static const dfrt_backend_vtable cuda_vtable = {
    DFRT_BACKEND_MEMBERS(cuda, "cuda", cuda_supports),
    .df11_layout = DFRT_DF11_LAYOUT_SEGMENTS, /* for the fused DF11 matmul (cuda/df11_segments.cuh) */
#define CUDA_OP_MEMBER(fn, OP) .fn = cuda_##fn,
    DFRT_FOR_EACH_OP(CUDA_OP_MEMBER)
#undef CUDA_OP_MEMBER
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .copy_async = cuda_copy_async,
    .peer_copy = cuda_peer_copy,
    .comm_create = cuda_comm_create,
    .comm_free = dfrt_cuda_nccl_free,
    .all_reduce = cuda_all_reduce,
    .copies_after_ops = cuda_copies_after_ops,
    .ops_after_copies = cuda_ops_after_copies,
    .vendor_matmul = cuda_vendor_matmul,
    .matmul_kernel = cuda_matmul_kernel,
    .capture_begin = cuda_capture_begin,
    .capture_end = cuda_capture_end,
    .graph_launch = cuda_graph_launch,
    .graph_free = cuda_graph_free,
};

static dfrt_status cuda_open_device(int index, dfrt_cuda_ctx *c, dfrt_device_info *info) {
    struct cudaDeviceProp p;
    DFRT_CUDA_TRY(cudaGetDeviceProperties(&p, index));
    describe(index, &p, info);
    if (!info->available)
        return dfrt_fail(DFRT_UNAVAILABLE, "cuda device %d (%s): %s", index, info->name, info->unavailable_reason);
    c->device = index;
    c->sm_count = p.multiProcessorCount > 0 ? p.multiProcessorCount : 1;
    c->compute_capability = p.major * 10 + p.minor;
    DFRT_CUDA_TRY(cudaSetDevice(index));
    DFRT_CUDA_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    DFRT_CUDA_TRY(cudaEventCreate(&c->timer_start));
    DFRT_CUDA_TRY(cudaEventCreate(&c->timer_stop));
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
    dfrt_cuda_ctx *c = dfrt_calloc(1, sizeof *c, "the CUDA backend");
    if (!c) return DFRT_OUT_OF_MEMORY;
    dfrt_device_info info;
    DFRT_TRY(dfrt_backend_finish_open(cuda_open_device(index, c, &info), &cuda_vtable, &info, c, out));
    c->owner = *out;
    return DFRT_OK;
}

const dfrt_backend_driver dfrt_cuda_driver = {
    .name = "cuda",
    .probe = cuda_probe,
    .open = cuda_open,
};
