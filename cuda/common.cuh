// What the CUDA kernel files share: the launchers' plumbing (device pointers from {buffer,
// offset} arguments, grid sizes, launch status, the shared memory opt-in) and small device
// helpers (BF16 -> fp32, warp reductions, shared-memory addresses). Included by every .cu.
#ifndef DFRT_CUDA_COMMON_CUH
#define DFRT_CUDA_COMMON_CUH

#include "kernels.h"

#include <cuda_runtime.h>

namespace {

// ---- host: launchers --------------------------------------------------------------------------

constexpr int kThreads = 256;             // threads per block of the memory-bound kernels
constexpr uint64_t kMaxBlocks = 1u << 20; // grid-stride loops take over beyond this
constexpr int kChunk = kThreads * 4;      // columns per block in the row-chunked kernels

// The device address of a tensor argument (ops.h): the buffer's device pointer plus the byte
// offset; nullptr for an absent optional tensor.
template <typename T> inline T *dev(const dfrt_tensor_arg &t) {
    return t.buf ? reinterpret_cast<T *>(static_cast<char *>(t.buf->impl) + t.offset) : nullptr;
}

inline unsigned blocks_for(uint64_t items) {
    return (unsigned)(items == 0 ? 1 : items < kMaxBlocks ? items : kMaxBlocks);
}

inline bool aligned(const void *p, uintptr_t bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0; }

// DFRT_OK, or the status and message of a failed launch (`what`: the op).
#define DFRT_CUDA_LAUNCHED(what) dfrt_cuda_check(cudaGetLastError(), what, __FILE__, __LINE__)
inline dfrt_status dfrt_cuda_check(cudaError_t e, const char *what, const char *file, int line) {
    return e == cudaSuccess ? DFRT_OK : dfrt_cuda_fail(e, what, file, line);
}

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

// The grid of a kernel whose blocks loop over their work: `need` blocks, but at most one wave
// of resident ones (no second, partial wave). per_sm is the caller's: 0 at first, then the
// occupancy, asked once.
template <typename Kernel>
cudaError_t one_wave(Kernel kernel, int threads, int shared, int sm_count, int &per_sm, uint64_t need, unsigned &grid) {
    if (!per_sm) {
        cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, shared);
        if (e != cudaSuccess) return e;
    }
    const uint64_t most = (uint64_t)sm_count * (uint64_t)(per_sm > 0 ? per_sm : 1);
    grid = (unsigned)(need < most ? need : most);
    return cudaSuccess;
}

// ---- device -----------------------------------------------------------------------------------

// The BF16 values in the low and high halves of a 32-bit word, as fp32 (exact).
__device__ __forceinline__ float bf16_lo(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t v) { return __uint_as_float(v & 0xFFFF0000u); }

// fp32 to BF16 bits, rounded to nearest even; a NaN stays a quiet NaN. The same bits as the
// host's dfrt_f32_to_bf16 (runtime/base/dtype.h) and the shaders' f32_to_bf16 (common.glsl).
__device__ __forceinline__ uint32_t f32_to_bf16(float f) {
    const uint32_t u = __float_as_uint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u >> 16) | 0x40u;
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, d);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, d));
    return v;
}

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

// ---- cp.async, ldmatrix and mma.sync (sm_80 and later): the GEMMs and the tiled attention ----

// 16 bytes from global to shared memory, of which the first src_bytes (0 or 16) are read and
// the rest zero-filled.
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem_addr(p)));
}
// The same, each 8x8 matrix transposed.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem_addr(p)));
}

// d += a . b: a 16x16 BF16 (row), b 16x8 BF16 (col), d 16x8 fp32.
__device__ __forceinline__ void mma_bf16(float *d, const uint32_t *a, const uint32_t *b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

} // namespace

#endif
