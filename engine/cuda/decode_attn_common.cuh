// Device helpers of the decode attention kernels (decode_attention.cu) and the MLA kernels (decode_mla.cu):
// rotary embedding in shared memory and a block-wide sum of squares for the q/k and latent norms.
#pragma once

#include <cmath>

#include "cuda/decode_common.cuh"

namespace moe::cuda {

constexpr int kMaxHead = 1024;  // head, rotary and value sizes the decode attention kernels take

// cos and sin of pair i at position `pos`, scaled.
__device__ __forceinline__ float2 rope_factor(int i, int pos, const float* inv_freq, float scale) {
  const float angle = float(pos) * inv_freq[i];  // float32 product, as transformers forms it
  return make_float2(float(cos(double(angle))) * scale, float(sin(double(angle))) * scale);
}

// Rotates pairs of v (shared memory) in place for position `pos`; all threads call it.
__device__ inline void rope_inplace(float* v, int rot, int pos, const float* inv_freq, float scale,
                                    bool interleaved) {
  const int half = rot / 2;
  __syncthreads();
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float2 f = rope_factor(i, pos, inv_freq, scale);
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float x0 = v[ia], x1 = v[ib];
    v[ia] = x0 * f.x - x1 * f.y;
    v[ib] = x1 * f.x + x0 * f.y;
  }
  __syncthreads();
}

// The rotary factors of position `pos` for `rot` dimensions: cos into cs[0, rot / 2), sin after them.
__device__ inline void rope_factors(float* cs, int rot, int pos, const float* inv_freq, float scale) {
  const int half = rot / 2;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float2 f = rope_factor(i, pos, inv_freq, scale);
    cs[i] = f.x;
    cs[half + i] = f.y;
  }
}

// Rotates pairs of v (shared memory) in place with factors from rope_factors; all threads call it.
__device__ inline void rope_apply(float* v, int rot, const float* cs, bool interleaved) {
  const int half = rot / 2;
  __syncthreads();
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float c = cs[i], s = cs[half + i];
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float x0 = v[ia], x1 = v[ib];
    v[ia] = x0 * c - x1 * s;
    v[ib] = x1 * c + x0 * s;
  }
  __syncthreads();
}

// Sum of squares of n floats (global or shared memory), by the whole block.
__device__ inline float block_sum_squares(const float* x, int n, float* scratch) {
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    ss = fmaf(x[i], x[i], ss);
  return block_sum(ss, scratch);
}

}  // namespace moe::cuda
