// ChatFormatter (see moe/chat_format.h).
#include "moe/chat_format.h"

namespace moe {

const char* const kDefaultChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

ChatFormatter::ChatFormatter(const Tokenizer& tokenizer, const std::string& override_template)
    : tok_(tokenizer) {
  std::string source;
  if (!override_template.empty()) {
    source = override_template;
    name_ = "given template";
  } else if (!tokenizer.chat_template().empty()) {
    source = tokenizer.chat_template();
    name_ = "the model's chat_template";
  } else {
    source = kDefaultChatMlTemplate;
    name_ = "chatml (default: the model has no chat_template)";
    is_default_ = true;
  }
  template_ = std::make_unique<ChatTemplate>(source);
}

std::string ChatFormatter::render(const nlohmann::json& messages, bool add_generation_prompt,
                                  const nlohmann::json& extra) const {
  nlohmann::json ctx = extra.is_object() ? extra : nlohmann::json::object();
  ctx["messages"] = messages;
  ctx["add_generation_prompt"] = add_generation_prompt;
  ctx["bos_token"] = tok_.bos_token().value_or("");
  ctx["eos_token"] = tok_.eos_token().value_or("");
  return template_->render(ctx);
}

}  // namespace moe
