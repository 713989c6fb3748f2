// Decode-step kernels for the projections and the feed-forward block (see decode_kernels.h): persistent
// GEMVs with the RMSNorm of their input folded in (split-K for matrices with few rows, reduced in a fixed
// order), gate/up/SiLU over the chosen experts and the shared expert in one pass with the expert choice made
// on the device by a warp of every block, and the down projection split into pieces whose weighted sums a
// reduce adds into the residual stream. No atomics: every sum has a fixed order (graph replay = eager).
#include <algorithm>

#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"

namespace moe::cuda {
namespace {

constexpr int kWarps = 8;        // warps per block of the GEMV-like kernels
constexpr int kBlocksPerSm = 2;  // resident blocks of a persistent grid (registers capped to fit)

// Two dot products at once (gate and up of one neuron, or two output rows): twice the loads in flight of
// one. Each row has its own input vector; equal lengths take the paired path.
__device__ __forceinline__ void warp_dot_2(const bf16* ra, const float* xa, int64_t na, const bf16* rb,
                                           const float* xb, int64_t nb, float& a, float& b) {
  if (na != nb || !vector_path(na, xa) || !vector_path(nb, xb)) {
    a = warp_dot_row(ra, xa, na);
    b = warp_dot_row(rb, xb, nb);
    return;
  }
  const int lane = threadIdx.x & 31;
  float sa = 0.0f, sb = 0.0f;
  int64_t c = int64_t(lane) * 8;
  for (; c + 768 < na; c += 1024) {  // eight 16-byte loads in flight per lane
    uint4 a0 = load_weights8(ra + c), a1 = load_weights8(ra + c + 256), a2 = load_weights8(ra + c + 512),
          a3 = load_weights8(ra + c + 768), b0 = load_weights8(rb + c), b1 = load_weights8(rb + c + 256),
          b2 = load_weights8(rb + c + 512), b3 = load_weights8(rb + c + 768);
    sa += (dot8(a0, xa + c) + dot8(a1, xa + c + 256)) + (dot8(a2, xa + c + 512) + dot8(a3, xa + c + 768));
    sb += (dot8(b0, xb + c) + dot8(b1, xb + c + 256)) + (dot8(b2, xb + c + 512) + dot8(b3, xb + c + 768));
  }
  for (; c + 256 < na; c += 512) {
    uint4 a0 = load_weights8(ra + c), a1 = load_weights8(ra + c + 256), b0 = load_weights8(rb + c),
          b1 = load_weights8(rb + c + 256);
    sa += dot8(a0, xa + c) + dot8(a1, xa + c + 256);
    sb += dot8(b0, xb + c) + dot8(b1, xb + c + 256);
  }
  for (; c < na; c += 256) {
    sa += dot8(load_weights8(ra + c), xa + c);
    sb += dot8(load_weights8(rb + c), xb + c);
  }
  a = warp_sum(sa);
  b = warp_sum(sb);
}

__device__ __forceinline__ void warp_dot_2rows(const bf16* ra, const bf16* rb, const float* xs, int64_t n,
                                               float& a, float& b) {
  warp_dot_2(ra, xs, n, rb, xs, n, a, b);
}

// Persistent: a grid of about two blocks per SM loads (and normalises) the input once per block, then each
// warp walks its rows two at a time, so eight 16-byte loads per lane are in flight.
template <bool Add>
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm) gemv_kernel(GemvArgs a) {
  {
    const int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5), r2 = r + int64_t(gridDim.x) * kWarps;
    pdl_begin_prefetching(r < a.rows ? a.w + r * a.cols : nullptr, r2 < a.rows ? a.w + r2 * a.cols : nullptr,
                          a.cols);
  }
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  load_input(xs, a.x, a.cols, a.norm_w, a.eps, scratch);
  const int64_t stride = int64_t(gridDim.x) * kWarps;
  const bool lead = (threadIdx.x & 31) == 0;
  auto store = [&](int64_t r, float acc) {
    if (a.bias) acc += a.bias[r];
    a.y[r] = Add ? a.y[r] + acc : acc;
  };
  for (int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < a.rows; r += 2 * stride) {
    const int64_t r2 = r + stride;
    if (r2 < a.rows) {
      float v1, v2;
      warp_dot_2rows(a.w + r * a.cols, a.w + r2 * a.cols, xs, a.cols, v1, v2);
      if (lead) {
        store(r, v1);
        store(r2, v2);
      }
    } else {
      const float v = warp_dot_row(a.w + r * a.cols, xs, a.cols);
      if (lead) store(r, v);
    }
  }
}

