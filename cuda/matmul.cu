// Y[M,N] = X[M,K] . W[N,K]^T (+ bias) on CUDA. X, Y fp32; W BF16 row-major; fp32 accumulation.
// W comes from memory (matmul) or from a DF11 unit in the segment layout (df11_matmul).
//
// M <= 2: GEMV kernels that stream W once at memory bandwidth (16-byte loads of W, fp32 X and
//         FMAs); also M <= 8 where the tensor-core GEMV is not available (before sm_80, or W
//         not 16-byte aligned), with 8-byte loads and X staged in shared memory.
// 3 <= M <= 16 (sm_80 and later, W aligned): X converted to BF16, then the tensor-core GEMV
//         (gemv_tc: rows of W as mma.sync's A, X as B, K split over a block's warps), which
//         reads W once whatever M, at about the time M = 1 takes.
// M > 16: X converted to BF16, then a tensor-core GEMM (mma.sync m16n8k16, BF16 in, fp32
//         accumulate) with 128x128x32 block tiles, a 3-stage cp.async pipeline and ldmatrix;
//         on Hopper the wgmma GEMM, with K split over several blocks where its tiles would
//         leave SMs idle (gemm_split), their partial sums added in a fixed order.
// Every load and store is bounds-checked, so any M, N, K works.
//
// df11_matmul, K % 64 == 0, rows starting on a segment: GEMV kernels that decode each row's
//         segments into shared memory and multiply in exactly the BF16 kernel's order, so
//         their bits equal matmul's over the decoded weights: df11_gemv (gemv_vec's order: lane
//         l takes the vectors l, l + 32, ... of a row, dot8 or dot4 each, then the same
//         butterfly) for M <= 2, and M <= 8 where gemv_tc is not used; df11_gemv_tc (gemv_tc's
//         tiles, K split and mma order) for 3 <= M <= 16.
// df11_matmul otherwise: rows of W decoded a piece at a time (at most kPieceWeights) into
//         scratch, each piece multiplied by the kernels matmul uses, with X converted to BF16
//         once.
#include "df11_segments.cuh"

#include <cuda_bf16.h>

namespace {

// The launch's parameters, device pointers resolved. For M > 8 the tensor-core path converts
// X to BF16 in the backend's scratch (M * round_up(K, 8) * 2 bytes).
struct MatmulArgs {
    const float *x;
    const uint16_t *w;
    const float *bias; // nullptr: none
    float *y;          // rows of ldy
    int m, n, k, ldy;
};

// ---- GEMV -------------------------------------------------------------------------------------

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvXTileBytes = 48 * 1024;

// The GEMVs' accumulation steps, shared by the BF16 and the DF11 weight loaders so that both
// give the same bits: s + x[0] w[0] + x[1] w[1] + ..., one fma at a time, for 8 or 4 BF16
// weights as words of two (the first in the low half) and their X values as float4s.
__device__ __forceinline__ float dot4(float s, float4 a, uint2 w) {
    s = fmaf(a.x, bf16_lo(w.x), s);
    s = fmaf(a.y, bf16_hi(w.x), s);
    s = fmaf(a.z, bf16_lo(w.y), s);
    return fmaf(a.w, bf16_hi(w.y), s);
}
__device__ __forceinline__ float dot8(float s, float4 a, float4 b, uint4 w) {
    return dot4(dot4(s, a, make_uint2(w.x, w.y)), b, make_uint2(w.z, w.w));
}

// The GEMVs' vectors: lane l takes the vectors l, l + 32, ... of a row, of 8 weights (one
// 16-byte load of W) for M <= 2, of 4 (8 bytes) for larger M. A 4-weight vector's X is one
// 16-byte load per row of X, free of bank conflicts (8 weights: two, where lanes l and l + 4
// share banks); for the DF11 GEMV, which reads X through L1, a warp's load is 512 contiguous
// bytes (4 cache lines) instead of 512 bytes spread over 1 KB (8 lines). Measured on the H200
// (llama-3.1-8b layer): the DF11 GEMV at M = 8 took 517 us with 4-weight vectors against 697;
// the BF16 one at M = 1 took 156 us against 147 with them, hence 8-weight vectors for M <= 2.
template <int M> constexpr int kGemvVec = M <= 2 ? 8 : 4;

// The GEMVs' end for ROWS rows from row0: each sum of the warp's lanes by the same butterfly,
// plus the bias, stored by lane 0 for the rows below n. Shared, as dot8 and dot4 are.
template <int ROWS, int M>
__device__ __forceinline__ void gemv_store(float (&acc)[ROWS][M], int lane, float *y, int ldy, const float *bias,
                                           int row0, int n) {
#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int m = 0; m < M; m++) acc[r][m] = warp_sum(acc[r][m]);
    if (lane == 0)
#pragma unroll
        for (int r = 0; r < ROWS; r++)
            if (row0 + r < n)
#pragma unroll
                for (int m = 0; m < M; m++) y[(size_t)m * ldy + row0 + r] = acc[r][m] + (bias ? bias[row0 + r] : 0.f);
}

// 16 bytes of W that L1 does not keep (X, read through L1 beside them, stays there).
__device__ __forceinline__ uint4 ldg_stream(const uint4 *p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}

// Rows of W start on 16-byte boundaries (K % 8 == 0, W aligned). Each warp takes R rows
// (launch_gemv_vec_u). Vectors of kGemvVec<M> weights, U of 4 weights per lane and step
// (launch_gemv_vec); X staged in shared memory a K-tile at a time (k_tile: whole 256-column
// rounds, so that every lane keeps its vectors across tiles), or (XG: M <= 2, X 16-byte
// aligned; k_tile = K) read from global memory through L1, which keeps blocks free of shared
// memory and barriers: more of them per SM, more weights in flight.
template <int M, int U, int R, bool XG>
__global__ void __launch_bounds__(kGemvThreads) gemv_vec(const float *__restrict__ x, const uint16_t *__restrict__ w,
                                                        const float *__restrict__ bias, float *__restrict__ y, int n,
                                                        int k, int k_tile, int ldy) {
    constexpr int VW = kGemvVec<M>;
    static_assert(!XG || VW == 8, "X from global memory with 8-weight vectors");
    extern __shared__ __align__(16) float s_x[]; // M x k_tile
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row0 = (blockIdx.x * kGemvWarps + warp) * R;
    float acc[R][M];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int m = 0; m < M; m++) acc[r][m] = 0.f;
    const size_t row_vecs = (size_t)k / VW;
    for (int k0 = 0; k0 < k; k0 += k_tile) {
        const int kt = min(k_tile, k - k0);
        if constexpr (!XG) {
            __syncthreads();
            for (int i = threadIdx.x; i < M * kt; i += kGemvThreads) {
                int m = i / kt, j = i - m * kt;
                s_x[m * k_tile + j] = x[(size_t)m * k + k0 + j];
            }
            __syncthreads();
        }
        const int kv = kt / VW;
        if constexpr (VW == 8) {
            // Software-pipelined: the next vectors of W are in flight while these are used.
            const uint4 *wk = reinterpret_cast<const uint4 *>(w) + k0 / 8;
            auto load = [&](int r, int v) {
                if (v >= kv || row0 + r >= n) return make_uint4(0, 0, 0, 0);
                const uint4 *p = wk + (size_t)(row0 + r) * row_vecs + v;
                return XG ? ldg_stream(p) : __ldg(p);
            };
            uint4 q[R], qn[R];
#pragma unroll
            for (int r = 0; r < R; r++) q[r] = load(r, lane);
            for (int j = lane; j < kv; j += 32) {
#pragma unroll
                for (int r = 0; r < R; r++) qn[r] = load(r, j + 32);
#pragma unroll
                for (int m = 0; m < M; m++) {
                    float4 a, b;
                    if constexpr (XG) {
                        const float4 *xm = reinterpret_cast<const float4 *>(x + (size_t)m * k);
                        a = __ldg(xm + 2 * j);
                        b = __ldg(xm + 2 * j + 1);
                    } else {
                        a = reinterpret_cast<const float4 *>(s_x + m * k_tile)[2 * j];
                        b = reinterpret_cast<const float4 *>(s_x + m * k_tile)[2 * j + 1];
                    }
#pragma unroll
                    for (int r = 0; r < R; r++) acc[r][m] = dot8(acc[r][m], a, b, q[r]);
                }
#pragma unroll
                for (int r = 0; r < R; r++) q[r] = qn[r];
            }
        } else {
            // U vectors per lane and step (j, j + 32, ...), software-pipelined: the next step's
            // are in flight while these are used (the 8-byte loads need the depth); then the
            // lane's last few vectors one at a time.
            const uint2 *wk = reinterpret_cast<const uint2 *>(w) + k0 / 4;
            auto load = [&](int r, int v) {
                return v < kv && row0 + r < n ? __ldg(wk + (size_t)(row0 + r) * row_vecs + v) : make_uint2(0, 0);
            };
            uint2 q[R][U], qn[R][U];
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int u = 0; u < U; u++) q[r][u] = load(r, lane + 32 * u);
            int j = lane;
            for (; j + 32 * (U - 1) < kv; j += 32 * U) {
#pragma unroll
                for (int r = 0; r < R; r++)
#pragma unroll
                    for (int u = 0; u < U; u++) qn[r][u] = load(r, j + 32 * (U + u));
#pragma unroll
                for (int m = 0; m < M; m++) {
                    const float4 *xm = reinterpret_cast<const float4 *>(s_x + m * k_tile);
#pragma unroll
                    for (int u = 0; u < U; u++) {
                        const float4 a = xm[j + 32 * u];
#pragma unroll
                        for (int r = 0; r < R; r++) acc[r][m] = dot4(acc[r][m], a, q[r][u]);
                    }
                }
#pragma unroll
                for (int r = 0; r < R; r++)
#pragma unroll
                    for (int u = 0; u < U; u++) q[r][u] = qn[r][u];
            }
            for (; j < kv; j += 32) { // fewer than U left
                uint2 t[R];
#pragma unroll
                for (int r = 0; r < R; r++) t[r] = load(r, j);
#pragma unroll
                for (int m = 0; m < M; m++) {
                    const float4 a = reinterpret_cast<const float4 *>(s_x + m * k_tile)[j];
#pragma unroll
                    for (int r = 0; r < R; r++) acc[r][m] = dot4(acc[r][m], a, t[r]);
                }
            }
        }
    }
    gemv_store(acc, lane, y, ldy, bias, row0, n);
}

