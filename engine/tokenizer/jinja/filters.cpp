// jinja2's filters (filters.py) with their Python semantics: those on strings and numbers, default, attr,
// transformers' `tojson`, and the registry of all filters (the ones over sequences and mappings are in
// filters_sequences.cpp). Filters that return generators in jinja2 (select, map, unique, batch, items,
// reverse of a list) return one-shot iterators here too: always true, no length, printed as an object.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <unordered_map>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/filters_internal.h"
#include "tokenizer/jinja/json_dump.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/string_ops.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace filter_impl {
namespace {

// ---- string filters

Value f_upper(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("upper", a);
  return str_value(rt, utf8::upper(str_of(rt, v)));
}

Value f_lower(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("lower", a);
  return str_value(rt, utf8::lower(str_of(rt, v)));
}

Value f_title(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("title", a);
  return str_value(rt, jinja_title(str_of(rt, v)));
}

Value f_capitalize(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("capitalize", a);
  return str_value(rt, py_capitalize(str_of(rt, v)));
}

Value f_trim(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("trim", a, {"chars"});
  std::string chars;
  const bool has_chars = p.has(0) && !p.get(0).is_none();
  if (has_chars) chars = to_string_arg(p.get(0), "trim chars");
  return str_value(rt, py_strip(str_of(rt, v), has_chars ? &chars : nullptr, true, true));
}

Value f_replace(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("replace", a, {"old", "new", "count"}, 2);
  const int64_t count = p.has(2) && !p.get(2).is_none() ? p.integer(2, -1) : -1;
  return str_value(rt, py_replace(rt, str_of(rt, v), str_of(rt, p.get(0)), str_of(rt, p.get(1)), count));
}

Value f_string(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("string", a);
  return v.is_string() ? v : str_value(rt, str_of(rt, v));
}

Value f_safe(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("safe", a);
  return v.is_string() ? v : str_value(rt, str_of(rt, v));
}

Value f_escape(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("escape", a);
  const std::string s = str_of(rt, v);
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return str_value(rt, std::move(out));
}

Value f_center(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("center", a, {"width"});
  CallArgs inner;
  inner.positional.push_back(Value::integer(p.integer(0, 80)));
  return rt.call(string_method(Value::string(str_of(rt, v)), "center"), inner);
}

Value f_indent(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("indent", a, {"width", "first", "blank"});
  std::string indention;
  if (p.has(0) && p.get(0).is_string()) {
    indention = p.get(0).str();
  } else {
    const int64_t w = p.integer(0, 4);
    rt.budget.limit(size_t(std::max<int64_t>(w, 0)));
    indention = std::string(size_t(std::max<int64_t>(w, 0)), ' ');
  }
  // jinja2 appends "\n" to the value itself and splits it into lines: only strings get through.
  if (v.is_list() && v.list().kind == ListKind::List) fail("'list' object has no attribute 'splitlines'");
  const std::string s = binary_op(rt, BinaryOp::Add, v, Value::string("\n")).str();
  const auto lines = py_splitlines(s, false);
  std::string rv;
  if (p.flag(2, false)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
      rt.budget.limit(rv.size());
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
      rt.budget.limit(rv.size());
    }
  }
  if (p.flag(1, false)) rv = indention + rv;
  return str_value(rt, std::move(rv));
}

