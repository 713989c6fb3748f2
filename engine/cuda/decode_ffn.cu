// The feed-forward block of a decode step as one persistent kernel (see decode_kernels.h), so that a stage
// starts on the warps that are free while the previous one finishes instead of at a kernel boundary. Its
// work is a list of small units:
//   router rows (1 per unit)  ->  gate/up/SiLU of the always-on MLP (2 neurons per unit)  ->  gate/up/SiLU of
//   the chosen experts (2 neurons)  ->  the down projection in pieces of its columns (4 rows per unit).
// Warps take the router and gate/up units round-robin, then a run of consecutive down units each (so the
// neurons of their piece stay in shared memory). Values passed between units (router logits, h, the down
// pieces) are stored with a tag (the layer's) in the same 64-bit word, and a unit waits for the tags of what
// it reads, so no warp waits for a fence or an atomic to come back. The first warp of a block that needs the
// routing computes it (route_warp, the CPU's formulas) from the logits for the whole block; the warp of the
// first routed unit writes the routing record. The warp that completes a block of 64 output rows over all
// pieces (a counter) adds the pieces, in a fixed order, to the residual. Every value is computed by one warp
// in a fixed order, so the result does not depend on timing (graph replay = eager, bit for bit). A unit waits
// on units of other warps, so the grid is sized to be resident at once (occupancy query at launch).
#include <algorithm>

#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "cuda/decode_route.cuh"
#include "moe/error.h"

namespace moe::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kBlocksPerSm = 2;
constexpr int kNeuronsPerUnit = 2;
constexpr int kDownRowsPerUnit = 4;
// Output rows whose pieces one warp adds into the residual; a layer's counters count the finished rows of
// each such chunk.
constexpr int kChunkRows = 64;

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

__device__ __forceinline__ void store_tagged(uint64_t* p, float v, int32_t tag) {
  *p = uint64_t(__float_as_uint(v)) | uint64_t(uint32_t(tag)) << 32;
}

// Repeats pass() (one read of every value a warp waits for, true in a lane when all its values carried the
// tag) until it holds in every lane.
template <class Pass>
__device__ __forceinline__ void until_tagged(Pass pass) {
  while (!__all_sync(kFullMask, pass()))
    __nanosleep(100);
  __syncwarp();
}

// Reads n tagged values into dst (every lane of the warp a share), waiting until all carry `tag`; value i
// is at address(i). Sixteen loads per lane are in flight at once.
template <class Address>
__device__ __forceinline__ void load_tagged(float* dst, int64_t n, int32_t tag, Address address) {
  constexpr int kBatch = 16;
  const int lane = threadIdx.x & 31;
  until_tagged([&] {
    bool ready = true;
    for (int64_t base = lane; base < n; base += 32 * kBatch) {
      uint64_t t[kBatch];
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        const int64_t i = base + 32 * k;
        t[k] = i < n ? __ldcg(reinterpret_cast<const unsigned long long*>(address(i))) : 0;
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
    return ready;
  });
}

// Contiguous values: two per 16-byte load when aligned, 24 per lane in flight (a piece of 1,408 neurons in
// two round trips; under a full DRAM load an L2 round trip takes over a microsecond).
__device__ __forceinline__ void load_tagged(float* dst, const uint64_t* src, int64_t n, int32_t tag) {
  if ((reinterpret_cast<uintptr_t>(src) & 15) != 0 || (n & 1) != 0) {
    load_tagged(dst, n, tag, [src](int64_t i) { return src + i; });
    return;
  }
  constexpr int kBatch = 12;
  const int lane = threadIdx.x & 31;
  const int64_t pairs = n / 2;
  const ulonglong2* src2 = reinterpret_cast<const ulonglong2*>(src);
  until_tagged([&] {
    bool ready = true;
    for (int64_t base = lane; base < pairs; base += 32 * kBatch) {
      ulonglong2 t[kBatch];
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        const int64_t i = base + 32 * k;
        t[k] = i < pairs ? __ldcg(src2 + i) : make_ulonglong2(0, 0);
      }
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        const int64_t i = base + 32 * k;
        if (i < pairs) {
          ready &= int32_t(t[k].x >> 32) == tag && int32_t(t[k].y >> 32) == tag;
          dst[2 * i] = __uint_as_float(uint32_t(t[k].x));
          dst[2 * i + 1] = __uint_as_float(uint32_t(t[k].y));
        }
      }
    }
    return ready;
  });
}

