// CPython's unicodeobject.c algorithms, over UTF-8 (see string_ops.h).
#include "tokenizer/jinja/string_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

bool is_cased(char32_t c) {
  return utf8::is_upper(c) || utf8::is_lower(c);
}

bool is_line_break(char32_t c) {
  switch (c) {
    case '\n':
    case '\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string py_title(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (previous_cased)
      utf8::append_lower(out, c);
    else
      utf8::append_title(out, c);
    previous_cased = is_cased(c);
  }
  return out;
}

std::string py_capitalize(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (i == 0)
      utf8::append_title(out, c);
    else
      utf8::append_lower(out, c);
  }
  return out;
}

std::string jinja_title(const std::string& s) {
  auto separator = [](char32_t c) {
    return utf8::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
  };
  std::string out;
  out.reserve(s.size());
  bool word_start = true;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (separator(c)) {
      utf8::append(out, c);
      word_start = true;
    } else {
      if (word_start)
        utf8::append_upper(out, c);
      else
        utf8::append_lower(out, c);
      word_start = false;
    }
  }
  return out;
}

std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars) set = utf8::code_points(*chars);
  auto strip = [&](char32_t c) {
    return chars ? std::find(set.begin(), set.end(), c) != set.end() : utf8::is_space(c);
  };
  const auto offs = utf8::offsets(s);
  size_t b = 0, e = offs.size() - 1;
  size_t len;
  if (left)
    while (b < e && strip(utf8::decode(s, offs[b], len)))
      ++b;
  if (right)
    while (e > b && strip(utf8::decode(s, offs[e - 1], len)))
      --e;
  return s.substr(offs[b], offs[e] - offs[b]);
}