// Any K and alignment: one weight at a time, a warp per row.
__global__ void __launch_bounds__(kGemvThreads) gemv_any(const float *__restrict__ x, const uint16_t *__restrict__ w,
                                                        const float *__restrict__ bias, float *__restrict__ y, int m,
                                                        int n, int k, int ldy) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (kGemvThreads / 32) + (threadIdx.x >> 5);
    if (row >= n) return;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const uint16_t *wr = w + (size_t)row * k;
    for (int j = lane; j < k; j += 32) {
        float wv = bf16_lo(__ldg(wr + j));
        for (int i = 0; i < m; i++) acc[i] = fmaf(x[(size_t)i * k + j], wv, acc[i]);
    }
    for (int i = 0; i < m; i++) {
        float v = acc[i];
#pragma unroll
        for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, d);
        if (lane == 0) y[(size_t)i * ldy + row] = v + (bias ? bias[row] : 0.f);
    }
}

// ---- X to BF16 --------------------------------------------------------------------------------

// xb[M, kp] = bf16(x[M, k]), zero-padded to kp (a multiple of 8) columns.
__global__ void to_bf16(const float *__restrict__ x, uint16_t *__restrict__ xb, int m, int k, int kp) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t total = (size_t)m * kp;
    for (; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / kp, c = i - r * kp;
        float v = c < (size_t)k ? x[r * k + c] : 0.f;
        __nv_bfloat16 b = __float2bfloat16_rn(v);
        xb[i] = *reinterpret_cast<uint16_t *>(&b);
    }
}

// ---- tensor-core GEMV, 3 <= M <= 16 ------------------------------------------------------------
//
// Rows of W are mma.sync's A operand (16 rows x 16 k) and X, rounded to BF16 (convert_x), is B
// (16 k x 8 of its rows, NT such tiles), so that W is read once at any M up to 16 and the
// tensor cores do the arithmetic. K is taken in blocks of 64 (a DF11 segment): lane l, with
// g = l / 4 and t = l % 4, loads 16 consecutive weights at k = 16 t of rows g and g + 8 of the
// tile (two 16-byte loads each) and the same 16 k of X's row 8 nt + g, and the block's four
// mmas take them in the order j = 0..3, as mma's k columns {2t, 2t + 1, 2t + 8, 2t + 9} <- k =
// 16 t + 4 j + {0, 1, 2, 3} (a permutation of K, the same for A and B). K is split over the
// block's kTcWarps warps (warp w takes its share of the 64-k blocks, in increasing order);
// their sums are added in warp order through shared memory, then the bias.
//
// The DF11 twin (df11_gemv_tc) takes the same blocks in the same order with the same K split,
// so its bits equal this kernel's over the decoded weights.

constexpr int kTcWarps = 8;
constexpr int kTcThreads = 32 * kTcWarps;

// Warp w's 64-k blocks: [b0, b1).
__device__ __forceinline__ void tc_blocks(int k, int w, int &b0, int &b1) {
    const int blocks = (k + 63) / 64, per = (blocks + kTcWarps - 1) / kTcWarps;
    b0 = min(w * per, blocks);
    b1 = min(b0 + per, blocks);
}

// One 64-k block's four mmas into c: rows g and g + 8 of W (16 weights each, wg and wh) and
// X's 16 values x, at k = 16 t + 4 j + {0..3} for mma j.
__device__ __forceinline__ void tc_mma4(float (&c)[4], const uint4 (&wg)[2], const uint4 (&wh)[2], const uint4 (&x)[2]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const uint32_t a0[4] = {wg[h].x, wh[h].x, wg[h].y, wh[h].y}, b0[2] = {x[h].x, x[h].y};
        mma_bf16(c, a0, b0);
        const uint32_t a1[4] = {wg[h].z, wh[h].z, wg[h].w, wh[h].w}, b1[2] = {x[h].z, x[h].w};
        mma_bf16(c, a1, b1);
    }
}

// X's 16 BF16 values for B at (row, kk) of xb (rows of K elements: K % 8 == 0, so convert_x's
// padded rows are K long), zeros past M or K.
__device__ __forceinline__ void tc_load_x(uint4 (&x)[2], const uint16_t *xb, int m, int row, int kk, int k) {
    const uint4 *p = reinterpret_cast<const uint4 *>(xb + (size_t)row * k + kk);
    x[0] = row < m && kk < k ? __ldg(p) : make_uint4(0, 0, 0, 0);
    x[1] = row < m && kk + 8 < k ? __ldg(p + 1) : make_uint4(0, 0, 0, 0);
}

// The end of a tile of 16 rows from row0: each warp's sums (NT tiles of c) to red, then the
// block adds them in warp order, plus the bias, for the rows below n and the M rows of Y.
template <int NT>
__device__ __forceinline__ void tc_store(float (*red)[16][NT * 8], const float (&c)[NT][4], float *y, int ldy,
                                         const float *bias, int row0, int m, int n) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    __syncthreads(); // red may alias memory that other warps still read (df11_gemv_tc)
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        red[warp][g][nt * 8 + 2 * t] = c[nt][0];
        red[warp][g][nt * 8 + 2 * t + 1] = c[nt][1];
        red[warp][g + 8][nt * 8 + 2 * t] = c[nt][2];
        red[warp][g + 8][nt * 8 + 2 * t + 1] = c[nt][3];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < 16 * NT * 8; i += kTcThreads) {
        const int r = i & 15, col = i >> 4;
        if (col < m && row0 + r < n) {
            float s = red[0][r][col];
#pragma unroll
            for (int w = 1; w < kTcWarps; w++) s += red[w][r][col];
            y[(size_t)col * ldy + row0 + r] = s + (bias ? bias[row0 + r] : 0.f);
        }
    }
    __syncthreads();
}

