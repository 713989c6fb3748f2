// Derived quantities of a ModelSpec: parameter counts and the attention softmax scale.
#include <cmath>
#include <cstdint>

#include "moe/model_spec.h"

namespace moe {
namespace {

// Counts are formed in double: the config limits allow products beyond int64 for absurd shapes (rejected
// later, when the tensors do not match), and real models stay far below 2^53, where double is exact.
double attention_params(const ModelSpec& s) {
  const double h = double(s.hidden_size), heads = double(s.num_heads);
  if (s.attention == AttentionKind::MLA) {
    const double qr = double(s.q_lora_rank), kvr = double(s.kv_lora_rank), hd = double(s.head_dim);
    const double q = s.q_lora_rank > 0 ? h * qr + qr + qr * heads * hd : h * heads * hd;
    const double kv = h * (kvr + double(s.qk_rope_head_dim)) + kvr +
                      kvr * heads * double(s.qk_nope_head_dim + s.v_head_dim);
    return q + kv + heads * double(s.v_head_dim) * h;
  }
  const double qd = heads * double(s.head_dim), kvd = double(s.num_kv_heads) * double(s.head_dim);
  const double bias = s.attention_bias ? qd + 2 * kvd : 0;
  const double norms = s.qk_norm == QkNorm::PerHead ? 2.0 * double(s.head_dim)
                       : s.qk_norm == QkNorm::Full  ? qd + kvd
                                                    : 0;
  return 2 * h * qd + 2 * h * kvd + bias + (s.o_proj_bias ? h : 0) + norms;
}

double mlp_params(const ModelSpec& s, int64_t inter) {
  return 3.0 * double(s.hidden_size) * double(inter);
}

// Parameters of one MoE layer's FFN: router, all experts, shared expert; `active` counts top_k experts only.
double moe_params(const ModelSpec& s, bool active) {
  const double h = double(s.hidden_size), experts = double(active ? s.top_k : s.num_experts);
  double p = double(s.num_experts) * h + experts * mlp_params(s, s.moe_intermediate_size);
  if (s.router_bias) p += double(s.num_experts);
  if (s.shared_expert_intermediate_size > 0) p += mlp_params(s, s.shared_expert_intermediate_size);
  if (s.shared_expert_gate) p += h;
  return p;
}

int64_t count(const ModelSpec& s, bool active) {
  const double h = double(s.hidden_size);
  double p = 0;
  for (const auto& l : s.layers) {
    p += attention_params(s) + 2 * h;  // + the two norms
    p += l.moe ? moe_params(s, active) : mlp_params(s, s.intermediate_size);
  }
  p += h;  // final norm
  const double table = double(s.vocab_size) * h;
  if (active) {
    p += s.tie_word_embeddings ? table : h + table;  // one embedding row + the lm_head
  } else {
    p += s.tie_word_embeddings ? table : 2 * table;
  }
  return p < 9.2e18 ? int64_t(p) : INT64_MAX;
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
