/* The CPU backend's pieces, shared between its files. */
#ifndef DFRT_CPU_INTERNAL_H
#define DFRT_CPU_INTERNAL_H

#include "backend.h"
#include "base/internal.h"

int cpu_threads(const dfrt_backend *b);

dfrt_status cpu_embedding(dfrt_backend *b, const dfrt_embedding_args *a);
dfrt_status cpu_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a);
dfrt_status cpu_rope(dfrt_backend *b, const dfrt_rope_args *a);
dfrt_status cpu_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a);
dfrt_status cpu_attention(dfrt_backend *b, const dfrt_attention_args *a);
dfrt_status cpu_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a);
dfrt_status cpu_add(dfrt_backend *b, const dfrt_add_args *a);
dfrt_status cpu_argmax(dfrt_backend *b, const dfrt_argmax_args *a);

#endif
