// Fields shared by every family: sizes, norm epsilon, RoPE (transformers 4 `rope_theta` + `rope_scaling`,
// transformers 5 `rope_parameters`), special token ids, per-layer sliding windows.
#include <algorithm>

#include "model/families.h"

namespace moe::detail {
namespace {

RopeType rope_type_from(const ConfigReader& c, const std::string& key, const std::string& name) {
  if (name == "default" || name.empty()) return RopeType::Default;
  if (name == "linear") return RopeType::Linear;
  if (name == "dynamic") return RopeType::Dynamic;
  if (name == "yarn" || name == "deepseek_yarn") return RopeType::Yarn;
  if (name == "llama3") return RopeType::Llama3;
  c.fail(key, "rope type \"" + name + "\" is not supported (default, linear, dynamic, yarn, llama3)");
}

void read_rope(const ConfigReader& c, ModelSpec& s, double default_theta) {
  // transformers 5 puts everything in rope_parameters; transformers 4 splits rope_theta and rope_scaling.
  const char* key = c.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  s.rope.theta = c.number("rope_theta", default_theta);
  if (!c.has(key)) return;
  const auto& r = c.raw().at(key);
  if (!r.is_object()) c.fail(key, "must be an object");
  ConfigReader rr(r, c.source() + ": " + key);
  std::string type =
      rr.has("rope_type") ? rr.string("rope_type", std::nullopt) : rr.string("type", "default");
  s.rope.type = rope_type_from(c, key, type);
  s.rope.theta = rr.number("rope_theta", s.rope.theta);
  if (s.rope.theta <= 0) c.fail("rope_theta", "must be positive");
  if (s.rope.type == RopeType::Default) return;
  s.rope.factor = rr.number("factor", std::nullopt);
  if (!(s.rope.factor > 0)) c.fail(std::string(key) + ".factor", "must be positive");
  s.rope.original_max_position = rr.integer("original_max_position_embeddings",
                                            s.rope.type == RopeType::Llama3 || s.rope.type == RopeType::Yarn
                                                ? std::optional<int64_t>()
                                                : std::optional<int64_t>(s.max_position_embeddings),
                                            1, kMaxContext);
  s.rope.beta_fast = rr.number("beta_fast", 32.0);
  s.rope.beta_slow = rr.number("beta_slow", 1.0);
  s.rope.mscale = rr.number("mscale", 0.0);
  s.rope.mscale_all_dim = rr.number("mscale_all_dim", 0.0);
  s.rope.attention_factor = rr.number("attention_factor", 0.0);
  s.rope.low_freq_factor = rr.number("low_freq_factor", 1.0);
  s.rope.high_freq_factor = rr.number("high_freq_factor", 4.0);
}

}  // namespace

void read_common_fields(const ConfigReader& c, ModelSpec& s, double default_theta) {
  s.vocab_size = c.integer("vocab_size", std::nullopt, 1, kMaxVocab);
  s.hidden_size = c.integer("hidden_size", std::nullopt, 1, kMaxHidden);
  s.num_layers = c.integer("num_hidden_layers", std::nullopt, 1, kMaxLayers);
  s.num_heads = c.integer("num_attention_heads", std::nullopt, 1, kMaxHeads);
  s.num_kv_heads = c.integer("num_key_value_heads", s.num_heads, 1, kMaxHeads);
  s.intermediate_size = c.integer("intermediate_size", 0, 0, kMaxIntermediate);
  s.max_position_embeddings = c.integer("max_position_embeddings", 4096, 1, kMaxContext);
  s.rms_norm_eps = c.number("rms_norm_eps", 1e-6);
  if (!(s.rms_norm_eps > 0)) c.fail("rms_norm_eps", "must be positive");
  s.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
  s.mlp_bias = c.boolean("mlp_bias", false);
  std::string act = c.string("hidden_act", "silu");
  if (act != "silu" && act != "swish") c.fail("hidden_act", "\"" + act + "\" is not supported (silu)");
  read_rope(c, s, default_theta);
  for (int64_t id : c.int_list("eos_token_id")) {
    if (id < 0 || id >= s.vocab_size)
      c.fail("eos_token_id", "holds " + std::to_string(id) + ", outside the vocabulary");
    s.eos_token_ids.push_back(int32_t(id));
  }
  if (c.has("bos_token_id") && c.raw().at("bos_token_id").is_number_integer())
    s.bos_token_id = int32_t(c.integer("bos_token_id", std::nullopt, 0, s.vocab_size - 1));
  s.layers.assign(size_t(s.num_layers), LayerSpec{});
}

void read_sliding_windows(const ConfigReader& c, ModelSpec& s) {
  const int64_t window = c.has("sliding_window") ? c.integer("sliding_window", 0, 0, kMaxContext) : 0;
  auto set_all = [&](auto&& slides) {
    for (int64_t i = 0; i < s.num_layers; ++i)
      s.layers[size_t(i)].sliding_window = slides(i) ? int32_t(window) : 0;
  };
  if (window == 0) return;
  if (c.has("layer_types")) {
    auto types = c.string_list("layer_types");
    if (int64_t(types.size()) != s.num_layers)
      c.fail("layer_types", "has " + std::to_string(types.size()) + " entries for " +
                                std::to_string(s.num_layers) + " layers");
    for (const auto& t : types)
      if (t != "sliding_attention" && t != "full_attention")
        c.fail("layer_types", "holds unknown \"" + t + "\"");
    // Mistral and Mixtral apply the window to every layer whenever it is set.
    if (s.family == Family::Mistral || s.family == Family::Mixtral)
      return set_all([](int64_t) { return true; });
    return set_all([&](int64_t i) { return types[size_t(i)] == "sliding_attention"; });
  }
  switch (s.family) {
    case Family::Mistral:
    case Family::Mixtral:
      return set_all([](int64_t) { return true; });
    case Family::Qwen2:
    case Family::Qwen3: {
      if (!c.boolean("use_sliding_window", false)) return;
      int64_t max_window_layers = c.integer("max_window_layers", 28, 0, kMaxLayers);
      return set_all([&](int64_t i) { return i >= max_window_layers; });
    }
    case Family::Qwen2Moe: {
      if (!c.boolean("use_sliding_window", false)) return;
      int64_t max_window_layers = c.integer("max_window_layers", 28, 0, kMaxLayers);
      return set_all([&](int64_t i) { return (i + 1) % 2 == 1 && i < max_window_layers; });
    }
    case Family::Qwen3Moe:
      if (!c.boolean("use_sliding_window", false)) return;
      return set_all([](int64_t) { return true; });
    default:
      return;  // the other families have no sliding window
  }
}

}  // namespace moe::detail
