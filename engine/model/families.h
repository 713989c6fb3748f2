// The architecture files: each fills the family-specific part of a ModelSpec from config.json.
#pragma once

#include "model/config_reader.h"
#include "moe/model_spec.h"

namespace moe::detail {

// Fields every family shares (sizes, norms, RoPE in both dialects, EOS ids, tie_word_embeddings).
void read_common_fields(const ConfigReader& c, ModelSpec& s, double default_theta);
// Sliding windows per layer: `layer_types` when the config carries it, else the family's own rule.
void read_sliding_windows(const ConfigReader& c, ModelSpec& s);

void fill_dense(const ConfigReader& c, ModelSpec& s);        // Llama, Mistral, Qwen2, Qwen3
void fill_softmax_moe(const ConfigReader& c, ModelSpec& s);  // Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE
void fill_deepseek(const ConfigReader& c, ModelSpec& s);     // DeepSeek-V2, DeepSeek-V3

}  // namespace moe::detail
