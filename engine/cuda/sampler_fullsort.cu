// The sampler's full-vocabulary path (top_k off or above kMaxFastTopK): the statistics pass has written the
// penalised keys; cub::DeviceRadixSort (stable, so equal logits stay in id order as sample_token's `better`
// wants) sorts them best first; one pass sums exp((l - top) / T); a second turns it into cumulative
// probabilities, finds the top-p and min-p cuts, and its last block draws by a 256-way search of the
// cumulative array. Everything is enqueued on c.stream with no host synchronisation.
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <string>

#include "cuda/cuda_check.h"
#include "cuda/sampler.h"
#include "cuda/sampler_device.cuh"
#include "moe/error.h"

namespace moe::cuda::sampler_detail {

namespace {

constexpr int kSumCounter = 8, kDrawCounter = 9;

// Blocked layout here (thread t holds positions t*kItems ..): the scan needs consecutive items per thread.
__device__ inline int64_t blocked_pos(int j) {
  return int64_t(blockIdx.x) * kChunk + int64_t(threadIdx.x) * kItems + j;
}

// Candidates kept by top-k (above kMaxFastTopK, or all): the first `keep` sorted positions.
__device__ inline int64_t kept_by_top_k(const StepParams& p, int32_t vocab) {
  return p.top_k > 0 && p.top_k < vocab ? p.top_k : vocab;
}

__global__ void __launch_bounds__(kThreads)
    full_sum_kernel(const uint32_t* __restrict__ keys, const StepParams* __restrict__ params, Workspace w,
                    int32_t vocab) {
  using Scan = cub::BlockScan<double, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ double sd[33];
  const StepParams p = *params;
  if (!(p.temperature > 0)) return;
  const double top = key_value(keys[0]), t = p.temperature;
  const int64_t keep = kept_by_top_k(p, vocab);
  double e = 0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const int64_t pos = blocked_pos(j);
    if (pos < keep) e += exp((double(key_value(keys[pos])) - top) / t);
  }
  e = block_all_reduce<kThreads>(e, SumOp{}, 0.0, sd);
  if (threadIdx.x == 0) w.esum[blockIdx.x] = e;
  if (!last_block(&w.st->counters[kSumCounter])) return;

