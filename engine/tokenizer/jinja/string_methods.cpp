// The methods of Python's str that templates call (`content.strip()`, `content.split('</think>')[-1]`,
// `role.startswith('sys')`, ...), with Python's semantics: indexes count code points, whitespace is
// Unicode whitespace, split() without a separator splits on runs of it.
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/string_ops.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

using Method = Value (*)(Runtime&, const std::string&, CallArgs&);

Value str(std::string s) {
  return Value::string(std::move(s));
}

Value list_of_strings(Runtime& rt, std::vector<std::string> parts) {
  rt.budget.bytes(parts.size() * sizeof(Value));
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts)
    items.push_back(Value::string(std::move(p)));
  return Value::list(std::move(items));
}

// start/end arguments of find/count/startswith: a code-point slice [start:end] as byte offsets.
struct Range {
  size_t begin, end;
  bool empty_past_end;  // start beyond the string: nothing matches, not even ""
};

Range code_point_range(const std::string& s, const Params& p, size_t i_start, size_t i_end) {
  const auto offs = utf8::offsets(s);
  const int64_t n = int64_t(offs.size()) - 1;
  auto adjust = [n](int64_t i) {
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return i;
  };
  int64_t start = p.has(i_start) && !p.get(i_start).is_none() ? adjust(to_index(p.get(i_start), "start")) : 0;
  int64_t end = p.has(i_end) && !p.get(i_end).is_none() ? adjust(to_index(p.get(i_end), "end")) : n;
  const bool past = start > n;
  end = std::min(end, n);
  start = std::min(start, n);
  if (end < start) end = start;
  return Range{offs[size_t(start)], offs[size_t(end)], past || false};
}

size_t code_point_index(const std::string& s, size_t byte_offset) {
  return utf8::length(std::string_view(s).substr(0, byte_offset));
}

Value m_upper(Runtime& rt, const std::string& s, CallArgs& a) {
  no_args("upper", a);
  return str(utf8::upper(s));
}

Value m_lower(Runtime& rt, const std::string& s, CallArgs& a) {
  no_args("lower", a);
  return str(utf8::lower(s));
}

Value m_title(Runtime& rt, const std::string& s, CallArgs& a) {
  no_args("title", a);
  return str(py_title(s));
}

Value m_capitalize(Runtime& rt, const std::string& s, CallArgs& a) {
  no_args("capitalize", a);
  return str(py_capitalize(s));
}

Value m_swapcase(Runtime& rt, const std::string& s, CallArgs& a) {
  no_args("swapcase", a);
  std::string out;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (utf8::is_upper(c))
      utf8::append_lower(out, c);
    else if (utf8::is_lower(c))
      utf8::append_upper(out, c);
    else
      utf8::append(out, c);
  }
  return str(std::move(out));
}

template <int Which>  // 0 strip, 1 lstrip, 2 rstrip
Value m_strip(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p(Which == 0 ? "strip" : Which == 1 ? "lstrip" : "rstrip", a, {"chars"});
  const Value& chars = p.get(0);
  std::optional<std::string> set;
  if (p.has(0) && !chars.is_none()) set = to_string_arg(chars, "strip arg");
  return str(py_strip(s, set ? &*set : nullptr, Which != 2, Which != 1));
}

Value split_impl(Runtime& rt, const std::string& s, CallArgs& a, bool from_right) {
  Params p(from_right ? "rsplit" : "split", a, {"sep", "maxsplit"});
  const int64_t maxsplit = p.integer(1, -1);
  if (!p.has(0) || p.get(0).is_none())
    return list_of_strings(rt, py_split_whitespace(s, maxsplit, from_right));
  const std::string& sep = to_string_arg(p.get(0), "sep");
  if (sep.empty()) fail("empty separator");
  return list_of_strings(rt, py_split(s, sep, maxsplit, from_right));
}

Value m_split(Runtime& rt, const std::string& s, CallArgs& a) {
  return split_impl(rt, s, a, false);
}

Value m_rsplit(Runtime& rt, const std::string& s, CallArgs& a) {
  return split_impl(rt, s, a, true);
}

Value m_splitlines(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p("splitlines", a, {"keepends"});
  return list_of_strings(rt, py_splitlines(s, p.flag(0, false)));
}

