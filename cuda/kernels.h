/* The CUDA kernels' launchers: plain C, called by the backend's host code
 * (backends/cuda/cuda_backend.c). Each op's launcher takes the op's dfrt_<op>_args (ops.h)
 * as the generic layer validated it and the backend accepted it (supports), resolves the
 * device pointers itself and enqueues its kernels on ctx->stream; one .cu file per op family. */
#ifndef DFRT_CUDA_KERNELS_H
#define DFRT_CUDA_KERNELS_H

#include "dfrt.h"

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend.h"

/* A CUDA backend's state (its dfrt_backend's impl): what the launchers need of the device. */
typedef struct dfrt_cuda_ctx {
    int device;
    int sm_count;           /* multiprocessors */
    int compute_capability; /* major * 10 + minor */
    cudaStream_t stream;    /* every op and copy is enqueued here, but the offloading copies */
    cudaEvent_t timer_start, timer_stop;
    void *scratch; /* device memory for matmul's BF16 copy of X, df11_matmul's decoded rows and
                      attention's split keys */
    size_t scratch_size;
    uint64_t scratch_moves; /* how often the scratch was allocated again: recorded graphs hold its address */
    dfrt_backend *owner; /* the backend whose allocated bytes the scratch counts in */
    struct cuda_cublas *cublas; /* cuBLAS, loaded for the bench's reference matmul (backends/cuda/cuda_cublas.c) */
    cudaStream_t copy_stream;   /* offloading's copies (copy_async; created on first use), ordered by two events */
    cudaEvent_t ops_done, copies_done;
    cudaEvent_t handoff;     /* a layer split's copies between devices (created on first use) */
    uint64_t peers_enabled;  /* devices whose memory this one was given peer access to */
} dfrt_cuda_ctx;

/* Provided by the backend (cuda_backend.c). dfrt_cuda_fail converts a failed CUDA call to a
 * status (out of memory, unavailable, or a device error) with the call's text, file and line;
 * dfrt_cuda_scratch grows ctx->scratch to at least `need` bytes (DFRT_OUT_OF_MEMORY naming
 * `what` when the device has too little). */
dfrt_status dfrt_cuda_fail(cudaError_t e, const char *call, const char *file, int line);
dfrt_status dfrt_cuda_scratch(dfrt_cuda_ctx *ctx, size_t need, const char *what);

#define DFRT_CUDA_TRY(call)                                                                        \
    do {                                                                                           \
        cudaError_t dfrt_cuda_try_ = (call);                                                       \
        if (dfrt_cuda_try_ != cudaSuccess) return dfrt_cuda_fail(dfrt_cuda_try_, #call, __FILE__, __LINE__); \
    } while (0)

/* Weights [a, b) of a unit in the segment layout into out (BF16): the standalone decode's and
 * the DF11 matmul's decoder (df11_decode.cu). */
dfrt_status dfrt_cuda_df11_decode_range(dfrt_cuda_ctx *ctx, const dfrt_device_df11 *unit, uint64_t a, uint64_t b,
                                        uint16_t *out);

/* The attention kernel keeps a head of up to this many values in registers (supports refuses
 * larger ones). */
#define DFRT_CUDA_ATTENTION_MAX_DIM 1024

/* The ops, one launcher each (in the family's .cu file). */
dfrt_status dfrt_cuda_df11_decode(dfrt_cuda_ctx *ctx, const dfrt_df11_decode_args *a); /* df11_decode.cu */
dfrt_status dfrt_cuda_matmul(dfrt_cuda_ctx *ctx, const dfrt_matmul_args *a);           /* matmul.cu */
dfrt_status dfrt_cuda_df11_matmul(dfrt_cuda_ctx *ctx, const dfrt_df11_matmul_args *a); /* df11_matmul.cu */
/* The kernel dfrt_cuda_matmul or dfrt_cuda_df11_matmul runs for args (dfrt_matmul_kernel). */
const char *dfrt_cuda_matmul_kernel(dfrt_cuda_ctx *ctx, dfrt_op op, const void *args); /* matmul.cu */
dfrt_status dfrt_cuda_embedding(dfrt_cuda_ctx *ctx, const dfrt_embedding_args *a);     /* embedding.cu */
dfrt_status dfrt_cuda_rmsnorm(dfrt_cuda_ctx *ctx, const dfrt_rmsnorm_args *a);         /* norm.cu */
dfrt_status dfrt_cuda_rope(dfrt_cuda_ctx *ctx, const dfrt_rope_args *a);               /* rope.cu */
dfrt_status dfrt_cuda_kv_store(dfrt_cuda_ctx *ctx, const dfrt_kv_store_args *a);       /* kv_cache.cu */
dfrt_status dfrt_cuda_attention(dfrt_cuda_ctx *ctx, const dfrt_attention_args *a);     /* attention.cu */
dfrt_status dfrt_cuda_silu_mul(dfrt_cuda_ctx *ctx, const dfrt_silu_mul_args *a);       /* elementwise.cu */
dfrt_status dfrt_cuda_add(dfrt_cuda_ctx *ctx, const dfrt_add_args *a);                 /* elementwise.cu */
dfrt_status dfrt_cuda_argmax(dfrt_cuda_ctx *ctx, const dfrt_argmax_args *a);           /* argmax.cu */

#ifdef __cplusplus
}
#endif

#endif
