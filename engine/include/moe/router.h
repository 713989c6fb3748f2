// Expert choice of one token from its router logits, with each family's exact formula (DESIGN §7):
// softmax -> top-k (-> renormalise); DeepSeek-V2 group-limited greedy (group score = max); DeepSeek-V3
// sigmoid + correction bias for choosing only, groups scored by their top-2 sum, masked experts set to 0.0.
#pragma once

#include <cstdint>
#include <span>

#include "moe/model_spec.h"

namespace moe {

// logits: num_experts router logits (float32). score_bias: num_experts entries or empty.
// Writes top_k expert ids (best first; ties go to the lower id) and the weights applied to their outputs.
void route_token(const ModelSpec& spec, std::span<const float> logits, std::span<const float> score_bias,
                 int32_t* experts, float* weights);

}  // namespace moe
