// Python's semantics for the interpreter's values: truthiness, ==, ordering, str() and repr().
#include "tokenizer/jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

constexpr size_t kIndexedDictSize = 16;

int nesting_of(const Value& v) {
  return v.depth();
}

// Walks of values through namespaces can loop (a namespace may hold a list holding itself); they give up
// at this depth.
constexpr int kMaxWalkDepth = 2 * kMaxNesting;

struct WalkGuard {
  explicit WalkGuard(int& depth) : depth_(depth) {
    if (++depth_ > kMaxWalkDepth) {
      --depth_;
      fail("data nested too deeply or referring to itself");
    }
  }
  ~WalkGuard() { --depth_; }
  int& depth_;
};

thread_local int walk_depth = 0;

void check_size(const std::string& out, Budget& budget) {
  if (out.size() > budget.max_bytes())
    fail("a string of more than " + std::to_string(budget.max_bytes()) + " bytes exceeds max_output_bytes");
}

}  // namespace

// ---- construction

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.obj_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.u_.b = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.u_.i = i;
  return v;
}

Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.u_.f = f;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.obj_ = std::make_shared<std::string>(std::move(s));
  return v;
}

Value Value::list(std::vector<Value> items, ListKind kind, std::string iterator_name) {
  auto l = std::make_shared<List>();
  int depth = 0;
  for (const Value& item : items)
    depth = std::max(depth, nesting_of(item));
  if (depth + 1 > kMaxNesting) fail("data nested more than " + std::to_string(kMaxNesting) + " levels deep");
  l->items = std::move(items);
  l->kind = kind;
  l->depth = depth + 1;
  l->iterator_name = std::move(iterator_name);
  Value v;
  v.kind_ = Kind::List;
  v.obj_ = std::move(l);
  return v;
}

Value Value::failed_generator(std::string error) {
  Value v = list({}, ListKind::Iterator, "generator");
  static_cast<List*>(v.obj_.get())->deferred_error = std::move(error);
  return v;
}

Value Value::dict(std::vector<std::pair<Value, Value>> items) {
  auto d = std::make_shared<Dict>();
  int depth = 0;
  for (const auto& [k, val] : items)
    depth = std::max({depth, nesting_of(k), nesting_of(val)});
  if (depth + 1 > kMaxNesting) fail("data nested more than " + std::to_string(kMaxNesting) + " levels deep");
  d->items = std::move(items);
  d->depth = depth + 1;
  if (d->items.size() > kIndexedDictSize) {
    for (size_t i = 0; i < d->items.size(); ++i)
      if (d->items[i].first.is_string()) d->index.emplace(d->items[i].first.str(), i);
  }
  Value v;
  v.kind_ = Kind::Dict;
  v.obj_ = std::move(d);
  return v;
}

Value Value::from_namespace(std::shared_ptr<Namespace> ns) {
  Value v;
  v.kind_ = Kind::Namespace;
  v.obj_ = std::move(ns);
  return v;
}