// Where the units of the list start, and the shape of the down projection's pieces.
struct FfnPlan {
  int64_t router_end, always_end, routed_end, total;
  int64_t units_per_slot, units_per_piece;  // gate/up units per chosen expert; down units per piece
  int64_t always_pieces, routed_pieces;
  DownSplit d;
};

__host__ __device__ inline FfnPlan ffn_plan(const FfnArgs& a, const DownSplit& d) {
  FfnPlan p;
  p.d = d;
  p.router_end = a.router_rows;  // one router row per unit
  p.always_end = p.router_end + (a.always_inter + kNeuronsPerUnit - 1) / kNeuronsPerUnit;
  p.units_per_slot = (a.inter + kNeuronsPerUnit - 1) / kNeuronsPerUnit;
  p.routed_end = p.always_end + a.slots * p.units_per_slot;
  p.units_per_piece = (a.hidden + kDownRowsPerUnit - 1) / kDownRowsPerUnit;
  p.routed_pieces = int64_t(a.slots) * d.per_slot;
  p.always_pieces = d.pieces - p.routed_pieces;
  p.total = p.routed_end + d.pieces * p.units_per_piece;
  return p;
}

// Each warp's slice of shared memory holds either the neurons of the down piece it works on or its routing
// scratch (logits, scores, choice: 3E + 1 floats, then the chosen ids and weights).
__host__ __device__ inline int64_t route_scratch_floats(const RouterArgs& r) {
  return r.top_k > 0 ? 3 * int64_t(r.num_experts) + 1 + 2 * kMaxTopK : 0;
}

__host__ __device__ inline int64_t ffn_warp_area(const FfnArgs& a, const RouterArgs& r, const DownSplit& d) {
  int64_t n = d.always_piece;
  if (a.slots > 0 && d.piece > n) n = d.piece;
  if (route_scratch_floats(r) > n) n = route_scratch_floats(r);
  if (d.pieces * kChunkRows > n) n = d.pieces * kChunkRows;  // a chunk's pieces, to add them up
  return (n + 3) / 4 * 4;
}

// Columns [c0, c0 + n) of h that down piece p covers (pieces: routed slots first, as h).
__device__ __forceinline__ void piece_columns(const FfnArgs& a, const FfnPlan& p, int64_t piece, int64_t& c0,
                                              int64_t& n) {
  if (piece < p.routed_pieces) {
    const int64_t c = (piece % p.d.per_slot) * p.d.piece;
    c0 = (piece / p.d.per_slot) * a.inter + c;
    n = min64(p.d.piece, a.inter - c);
  } else {
    const int64_t c = (piece - p.routed_pieces) * p.d.always_piece;
    c0 = int64_t(a.slots) * a.inter + c;
    n = min64(p.d.always_piece, a.always_inter - c);
  }
}

// The routing as a warp holds it: lane i has slot i's expert and weight; the shared expert's gate.
struct Route {
  bool known = false;
  int32_t expert = 0;
  float weight = 0.0f;
  float shared_scale = 1.0f;
};

__device__ __forceinline__ int32_t slot_expert(const Route& route, int64_t slot) {
  return __shfl_sync(kFullMask, route.expert, int(slot));
}

__device__ __forceinline__ float slot_weight(const Route& route, int64_t slot) {
  return __shfl_sync(kFullMask, route.weight, int(slot));
}

// The routing as a block shares it: the first warp of the block that needs it computes it.
struct BlockRoute {
  int state;  // 0: nobody yet, 1: being computed, 2: ready
  int32_t experts[kMaxTopK];
  float weights[kMaxTopK];
  float shared_scale;
};

