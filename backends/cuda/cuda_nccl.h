/* NCCL, loaded at run time, for dfrt_comm on CUDA (cuda_nccl.c). Not installed. */
#ifndef DFRT_CUDA_NCCL_H
#define DFRT_CUDA_NCCL_H

#include "backend.h"
#include "kernels.h"

/* A communicator over the given distinct devices (ncclCommInitAll); DFRT_UNSUPPORTED, with the
 * reason, where NCCL does not load or a device repeats. name gets "NCCL x.y.z (file)". */
dfrt_status dfrt_cuda_nccl_create(const int *devices, int n, void **out_comm, char *name, size_t name_size);
void dfrt_cuda_nccl_free(void *comm);
/* In-place fp32 sum of count values at offset in each device's buffer, on each one's stream. */
dfrt_status dfrt_cuda_nccl_all_reduce(void *comm, dfrt_cuda_ctx *const *ctxs, void *const *bufs, size_t offset,
                                      uint64_t count);

#endif
