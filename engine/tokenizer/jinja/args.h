// Binding a call's arguments to a built-in's parameters the way Python does (positional first, then by
// keyword), and the conversions built-ins apply to them.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace moe::jinja {

class Params {
 public:
  // `names` are the parameters after the filter's input or the method's self; the first `required` of
  // them must be given.
  Params(std::string_view function, const CallArgs& args, std::initializer_list<const char*> names,
         size_t required = 0);

  bool has(size_t i) const { return slots_[i] != nullptr; }
  const Value& get(size_t i) const { return slots_[i] ? *slots_[i] : undefined_; }
  Value get_or(size_t i, Value fallback) const { return slots_[i] ? *slots_[i] : std::move(fallback); }
  bool flag(size_t i, bool fallback) const;
  int64_t integer(size_t i, int64_t fallback) const;
  std::string string(size_t i, std::string fallback) const;

 private:
  std::string function_;
  std::vector<const Value*> slots_;
  std::vector<const char*> names_;
  Value undefined_;
};

// Python's operator.index(): ints and bools; fails for anything else.
int64_t to_index(const Value& v, std::string_view what);
// A str argument; fails for anything else.
const std::string& to_string_arg(const Value& v, std::string_view what);
// No arguments at all.
void no_args(std::string_view function, const CallArgs& args);

}  // namespace moe::jinja