// Split-K GEMV for matrices with few rows (the O projection): unit u = (piece, row) computes the dot of
// one row over one piece of the columns into part[piece][row]; reduce_add_kernel then adds the pieces (in
// a fixed order) into y. Spreads a 2048-row matrix over all SMs instead of one wave of 128 blocks.
__global__ void __launch_bounds__(kWarps * 32)
    gemv_split_kernel(GemvArgs a, int pieces, int64_t piece, float* part) {
  pdl_begin();
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  load_input(xs, a.x, a.cols, a.norm_w, a.eps, scratch);
  const int64_t units = int64_t(pieces) * a.rows, stride = int64_t(gridDim.x) * kWarps;
  auto unit = [&](int64_t u, const bf16*& w, const float*& x, int64_t& n) {
    const int64_t p = u / a.rows, r = u % a.rows, c0 = p * piece;
    w = a.w + r * a.cols + c0;
    x = xs + c0;
    n = min(piece, a.cols - c0);
  };
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

// y[r] += sum over pieces of part[piece][r] (+ bias[r]).
__global__ void reduce_add_kernel(float* y, const float* part, int pieces, int64_t rows, const float* bias) {
  pdl_begin();
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  float acc = bias ? bias[r] : 0.0f;
  for (int p = 0; p < pieces; ++p)
    acc += part[p * rows + r];
  y[r] += acc;
}

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
__device__ void route_warp(const RouterArgs& a, const float* logits, float* scores, float* choice) {
  const int lane = threadIdx.x & 31;
  const int E = a.num_experts;
  float mx = -INFINITY;
  for (int e = lane; e < E; e += 32)
    mx = fmaxf(mx, __ldcg(logits + e));
  mx = warp_max(mx);
  double sum = 0.0;  // in double, as route_token sums
  for (int e = lane; e < E; e += 32) {
    const float l = __ldcg(logits + e);
    const float s = a.sigmoid ? sigmoid(l) : expf(l - mx);
    scores[e] = s;
    sum += s;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    sum += __shfl_xor_sync(kFullMask, sum, o);
  for (int e = lane; e < E; e += 32) {
    if (!a.sigmoid) scores[e] = float(scores[e] / sum);
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

// Gate/up/SiLU over the chosen experts and the always-on MLP. The expert choice is made here, by one warp
// of every block from the router logits the previous kernel wrote (a separate choosing kernel, or a
// last-block handoff, cost more than this redundant few-microsecond warp); block 0 publishes it (routing
// record, down projection).
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm)
    expert_up_kernel(FfnArgs a, RouterArgs r, const float* logits) {
  const int64_t routed = int64_t(a.slots) * a.inter, rows = routed + a.always_inter;
  {  // rows are numbered always-on MLP first, so the first pass's weights can be fetched before the wait
    const int64_t row = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
    const bool known = row < a.always_inter;
    pdl_begin_prefetching(known ? a.always_gate + row * a.hidden : nullptr,
                          known ? a.always_up + row * a.hidden : nullptr, a.hidden);
  }
  extern __shared__ float xs[];
  __shared__ float scratch[33];
  __shared__ float scores[kMaxExperts], choice[kMaxExperts];
  __shared__ int32_t chosen[kMaxTopK];
  __shared__ float chosen_w[kMaxTopK];
  if (r.top_k > 0 && threadIdx.x < 32) {
    RouterArgs local = r;
    local.experts = chosen;
    local.weights = chosen_w;
    route_warp(local, logits, scores, choice);
    __syncwarp();
    if (blockIdx.x == 0) {
      for (int i = threadIdx.x; i < r.top_k; i += 32) {
        r.experts[i] = chosen[i];
        r.weights[i] = chosen_w[i];
      }
      if (threadIdx.x == 0 && r.shared_gate) r.shared_gate_out[0] = sigmoid(__ldcg(logits + r.num_experts));
    }
  }
  load_input(xs, a.x, a.hidden, a.ffn_norm, a.eps, scratch);  // its barrier also publishes `chosen`
  const int64_t stride = int64_t(gridDim.x) * kWarps;
  for (int64_t row = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); row < rows; row += stride) {
    const bf16 *gate, *up;
    if (row >= a.always_inter) {
      const int64_t k = row - a.always_inter, slot = k / a.inter, i = k % a.inter;
      const int64_t e = chosen[slot];
      gate = a.experts_gate + e * a.expert_stride + i * a.hidden;
      up = a.experts_up + e * a.expert_stride + i * a.hidden;
    } else {
      gate = a.always_gate + row * a.hidden;
      up = a.always_up + row * a.hidden;
    }
    float g, u;
    warp_dot_2rows(gate, up, xs, a.hidden, g, u);
    // h keeps the routed-first layout the down projection reads.
    if ((threadIdx.x & 31) == 0)
      a.h[row >= a.always_inter ? row - a.always_inter : routed + row] = silu(g) * u;
  }
}

// The down projection split into pieces: each chosen expert's rows (I columns) and the always-on MLP's
// rows (cut into pieces of about I columns) are separate pieces, unit u = (piece, row) writes
// part[piece][row] = gate weight * dot, and reduce_add_kernel adds them into the residual. H x pieces units
// keep every SM busy where H rows alone would not.
struct DownChoice {  // the routing of this layer, copied to shared memory once per block
  int32_t experts[kMaxTopK];
  float weights[kMaxTopK];
  float always_scale;
};

__device__ __forceinline__ void down_unit(const FfnArgs& a, const DownChoice& c, const float* hs,
                                          const DownSplit& d, int64_t u, const bf16*& w, const float*& x,
                                          int64_t& n, float& scale) {
  const int64_t p = u / a.hidden, r = u % a.hidden;
  const int64_t routed_pieces = int64_t(a.slots) * d.per_slot;
  if (p < routed_pieces) {
    const int64_t slot = p / d.per_slot, c0 = (p % d.per_slot) * d.piece;
    const int64_t e = c.experts[slot];
    w = a.experts_down + e * a.expert_stride + r * a.inter + c0;
    x = hs + slot * a.inter + c0;
    n = min(d.piece, a.inter - c0);
    scale = c.weights[slot];
  } else {
    const int64_t c0 = (p - routed_pieces) * d.always_piece;
    w = a.always_down + r * a.always_inter + c0;
    x = hs + int64_t(a.slots) * a.inter + c0;
    n = min(d.always_piece, a.always_inter - c0);
    scale = c.always_scale;
  }
}

__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm) expert_down_kernel(FfnArgs a, DownSplit d) {
  pdl_begin();
  extern __shared__ float hs[];
  __shared__ float scratch[33];
  __shared__ DownChoice choice;
  if (threadIdx.x < a.slots) {
    choice.experts[threadIdx.x] = a.experts[threadIdx.x];
    choice.weights[threadIdx.x] = a.weights[threadIdx.x];
  }
  if (threadIdx.x == 0) choice.always_scale = a.always_scale ? *a.always_scale : 1.0f;
  load_input(hs, a.h, int64_t(a.slots) * a.inter + a.always_inter, nullptr, 0.0f, scratch);  // + barrier
  const int64_t units = d.pieces * a.hidden, stride = int64_t(gridDim.x) * kWarps;
  for (int64_t u = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); u < units; u += 2 * stride) {
    const int64_t u2 = u + stride < units ? u + stride : u;
    const bf16 *w1, *w2;
    const float *x1, *x2;
    int64_t n1, n2;
    float s1, s2, v1, v2;
    down_unit(a, choice, hs, d, u, w1, x1, n1, s1);
    down_unit(a, choice, hs, d, u2, w2, x2, n2, s2);
    warp_dot_2(w1, x1, n1, w2, x2, n2, v1, v2);
    if ((threadIdx.x & 31) == 0) {
      d.part[u] = s1 * v1;
      d.part[u2] = s2 * v2;
    }
  }
}

