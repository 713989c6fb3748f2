// Builds the syntax tree from the tokens, following jinja2's parser.py rule by rule (operator precedence,
// tuples without parentheses, tests with one bare argument, `for ... if ...`). Tags that would load other
// templates (extends, include, import, from, block) are errors: chat templates are self-contained.
#pragma once

#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"

namespace moe::jinja {

// Statements and expressions may nest this deep; deeper input is a syntax error rather than a stack
// overflow.
constexpr int kMaxParseDepth = 100;
constexpr int kMaxExprDepth = 200;

// Throws moe::Error ("chat_template:LINE:COLUMN: ...") on a syntax error.
Template parse(const Source& source, const std::vector<Token>& tokens);

}  // namespace moe::jinja