std::vector<std::string> py_split_whitespace(const std::string& s, int64_t maxsplit, bool from_right) {
  const auto cps = utf8::code_points(s);
  const auto offs = utf8::offsets(s);
  const size_t n = cps.size();
  int64_t count = maxsplit < 0 ? INT64_MAX : maxsplit;
  std::vector<std::string> out;
  auto piece = [&](size_t a, size_t b) { return s.substr(offs[a], offs[b] - offs[a]); };
  if (!from_right) {
    size_t i = 0;
    while (count-- > 0) {
      while (i < n && utf8::is_space(cps[i]))
        ++i;
      if (i == n) break;
      const size_t j = i;
      while (i < n && !utf8::is_space(cps[i]))
        ++i;
      out.push_back(piece(j, i));
    }
    if (i < n) {
      while (i < n && utf8::is_space(cps[i]))
        ++i;
      if (i != n) out.push_back(piece(i, n));
    }
    return out;
  }
  size_t i = n;  // one past the current position, scanning leftwards
  while (count-- > 0) {
    while (i > 0 && utf8::is_space(cps[i - 1]))
      --i;
    if (i == 0) break;
    const size_t j = i;
    while (i > 0 && !utf8::is_space(cps[i - 1]))
      --i;
    out.push_back(piece(i, j));
  }
  if (i > 0) {
    while (i > 0 && utf8::is_space(cps[i - 1]))
      --i;
    if (i != 0) out.push_back(piece(0, i));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> py_split(const std::string& s, const std::string& sep, int64_t maxsplit,
                                  bool from_right) {
  int64_t count = maxsplit < 0 ? INT64_MAX : maxsplit;
  std::vector<std::string> out;
  if (!from_right) {
    size_t start = 0;
    while (count-- > 0) {
      const size_t k = s.find(sep, start);
      if (k == std::string::npos) break;
      out.push_back(s.substr(start, k - start));
      start = k + sep.size();
    }
    out.push_back(s.substr(start));
    return out;
  }
  size_t end = s.size();
  while (count-- > 0 && end >= sep.size()) {
    const size_t k = s.rfind(sep, end - sep.size());
    if (k == std::string::npos) break;
    out.push_back(s.substr(k + sep.size(), end - k - sep.size()));
    end = k;
  }
  out.push_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (!is_line_break(c)) continue;
    size_t eol = i + len;
    if (c == '\r' && eol < s.size() && s[eol] == '\n') {
      ++eol;
      ++len;
    }
    out.push_back(s.substr(start, (keepends ? eol : i) - start));
    start = eol;
  }
  if (start < s.size()) out.push_back(s.substr(start));
  return out;
}

std::string py_replace(Runtime& rt, const std::string& s, const std::string& old_s, const std::string& new_s,
                       int64_t count) {
  if (count < 0) count = INT64_MAX;
  if (old_s.empty()) {  // "abc".replace("", "-") == "-a-b-c-"
    const auto offs = utf8::offsets(s);
    const size_t slots = offs.size();
    const size_t used = size_t(std::min<int64_t>(count, int64_t(slots)));
    rt.budget.bytes(s.size() + used * new_s.size());
    std::string out;
    for (size_t k = 0; k + 1 < slots || k < used; ++k) {
      if (k < used) out += new_s;
      if (k + 1 < slots) out.append(s, offs[k], offs[k + 1] - offs[k]);
    }
    return out;
  }
  size_t hits = 0;
  for (size_t k = s.find(old_s); k != std::string::npos && int64_t(hits) < count;
       k = s.find(old_s, k + old_s.size()))
    ++hits;
  if (new_s.size() > old_s.size()) rt.budget.bytes(s.size() + hits * (new_s.size() - old_s.size()));
  std::string out;
  out.reserve(s.size());
  size_t start = 0;
  for (size_t done = 0; done < hits; ++done) {
    const size_t k = s.find(old_s, start);
    out.append(s, start, k - start);
    out += new_s;
    start = k + old_s.size();
  }
  out.append(s, start);
  return out;
}

// ---- format specs

namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;  // '<' '>' '^' '='
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int width = -1;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

Spec parse_spec(const std::string& spec) {
  Spec s;
  const auto cps = utf8::code_points(spec);
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    s.fill = cps[0];
    s.align = char(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    s.align = char(cps[0]);
    i = 1;
  }
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' ')) s.sign = char(cps[i++]);
  if (i < cps.size() && cps[i] == '#') {
    s.alternate = true;
    ++i;
  }
  if (i < cps.size() && cps[i] == '0') {
    s.zero = true;
    ++i;
  }
  while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9')
    s.width = std::min(std::max(s.width, 0) * 10 + int(cps[i++] - '0'), 1 << 20);
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) s.grouping = char(cps[i++]);
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    s.precision = 0;
    if (i >= cps.size() || cps[i] < '0' || cps[i] > '9') fail("Format specifier missing precision");
    while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9')
      s.precision = std::min(s.precision * 10 + int(cps[i++] - '0'), 1 << 20);
  }
  if (i < cps.size()) s.type = char(cps[i++]);
  if (i < cps.size()) fail("Invalid format specifier");
  return s;
}

std::string group_digits(const std::string& digits, char sep) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out += sep;
    out += digits[i];
  }
  return out;
}

// Pads `sign + body` to the width, honouring alignment and the '=' / zero-padding placement.
std::string apply_width(const Spec& s, const std::string& sign, const std::string& body, char default_align) {
  std::string fill_str;
  utf8::append(fill_str, s.fill);
  const size_t len = utf8::length(sign) + utf8::length(body);
  char align = s.align ? s.align : default_align;
  if (s.zero && !s.align) {
    align = '=';
    fill_str = "0";
  }
  if (s.width <= 0 || len >= size_t(s.width)) return sign + body;
  const size_t pad = size_t(s.width) - len;
  auto rep = [&](size_t n) {
    std::string r;
    for (size_t k = 0; k < n; ++k)
      r += fill_str;
    return r;
  };
  switch (align) {
    case '<':
      return sign + body + rep(pad);
    case '^':
      return rep(pad / 2) + sign + body + rep(pad - pad / 2);
    case '=':
      return sign + rep(pad) + body;
    default:
      return rep(pad) + sign + body;
  }
}