// W's rows start on 16-byte boundaries (K % 8 == 0); a block per 16 rows. Each warp keeps the
// next block's loads in flight while it multiplies the current one.
//
// Variants measured on the H200 (dfrt bench ops, us at M = 4 / 8 / 16; none changes the bits):
//   this one:                 qkv 17.5 / 17.8 / 18.8, o 13.9 / 14.1 / 15.1, gate_up 64.3 / 65.5
//                             / 71.4, down 36.3 / 36.8 / 39.0, lm_head 246.9 / 256.0 / 286.6;
//   32 rows a block (X read once for two tiles): slower on every shape (qkv 18.9 / 19.4 / 23.2,
//                             gate_up 69.0 / 70.8 / 79.9);
//   two 64-k blocks a step (twice the loads in flight, 116 registers): slower but for down
//                             (35.4 / 36.3 / 46.0; qkv 21.0 / 21.3 / 23.0);
//   X read as fp32 and rounded here, without convert_x: faster alone at M = 4 and on the small
//                             shapes at M = 8 (qkv 15.6 / 16.6, o 12.0 / 12.9), slower on the large
//                             ones (gate_up 61.4 / 68.7 / 97.6); in the model, used for qkv and
//                             o only (M <= 8), batch-8 decode made 1464 tokens/s against 1524
//                             without it (that run also lacked the residual add fused into
//                             rmsnorm): the extra kernel costs less inside a CUDA graph than the
//                             bench's per-call timing shows.
template <int NT>
__global__ void __launch_bounds__(kTcThreads) gemv_tc(const uint16_t *__restrict__ xb, const uint16_t *__restrict__ w,
                                                     const float *__restrict__ bias, float *__restrict__ y, int m, int n,
                                                     int k, int ldy) {
    __shared__ float red[kTcWarps][16][NT * 8];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.x * 16;
    int b0, b1;
    tc_blocks(k, warp, b0, b1);
    const uint4 *rg = reinterpret_cast<const uint4 *>(w + (size_t)min(row0 + g, n - 1) * k);
    const uint4 *rh = reinterpret_cast<const uint4 *>(w + (size_t)min(row0 + g + 8, n - 1) * k);
    const bool in_g = row0 + g < n, in_h = row0 + g + 8 < n;
    auto load_w = [&](uint4 (&q)[2], const uint4 *r, bool in, int kk) {
        q[0] = in && kk < k ? ldg_stream(r + kk / 8) : make_uint4(0, 0, 0, 0);
        q[1] = in && kk + 8 < k ? ldg_stream(r + kk / 8 + 1) : make_uint4(0, 0, 0, 0);
    };
    float c[NT][4] = {};
    uint4 wg[2], wh[2], x[NT][2];
    if (b0 < b1) {
        const int kk = b0 * 64 + 16 * t;
        load_w(wg, rg, in_g, kk);
        load_w(wh, rh, in_h, kk);
#pragma unroll
        for (int nt = 0; nt < NT; nt++) tc_load_x(x[nt], xb, m, nt * 8 + g, kk, k);
    }
    for (int b = b0; b < b1; b++) {
        uint4 ng[2], nh[2], nx[NT][2];
        const int kk = (b + 1) * 64 + 16 * t;
        const bool more = b + 1 < b1;
        load_w(ng, rg, in_g && more, kk);
        load_w(nh, rh, in_h && more, kk);
#pragma unroll
        for (int nt = 0; nt < NT; nt++) tc_load_x(nx[nt], xb, more ? m : 0, nt * 8 + g, kk, k);
#pragma unroll
        for (int nt = 0; nt < NT; nt++) tc_mma4(c[nt], wg, wh, x[nt]);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            wg[h] = ng[h], wh[h] = nh[h];
#pragma unroll
            for (int nt = 0; nt < NT; nt++) x[nt][h] = nx[nt][h];
        }
    }
    tc_store<NT>(red, c, y, ldy, bias, row0, m, n);
}

// ---- tensor-core GEMM -------------------------------------------------------------------------

// Blocks walk the output in groups of kGroupM tile rows, so that the tiles of W a group needs
// stay in L2 while its rows are computed (the row-major grid order would stream all of W from
// memory once per tile row).
constexpr int kGroupM = 8;
__device__ __forceinline__ void tile_of_block(int bid, int m_tiles, int n_tiles, int &m_tile, int &n_tile) {
    int per_group = kGroupM * n_tiles;
    int first_m = bid / per_group * kGroupM;
    int size = min(m_tiles - first_m, kGroupM);
    m_tile = first_m + (bid % per_group) % size;
    n_tile = (bid % per_group) / size;
}

constexpr int BM = 128, BN = 256, BK = 32, kStages = 4;
constexpr int kGemmThreads = 256;            // 8 warps: 2 along M x 4 along N, 64x64 each
constexpr int kPitch = BK + 8;               // padded row (80 bytes): conflict-free ldmatrix
constexpr int kATile = BM * kPitch, kBTile = BN * kPitch; // elements per stage
constexpr int kGemmShared = kStages * (kATile + kBTile) * 2;


// y[r, c] = v0 and y[r, c + 1] = v1 (rows of ldy), plus the bias, for the columns below n: one 8-byte store
// when both are and it is aligned. Both GEMMs' epilogues.
__device__ __forceinline__ void store_pair(float *y, int ldy, const float *bias, int n, int r, int c, float v0, float v1) {
    if (bias) {
        if (c < n) v0 += bias[c];
        if (c + 1 < n) v1 += bias[c + 1];
    }
    float *dst = y + (size_t)r * ldy + c;
    if (c + 1 < n && (reinterpret_cast<uintptr_t>(dst) & 7) == 0) *reinterpret_cast<float2 *>(dst) = make_float2(v0, v1);
    else {
        if (c < n) dst[0] = v0;
        if (c + 1 < n) dst[1] = v1;
    }
}

// Loads `rows` rows x BK columns starting at (r0, k0) of a row-major BF16 matrix with `pitch`
// elements per row and `cols` valid columns into a shared tile. Out-of-range pieces are
// zero-filled. ALIGNED: rows start on 16-byte boundaries, so cp.async moves 8 elements at once.
template <int ROWS, bool ALIGNED>
__device__ __forceinline__ void load_tile(uint16_t *tile, const uint16_t *src, int n_rows, int cols, size_t pitch,
                                          int r0, int k0) {
    constexpr int kPieces = ROWS * BK / 8;
#pragma unroll
    for (int it = 0; it < kPieces / kGemmThreads; it++) {
        int piece = threadIdx.x + it * kGemmThreads;
        int r = piece / (BK / 8), c = (piece % (BK / 8)) * 8;
        int gr = r0 + r, gk = k0 + c;
        uint16_t *dst = tile + r * kPitch + c;
        if (ALIGNED) {
            bool in = gr < n_rows && gk < cols;
            cp_async16(dst, src + (in ? (size_t)gr * pitch + gk : 0), in ? 16 : 0);
        } else {
            uint16_t v[8];
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = (gr < n_rows && gk + j < cols) ? __ldg(src + (size_t)gr * pitch + gk + j) : 0;
            *reinterpret_cast<uint4 *>(dst) = make_uint4(v[0] | (uint32_t)v[1] << 16, v[2] | (uint32_t)v[3] << 16,
                                                         v[4] | (uint32_t)v[5] << 16, v[6] | (uint32_t)v[7] << 16);
        }
    }
}

template <bool W_ALIGNED>
__global__ void __launch_bounds__(kGemmThreads, 1) gemm_bf16(const uint16_t *__restrict__ xb, const uint16_t *__restrict__ w,
                                                            const float *__restrict__ bias, float *__restrict__ y, int m,
                                                            int n, int k, int kp, int ldy) {
    extern __shared__ __align__(16) uint16_t gsm[];
    uint16_t *sa = gsm, *sb = gsm + kStages * kATile;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 64; // warp tile origin in the block tile
    int m_tile, n_tile;
    tile_of_block(blockIdx.x, (m + BM - 1) / BM, (n + BN - 1) / BN, m_tile, n_tile);
    const int m0 = m_tile * BM, n0 = n_tile * BN;
    const int k_tiles = (kp + BK - 1) / BK;

    float acc[4][8][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

#pragma unroll
    for (int s = 0; s < kStages - 1; s++) {
        if (s < k_tiles) {
            load_tile<BM, true>(sa + s * kATile, xb, m, kp, kp, m0, s * BK);
            load_tile<BN, W_ALIGNED>(sb + s * kBTile, w, n, k, k, n0, s * BK);
        }
        cp_async_commit();
    }
    for (int kt = 0; kt < k_tiles; kt++) {
        cp_async_wait<kStages - 2>();
        __syncthreads();
        int next = kt + kStages - 1;
        if (next < k_tiles) {
            load_tile<BM, true>(sa + (next % kStages) * kATile, xb, m, kp, kp, m0, next * BK);
            load_tile<BN, W_ALIGNED>(sb + (next % kStages) * kBTile, w, n, k, k, n0, next * BK);
        }
        cp_async_commit();
        const uint16_t *a_tile = sa + (kt % kStages) * kATile;
        const uint16_t *b_tile = sb + (kt % kStages) * kBTile;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t a[4][4], b[8][2];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const uint16_t *p = a_tile + (wm + i * 16 + (lane & 15)) * kPitch + kk + (lane >> 4) * 8;
                ldmatrix_x4(a[i][0], a[i][1], a[i][2], a[i][3], p);
            }
#pragma unroll
            for (int j = 0; j < 8; j += 2) {
                const uint16_t *p =
                    b_tile + (wn + j * 8 + (lane & 7) + ((lane >> 4) << 3)) * kPitch + kk + ((lane >> 3) & 1) * 8;
                ldmatrix_x4(b[j][0], b[j][1], b[j + 1][0], b[j + 1][1], p);
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) mma_bf16(acc[i][j], a[i], b[j]);
        }
    }
    cp_async_wait<0>();

    // Fragment (i, j): rows wm + 16i + lane/4 (+8), columns wn + 8j + 2(lane%4) (+1).
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int r = m0 + wm + i * 16 + (lane >> 2) + half * 8;
                int c = n0 + wn + j * 8 + (lane & 3) * 2;
                if (r >= m) continue;
                store_pair(y, ldy, bias, n, r, c, acc[i][j][2 * half], acc[i][j][2 * half + 1]);
            }
}

