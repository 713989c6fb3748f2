// libFuzzer target: a whole chat template, parsed and rendered with a small fixed conversation under tight
// limits. Must throw only moe::Error (syntax, runtime or limit errors), never crash, hang or grow without
// bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "moe/chat_template.h"
#include "moe/error.h"

namespace {

const nlohmann::json& context() {
  static const nlohmann::json c = nlohmann::json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "Hi \u4f60\u597d \ud83d\ude00 \"q\" \\ <tag>"},
      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello.", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": [true, null, 1.5]}}}]},
      {"role": "tool", "content": "{\"ok\": true}"},
      {"role": "user", "content": ""}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}],
    "documents": null,
    "add_generation_prompt": true,
    "enable_thinking": false,
    "bos_token": "<s>",
    "eos_token": "</s>"
  })");
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string source(reinterpret_cast<const char*>(data), size);
  moe::TemplateLimits limits;
  limits.max_steps = 50'000;
  limits.max_output_bytes = 256 * 1024;
  limits.max_recursion = 30;
  try {
    moe::ChatTemplate tpl(source, limits);
    (void)tpl.render(context());
  } catch (const moe::Error&) {
    // expected for most inputs
  } catch (...) {
    std::abort();  // anything else is a bug
  }
  return 0;
}
