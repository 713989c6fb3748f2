// The sampler on the device (see sampler.h). Every mode starts with one multi-block statistics pass over the
// logits (log-sum-exp and best raw logits for the reported logprobs, the penalised argmax); the last block
// to finish combines the per-block results. Greedy stops there. TopK then finds the k-th best penalised
// logit by a radix select over unique 64-bit keys (value, then lower id), 12 bits per pass, stopping as
// soon as the keys at or above the selected prefix fit one block; one gather pass collects them and its
// last block sorts them (cub::BlockRadixSort) and applies temperature, top-p, min-p and the Philox draw
// exactly as sample_token does. FullSort is in sampler_fullsort.cu. Nothing here synchronises with the host
// or allocates, so the whole sequence can be captured in a CUDA graph.
#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_scan.cuh>

#include <string>
#include <vector>

#include "cuda/cuda_check.h"
#include "cuda/sampler.h"
#include "cuda/sampler_device.cuh"
#include "moe/error.h"

namespace moe::cuda {

using namespace sampler_detail;
using ull = unsigned long long;

namespace {

// Kernel tickets in State::counters.
constexpr int kStatsCounter = 0;  // passes use 1..kMaxPasses-1
constexpr int kGatherCounter = 7;
constexpr int kSmallSort = 256;  // candidate sets up to this size are ranked by counting

// top_k as the TopK path uses it: at least 1, at most the vocabulary and the fast limit.
__device__ inline int fast_k(const StepParams& p, int32_t vocab) {
  const int cap = vocab < int(kMaxFastTopK) ? vocab : int(kMaxFastTopK);
  return p.top_k < 1 ? cap : (p.top_k > cap ? cap : p.top_k);
}

// One radix-select step, run by the whole last block of a pass: finds the digit (at `shift`) of the
// k_rem-th best key among those inside the current prefix from the global histogram, narrows the prefix,
// and marks the selection done once the keys at or above the prefix fit the candidate buffer. Clears the
// histogram for the next pass.
__device__ void select_step(const Workspace& w, int shift) {
  using Scan = cub::BlockScan<uint32_t, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ bool found;
  constexpr int kPer = kBins / kThreads;
  const int tid = threadIdx.x;
  if (tid == 0) found = false;
  // Thread 0 holds the highest digits: the scan counts keys from the best down.
  uint32_t cnt[kPer], local = 0;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    cnt[j] = __ldcg(&w.hist[kBins - 1 - (tid * kPer + j)]);
    local += cnt[j];
  }
  uint32_t before = 0;
  Scan(scan_tmp).ExclusiveSum(local, before);
  State& s = *w.st;
  const uint32_t k_rem = s.k_rem;
  if (before < k_rem && k_rem <= before + local) {
    uint32_t acc = before;
    for (int j = 0; j < kPer; ++j) {
      if (k_rem <= acc + cnt[j]) {
        const uint32_t digit = uint32_t(kBins - 1 - (tid * kPer + j));
        s.prefix |= ull(digit) << shift;
        s.prefix_bits = uint32_t(64 - shift);
        s.above += acc;
        s.k_rem = k_rem - acc;
        if (s.above + cnt[j] <= uint32_t(kCand)) s.done = 1;
        found = true;
        break;
      }
      acc += cnt[j];
    }
  }
  __syncthreads();
  if (tid == 0 && !found) s.done = 1;  // inconsistent counts (cannot happen): gather what there is
  for (int i = tid; i < kBins; i += kThreads)
    w.hist[i] = 0;
}

__device__ inline ull warp_max(ull v) {
  for (int o = 16; o > 0; o >>= 1) {
    const ull x = __shfl_xor_sync(0xffffffffu, v, o);
    v = x > v ? x : v;
  }
  return v;
}

// Warp 0 merges kWarps lists of n_top keys (best first, 0 = none) into the n_top best: rounds of "largest
// key below the previous one" with shuffles only; emit(r, key) gets them in order (lane 0).
constexpr int kWarps = kThreads / 32;
template <class Emit>
__device__ inline void warp0_merge(const ull (*lists)[kMaxTopLogprobs], int n_top, Emit emit) {
  const int lane = threadIdx.x & 31;
  constexpr int kPerLane = (kWarps * kMaxTopLogprobs + 31) / 32;
  ull mine[kPerLane];
#pragma unroll
  for (int q = 0; q < kPerLane; ++q) {
    const int e = lane + 32 * q, src = e / kMaxTopLogprobs, r = e % kMaxTopLogprobs;
    mine[q] = src < kWarps && r < n_top ? lists[src][r] : 0ull;
  }
  ull prev = ~0ull;
  for (int r = 0; r < n_top; ++r) {
    ull loc = 0;
#pragma unroll
    for (int q = 0; q < kPerLane; ++q)
      if (mine[q] < prev && mine[q] > loc) loc = mine[q];
    prev = warp_max(loc);
    if (lane == 0) emit(r, prev);
  }
}

// Last block of the statistics pass: the n_top best raw logits from the blocks' lists. The n_top-th best
// overall is at least every block's n_top-th best, so only entries at or above the largest of those
// (raw_theta) can be in the answer; each warp takes the n_top best of its share of them by rounds, warp 0
// merges. Should more than kKeepCap pass the filter (vocabularies above ~200k), rounds over all blocks'
// lists find the answer instead.
constexpr int kKeepCap = 2048;
__device__ void merge_raw_top(const Workspace& w, const float* logits, int nb, int n_top, float log_z,
                              SampleOut* out) {
  __shared__ ull s_keep[kKeepCap];
  __shared__ ull s_lists[kWarps][kMaxTopLogprobs];
  __shared__ uint32_t s_n;
  __shared__ ull su[33];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (tid == 0) s_n = 0;
  __syncthreads();
  const ull theta = __ldcg(&w.st->raw_theta);
  for (int i = tid; i < nb * n_top; i += kThreads) {
    const ull c = __ldcg(&w.blk_raw[size_t(i / n_top) * kMaxTopLogprobs + i % n_top]);
    if (c >= theta) {
      const uint32_t at = atomicAdd(&s_n, 1u);
      if (at < uint32_t(kKeepCap)) s_keep[at] = c;
    }
  }
  __syncthreads();
  const int m = int(s_n);
  auto emit = [&](int r, ull c) {
    const int32_t id = composite_id(c);
    out->top_ids[r] = id;
    out->top_logprobs[r] = logits[id] - log_z;
  };
  if (m <= kKeepCap) {
    const int per = (m + kWarps - 1) / kWarps, lo = warp * per, hi = min(m, lo + per);
    ull prev = ~0ull;
    for (int r = 0; r < n_top; ++r) {
      ull loc = 0;
      for (int q = lo + lane; q < hi; q += 32) {
        const ull c = s_keep[q];
        if (c < prev && c > loc) loc = c;
      }
      prev = warp_max(loc);
      if (lane == 0) s_lists[warp][r] = prev;
    }
    __syncthreads();
    if (warp == 0) warp0_merge(s_lists, n_top, emit);
    return;
  }
  ull prev = ~0ull;
  for (int r = 0; r < n_top; ++r) {
    ull loc = 0;
    for (int i = tid; i < nb * n_top; i += kThreads) {
      const ull c = __ldcg(&w.blk_raw[size_t(i / n_top) * kMaxTopLogprobs + i % n_top]);
      if (c < prev && c > loc) loc = c;
    }
    prev = block_all_reduce<kThreads>(loc, MaxOp{}, 0ull, su);
    if (tid == 0) emit(r, prev);
  }
}

// Statistics pass (all modes); TopK: also the first radix-select pass; FullSort: writes the keys to sort.
template <SamplerMode M>
__global__ void __launch_bounds__(kThreads)
    stats_kernel(const float* __restrict__ logits, const StepParams* __restrict__ params,
                 const uint8_t* __restrict__ seen, Workspace w, int32_t vocab, SampleOut* __restrict__ out) {
  __shared__ uint32_t shist[M == SamplerMode::TopK ? kBins : 1];
  __shared__ float sf[33];
  __shared__ double sd[33];
  __shared__ ull su[33];
  __shared__ ull s_wtop[kThreads / 32][kMaxTopLogprobs];
  const StepParams p = *params;
  const bool pen = penalties_on(p);
  const int n_top = min(max(p.top_logprobs, 0), min(kMaxTopLogprobs, vocab));
  const int tid = threadIdx.x, b = blockIdx.x;
  if constexpr (M == SamplerMode::TopK) {
    for (int i = tid; i < kBins; i += kThreads)
      shist[i] = 0;
    __syncthreads();
  }
  float raw[kItems];
  float m = -INFINITY;
  ull best = 0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const int32_t i = b * kChunk + j * kThreads + tid;
    raw[j] = -INFINITY;
    if (i < vocab) {
      raw[j] = logits[i];
      m = raw[j] > m ? raw[j] : m;
      const float v = pen && seen[i] ? penalise(raw[j], p) : raw[j];
      const ull c = composite(v, i);
      best = c > best ? c : best;
      if constexpr (M == SamplerMode::FullSort) {
        w.keys[0][i] = ordered_key(v);
        w.ids[0][i] = i;
      }
      if constexpr (M == SamplerMode::TopK) atomicAdd(&shist[c >> 52], 1u);
    }
  }
  m = block_all_reduce<kThreads>(m, MaxOp{}, -INFINITY, sf);
  double s = 0;
  if (m > -INFINITY) {
#pragma unroll
    for (int j = 0; j < kItems; ++j)
      if (b * kChunk + j * kThreads + tid < vocab) s += exp(double(raw[j] - m));
  }
  s = block_all_reduce<kThreads>(s, SumOp{}, 0.0, sd);
  best = block_all_reduce<kThreads>(best, MaxOp{}, 0ull, su);
  // This block's best raw logits, best first: each warp takes its n_top best by rounds of "largest key
  // below the previous one" over its 256 logits (shuffles only), then warp 0 merges the 8 warps' lists the
  // same way. The block's n_top-th best raises the global threshold the last block filters with.
  if (n_top > 0) {
    const int warp = tid >> 5, lane = tid & 31;
    ull prev = ~0ull;
    for (int r = 0; r < n_top; ++r) {
      ull loc = 0;
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        const int32_t i = b * kChunk + j * kThreads + tid;
        if (i < vocab) {
          const ull c = composite(raw[j], i);
          if (c < prev && c > loc) loc = c;
        }
      }
      prev = warp_max(loc);
      if (lane == 0) s_wtop[warp][r] = prev;
    }
    __syncthreads();
    if (warp == 0) {
      ull last = 0;
      warp0_merge(s_wtop, n_top, [&](int r, ull c) {
        w.blk_raw[size_t(b) * kMaxTopLogprobs + r] = c;
        last = c;
      });
      prev = last;
      if (lane == 0) atomicMax(&w.st->raw_theta, prev);
    }
  }
  if constexpr (M == SamplerMode::TopK) {
    for (int i = tid; i < kBins; i += kThreads)
      if (shist[i]) atomicAdd(&w.hist[i], shist[i]);
  }
  if (tid == 0) {
    w.blk_max[b] = m;
    w.blk_sum[b] = s;
    w.blk_best[b] = best;
  }
  if (!last_block(&w.st->counters[kStatsCounter])) return;

  // Last block: log-sum-exp, argmax and best raw logits over all blocks.
  const int nb = gridDim.x;
  float mx = -INFINITY;
  for (int i = tid; i < nb; i += kThreads) {
    const float bm = __ldcg(&w.blk_max[i]);
    mx = bm > mx ? bm : mx;
  }
  mx = block_all_reduce<kThreads>(mx, MaxOp{}, -INFINITY, sf);
  double z = 0;
  best = 0;
  for (int i = tid; i < nb; i += kThreads) {
    const double bs = __ldcg(&w.blk_sum[i]);
    if (bs > 0) z += bs * exp(double(__ldcg(&w.blk_max[i]) - mx));
    const ull bb = __ldcg(&w.blk_best[i]);
    best = bb > best ? bb : best;
  }
  z = block_all_reduce<kThreads>(z, SumOp{}, 0.0, sd);
  best = block_all_reduce<kThreads>(best, MaxOp{}, 0ull, su);
  const float log_z = float(log(z)) + mx;
  if (n_top > 0) merge_raw_top(w, logits, nb, n_top, log_z, out);
  if (tid >= n_top && tid < kMaxTopLogprobs) {
    out->top_ids[tid] = -1;
    out->top_logprobs[tid] = 0;
  }
  const bool greedy = M == SamplerMode::Greedy || !(p.temperature > 0);
  if (tid == 0) {
    w.st->log_z = log_z;
    w.st->best = best;
    if (greedy) {
      write_token(out, logits, composite_id(best), log_z);
      w.st->done = 1;
    }
  }
  if constexpr (M == SamplerMode::TopK) {
    if (!greedy) {
      if (tid == 0) w.st->k_rem = uint32_t(fast_k(p, vocab));
      __syncthreads();
      select_step(w, 64 - kDigitBits);
    }
  }
}

