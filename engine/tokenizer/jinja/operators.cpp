// Python's arithmetic and comparison operators (CPython's int/float/str/list implementations) on Values.
#include "tokenizer/jinja/operators.h"

#include <cmath>
#include <cstdio>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

const char* symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "+";
    case BinaryOp::Sub:
      return "-";
    case BinaryOp::Mul:
      return "*";
    case BinaryOp::Div:
      return "/";
    case BinaryOp::FloorDiv:
      return "//";
    case BinaryOp::Mod:
      return "%";
    case BinaryOp::Pow:
      return "** or pow()";
    default:
      return "?";
  }
}

[[noreturn]] void unsupported(BinaryOp op, const Value& a, const Value& b) {
  fail(std::string("unsupported operand type(s) for ") + symbol(op) + ": '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

[[noreturn]] void overflow() {
  fail("integer overflow: the result does not fit in 64 bits");
}

bool both_int(const Value& a, const Value& b) {
  return a.is_int() && b.is_int();
}

// CPython's float_floor_div / float_rem.
void float_divmod(double vx, double wx, double& floordiv, double& mod) {
  if (wx == 0.0) fail("float floor division by zero");
  mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
}

Value int_pow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 0) fail("0.0 cannot be raised to a negative power");
    return Value::number(std::pow(double(base), double(exp)));
  }
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1)
      if (__builtin_mul_overflow(result, base, &result)) overflow();
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
  }
  return Value::integer(result);
}

Value repeat(Runtime& rt, const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    size_t total;
    if (__builtin_mul_overflow(s.size(), size_t(n), &total)) total = SIZE_MAX;
    rt.budget.bytes(total);
    std::string out;
    out.reserve(s.size() * size_t(n));
    for (int64_t i = 0; i < n; ++i)
      out += s;
    return Value::string(std::move(out));
  }
  const List& l = seq.list();
  size_t total;
  if (__builtin_mul_overflow(l.items.size() * sizeof(Value), size_t(n), &total)) total = SIZE_MAX;
  rt.budget.bytes(total);
  std::vector<Value> out;
  out.reserve(l.items.size() * size_t(n));
  for (int64_t i = 0; i < n; ++i)
    out.insert(out.end(), l.items.begin(), l.items.end());
  return Value::list(std::move(out), l.kind);
}

bool is_sequence_list(const Value& v) {
  return v.is_list() && (v.list().kind == ListKind::List || v.list().kind == ListKind::Tuple);
}

}  // namespace

Value binary_op(Runtime& rt, BinaryOp op, const Value& a, const Value& b) {
  // str's own % runs first and takes an undefined argument (as a "mapping": it has __getitem__).
  if (op == BinaryOp::Mod && a.is_string()) return Value::string(percent_format(rt, a.str(), b));
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  switch (op) {
    case BinaryOp::Add:
      if (both_int(a, b)) {
        int64_t r;
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value::integer(r);
      }
      if (a.is_number() && b.is_number()) return Value::number(a.as_float() + b.as_float());
      if (a.is_string() && b.is_string()) {
        rt.budget.bytes(a.str().size() + b.str().size());
        return Value::string(a.str() + b.str());
      }
      if (is_sequence_list(a) && is_sequence_list(b) && a.list().kind == b.list().kind) {
        rt.budget.bytes((a.list().items.size() + b.list().items.size()) * sizeof(Value));
        std::vector<Value> items = a.list().items;
        items.insert(items.end(), b.list().items.begin(), b.list().items.end());
        return Value::list(std::move(items), a.list().kind);
      }
      if (a.is_string() || is_sequence_list(a))
        fail("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
      unsupported(op, a, b);
    case BinaryOp::Sub:
      if (both_int(a, b)) {
        int64_t r;
        if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value::integer(r);
      }
      if (a.is_number() && b.is_number()) return Value::number(a.as_float() - b.as_float());
      unsupported(op, a, b);
    case BinaryOp::Mul:
      if (both_int(a, b)) {
        int64_t r;
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value::integer(r);
      }
      if (a.is_number() && b.is_number()) return Value::number(a.as_float() * b.as_float());
      if ((a.is_string() || is_sequence_list(a)) && b.is_int()) return repeat(rt, a, b.as_int());
      if ((b.is_string() || is_sequence_list(b)) && a.is_int()) return repeat(rt, b, a.as_int());
      if (a.is_string() || is_sequence_list(a) || b.is_string() || is_sequence_list(b))
        fail("can't multiply sequence by non-int of type '" + type_name(a.is_number() ? a : b) + "'");
      unsupported(op, a, b);
    case BinaryOp::Div:
      if (a.is_number() && b.is_number()) {
        if (b.as_float() == 0.0) fail(both_int(a, b) ? "division by zero" : "float division by zero");
        return Value::number(a.as_float() / b.as_float());
      }
      unsupported(op, a, b);
    case BinaryOp::FloorDiv:
    case BinaryOp::Mod:
      if (both_int(a, b)) {
        const int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) fail("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) {
          if (op == BinaryOp::Mod) return Value::integer(0);
          overflow();
        }
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {
          r += y;
          q -= 1;
        }
        return Value::integer(op == BinaryOp::Mod ? r : q);
      }
      if (a.is_number() && b.is_number()) {
        double q, r;
        if (b.as_float() == 0.0) fail(op == BinaryOp::Mod ? "float modulo" : "float floor division by zero");
        float_divmod(a.as_float(), b.as_float(), q, r);
        return Value::number(op == BinaryOp::Mod ? r : q);
      }
      unsupported(op, a, b);
    case BinaryOp::Pow:
      if (both_int(a, b)) return int_pow(a.as_int(), b.as_int());
      if (a.is_number() && b.is_number()) {
        const double x = a.as_float(), y = b.as_float();
        if (x == 0.0 && y < 0) fail("0.0 cannot be raised to a negative power");
        if (x < 0 && y != std::floor(y)) fail("a negative number to a fractional power is complex");
        const double r = std::pow(x, y);
        if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) fail("numerical result out of range");
        return Value::number(r);
      }
      unsupported(op, a, b);
    default:
      fail("bad operator");
  }
}

