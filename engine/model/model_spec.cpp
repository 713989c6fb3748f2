// Derived quantities of a ModelSpec: parameter counts and the attention softmax scale.
#include <cmath>

#include "moe/model_spec.h"

namespace moe {
namespace {

int64_t attention_params(const ModelSpec& s) {
  const int64_t h = s.hidden_size;
  if (s.attention == AttentionKind::MLA) {
    int64_t q = s.q_lora_rank > 0
                    ? h * s.q_lora_rank + s.q_lora_rank + s.q_lora_rank * s.num_heads * s.head_dim
                    : h * s.num_heads * s.head_dim;
    int64_t kv = h * (s.kv_lora_rank + s.qk_rope_head_dim) + s.kv_lora_rank +
                 s.kv_lora_rank * s.num_heads * (s.qk_nope_head_dim + s.v_head_dim);
    return q + kv + s.num_heads * s.v_head_dim * h;
  }
  int64_t q = h * s.num_heads * s.head_dim, kv = 2 * h * s.num_kv_heads * s.head_dim;
  int64_t o = s.num_heads * s.head_dim * h;
  int64_t bias = s.attention_bias ? (s.num_heads + 2 * s.num_kv_heads) * s.head_dim : 0;
  int64_t norms = s.qk_norm == QkNorm::PerHead ? 2 * s.head_dim
                  : s.qk_norm == QkNorm::Full  ? (s.num_heads + s.num_kv_heads) * s.head_dim
                                               : 0;
  return q + kv + o + bias + (s.o_proj_bias ? h : 0) + norms;
}

int64_t mlp_params(const ModelSpec& s, int64_t inter) {
  return 3 * s.hidden_size * inter;
}

// Parameters of one MoE layer's FFN: router, all experts, shared expert; `active` counts top_k experts only.
int64_t moe_params(const ModelSpec& s, bool active) {
  int64_t experts = active ? s.top_k : s.num_experts;
  int64_t p = s.num_experts * s.hidden_size + experts * mlp_params(s, s.moe_intermediate_size);
  if (s.router_bias) p += s.num_experts;
  if (s.shared_expert_intermediate_size > 0) p += mlp_params(s, s.shared_expert_intermediate_size);
  if (s.shared_expert_gate) p += s.hidden_size;
  return p;
}

int64_t count(const ModelSpec& s, bool active) {
  int64_t p = 0;
  for (const auto& l : s.layers) {
    p += attention_params(s) + 2 * s.hidden_size;  // + the two norms
    p += l.moe ? moe_params(s, active) : mlp_params(s, s.intermediate_size);
  }
  p += s.hidden_size;  // final norm
  const int64_t table = s.vocab_size * s.hidden_size;
  if (active) {
    p += s.tie_word_embeddings ? table : s.hidden_size + table;  // one embedding row + the lm_head
  } else {
    p += s.tie_word_embeddings ? table : 2 * table;
  }
  return p;
}

}  // namespace

int64_t ModelSpec::num_moe_layers() const {
  int64_t n = 0;
  for (const auto& l : layers)
    n += l.moe;
  return n;
}

int64_t ModelSpec::total_parameters() const {
  return count(*this, false);
}
int64_t ModelSpec::active_parameters() const {
  return count(*this, true);
}

double ModelSpec::attention_scale() const {
  double scale = 1.0 / std::sqrt(double(head_dim));
  // DeepSeek's YaRN: the softmax scale carries mscale(factor, mscale_all_dim)^2.
  if (attention == AttentionKind::MLA && rope.type == RopeType::Yarn && rope.mscale_all_dim != 0 &&
      rope.factor > 1) {
    double m = 0.1 * rope.mscale_all_dim * std::log(rope.factor) + 1.0;
    scale *= m * m;
  }
  return scale;
}

}  // namespace moe
