/* The CPU backend's pieces, shared between its files: cpu_backend.c (buffers, timers, the
 * vtable and the driver) and one file per op family, the same families as cuda/ and
 * backends/vulkan/: cpu_op_{df11_decode, matmul, df11_matmul, embedding, norm, rope, kv_cache,
 * attention, elementwise, argmax}.c. Ops run when enqueued, on the calling thread or the
 * backend's threads (dfrt_parallel_for). */
#ifndef DFRT_CPU_INTERNAL_H
#define DFRT_CPU_INTERNAL_H

#include "backend.h"
#include "base/dtype.h"
#include "base/internal.h"

/* The threads the backend's parallel ops use. */
int cpu_threads(const dfrt_backend *b);

/* A tensor argument's address in host memory (a CPU buffer's impl is its host pointer). */
#define CPU_PTR(arg) ((void *)((uint8_t *)(arg).buf->impl + (arg).offset))
#define F32(arg) ((float *)CPU_PTR(arg))
#define CF32(arg) ((const float *)CPU_PTR(arg))
#define CI32(arg) ((const int32_t *)CPU_PTR(arg))
/* Row r of a float tensor argument whose rows are `stride` values apart. */
#define CPU_ROW(arg, r, stride) (CF32(arg) + (size_t)(r) * (stride))

/* The dot product of matmul and df11_matmul, one definition so that both give the same bits:
 * 8 partial sums over the multiple of 8, combined pairwise, then the remainder in order. */
static inline float cpu_dot(const float *a, const float *b, int64_t k) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < k; i++) s += a[i] * b[i];
    return s;
}

/* matmul and df11_matmul convert this many rows of W to fp32 at a time and run every row of X
 * over them (cpu_matmul_block). */
#define CPU_MATMUL_BLOCK_ROWS 16

/* y[i, r] = cpu_dot(x[i], W[r]) (+ bias[r]) for every row i < m of x and r in [r0, r1), with W[r]
 * the fp32 row at w + (r - r0) k: the arithmetic of matmul and df11_matmul, shared so that both
 * give the same bits. x (m, k), y (m, n), bias (n) or NULL. */
static inline void cpu_matmul_block(const float *x, const float *w, const float *bias, float *y, int64_t m, int64_t n,
                                    int64_t k, int64_t r0, int64_t r1) {
    for (int64_t i = 0; i < m; i++) {
        const float *xr = x + (size_t)i * (size_t)k;
        for (int64_t r = r0; r < r1; r++) {
            float v = cpu_dot(xr, w + (size_t)(r - r0) * (size_t)k, k);
            y[(size_t)i * (size_t)n + (size_t)r] = bias ? v + bias[r] : v;
        }
    }
}

/* A host view of a device DF11 unit over the CPU buffers holding it (validated before upload). */
void cpu_df11_view(const dfrt_device_df11 *d, dfrt_df11_unit *out);

dfrt_status cpu_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a);
dfrt_status cpu_matmul(dfrt_backend *b, const dfrt_matmul_args *a);
dfrt_status cpu_df11_matmul(dfrt_backend *b, const dfrt_df11_matmul_args *a);
dfrt_status cpu_embedding(dfrt_backend *b, const dfrt_embedding_args *a);
dfrt_status cpu_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a);
dfrt_status cpu_rope(dfrt_backend *b, const dfrt_rope_args *a);
dfrt_status cpu_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a);
dfrt_status cpu_attention(dfrt_backend *b, const dfrt_attention_args *a);
dfrt_status cpu_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a);
dfrt_status cpu_add(dfrt_backend *b, const dfrt_add_args *a);
dfrt_status cpu_argmax(dfrt_backend *b, const dfrt_argmax_args *a);

#endif
