// Decode-step kernels for the projections and the feed-forward block (see decode_kernels.h): a GEMV with
// the RMSNorm of its input folded in, the router with the expert choice done by the last block on the
// device, gate/up/SiLU over the chosen experts (and the shared expert) in one pass, and the weighted down
// projection of all of them added straight into the residual stream: each output row is owned by one warp,
// so no atomics are needed and the sum order is fixed.
#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"

namespace moe::cuda {
namespace {

constexpr int kWarps = 4;  // rows per block of the GEMV-like kernels (one per warp)

template <bool Add>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(GemvArgs a) {
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  load_input(xs, a.x, a.cols, a.norm_w, a.eps, scratch);
  const int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (r >= a.rows) return;
  float acc = warp_dot_row(a.w + r * a.cols, xs, a.cols);
  if ((threadIdx.x & 31) == 0) {
    if (a.bias) acc += a.bias[r];
    a.y[r] = Add ? a.y[r] + acc : acc;
  }
}

// Expert choice of one token by one warp, with route_token's formulas (engine/cpu/router.cpp).
__device__ void route_warp(const RouterArgs& a, const float* logits, float* scores, float* choice) {
  const int lane = threadIdx.x & 31;
  const int E = a.num_experts;
  float mx = -INFINITY;
  for (int e = lane; e < E; e += 32)
    mx = fmaxf(mx, __ldcg(logits + e));
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int e = lane; e < E; e += 32) {
    const float l = __ldcg(logits + e);
    const float s = a.sigmoid ? sigmoid(l) : expf(l - mx);
    scores[e] = s;
    sum += s;
  }
  sum = warp_sum(sum);
  for (int e = lane; e < E; e += 32) {
    if (!a.sigmoid) scores[e] /= sum;
    choice[e] = scores[e] + (a.score_bias ? a.score_bias[e] : 0.0f);
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
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(kFullMask, v, o);
        const int oi = __shfl_xor_sync(kFullMask, idx, o);
        if (ov > v || (ov == v && oi < idx)) {
          v = ov;
          idx = oi;
        }
      }
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
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFullMask, v, o);
      const int oi = __shfl_xor_sync(kFullMask, idx, o);
      if (ov > v || (ov == v && oi < idx)) {
        v = ov;
        idx = oi;
      }
    }
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

__global__ void __launch_bounds__(kWarps * 32) router_kernel(GemvArgs g, RouterArgs a) {
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  __shared__ bool last;
  __shared__ float scores[kMaxExperts], choice[kMaxExperts];
  load_input(xs, g.x, g.cols, g.norm_w, g.eps, scratch);
  const int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (r < g.rows) {
    const float acc = warp_dot_row(g.w + r * g.cols, xs, g.cols);
    if ((threadIdx.x & 31) == 0) g.y[r] = acc;
  }
  // The last block to finish chooses the experts (the others' logits are visible after the fence).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(a.counter, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  if (threadIdx.x < 32) {
    route_warp(a, g.y, scores, choice);
    if (threadIdx.x == 0) {
      if (a.shared_gate) g.y[a.num_experts] = sigmoid(__ldcg(g.y + a.num_experts));
      *a.counter = 0;
    }
  }
}

// Two rows at once (gate and up of the same neuron): twice the loads in flight of one row.
__device__ __forceinline__ void warp_dot_2rows(const bf16* ra, const bf16* rb, const float* xs, int64_t n,
                                               float& a, float& b) {
  const int lane = threadIdx.x & 31;
  float sa = 0.0f, sb = 0.0f;
  if ((n & 7) == 0) {
    int64_t c = int64_t(lane) * 8;
    for (; c + 256 < n; c += 512) {
      uint4 a0 = load_weights8(ra + c), a1 = load_weights8(ra + c + 256), b0 = load_weights8(rb + c),
            b1 = load_weights8(rb + c + 256);
      sa += dot8(a0, xs + c) + dot8(a1, xs + c + 256);
      sb += dot8(b0, xs + c) + dot8(b1, xs + c + 256);
    }
    for (; c < n; c += 256) {
      sa += dot8(load_weights8(ra + c), xs + c);
      sb += dot8(load_weights8(rb + c), xs + c);
    }
  } else {
    for (int64_t c = lane; c < n; c += 32) {
      sa = fmaf(__bfloat162float(ra[c]), xs[c], sa);
      sb = fmaf(__bfloat162float(rb[c]), xs[c], sb);
    }
  }
  a = warp_sum(sa);
  b = warp_sum(sb);
}

