// Feed-forward blocks on the CPU: the dense SwiGLU MLP and the MoE layer (router, routed experts with
// tokens grouped per expert, shared expert, Qwen2-MoE's shared-expert gate).
#pragma once

#include <cstdint>

#include "moe/model.h"

namespace moe::cpu {

// out[n, H] = down(silu(gate x) * up x)
void mlp(const ExpertWeights& w, const float* x, int64_t n, int64_t inter, float* out);
// out[n, H] = MoE(xn). Writes the choice of every position into experts/weights ([n][top_k]).
void moe_ffn(const ModelSpec& s, const LayerWeights& w, const float* xn, int64_t n, float* out,
             int32_t* experts, float* weights, int64_t routing_stride);

}  // namespace moe::cpu