std::string format_integer(int64_t v, const Spec& s) {
  if (s.precision >= 0) fail("Precision not allowed in integer format specifier");
  const bool neg = v < 0;
  uint64_t mag = neg ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  std::string digits;
  std::string prefix;
  char type = s.type ? s.type : 'd';
  if (type == 'c') {
    std::string ch;
    utf8::append(ch, char32_t(v));
    return apply_width(s, "", ch, '<');
  }
  const int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
  if (type != 'd' && type != 'n' && base == 10)
    fail(std::string("Unknown format code '") + type + "' for int");
  const char* hex = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits.insert(digits.begin(), hex[mag % uint64_t(base)]);
    mag /= uint64_t(base);
  } while (mag);
  if (s.grouping) digits = group_digits(digits, s.grouping);
  if (s.alternate && base != 10) prefix = base == 16 ? (type == 'X' ? "0X" : "0x") : base == 8 ? "0o" : "0b";
  const std::string sign = neg ? "-" : s.sign == '+' ? "+" : s.sign == ' ' ? " " : "";
  return apply_width(s, sign + prefix, digits, '>');
}

std::string format_floating(double v, const Spec& s) {
  char type = s.type;
  const bool neg = std::signbit(v) && !std::isnan(v);
  const double mag = std::fabs(v);
  std::string body;
  if (!type && s.precision < 0) {
    body = format_float(mag);
  } else {
    bool percent = type == '%';
    double x = percent ? mag * 100 : mag;
    char conv = percent ? 'f' : (type ? type : 'g');
    if (conv != 'e' && conv != 'E' && conv != 'f' && conv != 'F' && conv != 'g' && conv != 'G' && conv != 'n')
      fail(std::string("Unknown format code '") + conv + "' for object of type 'float'");
    if (conv == 'n') conv = 'g';
    const int precision = std::min(s.precision < 0 ? 6 : s.precision, 300);
    std::string f = std::string("%") + (s.alternate ? "#" : "") + "." + std::to_string(precision) + conv;
    char buf[512];
    std::snprintf(buf, sizeof buf, f.c_str(), x);
    body = buf;
    if (!type && body.find_first_of(".eEn") == std::string::npos)
      body += ".0";  // no type: like 'g', keeps a digit after the point
    if (percent) body += '%';
  }
  if (s.grouping) {
    const size_t dot = body.find_first_of(".eE%");
    const std::string int_part = body.substr(0, dot == std::string::npos ? body.size() : dot);
    if (std::all_of(int_part.begin(), int_part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      body = group_digits(int_part, s.grouping) + (dot == std::string::npos ? "" : body.substr(dot));
  }
  const std::string sign = neg ? "-" : s.sign == '+' ? "+" : s.sign == ' ' ? " " : "";
  return apply_width(s, sign, body, '>');
}

}  // namespace

std::string py_format_value(Runtime& rt, const Value& v, const std::string& spec) {
  if (spec.empty()) return str_of(rt, v);
  const Spec s = parse_spec(spec);
  rt.budget.limit(size_t(std::max(s.width, 0)));
  if (v.is_string()) {
    if (s.type && s.type != 's')
      fail(std::string("Unknown format code '") + s.type + "' for object of type 'str'");
    if (s.sign != '-' || s.alternate) fail("Sign not allowed in string format specifier");
    std::string body = v.str();
    if (s.precision >= 0) {
      const auto offs = utf8::offsets(body);
      if (size_t(s.precision) < offs.size() - 1) body.resize(offs[size_t(s.precision)]);
    }
    return apply_width(s, "", body, '<');
  }
  if (v.is_int()) {
    if (s.type && std::string("eEfFgG%").find(s.type) != std::string::npos)
      return format_floating(double(v.as_int()), s);
    return format_integer(v.as_int(), s);
  }
  if (v.kind() == Value::Kind::Float) return format_floating(v.as_float(), s);
  fail("unsupported format string passed to " + type_name(v) + ".__format__");
}

std::string py_str_format(Runtime& rt, const std::string& format, const CallArgs& args) {
  std::string out;
  int auto_index = 0;
  bool used_auto = false, used_manual = false;
  auto field_value = [&](const std::string& field) -> Value {
    // arg_name ("" | digits | identifier) then (.attr | [key])*
    size_t i = 0;
    while (i < field.size() && field[i] != '.' && field[i] != '[')
      ++i;
    const std::string head = field.substr(0, i);
    Value v;
    if (head.empty() || std::all_of(head.begin(), head.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      size_t index;
      if (head.empty()) {
        if (used_manual) fail("cannot switch from manual field specification to automatic field numbering");
        used_auto = true;
        index = size_t(auto_index++);
      } else {
        if (used_auto) fail("cannot switch from automatic field numbering to manual field specification");
        used_manual = true;
        index = head.size() > 9 ? SIZE_MAX : size_t(std::stoul(head));
      }
      if (index >= args.positional.size())
        fail("Replacement index " + head + " out of range for positional args tuple");
      v = args.positional[index];
    } else {
      const Value* found = nullptr;
      for (const auto& [k, kv] : args.keywords)
        if (k == head) found = &kv;
      if (!found) fail("KeyError: '" + head + "'");
      v = *found;
    }
    while (i < field.size()) {
      if (field[i] == '.') {
        size_t j = ++i;
        while (j < field.size() && field[j] != '.' && field[j] != '[')
          ++j;
        v = get_attr(rt, v, field.substr(i, j - i));
        i = j;
      } else {
        const size_t close = field.find(']', i);
        if (close == std::string::npos) fail("Missing ']' in format string");
        const std::string key = field.substr(i + 1, close - i - 1);
        const bool numeric =
            !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
        v = get_item(rt, v,
                     numeric && key.size() < 18 ? Value::integer(std::stoll(key)) : Value::string(key));
        i = close + 1;
      }
    }
    return v;
  };
  rt.budget.scan(format.size());
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      fail("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    // Find the matching '}' (the spec may hold one level of nested fields).
    size_t j = i + 1;
    int depth = 1;
    while (j < format.size() && depth > 0) {
      if (format[j] == '{')
        ++depth;
      else if (format[j] == '}')
        --depth;
      if (depth > 0) ++j;
    }
    if (j >= format.size()) fail("expected '}' before end of string");
    const std::string inner = format.substr(i + 1, j - i - 1);
    i = j;
    size_t k = 0;
    int bracket = 0;
    while (k < inner.size() && !(bracket == 0 && (inner[k] == '!' || inner[k] == ':'))) {
      if (inner[k] == '[') ++bracket;
      if (inner[k] == ']') --bracket;
      ++k;
    }
    Value v = field_value(inner.substr(0, k));
    char conversion = 0;
    if (k < inner.size() && inner[k] == '!') {
      if (k + 1 >= inner.size()) fail("end of string while looking for conversion specifier");
      conversion = inner[k + 1];
      k += 2;
      if (k < inner.size() && inner[k] != ':') fail("expected ':' after conversion specifier");
    }
    std::string spec = k < inner.size() ? inner.substr(k + 1) : std::string();
    if (spec.find('{') != std::string::npos) {
      CallArgs nested_args = args;
      spec = py_str_format(rt, spec, nested_args);
    }
    if (conversion == 'r' || conversion == 'a')
      v = Value::string(repr(v, rt.budget));
    else if (conversion == 's')
      v = Value::string(str_of(rt, v));
    else if (conversion)
      fail(std::string("Unknown conversion specifier ") + conversion);
    out += py_format_value(rt, v, spec);
    rt.budget.limit(out.size());
  }
  return out;
}

}  // namespace moe::jinja
