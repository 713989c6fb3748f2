// Rotary position embedding frequencies as transformers computes them (default, linear, dynamic NTK, YaRN,
// Llama 3), shared by every backend.
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model_spec.h"

namespace moe {

struct RopeFrequencies {
  std::vector<float> inv_freq;  // rot_dim / 2 entries, float32 as transformers holds them
  float cos_sin_scale = 1.0f;   // YaRN's attention factor applied to cos and sin
};

// rot_dim: the rotated size (head_dim, or qk_rope_head_dim for MLA). seq_len: positions seen so far
// including this batch (dynamic NTK depends on it).
RopeFrequencies rope_frequencies(const ModelSpec& spec, int64_t rot_dim, int64_t seq_len);

}  // namespace moe