// ---- Hopper: wgmma -------------------------------------------------------------------------
//
// sm_90a only. Block tile 128 x 256 x 64: two warpgroups, each computing 64 rows x 256 columns
// with wgmma.m64n256k16 from shared memory. Tiles are loaded with cp.async into the 128-byte
// swizzled layout that the descriptors name (row r at r * 128 bytes, 16-byte chunk c stored at
// chunk c ^ (r % 8); tiles 1024-byte aligned), in a 4-stage pipeline. X must be BF16 with rows
// padded to 8 elements (the scratch copy), W rows 16-byte aligned (K % 8 == 0).

constexpr int HBM = 128, HBN = 256, HBK = 64, kHStages = 4;
constexpr int kHThreads = 256;
constexpr int kHATile = HBM * HBK, kHBTile = HBN * HBK; // elements per stage
constexpr int kHShared = kHStages * (kHATile + kHBTile) * 2 + 1024; // + alignment slack

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define DFRT_HAVE_WGMMA 1

__device__ __forceinline__ uint64_t wgmma_desc(const void *p) {
    uint64_t addr = smem_addr(p);
    return ((addr & 0x3FFFF) >> 4) | ((uint64_t)(16 >> 4) << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

__device__ __forceinline__ void wgmma_m64n256k16(float *d, uint64_t desc_a, uint64_t desc_b) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, 1, 1, 1, 0, 0;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
                 : "l"(desc_a), "l"(desc_b));
}

// rows x 64 columns from (r0, k0) of a row-major BF16 matrix (pitch elements per row, cols
// valid) into a swizzled tile; out-of-range pieces are zero-filled.
template <int ROWS>
__device__ __forceinline__ void load_swizzled(uint16_t *tile, const uint16_t *src, int n_rows, int cols, size_t pitch,
                                              int r0, int k0) {
#pragma unroll
    for (int it = 0; it < ROWS * 8 / kHThreads; it++) {
        int piece = threadIdx.x + it * kHThreads;
        int r = piece >> 3, c = piece & 7;
        int gr = r0 + r, gk = k0 + c * 8;
        bool in = gr < n_rows && gk < cols;
        cp_async16(reinterpret_cast<uint8_t *>(tile) + r * 128 + ((c ^ (r & 7)) << 4),
                   src + (in ? (size_t)gr * pitch + gk : 0), in ? 16 : 0);
    }
}
#endif

// Split K (gridDim.y > 1): block (x, s) takes the K-tiles [s kts, (s + 1) kts) and stores its
// partial sums, without the bias, to slice s of y (m rows of ldy each); split_reduce adds the
// slices in order.
__global__ void __launch_bounds__(kHThreads, 1) gemm_wgmma(const uint16_t *__restrict__ xb, const uint16_t *__restrict__ w,
                                                          const float *__restrict__ bias, float *__restrict__ y, int m,
                                                          int n, int k, int kp, int ldy, int kts) {
#ifdef DFRT_HAVE_WGMMA
    extern __shared__ uint8_t hsm_raw[];
    uint16_t *hsm = reinterpret_cast<uint16_t *>((reinterpret_cast<uintptr_t>(hsm_raw) + 1023) & ~(uintptr_t)1023);
    uint16_t *sa = hsm, *sb = hsm + kHStages * kHATile;
    const int wg = threadIdx.x >> 7, lane = threadIdx.x & 31, warp_in_wg = (threadIdx.x >> 5) & 3;
    int m_tile, n_tile;
    tile_of_block(blockIdx.x, (m + HBM - 1) / HBM, (n + HBN - 1) / HBN, m_tile, n_tile);
    const int m0 = m_tile * HBM, n0 = n_tile * HBN;
    const int kt0 = blockIdx.y * kts, k_tiles = min((kp + HBK - 1) / HBK - kt0, kts); // this block's K-tiles
    if (gridDim.y > 1) y += (size_t)blockIdx.y * m * ldy, bias = nullptr;

    float d[128];
#pragma unroll
    for (int i = 0; i < 128; i++) d[i] = 0.f;

#pragma unroll
    for (int s = 0; s < kHStages - 1; s++) {
        if (s < k_tiles) {
            load_swizzled<HBM>(sa + s * kHATile, xb, m, kp, kp, m0, (kt0 + s) * HBK);
            load_swizzled<HBN>(sb + s * kHBTile, w, n, k, k, n0, (kt0 + s) * HBK);
        }
        cp_async_commit();
    }
    for (int kt = 0; kt < k_tiles; kt++) {
        cp_async_wait<kHStages - 2>();
        fence_proxy_async(); // this thread's cp.async data, visible to the tensor cores
        __syncthreads();
        const uint16_t *a = sa + (kt % kHStages) * kHATile + wg * 64 * HBK;
        const uint16_t *b = sb + (kt % kHStages) * kHBTile;
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < HBK; kk += 16) wgmma_m64n256k16(d, wgmma_desc(a + kk), wgmma_desc(b + kk));
        wgmma_commit();
        wgmma_wait<1>(); // this tile's products run on while the previous tile's are done
        __syncthreads(); // both warpgroups are done with the previous tile's stage, which the next load overwrites
        int next = kt + kHStages - 1;
        if (next < k_tiles) {
            load_swizzled<HBM>(sa + (next % kHStages) * kHATile, xb, m, kp, kp, m0, (kt0 + next) * HBK);
            load_swizzled<HBN>(sb + (next % kHStages) * kHBTile, w, n, k, k, n0, (kt0 + next) * HBK);
        }
        cp_async_commit();
    }
    wgmma_wait<0>();
    cp_async_wait<0>();

    // Accumulator j (0..31) of this thread: rows m0 + 64 wg + 16 warp + lane/4 (+8), columns
    // n0 + 8 (j / 4) ... laid out as four per n8 block: (r, c), (r, c+1), (r+8, c), (r+8, c+1).
    const int row = m0 + wg * 64 + warp_in_wg * 16 + (lane >> 2);
#pragma unroll
    for (int j = 0; j < 32; j++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = row + half * 8, c = n0 + j * 8 + (lane & 3) * 2;
            if (r >= m) continue;
            store_pair(y, ldy, bias, n, r, c, d[4 * j + 2 * half], d[4 * j + 2 * half + 1]);
        }
#endif
}

// y[r, c] (rows of ldy) = part[0][r, c] + part[1][r, c] + ... + bias, in that order: the
// splits' slices of m x n, dense.
__global__ void split_reduce(const float *__restrict__ part, const float *__restrict__ bias, float *__restrict__ y, int m,
                             int n, int ldy, int splits) {
    const size_t total = (size_t)m * n;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / n, c = i - r * n;
        float v = part[i];
        for (int s = 1; s < splits; s++) v += part[s * total + i];
        y[r * ldy + c] = v + (bias ? bias[c] : 0.f);
    }
}