Value unary_op(Runtime& rt, UnaryOp op, const Value& a) {
  if (op == UnaryOp::Not) return Value::boolean(!truthy(a));
  if (a.is_undefined()) fail(a.undefined_hint());
  if (!a.is_number())
    fail(std::string("bad operand type for unary ") + (op == UnaryOp::Neg ? "-" : "+") + ": '" +
         type_name(a) + "'");
  if (op == UnaryOp::Pos) return a.kind() == Value::Kind::Bool ? Value::integer(a.as_int()) : a;
  if (a.kind() == Value::Kind::Float) return Value::number(-a.as_float());
  if (a.as_int() == INT64_MIN) overflow();
  return Value::integer(-a.as_int());
}

bool contains(Runtime& rt, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined:
      return false;
    case Value::Kind::String:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not " + type_name(item));
      rt.budget.scan(container.str().size());
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::List:
      if (!container.list().deferred_error.empty()) fail(container.list().deferred_error);
      for (const Value& v : container.list().items) {
        rt.budget.step();
        if (equals(v, item, rt.budget)) return true;
      }
      return false;
    case Value::Kind::Dict:
      if (!hashable(item)) fail("unhashable type: '" + type_name(item) + "'");
      return container.dict().find(item, rt.budget) != nullptr;
    default:
      fail("argument of type '" + type_name(container) + "' is not iterable");
  }
}

bool compare_op(Runtime& rt, CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::Eq:
      return equals(a, b, rt.budget);
    case CompareOp::Ne:
      return !equals(a, b, rt.budget);
    case CompareOp::In:
      return contains(rt, b, a);
    case CompareOp::NotIn:
      return !contains(rt, b, a);
    default:
      break;
  }
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  static const char* kSymbols[] = {"==", "!=", "<", "<=", ">", ">="};
  const char* sym = kSymbols[int(op)];
  // NaN compares false every way, which compare()'s three-way answer cannot express.
  if (a.is_number() && b.is_number() && (std::isnan(a.as_float()) || std::isnan(b.as_float()))) return false;
  const int c = compare(a, b, rt.budget, sym);
  switch (op) {
    case CompareOp::Lt:
      return c < 0;
    case CompareOp::Le:
      return c <= 0;
    case CompareOp::Gt:
      return c > 0;
    default:
      return c >= 0;
  }
}

// ---- printf-style formatting

namespace {

std::string pad(std::string body, int width, bool left, char fill = ' ') {
  const size_t len = utf8::length(body);
  if (width <= 0 || len >= size_t(width)) return body;
  const std::string padding(size_t(width) - len, fill);
  return left ? body + padding : padding + body;
}

std::string format_int(int64_t v, char conv, const std::string& flags, int width, int precision) {
  const bool neg = v < 0;
  uint64_t mag = neg ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  std::string digits;
  const int base = (conv == 'x' || conv == 'X') ? 16 : conv == 'o' ? 8 : 10;
  const char* hex = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits.insert(digits.begin(), hex[mag % uint64_t(base)]);
    mag /= uint64_t(base);
  } while (mag);
  if (precision >= 0 && int(digits.size()) < precision)
    digits.insert(0, size_t(precision) - digits.size(), '0');
  std::string prefix = neg                                    ? "-"
                       : flags.find('+') != std::string::npos ? "+"
                       : flags.find(' ') != std::string::npos ? " "
                                                              : "";
  if (flags.find('#') != std::string::npos && base != 10)
    prefix += base == 16 ? (conv == 'X' ? "0X" : "0x") : "0o";
  const bool left = flags.find('-') != std::string::npos;
  if (!left && flags.find('0') != std::string::npos && int(prefix.size() + digits.size()) < width)
    digits.insert(0, size_t(width) - prefix.size() - digits.size(), '0');
  return pad(prefix + digits, width, left);
}

