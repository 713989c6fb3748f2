// The flash-decoding merge fused with the attention output projection (see decode_kernels.h). Block
// (head h, chunk c) merges head h's splits (its 128 values, into shared memory) and multiplies them by the
// 128 columns of the output projection that belong to head h, for the chunk's rows; the heads' parts of a
// row meet in the layer's attention output as int64 sums in units of 2^-32 (integer atomics: the same sum in
// any order, so graph replay = eager, bit for bit), which the FFN kernel adds to the residual as it loads it.
// The block's weights (16 bytes per lane and row) are loaded into registers before the wait for the
// flash-decoding kernel: after it only the partials' L2 round trip, the merge and the dots remain. This
// replaces a merge kernel, the kernel boundary after it and the projection's load of the merged vector.
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "cuda/decode_split.cuh"
#include "moe/error.h"

namespace moe::cuda {
namespace {

constexpr int kHeadValues = 128;  // values per head the fused kernel takes: 16 lanes x 8
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kBlocksPerSm = 2;
// A warp's first splits (warp, warp + 8, ...) whose values are loaded with the maxima: one L2 round trip
// for up to 8 * kPrefetch splits.
constexpr int kPrefetch = 5;

// kLoads rows per half-warp: a block covers 16 * kLoads rows of one head.
template <int kLoads>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) attn_output_kernel(AttnDecodeArgs a) {
  __shared__ float weight[kMaxSplits];
  __shared__ __align__(16) float part[kWarps][kHeadValues];
  __shared__ __align__(16) float merged[kHeadValues];
  __shared__ float scratch[33];
  const int h = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, sub = lane & 15;
  const int64_t cols = int64_t(a.nh) * kHeadValues;
  // Row of load k: row0 + 2k (the two half-warps take alternate rows).
  const int64_t row0 = int64_t(blockIdx.y) * (16 * kLoads) + warp * (2 * kLoads) + (lane >> 4);
  uint4 w[kLoads];
#pragma unroll
  for (int k = 0; k < kLoads; ++k) {
    const int64_t r = row0 + 2 * k;
    w[k] =
        r < a.o_rows ? load_weights8(a.o_w + r * cols + h * kHeadValues + sub * 8) : make_uint4(0, 0, 0, 0);
  }
  // Lane `sub` (< kLoads) of a half-warp writes the row of the half-warp's load `sub`, bias included (head
  // 0 only).
  const int64_t my_row = row0 + 2 * sub;
  const float bias = h == 0 && a.o_bias && sub < kLoads && my_row < a.o_rows ? a.o_bias[my_row] : 0.0f;
  pdl_begin();

  int64_t first, chunk, n;
  split_plan(a, a.params->pos, first, chunk, n);
  const int64_t stride = int64_t(a.nh) * (kHeadValues + 2);
  const float* base = a.partial + int64_t(h) * (kHeadValues + 2);
  // Values of the warp's first splits (lane: values lane + 32q), the maxima and the sums, all at once.
  float value[kPrefetch][4];
#pragma unroll
  for (int k = 0; k < kPrefetch; ++k) {
    const int64_t i = warp + int64_t(kWarps) * k;
#pragma unroll
    for (int q = 0; q < 4; ++q)
      value[k][q] = i < n ? __ldcg(base + i * stride + lane + 32 * q) : 0.0f;
  }
  constexpr int kSums = kMaxSplits / kThreads;
  float sums[kSums], mx = -INFINITY;
#pragma unroll
  for (int k = 0; k < kSums; ++k) {
    const int64_t i = threadIdx.x + int64_t(kThreads) * k;
    const float m = i < n ? __ldcg(base + i * stride + kHeadValues) : -INFINITY;
    sums[k] = i < n ? __ldcg(base + i * stride + kHeadValues + 1) : 0.0f;
    if (i < n) weight[i] = m;
    mx = fmaxf(mx, m);
  }
  mx = warp_max(mx);
  if (lane == 0) scratch[warp] = mx;
  __syncthreads();
  float M = scratch[0];
#pragma unroll
  for (int k = 1; k < kWarps; ++k)
    M = fmaxf(M, scratch[k]);
  float l = 0.0f;
#pragma unroll
  for (int k = 0; k < kSums; ++k) {
    const int64_t i = threadIdx.x + int64_t(kThreads) * k;
    if (i < n) {
      const float e = expf(weight[i] - M);
      weight[i] = e;
      l += sums[k] * e;
    }
  }
  const float inv_l = 1.0f / block_sum(l, scratch);  // its barriers also publish weight[]
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
  for (int k = 0; k < kPrefetch; ++k) {
    const int64_t i = warp + int64_t(kWarps) * k;
    if (i < n)
#pragma unroll
      for (int q = 0; q < 4; ++q)
        acc[q] = fmaf(value[k][q], weight[i], acc[q]);
  }
#pragma unroll 2
  for (int64_t i = warp + int64_t(kWarps) * kPrefetch; i < n; i += kWarps) {
    const float e = weight[i];
#pragma unroll
    for (int q = 0; q < 4; ++q)
      acc[q] = fmaf(__ldcg(base + i * stride + lane + 32 * q), e, acc[q]);
  }
#pragma unroll
  for (int q = 0; q < 4; ++q)
    part[warp][lane + 32 * q] = acc[q];
  __syncthreads();
  if (threadIdx.x < kHeadValues) {
    float v = part[0][threadIdx.x];
#pragma unroll
    for (int k = 1; k < kWarps; ++k)
      v += part[k][threadIdx.x];
    merged[threadIdx.x] = v * inv_l;
  }
  __syncthreads();

  // Each half-warp's rows: 16 lanes x 8 columns, summed over the half-warp.
  float mine = 0.0f;
#pragma unroll
  for (int k = 0; k < kLoads; ++k) {
    float v = dot8(w[k], merged + sub * 8);
#pragma unroll
    for (int o = 8; o > 0; o >>= 1)
      v += __shfl_xor_sync(kFullMask, v, o);
    if (sub == k) mine = v;
  }
  if (sub < kLoads && my_row < a.o_rows)
    atomicAdd(reinterpret_cast<unsigned long long*>(a.o_out + my_row),
              to_fixed(mine + bias, a.nonfinite, a.tag));
}

template <int kLoads>
unsigned chunks(int64_t rows) {
  return unsigned((rows + 16 * kLoads - 1) / (16 * kLoads));
}

}  // namespace

bool attn_output_fusable(int64_t vd, const bf16* o_w) {
  return vd == kHeadValues && (reinterpret_cast<uintptr_t>(o_w) & 15) == 0;
}

void launch_attn_output(const AttnDecodeArgs& a, cudaStream_t s) {
  if (!attn_output_fusable(a.vd, a.o_w)) throw Error("launch_attn_output: heads of " + std::to_string(a.vd));
  // 8 rows per half-warp while the grid fits in one wave, else 16.
  if (int64_t(a.nh) * chunks<8>(a.o_rows) <= int64_t(kBlocksPerSm) * sm_count())
    launch_pdl(attn_output_kernel<8>, dim3(unsigned(a.nh), chunks<8>(a.o_rows)), kThreads, 0, s, a);
  else
    launch_pdl(attn_output_kernel<16>, dim3(unsigned(a.nh), chunks<16>(a.o_rows)), kThreads, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void prepare_attn_output_kernels() {
  prefer_max_shared(attn_output_kernel<8>);
  prefer_max_shared(attn_output_kernel<16>);
}

}  // namespace moe::cuda
