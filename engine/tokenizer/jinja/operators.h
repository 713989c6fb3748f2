// Python's operators on the interpreter's values: arithmetic with int/float promotion, floor division and
// modulo rounding toward negative infinity, str/list concatenation and repetition, printf-style `%`,
// comparisons and `in`. Undefined operands fail as jinja2's Undefined does.
#pragma once

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/value.h"

namespace moe::jinja {

class Runtime;

Value binary_op(Runtime& rt, BinaryOp op, const Value& a, const Value& b);  // not And/Or
Value unary_op(Runtime& rt, UnaryOp op, const Value& a);
bool compare_op(Runtime& rt, CompareOp op, const Value& a, const Value& b);
bool contains(Runtime& rt, const Value& container, const Value& item);

// `format % args`, Python's printf-style string formatting (%s %r %d %i %f %e %g %x %o %c %%).
std::string percent_format(Runtime& rt, const std::string& format, const Value& args);

}  // namespace moe::jinja
