/* The CPU backend's pieces, shared between its files: cpu_backend.c (buffers, timers, the
 * vtable and the driver) and one file per op family, the same families as cuda/ and
 * backends/vulkan/: cpu_op_{df11_decode, matmul, embedding, norm, rope, kv_cache, attention,
 * elementwise, argmax}.c. Ops run when enqueued, on the calling thread or the backend's
 * threads (dfrt_parallel_for). */
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

dfrt_status cpu_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a);
dfrt_status cpu_matmul(dfrt_backend *b, const dfrt_matmul_args *a);
dfrt_status cpu_embedding(dfrt_backend *b, const dfrt_embedding_args *a);
dfrt_status cpu_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a);
dfrt_status cpu_rope(dfrt_backend *b, const dfrt_rope_args *a);
dfrt_status cpu_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a);
dfrt_status cpu_attention(dfrt_backend *b, const dfrt_attention_args *a);
dfrt_status cpu_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a);
dfrt_status cpu_add(dfrt_backend *b, const dfrt_add_args *a);
dfrt_status cpu_argmax(dfrt_backend *b, const dfrt_argmax_args *a);

#endif
