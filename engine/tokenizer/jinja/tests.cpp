// jinja2's tests (tests.py): `x is defined`, `x is string`, `n is divisibleby 3`, ...
#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

using Kind = Value::Kind;
using TestFn = bool (*)(Runtime&, const Value&, CallArgs&);

Value one_arg(std::string_view name, const CallArgs& args) {
  Params p(name, args, {"other"}, 1);
  return p.get(0);
}

bool is_odd_or_even(Runtime& rt, const Value& v, bool odd) {
  if (v.is_undefined()) fail(v.undefined_hint());
  const Value r = binary_op(rt, BinaryOp::Mod, v, Value::integer(2));
  return equals(r, Value::integer(odd ? 1 : 0), rt.budget);
}

// Python's str.islower()/isupper(): some cased character, and none of the other case.
bool case_test(Runtime& rt, const Value& v, bool lower) {
  const std::string s = str_of(rt, v);
  bool cased = false;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (lower ? utf8::is_upper(c) : utf8::is_lower(c)) return false;
    if (lower ? utf8::is_lower(c) : utf8::is_upper(c)) cased = true;
  }
  return cased;
}

bool compare_test(Runtime& rt, CompareOp op, std::string_view name, const Value& v, CallArgs& a) {
  return compare_op(rt, op, v, one_arg(name, a));
}

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"boolean", [](Runtime&, const Value& v, CallArgs&) { return v.kind() == Kind::Bool; }},
      {"callable",
       [](Runtime&, const Value& v, CallArgs&) {  // jinja2's Undefined defines __call__ (which raises)
         return v.kind() == Kind::Callable || v.kind() == Kind::Loop || v.is_undefined();
       }},
      {"defined", [](Runtime&, const Value& v, CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](Runtime&, const Value& v, CallArgs&) { return v.is_undefined(); }},
      {"divisibleby",
       [](Runtime& rt, const Value& v, CallArgs& a) {
         const Value n = one_arg("divisibleby", a);
         if (v.is_undefined()) fail(v.undefined_hint());
         return equals(binary_op(rt, BinaryOp::Mod, v, n), Value::integer(0), rt.budget);
       }},
      {"escaped", [](Runtime&, const Value&, CallArgs&) { return false; }},
      {"even", [](Runtime& rt, const Value& v, CallArgs&) { return is_odd_or_even(rt, v, false); }},
      {"odd", [](Runtime& rt, const Value& v, CallArgs&) { return is_odd_or_even(rt, v, true); }},
      {"false", [](Runtime&, const Value& v, CallArgs&) { return v.kind() == Kind::Bool && !v.as_bool(); }},
      {"true", [](Runtime&, const Value& v, CallArgs&) { return v.kind() == Kind::Bool && v.as_bool(); }},
      {"filter", [](Runtime&, const Value& v, CallArgs&) { return v.is_string() && filter_exists(v.str()); }},
      {"test", [](Runtime&, const Value& v, CallArgs&) { return v.is_string() && test_exists(v.str()); }},
      {"float", [](Runtime&, const Value& v, CallArgs&) { return v.kind() == Kind::Float; }},
      {"integer", [](Runtime&, const Value& v, CallArgs&) { return v.kind() == Kind::Int; }},
      {"number", [](Runtime&, const Value& v, CallArgs&) { return v.is_number(); }},
      {"string", [](Runtime&, const Value& v, CallArgs&) { return v.is_string(); }},
      {"mapping", [](Runtime&, const Value& v, CallArgs&) { return v.is_dict(); }},
      {"none", [](Runtime&, const Value& v, CallArgs&) { return v.is_none(); }},
      {"iterable",
       [](Runtime&, const Value& v, CallArgs&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict() || v.kind() == Kind::Loop;
       }},
      {"sequence",
       [](Runtime&, const Value& v, CallArgs&) {
         if (v.is_list())
           return v.list().kind == ListKind::List || v.list().kind == ListKind::Tuple ||
                  v.list().kind == ListKind::Range;
         return v.is_undefined() || v.is_string() || v.is_dict();
       }},
      {"lower", [](Runtime& rt, const Value& v, CallArgs&) { return case_test(rt, v, true); }},
      {"upper", [](Runtime& rt, const Value& v, CallArgs&) { return case_test(rt, v, false); }},
      {"in", [](Runtime& rt, const Value& v, CallArgs& a) { return contains(rt, one_arg("in", a), v); }},
      {"sameas",
       [](Runtime& rt, const Value& v, CallArgs& a) {
         const Value o = one_arg("sameas", a);
         if (v.kind() != o.kind()) return false;
         switch (v.kind()) {
           case Kind::None:
             return true;
           case Kind::Undefined:  // every lookup makes a new Undefined object
             return false;
           case Kind::Bool:
             return v.as_bool() == o.as_bool();
           case Kind::Int:  // CPython caches the small ints
             return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
           case Kind::Float:
             return false;
           default:
             return v.identity() == o.identity();
         }
       }},
      {"eq",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Eq, "eq", v, a); }},
      {"equalto", [](Runtime& rt, const Value& v,
                     CallArgs& a) { return compare_test(rt, CompareOp::Eq, "equalto", v, a); }},
      {"==",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Eq, "==", v, a); }},
      {"ne",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Ne, "ne", v, a); }},
      {"!=",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Ne, "!=", v, a); }},
      {"lt",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Lt, "lt", v, a); }},
      {"lessthan", [](Runtime& rt, const Value& v,
                      CallArgs& a) { return compare_test(rt, CompareOp::Lt, "lessthan", v, a); }},
      {"<",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Lt, "<", v, a); }},
      {"le",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Le, "le", v, a); }},
      {"<=",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Le, "<=", v, a); }},
      {"gt",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Gt, "gt", v, a); }},
      {"greaterthan", [](Runtime& rt, const Value& v,
                         CallArgs& a) { return compare_test(rt, CompareOp::Gt, "greaterthan", v, a); }},
      {">",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Gt, ">", v, a); }},
      {"ge",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Ge, "ge", v, a); }},
      {">=",
       [](Runtime& rt, const Value& v, CallArgs& a) { return compare_test(rt, CompareOp::Ge, ">=", v, a); }},
  };
  return table;
}

}  // namespace

bool test_exists(std::string_view name) {
  return tests().count(name) > 0;
}

bool apply_test(Runtime& rt, std::string_view name, const Value& input, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) fail("No test named '" + std::string(name) + "' found.");
  rt.budget.step();
  static constexpr std::string_view kWithArgument[] = {
      "divisibleby", "in", "sameas", "eq", "equalto", "==",          "ne", "!=", "lt",
      "lessthan",    "<",  "le",     "<=", "gt",      "greaterthan", ">",  "ge", ">="};
  if (std::find(std::begin(kWithArgument), std::end(kWithArgument), name) == std::end(kWithArgument) &&
      (!args.positional.empty() || !args.keywords.empty()))
    fail("test_" + std::string(name) + "() takes 1 positional argument but " +
         std::to_string(1 + args.positional.size() + args.keywords.size()) + " were given");
  return it->second(rt, input, args);
}

}  // namespace moe::jinja