template <bool Ends>
Value m_startswith(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p(Ends ? "endswith" : "startswith", a, {"prefix", "start", "end"}, 1);
  const Range r = code_point_range(s, p, 1, 2);
  const std::string_view part =
      r.empty_past_end ? std::string_view() : std::string_view(s).substr(r.begin, r.end - r.begin);
  auto matches = [&](const Value& v) {
    const std::string& x = to_string_arg(v, Ends ? "endswith arg" : "startswith arg");
    if (r.empty_past_end) return false;
    return Ends ? part.size() >= x.size() && part.substr(part.size() - x.size()) == x
                : part.substr(0, x.size()) == x;
  };
  const Value& what = p.get(0);
  if (what.is_list() && what.list().kind == ListKind::Tuple) {
    for (const Value& v : what.list().items)
      if (matches(v)) return Value::boolean(true);
    return Value::boolean(false);
  }
  if (!what.is_string())
    fail(std::string(Ends ? "endswith" : "startswith") + " first arg must be str or a tuple of str, not " +
         type_name(what));
  return Value::boolean(matches(what));
}

Value m_replace(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p("replace", a, {"old", "new", "count"}, 2);
  const std::string& old_s = to_string_arg(p.get(0), "replace() argument 1");
  const std::string& new_s = to_string_arg(p.get(1), "replace() argument 2");
  return str(py_replace(rt, s, old_s, new_s, p.integer(2, -1)));
}

template <int Which>  // 0 find, 1 rfind, 2 index, 3 rindex, 4 count
Value m_find(Runtime& rt, const std::string& s, CallArgs& a) {
  static constexpr const char* kNames[] = {"find", "rfind", "index", "rindex", "count"};
  Params p(kNames[Which], a, {"sub", "start", "end"}, 1);
  const std::string& sub = to_string_arg(p.get(0), std::string(kNames[Which]) + " arg");
  const Range r = code_point_range(s, p, 1, 2);
  const std::string_view part = std::string_view(s).substr(r.begin, r.end - r.begin);
  if (Which == 4) {
    if (r.empty_past_end) return Value::integer(0);
    if (sub.empty()) return Value::integer(int64_t(utf8::length(part)) + 1);
    int64_t n = 0;
    for (size_t k = part.find(sub); k != std::string_view::npos; k = part.find(sub, k + sub.size()))
      ++n;
    return Value::integer(n);
  }
  size_t found = std::string_view::npos;
  if (!r.empty_past_end) found = (Which == 1 || Which == 3) ? part.rfind(sub) : part.find(sub);
  if (found == std::string_view::npos) {
    if (Which >= 2) fail("substring not found");
    return Value::integer(-1);
  }
  return Value::integer(int64_t(code_point_index(s, r.begin + found)));
}

Value m_join(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p("join", a, {"iterable"}, 1);
  std::string out;
  bool first = true;
  for (const Value& v : iterate(rt, p.get(0))) {
    if (!v.is_string()) fail("sequence item: expected str instance, " + type_name(v) + " found");
    if (!first) out += s;
    first = false;
    out += v.str();
    rt.budget.limit(out.size());
  }
  rt.budget.bytes(out.size());
  return str(std::move(out));
}

template <bool (*Pred)(char32_t)>
Value char_class(const std::string& s, CallArgs& a) {
  no_args("is...", a);
  if (s.empty()) return Value::boolean(false);
  for (size_t i = 0, len; i < s.size(); i += len)
    if (!Pred(utf8::decode(s, i, len))) return Value::boolean(false);
  return Value::boolean(true);
}

Value m_isdigit(Runtime&, const std::string& s, CallArgs& a) {
  return char_class<utf8::is_digit>(s, a);
}
Value m_isalpha(Runtime&, const std::string& s, CallArgs& a) {
  return char_class<utf8::is_alpha>(s, a);
}
Value m_isalnum(Runtime&, const std::string& s, CallArgs& a) {
  return char_class<utf8::is_alnum>(s, a);
}
Value m_isspace(Runtime&, const std::string& s, CallArgs& a) {
  return char_class<utf8::is_space>(s, a);
}

template <bool Lower>
Value m_iscase(Runtime&, const std::string& s, CallArgs& a) {
  no_args(Lower ? "islower" : "isupper", a);
  bool cased = false;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (Lower ? utf8::is_upper(c) : utf8::is_lower(c)) return Value::boolean(false);
    if (Lower ? utf8::is_lower(c) : utf8::is_upper(c)) cased = true;
  }
  return Value::boolean(cased);
}

