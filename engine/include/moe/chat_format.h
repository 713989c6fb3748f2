// ChatFormatter: turns a conversation into the prompt text the model was trained on, with the model's own
// chat_template (tokenizer_config.json), or a clearly named default (ChatML) when the model has none, given
// the variables transformers passes (bos_token, eos_token, add_generation_prompt, extra kwargs).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "moe/chat_template.h"
#include "moe/tokenizer.h"

namespace moe {

class ChatFormatter {
 public:
  // `override_template`: a template given by the user (replaces the model's).
  explicit ChatFormatter(const Tokenizer& tokenizer, const std::string& override_template = {});

  // messages: [{"role": ..., "content": ...}, ...]; extra: further template variables (enable_thinking,
  // tools...).
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra = nlohmann::json::object()) const;
  // "the model's chat_template", "chatml (default: the model has no chat_template)", or "given template".
  const std::string& template_name() const { return name_; }
  bool is_default() const { return is_default_; }

 private:
  const Tokenizer& tok_;
  std::unique_ptr<ChatTemplate> template_;
  std::string name_;
  bool is_default_ = false;
};

// The template used for models without one.
extern const char* const kDefaultChatMlTemplate;

}  // namespace moe