// Radix-select pass: histogram of the digit at `shift` (width bits) of the keys inside the prefix.
__global__ void __launch_bounds__(kThreads)
    select_pass_kernel(const float* __restrict__ logits, const StepParams* __restrict__ params,
                       const uint8_t* __restrict__ seen, Workspace w, int32_t vocab, int pass, int shift,
                       int width) {
  if (w.st->done) return;  // set by an earlier kernel: the same answer in every block
  __shared__ uint32_t shist[kBins];
  const int tid = threadIdx.x, b = blockIdx.x;
  for (int i = tid; i < kBins; i += kThreads)
    shist[i] = 0;
  const StepParams p = *params;
  const bool pen = penalties_on(p);
  const ull prefix_hi = w.st->prefix >> (shift + width);
  const uint32_t mask = (1u << width) - 1;
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const int32_t i = b * kChunk + j * kThreads + tid;
    if (i < vocab) {
      const ull c = composite(penalised_logit(logits, seen, pen, p, i), i);
      if ((c >> (shift + width)) == prefix_hi) atomicAdd(&shist[uint32_t(c >> shift) & mask], 1u);
    }
  }
  __syncthreads();
  for (int i = tid; i < kBins; i += kThreads)
    if (shist[i]) atomicAdd(&w.hist[i], shist[i]);
  if (!last_block(&w.st->counters[pass])) return;
  select_step(w, shift);
}