// Gets the routing into the warp once per layer: from the block's copy, or computed by this warp from the
// logits once all are written (its scratch then overwrites the warp's cached down piece). `record`: also
// write the routing record.
__device__ void need_route(const FfnArgs& a, const RouterArgs& r, BlockRoute* shared, Route& route,
                           float* scratch, int64_t& cached_piece, bool record) {
  const int lane = threadIdx.x & 31;
  if (!route.known) {
    int claim = lane == 0 ? atomicCAS(&shared->state, 0, 1) : 0;
    claim = __shfl_sync(kFullMask, claim, 0);
    if (claim == 0) {
      const int E = r.num_experts;
      float* logits = scratch;
      load_tagged(logits, a.logits, a.router_rows, a.tag);
      RouterArgs local = r;
      local.experts = shared->experts;
      local.weights = shared->weights;
      route_warp(local, logits, scratch + E + 1, scratch + 2 * E + 1);
      cached_piece = -1;
      if (lane == 0) shared->shared_scale = r.shared_gate ? sigmoid(logits[E]) : 1.0f;
      __syncwarp();
      __threadfence_block();
      if (lane == 0) atomicExch(&shared->state, 2);
    } else {
      // A plain load and a long sleep: an atomic in the loop took issue slots and shared-memory bandwidth
      // from the warps still streaming weights.
      while (*reinterpret_cast<volatile int*>(&shared->state) != 2)
        __nanosleep(256);
      __threadfence_block();
    }
    route.expert = lane < r.top_k ? shared->experts[lane] : 0;
    route.weight = lane < r.top_k ? shared->weights[lane] : 0.0f;
    route.shared_scale = shared->shared_scale;
    route.known = true;
    __syncwarp();
  }
  if (record && lane < r.top_k) {
    r.experts[lane] = route.expert;
    r.weights[lane] = route.weight;
  }
}

