/* The CUDA kernels' launchers: plain C, callable from the backend's host code. Each returns a
 * cudaError_t (cudaSuccess when the launch was accepted). Pointers are device pointers. */
#ifndef DFRT_CUDA_KERNELS_H
#define DFRT_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DF11 decode of chunks [first_chunk, first_chunk + n_chunks) of a unit. out receives weight
 * positions[first_chunk] at out[0]. max_chunk_weights bounds the shared staging. */
typedef struct dfrt_cuda_decode {
    const uint8_t *luts;       /* (n_tables + 1) * 256 */
    const uint8_t *stream;     /* n_bytes, buffer padded to 16 bytes */
    const uint8_t *sign_mantissa;
    const uint32_t *positions; /* n_chunks + 1 */
    const uint8_t *gaps;
    uint16_t *out;
    uint64_t n_bytes;
    uint32_t first_chunk, n_chunks;
    uint32_t n_tables;
    uint32_t max_chunk_weights;
} dfrt_cuda_decode;

cudaError_t dfrt_cuda_df11_decode(const dfrt_cuda_decode *p, cudaStream_t stream);

/* Y[M,N] = X[M,K] . W[N,K]^T (+ bias). x, y, bias fp32; w BF16 (uint16). For M > 8 the
 * tensor-core path converts X to BF16 in `scratch` (at least M * round_up(K, 8) * 2 bytes,
 * see dfrt_cuda_matmul_scratch_bytes). */
typedef struct dfrt_cuda_matmul {
    const float *x;
    const uint16_t *w;
    const float *bias; /* NULL: none */
    float *y;
    int m, n, k;
    void *scratch;
} dfrt_cuda_matmul;

size_t dfrt_cuda_matmul_scratch_bytes(int m, int k);
cudaError_t dfrt_cuda_matmul_run(const dfrt_cuda_matmul *p, cudaStream_t stream);

/* ---- transformer ops (nn.cu) ------------------------------------------------------------------
 * fp32 activations, layouts as in dfrt.h; strides and offsets in elements. Row indices read from
 * device memory (offsets, slots, positions) are range-checked in the kernels. Each launcher
 * enqueues one kernel (attention: two when it splits the keys across blocks). */

/* out[r, 0..dim) = fp32(table[offsets[r] + 0..dim)); a row past table_elems gives zeros. */
typedef struct dfrt_cuda_embedding {
    float *out;              /* (rows, dim) */
    const uint16_t *table;   /* BF16, table_elems */
    const uint32_t *offsets; /* (rows) */
    uint64_t table_elems;
    uint32_t rows, dim;
} dfrt_cuda_embedding;

cudaError_t dfrt_cuda_embedding_run(const dfrt_cuda_embedding *p, cudaStream_t stream);

/* RMSNorm of each (row, head) vector x[r * row_stride + h * dim + 0..dim); y may be x. */
typedef struct dfrt_cuda_rmsnorm {
    float *y;
    const float *x;
    const float *w; /* (dim) */
    uint32_t rows, heads, dim, row_stride;
    float eps;
} dfrt_cuda_rmsnorm;

cudaError_t dfrt_cuda_rmsnorm_run(const dfrt_cuda_rmsnorm *p, cudaStream_t stream);

/* Rotate-half rotary embedding in place; dim even. */
typedef struct dfrt_cuda_rope {
    float *x;
    const int32_t *positions; /* (rows) */
    const float *inv_freq;    /* (dim / 2) */
    uint32_t rows, heads, dim, row_stride;
} dfrt_cuda_rope;

cudaError_t dfrt_cuda_rope_run(const dfrt_cuda_rope *p, cudaStream_t stream);

/* K and V rows of src into caches of (n_slots, max_ctx, width) at (slots[r], positions[r]). */
typedef struct dfrt_cuda_kv_store {
    float *k_cache, *v_cache;
    const float *src; /* rows of src_stride: K at k_col, V at v_col */
    const int32_t *slots, *positions;
    uint32_t rows, width, src_stride, k_col, v_col, n_slots, max_ctx;
} dfrt_cuda_kv_store;

cudaError_t dfrt_cuda_kv_store_run(const dfrt_cuda_kv_store *p, cudaStream_t stream);

/* Causal GQA attention over the KV caches. When there are too few (row, KV head) pairs to fill
 * the GPU the keys are split across blocks, whose partial results go to `scratch` (at least
 * dfrt_cuda_attention_scratch_bytes bytes; with less, or NULL, the keys are not split). */
typedef struct dfrt_cuda_attention {
    float *out;                /* rows of out_stride, head h at h * dim */
    const float *q;            /* rows of q_stride, head h at h * dim */
    const float *k_cache, *v_cache; /* (n_slots, max_ctx, n_kv * dim) */
    const int32_t *slots, *positions;
    void *scratch;
    size_t scratch_bytes;
    uint32_t rows, n_heads, n_kv, dim, q_stride, out_stride, n_slots, max_ctx;
    float scale;
} dfrt_cuda_attention;

size_t dfrt_cuda_attention_scratch_bytes(const dfrt_cuda_attention *p);
cudaError_t dfrt_cuda_attention_run(const dfrt_cuda_attention *p, cudaStream_t stream);

/* out[r, i] = silu(in[r * in_stride + i]) * in[r * in_stride + up_col + i], out (rows, width). */
typedef struct dfrt_cuda_silu_mul {
    float *out;
    const float *in;
    uint32_t rows, width, in_stride, up_col;
} dfrt_cuda_silu_mul;

cudaError_t dfrt_cuda_silu_mul_run(const dfrt_cuda_silu_mul *p, cudaStream_t stream);

/* y = a + b over n values; y may be a or b. */
typedef struct dfrt_cuda_add {
    float *y;
    const float *a, *b;
    uint64_t n;
} dfrt_cuda_add;

cudaError_t dfrt_cuda_add_run(const dfrt_cuda_add *p, cudaStream_t stream);

/* out[r] = first index of the largest of x[r * stride + 0..n) (NaN never wins; 0 when none). */
typedef struct dfrt_cuda_argmax {
    int32_t *out;
    const float *x;
    uint32_t rows, n, stride;
} dfrt_cuda_argmax;

cudaError_t dfrt_cuda_argmax_run(const dfrt_cuda_argmax *p, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
