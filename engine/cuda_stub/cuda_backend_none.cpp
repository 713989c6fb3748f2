// The build without CUDA: the CUDA backend's entry points say so, and cuda_memory_plan estimates what the
// CUDA build would allocate (so `moe-cli info` still prints a VRAM plan): the checkpoint's tensors with
// matrices in bf16 and 1-D tensors (norm scales, biases) in fp32, plus the bf16 KV cache. The CUDA build's
// plan (engine/cuda/memory_plan.cpp) is exact and also counts its workspaces; this one leaves workspace 0.
#include "moe/backend.h"
#include "moe/error.h"
#include "moe/random_checkpoint.h"

namespace moe {
namespace {

[[noreturn]] void no_cuda() {
  throw Error("this build has no CUDA backend (MOE_WITH_CUDA=OFF)");
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Model&, const BackendOptions&) {
  no_cuda();
}

std::unique_ptr<Backend> make_cuda_backend_random(const ModelSpec&, uint64_t, const BackendOptions&) {
  no_cuda();
}

MemoryPlan cuda_memory_plan(const ModelSpec& s, int64_t context_length) {
  const int64_t ctx = default_context_length(s, context_length);
  MemoryPlan p;
  for (const TensorShape& t : expected_tensors(s)) {
    size_t n = 1;
    for (int64_t d : t.shape)
      n *= size_t(d);
    p.weights += n * (t.shape.size() == 1 ? 4 : 2);
  }
  const int64_t width = s.attention == AttentionKind::MLA ? s.kv_lora_rank + s.qk_rope_head_dim
                                                          : s.num_kv_heads * (s.head_dim + s.v_head_dim);
  p.kv_cache = size_t(s.num_layers * ctx * width) * 2;
  return p;
}

}  // namespace moe
