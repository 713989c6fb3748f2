// Softmax-routed MoE families: Mixtral (softmax, top-k, renormalise), Qwen2-MoE (optional renormalisation,
// sigmoid-gated shared expert, mlp_only_layers / decoder_sparse_step), Qwen3-MoE (as Qwen2-MoE, q/k norm
// per head, no shared expert), OLMoE (q/k norm over the whole projection, clip_qkv).
#include <algorithm>

#include "model/families.h"

namespace moe::detail {
namespace {

// Qwen2-MoE / Qwen3-MoE: layer i has experts unless listed in mlp_only_layers or off the sparse step.
void mark_qwen_moe_layers(const ConfigReader& c, ModelSpec& s) {
  auto mlp_only = c.int_list("mlp_only_layers");
  int64_t step = c.integer("decoder_sparse_step", 1, 1, kMaxLayers);
  for (int64_t i = 0; i < s.num_layers; ++i) {
    bool dense = std::find(mlp_only.begin(), mlp_only.end(), i) != mlp_only.end();
    s.layers[size_t(i)].moe = !dense && s.num_experts > 0 && (i + 1) % step == 0;
  }
  bool any_dense = std::any_of(s.layers.begin(), s.layers.end(), [](const LayerSpec& l) { return !l.moe; });
  if (any_dense && s.intermediate_size < 1)
    c.fail("intermediate_size", "is needed by the dense layers (mlp_only_layers / decoder_sparse_step)");
}

}  // namespace

void fill_softmax_moe(const ConfigReader& c, ModelSpec& s) {
  read_common_fields(c, s, s.family == Family::Mixtral ? 1e6 : 10000.0);
  s.head_dim = c.integer("head_dim", s.hidden_size / s.num_heads, 1, 4096);
  s.v_head_dim = s.head_dim;
  s.router_score = RouterScore::Softmax;
  switch (s.family) {
    case Family::Mixtral:
      s.num_experts =
          c.integer(c.first_present({"num_local_experts", "num_experts"}), std::nullopt, 1, kMaxExperts);
      s.top_k = c.integer("num_experts_per_tok", 2, 1, kMaxExperts);
      s.moe_intermediate_size = c.integer("intermediate_size", std::nullopt, 1, kMaxIntermediate);
      s.norm_topk_prob = true;
      for (auto& l : s.layers)
        l.moe = true;
      break;
    case Family::Qwen2Moe:
    case Family::Qwen3Moe:
      s.num_experts =
          c.integer(c.first_present({"num_experts", "num_local_experts"}), std::nullopt, 1, kMaxExperts);
      s.top_k = c.integer("num_experts_per_tok", std::nullopt, 1, kMaxExperts);
      s.moe_intermediate_size = c.integer("moe_intermediate_size", std::nullopt, 1, kMaxIntermediate);
      s.norm_topk_prob = c.boolean("norm_topk_prob", false);
      if (s.family == Family::Qwen2Moe) {
        s.attention_bias = true;  // q/k/v biases, none on o_proj
        s.shared_expert_intermediate_size =
            c.integer("shared_expert_intermediate_size", 0, 0, kMaxIntermediate);
        s.shared_expert_gate = s.shared_expert_intermediate_size > 0;
      } else {
        s.attention_bias = c.boolean("attention_bias", false);
        s.o_proj_bias = s.attention_bias;
        s.qk_norm = QkNorm::PerHead;
      }
      mark_qwen_moe_layers(c, s);
      break;
    case Family::Olmoe:
      s.num_experts =
          c.integer(c.first_present({"num_experts", "num_local_experts"}), std::nullopt, 1, kMaxExperts);
      s.top_k = c.integer("num_experts_per_tok", std::nullopt, 1, kMaxExperts);
      s.moe_intermediate_size = c.integer("intermediate_size", std::nullopt, 1, kMaxIntermediate);
      s.norm_topk_prob = c.boolean("norm_topk_prob", false);
      s.attention_bias = c.boolean("attention_bias", false);
      s.o_proj_bias = s.attention_bias;
      s.qk_norm = QkNorm::Full;
      s.clip_qkv = c.number("clip_qkv", 0.0);
      if (s.clip_qkv < 0) c.fail("clip_qkv", "must not be negative");
      for (auto& l : s.layers)
        l.moe = true;
      break;
    default:
      break;
  }
  read_sliding_windows(c, s);
}

}  // namespace moe::detail