__global__ void __launch_bounds__(kWarps * 32) expert_up_kernel(FfnArgs a) {
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  load_input(xs, a.x, a.hidden, a.ffn_norm, a.eps, scratch);
  const int64_t row = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int64_t routed = int64_t(a.slots) * a.inter;
  if (row >= routed + a.always_inter) return;
  const bf16 *gate, *up;
  if (row < routed) {
    const int64_t slot = row / a.inter, i = row % a.inter;
    const int64_t e = a.experts[slot];
    gate = a.experts_gate + (e * a.inter + i) * a.hidden;
    up = a.experts_up + (e * a.inter + i) * a.hidden;
  } else {
    const int64_t i = row - routed;
    gate = a.always_gate + i * a.hidden;
    up = a.always_up + i * a.hidden;
  }
  float g, u;
  warp_dot_2rows(gate, up, xs, a.hidden, g, u);
  if ((threadIdx.x & 31) == 0) a.h[row] = silu(g) * u;
}

__global__ void __launch_bounds__(kWarps * 32) expert_down_kernel(FfnArgs a) {
  extern __shared__ float hs[];
  __shared__ float scratch[33];
  const int64_t routed = int64_t(a.slots) * a.inter;
  load_input(hs, a.h, routed + a.always_inter, nullptr, 0.0f, scratch);
  const int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (r >= a.hidden) return;
  float acc = 0.0f;
  for (int slot = 0; slot < a.slots; ++slot) {
    const int64_t e = a.experts[slot];
    acc += a.weights[slot] *
           warp_dot_row(a.experts_down + (e * a.hidden + r) * a.inter, hs + slot * a.inter, a.inter);
  }
  if (a.always_inter > 0) {
    const float g = a.always_scale ? *a.always_scale : 1.0f;
    acc += g * warp_dot_row(a.always_down + r * a.always_inter, hs + routed, a.always_inter);
  }
  if ((threadIdx.x & 31) == 0) a.y[r] += acc;
}

unsigned blocks_for(int64_t rows) {
  return unsigned((rows + kWarps - 1) / kWarps);
}

}  // namespace

void prepare_ffn_kernels(size_t max_smem) {
  for (const void* k :
       {reinterpret_cast<const void*>(gemv_kernel<false>), reinterpret_cast<const void*>(gemv_kernel<true>),
        reinterpret_cast<const void*>(router_kernel), reinterpret_cast<const void*>(expert_up_kernel),
        reinterpret_cast<const void*>(expert_down_kernel)})
    MOE_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(max_smem)));
}

void launch_gemv(const GemvArgs& a, bool add, cudaStream_t s) {
  const size_t smem = sizeof(float) * size_t(a.cols);
  if (add)
    gemv_kernel<true><<<blocks_for(a.rows), kWarps * 32, smem, s>>>(a);
  else
    gemv_kernel<false><<<blocks_for(a.rows), kWarps * 32, smem, s>>>(a);
  MOE_CUDA_LAUNCHED();
}

void launch_router(const GemvArgs& g, const RouterArgs& a, cudaStream_t s) {
  router_kernel<<<blocks_for(g.rows), kWarps * 32, sizeof(float) * size_t(g.cols), s>>>(g, a);
  MOE_CUDA_LAUNCHED();
}

void launch_expert_up(const FfnArgs& a, cudaStream_t s) {
  expert_up_kernel<<<blocks_for(a.slots * a.inter + a.always_inter), kWarps * 32,
                     sizeof(float) * size_t(a.hidden), s>>>(a);
  MOE_CUDA_LAUNCHED();
}

void launch_expert_down(const FfnArgs& a, cudaStream_t s) {
  expert_down_kernel<<<blocks_for(a.hidden), kWarps * 32,
                       sizeof(float) * size_t(a.slots * a.inter + a.always_inter), s>>>(a);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