// Gathers the keys at or above the selected prefix; the last block sorts them, keeps the best k and draws.
__global__ void __launch_bounds__(kGatherThreads)
    gather_sample_kernel(const float* __restrict__ logits, const StepParams* __restrict__ params,
                         const uint8_t* __restrict__ seen, Workspace w, int32_t vocab, int id_bits,
                         SampleOut* __restrict__ out) {
  using Sort = cub::BlockRadixSort<ull, kGatherThreads, kGatherItems>;
  using Scan = cub::BlockScan<double, kGatherThreads>;
  __shared__ union {
    typename Sort::TempStorage sort;
    typename Scan::TempStorage scan;
    ull small[2][kSmallSort];
  } tmp;
  __shared__ double sd[33];
  __shared__ uint32_t su[33];
  __shared__ uint32_t s_count, s_base;
  __shared__ double s_top, s_prob0, s_total;
  __shared__ int32_t s_token;

  const StepParams p = *params;
  if (!(p.temperature > 0)) return;  // the statistics pass wrote the argmax
  const bool pen = penalties_on(p);
  const int tid = threadIdx.x, b = blockIdx.x;
  const ull prefix = w.st->prefix;
  if (tid == 0) s_count = 0;
  __syncthreads();
  ull key[kGatherItems];
  uint32_t slot[kGatherItems];
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j) {
    const int32_t i = b * kChunk + j * kGatherThreads + tid;
    slot[j] = ~0u;
    if (i < vocab) {
      key[j] = composite(penalised_logit(logits, seen, pen, p, i), i);
      if (key[j] >= prefix) slot[j] = atomicAdd(&s_count, 1u);
    }
  }
  __syncthreads();
  if (tid == 0 && s_count) s_base = atomicAdd(&w.st->n_cand, s_count);
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j)
    if (slot[j] != ~0u && s_base + slot[j] < uint32_t(kCand)) w.cand[s_base + slot[j]] = key[j];
  if (!last_block(&w.st->counters[kGatherCounter])) return;

  // Last block: sort the candidates best first, as keys of (value, id) packed into 32 + id_bits bits: a few
  // (the usual case) by counting, each key's position being the number of keys above it (keys are
  // unique); more by cub::BlockRadixSort.
  const int n = min(int(__ldcg(&w.st->n_cand)), kCand);
  const int k = min(fast_k(p, vocab), n);
  const ull id_mask = (1ull << id_bits) - 1;
  auto pack = [&](ull c) { return (ull(uint32_t(c >> 32)) << id_bits) | (id_mask - ull(composite_id(c))); };
  if (n <= kSmallSort) {
    const ull c = tid < n ? __ldcg(&w.cand[tid]) : 0ull;
    if (tid < n) tmp.small[0][tid] = c;
    __syncthreads();
    if (tid < n) {
      int rank = 0;
      for (int q = 0; q < n; ++q)
        rank += tmp.small[0][q] > c;
      tmp.small[1][rank] = c;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kGatherItems; ++j) {
      const int pos = tid * kGatherItems + j;
      key[j] = pos < n ? pack(tmp.small[1][pos]) : 0ull;
    }
  } else {
#pragma unroll
    for (int j = 0; j < kGatherItems; ++j) {
      const int pos = tid * kGatherItems + j;
      key[j] = pos < n ? pack(__ldcg(&w.cand[pos])) : 0ull;
    }
    Sort(tmp.sort).SortDescending(key, 0, 32 + id_bits);
  }
  __syncthreads();
  int32_t id[kGatherItems];
  float val[kGatherItems];
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j) {
    id[j] = int32_t(id_mask - (key[j] & id_mask));
    val[j] = key_value(uint32_t(key[j] >> id_bits));
  }
  if (tid == 0) s_top = val[0];
  __syncthreads();
  // sample_token: prob = exp((l - top) / T) normalised over the k candidates, then the cuts and the draw.
  const double top = s_top, t = p.temperature;
  double prob[kGatherItems], cum[kGatherItems], e_sum = 0;
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j) {
    const int pos = tid * kGatherItems + j;
    prob[j] = pos < k ? exp((double(val[j]) - top) / t) : 0.0;
    e_sum += prob[j];
  }
  const double sum = block_all_reduce<kGatherThreads>(e_sum, SumOp{}, 0.0, sd);
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j)
    prob[j] /= sum;
  if (tid == 0) s_prob0 = prob[0];
  Scan(tmp.scan).InclusiveSum(prob, cum);
  __syncthreads();
  uint32_t n_keep = uint32_t(k);
  if (p.top_p < 1.0f) {
    uint32_t f = ~0u;
#pragma unroll
    for (int j = 0; j < kGatherItems; ++j) {
      const uint32_t pos = tid * kGatherItems + j;
      if (pos < uint32_t(k) && cum[j] >= double(p.top_p)) f = min(f, pos);
    }
    f = block_all_reduce<kGatherThreads>(f, MinOp{}, ~0u, su);
    if (f != ~0u) n_keep = f + 1;
  }
  if (p.min_p > 0) {
    const double floor = double(p.min_p) * s_prob0;
    uint32_t f = ~0u;
#pragma unroll
    for (int j = 0; j < kGatherItems; ++j) {
      const uint32_t pos = tid * kGatherItems + j;
      if (pos >= 1 && pos < n_keep && prob[j] < floor) f = min(f, pos);
    }
    f = block_all_reduce<kGatherThreads>(f, MinOp{}, ~0u, su);
    n_keep = min(n_keep, f);
  }
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j)
    if (uint32_t(tid * kGatherItems + j) == n_keep - 1) s_total = cum[j];
  __syncthreads();
  const double u = double(philox_uniform_dev(p.seed, p.step)) * s_total;
  uint32_t f = ~0u;
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j) {
    const uint32_t pos = tid * kGatherItems + j;
    if (pos < n_keep && u < cum[j]) f = min(f, pos);
  }
  f = block_all_reduce<kGatherThreads>(f, MinOp{}, ~0u, su);
  const uint32_t chosen = f == ~0u ? n_keep - 1 : f;