// ---- DF11 GEMV ----------------------------------------------------------------------------------
//
// A warp per row (first / 64 + r k / 64 ... are whole segments), in rounds of 32 segments, one
// per lane, decoded into shared memory; then the warp's lanes take the round's vectors as
// gemv_vec's do (kGemvVec<M> weights, vector j of a row by lane j % 32, in increasing j),
// joining exponents with the sign/mantissa bytes on the way. The next round's segment starts
// and stream words, and (M <= 2) this round's sign/mantissa bytes, are loaded before the
// decode. Several rows per warp (X read once for four rows, the same order of accumulation)
// measured slower on the H200: gate_up 28672 x 4096 at M = 1 in 177 us against 143 us.

constexpr int kDf11GemvThreads = 256;
constexpr int kDf11GemvWarps = kDf11GemvThreads / 32;
static_assert(kDf11GemvWarps == kSegWarps, "seg_smem has room for kSegWarps warps");

// A vector's sign/mantissa bytes (VW of them), and its weights as BF16 pairs from them.
template <int VW> struct Df11Vec;
template <> struct Df11Vec<8> {
    using SM = uint2;
    static __device__ __forceinline__ uint4 weights(uint32_t ew, SM sm) { return seg_bf16x8(ew, sm); }
    static __device__ __forceinline__ float dot(float s, const float *x, uint4 w) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        return dot8(s, __ldg(x4), __ldg(x4 + 1), w);
    }
};
template <> struct Df11Vec<4> {
    using SM = uint32_t;
    static __device__ __forceinline__ uint2 weights(uint32_t ew, SM sm) { return seg_bf16x4(seg_smem[ew], sm); }
    static __device__ __forceinline__ float dot(float s, const float *x, uint2 w) {
        return dot4(s, __ldg(reinterpret_cast<const float4 *>(x)), w);
    }
};

// How the decoder stores exponents (df11_segments.cuh), by M. Measured on the H200, llama-3.1-8b
// layer, DF11 time with byte stores / word stores: M = 1 244.0 / 229.9 us, M = 2 303.7 /
// 273.7, M = 4 355.9 / 368.0, M = 8 515.1 / 512.4.
template <int M> constexpr int kDf11GemvOut = M <= 2 ? kOutWords : kOutBytes;

template <int M>
__global__ void __launch_bounds__(kDf11GemvThreads, M == 1 ? 4 : 3)
    df11_gemv(SegUnit u, uint64_t first, const float *__restrict__ x, const float *__restrict__ bias,
              float *__restrict__ y, int n, int k, int ldy) {
    constexpr int VW = kGemvVec<M>;
    // vectors per segment, and so per lane and round (a round: a row's 32 segments, one per lane)
    constexpr int PER = kSegWeights / VW;
    constexpr bool PRE = M <= 2;          // sign/mantissa bytes loaded before the decode (registers allowing)
    using V = Df11Vec<VW>;
    seg_load_tables(u);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // this warp's 32 decoded segments in seg_smem (words), and this lane's own (bytes); the
    // exponents of the lane's vector i (lane + 32 i of the round: segment (lane + 32 i) / PER)
    // start at word ew + i (32 / PER) kSegPitchWords
    const uint32_t exps = warp * 32 * kSegPitchWords;
    const uint32_t mine = 4 * (exps + lane * kSegPitchWords);
    const uint32_t ew = exps + (lane / PER) * kSegPitchWords + (lane % PER) * (VW / 4);
    const int kv = k / VW, row_segs = k / kSegWeights, rounds = (row_segs + 31) / 32;
    const int stride = gridDim.x * kDf11GemvWarps;
    // this lane's segment of round d of a row
    auto in_row = [&](int row, int d) { return row < n && d * 32 + lane < row_segs; };
    auto start = [&](int row, int d) {
        return in_row(row, d) ? seg_start(u.segments, (first + (uint64_t)row * (uint64_t)k) / kSegWeights + d * 32 + lane) : 0;
    };
    int row = blockIdx.x * kDf11GemvWarps + warp, rd = 0;
    SegCursor cur = {};
    if (in_row(row, 0)) cur = seg_open(u, start(row, 0));
    float acc[1][M];
#pragma unroll
    for (int m = 0; m < M; m++) acc[0][m] = 0.f;
    while (row < n) {
        int next_row = row, next_rd = rd + 1;
        if (next_rd == rounds) next_rd = 0, next_row += stride;
        const uint64_t next_bit = start(next_row, next_rd); // loaded while this round is decoded
        const int j0 = rd * 32 * PER + lane, v_end = kv - rd * 32 * PER; // this lane's first vector; the round's count
        const typename V::SM *sm =
            reinterpret_cast<const typename V::SM *>(u.sign_mantissa + first + (uint64_t)row * (uint64_t)k) + j0;
        typename V::SM sv[PRE ? PER : 1];
        if constexpr (PRE) {
#pragma unroll
            for (int i = 0; i < PER; i++) sv[i] = lane + 32 * i < v_end ? __ldg(sm + 32 * i) : typename V::SM{};
        }
        if (in_row(row, rd)) seg_decode<kDf11GemvOut<M>>(u.n_tables, cur, kSegWeights, mine);
        if (in_row(next_row, next_rd)) cur = seg_open(u, next_bit);
        __syncwarp();
#pragma unroll(PRE ? PER : 1)
        for (int i = 0; i < PER; i++) {
            if (lane + 32 * i >= v_end) break;
            typename V::SM q;
            if constexpr (PRE) q = sv[i];
            else q = __ldg(sm + 32 * i);
            const auto wv = V::weights(ew + i * (32 / PER) * kSegPitchWords, q);
#pragma unroll
            for (int m = 0; m < M; m++) acc[0][m] = V::dot(acc[0][m], x + (size_t)m * k + (size_t)VW * (j0 + 32 * i), wv);
        }
        __syncwarp();
        if (next_rd == 0) { // the row is done
            gemv_store(acc, lane, y, ldy, bias, row, n);
#pragma unroll
            for (int m = 0; m < M; m++) acc[0][m] = 0.f;
        }
        row = next_row, rd = next_rd;
    }
}

template <int M>
cudaError_t launch_df11_gemv(const SegUnit &u, uint64_t first, const MatmulArgs *p, int sm_count, cudaStream_t stream) {
    static int per_sm = 0; // blocks loop over rows, a warp per row
    unsigned grid;
    cudaError_t e = one_wave(df11_gemv<M>, kDf11GemvThreads, 0, sm_count, per_sm,
                             (uint64_t)(p->n + kDf11GemvWarps - 1) / kDf11GemvWarps, grid);
    if (e != cudaSuccess) return e;
    df11_gemv<M><<<grid, kDf11GemvThreads, 0, stream>>>(u, first, p->x, p->bias, p->y, p->n, p->k, p->ldy);
    return cudaGetLastError();
}

// ---- DF11 tensor-core GEMV, 3 <= M <= 16 ----------------------------------------------------------
//
// gemv_tc's twin over a DF11 unit (K % 64 == 0, rows starting on a segment): the same tiles of
// 16 rows, the same K split over the block's warps and the same mmas in the same order, so
// its bits equal gemv_tc's over the decoded weights. A warp decodes 32 segments at a time, one
// per lane (the tile's 16 rows at two consecutive 64-k blocks: lane l takes row l % 16, block
// l / 16), into shared memory; then each lane joins the exponents of its 16 weights of rows g
// and g + 8 with their sign/mantissa bytes (loaded before the decode) into the A fragments.
// Blocks loop over the tiles (one wave), the unit's tables loaded once; the next round's
// segment starts are loaded while this round is decoded, as in df11_gemv.

