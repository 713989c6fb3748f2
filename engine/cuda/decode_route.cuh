// The expert choice of one token by one warp of a decode kernel, with route_token's formulas
// (engine/cpu/router.cpp): softmax or sigmoid scores (+ bias for the choice), grouped top-k, renormalised and
// scaled weights. Used by the feed-forward kernel (decode_ffn.cu).
#pragma once

#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"

namespace moe::cuda {

// Arg-max over the warp of (v, idx): the largest value, ties to the lower index; every lane gets it.
__device__ __forceinline__ void warp_argmax(float& v, int& idx) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(kFullMask, v, o);
    const int oi = __shfl_xor_sync(kFullMask, idx, o);
    if (ov > v || (ov == v && oi < idx)) {
      v = ov;
      idx = oi;
    }
  }
}

// Expert choice of one token by one warp, with route_token's formulas (engine/cpu/router.cpp).
__device__ inline void route_warp(const RouterArgs& a, const float* logits, float* scores, float* choice) {
  const int lane = threadIdx.x & 31;
  const int E = a.num_experts;
  float mx = -INFINITY;
  for (int e = lane; e < E; e += 32)
    mx = fmaxf(mx, logits[e]);
  mx = warp_max(mx);
  double sum = 0.0;  // in double, as route_token sums
  for (int e = lane; e < E; e += 32) {
    const float l = logits[e];
    const float s = a.sigmoid ? sigmoid(l) : expf(l - mx);
    scores[e] = s;
    sum += s;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    sum += __shfl_xor_sync(kFullMask, sum, o);
  for (int e = lane; e < E; e += 32) {
    if (!a.sigmoid) scores[e] = float(scores[e] / sum);
    const float c = scores[e] + (a.score_bias ? a.score_bias[e] : 0.0f);
    // NaN (from a non-finite input) as -inf: the warp arg-max needs ordered values to agree on a valid
    // expert in every lane (the step then reports the non-finite output, SampleOut::nonfinite_ffn).
    choice[e] = c == c ? c : -INFINITY;
  }
  __syncwarp();
  if (a.n_group > 1) {
    // Group scores (max, or sum of the best two), the best topk_group groups kept, the rest set to 0.0.
    const int per = E / a.n_group;
    float gscore = -INFINITY;
    if (lane < a.n_group) {
      float b1 = -INFINITY, b2 = -INFINITY;
      for (int i = 0; i < per; ++i) {
        const float v = choice[lane * per + i];
        if (v > b1) {
          b2 = b1;
          b1 = v;
        } else if (v > b2) {
          b2 = v;
        }
      }
      gscore = a.group_top2_sum ? b1 + b2 : b1;
    }
    bool kept = false;
    for (int round = 0; round < a.topk_group; ++round) {
      float v = lane < a.n_group && !kept ? gscore : -INFINITY;
      int idx = lane < a.n_group && !kept ? lane : 1 << 30;
      warp_argmax(v, idx);
      if (lane == idx) kept = true;
    }
    const uint32_t kept_groups = __ballot_sync(kFullMask, kept);
    for (int e = lane; e < E; e += 32)
      if (!(kept_groups >> (e / per) & 1u)) choice[e] = 0.0f;
    __syncwarp();
  }
  // Top-k by rounds of a warp arg-max; ties go to the lower id.
  uint32_t taken = 0;  // bit j: expert lane + 32 j already chosen
  float w_sum = 0.0f;
  for (int i = 0; i < a.top_k; ++i) {
    float v = -INFINITY;
    int idx = 1 << 30;
    for (int j = 0, e = lane; e < E; ++j, e += 32)
      if (!(taken >> j & 1u) && (choice[e] > v || idx == (1 << 30))) {
        v = choice[e];
        idx = e;
      }
    warp_argmax(v, idx);
    if ((idx & 31) == lane) taken |= 1u << (idx >> 5);
    const float w = scores[idx];
    w_sum += w;
    if (lane == 0) {
      a.experts[i] = idx;
      a.weights[i] = w;
    }
  }
  __syncwarp();
  if (lane == 0) {
    const float div = a.normalize ? w_sum + a.normalize_eps : 1.0f;
    for (int i = 0; i < a.top_k; ++i)
      a.weights[i] = a.weights[i] / div * a.scale;
  }
}

}  // namespace moe::cuda