#pragma unroll
  for (int j = 0; j < kGatherItems; ++j)
    if (uint32_t(tid * kGatherItems + j) == chosen) s_token = id[j];
  __syncthreads();
  if (tid == 0) write_token(out, logits, s_token, w.st->log_z);
}

__global__ void mark_seen_kernel(const StepParams* __restrict__ params, uint8_t* seen, int32_t vocab) {
  const int32_t t = params->token;
  if (t >= 0 && t < vocab) seen[t] = 1;
}

int32_t checked_vocab(const CudaContext& c) {
  const int64_t v = c.spec.vocab_size;
  if (v <= 0 || v > (int64_t(1) << 30))
    throw Error("CUDA sampler: unsupported vocabulary size " + std::to_string(v));
  return int32_t(v);
}

}  // namespace

SamplerMode sampler_mode(const SamplingParams& p) {
  if (!(p.temperature > 0)) return SamplerMode::Greedy;
  if (p.top_k >= 1 && p.top_k <= kMaxFastTopK) return SamplerMode::TopK;
  return SamplerMode::FullSort;
}

size_t sampler_workspace_bytes(int64_t vocab) {
  return workspace_layout(nullptr, vocab).total;
}

void enqueue_mark_seen(CudaContext& c) {
  mark_seen_kernel<<<1, 1, 0, c.stream>>>(c.d.params, c.d.seen, checked_vocab(c));
  MOE_CUDA_LAUNCHED();
}

