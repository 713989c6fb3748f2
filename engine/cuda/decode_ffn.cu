// The feed-forward block of a decode step as one kernel (see decode_kernels.h), fused by neuron. A neuron's
// whole work is three contiguous weight rows: its gate and up rows and its column of the down projection,
// which the weight layout stores transposed ([I, H] per expert, device_weights.h). So the activation h of a
// neuron never leaves the block that computes it.
//
// One block per SM owns an even share of the neurons: of the always-on MLP first, then of the chosen experts
// (slot by slot). Its warps go through them in groups of kGroup:
//   1. each warp computes h = silu(gate . x) * (up . x), times the routing weight, of up to two neurons of
//      the group into shared memory;
//   2. every thread adds h_j * down_j over the group's neurons into the output columns it owns, which it
//      holds in registers for the whole layer (the always-on MLP's sum apart from the experts', because
//      Qwen2-MoE's shared-expert gate is known only once the router is done).
// A warp does step 1 of group g + 1 before step 2 of group g, so that it waits for the other warps' h
// (an mbarrier per buffer of h) only when it is a whole group ahead of them.
// In group 0 of an MoE layer the last warp computes the block's router rows (row i in block i mod blocks)
// instead, then the routing from all logits into shared memory, where the other warps pick it up at their
// first routed neuron. Logits pass between blocks as tagged values (the float in the low half, the layer's
// tag in the high half), so that a block waits for the others' without a fence; the grid is sized to be
// resident at once, and launched cooperatively, so that the driver starts every block together or refuses
// (under MPS with fewer SMs, or beside another such kernel on another stream, a partly resident grid would
// wait forever).
// At the end each block adds its output columns to the layer's output as int64 sums in units of 2^-32
// (integer atomics: the same sum in any order), which the next GEMV adds to the residual (load_input). So
// the result does not depend on timing (graph replay = eager, bit for bit), and no block waits for the
// slowest at the end: a grid-wide count and a fixed-order sum of the block partials there cost 5-6 % per
// step (bench/cuda_decode_notes.md, version 57).
#include <algorithm>

#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "cuda/decode_route.cuh"
#include "moe/error.h"

namespace moe::cuda {
namespace {

// One block of 16 warps per SM: 128 registers per thread (a 17th warp would cap them at 96, as an SM's
// four schedulers each hold a quarter of its registers and one of them would have 5 warps).
constexpr int kWarps = 16;
constexpr int kThreads = kWarps * 32;
constexpr int kRoutingWarp = kWarps - 1;  // router rows and the routing in group 0, instead of neurons
constexpr int kNeuronsPerWarp = 2;
constexpr int kGroup = kWarps * kNeuronsPerWarp;
// Down-projection loads in flight per thread (16-byte; 2-byte on the one-column path). Measured on the H100
// (Qwen1.5-MoE / OLMoE tok/s): 8 465 / 747, 4 455 / 740, 16 (with the gate/up pair's 16 loads at once) 442 /
// 720: more loads in flight per warp made the groups' tails longer.
constexpr int kDownLoads = 8;
// Groups whose h a block holds at once. A warp writes group g + 4's h once every warp has passed the wait
// for group g + 2, so after it has finished group g's down rows: four buffers are the fewest that are safe.
constexpr int kBuffers = 4;
static_assert(kBuffers >= 4, "fewer buffers race with the down rows of a group still being read");

// Where the work of the layer is and how the output columns map onto threads: thread t owns the vectors of
// W columns (8, or 1 for hidden sizes that are not a multiple of 8) t % row_threads + row_threads * v
// (v < vectors) of the down rows j with j % row_groups == t / row_threads.
struct FfnShape {
  int64_t routed = 0;  // slots * inter
  int vectors = 1, row_threads = 1, row_groups = 1;
};

// The routing as a block shares it, written by the routing warp.
struct BlockRoute {
  int state;  // 2 once experts, weights and shared_scale are written (0 before)
  int32_t experts[kMaxTopK];
  float weights[kMaxTopK];
  float shared_scale;
};

struct FfnShared {
  float h[kBuffers][kGroup];
  const bf16* down[kBuffers][kGroup];
  uint64_t done[kBuffers];  // mbarriers: every warp has written its h of the group
  BlockRoute route;
  float scratch[33];
};

// The neurons a block owns: always-on [a0, a0 + na), then the chosen experts' [r0, r0 + n - na) (numbered
// slot * inter + neuron).
struct Share {
  int64_t a0, na, r0, n;
};

__device__ __forceinline__ Share block_share(const FfnArgs& a, const FfnShape& sh) {
  const int64_t b = blockIdx.x, B = gridDim.x;
  Share s;
  s.a0 = a.always_inter * b / B;
  s.na = a.always_inter * (b + 1) / B - s.a0;
  s.r0 = sh.routed * b / B;
  s.n = s.na + sh.routed * (b + 1) / B - s.r0;
  return s;
}

__device__ __forceinline__ void store_tagged(uint64_t* p, float v, int32_t tag) {
  *p = uint64_t(__float_as_uint(v)) | uint64_t(uint32_t(tag)) << 32;
}

// Reads n tagged values (every lane of the warp a share), waiting until all carry `tag`.
__device__ void load_tagged(float* dst, const uint64_t* src, int64_t n, int32_t tag) {
  constexpr int kBatch = 8;
  const int lane = threadIdx.x & 31;
  for (;;) {
    bool ready = true;
    for (int64_t base = lane; base < n; base += 32 * kBatch) {
      uint64_t t[kBatch];
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        const int64_t i = base + 32 * k;
        t[k] = i < n ? __ldcg(reinterpret_cast<const unsigned long long*>(src + i)) : 0;
      }
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        const int64_t i = base + 32 * k;
        if (i < n) {
          ready &= int32_t(t[k] >> 32) == tag;
          dst[i] = __uint_as_float(uint32_t(t[k]));
        }
      }
    }
    if (__all_sync(kFullMask, ready)) break;
    __nanosleep(100);
  }
  __syncwarp();
}

