// Sizing rules of the CUDA backend shared by cuda_memory_plan and the backend's allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "moe/model_spec.h"

namespace moe::cuda {

size_t kv_cache_bytes(const ModelSpec& spec, int64_t ctx);
// Positions one prefill call handles (longer prompts are split).
int64_t prefill_chunk(int64_t ctx);
// Rows of logits the backend can return from one prefill call (LogitsMode::All is split to fit).
int64_t logits_rows(const ModelSpec& spec, int64_t ctx);

}  // namespace moe::cuda
