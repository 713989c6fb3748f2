// cuda_memory_plan (see moe/backend.h): the exact sizes the CUDA backend allocates, from the same layout
// functions it allocates with.
#include "cuda/memory_plan.h"

#include <algorithm>

#include "cuda/decode.h"
#include "cuda/device_weights.h"
#include "cuda/prefill.h"
#include "cuda/sampler.h"

namespace moe {
namespace cuda {

size_t kv_cache_bytes(const ModelSpec& s, int64_t ctx) {
  return size_t(s.num_layers * ctx * (kv_key_width(s) + kv_value_width(s))) * sizeof(bf16);
}

int64_t prefill_chunk(int64_t ctx) {
  return std::min<int64_t>(ctx, 2048);
}

int64_t logits_rows(const ModelSpec& s, int64_t ctx) {
  const int64_t budget = int64_t(64) << 20;  // bytes of logits one prefill call may return at once
  return std::clamp<int64_t>(budget / (s.vocab_size * 4), 1, prefill_chunk(ctx));
}

}  // namespace cuda

MemoryPlan cuda_memory_plan(const ModelSpec& s, int64_t context_length) {
  const int64_t ctx = default_context_length(s, context_length);
  MemoryPlan p;
  p.weights = cuda::layout_weights(s, nullptr, nullptr, nullptr).bytes;
  p.kv_cache = cuda::kv_cache_bytes(s, ctx);
  p.workspace = cuda::layout_decode_buffers(s, ctx, cuda::logits_rows(s, ctx), nullptr, nullptr) +
                cuda::prefill_workspace_bytes(s, cuda::prefill_chunk(ctx)) +
                cuda::sampler_workspace_bytes(s.vocab_size);
  return p;
}

}  // namespace moe
