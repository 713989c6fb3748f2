// The MLA decode kernels (see decode_kernels.h): the latent's preparation (norm, rotated shared key into the
// cache, normalised q_a for q_b), the absorbed query (q_nope times each head's key up-projection, so that
// the cache holds only the compressed latent) and the value up-projection where the merge does not apply it
// (mla_merge_value_kernel in decode_attention.cu does, where mla_value_fusable says so). Flash-decoding
// runs through decode_attention.cu's kernel as one KV head of width r + rope.
#include <cstdint>
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/decode_attn_common.cuh"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

// MLA: the normalised latent and the rotated shared key into the cache; the normalised q_a for q_b. One
// block (after the wait for the projection).
__device__ void mla_prep(const MlaPrepArgs& a) {
  __shared__ float kpe[kMaxHead];
  __shared__ float scratch[33];
  const int pos = a.params->pos;
  const float* c = a.qkv + a.q_rows;
  bf16* row = a.k_cache + int64_t(pos) * (a.r + a.rope);
  {
    const float inv = float(1.0 / sqrt(double(block_sum_squares(c, a.r, scratch)) / a.r + double(a.eps)));
    for (int i = threadIdx.x; i < a.r; i += blockDim.x)
      row[i] = __float2bfloat16(a.kv_a_norm[i] * (c[i] * inv));
  }
  for (int i = threadIdx.x; i < a.rope; i += blockDim.x)
    kpe[i] = c[a.r + i];
  rope_inplace(kpe, a.rope, pos, a.inv_freq, a.cos_sin_scale, a.interleaved);
  for (int i = threadIdx.x; i < a.rope; i += blockDim.x)
    row[a.r + i] = __float2bfloat16(kpe[i]);
  if (a.q_lora > 0) {
    const float inv =
        float(1.0 / sqrt(double(block_sum_squares(a.qkv, a.q_lora, scratch)) / a.q_lora + double(a.eps)));
    for (int i = threadIdx.x; i < a.q_lora; i += blockDim.x)
      a.q_a_out[i] = a.q_a_norm[i] * (a.qkv[i] * inv);
  }
}

constexpr int kMlaThreads = 256;
__global__ void __launch_bounds__(kMlaThreads) mla_prep_kernel(MlaPrepArgs a) {
  pdl_begin();
  mla_prep(a);
}

// nh * ceil(r / kMlaCols) blocks (+ 1 with the preparation folded in) of kMlaThreads threads: block
// h * ceil(r / kMlaCols) + c forms q[h, j] = sum_i q_nope[h, i] * kv_b[h (nope + vd) + i, j] for kMlaCols
// columns j. Thread t takes 8 columns (16 bytes) of rows t / 8, t / 8 + kMlaSlices, ..., all its loads in
// flight at once, and the slices are summed in a fixed order. Block (h, 0) also rotates q_pe into q[h, r ..];
// the last block, when MlaQueryArgs::prep is set, does mla_prep_kernel's work beside the heads (the query
// does not need it).
constexpr int kMlaCols = 64, kMlaSlices = kMlaThreads / (kMlaCols / 8);
__global__ void __launch_bounds__(kMlaThreads) mla_query_kernel(MlaQueryArgs a) {
  pdl_begin();
  const int cols = (a.r + kMlaCols - 1) / kMlaCols;
  const int h = int(blockIdx.x) / cols, col = int(blockIdx.x) % cols;
  if (h == a.nh) {
    mla_prep(a.prep);
    return;
  }
  __shared__ float qn[kMaxHead];
  __shared__ float part[kMlaSlices][kMlaCols + 1];
  const int hd = a.nope + a.rope;
  const float* qh = a.q_full + int64_t(h) * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x)
    qn[i] = qh[i];
  __syncthreads();
  const int cg = threadIdx.x % (kMlaCols / 8), slice = threadIdx.x / (kMlaCols / 8);
  const int c0 = col * kMlaCols + cg * 8;
  const bf16* w = a.kv_b + int64_t(h) * (a.nope + a.vd) * a.r;
  float acc[8] = {};
  if (a.r % 8 == 0 && (reinterpret_cast<uintptr_t>(a.kv_b) & 15) == 0) {
    if (c0 < a.r) {
#pragma unroll 4
      for (int i = slice; i < a.nope; i += kMlaSlices) {
        float f[8];
        unpack8(__ldg(reinterpret_cast<const uint4*>(w + int64_t(i) * a.r + c0)), f);
#pragma unroll
        for (int k = 0; k < 8; ++k)
          acc[k] = fmaf(qn[i], f[k], acc[k]);
      }
    }
  } else {  // odd latent sizes: element by element
    for (int i = slice; i < a.nope; i += kMlaSlices)
#pragma unroll
      for (int k = 0; k < 8; ++k)
        if (c0 + k < a.r) acc[k] = fmaf(qn[i], __bfloat162float(w[int64_t(i) * a.r + c0 + k]), acc[k]);
  }
