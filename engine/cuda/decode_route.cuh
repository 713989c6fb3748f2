// The expert choice of one token by one warp of a decode kernel, with route_token's formulas
// (engine/cpu/router.cpp): softmax or sigmoid scores (+ bias for the choice), grouped top-k, renormalised and
// scaled weights. Used by the feed-forward kernel (decode_ffn.cu).
//
// Every step is on one warp's critical path while the FFN's other warps wait for the routing (layers without
// a shared expert), so each lane keeps its experts (lane, lane + 32, ...) in registers, the max is one
// redux.sync and each top-k round two (the largest value, then the lowest id holding it), and the chosen
// weights are read and scaled by their own lanes at once (cuda_decode_notes, versions 84-85).
#pragma once

#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"

namespace moe::cuda {

// Experts a lane holds in registers. Eight add no spills to the FFN kernel's variants; sixteen (512 experts)
// made its wider ones spill in every form tried (inlined, a second instantiation, or a call for the larger
// counts only).
constexpr int kRouteRegs = kMaxExperts / 32;
static_assert(kMaxExperts % 32 == 0 && kRouteRegs <= 8, "eight experts a lane at most");

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

// Float to unsigned in the same order (for the warp's integer max): negatives reversed, below positives.
__device__ __forceinline__ uint32_t ordered_bits(float v) {
  const uint32_t b = __float_as_uint(v);
  return b & 0x80000000u ? ~b : b | 0x80000000u;
}
__device__ __forceinline__ float from_ordered_bits(uint32_t b) {
  return __uint_as_float(b & 0x80000000u ? b & 0x7fffffffu : ~b);
}

// Keeps the topk_group best groups of experts (by their best score, or the sum of their best two) and sets
// every other expert's choice value c to 0.0, through `choice` in shared memory.
__device__ inline void mask_groups(const RouterArgs& a, float (&c)[kRouteRegs], float* choice) {
  const int lane = threadIdx.x & 31, E = a.num_experts;
#pragma unroll
  for (int j = 0; j < kRouteRegs; ++j)
    if (lane + 32 * j < E) choice[lane + 32 * j] = c[j];
  __syncwarp();
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
#pragma unroll
  for (int j = 0; j < kRouteRegs; ++j)
    if (lane + 32 * j < E && !(kept_groups >> ((lane + 32 * j) / per) & 1u)) c[j] = 0.0f;
}

// Expert choice of one token by one warp, with route_token's formulas (engine/cpu/router.cpp): the scores'
// sum in double, the chosen weights summed in float in the order chosen. `logits` [E] and `scores` [E]
// (written) are in shared memory, `choice` [E] is scratch for grouped routing.
__device__ inline void route_warp(const RouterArgs& a, const float* logits, float* scores, float* choice) {
  const int lane = threadIdx.x & 31, E = a.num_experts;
  float c[kRouteRegs];
  float mx = -INFINITY;
#pragma unroll
  for (int j = 0; j < kRouteRegs; ++j) {
    c[j] = lane + 32 * j < E ? logits[lane + 32 * j] : -INFINITY;
    mx = fmaxf(mx, c[j]);
  }
  mx = from_ordered_bits(__reduce_max_sync(kFullMask, ordered_bits(mx)));
  double sum = 0.0;  // in double, as route_token sums
#pragma unroll
  for (int j = 0; j < kRouteRegs; ++j)
    if (lane + 32 * j < E) {
      c[j] = a.sigmoid ? sigmoid(c[j]) : expf(c[j] - mx);
      sum += c[j];
    }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    sum += __shfl_xor_sync(kFullMask, sum, o);
#pragma unroll
  for (int j = 0; j < kRouteRegs; ++j) {
    const int e = lane + 32 * j;
    if (e < E) {
      const float s = a.sigmoid ? c[j] : float(c[j] / sum);
      scores[e] = s;
      const float v = s + (a.score_bias ? a.score_bias[e] : 0.0f);
      // NaN (from a non-finite input) as -inf: the arg-max needs ordered values to agree on a valid expert
      // in every lane (the step then reports the non-finite output, SampleOut::nonfinite_ffn).
      c[j] = v == v ? v : -INFINITY;
    }
  }
  if (a.n_group > 1) mask_groups(a, c, choice);
  // Top-k: per round each lane's best expert not yet taken (ties to the lower id), then the warp's largest
  // value and the lowest id holding it.
  uint32_t taken = 0;  // bit j: expert lane + 32 j already chosen
  int mine = 0;        // lane i < top_k: the i-th expert chosen
  for (int i = 0; i < a.top_k; ++i) {
    float v = -INFINITY;
    int idx = 1 << 30;
#pragma unroll
    for (int j = 0; j < kRouteRegs; ++j)
      if (lane + 32 * j < E && !(taken >> j & 1u) && (c[j] > v || idx == 1 << 30)) {
        v = c[j];
        idx = lane + 32 * j;
      }
    // (+ 0.0f: -0 as +0, as the float comparison ties them)
    const uint32_t key = ordered_bits(v + 0.0f), best = __reduce_max_sync(kFullMask, key);
    const int chosen = int(__reduce_min_sync(kFullMask, key == best ? uint32_t(idx) : 1u << 30));
    if ((chosen & 31) == lane) taken |= 1u << (chosen >> 5);
    if (lane == i) mine = chosen;
  }
  __syncwarp();  // the scores' stores before the chosen lanes read them
  const float w = lane < a.top_k ? scores[mine] : 0.0f;
  float w_sum = 0.0f;
  for (int i = 0; i < a.top_k; ++i)
    w_sum += __shfl_sync(kFullMask, w, i);
  const float div = a.normalize ? w_sum + a.normalize_eps : 1.0f;
  if (lane < a.top_k) {
    a.experts[lane] = mine;
    a.weights[lane] = w / div * a.scale;
  }
}

}  // namespace moe::cuda
