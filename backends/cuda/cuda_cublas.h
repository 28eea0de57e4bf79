/* cuBLAS for the bench's reference matmul (dfrt_vendor_matmul), loaded at run time, so that
 * the binary neither links nor needs it. Not installed. */
#ifndef DFRT_CUDA_CUBLAS_H
#define DFRT_CUDA_CUBLAS_H

#include "backend.h"
#include "kernels.h"

/* The vtable's vendor_matmul: loads cuBLAS on first use (DFRT_CUBLAS, a file, first; then
 * libcublas.so.13, .so.12 and .so through the loader's path, then the CUDA Toolkit's lib64
 * under CUDA_HOME or /usr/local/cuda), makes a handle on ctx's stream, and runs cublasGemmEx
 * (BF16 in, fp32 out and accumulation). */
dfrt_status dfrt_cuda_vendor_matmul(dfrt_cuda_ctx *ctx, const dfrt_vendor_matmul_args *a, const char **library);

/* Releases what dfrt_cuda_vendor_matmul loaded (ctx->cublas); NULL-safe. */
void dfrt_cuda_cublas_release(dfrt_cuda_ctx *ctx);

#endif