#pragma unroll
  for (int k = 0; k < 8; ++k)
    part[slice][cg * 8 + k] = acc[k];
  __syncthreads();
  float* out = a.q + int64_t(h) * (a.r + a.rope);
  const int c = col * kMlaCols + threadIdx.x;
  if (threadIdx.x < kMlaCols && c < a.r) {
    float sum = 0.0f;
    for (int k = 0; k < kMlaSlices; ++k)
      sum += part[k][threadIdx.x];
    out[c] = sum;
  }
  if (col == 0) {
    rope_inplace(qn + a.nope, a.rope, a.params->pos, a.inv_freq, a.cos_sin_scale, a.interleaved);
    for (int i = threadIdx.x; i < a.rope; i += blockDim.x)
      out[a.r + i] = qn[a.nope + i];
  }
}

// One warp per output row (h, i): out[h, i] = kv_b[h (nope + vd) + nope + i] . latent[h].
__global__ void __launch_bounds__(128) mla_value_kernel(MlaValueArgs a) {
  pdl_begin();
  const int64_t row = int64_t(blockIdx.x) * 4 + (threadIdx.x >> 5);
  if (row >= int64_t(a.nh) * a.vd) return;
  const int64_t h = row / a.vd, i = row % a.vd;
  const float acc = warp_dot_row(a.kv_b + (h * (a.nope + a.vd) + a.nope + i) * a.r, a.latent + h * a.r, a.r);
  if ((threadIdx.x & 31) == 0) a.out[row] = acc;
}

}  // namespace

void prepare_mla_kernels() {
  prefer_max_shared(mla_prep_kernel);
  prefer_max_shared(mla_query_kernel);
  prefer_max_shared(mla_value_kernel);
}

void launch_mla_prep(const MlaPrepArgs& a, cudaStream_t s) {
  if (a.rope > kMaxHead) throw Error("MLA: rotary size over 1024 is not supported");
  launch_pdl(mla_prep_kernel, 1, kMlaThreads, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_query(const MlaQueryArgs& a, cudaStream_t s) {
  if (a.nope + a.rope > kMaxHead) throw Error("MLA: head size over 1024 is not supported");
  if (a.prep.qkv && a.prep.rope > kMaxHead) throw Error("MLA: rotary size over 1024 is not supported");
  const int64_t cols = (a.r + kMlaCols - 1) / kMlaCols;
  const unsigned blocks = unsigned(a.nh * cols + (a.prep.qkv ? 1 : 0));
  launch_pdl(mla_query_kernel, blocks, kMlaThreads, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_value(const MlaValueArgs& a, cudaStream_t s) {
  launch_pdl(mla_value_kernel, unsigned((int64_t(a.nh) * a.vd + 3) / 4), 128, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

bool mla_value_fusable(int64_t r, int64_t vd, const bf16* kv_b) {
  return r % 32 == 0 && vd <= 128 && (reinterpret_cast<uintptr_t>(kv_b) & 15) == 0;
}

}  // namespace moe::cuda
