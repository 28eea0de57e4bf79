/* Host stand-ins for the CUDA qualifiers and built-ins that cuda/df11_segments.cuh uses, with
 * the CUDA semantics, so that test_cuda_segments.cpp can run its device functions on the CPU
 * (one thread: threadIdx.x 0 of a block of 1). Include before the header. */
#ifndef DFRT_CUDA_HOST_H
#define DFRT_CUDA_HOST_H

#define DFRT_SEG_HOST 1

#include <algorithm>
#include <cstdint>
#include <cstring>

extern "C" {
#include "backend.h"
#include "dfrt.h"
}

#define __device__
#define __forceinline__ inline
#define __noinline__
#define __shared__
#define __align__(n) __attribute__((aligned(n)))

struct uint2 {
    uint32_t x, y;
};
struct uint4 {
    uint32_t x, y, z, w;
};
inline uint2 make_uint2(uint32_t x, uint32_t y) { return {x, y}; }
inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w) { return {x, y, z, w}; }

struct host_dim3 {
    unsigned x;
};
static const host_dim3 threadIdx = {0}, blockDim = {1};
inline void __syncthreads() {}

template <typename T> inline T __ldg(const T *p) { return *p; }
/* hi:lo shifted left by shift % 32, the high word */
inline uint32_t __funnelshift_l(uint32_t lo, uint32_t hi, uint32_t shift) {
    return (uint32_t)((((uint64_t)hi << 32 | lo) << (shift & 31)) >> 32);
}
/* 1 + the index of the lowest set bit, 0 for 0 */
inline int __ffs(uint32_t x) { return x ? __builtin_ctz(x) + 1 : 0; }
/* byte n of the result: byte (s >> 4n) % 8 of y:x */
inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s) {
    const uint64_t v = (uint64_t)y << 32 | x;
    uint32_t r = 0;
    for (int n = 0; n < 4; n++) r |= (uint32_t)(v >> (8 * ((s >> (4 * n)) & 7)) & 0xFF) << (8 * n);
    return r;
}
using std::min;

#endif