template <int NT>
__global__ void __launch_bounds__(kTcThreads, NT == 1 ? 3 : 2)
    df11_gemv_tc(SegUnit u, uint64_t first, const uint16_t *__restrict__ xb, const float *__restrict__ bias,
                 float *__restrict__ y, int m, int n, int k, int ldy) {
    static_assert(kTcWarps == kSegWarps, "seg_smem has room for kSegWarps warps");
    // the tiles' sums (tc_store) in seg_smem, which no warp uses then
    static_assert(sizeof(float) * kTcWarps * 16 * NT * 8 <= sizeof(seg_smem), "tc_store's sums fit in seg_smem");
    float(*red)[16][NT * 8] = reinterpret_cast<float(*)[16][NT * 8]>(seg_smem);
    seg_load_tables(u);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    int b0, b1;
    tc_blocks(k, warp, b0, b1);
    const int tiles = (n + 15) / 16;
    // this warp's 32 decoded segments (words of seg_smem), this lane's own (bytes), and the
    // exponents of this lane's weights at rows g and g + 8 of the round's block h: words
    // eg + h 16 kSegPitchWords, and 8 kSegPitchWords further
    const uint32_t exps = warp * 32 * kSegPitchWords;
    const uint32_t mine = 4 * (exps + lane * kSegPitchWords);
    const uint32_t eg = exps + g * kSegPitchWords + 4 * t;
    // the segment lane l decodes in the round at block b of tile `tile`
    auto in_round = [&](int tile, int b) { return tile < tiles && tile * 16 + (lane & 15) < n && b + (lane >> 4) < b1; };
    auto start = [&](int tile, int b) {
        return in_round(tile, b)
                   ? seg_start(u.segments, (first + (uint64_t)(tile * 16 + (lane & 15)) * (uint64_t)k) / kSegWeights + b +
                                               (lane >> 4))
                   : 0;
    };
    int tile = blockIdx.x, b = b0;
    SegCursor cur = {};
    if (b0 < b1 && in_round(tile, b)) cur = seg_open(u, start(tile, b));
    float c[NT][4] = {};
    while (tile < tiles) {
        const int row0 = tile * 16;
        int next_tile = tile, next_b = b + 2;
        if (next_b >= b1) next_b = b0, next_tile += gridDim.x;
        if (b < b1) {
            const uint64_t next_bit = start(next_tile, next_b); // loaded while this round is decoded
            // sign/mantissa bytes of rows g and g + 8 at the round's two blocks, and X's values
            uint4 smg[2], smh[2], x[2][NT][2];
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const bool in = b + h < b1;
                const int kk = (b + h) * 64 + 16 * t;
                const uint8_t *sm = u.sign_mantissa + first + kk;
                smg[h] = in && row0 + g < n ? __ldg(reinterpret_cast<const uint4 *>(sm + (uint64_t)(row0 + g) * k))
                                            : make_uint4(0, 0, 0, 0);
                smh[h] = in && row0 + g + 8 < n ? __ldg(reinterpret_cast<const uint4 *>(sm + (uint64_t)(row0 + g + 8) * k))
                                                : make_uint4(0, 0, 0, 0);
#pragma unroll
                for (int nt = 0; nt < NT; nt++) tc_load_x(x[h][nt], xb, in ? m : 0, nt * 8 + g, kk, k);
            }
            if (in_round(tile, b)) seg_decode<kOutBytes>(u.n_tables, cur, kSegWeights, mine);
            if (b0 < b1 && in_round(next_tile, next_b)) cur = seg_open(u, next_bit);
            __syncwarp();
#pragma unroll
            for (int h = 0; h < 2; h++) {
                if (b + h >= b1) break;
                const uint32_t e = eg + h * 16 * kSegPitchWords;
                const uint4 wg[2] = {seg_bf16x8(e, make_uint2(smg[h].x, smg[h].y)),
                                     seg_bf16x8(e + 2, make_uint2(smg[h].z, smg[h].w))};
                const uint32_t e8 = e + 8 * kSegPitchWords;
                const uint4 wh[2] = {seg_bf16x8(e8, make_uint2(smh[h].x, smh[h].y)),
                                     seg_bf16x8(e8 + 2, make_uint2(smh[h].z, smh[h].w))};
#pragma unroll
                for (int nt = 0; nt < NT; nt++) tc_mma4(c[nt], wg, wh, x[h][nt]);
            }
            __syncwarp();
        }
        if (next_tile != tile) { // the tile is done (every warp reaches this, b0 < b1 or not)
            tc_store<NT>(red, c, y, ldy, bias, row0, m, n);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.f;
        }
        tile = next_tile, b = next_b;
    }
}

template <int NT>
cudaError_t launch_df11_gemv_tc(const SegUnit &u, uint64_t first, const uint16_t *xb, const MatmulArgs *p, int sm_count,
                                cudaStream_t stream) {
    static int per_sm = 0;
    unsigned grid;
    cudaError_t e = one_wave(df11_gemv_tc<NT>, kTcThreads, 0, sm_count, per_sm, (uint64_t)(p->n + 15) / 16, grid);
    if (e != cudaSuccess) return e;
    df11_gemv_tc<NT><<<grid, kTcThreads, 0, stream>>>(u, first, xb, p->bias, p->y, p->m, p->n, p->k, p->ldy);
    return cudaGetLastError();
}

// ---- launchers -------------------------------------------------------------------------------

template <int M, int U, int R>
cudaError_t launch_gemv_vec_r(const MatmulArgs *p, int k_tile, cudaStream_t stream) {
    const int blocks = (p->n + kGemvWarps * R - 1) / (kGemvWarps * R);
    if constexpr (M <= 2) // X through L1 where it is aligned for float4 loads
        if ((reinterpret_cast<uintptr_t>(p->x) & 15) == 0) {
            gemv_vec<M, U, R, true><<<blocks, kGemvThreads, 0, stream>>>(p->x, p->w, p->bias, p->y, p->n, p->k, p->k,
                                                                         p->ldy);
            return cudaGetLastError();
        }
    static unsigned long long allowed = 0;
    cudaError_t e = allow_shared(gemv_vec<M, U, R, false>, kGemvXTileBytes, allowed);
    if (e != cudaSuccess) return e;
    gemv_vec<M, U, R, false><<<blocks, kGemvThreads, (size_t)M * k_tile * 4, stream>>>(p->x, p->w, p->bias, p->y, p->n,
                                                                                      p->k, k_tile, p->ldy);
    return cudaGetLastError();
}

// Rows per warp R (each row's sum is the same whatever R: lane-strided vectors, then the
// butterfly): one at M = 1, two where four would leave a block per SM or fewer (4096-row
// matrices), else four. Measured on the H200 (us, R = 4 / 2 / 1), llama-3.1-8b shapes:
//   M = 1: o 4096 x 4096 16.3 / 15.8 / 13.9, down 4096 x 14336 50.1 / 46.8 / 40.3,
//          qkv 6144 x 4096 19.8 / 19.6 / 19.3, gate_up 28672 x 4096 61.5 / 64.6 / 60.3;
//   M = 8: down 113.5 / 104.9 / 167.1, o 30.6 / 31.9 / 50.7, qkv 53.8 / 49.5 / 70.0,
//          gate_up 164.3 / 185.7 / 295.4 (M = 4: qkv 27.2 / 35.7, down 70.8 / 66.9).
template <int M, int U>
cudaError_t launch_gemv_vec_u(const MatmulArgs *p, int k_tile, int blocks, int sm_count, cudaStream_t stream) {
    if (M == 1) return launch_gemv_vec_r<M, U, 1>(p, k_tile, stream);
    if (blocks <= sm_count) return launch_gemv_vec_r<M, U, 2>(p, k_tile, stream);
    return launch_gemv_vec_r<M, U, 4>(p, k_tile, stream);
}

template <int M>
cudaError_t launch_gemv_vec(const MatmulArgs *p, int sm_count, cudaStream_t stream) {
    // X tiles of whole 256-column rounds, so that every lane keeps its vectors across tiles
    int k_tile = kGemvXTileBytes / (4 * M) / 256 * 256;
    if (k_tile > p->k) k_tile = p->k;
    const int blocks = (p->n + kGemvWarps * 4 - 1) / (kGemvWarps * 4); // at four rows per warp
    // 4-weight vectors, U per step (gemv_vec): four when the grid is small, as for 4096 rows
    // (more bytes in flight per thread), else two (fewer registers: more blocks per SM).
    // Measured on the H200 at M = 8: o 4096 x 4096 30.4 us (U = 4) against 37.1 (U = 2),
    // gate_up 28672 x 4096 193.0 against 164.4; at M = 4, four was faster on every shape.
    if constexpr (M <= 4) return launch_gemv_vec_u<M, 4>(p, k_tile, blocks, sm_count, stream); // U unused for M <= 2
    else if (blocks <= 2 * sm_count) return launch_gemv_vec_u<M, 4>(p, k_tile, blocks, sm_count, stream);
    else return launch_gemv_vec_u<M, 2>(p, k_tile, blocks, sm_count, stream);
}

bool w_aligned(const MatmulArgs *p) { return p->k % 8 == 0 && (reinterpret_cast<uintptr_t>(p->w) & 15) == 0; }

