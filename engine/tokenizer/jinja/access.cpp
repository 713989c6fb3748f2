// Attribute and item access (`obj.name`, `obj[key]`, `obj[a:b:c]`) with jinja2's fallbacks and the
// ImmutableSandboxedEnvironment's rules: names starting with `_` and methods that would mutate a list or
// dict give an "unsafe" undefined; the read-only methods of dict and list are bound callables.
#include <algorithm>
#include <cmath>
#include <optional>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

// jinja2's object_type_repr, for "'dict object' has no attribute 'x'".
std::string object_type(const Value& v) {
  if (v.is_none()) return "None";
  if (v.kind() == Value::Kind::Namespace) return "jinja2.utils.Namespace object";
  if (v.kind() == Value::Kind::Loop) return "jinja2.runtime.LoopContext object";
  return type_name(v) + " object";
}

Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type(obj) + "' has no attribute '" + name + "'");
}

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
}

Value method(const Value& self, const std::string& name, Value (*impl)(Runtime&, const Value&, CallArgs&)) {
  return Value::callable("built-in method " + name + " of " + type_name(self) + " object",
                         [self, impl](Runtime& rt, CallArgs& args) { return impl(rt, self, args); });
}

Value dict_items(Runtime& rt, const Value& self, CallArgs& args) {
  no_args("items", args);
  rt.budget.bytes(self.dict().items.size() * sizeof(Value) * 3);
  std::vector<Value> out;
  out.reserve(self.dict().items.size());
  for (const auto& [k, v] : self.dict().items)
    out.push_back(Value::list({k, v}, ListKind::Tuple));
  return Value::list(std::move(out), ListKind::ItemsView);
}

Value dict_keys(Runtime& rt, const Value& self, CallArgs& args) {
  no_args("keys", args);
  rt.budget.bytes(self.dict().items.size() * sizeof(Value));
  std::vector<Value> out;
  for (const auto& kv : self.dict().items)
    out.push_back(kv.first);
  return Value::list(std::move(out), ListKind::KeysView);
}

Value dict_values(Runtime& rt, const Value& self, CallArgs& args) {
  no_args("values", args);
  rt.budget.bytes(self.dict().items.size() * sizeof(Value));
  std::vector<Value> out;
  for (const auto& kv : self.dict().items)
    out.push_back(kv.second);
  return Value::list(std::move(out), ListKind::ValuesView);
}

Value dict_get(Runtime& rt, const Value& self, CallArgs& args) {
  if (!args.keywords.empty()) fail("get() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 2)
    fail("get expected 1 or 2 arguments, got " + std::to_string(args.positional.size()));
  const Value& key = args.positional[0];
  if (!hashable(key)) fail("unhashable type: '" + type_name(key) + "'");
  if (const Value* v = self.dict().find(key, rt.budget)) return *v;
  return args.positional.size() > 1 ? args.positional[1] : Value::none();
}

Value copy_self(Runtime& rt, const Value& self, CallArgs& args) {
  no_args("copy", args);
  return self;
}

Value list_count(Runtime& rt, const Value& self, CallArgs& args) {
  if (args.positional.size() != 1 || !args.keywords.empty()) fail("count() takes exactly one argument");
  int64_t n = 0;
  for (const Value& v : self.list().items) {
    rt.budget.step();
    n += equals(v, args.positional[0], rt.budget);
  }
  return Value::integer(n);
}

Value list_index(Runtime& rt, const Value& self, CallArgs& args) {
  if (args.positional.empty() || args.positional.size() > 3 || !args.keywords.empty())
    fail("index() takes 1 to 3 arguments");
  const auto& items = self.list().items;
  const int64_t n = int64_t(items.size());
  auto clamp = [n](int64_t i) { return i < 0 ? std::max<int64_t>(0, i + n) : std::min(i, n); };
  const int64_t start = args.positional.size() > 1 ? clamp(to_index(args.positional[1], "index()")) : 0;
  const int64_t stop = args.positional.size() > 2 ? clamp(to_index(args.positional[2], "index()")) : n;
  for (int64_t i = start; i < stop; ++i) {
    rt.budget.step();
    if (equals(items[size_t(i)], args.positional[0], rt.budget)) return Value::integer(i);
  }
  fail("value is not in list");
}

std::optional<Value> dict_attr(const Value& obj, const std::string& name) {
  if (name == "items") return method(obj, name, dict_items);
  if (name == "keys") return method(obj, name, dict_keys);
  if (name == "values") return method(obj, name, dict_values);
  if (name == "get") return method(obj, name, dict_get);
  if (name == "copy") return method(obj, name, copy_self);
  if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear" ||
      name == "fromkeys")
    return unsafe(obj, name);
  return std::nullopt;
}

