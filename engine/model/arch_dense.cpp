// Dense Llama-family models: Llama, Mistral, Qwen2 (q/k/v bias), Qwen3 (q/k RMSNorm per head). They run as
// the one-expert case of the same decoder: a dense MLP in every layer.
#include "model/families.h"

namespace moe::detail {

void fill_dense(const ConfigReader& c, ModelSpec& s) {
  const double theta = 10000.0;
  read_common_fields(c, s, theta);
  if (s.intermediate_size < 1) c.fail("intermediate_size", "is missing or zero");
  s.head_dim = c.integer("head_dim", s.hidden_size / s.num_heads, 1, 4096);
  s.v_head_dim = s.head_dim;
  switch (s.family) {
    case Family::Qwen2:
      s.attention_bias = true;  // Qwen2 always has q/k/v biases and none on o_proj
      break;
    case Family::Qwen3:
      s.attention_bias = c.boolean("attention_bias", false);
      s.o_proj_bias = s.attention_bias;
      s.qk_norm = QkNorm::PerHead;
      break;
    default:  // Llama, Mistral
      s.attention_bias = c.boolean("attention_bias", false);
      s.o_proj_bias = s.attention_bias;
      break;
  }
  read_sliding_windows(c, s);
}

}  // namespace moe::detail