Value f_truncate(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("truncate", a, {"length", "killwords", "end", "leeway"});
  const int64_t length = p.integer(0, 255);
  const std::string end = p.string(2, "...");
  const int64_t leeway = p.has(3) && !p.get(3).is_none() ? p.integer(3, 5) : 5;
  const int64_t end_len = int64_t(utf8::length(end));
  if (length < end_len)
    fail("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) fail("expected leeway >= 0, got " + std::to_string(leeway));
  // jinja2 measures and slices the value itself: short values of any sized type come back unchanged.
  if (!v.is_string()) {
    if (v.is_undefined()) return v;  // len(undefined) is 0
    if (!v.is_dict() && !(v.is_list() && v.list().kind != ListKind::Iterator))
      fail("object of type '" + type_name(v) + "' has no len()");
    const size_t n = v.is_dict() ? v.dict().items.size() : v.list().items.size();
    if (int64_t(n) <= length + leeway) return v;
    fail("truncate needs a string, not " + type_name(v));
  }
  const std::string& s = v.str();
  const auto offs = utf8::offsets(s);
  const int64_t n = int64_t(offs.size()) - 1;
  if (n <= length + leeway) return v;
  const std::string head = s.substr(0, offs[size_t(length - end_len)]);
  if (p.flag(1, false)) return str_value(rt, head + end);
  const size_t space = head.rfind(' ');
  return str_value(rt, (space == std::string::npos ? head : head.substr(0, space)) + end);
}

Value f_wordcount(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("wordcount", a);
  const std::string s = str_of(rt, v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const bool w = utf8::is_word(utf8::decode(s, i, len));
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value::integer(words);
}

Value f_format(Runtime& rt, const Value& v, CallArgs& a) {
  if (!a.positional.empty() && !a.keywords.empty())
    fail("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.keywords.empty()) {
    DictBuilder d(rt.budget);
    for (auto& [k, kv] : a.keywords)
      d.set(Value::string(k), kv);
    args = d.build();
  } else {
    args = Value::list(a.positional, ListKind::Tuple);
  }
  return str_value(rt, percent_format(rt, str_of(rt, v), args));
}

// ---- numbers

// Python's float(str): surrounding whitespace, sign, digits with single underscores, inf/nan.
bool parse_python_float(const std::string& raw, double& out) {
  const std::string s = py_strip(raw, nullptr, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      const bool between = i > 0 && i + 1 < s.size() && std::isdigit((unsigned char)s[i - 1]) &&
                           std::isdigit((unsigned char)s[i + 1]);
      if (!between) return false;
      continue;
    }
    clean += c;
  }
  std::string lower = utf8::lower(clean);
  std::string_view body = lower;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) body.remove_prefix(1);
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? NAN : INFINITY;
    if (lower[0] == '-') out = -out;
    return true;
  }
  if (body.empty() || body.find_first_not_of("0123456789.e+-") != std::string_view::npos) return false;
  char* end = nullptr;
  out = std::strtod(clean.c_str(), &end);
  return end && *end == '\0' && end != clean.c_str();
}

// Python's int(str, base).
bool parse_python_int(const std::string& raw, int base, int64_t& out) {
  std::string s = py_strip(raw, nullptr, true, true);
  bool neg = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (base == 16 || base == 8 || base == 2 || base == 0) {
    if (i + 1 < s.size() && s[i] == '0') {
      const char p = char(s[i + 1] | 0x20);
      const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
      if (prefix_base && (base == 0 || base == prefix_base)) {
        base = prefix_base;
        i += 2;
        if (i < s.size() && s[i] == '_') ++i;
      }
    }
    if (base == 0) base = 10;
  }
  if (i >= s.size()) return false;
  __int128 v = 0;
  bool last_underscore = true;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (last_underscore) return false;
      last_underscore = true;
      continue;
    }
    int d = (c >= '0' && c <= '9')                   ? c - '0'
            : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10
                                                     : 99;
    if (d >= base) return false;
    v = v * base + d;
    if (v > (__int128(1) << 64)) fail("integer overflow: the result does not fit in 64 bits");
    last_underscore = false;
  }
  if (last_underscore) return false;
  if (neg) v = -v;
  if (v > INT64_MAX || v < INT64_MIN) fail("integer overflow: the result does not fit in 64 bits");
  out = int64_t(v);
  return true;
}

bool float_to_int(double f, int64_t& out) {
  if (std::isnan(f)) return false;
  if (std::isinf(f)) fail("cannot convert float infinity to integer");
  if (std::fabs(f) >= 9.2233720368547758e18) fail("integer overflow: the result does not fit in 64 bits");
  out = int64_t(f);
  return true;
}

Value f_int(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("int", a, {"default", "base"});
  const Value fallback = p.get_or(0, Value::integer(0));
  const int64_t base = p.integer(1, 10);
  require_defined(v);
  int64_t out;
  if (v.is_string()) {
    if (base != 0 && (base < 2 || base > 36)) fail("int() base must be >= 2 and <= 36, or 0");
    if (parse_python_int(v.str(), int(base), out)) return Value::integer(out);
    double f;
    if (parse_python_float(v.str(), f) && float_to_int(f, out)) return Value::integer(out);
    return fallback;
  }
  if (v.is_int()) return Value::integer(v.as_int());
  if (v.kind() == Value::Kind::Float) {
    if (float_to_int(v.as_float(), out)) return Value::integer(out);
    return fallback;
  }
  return fallback;
}

Value f_float(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("float", a, {"default"});
  require_defined(v);
  if (v.is_number()) return Value::number(v.as_float());
  double f;
  if (v.is_string() && parse_python_float(v.str(), f)) return Value::number(f);
  return p.get_or(0, Value::number(0.0));
}