// M <= 8: the GEMVs on X as it is.
cudaError_t run_gemv(const MatmulArgs *p, int sm_count, cudaStream_t stream) {
    if (!w_aligned(p)) {
        int blocks = (p->n + kGemvThreads / 32 - 1) / (kGemvThreads / 32);
        gemv_any<<<blocks, kGemvThreads, 0, stream>>>(p->x, p->w, p->bias, p->y, p->m, p->n, p->k, p->ldy);
        return cudaGetLastError();
    }
    switch (p->m) {
    case 1: return launch_gemv_vec<1>(p, sm_count, stream);
    case 2: return launch_gemv_vec<2>(p, sm_count, stream);
    case 3: return launch_gemv_vec<3>(p, sm_count, stream);
    case 4: return launch_gemv_vec<4>(p, sm_count, stream);
    case 5: return launch_gemv_vec<5>(p, sm_count, stream);
    case 6: return launch_gemv_vec<6>(p, sm_count, stream);
    case 7: return launch_gemv_vec<7>(p, sm_count, stream);
    default: return launch_gemv_vec<8>(p, sm_count, stream);
    }
}

// X (M, K) as BF16 rows padded to kp = round_up(K, 8) columns, for the GEMMs.
cudaError_t convert_x(const MatmulArgs *p, uint16_t *xb, cudaStream_t stream) {
    const int kp = (p->k + 7) / 8 * 8;
    size_t total = (size_t)p->m * kp;
    int blocks = (int)((total + 255) / 256 < 65536 ? (total + 255) / 256 : 65536);
    to_bf16<<<blocks, 256, 0, stream>>>(p->x, xb, p->m, p->k, kp);
    return cudaGetLastError();
}

// How the Hopper GEMM splits K: into `splits` ranges of kts K-tiles each (1: no split).
struct GemmSplit {
    int splits, kts;
};

// Where the wgmma GEMM's tiles for the whole matrix (n_all rows of W) would leave SMs idle, as
// for qkv, o and down at M <= 64 (24 or 16 tiles for 132 SMs), K is split into enough ranges
// to fill them, each of at least 8 K-tiles. The split depends on M, K and the whole matrix's
// rows, never on a piece of them: df11_matmul's pieces split as matmul does, and every output's
// sum is taken in the same order (bit-identical). Measured on the H200 (dfrt bench ops), M = 64
// before / after: qkv 66.3 / 29.1 us, o 66.2 / 23.0, down 213.6 / 48.7 (cuBLAS: 17.6, 12.8,
// 36.6); at M = 512, o 73.4 / 58.9 and down 235.1 / 151.3 (two splits).
GemmSplit gemm_split(int m, int n_all, int k, int sm_count) {
    const int k_tiles = ((k + 7) / 8 * 8 + HBK - 1) / HBK;
    const int tiles = ((n_all + HBN - 1) / HBN) * ((m + HBM - 1) / HBM);
    int splits = tiles < sm_count ? sm_count / tiles : 1;
    if (splits > k_tiles / 8) splits = k_tiles / 8;
    if (splits < 2) return {1, k_tiles};
    const int kts = (k_tiles + splits - 1) / splits;
    return {(k_tiles + kts - 1) / kts, kts};
}

// The split's scratch, after X's BF16 copy: a dense m x n slice of partial sums per split.
size_t split_bytes(const GemmSplit &g, int m, int n) { return g.splits > 1 ? (size_t)g.splits * m * n * 4 : 0; }

// M > 8: the tensor-core GEMMs on xb (convert_x). Hopper (compute capability 9.0, sm90) runs
// the sm_90a wgmma kernel, with K split as g says (its partial sums in work, split_bytes);
// other GPUs mma.sync.
cudaError_t run_gemm(const MatmulArgs *p, const uint16_t *xb, bool sm90, const GemmSplit &g, float *work,
                     cudaStream_t stream) {
    const int kp = (p->k + 7) / 8 * 8;
    const bool aligned = w_aligned(p);
    cudaError_t e;
    if (aligned && sm90) {
        static unsigned long long allowed = 0;
        e = allow_shared(gemm_wgmma, kHShared, allowed);
        if (e != cudaSuccess) return e;
        const dim3 blocks(((p->n + HBN - 1) / HBN) * ((p->m + HBM - 1) / HBM), g.splits);
        if (g.splits == 1) {
            gemm_wgmma<<<blocks, kHThreads, kHShared, stream>>>(xb, p->w, p->bias, p->y, p->m, p->n, p->k, kp, p->ldy, g.kts);
            return cudaGetLastError();
        }
        gemm_wgmma<<<blocks, kHThreads, kHShared, stream>>>(xb, p->w, nullptr, work, p->m, p->n, p->k, kp, p->n, g.kts);
        const size_t total = (size_t)p->m * p->n;
        const unsigned reduce_blocks = (unsigned)((total + 255) / 256 < 4096 ? (total + 255) / 256 : 4096);
        split_reduce<<<reduce_blocks, 256, 0, stream>>>(work, p->bias, p->y, p->m, p->n, p->ldy, g.splits);
        return cudaGetLastError();
    }
    int grid = ((p->n + BN - 1) / BN) * ((p->m + BM - 1) / BM);
    if (aligned) {
        static unsigned long long allowed = 0;
        e = allow_shared(gemm_bf16<true>, kGemmShared, allowed);
        if (e != cudaSuccess) return e;
        gemm_bf16<true><<<grid, kGemmThreads, kGemmShared, stream>>>(xb, p->w, p->bias, p->y, p->m, p->n, p->k, kp, p->ldy);
    } else {
        static unsigned long long allowed = 0;
        e = allow_shared(gemm_bf16<false>, kGemmShared, allowed);
        if (e != cudaSuccess) return e;
        gemm_bf16<false><<<grid, kGemmThreads, kGemmShared, stream>>>(xb, p->w, p->bias, p->y, p->m, p->n, p->k, kp, p->ldy);
    }
    return cudaGetLastError();
}

// The launchers' arguments from an op's tensors.
MatmulArgs matmul_args(const dfrt_tensor_arg &y, const dfrt_tensor_arg &x, const dfrt_tensor_arg &bias, int64_t m,
                       int64_t n, int64_t k) {
    MatmulArgs p;
    p.x = dev<const float>(x);
    p.w = nullptr;
    p.bias = dev<const float>(bias);
    p.y = dev<float>(y);
    p.m = (int)m, p.n = (int)n, p.k = (int)k, p.ldy = (int)n;
    return p;
}

// 3 <= M <= 16 on sm_80 and later, K % 8 == 0: the tensor-core GEMV where W's rows are 16-byte
// aligned (use_gemv_tc), and its DF11 twin.
bool tc_shape(int m, int k, int compute_capability) { return m >= 3 && m <= 16 && compute_capability >= 80 && k % 8 == 0; }
bool use_gemv_tc(const MatmulArgs *p, int compute_capability) {
    return tc_shape(p->m, p->k, compute_capability) && w_aligned(p);
}

cudaError_t launch_gemv_tc(const MatmulArgs *p, const uint16_t *xb, cudaStream_t stream) {
    const unsigned blocks = (unsigned)((p->n + 15) / 16);
    if (p->m <= 8) gemv_tc<1><<<blocks, kTcThreads, 0, stream>>>(xb, p->w, p->bias, p->y, p->m, p->n, p->k, p->ldy);
    else gemv_tc<2><<<blocks, kTcThreads, 0, stream>>>(xb, p->w, p->bias, p->y, p->m, p->n, p->k, p->ldy);
    return cudaGetLastError();
}

// The scratch bytes of X as BF16 (convert_x), rounded to 256.
size_t xb_size(const MatmulArgs *p) { return ((size_t)p->m * (size_t)((p->k + 7) / 8 * 8) * 2 + 255) / 256 * 256; }

// The piece of a DF11 matrix decoded at once when the GEMV cannot take it: 64 M weights (128
// MB of BF16), at least one row. Smaller pieces stay in L2 but leave the GEMM too few tiles
// at small M (16 M weights measured: prefill at half the speed).
constexpr uint64_t kPieceWeights = 64u << 20;

} // namespace

