// Decode-step GEMVs (see decode_kernels.h): persistent grids with the RMSNorm of their input folded in; for
// residual-adding matrices with few rows (the O projection), one row per warp loaded before the wait for the
// previous kernel when the row has 2,048 or 4,096 columns, else a split-K variant whose pieces a reduce adds
// in a fixed order. No atomics: graph replay = eager, bit for bit. The plain GEMV after an FFN block (the
// next layer's QKV, the output head) adds that block's fixed-point output to its input as it loads it.
#include <algorithm>
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

constexpr int kWarps = 8;        // warps per block of the GEMV-like kernels
constexpr int kBlocksPerSm = 2;  // resident blocks of a persistent grid (registers capped to fit)

__device__ __forceinline__ void warp_dot_2rows(const bf16* ra, const bf16* rb, const float* xs, int64_t n,
                                               float& a, float& b) {
  warp_dot_2(ra, xs, n, rb, xs, n, a, b);
}

// Persistent: a grid of about two blocks per SM loads (and normalises) the input once per block, then each
// warp walks its rows two at a time, so eight 16-byte loads per lane are in flight.
// V: float4s of the input vector per thread (load_input); the narrow variant (inputs up to 2,048) has the
// registers to issue its first row pair's loads before the wait.
template <bool Add, int V>
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm) gemv_kernel(GemvArgs a) {
  // Before the wait: the norm weights go to L2, and (narrow variant) each warp's first row pair's first eight
  // loads per lane go to registers (4 KB a warp, issued as blocks of this kernel become resident in the
  // previous one's tail: +1.6 % on Qwen1.5-MoE, version 47). Prefetching rows into L2 instead, every warp's
  // first two rows, cost 2-3 % per step (version 45).
  const int64_t stride = int64_t(gridDim.x) * kWarps;
  const int64_t r0 = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  // The first row pair's first loads do not depend on the previous kernel: issued before its wait.
  PreLoad pre;
  const bool early = V <= 2 && r0 + stride < a.rows && a.cols >= 1024 && a.cols % 8 == 0 &&
                     (reinterpret_cast<uintptr_t>(a.w) & 15) == 0;
  if (early) preload_pair(a.w + r0 * a.cols, a.w + (r0 + stride) * a.cols, pre);
  pdl_begin_prefetching(nullptr, nullptr, 0, a.norm_w, a.cols);
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  load_input<V>(xs, a.x, a.cols, a.norm_w, a.eps, scratch, a.ffn, a.x_out);
  const bool lead = (threadIdx.x & 31) == 0;
  // The bias is loaded before the row's dot product, so that its round trip is not added after it.
  auto bias = [&](int64_t r) { return lead && a.bias ? a.bias[r] : 0.0f; };
  auto store = [&](int64_t r, float acc, float b) { a.y[r] = Add ? a.y[r] + (acc + b) : acc + b; };
  for (int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < a.rows; r += 2 * stride) {
    const int64_t r2 = r + stride;
    if (r2 < a.rows) {
      const float b1 = bias(r), b2 = bias(r2);
      float v1, v2;
      if (early && r == r0)
        warp_dot_2_pre(a.w + r * a.cols, a.w + r2 * a.cols, xs, a.cols, pre, v1, v2);
      else
        warp_dot_2rows(a.w + r * a.cols, a.w + r2 * a.cols, xs, a.cols, v1, v2);
      if (lead) {
        store(r, v1, b1);
        store(r2, v2, b2);
      }
    } else {
      const float b1 = bias(r);
      const float v = warp_dot_row(a.w + r * a.cols, xs, a.cols);
      if (lead) store(r, v, b1);
    }
  }
}

// Split-K GEMV for matrices with few rows (the O projection): unit u = (piece, row) computes the dot of
// one row over one piece of the columns into part[piece][row]; reduce_add_kernel then adds the pieces (in
// a fixed order) into y. Spreads a 2048-row matrix over all SMs instead of one wave of 128 blocks.
__global__ void __launch_bounds__(kWarps * 32)
    gemv_split_kernel(GemvArgs a, int pieces, int64_t piece, float* part) {
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  const int64_t units = int64_t(pieces) * a.rows, stride = int64_t(gridDim.x) * kWarps;
  auto unit = [&](int64_t u, const bf16*& w, const float*& x, int64_t& n) {
    const int64_t p = u / a.rows, r = u % a.rows, c0 = p * piece;
    w = a.w + r * a.cols + c0;
    x = xs + c0;
    n = min(piece, a.cols - c0);
  };
  {  // the weights do not depend on the previous kernel: a warp's first two units go to L2 before the wait
    const int64_t u = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5), u2 = u + stride;
    const bf16 *w1 = nullptr, *w2 = nullptr;
    const float* x;
    int64_t n1 = 0, n2 = 0;
    if (u < units) unit(u, w1, x, n1);
    if (u2 < units) unit(u2, w2, x, n2);
    pdl_begin_prefetching(w1, w2, std::max(n1, n2), a.norm_w, a.cols);
  }
  load_input(xs, a.x, a.cols, a.norm_w, a.eps, scratch);
  for (int64_t u = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); u < units; u += 2 * stride) {
    const int64_t u2 = u + stride < units ? u + stride : u;
    const bf16 *w1, *w2;
    const float *x1, *x2;
    int64_t n1, n2;
    unit(u, w1, x1, n1);
    unit(u2, w2, x2, n2);
    float v1, v2;
    warp_dot_2(w1, x1, n1, w2, x2, n2, v1, v2);
    if ((threadIdx.x & 31) == 0) {
      part[u] = v1;
      part[u2] = v2;
    }
  }
}