Value Value::callable(std::string name, std::function<Value(Runtime&, CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::Callable;
  v.obj_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_loop(std::shared_ptr<LoopState> loop) {
  Value v;
  v.kind_ = Kind::Loop;
  v.obj_ = std::move(loop);
  return v;
}

std::string Value::undefined_hint() const {
  return obj_ ? *static_cast<const std::string*>(obj_.get()) : std::string("value is undefined");
}

int Value::depth() const {
  if (kind_ == Kind::List) return list().depth;
  if (kind_ == Kind::Dict) return dict().depth;
  return 0;
}

// ---- containers

const Value* Dict::find(std::string_view key) const {
  if (!index.empty()) {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &items[it->second].second;
  }
  for (const auto& [k, v] : items)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}

const Value* Dict::find(const Value& key, Budget& budget) const {
  if (key.is_string()) {
    budget.scan(key.str().size());
    return find(std::string_view(key.str()));
  }
  budget.step(int64_t(items.size()));
  for (const auto& [k, v] : items)
    if (!k.is_string() && equals(k, key, budget)) return &v;
  return nullptr;
}

const Value* Namespace::find(std::string_view name) const {
  for (const auto& [k, v] : attrs)
    if (k == name) return &v;
  return nullptr;
}

void Namespace::set(const std::string& name, Value value) {
  for (auto& [k, v] : attrs)
    if (k == name) {
      v = std::move(value);
      return;
    }
  attrs.emplace_back(name, std::move(value));
}

void DictBuilder::set(Value key, Value value) {
  if (!hashable(key)) fail("unhashable type: '" + type_name(key) + "'");
  budget_.step();
  if (key.is_string()) {
    auto [it, inserted] = string_keys_.emplace(key.str(), items_.size());
    if (!inserted) {
      items_[it->second].second = std::move(value);
      return;
    }
  } else {
    budget_.step(int64_t(items_.size()));
    for (auto& [k, v] : items_)
      if (!k.is_string() && equals(k, key, budget_)) {
        v = std::move(value);
        return;
      }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

// ---- Python semantics

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return false;
    case Value::Kind::Bool:
      return v.as_bool();
    case Value::Kind::Int:
      return v.as_int() != 0;
    case Value::Kind::Float:
      return v.as_float() != 0.0;
    case Value::Kind::String:
      return !v.str().empty();
    case Value::Kind::List:
      return v.list().kind == ListKind::Iterator || !v.list().items.empty();
    case Value::Kind::Dict:
      return !v.dict().items.empty();
    default:
      return true;
  }
}

bool hashable(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::List:
      if (v.list().kind != ListKind::Tuple) return false;
      for (const Value& item : v.list().items)
        if (!hashable(item)) return false;
      return true;
    case Value::Kind::Dict:
    case Value::Kind::Namespace:
      return false;
    default:
      return true;
  }
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return "Undefined";
    case Value::Kind::None:
      return "NoneType";
    case Value::Kind::Bool:
      return "bool";
    case Value::Kind::Int:
      return "int";
    case Value::Kind::Float:
      return "float";
    case Value::Kind::String:
      return "str";
    case Value::Kind::List:
      switch (v.list().kind) {
        case ListKind::List:
          return "list";
        case ListKind::Tuple:
          return "tuple";
        case ListKind::KeysView:
          return "dict_keys";
        case ListKind::ValuesView:
          return "dict_values";
        case ListKind::ItemsView:
          return "dict_items";
        case ListKind::Iterator:
          return v.list().iterator_name;
        case ListKind::Range:
          return "range";
      }
      return "list";
    case Value::Kind::Dict:
      return "dict";
    case Value::Kind::Namespace:
      return "Namespace";
    case Value::Kind::Callable:
      return "function";
    case Value::Kind::Loop:
      return "LoopContext";
  }
  return "object";
}

bool equals(const Value& a, const Value& b, Budget& budget) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind() != K::Float && b.kind() != K::Float) return a.as_int() == b.as_int();
    return a.as_float() == b.as_float();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None:
      return true;
    case K::String:
      budget.scan(std::min(a.str().size(), b.str().size()));
      return a.str() == b.str();
    case K::List: {
      const List& x = a.list();
      const List& y = b.list();
      if (x.kind == ListKind::Iterator || y.kind == ListKind::Iterator) return &x == &y;
      if (x.kind != y.kind || x.items.size() != y.items.size()) return false;
      WalkGuard guard(walk_depth);
      for (size_t i = 0; i < x.items.size(); ++i) {
        budget.step();
        if (!equals(x.items[i], y.items[i], budget)) return false;
      }
      return true;
    }
    case K::Dict: {
      const Dict& x = a.dict();
      const Dict& y = b.dict();
      if (x.items.size() != y.items.size()) return false;
      WalkGuard guard(walk_depth);
      for (const auto& [k, v] : x.items) {
        budget.step();
        const Value* other = y.find(k, budget);
        if (!other || !equals(v, *other, budget)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

int compare(const Value& a, const Value& b, Budget& budget, const char* op) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind() != K::Float && b.kind() != K::Float)
      return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
    const double x = a.as_float(), y = b.as_float();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    budget.scan(std::min(a.str().size(), b.str().size()));
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0;
  }
  if (a.is_list() && b.is_list() && a.list().kind == b.list().kind &&
      (a.list().kind == ListKind::List || a.list().kind == ListKind::Tuple)) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    WalkGuard guard(walk_depth);
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      budget.step();
      if (!equals(x[i], y[i], budget)) return compare(x[i], y[i], budget, op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  fail(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

std::string format_float(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  // Shortest digits that round-trip, then Python's repr layout: positional when the decimal exponent is in
  // [-4, 16), scientific otherwise, always with a ".0" or an exponent so that it reads back as a float.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string_view sci(buf, size_t(res.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  const int decpt = exponent + 1;  // digits = 0.DDDD x 10^decpt
  if (decpt > -4 && decpt <= 16) {
    const int n = int(digits.size());
    if (decpt <= 0) {
      out += "0." + std::string(size_t(-decpt), '0') + digits;
    } else if (decpt < n) {
      out += digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
    } else {
      out += digits + std::string(size_t(decpt - n), '0') + ".0";
    }
  } else {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int x = decpt - 1;
    out += x < 0 ? "e-" : "e+";
    const int ax = std::abs(x);
    if (ax < 10) out += '0';
    out += std::to_string(ax);
  }
  return out;
}

std::string repr_string(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out;
  out.reserve(s.size() + 2);
  out += quote;
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    if (c == char32_t(quote) || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x80 && c >= 0x20 && c != 0x7F) {
      out += char(c);
    } else if (c >= 0x80 && utf8::is_printable(c)) {
      out.append(s.substr(i, len));
    } else {
      int width = c < 0x100 ? 2 : (c < 0x10000 ? 4 : 8);
      out += width == 2 ? "\\x" : (width == 4 ? "\\u" : "\\U");
      for (int k = width - 1; k >= 0; --k)
        out += hex[(c >> (4 * k)) & 0xF];
    }
  }
  out += quote;
  return out;
}

namespace {

void append_items_repr(std::string& out, const std::vector<Value>& items, Budget& budget) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i], budget);
  }
}

