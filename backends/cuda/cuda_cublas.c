/* cuBLAS through dlopen, for the bench's reference matmul (cuda_cublas.h). Only the toolkit's
 * header is used at build time, for the types and constants; nothing links libcublas. */
#include "cuda_cublas.h"

#include "base/internal.h"

#include <cublas_api.h>
#include "cuda_dl.h"

typedef struct cuda_cublas {
    void *so;
    cublasHandle_t handle;
    __typeof__(cublasCreate_v2) *create;
    __typeof__(cublasDestroy_v2) *destroy;
    __typeof__(cublasSetStream_v2) *set_stream;
    __typeof__(cublasGetVersion_v2) *get_version;
    __typeof__(cublasGemmEx) *gemm_ex;
    __typeof__(cublasGetStatusString) *status_string;
    char library[320]; /* "cuBLAS 13.0.2 (libcublas.so.13)" */
} cuda_cublas;

static dfrt_status cublas_fail(const cuda_cublas *l, cublasStatus_t s, const char *call) {
    return dfrt_fail(DFRT_DEVICE_ERROR, "cuda: %s failed: %s (status %d)", call,
                     l->status_string ? l->status_string(s) : "cuBLAS error", (int)s);
}

/* Frees a loaded or partly loaded state: its handle where one was made, the library, l. */
static void cublas_free(cuda_cublas *l) {
    if (l->handle) l->destroy(l->handle);
    dlclose(l->so);
    free(l);
}

/* Opens the first cuBLAS found; *tried lists the names that failed. */
static void *open_library(char *tried, size_t cap, const char **name) {
    char home[256];
    const char *cuda_home = getenv("CUDA_HOME");
    snprintf(home, sizeof home, "%s/lib64/libcublas.so", cuda_home && *cuda_home ? cuda_home : "/usr/local/cuda");
    const char *env = getenv("DFRT_CUBLAS");
    const char *names[] = {env && *env ? env : NULL, "libcublas.so.13", "libcublas.so.12", "libcublas.so", home};
    size_t used = 0;
    tried[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!names[i]) continue;
        void *so = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (so) {
            *name = names[i];
            return so;
        }
        int w = snprintf(tried + used, cap - used, "%s%s", used ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < cap - used) used += (size_t)w;
    }
    return NULL;
}

/* Loads cuBLAS and makes a handle on ctx's stream, once. */
static dfrt_status cublas_load(dfrt_cuda_ctx *ctx, cuda_cublas **out) {
    if (ctx->cublas) {
        *out = ctx->cublas;
        return DFRT_OK;
    }
    char tried[1024];
    const char *name = NULL;
    void *so = open_library(tried, sizeof tried, &name);
    if (!so)
        return dfrt_fail(DFRT_UNAVAILABLE, "cuda: cuBLAS not found (tried %s; set DFRT_CUBLAS to the file)", tried);
    cuda_cublas *l = dfrt_calloc(1, sizeof *l, "cuBLAS state");
    if (!l) {
        dlclose(so);
        return DFRT_OUT_OF_MEMORY;
    }
    l->so = so;
    const dfrt_dl_symbol syms[] = {
        {(void **)&l->create, "cublasCreate_v2"},        {(void **)&l->destroy, "cublasDestroy_v2"},
        {(void **)&l->set_stream, "cublasSetStream_v2"}, {(void **)&l->get_version, "cublasGetVersion_v2"},
        {(void **)&l->gemm_ex, "cublasGemmEx"},          {(void **)&l->status_string, "cublasGetStatusString"}};
    const char *missing = dfrt_dl_resolve(so, syms, sizeof syms / sizeof *syms);
    if (missing) {
        cublas_free(l);
        return dfrt_fail(DFRT_UNAVAILABLE, "cuda: %s has no %s", name, missing);
    }
    cublasStatus_t s = l->create(&l->handle);
    if (s == CUBLAS_STATUS_SUCCESS) s = l->set_stream(l->handle, ctx->stream);
    int version = 0;
    if (s == CUBLAS_STATUS_SUCCESS) s = l->get_version(l->handle, &version);
    if (s != CUBLAS_STATUS_SUCCESS) {
        dfrt_status st = cublas_fail(l, s, "cublasCreate/SetStream/GetVersion");
        cublas_free(l);
        return st;
    }
    snprintf(l->library, sizeof l->library, "cuBLAS %d.%d.%d (%s)", version / 10000, version / 100 % 100,
             version % 100, name);
    ctx->cublas = l;
    *out = l;
    return DFRT_OK;
}

dfrt_status dfrt_cuda_vendor_matmul(dfrt_cuda_ctx *ctx, const dfrt_vendor_matmul_args *a, const char **library) {
    cuda_cublas *l;
    DFRT_TRY(cublas_load(ctx, &l));
    *library = l->library;
    /* Row-major Y (M, N) = X (M, K) . W (N, K)^T, in cuBLAS's column-major terms: C = Y seen
     * as N x M (ld N) = A^T . B, with A = W seen as K x N (ld K) and B = X seen as K x M (ld K). */
    const float one = 1.f, zero = 0.f;
    const int m = (int)a->m, n = (int)a->n, k = (int)a->k;
    const char *x = (const char *)a->x.buf->impl + a->x.offset, *w = (const char *)a->w.buf->impl + a->w.offset;
    char *y = (char *)a->y.buf->impl + a->y.offset;
    cublasStatus_t s = l->gemm_ex(l->handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w, CUDA_R_16BF, k, x, CUDA_R_16BF,
                                  k, &zero, y, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return s == CUBLAS_STATUS_SUCCESS ? DFRT_OK : cublas_fail(l, s, "cublasGemmEx");
}

void dfrt_cuda_cublas_release(dfrt_cuda_ctx *ctx) {
    cuda_cublas *l = ctx ? ctx->cublas : NULL;
    if (!l) return;
    cublas_free(l);
    ctx->cublas = NULL;
}