std::optional<Value> list_attr(const Value& obj, const std::string& name) {
  const ListKind k = obj.list().kind;
  if (k == ListKind::List || k == ListKind::Tuple || k == ListKind::Range) {
    if (name == "count") return method(obj, name, list_count);
    if (name == "index") return method(obj, name, list_index);
  }
  if (k == ListKind::List) {
    if (name == "copy") return method(obj, name, copy_self);
    if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
        name == "reverse" || name == "sort" || name == "clear")
      return unsafe(obj, name);
  }
  return std::nullopt;
}

Value loop_cycle(Runtime& rt, const Value& self, CallArgs& args) {
  if (args.positional.empty()) fail("no items for cycling given");
  const LoopState& l = self.loop();
  return args.positional[l.index0 % args.positional.size()];
}

Value loop_changed(Runtime& rt, const Value& self, CallArgs& args) {
  LoopState& l = self.loop();
  bool same = l.has_changed_value && l.changed_value.size() == args.positional.size();
  for (size_t i = 0; same && i < args.positional.size(); ++i)
    same = equals(l.changed_value[i], args.positional[i], rt.budget);
  if (same) return Value::boolean(false);
  l.has_changed_value = true;
  l.changed_value = args.positional;
  return Value::boolean(true);
}

Value loop_attr(const Value& obj, const std::string& name) {
  const LoopState& l = obj.loop();
  const int64_t n = int64_t(l.items.size());
  const int64_t i = int64_t(l.index0);
  if (name == "index") return Value::integer(i + 1);
  if (name == "index0") return Value::integer(i);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "depth") return Value::integer(l.depth0 + 1);
  if (name == "depth0") return Value::integer(l.depth0);
  if (name == "previtem")
    return i > 0 ? l.items[size_t(i - 1)] : Value::undefined("there is no previous item");
  if (name == "nextitem")
    return i + 1 < n ? l.items[size_t(i + 1)] : Value::undefined("there is no next item");
  if (name == "cycle") return method(obj, name, loop_cycle);
  if (name == "changed") return method(obj, name, loop_changed);
  return missing_attr(obj, name);
}

Value float_is_integer(Runtime&, const Value& self, CallArgs& args) {
  no_args("is_integer", args);
  return Value::boolean(std::isfinite(self.as_float()) && self.as_float() == std::floor(self.as_float()));
}

// The data attributes of Python's int and float (`x.real`, `x.imag`, ...).
Value number_attr(const Value& obj, const std::string& name) {
  if (obj.is_int()) {
    if (name == "real" || name == "numerator") return Value::integer(obj.as_int());
    if (name == "imag") return Value::integer(0);
    if (name == "denominator") return Value::integer(1);
  } else {
    if (name == "real") return obj;
    if (name == "imag") return Value::number(0.0);
    if (name == "is_integer") return method(obj, name, float_is_integer);
  }
  return missing_attr(obj, name);
}

// Python's slice.indices(): clamps start/stop to the sequence and yields the selected positions.
std::vector<size_t> slice_positions(size_t length, const Value& start_v, const Value& stop_v,
                                    const Value& step_v) {
  const int64_t len = int64_t(length);
  auto bound = [](const Value& v) { return v.is_none() || v.is_int(); };
  if (!bound(start_v) || !bound(stop_v) || !bound(step_v))
    fail("slice indices must be integers or None or have an __index__ method");
  int64_t step = step_v.is_none() ? 1 : step_v.as_int();
  if (step == 0) fail("slice step cannot be zero");
  step = std::clamp<int64_t>(step, -len - 1, len + 1);
  auto adjust = [&](const Value& v, bool is_start) -> int64_t {
    if (v.is_none()) return step < 0 ? (is_start ? len - 1 : -1) : (is_start ? 0 : len);
    int64_t i = std::clamp<int64_t>(v.as_int(), -len - 1, len + 1);
    if (i < 0) {
      i += len;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= len) {
      i = step < 0 ? len - 1 : len;
    }
    return i;
  };
  const int64_t start = adjust(start_v, true), stop = adjust(stop_v, false);
  std::vector<size_t> out;
  if (step > 0)
    for (int64_t i = start; i < stop; i += step)
      out.push_back(size_t(i));
  else
    for (int64_t i = start; i > stop; i += step)
      out.push_back(size_t(i));
  return out;
}

}  // namespace

Value get_attr(Runtime& rt, const Value& obj, const std::string& name) {
  rt.budget.step();
  if (obj.is_undefined()) fail(obj.undefined_hint());  // jinja2's Undefined raises on any access
  if (!name.empty() && name[0] == '_') return unsafe(obj, name);
  switch (obj.kind()) {
    case Value::Kind::String: {
      Value m = string_method(obj, name);
      return m.is_undefined() ? missing_attr(obj, name) : m;
    }
    case Value::Kind::Dict: {
      if (auto m = dict_attr(obj, name)) return *m;
      if (const Value* v = obj.dict().find(std::string_view(name))) return *v;
      return missing_attr(obj, name);
    }
    case Value::Kind::List: {
      if (auto m = list_attr(obj, name)) return *m;
      return missing_attr(obj, name);
    }
    case Value::Kind::Namespace:
      rt.budget.step(int64_t(obj.ns().attrs.size() / 8));
      if (const Value* v = obj.ns().find(name)) return *v;
      return missing_attr(obj, name);
    case Value::Kind::Loop:
      return loop_attr(obj, name);
    case Value::Kind::Int:
    case Value::Kind::Bool:
    case Value::Kind::Float:
      return number_attr(obj, name);
    default:
      return missing_attr(obj, name);
  }
}