template <int Which>  // 0 center, 1 ljust, 2 rjust, 3 zfill
Value m_justify(Runtime& rt, const std::string& s, CallArgs& a) {
  static constexpr const char* kNames[] = {"center", "ljust", "rjust", "zfill"};
  Params p(kNames[Which], a,
           Which == 3 ? std::initializer_list<const char*>{"width"}
                      : std::initializer_list<const char*>{"width", "fillchar"},
           1);
  const int64_t width = p.integer(0, 0);
  std::string fill = " ";
  if (Which != 3 && p.has(1)) {
    fill = to_string_arg(p.get(1), "fillchar");
    if (utf8::length(fill) != 1) fail("The fill character must be exactly one character long");
  }
  const int64_t len = int64_t(utf8::length(s));
  if (width <= len) return str(s);
  rt.budget.bytes(size_t(width - len) * fill.size() + s.size());
  auto repeat = [&](int64_t n) {
    std::string r;
    for (int64_t i = 0; i < n; ++i)
      r += fill;
    return r;
  };
  const int64_t marg = width - len;
  switch (Which) {
    case 0: {
      const int64_t left = marg / 2 + (marg & width & 1);
      return str(repeat(left) + s + repeat(marg - left));
    }
    case 1:
      return str(s + repeat(marg));
    case 2:
      return str(repeat(marg) + s);
    default: {
      if (!s.empty() && (s[0] == '+' || s[0] == '-'))
        return str(s.substr(0, 1) + std::string(size_t(marg), '0') + s.substr(1));
      return str(std::string(size_t(marg), '0') + s);
    }
  }
}

template <bool FromRight>
Value m_partition(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p(FromRight ? "rpartition" : "partition", a, {"sep"}, 1);
  const std::string& sep = to_string_arg(p.get(0), "sep");
  if (sep.empty()) fail("empty separator");
  const size_t k = FromRight ? s.rfind(sep) : s.find(sep);
  std::vector<Value> parts;
  if (k == std::string::npos) {
    parts = FromRight ? std::vector<Value>{str(""), str(""), str(s)}
                      : std::vector<Value>{str(s), str(""), str("")};
  } else {
    parts = {str(s.substr(0, k)), str(sep), str(s.substr(k + sep.size()))};
  }
  return Value::list(std::move(parts), ListKind::Tuple);
}

template <bool Suffix>
Value m_remove(Runtime& rt, const std::string& s, CallArgs& a) {
  Params p(Suffix ? "removesuffix" : "removeprefix", a, {"affix"}, 1);
  const std::string& x = to_string_arg(p.get(0), "argument");
  if (Suffix) {
    if (!x.empty() && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return str(s.substr(0, s.size() - x.size()));
  } else if (s.compare(0, x.size(), x) == 0) {
    return str(s.substr(x.size()));
  }
  return str(s);
}

Value m_format(Runtime& rt, const std::string& s, CallArgs& a) {
  return str(py_str_format(rt, s, a));
}

const std::unordered_map<std::string_view, Method>& methods() {
  static const std::unordered_map<std::string_view, Method> table = {
      {"upper", m_upper},
      {"lower", m_lower},
      {"casefold", m_lower},
      {"title", m_title},
      {"capitalize", m_capitalize},
      {"swapcase", m_swapcase},
      {"strip", m_strip<0>},
      {"lstrip", m_strip<1>},
      {"rstrip", m_strip<2>},
      {"split", m_split},
      {"rsplit", m_rsplit},
      {"splitlines", m_splitlines},
      {"startswith", m_startswith<false>},
      {"endswith", m_startswith<true>},
      {"replace", m_replace},
      {"find", m_find<0>},
      {"rfind", m_find<1>},
      {"index", m_find<2>},
      {"rindex", m_find<3>},
      {"count", m_find<4>},
      {"join", m_join},
      {"isdigit", m_isdigit},
      {"isdecimal", m_isdigit},
      {"isnumeric", m_isdigit},
      {"isalpha", m_isalpha},
      {"isalnum", m_isalnum},
      {"isspace", m_isspace},
      {"islower", m_iscase<true>},
      {"isupper", m_iscase<false>},
      {"center", m_justify<0>},
      {"ljust", m_justify<1>},
      {"rjust", m_justify<2>},
      {"zfill", m_justify<3>},
      {"partition", m_partition<false>},
      {"rpartition", m_partition<true>},
      {"removeprefix", m_remove<false>},
      {"removesuffix", m_remove<true>},
      {"format", m_format},
  };
  return table;
}

}  // namespace

Value string_method(const Value& self, const std::string& name) {
  auto it = methods().find(name);
  if (it == methods().end()) return Value();
  const Method impl = it->second;
  return Value::callable("built-in method " + name + " of str object",
                         [self, impl](Runtime& rt, CallArgs& args) {
                           rt.budget.scan(self.str().size());
                           Value out = impl(rt, self.str(), args);
                           if (out.is_string()) rt.budget.bytes(out.str().size());
                           return out;
                         });
}

}  // namespace moe::jinja
