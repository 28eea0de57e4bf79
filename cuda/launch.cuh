// Launch helpers shared by the CUDA kernel files.
#ifndef DFRT_CUDA_LAUNCH_CUH
#define DFRT_CUDA_LAUNCH_CUH

#include <cuda_runtime.h>

// Raises a kernel's dynamic shared memory limit once per device (a harmless race); `done` has
// a bit per device.
template <typename Kernel> cudaError_t allow_shared(Kernel kernel, int bytes, unsigned long long &done) {
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    unsigned long long bit = dev < 64 ? 1ull << dev : 0;
    if (done & bit) return cudaSuccess;
    e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e == cudaSuccess) done |= bit;
    return e;
}

#endif