Value get_item(Runtime& rt, const Value& obj, const Value& key) {
  rt.budget.step();
  if (obj.is_undefined()) fail(obj.undefined_hint());
  switch (obj.kind()) {
    case Value::Kind::Dict:
      if (hashable(key))
        if (const Value* v = obj.dict().find(key, rt.budget)) return *v;
      break;
    case Value::Kind::List: {
      const List& l = obj.list();
      if (key.is_int() &&
          (l.kind == ListKind::List || l.kind == ListKind::Tuple || l.kind == ListKind::Range)) {
        int64_t i = key.as_int();
        const int64_t n = int64_t(l.items.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return l.items[size_t(i)];
        return Value::undefined("'" + object_type(obj) + "' has no element " + std::to_string(key.as_int()));
      }
      break;
    }
    case Value::Kind::String:
      if (key.is_int()) {
        const std::string& s = obj.str();
        rt.budget.scan(s.size());
        const auto offs = utf8::offsets(s);
        int64_t i = key.as_int();
        const int64_t n = int64_t(offs.size()) - 1;
        if (i < 0) i += n;
        if (i >= 0 && i < n)
          return Value::string(s.substr(offs[size_t(i)], offs[size_t(i) + 1] - offs[size_t(i)]));
        return Value::undefined("'" + object_type(obj) + "' has no element " + std::to_string(key.as_int()));
      }
      break;
    default:
      break;
  }
  // jinja2 falls back to an attribute of that name.
  if (key.is_string()) return get_attr(rt, obj, key.str());
  return Value::undefined("'" + object_type(obj) + "' has no element " + repr(key, rt.budget));
}

Value get_slice(Runtime& rt, const Value& obj, const Value& start, const Value& stop, const Value& step) {
  rt.budget.step();
  if (obj.is_undefined()) fail(obj.undefined_hint());
  if (obj.is_string()) {
    const std::string& s = obj.str();
    rt.budget.scan(s.size());
    const auto offs = utf8::offsets(s);
    const auto positions = slice_positions(offs.size() - 1, start, stop, step);
    std::string out;
    out.reserve(s.size());
    for (size_t p : positions)
      out.append(s, offs[p], offs[p + 1] - offs[p]);
    rt.budget.bytes(out.size());
    return Value::string(std::move(out));
  }
  // Slices bypass jinja2's getitem (they are plain Python subscriptions), so failures raise.
  if (obj.is_dict()) fail("unhashable type: 'slice'");
  const bool sliceable =
      obj.is_list() && (obj.list().kind == ListKind::List || obj.list().kind == ListKind::Tuple ||
                        obj.list().kind == ListKind::Range);
  if (!sliceable) fail("'" + type_name(obj) + "' object is not subscriptable");
  const auto& items = obj.list().items;
  const auto positions = slice_positions(items.size(), start, stop, step);
  rt.budget.bytes(positions.size() * sizeof(Value));
  std::vector<Value> out;
  out.reserve(positions.size());
  for (size_t p : positions)
    out.push_back(items[p]);
  return Value::list(std::move(out), obj.list().kind == ListKind::Tuple ? ListKind::Tuple : ListKind::List);
}

std::vector<Value> iterate(Runtime& rt, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return {};
    case Value::Kind::List:
      if (!v.list().deferred_error.empty()) fail(v.list().deferred_error);
      rt.budget.step(int64_t(v.list().items.size()));
      return v.list().items;
    case Value::Kind::Dict: {
      rt.budget.step(int64_t(v.dict().items.size()));
      std::vector<Value> keys;
      keys.reserve(v.dict().items.size());
      for (const auto& kv : v.dict().items)
        keys.push_back(kv.first);
      return keys;
    }
    case Value::Kind::String: {
      const std::string& s = v.str();
      rt.budget.bytes(s.size() * sizeof(Value));
      std::vector<Value> chars;
      for (size_t i = 0, len; i < s.size(); i += len) {
        utf8::decode(s, i, len);
        chars.push_back(Value::string(s.substr(i, len)));
      }
      return chars;
    }
    default:
      fail("'" + type_name(v) + "' object is not iterable");
  }
}

std::string str_of(Runtime& rt, const Value& v) {
  return to_str(v, rt.budget);
}

}  // namespace moe::jinja