  // Last block: the total and, per block, the probability mass of the blocks before it.
  const int nb = gridDim.x, tid = threadIdx.x;
  double total = 0;
  for (int i = tid; i < nb; i += kThreads)
    total += __ldcg(&w.esum[i]);
  total = block_all_reduce<kThreads>(total, SumOp{}, 0.0, sd);
  double carry = 0;
  for (int base = 0; base < nb; base += kThreads) {
    const double v = base + tid < nb ? __ldcg(&w.esum[base + tid]) : 0.0;
    double before = 0, agg = 0;
    Scan(scan_tmp).ExclusiveSum(v, before, agg);
    __syncthreads();
    if (base + tid < nb) w.pprefix[base + tid] = (carry + before) / total;
    carry += agg;
  }
  if (tid == 0) {
    w.st->sum = total;
    w.st->first_topp = ~0u;
    w.st->first_minp = ~0u;
  }
}

__global__ void __launch_bounds__(kThreads)
    full_draw_kernel(const uint32_t* __restrict__ keys, const int32_t* __restrict__ ids,
                     const float* __restrict__ logits, const StepParams* __restrict__ params, Workspace w,
                     int32_t vocab, SampleOut* __restrict__ out) {
  using Scan = cub::BlockScan<double, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ uint32_t su[33];
  const StepParams p = *params;
  if (!(p.temperature > 0)) return;
  const int tid = threadIdx.x;
  const double top = key_value(keys[0]), t = p.temperature, sum = w.st->sum;
  const int64_t keep = kept_by_top_k(p, vocab);
  double prob[kItems], cum[kItems];
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const int64_t pos = blocked_pos(j);
    prob[j] = pos < keep ? exp((double(key_value(keys[pos])) - top) / t) / sum : 0.0;
  }
  Scan(scan_tmp).InclusiveSum(prob, cum);
  const double base = w.pprefix[blockIdx.x];
  uint32_t f_topp = ~0u, f_minp = ~0u;
  // sample_token's prob[0] is exp(0) / sum.
  const double floor = double(p.min_p) * (1.0 / sum);
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const int64_t pos = blocked_pos(j);
    if (pos >= keep) continue;
    cum[j] += base;
    w.cum[pos] = cum[j];
    if (p.top_p < 1.0f && cum[j] >= double(p.top_p)) f_topp = min(f_topp, uint32_t(pos));
    if (p.min_p > 0 && pos >= 1 && prob[j] < floor) f_minp = min(f_minp, uint32_t(pos));
  }
  f_topp = block_all_reduce<kThreads>(f_topp, MinOp{}, ~0u, su);
  f_minp = block_all_reduce<kThreads>(f_minp, MinOp{}, ~0u, su);
  if (tid == 0 && f_topp != ~0u) atomicMin(&w.st->first_topp, f_topp);
  if (tid == 0 && f_minp != ~0u) atomicMin(&w.st->first_minp, f_minp);
  if (!last_block(&w.st->counters[kDrawCounter])) return;

  // Last block: the kept prefix [0, n), the draw u, and the first position with u < cum.
  const uint32_t first_topp = __ldcg(&w.st->first_topp), first_minp = __ldcg(&w.st->first_minp);
  uint32_t n = first_topp == ~0u ? uint32_t(keep) : first_topp + 1;
  n = min(n, first_minp);
  const double u = double(philox_uniform_dev(p.seed, p.step)) * __ldcg(&w.cum[n - 1]);
  // Search [lo, hi) for the first position with u < cum; hi is such a position or n (none).
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    const uint32_t step = (hi - lo + kThreads - 1) / kThreads;
    const uint32_t start = lo + uint32_t(tid) * step;
    uint32_t f = ~0u;
    if (start < hi) {
      const uint32_t end = min(start + step, hi) - 1;
      if (u < __ldcg(&w.cum[end])) f = uint32_t(tid);
    }
    f = block_all_reduce<kThreads>(f, MinOp{}, ~0u, su);
    if (f == ~0u) {
      lo = hi;
    } else {
      const uint32_t s = lo + f * step;
      hi = min(s + step, hi) - 1;
      lo = s;
    }
  }
  const uint32_t chosen = lo < n ? lo : n - 1;
  if (tid == 0) write_token(out, logits, ids[chosen], w.st->log_z);
}

}  // namespace

void enqueue_full_sort(CudaContext& c, const Workspace& w, int64_t vocab, int stages) {
  if (stages < 1) return;
  cub::DoubleBuffer<uint32_t> keys(w.keys[0], w.keys[1]);
  cub::DoubleBuffer<int32_t> vals(w.ids[0], w.ids[1]);
  size_t bytes = 0;
  MOE_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairsDescending(nullptr, bytes, keys, vals, int(vocab), 0, 32, c.stream));
  if (bytes > w.sort_temp_bytes)
    throw Error("CUDA sampler: the radix sort wants " + std::to_string(bytes) +
                " bytes of temporary storage, " + std::to_string(w.sort_temp_bytes) + " reserved");
  MOE_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairsDescending(w.sort_temp, bytes, keys, vals, int(vocab), 0, 32, c.stream));
  if (stages < 2) return;
  // The double buffers' selector is set on the host: it tells which buffer holds the sorted result.
  const int nb = int(num_blocks(vocab));
  full_sum_kernel<<<nb, kThreads, 0, c.stream>>>(keys.Current(), c.d.params, w, int32_t(vocab));
  MOE_CUDA_LAUNCHED();
  if (stages < 3) return;
  full_draw_kernel<<<nb, kThreads, 0, c.stream>>>(keys.Current(), vals.Current(), c.d.logits, c.d.params, w,
                                                  int32_t(vocab), c.d.sample);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda::sampler_detail
