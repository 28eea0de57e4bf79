/* NCCL through dlopen, for tensor parallelism's all-reduce (the vtable's comm_create,
 * comm_free, all_reduce). dfrt neither links nor needs NCCL: without it, or for the same
 * device twice (logical devices, which NCCL refuses), dfrt_comm sums through host memory. The
 * few declarations below are NCCL's stable C ABI (nccl.h since 2.x), so no NCCL header is
 * needed at build time either. */
#include "cuda_nccl.h"

#include "base/internal.h"

#include "cuda_dl.h"

typedef struct nccl_comm_s *ncclComm_t;
typedef int ncclResult_t;         /* ncclSuccess = 0 */
enum { NCCL_FLOAT32 = 7, NCCL_SUM = 0 }; /* ncclFloat32, ncclSum */

typedef struct cuda_nccl {
    void *so;
    int n;
    ncclComm_t comms[DFRT_MAX_DEVICES];
    ncclResult_t (*comm_init_all)(ncclComm_t *comms, int n, const int *devices);
    ncclResult_t (*comm_destroy)(ncclComm_t comm);
    ncclResult_t (*all_reduce)(const void *send, void *recv, size_t count, int type, int op, ncclComm_t comm,
                               cudaStream_t stream);
    ncclResult_t (*group_start)(void);
    ncclResult_t (*group_end)(void);
    const char *(*error_string)(ncclResult_t r);
    ncclResult_t (*get_version)(int *version);
} cuda_nccl;

static dfrt_status nccl_fail(const cuda_nccl *l, ncclResult_t r, const char *call) {
    return dfrt_fail(DFRT_DEVICE_ERROR, "cuda: %s failed: %s (NCCL result %d)", call,
                     l->error_string ? l->error_string(r) : "NCCL error", r);
}

void dfrt_cuda_nccl_free(void *comm) {
    cuda_nccl *l = comm;
    if (!l) return;
    for (int i = 0; i < l->n; i++)
        if (l->comms[i]) l->comm_destroy(l->comms[i]);
    dlclose(l->so);
    free(l);
}

dfrt_status dfrt_cuda_nccl_create(const int *devices, int n, void **out, char *name, size_t name_size) {
    *out = NULL;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (devices[i] == devices[j])
                return dfrt_fail(DFRT_UNSUPPORTED, "NCCL takes each GPU once, and device %d is given twice", devices[i]);
    const char *env = getenv("DFRT_NCCL");
    const char *file = env && *env ? env : "libnccl.so.2";
    void *so = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!so) return dfrt_fail(DFRT_UNSUPPORTED, "NCCL is not installed (%s does not load; DFRT_NCCL may name it)", file);
    cuda_nccl *l = dfrt_calloc(1, sizeof *l, "NCCL");
    if (!l) {
        dlclose(so);
        return DFRT_OUT_OF_MEMORY;
    }
    l->so = so;
    const dfrt_dl_symbol syms[] = {
        {(void **)&l->comm_init_all, "ncclCommInitAll"}, {(void **)&l->comm_destroy, "ncclCommDestroy"},
        {(void **)&l->all_reduce, "ncclAllReduce"},      {(void **)&l->group_start, "ncclGroupStart"},
        {(void **)&l->group_end, "ncclGroupEnd"},        {(void **)&l->error_string, "ncclGetErrorString"},
        {(void **)&l->get_version, "ncclGetVersion"},
    };
    const char *missing = dfrt_dl_resolve(so, syms, sizeof syms / sizeof *syms);
    if (missing) {
        dfrt_cuda_nccl_free(l);
        return dfrt_fail(DFRT_UNSUPPORTED, "%s lacks %s", file, missing);
    }
    /* NVLink multicast (NVLS) off unless the user says otherwise: the machines dfrt is run on
     * may not allow it, and an all-reduce of one activation row gains nothing from it */
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    ncclResult_t r = l->comm_init_all(l->comms, n, devices);
    if (r != 0) {
        dfrt_status s = nccl_fail(l, r, "ncclCommInitAll");
        memset(l->comms, 0, sizeof l->comms);
        dfrt_cuda_nccl_free(l);
        return s;
    }
    l->n = n;
    int v = 0;
    l->get_version(&v);
    /* NCCL 2.9+: 10000 major + 100 minor + patch */
    snprintf(name, name_size, "NCCL %d.%d.%d (%s)", v / 10000, v / 100 % 100, v % 100, file);
    *out = l;
    return DFRT_OK;
}

dfrt_status dfrt_cuda_nccl_all_reduce(void *comm, dfrt_cuda_ctx *const *ctxs, void *const *bufs, size_t offset,
                                      uint64_t count) {
    cuda_nccl *l = comm;
    ncclResult_t r = l->group_start();
    if (r != 0) return nccl_fail(l, r, "ncclGroupStart");
    dfrt_status s = DFRT_OK;
    for (int i = 0; i < l->n && s == DFRT_OK; i++) {
        float *p = (float *)((uint8_t *)bufs[i] + offset);
        r = l->all_reduce(p, p, (size_t)count, NCCL_FLOAT32, NCCL_SUM, l->comms[i], ctxs[i]->stream);
        if (r != 0) s = nccl_fail(l, r, "ncclAllReduce");
    }
    r = l->group_end(); /* always closes the group */
    if (s == DFRT_OK && r != 0) s = nccl_fail(l, r, "ncclGroupEnd");
    return s;
}
