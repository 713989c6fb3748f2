// Device-side pieces of the sampler shared by sampler.cu (statistics, top-k selection, the draw) and
// sampler_fullsort.cu (the full-vocabulary path): the Philox generator, the order-preserving keys, the
// penalties, block-wide reductions and the workspace layout. Internal to engine/cuda.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_context.h"

namespace moe::cuda::sampler_detail {

// Every pass over the vocabulary gives each block a chunk of kChunk logits.
constexpr int kThreads = 256;              // block size of the statistics and selection passes
constexpr int kItems = 8;                  // logits per thread in those passes
constexpr int kChunk = kThreads * kItems;  // logits per block
constexpr int kGatherThreads = 1024;       // block size of the gather + final sort + draw
constexpr int kGatherItems = kChunk / kGatherThreads;
constexpr int kCand = kGatherThreads * kGatherItems;  // most candidates the final block sorts
constexpr int kDigitBits = 12;                        // radix-select digit
constexpr int kBins = 1 << kDigitBits;
constexpr int kMaxPasses = 6;  // 5 digits of 12 bits + one of 4 cover the 64-bit key

inline int64_t num_blocks(int64_t vocab) {
  return (vocab + kChunk - 1) / kChunk;
}

// Values the passes hand to each other (in device memory; zeroed at the start of every sample).
struct State {
  uint32_t counters[16];  // "last block done" tickets, one per kernel
  // Radix select over the 64-bit keys of the penalised logits: the top prefix_bits of the k-th best key
  // are known (prefix); `above` keys lie above that prefix, k_rem more are wanted inside it; done once
  // above + (keys inside the prefix) fits the candidate buffer.
  unsigned long long prefix;
  uint32_t prefix_bits, k_rem, above, done;
  uint32_t n_cand;                  // candidates gathered
  uint32_t first_topp, first_minp;  // full-sort path: first index reaching top-p / below min-p (~0u: none)
  float log_z;                      // log-sum-exp of the raw logits
  unsigned long long best;          // key of the penalised argmax
  unsigned long long raw_theta;     // largest per-block n_top-th best raw key (a floor for the answer)
  double sum;                       // full-sort path: sum of exp((l - top) / T)
};

// Pointers into the workspace; one layout function for the host's size and the kernels' pointers.
struct Workspace {
  State* st = nullptr;
  uint32_t* hist = nullptr;                // [kBins] global histogram of one radix pass
  float* blk_max = nullptr;                // [nb] per-block max of the raw logits
  double* blk_sum = nullptr;               // [nb] per-block sum of exp(l - blk_max)
  unsigned long long* blk_best = nullptr;  // [nb] per-block best penalised key
  unsigned long long* blk_raw = nullptr;   // [nb * kMaxTopLogprobs] per-block best raw keys
  unsigned long long* cand = nullptr;      // [kCand] gathered candidate keys
  uint32_t* keys[2] = {};                  // full sort: [V] keys (double buffer)
  int32_t* ids[2] = {};                    // full sort: [V] ids (double buffer)
  double* esum = nullptr;                  // full sort: [nb] per-block sums of exp
  double* pprefix = nullptr;               // full sort: [nb] probability mass before each block
  double* cum = nullptr;                   // full sort: [V] cumulative probabilities
  void* sort_temp = nullptr;               // full sort: cub temporary storage
  size_t sort_temp_bytes = 0;
  size_t zero_bytes = 0;  // bytes from st to zero before each sample (State + hist)
  size_t total = 0;
};

inline Workspace workspace_layout(void* base, int64_t vocab) {
  Workspace w;
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t at = off;
    off = (off + bytes + 255) / 256 * 256;
    return base ? static_cast<char*>(base) + at : nullptr;
  };
  const size_t V = size_t(vocab), nb = size_t(num_blocks(vocab));
  w.st = reinterpret_cast<State*>(take(sizeof(State)));
  w.hist = reinterpret_cast<uint32_t*>(take(kBins * sizeof(uint32_t)));
  w.zero_bytes = off;
  w.blk_max = reinterpret_cast<float*>(take(nb * sizeof(float)));
  w.blk_sum = reinterpret_cast<double*>(take(nb * sizeof(double)));
  w.blk_best = reinterpret_cast<unsigned long long*>(take(nb * 8));
  w.blk_raw = reinterpret_cast<unsigned long long*>(take(nb * kMaxTopLogprobs * 8));
  w.cand = reinterpret_cast<unsigned long long*>(take(kCand * 8));
  for (int i = 0; i < 2; ++i) {
    w.keys[i] = reinterpret_cast<uint32_t*>(take(V * 4));
    w.ids[i] = reinterpret_cast<int32_t*>(take(V * 4));
  }
  w.esum = reinterpret_cast<double*>(take(nb * 8));
  w.pprefix = reinterpret_cast<double*>(take(nb * 8));
  w.cum = reinterpret_cast<double*>(take(V * 8));
  // cub's onesweep radix sort with double buffers needs histograms and look-back tiles only (well under a
  // megabyte at 152k); the exact size is asked for at enqueue time and checked against this reserve.
  w.sort_temp_bytes = (size_t(1) << 20) + V * 4;
  w.sort_temp = take(w.sort_temp_bytes);
  w.total = off;
  return w;
}