// One router row's logit, its two halves' loads in flight at once.
__device__ void router_row(const FfnArgs& a, int64_t row, const float* xs) {
  const bf16* w = a.router + row * a.hidden;
  float v;
  if (a.hidden % 16 == 0) {
    const int64_t half = a.hidden / 2;
    float v0, v1;
    warp_dot_2(w, xs, half, w + half, xs + half, half, v0, v1);
    v = v0 + v1;
  } else {
    v = warp_dot_row(w, xs, a.hidden);
  }
  if ((threadIdx.x & 31) == 0) store_tagged(a.logits + row, v, a.tag);
}

// The routing warp: the block's router rows, then (MoE layers) the routing from all logits; block 0 also
// writes the routing record.
__device__ void routing_warp(const FfnArgs& a, const RouterArgs& r, const float* xs, float* scratch,
                             BlockRoute& route) {
  for (int64_t row = blockIdx.x; row < a.router_rows; row += gridDim.x)
    router_row(a, row, xs);
  if (r.top_k == 0) return;
  const int lane = threadIdx.x & 31, E = r.num_experts;
  float* logits = scratch;
  load_tagged(logits, a.logits, a.router_rows, a.tag);
  RouterArgs local = r;
  local.experts = route.experts;
  local.weights = route.weights;
  route_warp(local, logits, scratch + E + 1, scratch + 2 * E + 1);
  if (lane == 0 && r.shared_gate) route.shared_scale = sigmoid(logits[E]);
  __syncwarp();
  if (blockIdx.x == 0 && lane < r.top_k) {
    r.experts[lane] = route.experts[lane];
    r.weights[lane] = route.weights[lane];
  }
  __threadfence_block();
  if (lane == 0) *reinterpret_cast<volatile int*>(&route.state) = 2;
}

__device__ __forceinline__ void wait_route(const BlockRoute& route) {
  while (*reinterpret_cast<const volatile int*>(&route.state) != 2)
    __nanosleep(128);
  __threadfence_block();
}

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbarrier_init(uint64_t* b, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint64_t* b) {
  asm volatile("{ .reg .b64 state; mbarrier.arrive.shared::cta.b64 state, [%0]; }" ::"r"(shared_address(b))
               : "memory");
}
__device__ __forceinline__ void mbarrier_wait(uint64_t* b, int parity) {
  uint32_t done = 0;
  while (!done)
    asm volatile(
        "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
        : "=r"(done)
        : "r"(shared_address(b)), "r"(parity)
        : "memory");
}

