// The `tojson` filter as transformers defines it: json.dumps(x, ensure_ascii=False, indent=indent,
// separators=separators, sort_keys=False), byte for byte (", " and ": " separators, no HTML escaping).
#pragma once

#include <optional>
#include <string>

#include "tokenizer/jinja/value.h"

namespace moe::jinja {

class Runtime;

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // none: one line
  std::string item_separator = ", ";  // json.dumps' defaults: ", " without indent, "," with it
  std::string key_separator = ": ";
  bool sort_keys = false;
};

std::string to_json(Runtime& rt, const Value& v, const JsonOptions& options);

}  // namespace moe::jinja
