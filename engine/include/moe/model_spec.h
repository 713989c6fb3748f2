// ModelSpec: the one parsed description of a model, made from config.json (both the transformers 4 and
// transformers 5 dialects) by the architecture files under engine/model/. Everything after parsing reads
// this struct, never config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moe {

enum class Family {
  Llama,
  Mistral,
  Qwen2,
  Qwen3,
  Mixtral,
  Qwen2Moe,
  Qwen3Moe,
  Olmoe,
  DeepseekV2,
  DeepseekV3
};

enum class RopeType { Default, Linear, Dynamic, Yarn, Llama3 };

struct RopeSpec {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double factor = 1.0;
  int64_t original_max_position = 0;
  // YaRN
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;            // DeepSeek's mscale (cos/sin factor numerator)
  double mscale_all_dim = 0.0;    // DeepSeek's mscale_all_dim (0: absent)
  double attention_factor = 0.0;  // explicit attention_factor (0: absent)
  // Llama 3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  // Rotation layout: pairs (i, i + d/2) as rotate_half does, or adjacent pairs (2i, 2i+1) as DeepSeek does.
  bool interleaved = false;
};

enum class AttentionKind { Standard, MLA };
enum class QkNorm { None, PerHead, Full };  // Qwen3: per head; OLMoE: over the whole projection
enum class RouterScore { Softmax, Sigmoid };
enum class RouterGrouping { None, GroupMax, GroupTop2Sum };  // DeepSeek-V2 group_limited_greedy; V3 noaux_tc

struct LayerSpec {
  bool moe = false;            // routed experts in this layer (else a dense MLP of intermediate_size)
  int32_t sliding_window = 0;  // 0: full attention
};

struct ModelSpec {
  std::string architecture;  // e.g. "MixtralForCausalLM"
  Family family = Family::Llama;

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // attention head size of q and k (MLA: qk_nope + qk_rope)
  int64_t v_head_dim = 0;
  int64_t intermediate_size = 0;  // dense MLP
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry a bias
  bool o_proj_bias = false;
  bool mlp_bias = false;
  double clip_qkv = 0.0;  // 0: none
  QkNorm qk_norm = QkNorm::None;
  RopeSpec rope;

  // MoE
  int64_t num_experts = 0;  // routed experts (0: dense model)
  int64_t top_k = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  RouterScore router_score = RouterScore::Softmax;
  RouterGrouping router_grouping = RouterGrouping::None;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool router_bias = false;  // e_score_correction_bias (DeepSeek-V3), used for choosing only
  int64_t shared_expert_intermediate_size = 0;  // 0: no shared expert
  bool shared_expert_gate = false;              // Qwen2-MoE: sigmoid(shared_expert_gate(x)) scales it

  // MLA (DeepSeek-V2/V3)
  AttentionKind attention = AttentionKind::Standard;
  int64_t q_lora_rank = 0;  // 0: q_proj directly
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;

  std::vector<LayerSpec> layers;
  std::vector<int32_t> eos_token_ids;
  int32_t bos_token_id = -1;

  bool is_moe() const { return num_experts > 0; }
  int64_t num_moe_layers() const;
  // Softmax scale of attention scores (1/sqrt(head_dim), times YaRN's mscale^2 where it applies).
  double attention_scale() const;
  // Parameter counts from the shapes (what the tensors hold, embeddings included).
  int64_t total_parameters() const;
  // Parameters one token touches: every weight but the other rows of the embedding table and the experts
  // not chosen.
  int64_t active_parameters() const;
};

std::string family_name(Family f);

// Parses a config.json document; `source` names it in errors ("config.json: field num_experts_per_tok ...").
ModelSpec parse_model_config(const nlohmann::json& config, const std::string& source = "config.json");
// Reads FOLDER/config.json and, when present, FOLDER/generation_config.json (EOS ids).
ModelSpec load_model_spec(const std::filesystem::path& folder);

}  // namespace moe