// Neuron k of the block's share: h = silu(gate . x) * (up . x) (times the routing weight) and the start of
// its down row, by one warp.
__device__ void up_neuron(const FfnArgs& a, const Share& s, int64_t k, const float* xs,
                          const BlockRoute& route, float& h, const bf16*& down) {
  const int64_t H = a.hidden;
  const bf16 *gate, *up;
  float scale = 1.0f;
  if (k < s.na) {
    const int64_t off = (s.a0 + k) * H;
    gate = a.always_gate + off;
    up = a.always_up + off;
    down = a.always_down + off;
  } else {
    const int64_t i = s.r0 + (k - s.na), slot = i / a.inter;
    const int64_t off = int64_t(route.experts[slot]) * a.expert_stride + (i % a.inter) * H;
    gate = a.experts_gate + off;
    up = a.experts_up + off;
    down = a.experts_down + off;
    scale = route.weights[slot];
  }
  float g, v;
  warp_dot_2(gate, xs, H, up, xs, H, g, v);
  h = silu(g) * v * scale;
}

// W columns of a down row: 8 (one 16-byte load) or, for hidden sizes that are not a multiple of 8, 1.
template <int W>
struct DownVector {
  uint4 w;
  __device__ __forceinline__ void load(const bf16* p) { w = load_weights8(p); }
  __device__ __forceinline__ void zero() { w = make_uint4(0, 0, 0, 0); }
  __device__ __forceinline__ void axpy(float h, float (&acc)[W]) const { axpy8(h, w, acc); }
};
template <>
struct DownVector<1> {
  unsigned short w;
  __device__ __forceinline__ void load(const bf16* p) {
    w = __ldcs(reinterpret_cast<const unsigned short*>(p));
  }
  __device__ __forceinline__ void zero() { w = 0; }
  __device__ __forceinline__ void axpy(float h, float (&acc)[1]) const {
    acc[0] = fmaf(h, __bfloat162float(__ushort_as_bfloat16(w)), acc[0]);
  }
};

// Adds h_j * down_j of rows j = rg, rg + row_groups, ... < n (the always-on MLP's rows < na) into the
// thread's vectors of W columns: kDownLoads loads in flight.
template <int V, int W>
__device__ __forceinline__ void down_rows(const float* h, const bf16* const* down, int n, int na, int rg,
                                          int64_t col, const FfnShape& sh, int64_t vectors_total,
                                          float (&acc_always)[V][W], float (&acc_routed)[V][W]) {
  constexpr int kRows = kDownLoads / V;
  for (int j0 = rg; j0 < n; j0 += sh.row_groups * kRows) {
    DownVector<W> w[kRows][V];
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int j = j0 + i * sh.row_groups;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const int64_t c = col + int64_t(sh.row_threads) * v;
        if (j < n && c < vectors_total)
          w[i][v].load(down[j] + W * c);
        else
          w[i][v].zero();
      }
    }
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int j = j0 + i * sh.row_groups;
      if (j >= n) break;
      const float hj = h[j];
      if (j < na) {
#pragma unroll
        for (int v = 0; v < V; ++v)
          w[i][v].axpy(hj, acc_always[v]);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v)
          w[i][v].axpy(hj, acc_routed[v]);
      }
    }
  }
}

// Dynamic shared memory: the input vector, the routing warp's scratch (3E + 1 floats), then the row groups'
// partial outputs (row_groups * H), which start at this offset.
__host__ __device__ inline int64_t ffn_red_offset(const FfnArgs& a, const RouterArgs& r) {
  const int64_t route = r.top_k > 0 ? 3 * int64_t(r.num_experts) + 1 : 0;
  return (a.hidden + 3) / 4 * 4 + (route + 3) / 4 * 4;
}

