// Chat templates: the Jinja programs in tokenizer_config.json's `chat_template`, rendered by a sandboxed
// interpreter configured as transformers configures jinja2 (trim_blocks, lstrip_blocks, loop controls,
// raise_exception, tojson without HTML escaping or key sorting, namespaces, macros, slicing, string methods,
// the filters and tests real templates call). No file or network access; limits on steps, output size and
// recursion; errors carry line and column.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace moe {

struct TemplateLimits {
  int64_t max_steps = 10'000'000;       // evaluation steps (loop iterations, calls, expressions)
  int64_t max_output_bytes = 16 << 20;  // rendered text and any string built on the way
  int max_recursion = 200;              // nested macro calls / includes of expressions
};

// Errors (syntax, runtime, `raise_exception(...)`, exceeded limits) are moe::Error whose
// what() is "chat_template:LINE:COLUMN: message".

class ChatTemplate {
 public:
  // Parses the template once; throws moe::Error (with line and column) on a syntax error.
  explicit ChatTemplate(const std::string& source, TemplateLimits limits = {});
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;

  // Renders with `context` as the template's variables: transformers passes messages, tools, documents,
  // add_generation_prompt, bos_token, eos_token, and any extra kwargs (e.g. enable_thinking).
  // Throws moe::Error with line and column.
  std::string render(const nlohmann::json& context) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moe