std::string format_double(double v, char conv, const std::string& flags, int width, int precision) {
  if (precision < 0) precision = 6;
  precision = std::min(precision, 300);
  std::string spec = "%" + flags;
  if (width > 0) spec += std::to_string(std::min(width, 10000));
  spec += "." + std::to_string(precision) + conv;
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, spec.c_str(), v);
  if (n < 0 || n >= int(sizeof buf)) {
    std::vector<char> big(size_t(n) + 1);
    std::snprintf(big.data(), big.size(), spec.c_str(), v);
    return std::string(big.data(), size_t(n));
  }
  return std::string(buf, size_t(n));
}

}  // namespace

std::string percent_format(Runtime& rt, const std::string& format, const Value& args) {
  // A tuple supplies the arguments; anything else is the single argument. A dict (or, as CPython checks
  // for __getitem__, a list) also serves %(name)s lookups and exempts the format from using every argument.
  std::vector<Value> positional;
  const Dict* mapping = nullptr;
  bool subscriptable = false;
  if (args.is_list() && args.list().kind == ListKind::Tuple) {
    positional = args.list().items;
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args.dict();
    subscriptable =
        args.is_dict() || args.is_undefined() ||
        (args.is_list() && (args.list().kind == ListKind::List || args.list().kind == ListKind::Range));
  }
  size_t next_arg = 0;
  bool used_mapping = false;
  auto take = [&]() -> const Value& {
    if (next_arg >= positional.size()) fail("not enough arguments for format string");
    return positional[next_arg++];
  };
  std::string out;
  rt.budget.scan(format.size());
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (++i >= format.size()) fail("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      if (!mapping) fail("format requires a mapping");
      const size_t close = format.find(')', i);
      if (close == std::string::npos) fail("incomplete format key");
      arg = mapping->find(std::string_view(format).substr(i + 1, close - i - 1));
      if (!arg) fail("KeyError: '" + format.substr(i + 1, close - i - 1) + "'");
      used_mapping = true;
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos)
      flags += format[i++];
    int width = -1, precision = -1;
    if (i < format.size() && format[i] == '*') {
      width = int(to_index(take(), "* width"));
      ++i;
    } else {
      while (i < format.size() && format[i] >= '0' && format[i] <= '9')
        width = std::min(std::max(width, 0) * 10 + (format[i++] - '0'), 1 << 20);
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      precision = 0;
      if (i < format.size() && format[i] == '*') {
        precision = int(to_index(take(), "* precision"));
        ++i;
      } else {
        while (i < format.size() && format[i] >= '0' && format[i] <= '9')
          precision = std::min(precision * 10 + (format[i++] - '0'), 1 << 20);
      }
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L'))
      ++i;
    if (i >= format.size()) fail("incomplete format");
    const char conv = format[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    const Value& v = arg ? *arg : take();
    rt.budget.limit(size_t(std::max(width, 0)));
    const bool left = flags.find('-') != std::string::npos;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = conv == 's' ? to_str(v, rt.budget) : repr(v, rt.budget);
        if (precision >= 0) {
          auto offs = utf8::offsets(s);
          if (size_t(precision) < offs.size() - 1) s.resize(offs[size_t(precision)]);
        }
        out += pad(std::move(s), width, left);
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        int64_t n;
        if (v.is_int())
          n = v.as_int();
        else if (v.kind() == Value::Kind::Float && (conv == 'd' || conv == 'i' || conv == 'u')) {
          if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) >= 9.2e18)
            fail("cannot convert float to integer");
          n = int64_t(v.as_float());
        } else {
          fail(std::string("%") + conv + " format: a number is required, not " + type_name(v));
        }
        out += format_int(n, conv, flags, width, precision);
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (!v.is_number()) fail(std::string("must be real number, not ") + type_name(v));
        out += format_double(v.as_float(), conv, flags, width, precision);
        break;
      case 'c':
        if (v.is_string() && utf8::length(v.str()) == 1)
          out += pad(v.str(), width, left);
        else if (v.is_int() && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
          std::string ch;
          utf8::append(ch, char32_t(v.as_int()));
          out += pad(ch, width, left);
        } else {
          fail("%c requires int or char");
        }
        break;
      default:
        fail(std::string("unsupported format character '") + conv + "'");
    }
    rt.budget.limit(out.size());
  }
  rt.budget.bytes(out.size());
  if (!subscriptable && !used_mapping && next_arg < positional.size())
    fail("not all arguments converted during string formatting");
  return out;
}

}  // namespace moe::jinja