template <int V, int W>
__global__ void __launch_bounds__(kThreads, 1) ffn_kernel(FfnArgs a, RouterArgs r, FfnShape sh) {
  __shared__ FfnShared sm;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const int64_t H = a.hidden;
  const int warp = threadIdx.x >> 5, t = threadIdx.x;
  // Only the norm weights go to L2 before the wait (cuda_decode_notes, version 45).
  pdl_begin_prefetching(nullptr, nullptr, 0, a.ffn_norm, H);
  if (t == 0) {
    sm.route.state = 0;
    sm.route.shared_scale = 1.0f;
  }
  float* xs = smem;
  load_input<2>(xs, a.x, H, a.ffn_norm, a.eps, sm.scratch, a.x_add, a.x_out);  // + barrier
  const Share s = block_share(a, sh);

  const int rg = t / sh.row_threads;
  const int64_t col = t % sh.row_threads, vectors_total = H / W;
  float acc_always[V][W], acc_routed[V][W];
#pragma unroll
  for (int v = 0; v < V; ++v)
#pragma unroll
    for (int e = 0; e < W; ++e)
      acc_always[v][e] = acc_routed[v][e] = 0.0f;
  // Groups: in an MoE layer the first has kGroup - 2 neurons, as the routing warp computes the block's
  // router rows and the routing instead; the rest split the remaining neurons evenly.
  const bool routing = r.top_k > 0;
  const int first = int(std::min<int64_t>(s.n, routing ? kGroup - kNeuronsPerWarp : kGroup));
  const int64_t rest = s.n - first, more = (rest + kGroup - 1) / kGroup;
  const int64_t groups = (routing || first > 0 ? 1 : 0) + more;
  bool route_known = !routing;
  // Group g: its first neuron, count, always-on count.
  const auto group = [&](int64_t g, int64_t& k0, int& n, int& na) {
    k0 = g == 0 ? 0 : first + rest * (g - 1) / more;
    n = int(g == 0 ? first : first + rest * g / more - k0);
    na = int(std::clamp<int64_t>(s.na - k0, 0, n));
  };
  // Gate/up of group g into buffer g % kBuffers.
  const auto up_group = [&](int64_t g) {
    int64_t k0;
    int n, na;
    group(g, k0, n, na);
    const int buf = int(g % kBuffers);
    const int workers = g == 0 && routing ? kRoutingWarp : kWarps;
    if (warp < workers) {
      for (int j = warp; j < n; j += workers) {
        if (j >= na && !route_known) {
          wait_route(sm.route);
          route_known = true;
        }
        float h;
        const bf16* down;
        up_neuron(a, s, k0 + j, xs, sm.route, h, down);
        if ((t & 31) == 0) {
          sm.h[buf][j] = h;
          sm.down[buf][j] = down;
        }
      }
    } else {
      routing_warp(a, r, xs, smem + (H + 3) / 4 * 4, sm.route);
    }
  };
  const auto down_group = [&](int64_t g) {
    int64_t k0;
    int n, na;
    group(g, k0, n, na);
    const int buf = int(g % kBuffers);
    if (rg < sh.row_groups)
      down_rows<V, W>(sm.h[buf], sm.down[buf], n, na, rg, col, sh, vectors_total, acc_always, acc_routed);
  };
  // Each warp computes the h of group g + 1 before the down rows of group g, whose h the other warps may
  // still be writing: a warp waits (an mbarrier per buffer) only when it is a whole group ahead.
  if (t < kBuffers) mbarrier_init(&sm.done[t], kWarps);
  __syncthreads();
  const auto published = [&](int64_t g) {
    __syncwarp();
    if ((t & 31) == 0) mbarrier_arrive(&sm.done[g % kBuffers]);
  };
  if (groups > 0) {
    up_group(0);
    published(0);
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (g + 1 < groups) {
      up_group(g + 1);
      published(g + 1);
    }
    mbarrier_wait(&sm.done[g % kBuffers], int(g / kBuffers) & 1);
    down_group(g);
  }
  if (routing && !route_known) wait_route(sm.route);
  float* red = smem + ffn_red_offset(a, r);  // [row_groups, H] the row groups' partial outputs
  if (rg < sh.row_groups) {
    const float scale = sm.route.shared_scale;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int64_t c = col + int64_t(sh.row_threads) * v;
      if (c < vectors_total)
#pragma unroll
        for (int e = 0; e < W; ++e)
          red[rg * H + W * c + e] = fmaf(scale, acc_always[v][e], acc_routed[v][e]);
    }
  }
  // The block's part: its row groups added in order, then added to the layer's output as fixed-point
  // integers (deterministic in any order: no barrier over the grid, no fixed-order reduction).
  __syncthreads();
  for (int64_t c = t; c < H; c += kThreads) {
    float v = red[c];
    for (int q = 1; q < sh.row_groups; ++q)
      v += red[q * H + c];
    atomicAdd(reinterpret_cast<unsigned long long*>(a.out + c), to_fixed(v, a.nonfinite, a.tag));
  }
}