// One router unit: the logit of one router row, its two halves' loads in flight at once (the routing waits
// for the last logit, so a router row costs one memory round trip instead of two).
__device__ void router_unit(const FfnArgs& a, int64_t row, const float* xs) {
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

// One gate/up unit: silu(gate . x) * (up . x) of up to two neurons of one matrix into h.
__device__ void up_unit(const FfnArgs& a, const RouterArgs& r, const FfnPlan& p, int64_t u, const float* xs,
                        BlockRoute* shared_route, Route& route, float* scratch, int64_t& cached_piece) {
  int64_t first, n_matrix, h0;
  const bf16 *gate, *up;
  if (u < p.always_end) {
    first = (u - p.router_end) * kNeuronsPerUnit;
    n_matrix = a.always_inter;
    gate = a.always_gate;
    up = a.always_up;
    h0 = int64_t(a.slots) * a.inter;
  } else {
    const int64_t k = u - p.always_end, slot = k / p.units_per_slot;
    first = (k % p.units_per_slot) * kNeuronsPerUnit;
    n_matrix = a.inter;
    need_route(a, r, shared_route, route, scratch, cached_piece, u == p.always_end);
    const int64_t e = slot_expert(route, slot);
    gate = a.experts_gate + e * a.expert_stride;
    up = a.experts_up + e * a.expert_stride;
    h0 = slot * a.inter;
  }
  const int n = int(min64(kNeuronsPerUnit, n_matrix - first));
  for (int i = 0; i < n; ++i) {
    float g, v;
    warp_dot_2(gate + (first + i) * a.hidden, xs, a.hidden, up + (first + i) * a.hidden, xs, a.hidden, g, v);
    if ((threadIdx.x & 31) == 0) store_tagged(a.h + h0 + first + i, silu(g) * v, a.tag);
  }
}

// Where down unit u reads: its piece, output rows [row, row + rows), weight rows w + i * ld of n columns
// (h columns [c0, c0 + n)), and the weight of its expert.
struct DownUnit {
  int64_t piece, row, c0, n, ld;
  int rows;
  const bf16* w;
  float scale;
};

__device__ DownUnit locate_down(const FfnArgs& a, const RouterArgs& r, const FfnPlan& p, int64_t u,
                                BlockRoute* shared_route, Route& route, float* scratch,
                                int64_t& cached_piece) {
  DownUnit du;
  // The always-on MLP's pieces, ready first, come first.
  const int64_t k = u - p.routed_end, order = k / p.units_per_piece;
  du.piece = order < p.always_pieces ? p.routed_pieces + order : order - p.always_pieces;
  du.row = (k % p.units_per_piece) * kDownRowsPerUnit;
  du.rows = int(min64(kDownRowsPerUnit, a.hidden - du.row));
  du.scale = 1.0f;
  if (du.piece < p.routed_pieces) {
    need_route(a, r, shared_route, route, scratch, cached_piece, false);
    const int64_t slot = du.piece / p.d.per_slot;
    du.w = a.experts_down + int64_t(slot_expert(route, slot)) * a.expert_stride +
           (du.piece % p.d.per_slot) * p.d.piece;
    du.ld = a.inter;
    du.scale = slot_weight(route, slot);
  } else {
    if (r.shared_gate) {
      need_route(a, r, shared_route, route, scratch, cached_piece, false);
      du.scale = route.shared_scale;
    }
    du.w = a.always_down + (du.piece - p.routed_pieces) * p.d.always_piece;
    du.ld = a.always_inter;
  }
  piece_columns(a, p, du.piece, du.c0, du.n);
  return du;
}

// One down unit: up to four output rows of one piece, weighted (routing weight or shared-expert gate), into
// the piece's part. Returns the chunk of output rows it counted done and the count before it (to be looked
// at later, so the atomic's round trip overlaps the next unit).
__device__ void down_unit(const FfnArgs& a, const RouterArgs& r, const FfnPlan& p, int64_t u, float* hs,
                          int64_t& cached_piece, BlockRoute* shared_route, Route& route, int64_t& chunk,
                          int& before, int& rows) {
  const DownUnit du = locate_down(a, r, p, u, shared_route, route, hs, cached_piece);
  const int64_t piece = du.piece, row = du.row, c0 = du.c0, n = du.n, ld = du.ld;
  const bf16* w = du.w;
  const float scale = du.scale;
  rows = du.rows;
  if (piece != cached_piece) {  // this piece's neurons into the warp's slice of shared memory
    load_tagged(hs, a.h + c0, n, a.tag);
    cached_piece = piece;
  }
  uint64_t* part = a.part + piece * a.hidden;
  for (int i = 0; i < rows; i += 2) {
    float v0, v1 = 0.0f;
    if (i + 1 < rows)
      warp_dot_2(w + (row + i) * ld, hs, n, w + (row + i + 1) * ld, hs, n, v0, v1);
    else
      v0 = warp_dot_row(w + (row + i) * ld, hs, n);
    if ((threadIdx.x & 31) == 0) {
      store_tagged(part + row + i, scale * v0, a.tag);
      if (i + 1 < rows) store_tagged(part + row + i + 1, scale * v1, a.tag);
    }
  }
  chunk = row / kChunkRows;
  before = (threadIdx.x & 31) == 0 ? atomicAdd(a.counters + chunk, rows) : 0;
}

// If the down unit that counted `rows` into `chunk` (the count was `before`) completed it: out = x + the
// pieces of its rows, added in piece order, once all are written.
// Returns whether it did (its scratch then overwrote the warp's cached piece).
__device__ bool finish_chunk(const FfnArgs& a, const FfnPlan& p, int64_t chunk, int before, int rows,
                             float* scratch) {
  const int64_t r0 = chunk * kChunkRows;
  const int n = int(min64(kChunkRows, a.hidden - r0));
  if (__shfl_sync(kFullMask, before, 0) + rows != n * int(p.d.pieces)) return false;
  const int lane = threadIdx.x & 31;
  float x[kChunkRows / 32];  // the residual, loaded alongside the pieces rather than after them
#pragma unroll
  for (int k = 0; k < kChunkRows / 32; ++k)
    x[k] = lane + 32 * k < n ? a.x[r0 + lane + 32 * k] : 0.0f;
  // scratch[q * n + i]: piece q, row r0 + i
  load_tagged(scratch, p.d.pieces * n, a.tag,
              [&](int64_t j) { return a.part + (j / n) * a.hidden + r0 + j % n; });
#pragma unroll
  for (int k = 0; k < kChunkRows / 32; ++k) {
    const int i = lane + 32 * k;
    if (i < n) {
      float acc = 0.0f;
      for (int64_t q = 0; q < p.d.pieces; ++q)
        acc += scratch[q * n + i];
      a.out[r0 + i] = x[k] + acc;
    }
  }
  __syncwarp();
  return true;
}

__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm)
    ffn_kernel(FfnArgs a, RouterArgs r, DownSplit d) {
  // The plan in shared memory (read after load_input's barrier), to leave registers to the units. It came
  // with an early-load variant that was not kept (cuda_decode_notes, version 51) and was measured only with
  // the rest of ab2b857, not on its own.
  __shared__ FfnPlan shared_plan;
  if (threadIdx.x == 0) shared_plan = ffn_plan(a, d);
  const FfnPlan& p = shared_plan;
  const int warp = threadIdx.x >> 5;
  // Only the norm weights go to L2 before the wait: prefetching the first units' rows as well cost
  // Qwen1.5-MoE 1.6 % per step (cuda_decode_notes, version 45).
  pdl_begin_prefetching(nullptr, nullptr, 0, a.ffn_norm, a.hidden);
  extern __shared__ float smem[];
  __shared__ float scratch[33];
  float* xs = smem;
  float* area = smem + (a.hidden + 3) / 4 * 4 + warp * ffn_warp_area(a, r, d);
  __shared__ BlockRoute shared_route;
  if (threadIdx.x == 0) shared_route.state = 0;
  load_input(xs, a.x, a.hidden, a.ffn_norm, a.eps, scratch);  // + barrier
  Route route;
  int64_t cached_piece = -1;
  int64_t chunk = -1;  // a chunk counted by the previous unit, to look at after this one
  int before = 0, rows = 0;
  // Router and gate/up units round-robin (warps interleaved over the SMs), then a run of consecutive down
  // units (mostly of one piece, whose neurons then stay in the warp's shared memory).
  const int64_t warps = int64_t(gridDim.x) * kWarps, me = int64_t(warp) * gridDim.x + blockIdx.x;
  for (int64_t u = me; u < p.routed_end; u += warps) {
    if (u < p.router_end)
      router_unit(a, u, xs);
    else
      up_unit(a, r, p, u, xs, &shared_route, route, area, cached_piece);
  }
  const int64_t downs = p.total - p.routed_end;
  for (int64_t u = p.routed_end + downs * me / warps; u < p.routed_end + downs * (me + 1) / warps; ++u) {
    const int64_t prev_chunk = chunk;
    const int prev_before = before, prev_rows = rows;
    down_unit(a, r, p, u, area, cached_piece, &shared_route, route, chunk, before, rows);
    if (prev_chunk >= 0 && finish_chunk(a, p, prev_chunk, prev_before, prev_rows, area)) cached_piece = -1;
  }
  if (chunk >= 0) finish_chunk(a, p, chunk, before, rows, area);
}

