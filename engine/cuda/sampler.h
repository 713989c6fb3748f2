// The sampler on the device: sample_token's arithmetic (penalties, temperature, top-k, top-p, min-p) and its
// counter-based RNG (Philox-4x32-10 of (seed, step)), so that for the same logits, parameters, seed and
// step it draws the same token as the CPU. The logprob of the drawn token and the best alternatives are
// those of the raw logits (log-softmax), as on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "cuda/cuda_context.h"
#include "moe/sampler.h"

namespace moe::cuda {

// Which kernels a decode graph runs; fixed when the graph is captured, chosen from the parameters.
enum class SamplerMode {
  Greedy,   // temperature 0: argmax
  TopK,     // 1 <= top_k <= kMaxFastTopK: candidates selected on the device without a full sort
  FullSort  // top_k off or large: a full device sort of the vocabulary
};
constexpr int64_t kMaxFastTopK = 1024;
SamplerMode sampler_mode(const SamplingParams& p);

// Workspace bytes the sampler needs for a vocabulary of `vocab` (host arithmetic).
size_t sampler_workspace_bytes(int64_t vocab);

// Marks c.d.params->token as seen (for the penalties). Inside the decode graph, before enqueue_sample.
void enqueue_mark_seen(CudaContext& c);
// Samples from c.d.logits (one row of V) with the parameters in *c.d.params and the flags in c.d.seen;
// writes *c.d.sample (token, logprob, top c.d.params->top_logprobs alternatives). No host synchronisation.
void enqueue_sample(CudaContext& c, SamplerMode mode);
// Rebuilds c.d.seen from a history (outside graphs; synchronous on c.stream is fine).
void upload_seen(CudaContext& c, std::span<const int32_t> history);

}  // namespace moe::cuda
