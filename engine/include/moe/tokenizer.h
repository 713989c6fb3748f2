// Tokenizer: Hugging Face tokenizer.json, run as the `tokenizers` library runs it. Byte-level BPE with Split
// regex pre-tokenizers (Qwen, DeepSeek, OLMoE, Llama 3, `ignore_merges`), the SentencePiece-style BPE of
// Llama 2 / Mistral / Mixtral (Prepend/Replace normalizer, byte fallback, heap-based merging), added and
// special tokens (always matched in input text), the post-processor's BOS/EOS when asked. Regexes through
// PCRE2, normalisation through utf8proc.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moe {

class Tokenizer {
 public:
  // Loads FOLDER/tokenizer.json (or a tokenizer.json path) and, when present beside it,
  // tokenizer_config.json (special token strings, chat_template, add_bos_token...). Throws moe::Error naming
  // the file and the field.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& folder_or_file);
  // From the parsed JSON documents (config may be null); `source` names them in errors.
  static std::unique_ptr<Tokenizer> from_json(const nlohmann::json& tokenizer_json,
                                              const nlohmann::json* config, const std::string& source);
  virtual ~Tokenizer() = default;

  // add_special: what the post-processor adds (Hugging Face's add_special_tokens=True).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special = false) const = 0;
  // skip_special: drop special tokens from the text (Hugging Face's skip_special_tokens=True).
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;

  virtual int64_t vocab_size() const = 0;  // largest id + 1, added tokens included
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;  // "" for unknown ids
  virtual bool is_special(int32_t id) const = 0;

  // From tokenizer_config.json (empty / nullopt when absent).
  virtual const std::string& chat_template() const = 0;
  virtual std::optional<std::string> bos_token() const = 0;
  virtual std::optional<std::string> eos_token() const = 0;
};

// Streams text out of generated ids: a piece that ends inside a UTF-8 character is held back until the
// character completes, so every string it returns is valid UTF-8.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  // The new text that token `id` completes (may be empty).
  std::string push(int32_t id);
  // Whatever is still held (invalid bytes become U+FFFD).
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t emitted_bytes_ = 0;
};

}  // namespace moe