void enqueue_sample(CudaContext& c, SamplerMode mode) {
  sampler_detail::enqueue_sample_stages(c, mode, 1 << 20);
}

void sampler_detail::enqueue_sample_stages(CudaContext& c, SamplerMode mode, int stages) {
  const int32_t vocab = checked_vocab(c);
  const Workspace w = workspace_layout(c.d.sampler_workspace, vocab);
  if (!c.d.sampler_workspace || (c.d.sampler_workspace_bytes && c.d.sampler_workspace_bytes < w.total))
    throw Error("CUDA sampler: workspace of " + std::to_string(c.d.sampler_workspace_bytes) +
                " bytes, needs " + std::to_string(w.total));
  const int nb = int(num_blocks(vocab));
  MOE_CUDA_CHECK(cudaMemsetAsync(w.st, 0, w.zero_bytes, c.stream));
  if (stages < 1) return;
  const float* logits = c.d.logits;
  switch (mode) {
    case SamplerMode::Greedy:
      stats_kernel<SamplerMode::Greedy>
          <<<nb, kThreads, 0, c.stream>>>(logits, c.d.params, c.d.seen, w, vocab, c.d.sample);
      MOE_CUDA_LAUNCHED();
      break;
    case SamplerMode::TopK: {
      stats_kernel<SamplerMode::TopK>
          <<<nb, kThreads, 0, c.stream>>>(logits, c.d.params, c.d.seen, w, vocab, c.d.sample);
      MOE_CUDA_LAUNCHED();
      // Passes 1..5 refine the prefix; each returns at once when an earlier one finished the selection.
      for (int pass = 1; pass < kMaxPasses; ++pass) {
        if (stages < 1 + pass) return;
        const int shift = 64 - kDigitBits * (pass + 1);
        const int width = shift >= 0 ? kDigitBits : kDigitBits + shift;
        select_pass_kernel<<<nb, kThreads, 0, c.stream>>>(logits, c.d.params, c.d.seen, w, vocab, pass,
                                                          shift >= 0 ? shift : 0, width);
        MOE_CUDA_LAUNCHED();
      }
      if (stages < 1 + kMaxPasses) return;
      int id_bits = 1;
      while ((int64_t(1) << id_bits) < vocab)
        ++id_bits;
      gather_sample_kernel<<<nb, kGatherThreads, 0, c.stream>>>(logits, c.d.params, c.d.seen, w, vocab,
                                                                id_bits, c.d.sample);
      MOE_CUDA_LAUNCHED();
      break;
    }
    case SamplerMode::FullSort:
      stats_kernel<SamplerMode::FullSort>
          <<<nb, kThreads, 0, c.stream>>>(logits, c.d.params, c.d.seen, w, vocab, c.d.sample);
      MOE_CUDA_LAUNCHED();
      enqueue_full_sort(c, w, vocab, stages - 1);
      break;
  }
}

void upload_seen(CudaContext& c, std::span<const int32_t> history) {
  const int32_t vocab = checked_vocab(c);
  std::vector<uint8_t> flags(size_t(vocab), 0);
  for (int32_t id : history)
    if (id >= 0 && id < vocab) flags[size_t(id)] = 1;
  MOE_CUDA_CHECK(cudaMemcpyAsync(c.d.seen, flags.data(), flags.size(), cudaMemcpyHostToDevice, c.stream));
  MOE_CUDA_CHECK(cudaStreamSynchronize(c.stream));
}

}  // namespace moe::cuda