// The kernels as dfrt_matmul_kernel names them: what dfrt_cuda_matmul (matmul_kernel_name) and
// dfrt_cuda_df11_matmul choose, by the same tests.
namespace {
enum MatmulKernel { kGemvFp32, kGemvTc, kGemmWgmma, kGemmWgmmaSplit, kGemmMma, kKernels };
constexpr const char *kKernelNames[kKernels] = {"fp32 GEMV", "tensor-core GEMV (mma.sync)", "wgmma GEMM",
                                                "wgmma GEMM, K split", "mma.sync GEMM"};
constexpr const char *kDecodedNames[kKernels] = {"DF11 decode + fp32 GEMV", "DF11 decode + tensor-core GEMV (mma.sync)",
                                                 "DF11 decode + wgmma GEMM", "DF11 decode + wgmma GEMM, K split",
                                                 "DF11 decode + mma.sync GEMM"};

MatmulKernel matmul_kernel_of(const MatmulArgs *p, const dfrt_cuda_ctx *ctx) {
    const int cc = ctx->compute_capability;
    if (use_gemv_tc(p, cc)) return kGemvTc;
    if (p->m <= 8) return kGemvFp32;
    if (cc == 90 && w_aligned(p))
        return gemm_split(p->m, p->n, p->k, ctx->sm_count).splits > 1 ? kGemmWgmmaSplit : kGemmWgmma;
    return kGemmMma;
}
} // namespace

extern "C" const char *dfrt_cuda_matmul_kernel(dfrt_cuda_ctx *ctx, dfrt_op op, const void *args) {
    if (op == DFRT_OP_MATMUL) {
        const dfrt_matmul_args *a = static_cast<const dfrt_matmul_args *>(args);
        MatmulArgs p = matmul_args(a->y, a->x, a->bias, a->m, a->n, a->k);
        p.w = dev<const uint16_t>(a->w);
        return kKernelNames[matmul_kernel_of(&p, ctx)];
    }
    const dfrt_df11_matmul_args *a = static_cast<const dfrt_df11_matmul_args *>(args);
    MatmulArgs p = matmul_args(a->y, a->x, a->bias, a->m, a->n, a->k);
    const bool seg_rows = p.k % kSegWeights == 0 && a->first % kSegWeights == 0;
    if (seg_rows && tc_shape(p.m, p.k, ctx->compute_capability)) return "fused DF11 tensor-core GEMV (mma.sync)";
    if (p.m <= 8 && seg_rows && aligned(p.x, 16)) return "fused DF11 GEMV";
    // the pieces: decoded into the scratch (aligned); the split as for the whole matrix
    static const uint16_t piece_probe[8] __attribute__((aligned(16))) = {};
    p.w = piece_probe;
    return kDecodedNames[matmul_kernel_of(&p, ctx)];
}

extern "C" dfrt_status dfrt_cuda_matmul(dfrt_cuda_ctx *ctx, const dfrt_matmul_args *a) {
    MatmulArgs p = matmul_args(a->y, a->x, a->bias, a->m, a->n, a->k);
    p.w = dev<const uint16_t>(a->w);
    const bool tc = use_gemv_tc(&p, ctx->compute_capability);
    if (p.m <= 8 && !tc) return dfrt_cuda_check(run_gemv(&p, ctx->sm_count, ctx->stream), "matmul", __FILE__, __LINE__);
    const bool sm90 = ctx->compute_capability == 90;
    const GemmSplit g = sm90 && !tc ? gemm_split(p.m, p.n, p.k, ctx->sm_count) : GemmSplit{1, 0};
    const size_t xb_bytes = xb_size(&p);
    dfrt_status st = dfrt_cuda_scratch(ctx, xb_bytes + split_bytes(g, p.m, p.n), "matmul (a BF16 copy of X)");
    if (st != DFRT_OK) return st;
    uint16_t *xb = static_cast<uint16_t *>(ctx->scratch);
    float *work = reinterpret_cast<float *>(static_cast<char *>(ctx->scratch) + xb_bytes);
    cudaError_t e = convert_x(&p, xb, ctx->stream);
    if (e == cudaSuccess) e = tc ? launch_gemv_tc(&p, xb, ctx->stream) : run_gemm(&p, xb, sm90, g, work, ctx->stream);
    return dfrt_cuda_check(e, "matmul", __FILE__, __LINE__);
}

extern "C" dfrt_status dfrt_cuda_df11_matmul(dfrt_cuda_ctx *ctx, const dfrt_df11_matmul_args *a) {
    const dfrt_device_df11 *u = a->unit;
    MatmulArgs p = matmul_args(a->y, a->x, a->bias, a->m, a->n, a->k);
    const SegUnit su = seg_unit(u);
    const int cc = ctx->compute_capability;
    const bool seg_rows = p.k % kSegWeights == 0 && a->first % kSegWeights == 0; // rows of whole segments
    if (seg_rows && tc_shape(p.m, p.k, cc)) { // gemv_tc's twin (use_gemv_tc holds for the decoded rows)
        dfrt_status st = dfrt_cuda_scratch(ctx, xb_size(&p), "df11_matmul (a BF16 copy of X)");
        if (st != DFRT_OK) return st;
        const uint16_t *xb = static_cast<const uint16_t *>(ctx->scratch);
        cudaError_t e = convert_x(&p, static_cast<uint16_t *>(ctx->scratch), ctx->stream);
        if (e == cudaSuccess)
            e = p.m <= 8 ? launch_df11_gemv_tc<1>(su, a->first, xb, &p, ctx->sm_count, ctx->stream)
                         : launch_df11_gemv_tc<2>(su, a->first, xb, &p, ctx->sm_count, ctx->stream);
        return dfrt_cuda_check(e, "df11_matmul", __FILE__, __LINE__);
    }
    if (p.m <= 8 && seg_rows && aligned(p.x, 16)) { // gemv_vec's twin
        cudaError_t e;
        switch (p.m) {
        case 1: e = launch_df11_gemv<1>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        case 2: e = launch_df11_gemv<2>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        case 3: e = launch_df11_gemv<3>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        case 4: e = launch_df11_gemv<4>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        case 5: e = launch_df11_gemv<5>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        case 6: e = launch_df11_gemv<6>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        case 7: e = launch_df11_gemv<7>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        default: e = launch_df11_gemv<8>(su, a->first, &p, ctx->sm_count, ctx->stream); break;
        }
        return dfrt_cuda_check(e, "df11_matmul", __FILE__, __LINE__);
    }
    // Pieces of whole rows, each multiplied as matmul would multiply the decoded matrix: X as
    // BF16 (tensor-core paths) at the start of the scratch, the piece after it, then the GEMM's
    // split partial sums (split as matmul splits the whole matrix).
    const uint64_t k = (uint64_t)p.k, n = (uint64_t)p.n;
    uint64_t piece_rows = kPieceWeights / k;
    if (piece_rows < 1) piece_rows = 1;
    if (piece_rows > n) piece_rows = n;
    const bool tc = tc_shape(p.m, p.k, cc); // use_gemv_tc: the pieces are aligned
    const bool bf16_x = tc || p.m > 8;
    const bool sm90 = cc == 90;
    const GemmSplit g = p.m > 8 && !tc && sm90 ? gemm_split(p.m, p.n, p.k, ctx->sm_count) : GemmSplit{1, 0};
    const size_t xb_bytes = bf16_x ? xb_size(&p) : 0;
    const size_t piece_bytes = (piece_rows * k * 2 + 255) / 256 * 256;
    dfrt_status st = dfrt_cuda_scratch(ctx, xb_bytes + piece_bytes + split_bytes(g, p.m, (int)piece_rows),
                                       "df11_matmul (decoded rows)");
    if (st != DFRT_OK) return st;
    uint16_t *xb = static_cast<uint16_t *>(ctx->scratch);
    uint16_t *piece = reinterpret_cast<uint16_t *>(static_cast<char *>(ctx->scratch) + xb_bytes);
    float *work = reinterpret_cast<float *>(static_cast<char *>(ctx->scratch) + xb_bytes + piece_bytes);
    cudaError_t e = bf16_x ? convert_x(&p, xb, ctx->stream) : cudaSuccess;
    for (uint64_t r0 = 0; r0 < n && e == cudaSuccess; r0 += piece_rows) {
        const uint64_t rows = r0 + piece_rows <= n ? piece_rows : n - r0;
        st = dfrt_cuda_df11_decode_range(ctx, u, a->first + r0 * k, a->first + (r0 + rows) * k, piece);
        if (st != DFRT_OK) return st;
        MatmulArgs q = p;
        q.w = piece;
        q.n = (int)rows;
        q.y = p.y + r0;
        q.bias = p.bias ? p.bias + r0 : nullptr;
        e = tc ? launch_gemv_tc(&q, xb, ctx->stream)
               : p.m > 8 ? run_gemm(&q, xb, sm90, g, work, ctx->stream) : run_gemv(&q, ctx->sm_count, ctx->stream);
    }
    return dfrt_cuda_check(e, "df11_matmul", __FILE__, __LINE__);
}
