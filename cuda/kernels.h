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

#ifdef __cplusplus
}
#endif

#endif
