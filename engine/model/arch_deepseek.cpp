// DeepSeek-V2 and -V3: multi-head latent attention (MLA), dense first layers, shared experts, and their
// routers: V2 softmax with greedy or group-limited greedy choice; V3 sigmoid with a correction bias used for
// choosing only and groups scored by their top-2 sum.
#include "model/families.h"

namespace moe::detail {

void fill_deepseek(const ConfigReader& c, ModelSpec& s) {
  read_common_fields(c, s, 10000.0);
  const bool v3 = s.family == Family::DeepseekV3;
  s.attention = AttentionKind::MLA;
  s.q_lora_rank = c.integer("q_lora_rank", 0, 0, kMaxHidden);
  s.kv_lora_rank = c.integer("kv_lora_rank", std::nullopt, 1, kMaxHidden);
  s.qk_nope_head_dim = c.integer("qk_nope_head_dim", std::nullopt, 0, 4096);
  s.qk_rope_head_dim = c.integer("qk_rope_head_dim", std::nullopt, 2, 4096);
  if (s.qk_rope_head_dim % 2) c.fail("qk_rope_head_dim", "must be even");
  s.v_head_dim = c.integer("v_head_dim", std::nullopt, 1, 4096);
  // transformers 5 writes head_dim = qk_rope_head_dim for these models: the attention head size is derived.
  s.head_dim = s.qk_nope_head_dim + s.qk_rope_head_dim;
  s.attention_bias = c.boolean("attention_bias", false);
  s.rope.interleaved = v3 ? c.boolean("rope_interleave", true) : true;

  s.num_experts = c.integer(c.first_present({"n_routed_experts", "num_local_experts", "num_experts"}),
                            std::nullopt, 1, kMaxExperts);
  s.top_k = c.integer("num_experts_per_tok", std::nullopt, 1, kMaxExperts);
  s.moe_intermediate_size = c.integer("moe_intermediate_size", std::nullopt, 1, kMaxIntermediate);
  s.routed_scaling_factor = c.number("routed_scaling_factor", v3 ? 2.5 : 1.0);
  s.norm_topk_prob = c.boolean("norm_topk_prob", v3);
  int64_t n_shared = c.integer("n_shared_experts", 0, 0, kMaxExperts);
  s.shared_expert_intermediate_size = n_shared * s.moe_intermediate_size;
  s.n_group = c.integer("n_group", 1, 1, kMaxExperts);
  s.topk_group = c.integer("topk_group", s.n_group, 1, kMaxExperts);
  if (v3) {
    std::string scoring = c.string("scoring_func", "sigmoid");
    if (scoring != "sigmoid")
      c.fail("scoring_func", "\"" + scoring + "\" is not supported for DeepSeek-V3 (sigmoid)");
    std::string method = c.string("topk_method", "noaux_tc");
    if (method != "noaux_tc")
      c.fail("topk_method", "\"" + method + "\" is not supported for DeepSeek-V3 (noaux_tc)");
    s.router_score = RouterScore::Sigmoid;
    s.router_grouping = RouterGrouping::GroupTop2Sum;
    s.router_bias = true;
  } else {
    std::string scoring = c.string("scoring_func", "softmax");
    if (scoring != "softmax")
      c.fail("scoring_func", "\"" + scoring + "\" is not supported for DeepSeek-V2 (softmax)");
    std::string method = c.string("topk_method", "greedy");
    if (method == "group_limited_greedy") {
      s.router_grouping = RouterGrouping::GroupMax;
    } else if (method == "greedy") {
      s.router_grouping = RouterGrouping::None;
      s.n_group = 1;
      s.topk_group = 1;
    } else {
      c.fail("topk_method", "\"" + method + "\" is not supported (greedy, group_limited_greedy)");
    }
  }
  int64_t first_dense = c.integer("first_k_dense_replace", v3 ? 3 : 0, 0, kMaxLayers);
  int64_t freq = c.integer("moe_layer_freq", 1, 1, kMaxLayers);
  for (int64_t i = 0; i < s.num_layers; ++i)
    s.layers[size_t(i)].moe = i >= first_dense && i % freq == 0;
  if (first_dense > 0 && s.intermediate_size < 1)
    c.fail("intermediate_size", "is needed by the dense layers");
}

}  // namespace moe::detail