int g_sm_count = 132;

// Persistent grids: kBlocksPerSm blocks per SM at most (each block loads its input vector once), fewer for
// small matrices (a warp per row pair).
unsigned blocks_for(int64_t rows) {
  return unsigned(std::max<int64_t>(
      1, std::min<int64_t>((rows + 2 * kWarps - 1) / (2 * kWarps), int64_t(kBlocksPerSm) * g_sm_count)));
}

}  // namespace

void prepare_ffn_kernels(size_t max_smem, int sm_count) {
  g_sm_count = sm_count;
  for (const void* k :
       {reinterpret_cast<const void*>(gemv_kernel<false>), reinterpret_cast<const void*>(gemv_kernel<true>),
        reinterpret_cast<const void*>(gemv_split_kernel), reinterpret_cast<const void*>(expert_up_kernel),
        reinterpret_cast<const void*>(expert_down_kernel)})
    MOE_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(max_smem)));
}

void launch_gemv(const GemvArgs& a, bool add, cudaStream_t s, float* split_part) {
  const size_t smem = sizeof(float) * size_t(a.cols);
  const int pieces = add && split_part ? split_pieces(a.rows, a.cols) : 1;
  if (pieces > 1) {
    const int64_t piece = (a.cols / pieces + 7) / 8 * 8;
    launch_pdl(gemv_split_kernel, blocks_for(pieces * a.rows), kWarps * 32, smem, s, a, pieces, piece,
               split_part);
    MOE_CUDA_LAUNCHED();
    launch_pdl(reduce_add_kernel, unsigned((a.rows + 255) / 256), 256, 0, s, a.y, split_part, pieces, a.rows,
               a.bias);
  } else if (add) {
    launch_pdl(gemv_kernel<true>, blocks_for(a.rows), kWarps * 32, smem, s, a);
  } else {
    launch_pdl(gemv_kernel<false>, blocks_for(a.rows), kWarps * 32, smem, s, a);
  }
  MOE_CUDA_LAUNCHED();
}

void launch_expert_up(const FfnArgs& a, const RouterArgs& r, const float* logits, cudaStream_t s) {
  launch_pdl(expert_up_kernel, blocks_for(2 * (a.slots * a.inter + a.always_inter)), kWarps * 32,
             sizeof(float) * size_t(a.hidden), s, a, r, logits);
}

void launch_expert_down(const FfnArgs& a, float* split_part, cudaStream_t s) {
  const DownSplit d = down_split(a.slots, a.inter, a.always_inter, split_part);
  launch_pdl(expert_down_kernel, blocks_for(d.pieces * a.hidden), kWarps * 32,
             sizeof(float) * size_t(a.slots * a.inter + a.always_inter), s, a, d);
  MOE_CUDA_LAUNCHED();
  launch_pdl(reduce_add_kernel, unsigned((a.hidden + 255) / 256), 256, 0, s, a.y, split_part, int(d.pieces),
             a.hidden, nullptr);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