Value f_abs(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("abs", a);
  require_defined(v);
  if (v.kind() == Value::Kind::Float) return Value::number(std::fabs(v.as_float()));
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) fail("integer overflow: the result does not fit in 64 bits");
    return Value::integer(std::llabs(v.as_int()));
  }
  fail("bad operand type for abs(): '" + type_name(v) + "'");
}

// Python's round(x, n): correctly rounded, ties to even.
double round_float(double x, int64_t n) {
  if (!std::isfinite(x) || x == 0.0) return x;
  if (n > 308) return x;
  if (n >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", int(n), x);
    return std::strtod(buf, nullptr);
  }
  if (n < -308) return std::copysign(0.0, x);
  const double scale = std::pow(10.0, double(-n));
  return std::nearbyint(x / scale) * scale;
}

Value f_round(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("round", a, {"precision", "method"});
  const int64_t precision = p.integer(0, 0);
  const std::string method = p.string(1, "common");
  if (method != "common" && method != "ceil" && method != "floor")
    fail("method must be common, ceil or floor");
  require_defined(v);
  if (!v.is_number()) fail("type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_int()) {
      if (precision >= 0) return Value::integer(v.as_int());
      if (precision < -18) return Value::integer(0);
      int64_t scale = 1;
      for (int64_t i = 0; i < -precision; ++i)
        scale *= 10;
      const int64_t x = v.as_int();
      int64_t q = x / scale, r = x % scale;
      if (r < 0) {
        r += scale;
        --q;
      }
      if (2 * r > scale || (2 * r == scale && (q & 1))) ++q;
      int64_t out;
      if (__builtin_mul_overflow(q, scale, &out))
        fail("integer overflow: the result does not fit in 64 bits");
      return Value::integer(out);
    }
    return Value::number(round_float(v.as_float(), precision));
  }
  const double scale = std::pow(10.0, double(precision));
  const double x = v.as_float() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_default(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("default", a, {"default_value", "boolean"});
  if (v.is_undefined() || (p.flag(1, false) && !truthy(v))) return p.get_or(0, Value::string(""));
  return v;
}

Value f_attr(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("attr", a, {"name"}, 1);
  const std::string& name = to_string_arg(p.get(0), "attr name");
  require_defined(v);
  if (v.is_dict()) {  // attributes only: a dict's methods, not its keys
    if (name == "items" || name == "keys" || name == "values" || name == "get" || name == "copy")
      return get_attr(rt, v, name);
    return Value::undefined("'dict object' has no attribute '" + name + "'");
  }
  return get_attr(rt, v, name);
}

// transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
Value f_tojson(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = p.flag(0, false);
  const Value& indent = p.get(1);
  if (p.has(1) && !indent.is_none()) {
    if (indent.is_string()) {
      o.indent = indent.str();
    } else {
      const int64_t n = to_index(indent, "indent");
      rt.budget.limit(size_t(std::max<int64_t>(n, 0)));
      o.indent = std::string(size_t(std::max<int64_t>(n, 0)), ' ');
    }
    o.item_separator = ",";
  }
  if (p.has(2) && !p.get(2).is_none()) {
    const Value& seps = p.get(2);
    if (!seps.is_list() || seps.list().items.size() != 2 || !seps.list().items[0].is_string() ||
        !seps.list().items[1].is_string())
      fail("separators must be a pair of strings");
    o.item_separator = seps.list().items[0].str();
    o.key_separator = seps.list().items[1].str();
  }
  o.sort_keys = p.flag(3, false);
  return Value::string(to_json(rt, v, o));
}

}  // namespace
}  // namespace filter_impl

namespace {

using namespace filter_impl;

const std::unordered_map<std::string_view, FilterFn>& filter_table() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"forceescape", f_escape},
      {"format", f_format},
      {"groupby", f_groupby},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return table;
}

// jinja2's filters that are Python generators, whose errors surface only when the result is consumed.
bool produces_generator(std::string_view name) {
  for (std::string_view g :
       {"select", "reject", "selectattr", "rejectattr", "map", "unique", "batch", "items"})
    if (name == g) return true;
  return false;
}

}  // namespace

bool filter_exists(std::string_view name) {
  return filter_table().count(name) > 0;
}

Value apply_filter(Runtime& rt, std::string_view name, const Value& input, CallArgs& args) {
  auto it = filter_table().find(name);
  if (it == filter_table().end()) fail("No filter named '" + std::string(name) + "' found.");
  rt.budget.step();
  if (input.is_string()) rt.budget.scan(input.str().size());
  if (!produces_generator(name)) return it->second(rt, input, args);
  try {
    return it->second(rt, input, args);
  } catch (const Failure& f) {
    return Value::failed_generator(f.message);
  }
}

}  // namespace moe::jinja