size_t ffn_smem_floats(const FfnArgs& a, const RouterArgs& r, const FfnShape& sh) {
  return size_t(ffn_red_offset(a, r) + sh.row_groups * a.hidden);
}

// Columns per vector: 8, or 1 when the hidden size is not a multiple of 8 (then 4 vectors per thread).
int ffn_vector_width(int64_t hidden) {
  return hidden % 8 == 0 ? 8 : 1;
}

FfnShape ffn_shape(const FfnArgs& a) {
  FfnShape sh;
  sh.routed = int64_t(a.slots) * a.inter;
  const int w = ffn_vector_width(a.hidden);
  const int64_t vectors = a.hidden / w;
  int64_t v = (vectors + kThreads - 1) / kThreads;
  v = w == 1 ? 4 : v <= 1 ? 1 : v <= 2 ? 2 : 4;
  sh.vectors = int(v);
  sh.row_threads = int((vectors + v - 1) / v);
  sh.row_groups = kThreads / sh.row_threads;
  return sh;
}

template <int V, int W>
void launch_shape(const FfnArgs& a, const RouterArgs& r, const FfnShape& sh, cudaStream_t s) {
  const size_t smem = sizeof(float) * ffn_smem_floats(a, r, sh);
  // Blocks wait for router logits of other blocks: every block must be resident at once. (Asked once per
  // device and size: launches without a graph come here every layer.)
  thread_local int asked_device = -1;
  thread_local size_t asked_smem = 0;
  thread_local int per_sm = 0;
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  if (device != asked_device || smem != asked_smem) {
    MOE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ffn_kernel<V, W>, kThreads, smem));
    asked_device = device;
    asked_smem = smem;
  }
  if (per_sm < 1) throw Error("CUDA decode: the FFN kernel does not fit on an SM");
  const int64_t neurons = a.always_inter + sh.routed;
  const unsigned blocks = unsigned(std::clamp<int64_t>((neurons + kGroup - 1) / kGroup, 1, sm_count()));
  launch_pdl_config(true, ffn_kernel<V, W>, blocks, kThreads, smem, s, a, r, sh);
  MOE_CUDA_LAUNCHED();
}

}  // namespace

void prepare_ffn_kernels(size_t max_smem) {
  for (auto* kernel : {ffn_kernel<1, 8>, ffn_kernel<2, 8>, ffn_kernel<4, 8>, ffn_kernel<4, 1>}) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(max_smem)));
    prefer_max_shared(kernel);
  }
}

void check_ffn_shape(int64_t hidden) {
  const int64_t most = int64_t(ffn_vector_width(hidden)) * kThreads * 4;
  if (hidden > most)
    throw Error("CUDA decode: hidden size " + std::to_string(hidden) + " (the FFN kernel takes up to " +
                std::to_string(most) + (hidden % 8 == 0 ? "" : " when it is not a multiple of 8") + ")");
}

void launch_ffn(const FfnArgs& a, const RouterArgs& r, cudaStream_t s) {
  const FfnShape sh = ffn_shape(a);
  if (ffn_vector_width(a.hidden) == 1)
    launch_shape<4, 1>(a, r, sh, s);
  else if (sh.vectors == 1)
    launch_shape<1, 8>(a, r, sh, s);
  else if (sh.vectors == 2)
    launch_shape<2, 8>(a, r, sh, s);
  else
    launch_shape<4, 8>(a, r, sh, s);
}

}  // namespace moe::cuda
