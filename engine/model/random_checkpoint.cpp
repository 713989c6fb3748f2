// expected_tensors and write_random_checkpoint (see moe/random_checkpoint.h).
#include <cmath>
#include <cstring>
#include <fstream>

#include "moe/error.h"
#include "moe/random_checkpoint.h"
#include "moe/safetensors.h"
#include "moe/sampler.h"

namespace moe {
namespace {

using nlohmann::json;

void add_mlp(std::vector<TensorShape>& t, const std::string& p, int64_t h, int64_t inter, bool mixtral) {
  t.push_back({p + (mixtral ? "w1.weight" : "gate_proj.weight"), {inter, h}});
  t.push_back({p + (mixtral ? "w3.weight" : "up_proj.weight"), {inter, h}});
  t.push_back({p + (mixtral ? "w2.weight" : "down_proj.weight"), {h, inter}});
}

void add_attention(std::vector<TensorShape>& t, const ModelSpec& s, const std::string& p) {
  const int64_t H = s.hidden_size, qd = s.num_heads * s.head_dim;
  if (s.attention == AttentionKind::MLA) {
    if (s.q_lora_rank > 0) {
      t.push_back({p + "q_a_proj.weight", {s.q_lora_rank, H}});
      t.push_back({p + "q_a_layernorm.weight", {s.q_lora_rank}});
      t.push_back({p + "q_b_proj.weight", {qd, s.q_lora_rank}});
    } else {
      t.push_back({p + "q_proj.weight", {qd, H}});
    }
    t.push_back({p + "kv_a_proj_with_mqa.weight", {s.kv_lora_rank + s.qk_rope_head_dim, H}});
    t.push_back({p + "kv_a_layernorm.weight", {s.kv_lora_rank}});
    t.push_back(
        {p + "kv_b_proj.weight", {s.num_heads * (s.qk_nope_head_dim + s.v_head_dim), s.kv_lora_rank}});
    t.push_back({p + "o_proj.weight", {H, s.num_heads * s.v_head_dim}});
    return;
  }
  const int64_t kvd = s.num_kv_heads * s.head_dim;
  t.push_back({p + "q_proj.weight", {qd, H}});
  t.push_back({p + "k_proj.weight", {kvd, H}});
  t.push_back({p + "v_proj.weight", {kvd, H}});
  t.push_back({p + "o_proj.weight", {H, qd}});
  if (s.attention_bias) {
    t.push_back({p + "q_proj.bias", {qd}});
    t.push_back({p + "k_proj.bias", {kvd}});
    t.push_back({p + "v_proj.bias", {kvd}});
  }
  if (s.o_proj_bias) t.push_back({p + "o_proj.bias", {H}});
  if (s.qk_norm == QkNorm::PerHead) {
    t.push_back({p + "q_norm.weight", {s.head_dim}});
    t.push_back({p + "k_norm.weight", {s.head_dim}});
  } else if (s.qk_norm == QkNorm::Full) {
    t.push_back({p + "q_norm.weight", {qd}});
    t.push_back({p + "k_norm.weight", {kvd}});
  }
}

bool is_norm(const std::string& name) {
  return name.find("norm") != std::string::npos;
}

// GPT-2's byte-to-unicode map used by byte-level BPE vocabularies.
std::string byte_token(int b) {
  int cp = b;
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x) {
      const bool px = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      if (!px) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

constexpr const char* kSpecials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}";

void write_json(const std::filesystem::path& p, const json& j) {
  std::ofstream out(p, std::ios::binary);
  out << j.dump(2) << "\n";
  if (!out) throw Error(p.string() + ": cannot be written");
}

void write_tokenizer(const std::filesystem::path& out) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b)
    vocab[byte_token(b)] = b;
  json added = json::array();
  for (int i = 0; i < 3; ++i) {
    vocab[kSpecials[i]] = 256 + i;
    added.push_back({{"id", 256 + i},
                     {"content", kSpecials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  json tok = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", json::array()}}}};
  write_json(out / "tokenizer.json", tok);
  write_json(out / "tokenizer_config.json", {{"tokenizer_class", "PreTrainedTokenizerFast"},
                                             {"bos_token", nullptr},
                                             {"eos_token", "<|im_end|>"},
                                             {"pad_token", "<|endoftext|>"},
                                             {"model_max_length", 4096},
                                             {"chat_template", kChatMlTemplate}});
}

}  // namespace

std::vector<TensorShape> expected_tensors(const ModelSpec& s) {
  std::vector<TensorShape> t;
  const int64_t H = s.hidden_size;
  const bool mixtral = s.family == Family::Mixtral;
  t.push_back({"model.embed_tokens.weight", {s.vocab_size, H}});
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.push_back({p + "input_layernorm.weight", {H}});
    add_attention(t, s, p + "self_attn.");
    t.push_back({p + "post_attention_layernorm.weight", {H}});
    if (!s.layers[size_t(i)].moe) {
      add_mlp(t, p + "mlp.", H, s.intermediate_size, false);
      continue;
    }
    const std::string m = p + (mixtral ? "block_sparse_moe." : "mlp.");
    t.push_back({m + "gate.weight", {s.num_experts, H}});
    if (s.router_bias) t.push_back({m + "gate.e_score_correction_bias", {s.num_experts}});
    for (int64_t e = 0; e < s.num_experts; ++e)
      add_mlp(t, m + "experts." + std::to_string(e) + ".", H, s.moe_intermediate_size, mixtral);
    if (s.shared_expert_intermediate_size > 0)
      add_mlp(t, m + (s.family == Family::Qwen2Moe ? "shared_expert." : "shared_experts."), H,
              s.shared_expert_intermediate_size, false);
    if (s.shared_expert_gate) t.push_back({m + "shared_expert_gate.weight", {1, H}});
  }
  t.push_back({"model.norm.weight", {H}});
  if (!s.tie_word_embeddings) t.push_back({"lm_head.weight", {s.vocab_size, H}});
  return t;
}

void write_random_checkpoint(const std::filesystem::path& out, json config, uint64_t seed, DType dtype) {
  if (dtype != DType::BF16 && dtype != DType::F32)
    throw Error("random checkpoints are written in bf16 or f32");
  if (config.value("vocab_size", 0) < 259)
    throw Error("vocab_size must be at least 259 to hold the byte-level tokenizer and its special tokens");
  config["bos_token_id"] = 256;
  config["eos_token_id"] = 258;
  config["torch_dtype"] = dtype == DType::BF16 ? "bfloat16" : "float32";
  const ModelSpec spec = parse_model_config(config, "config");
  std::filesystem::create_directories(out);

  const auto tensors = expected_tensors(spec);
  constexpr size_t kShardBytes = size_t(2) << 30;
  const size_t esize = dtype_size(dtype);
  // Split into shards of at most kShardBytes (a tensor larger than that gets a shard of its own).
  std::vector<std::vector<size_t>> shards(1);
  size_t shard_bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    size_t n = esize;
    for (int64_t d : tensors[i].shape)
      n *= size_t(d);
    if (shard_bytes > 0 && shard_bytes + n > kShardBytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(i);
    shard_bytes += n;
  }
  json weight_map = json::object();
  uint64_t counter = 0;
  for (size_t sh = 0; sh < shards.size(); ++sh) {
    const std::string file = shards.size() == 1 ? "model.safetensors"
                                                : "model-" + std::to_string(sh + 1) + "-of-" +
                                                      std::to_string(shards.size()) + ".safetensors";
    std::vector<std::vector<std::byte>> buffers;
    std::vector<TensorToWrite> writes;
    for (size_t i : shards[sh]) {
      const auto& ts = tensors[i];
      size_t n = 1;
      for (int64_t d : ts.shape)
        n *= size_t(d);
      buffers.emplace_back(n * esize);
      // Norm scales near 1, other weights uniform with std 0.02 (transformers' default initializer_range).
      const bool norm = is_norm(ts.name);
      const float half_width = 0.02f * std::sqrt(3.0f);
      auto* bytes = buffers.back().data();
      const uint64_t base = counter;
      counter += n;
#pragma omp parallel for schedule(static)
      for (size_t j = 0; j < n; ++j) {
        const float u = philox_uniform(seed, base + j) * 2.0f - 1.0f;
        const float v = norm ? 1.0f + 0.1f * u : half_width * u;
        if (dtype == DType::BF16) {
          uint16_t b = f32_to_bf16(v);
          std::memcpy(bytes + 2 * j, &b, 2);
        } else {
          std::memcpy(bytes + 4 * j, &v, 4);
        }
      }
      writes.push_back({ts.name, dtype, ts.shape, buffers.back().data(), buffers.back().size()});
      weight_map[ts.name] = file;
    }
    write_safetensors(out / file, writes, {{"format", "pt"}});
  }
  if (shards.size() > 1) {
    size_t total = 0;
    for (const auto& ts : tensors) {
      size_t n = esize;
      for (int64_t d : ts.shape)
        n *= size_t(d);
      total += n;
    }
    write_json(out / "model.safetensors.index.json",
               {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
  }
  write_json(out / "config.json", config);
  write_json(out / "generation_config.json", {{"bos_token_id", 256}, {"eos_token_id", {258, 256}}});
  write_tokenizer(out);
}

}  // namespace moe