void append_scalar(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::None:
      out += "None";
      break;
    case Value::Kind::Bool:
      out += v.as_bool() ? "True" : "False";
      break;
    case Value::Kind::Int:
      out += std::to_string(v.as_int());
      break;
    case Value::Kind::Float:
      out += format_float(v.as_float());
      break;
    default:
      break;
  }
}

}  // namespace

void append_repr(std::string& out, const Value& v, Budget& budget) {
  budget.step();
  switch (v.kind()) {
    case Value::Kind::Undefined:
      out += "Undefined";
      break;
    case Value::Kind::String:
      budget.scan(v.str().size());
      out += repr_string(v.str());
      break;
    case Value::Kind::List: {
      WalkGuard guard(walk_depth);
      const List& l = v.list();
      switch (l.kind) {
        case ListKind::List:
          out += '[';
          append_items_repr(out, l.items, budget);
          out += ']';
          break;
        case ListKind::Tuple:
          out += '(';
          append_items_repr(out, l.items, budget);
          if (l.items.size() == 1) out += ',';
          out += ')';
          break;
        case ListKind::KeysView:
        case ListKind::ValuesView:
        case ListKind::ItemsView:
          out += type_name(v) + "([";
          append_items_repr(out, l.items, budget);
          out += "])";
          break;
        case ListKind::Iterator:
          out += "<" + l.iterator_name + " object>";
          break;
        case ListKind::Range:
          out += l.iterator_name;
          break;
      }
      break;
    }
    case Value::Kind::Dict: {
      WalkGuard guard(walk_depth);
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.dict().items) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, k, budget);
        out += ": ";
        append_repr(out, val, budget);
      }
      out += '}';
      break;
    }
    case Value::Kind::Namespace: {
      WalkGuard guard(walk_depth);
      out += "<Namespace {";
      bool first = true;
      for (const auto& [k, val] : v.ns().attrs) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(k) + ": ";
        append_repr(out, val, budget);
      }
      out += "}>";
      break;
    }
    case Value::Kind::Callable:
      out += "<" + v.fn().name + ">";
      break;
    case Value::Kind::Loop:
      out += "<LoopContext " + std::to_string(v.loop().index0 + 1) + "/" +
             std::to_string(v.loop().items.size()) + ">";
      break;
    default:
      append_scalar(out, v);
  }
  check_size(out, budget);
}

void append_str(std::string& out, const Value& v, Budget& budget) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return;
    case Value::Kind::String:
      out += v.str();
      check_size(out, budget);
      return;
    case Value::Kind::None:
    case Value::Kind::Bool:
    case Value::Kind::Int:
    case Value::Kind::Float:
      append_scalar(out, v);
      return;
    default:
      append_repr(out, v, budget);
  }
}

std::string to_str(const Value& v, Budget& budget) {
  if (v.is_string()) return v.str();
  std::string out;
  append_str(out, v, budget);
  return out;
}

std::string repr(const Value& v, Budget& budget) {
  std::string out;
  append_repr(out, v, budget);
  return out;
}

}  // namespace moe::jinja
