// Splits a template into tokens exactly as jinja2's lexer does under transformers' settings
// (trim_blocks=True, lstrip_blocks=True): template data between tags, with the whitespace control of
// `{%- -%}`, `{{- -}}`, `{#- -#}`, `{%+`, and the tokens inside tags. `{% raw %}` bodies come out as data,
// comments are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/jinja/source.h"

namespace moe::jinja {

enum class Tok : uint8_t {
  Data,
  BlockBegin,
  BlockEnd,
  VarBegin,
  VarEnd,
  Name,
  String,
  Integer,
  Float,
  Op,  // text holds the operator: "+", "//", "(", "==", ...
  Eof,
};

struct Token {
  Tok type = Tok::Eof;
  std::string text;  // data, name, decoded string literal or operator
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // into Source::text()
};

// Throws moe::Error ("chat_template:LINE:COLUMN: ...") on a lexical error.
std::vector<Token> tokenize(const Source& source);

}  // namespace moe::jinja
