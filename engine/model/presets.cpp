// Shapes of real models (their config.json on the Hugging Face hub, transformers 4 dialect) for random
// checkpoints and benchmarks.
#include <map>

#include "moe/error.h"
#include "moe/random_checkpoint.h"

namespace moe {
namespace {

using nlohmann::json;

const std::map<std::string, json>& presets() {
  static const std::map<std::string, json> p = {
      {"mixtral-8x7b",
       {{"architectures", {"MixtralForCausalLM"}},
        {"model_type", "mixtral"},
        {"vocab_size", 32000},
        {"hidden_size", 4096},
        {"intermediate_size", 14336},
        {"num_hidden_layers", 32},
        {"num_attention_heads", 32},
        {"num_key_value_heads", 8},
        {"num_local_experts", 8},
        {"num_experts_per_tok", 2},
        {"rope_theta", 1e6},
        {"max_position_embeddings", 32768},
        {"rms_norm_eps", 1e-5},
        {"sliding_window", nullptr},
        {"tie_word_embeddings", false}}},
      {"qwen1.5-moe-a2.7b",
       {{"architectures", {"Qwen2MoeForCausalLM"}},
        {"model_type", "qwen2_moe"},
        {"vocab_size", 151936},
        {"hidden_size", 2048},
        {"intermediate_size", 5632},
        {"moe_intermediate_size", 1408},
        {"shared_expert_intermediate_size", 5632},
        {"num_hidden_layers", 24},
        {"num_attention_heads", 16},
        {"num_key_value_heads", 16},
        {"num_experts", 60},
        {"num_experts_per_tok", 4},
        {"norm_topk_prob", false},
        {"decoder_sparse_step", 1},
        {"rope_theta", 1e6},
        {"max_position_embeddings", 8192},
        {"rms_norm_eps", 1e-6},
        {"use_sliding_window", false},
        {"tie_word_embeddings", false}}},
      {"qwen3-30b-a3b",
       {{"architectures", {"Qwen3MoeForCausalLM"}},
        {"model_type", "qwen3_moe"},
        {"vocab_size", 151936},
        {"hidden_size", 2048},
        {"intermediate_size", 6144},
        {"moe_intermediate_size", 768},
        {"num_hidden_layers", 48},
        {"num_attention_heads", 32},
        {"num_key_value_heads", 4},
        {"head_dim", 128},
        {"num_experts", 128},
        {"num_experts_per_tok", 8},
        {"norm_topk_prob", true},
        {"decoder_sparse_step", 1},
        {"mlp_only_layers", json::array()},
        {"rope_theta", 1e6},
        {"max_position_embeddings", 40960},
        {"rms_norm_eps", 1e-6},
        {"use_sliding_window", false},
        {"tie_word_embeddings", false}}},
      {"olmoe-1b-7b",
       {{"architectures", {"OlmoeForCausalLM"}},
        {"model_type", "olmoe"},
        {"vocab_size", 50304},
        {"hidden_size", 2048},
        {"intermediate_size", 1024},
        {"num_hidden_layers", 16},
        {"num_attention_heads", 16},
        {"num_key_value_heads", 16},
        {"num_experts", 64},
        {"num_experts_per_tok", 8},
        {"norm_topk_prob", false},
        {"clip_qkv", nullptr},
        {"rope_theta", 10000.0},
        {"max_position_embeddings", 4096},
        {"rms_norm_eps", 1e-5},
        {"tie_word_embeddings", false}}},
      {"deepseek-v2-lite",
       {{"architectures", {"DeepseekV2ForCausalLM"}},
        {"model_type", "deepseek_v2"},
        {"vocab_size", 102400},
        {"hidden_size", 2048},
        {"intermediate_size", 10944},
        {"moe_intermediate_size", 1408},
        {"num_hidden_layers", 27},
        {"num_attention_heads", 16},
        {"num_key_value_heads", 16},
        {"n_routed_experts", 64},
        {"num_experts_per_tok", 6},
        {"n_shared_experts", 2},
        {"first_k_dense_replace", 1},
        {"moe_layer_freq", 1},
        {"kv_lora_rank", 512},
        {"q_lora_rank", nullptr},
        {"qk_nope_head_dim", 128},
        {"qk_rope_head_dim", 64},
        {"v_head_dim", 128},
        {"routed_scaling_factor", 1.0},
        {"topk_method", "greedy"},
        {"n_group", 1},
        {"topk_group", 1},
        {"scoring_func", "softmax"},
        {"norm_topk_prob", false},
        {"rope_theta", 10000.0},
        {"rope_scaling",
         {{"type", "yarn"},
          {"factor", 40},
          {"original_max_position_embeddings", 4096},
          {"beta_fast", 32},
          {"beta_slow", 1},
          {"mscale", 0.707},
          {"mscale_all_dim", 0.707}}},
        {"max_position_embeddings", 163840},
        {"rms_norm_eps", 1e-6},
        {"tie_word_embeddings", false}}},
      // Small shapes for trying the tools on any machine.
      {"tiny-qwen3-moe",
       {{"architectures", {"Qwen3MoeForCausalLM"}},
        {"model_type", "qwen3_moe"},
        {"vocab_size", 512},
        {"hidden_size", 128},
        {"intermediate_size", 256},
        {"moe_intermediate_size", 64},
        {"num_hidden_layers", 4},
        {"num_attention_heads", 4},
        {"num_key_value_heads", 2},
        {"head_dim", 32},
        {"num_experts", 8},
        {"num_experts_per_tok", 2},
        {"norm_topk_prob", true},
        {"rope_theta", 1e6},
        {"max_position_embeddings", 4096},
        {"rms_norm_eps", 1e-6},
        {"tie_word_embeddings", false}}},
      {"tiny-deepseek-v3",
       {{"architectures", {"DeepseekV3ForCausalLM"}},
        {"model_type", "deepseek_v3"},
        {"vocab_size", 512},
        {"hidden_size", 128},
        {"intermediate_size", 256},
        {"moe_intermediate_size", 64},
        {"num_hidden_layers", 3},
        {"num_attention_heads", 4},
        {"num_key_value_heads", 4},
        {"n_routed_experts", 16},
        {"num_experts_per_tok", 4},
        {"n_shared_experts", 1},
        {"first_k_dense_replace", 1},
        {"kv_lora_rank", 64},
        {"q_lora_rank", 96},
        {"qk_nope_head_dim", 32},
        {"qk_rope_head_dim", 16},
        {"v_head_dim", 32},
        {"n_group", 4},
        {"topk_group", 2},
        {"routed_scaling_factor", 2.5},
        {"norm_topk_prob", true},
        {"rope_theta", 10000.0},
        {"max_position_embeddings", 4096},
        {"rms_norm_eps", 1e-6},
        {"tie_word_embeddings", false}}},
  };
  return p;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [k, v] : presets())
    names.push_back(k);
  return names;
}

nlohmann::json preset_config(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    std::string known;
    for (const auto& n : preset_names())
      known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model shape \"" + name + "\"; known: " + known);
  }
  return it->second;
}

}  // namespace moe