// y[r] += sum over pieces of part[piece][r] (+ bias[r]). The loop has a fixed bound so that every load is
// issued before the first add (one round trip instead of one per piece).
__global__ void reduce_add_kernel(float* y, const float* part, int pieces, int64_t rows, const float* bias) {
  pdl_begin();
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  float v[kMaxSplitPieces];
#pragma unroll
  for (int p = 0; p < kMaxSplitPieces; ++p)
    v[p] = p < pieces ? part[p * rows + r] : 0.0f;
  const float y0 = y[r];
  float acc = bias ? bias[r] : 0.0f;
#pragma unroll
  for (int p = 0; p < kMaxSplitPieces; ++p)
    if (p < pieces) acc += v[p];
  y[r] = y0 + acc;
}

// Residual-adding GEMV of one row per warp whose row (kLoads * 256 columns) is loaded into registers before
// the wait for the previous kernel: the weights do not depend on it, so their DRAM round trip overlaps the
// attention kernels, and after the wait only the input vector's L2 round trip and the dot remain. No split
// pieces and no reduce kernel (the O projection: 2,048 rows cover one wave of warps).
template <int kLoads>
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm) gemv_row_add_kernel(GemvArgs a) {
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  const int lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  uint4 w[kLoads];
  float bias = 0.0f;
  if (r < a.rows) {
    const bf16* row = a.w + r * a.cols + lane * 8;
#pragma unroll
    for (int k = 0; k < kLoads; ++k)
      w[k] = load_weights8(row + 256 * k);
    if (a.bias && lane == 0) bias = a.bias[r];
  }
  pdl_begin();
  if (a.x_fixed) {
#pragma unroll 8
    for (int64_t i = threadIdx.x; i < a.cols; i += blockDim.x)
      xs[i] = load_fixed(a.x_fixed, i);
    __syncthreads();
  } else {
    load_input<(kLoads + 3) / 4>(xs, a.x, a.cols, nullptr, 0.0f, scratch);
  }
  if (r >= a.rows) return;
  float acc = 0.0f;
#pragma unroll
  for (int k = 0; k < kLoads; ++k)
    acc += dot8(w[k], xs + lane * 8 + 256 * k);
  acc = warp_sum(acc);
  if (lane == 0) a.y[r] += acc + bias;
}

// Persistent grids: kBlocksPerSm blocks per SM at most (each block loads its input vector once), fewer for
// small matrices (a warp per row pair).
unsigned blocks_for(int64_t rows) {
  return unsigned(std::max<int64_t>(
      1, std::min<int64_t>((rows + 2 * kWarps - 1) / (2 * kWarps), int64_t(kBlocksPerSm) * sm_count())));
}

}  // namespace

void prepare_gemv_kernels(size_t max_smem) {
  for (const void* k : {reinterpret_cast<const void*>(gemv_kernel<false, 2>),
                        reinterpret_cast<const void*>(gemv_kernel<true, 2>),
                        reinterpret_cast<const void*>(gemv_kernel<false, kInputVectors>),
                        reinterpret_cast<const void*>(gemv_kernel<true, kInputVectors>),
                        reinterpret_cast<const void*>(gemv_split_kernel),
                        reinterpret_cast<const void*>(gemv_row_add_kernel<8>),
                        reinterpret_cast<const void*>(gemv_row_add_kernel<16>)}) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(max_smem)));
    prefer_max_shared(k);
  }
  prefer_max_shared(reduce_add_kernel);
}

bool gemv_row_add_takes(int64_t cols, const bf16* w) {
  return (cols == 2048 || cols == 4096) && (reinterpret_cast<uintptr_t>(w) & 15) == 0;
}

void launch_gemv(const GemvArgs& a, bool add, cudaStream_t s, float* split_part) {
  const size_t smem = sizeof(float) * size_t(a.cols);
  const int pieces = add && split_part ? split_pieces(a.rows, a.cols) : 1;
  // Residual-adding projections of 2,048 or 4,096 columns (the O projection): one row per warp.
  const bool row_add = add && !a.norm_w && gemv_row_add_takes(a.cols, a.w);
  if (a.ffn && add) throw Error("launch_gemv: a residual-adding GEMV with an FFN input");
  if (a.x_fixed && !row_add) throw Error("launch_gemv: a fixed-point input of " + std::to_string(a.cols));
  if (row_add) {
    const unsigned blocks = unsigned((a.rows + kWarps - 1) / kWarps);
    if (a.cols == 2048)
      launch_pdl(gemv_row_add_kernel<8>, blocks, kWarps * 32, smem, s, a);
    else
      launch_pdl(gemv_row_add_kernel<16>, blocks, kWarps * 32, smem, s, a);
  } else if (pieces > 1) {
    const int64_t piece = (a.cols / pieces + 7) / 8 * 8;
    launch_pdl(gemv_split_kernel, blocks_for(pieces * a.rows), kWarps * 32, smem, s, a, pieces, piece,
               split_part);
    MOE_CUDA_LAUNCHED();
    launch_pdl(reduce_add_kernel, unsigned((a.rows + 255) / 256), 256, 0, s, a.y, split_part, pieces, a.rows,
               a.bias);
  } else {
    const bool narrow = a.cols <= int64_t(kWarps) * 32 * 4 * 2;
    auto kernel = add ? (narrow ? gemv_kernel<true, 2> : gemv_kernel<true, kInputVectors>)
                      : (narrow ? gemv_kernel<false, 2> : gemv_kernel<false, kInputVectors>);
    launch_pdl(kernel, blocks_for(a.rows), kWarps * 32, smem, s, a);
  }
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