#ifdef __CUDACC__

// Philox-4x32-10 as moe::philox4x32_10 / philox_uniform (engine/runtime/sampler.cpp), same arithmetic.
__device__ inline float philox_uniform_dev(uint64_t seed, uint64_t step) {
  uint32_t c0 = uint32_t(step), c1 = uint32_t(step >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return float(c0 >> 8) * (1.0f / 16777216.0f);
}

// A float as a uint32 whose unsigned order is the float order (-0 folded onto +0 so that, as on the CPU,
// they compare equal and the lower id wins).
__device__ inline uint32_t ordered_key(float f) {
  uint32_t u = __float_as_uint(f);
  if (u == 0x80000000u) u = 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ inline float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}
// 64-bit key: value order first, then the lower id: unsigned order is sample_token's `better`, and keys
// are unique, so a radix select of the k-th key is exact even with tied logits.
__device__ inline unsigned long long composite(float v, int32_t id) {
  return (static_cast<unsigned long long>(ordered_key(v)) << 32) | (0xFFFFFFFFu - uint32_t(id));
}
__device__ inline int32_t composite_id(unsigned long long c) {
  return int32_t(0xFFFFFFFFu - uint32_t(c));
}
__device__ inline float composite_value(unsigned long long c) {
  return key_value(uint32_t(c >> 32));
}

// sample_token's penalties (applied to tokens in the history only).
__device__ inline float penalise(float v, const StepParams& p) {
  if (p.repetition_penalty != 1.0f)
    v = v > 0 ? float(double(v) / double(p.repetition_penalty))
              : float(double(v) * double(p.repetition_penalty));
  return v - p.presence_penalty;
}
__device__ inline bool penalties_on(const StepParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f;
}
__device__ inline float penalised_logit(const float* logits, const uint8_t* seen, bool pen,
                                        const StepParams& p, int32_t i) {
  const float v = logits[i];
  return pen && seen[i] ? penalise(v, p) : v;
}

// Block-wide reduction whose result every thread gets. smem: 33 slots; B: block size (multiple of 32).
template <int B, class T, class Op>
__device__ inline T block_all_reduce(T v, Op op, T identity, T* smem) {
  for (int o = 16; o > 0; o >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) smem[w] = v;
  __syncthreads();
  if (w == 0) {
    v = lane < B / 32 ? smem[lane] : identity;
    for (int o = 16; o > 0; o >>= 1)
      v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) smem[32] = v;
  }
  __syncthreads();
  const T r = smem[32];
  __syncthreads();
  return r;
}
struct MaxOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};
struct MinOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a < b ? a : b;
  }
};
struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

// The "last block" of a multi-block kernel finishes its work: every block calls this after writing its
// partial results; it returns true in exactly one block, which then sees all of them (and resets the ticket).
__device__ inline bool last_block(uint32_t* counter) {
  __shared__ bool is_last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const uint32_t ticket = atomicAdd(counter, 1u);
    is_last = ticket == gridDim.x - 1;
    if (is_last) *counter = 0;
  }
  __syncthreads();
  if (is_last) __threadfence();
  return is_last;
}

// Writes the drawn token and its logprob (raw log-softmax).
__device__ inline void write_token(SampleOut* out, const float* logits, int32_t token, float log_z) {
  out->token = token;
  out->logprob = logits[token] - log_z;
}

#endif  // __CUDACC__

// Host: enqueues the full-sort path after the statistics pass (sampler_fullsort.cu); at most `stages`
// launches (the sort counts as one).
void enqueue_full_sort(CudaContext& c, const Workspace& w, int64_t vocab, int stages);
// enqueue_sample cut after the memset and `stages` launches, for timing the parts (moe-sampler-check).
void enqueue_sample_stages(CudaContext& c, SamplerMode mode, int stages);

}  // namespace moe::cuda::sampler_detail
