// moe::ChatTemplate: parses once, renders with a JSON context converted to the interpreter's values.
#include "moe/chat_template.h"

#include "moe/error.h"
#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/parser.h"
#include "tokenizer/jinja/utf8.h"

namespace moe {

namespace jinja {
namespace {

Value from_json(const nlohmann::json& j, int depth) {
  if (depth > kMaxNesting)
    fail("the context is nested more than " + std::to_string(kMaxNesting) + " levels deep");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u <= uint64_t(INT64_MAX) ? Value::integer(int64_t(u)) : Value::number(double(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j)
        items.push_back(from_json(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      std::vector<std::pair<Value, Value>> items;
      items.reserve(j.size());
      for (const auto& [k, v] : j.items())
        items.emplace_back(Value::string(k), from_json(v, depth + 1));
      return Value::dict(std::move(items));
    }
    default:  // binary, discarded
      return Value::none();
  }
}

}  // namespace
}  // namespace jinja

struct ChatTemplate::Impl {
  Impl(const std::string& text, TemplateLimits l) : limits(l), source(text) {}
  TemplateLimits limits;
  jinja::Source source;
  jinja::Template tpl;
};

ChatTemplate::ChatTemplate(const std::string& source, TemplateLimits limits)
    : impl_(std::make_unique<Impl>(source, limits)) {
  const std::string& text = impl_->source.text();
  for (size_t i = 0, len; i < text.size(); i += len) {
    const char32_t c = jinja::utf8::decode(text, i, len);
    if (c >= 0xDC80 && c <= 0xDCFF)
      jinja::throw_error(impl_->source.pos(i), "the template is not valid UTF-8");
  }
  impl_->tpl = jinja::parse(impl_->source, jinja::tokenize(impl_->source));
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::json& context) const {
  if (!context.is_object() && !context.is_null())
    throw Error(jinja::located({1, 1}, "the render context must be a JSON object"));
  try {
    std::vector<std::pair<std::string, jinja::Value>> vars;
    if (context.is_object())
      for (const auto& [k, v] : context.items())
        vars.emplace_back(k, jinja::from_json(v, 1));
    jinja::Interpreter interpreter(impl_->limits);
    return interpreter.render(impl_->tpl, std::move(vars));
  } catch (const jinja::Failure& f) {  // raised outside any expression (e.g. converting the context)
    throw Error(jinja::located({1, 1}, f.message));
  }
}

}  // namespace moe
