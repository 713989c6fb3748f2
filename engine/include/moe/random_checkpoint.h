// Random-weight checkpoints of a real model's shape, written as a Hugging Face folder: config.json,
// safetensors (sharded past 2 GB), generation_config.json, a byte-level tokenizer.json (256 byte tokens +
// ChatML special tokens) and tokenizer_config.json with a ChatML chat_template.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/dtype.h"
#include "moe/model_spec.h"

namespace moe {

// config.json (transformers 4 dialect, as on the hub) of a named real model, e.g. "qwen3-30b-a3b".
nlohmann::json preset_config(const std::string& name);
std::vector<std::string> preset_names();

struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
};
// Every tensor a checkpoint of this spec holds, with the names the hub uses (per-expert layout).
std::vector<TensorShape> expected_tensors(const ModelSpec& spec);

// Writes the folder; `config` is adjusted so its special token ids match the written tokenizer.
void write_random_checkpoint(const std::filesystem::path& out, nlohmann::json config, uint64_t seed,
                             DType dtype);

}  // namespace moe
