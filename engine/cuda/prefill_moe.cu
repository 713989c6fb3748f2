// Routing of a prefill chunk on the device: route_token's arithmetic per position (engine/cpu/router.cpp,
// one thread per position: E <= a few hundred scores, so a serial pass is microseconds for a whole chunk),
// then the permutation plan: rows per expert, a scan, every (position, rank) pair placed in expert order,
// and the tile table of the grouped expert GEMM. Nothing returns to the host: the GEMM reads the tile count
// from device memory and its surplus blocks exit at once.
#include <cmath>

#include "cuda/cuda_check.h"
#include "cuda/prefill_kernels.h"

namespace moe::cuda {
namespace {

__global__ void route_kernel(RouteArgs a) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= a.n) return;
  const int64_t E = a.E, k = a.k;
  float* sc = a.logits + t * a.router_rows;  // scores replace the logits in place
  float* ch = a.choice + t * E;
  if (a.sgate && a.router_rows > E) a.sgate[t] = 1.0f / (1.0f + expf(-sc[E]));
  if (a.score == 0) {
    float mx = sc[0];
    for (int64_t e = 1; e < E; ++e)
      mx = fmaxf(mx, sc[e]);
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) {
      sc[e] = expf(sc[e] - mx);
      sum += sc[e];
    }
    for (int64_t e = 0; e < E; ++e)
      sc[e] = float(double(sc[e]) / sum);
  } else {
    for (int64_t e = 0; e < E; ++e)
      sc[e] = 1.0f / (1.0f + expf(-sc[e]));
  }
  for (int64_t e = 0; e < E; ++e)
    ch[e] = sc[e] + (a.score_bias ? a.score_bias[e] : 0.0f);
  if (a.grouping != 0 && a.n_group > 1) {
    // Keep the topk_group best groups (score: max, or sum of the best two), others' choices set to 0.0.
    const int64_t per = E / a.n_group;
    constexpr int kMaxGroups = 64;
    float gs[kMaxGroups];
    bool kept[kMaxGroups];
    for (int64_t g = 0; g < a.n_group && g < kMaxGroups; ++g) {
      float b1 = -INFINITY, b2 = -INFINITY;
      for (int64_t e = g * per; e < (g + 1) * per; ++e) {
        const float v = ch[e];
        if (v > b1) {
          b2 = b1;
          b1 = v;
        } else if (v > b2) {
          b2 = v;
        }
      }
      gs[g] = a.grouping == 2 ? b1 + b2 : b1;
      kept[g] = false;
    }
    for (int64_t i = 0; i < a.topk_group; ++i) {
      int64_t best = -1;
      for (int64_t g = 0; g < a.n_group && g < kMaxGroups; ++g)
        if (!kept[g] && (best < 0 || gs[g] > gs[best])) best = g;  // strict >: ties to the lower index
      if (best >= 0) kept[best] = true;
    }
    for (int64_t e = 0; e < E; ++e)
      if (!kept[e / per]) ch[e] = 0.0f;
  }
  int32_t* ids = a.topk_ids + t * k;
  float* w = a.topk_w + t * k;
  for (int64_t i = 0; i < k; ++i) {
    int64_t best = -1;
    for (int64_t e = 0; e < E; ++e) {
      bool taken = false;
      for (int64_t j = 0; j < i; ++j)
        taken |= ids[j] == e;
      if (!taken && (best < 0 || ch[e] > ch[best])) best = e;
    }
    ids[i] = int32_t(best);
    w[i] = sc[best];  // weights from the unbiased scores
  }
  if (a.norm_topk && (!a.deepseek || k > 1)) {
    float sum = 0;
    for (int64_t i = 0; i < k; ++i)
      sum += w[i];
    if (a.deepseek) sum += 1e-20f;
    for (int64_t i = 0; i < k; ++i)
      w[i] /= sum;
  }
  if (a.scale)
    for (int64_t i = 0; i < k; ++i)
      w[i] *= a.scaling;
  if (a.out_experts)
    for (int64_t i = 0; i < k; ++i) {
      a.out_experts[t * a.out_stride + i] = ids[i];
      a.out_weights[t * a.out_stride + i] = w[i];
    }
}

// One block: counts (shared-memory atomics), scan, tile table (thread 0; a few hundred entries), placement.
// The order of rows inside an expert's group is whatever the atomics give: each output row of the grouped
// GEMM depends only on its own input row, so the result does not depend on it.
__global__ void moe_plan_kernel(const int32_t* ids, int64_t nk, int64_t k, int64_t E, int tile_m,
                                int32_t* counts, int32_t* slot_of, int32_t* row_token, int4* tiles,
                                int64_t max_tiles) {
  extern __shared__ int sh[];
  int* cnt = sh;
  int* off = sh + E;
  int* cur = sh + 2 * E;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    cnt[e] = 0;
    cur[e] = 0;
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < nk; i += blockDim.x)
    atomicAdd(&cnt[ids[i]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int o = 0, m = 0;
    for (int64_t e = 0; e < E; ++e) {
      off[e] = o;
      for (int r0 = 0; r0 < cnt[e] && m < max_tiles; r0 += tile_m)
        tiles[m++] = make_int4(int(e), o + r0, min(tile_m, cnt[e] - r0), 0);
      o += cnt[e];
      counts[e] = cnt[e];
    }
    *reinterpret_cast<int32_t*>(tiles + max_tiles) = m;
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < nk; i += blockDim.x) {
    const int e = ids[i];
    const int slot = off[e] + atomicAdd(&cur[e], 1);
    slot_of[i] = slot;
    row_token[slot] = int32_t(i / k);
  }
}

}  // namespace

void launch_route(const RouteArgs& a, cudaStream_t st) {
  route_kernel<<<unsigned((a.n + 63) / 64), 64, 0, st>>>(a);
  MOE_CUDA_LAUNCHED();
}

void launch_moe_plan(const int32_t* topk_ids, int64_t n, int64_t k, int64_t E, int tile_m, int32_t* counts,
                     int32_t* slot_of, int32_t* row_token, int4* tiles, int64_t max_tiles, cudaStream_t st) {
  moe_plan_kernel<<<1, 1024, size_t(3 * E) * sizeof(int), st>>>(topk_ids, n * k, k, E, tile_m, counts,
                                                                slot_of, row_token, tiles, max_tiles);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
