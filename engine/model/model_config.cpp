// parse_model_config: config.json -> ModelSpec. Picks the family from `architectures` (or `model_type`),
// reads the shared fields, hands over to the family's file, then checks the result as a whole.
#include <cmath>
#include <fstream>
#include <map>

#include "model/families.h"
#include "moe/error.h"
#include "moe/model_spec.h"

namespace moe {
namespace {

struct FamilyEntry {
  Family family;
  const char* architecture;
  const char* model_type;
};

constexpr FamilyEntry kFamilies[] = {
    {Family::Llama, "LlamaForCausalLM", "llama"},
    {Family::Mistral, "MistralForCausalLM", "mistral"},
    {Family::Qwen2, "Qwen2ForCausalLM", "qwen2"},
    {Family::Qwen3, "Qwen3ForCausalLM", "qwen3"},
    {Family::Mixtral, "MixtralForCausalLM", "mixtral"},
    {Family::Qwen2Moe, "Qwen2MoeForCausalLM", "qwen2_moe"},
    {Family::Qwen3Moe, "Qwen3MoeForCausalLM", "qwen3_moe"},
    {Family::Olmoe, "OlmoeForCausalLM", "olmoe"},
    {Family::DeepseekV2, "DeepseekV2ForCausalLM", "deepseek_v2"},
    {Family::DeepseekV3, "DeepseekV3ForCausalLM", "deepseek_v3"},
};

std::string supported_list() {
  std::string out;
  for (const auto& f : kFamilies)
    out += (out.empty() ? "" : ", ") + std::string(f.architecture);
  return out;
}

const FamilyEntry& pick_family(const detail::ConfigReader& c) {
  auto archs = c.string_list("architectures");
  std::string model_type = c.has("model_type") ? c.string("model_type", std::nullopt) : "";
  // `architectures` decides when present; `model_type` only when it is absent.
  for (const auto& a : archs)
    for (const auto& f : kFamilies)
      if (a == f.architecture) return f;
  if (archs.empty())
    for (const auto& f : kFamilies)
      if (model_type == f.model_type) return f;
  std::string found =
      archs.empty() ? "model_type \"" + model_type + "\"" : "architecture \"" + archs[0] + "\"";
  throw Error(c.source() + ": unsupported " + found + "; supported: " + supported_list());
}

void check_whole(const detail::ConfigReader& c, const ModelSpec& s) {
  if (s.num_heads % s.num_kv_heads != 0)
    c.fail("num_key_value_heads", "= " + std::to_string(s.num_kv_heads) +
                                      " must divide num_attention_heads = " + std::to_string(s.num_heads));
  if (s.is_moe()) {
    if (s.top_k < 1 || s.top_k > s.num_experts)
      c.fail("num_experts_per_tok", "= " + std::to_string(s.top_k) + " must be between 1 and the " +
                                        std::to_string(s.num_experts) + " experts");
    if (s.num_experts % s.n_group != 0)
      c.fail("n_group", "= " + std::to_string(s.n_group) + " must divide the " +
                            std::to_string(s.num_experts) + " experts");
    if (s.topk_group < 1 || s.topk_group > s.n_group)
      c.fail("topk_group", "= " + std::to_string(s.topk_group) + " must be between 1 and n_group");
    if (s.router_grouping == RouterGrouping::GroupTop2Sum && s.num_experts / s.n_group < 2)
      c.fail("n_group", "leaves fewer than 2 experts per group, which DeepSeek-V3 routing needs");
    if (s.topk_group * (s.num_experts / s.n_group) < s.top_k)
      c.fail("topk_group", "keeps fewer experts than num_experts_per_tok");
  }
  if (s.rope.type == RopeType::Llama3 && s.rope.high_freq_factor <= s.rope.low_freq_factor)
    c.fail("rope_scaling.high_freq_factor", "must exceed low_freq_factor");
}

}  // namespace

ModelSpec parse_model_config(const nlohmann::json& config, const std::string& source) {
  if (!config.is_object()) throw Error(source + ": not a JSON object");
  detail::ConfigReader c(config, source);
  const FamilyEntry& fam = pick_family(c);
  ModelSpec s;
  s.family = fam.family;
  s.architecture = fam.architecture;
  switch (fam.family) {
    case Family::Llama:
    case Family::Mistral:
    case Family::Qwen2:
    case Family::Qwen3:
      detail::fill_dense(c, s);
      break;
    case Family::Mixtral:
    case Family::Qwen2Moe:
    case Family::Qwen3Moe:
    case Family::Olmoe:
      detail::fill_softmax_moe(c, s);
      break;
    case Family::DeepseekV2:
    case Family::DeepseekV3:
      detail::fill_deepseek(c, s);
      break;
  }
  check_whole(c, s);
  return s;
}

namespace {

nlohmann::json read_json_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot be opened");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(p.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace

ModelSpec load_model_spec(const std::filesystem::path& folder) {
  auto config_path = folder / "config.json";
  if (!std::filesystem::exists(config_path))
    throw Error(folder.string() + ": no config.json (is this a Hugging Face model folder?)");
  ModelSpec s = parse_model_config(read_json_file(config_path), config_path.string());
  auto gen_path = folder / "generation_config.json";
  if (std::filesystem::exists(gen_path)) {
    auto g = read_json_file(gen_path);
    if (!g.is_object()) throw Error(gen_path.string() + ": not a JSON object");
    detail::ConfigReader gr(g, gen_path.string());
    for (int64_t id : gr.int_list("eos_token_id")) {
      if (id < 0 || id >= s.vocab_size)
        gr.fail("eos_token_id", "holds " + std::to_string(id) + ", outside the vocabulary");
      if (std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), id) == s.eos_token_ids.end())
        s.eos_token_ids.push_back(int32_t(id));
    }
  }
  return s;
}

std::string family_name(Family f) {
  for (const auto& e : kFamilies)
    if (e.family == f) return e.model_type;
  return "?";
}

}  // namespace moe