int g_sm_count = 132;

}  // namespace

int64_t ffn_counter_ints(int64_t hidden) {
  return (hidden + kChunkRows - 1) / kChunkRows;
}

void prepare_ffn_kernels(size_t max_smem, int sm_count) {
  g_sm_count = sm_count;
  MOE_CUDA_CHECK(
      cudaFuncSetAttribute(ffn_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(max_smem)));
  prefer_max_shared(ffn_kernel);
}

void launch_ffn(const FfnArgs& a, const RouterArgs& r, cudaStream_t s) {
  const DownSplit d = down_split(a.slots, a.inter, a.always_inter);
  const FfnPlan p = ffn_plan(a, d);
  const size_t smem = sizeof(float) * size_t((a.hidden + 3) / 4 * 4 + kWarps * ffn_warp_area(a, r, d));
  // Static assignment waits on units of other warps: the grid must be resident at once.
  // (Asked once per device and shared-memory size: launches without a graph come here every layer.)
  thread_local int asked_device = -1;
  thread_local size_t asked_smem = 0;
  thread_local int per_sm = 0;
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  if (device != asked_device || smem != asked_smem) {
    MOE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ffn_kernel, kWarps * 32, smem));
    asked_device = device;
    asked_smem = smem;
  }
  if (per_sm < 1) throw Error("CUDA decode: the FFN kernel does not fit on an SM");
  const unsigned blocks = unsigned(std::clamp<int64_t>((p.total + kWarps - 1) / kWarps, 1,
                                                       int64_t(std::min(per_sm, kBlocksPerSm)) * g_sm_count));
  launch_pdl(ffn_kernel, blocks, kWarps * 32, smem, s, a, r, d);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
