#include "tokenizer/jinja/args.h"

namespace moe::jinja {

Params::Params(std::string_view function, const CallArgs& args, std::initializer_list<const char*> names,
               size_t required)
    : function_(function), slots_(names.size(), nullptr), names_(names) {
  if (args.positional.size() > names_.size())
    fail(function_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i)
    slots_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keywords) {
    size_t i = 0;
    while (i < names_.size() && key != names_[i])
      ++i;
    if (i == names_.size()) fail(function_ + "() got an unexpected keyword argument '" + key + "'");
    if (slots_[i]) fail(function_ + "() got multiple values for argument '" + key + "'");
    slots_[i] = &value;
  }
  for (size_t i = 0; i < required; ++i)
    if (!slots_[i]) fail(function_ + "() missing required argument '" + names_[i] + "'");
}

bool Params::flag(size_t i, bool fallback) const {
  return slots_[i] ? truthy(*slots_[i]) : fallback;
}

int64_t Params::integer(size_t i, int64_t fallback) const {
  return slots_[i] ? to_index(*slots_[i], function_ + "() argument '" + names_[i] + "'") : fallback;
}

std::string Params::string(size_t i, std::string fallback) const {
  return slots_[i] ? to_string_arg(*slots_[i], function_ + "() argument '" + names_[i] + "'") : fallback;
}

int64_t to_index(const Value& v, std::string_view what) {
  if (v.is_int()) return v.as_int();
  fail(std::string(what) + ": '" + type_name(v) + "' object cannot be interpreted as an integer");
}

const std::string& to_string_arg(const Value& v, std::string_view what) {
  if (v.is_string()) return v.str();
  fail(std::string(what) + " must be str, not " + type_name(v));
}

void no_args(std::string_view function, const CallArgs& args) {
  if (!args.positional.empty() || !args.keywords.empty())
    fail(std::string(function) + "() takes no arguments");
}

}  // namespace moe::jinja
