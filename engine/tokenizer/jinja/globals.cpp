// The global functions a chat template can call: jinja2's range (capped at the sandbox's MAX_RANGE), dict,
// namespace and joiner, and the two transformers adds: raise_exception(message) and strftime_now(format).
#include <ctime>
#include <string_view>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/runtime.h"

namespace moe::jinja {

namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

Value range(Runtime& rt, CallArgs& args) {
  if (!args.keywords.empty()) fail("range() takes no keyword arguments");
  const auto& a = args.positional;
  if (a.empty() || a.size() > 3) fail("range expected 1 to 3 arguments, got " + std::to_string(a.size()));
  int64_t start = 0, stop, step = 1;
  if (a.size() == 1) {
    stop = to_index(a[0], "range()");
  } else {
    start = to_index(a[0], "range()");
    stop = to_index(a[1], "range()");
    if (a.size() == 3) step = to_index(a[2], "range()");
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  // Python's len(range): computed without overflow in 128 bits.
  __int128 n = 0;
  if (step > 0 && start < stop) n = (__int128(stop) - start - 1) / step + 1;
  if (step < 0 && start > stop) n = (__int128(start) - stop - 1) / -__int128(step) + 1;
  if (n > kMaxRange)
    fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + std::to_string(kMaxRange) +
         ").");
  rt.budget.bytes(size_t(n) * sizeof(Value));
  std::vector<Value> items;
  items.reserve(size_t(n));
  for (int64_t i = 0; i < int64_t(n); ++i)
    items.push_back(Value::integer(start + i * step));
  std::string repr = "range(" + std::to_string(start) + ", " + std::to_string(stop);
  if (step != 1) repr += ", " + std::to_string(step);
  return Value::list(std::move(items), ListKind::Range, repr + ")");
}

// dict(mapping_or_pairs, **kwargs), also what namespace(...) stores.
void fill_mapping(Runtime& rt, DictBuilder& d, CallArgs& args, const char* function) {
  if (args.positional.size() > 1)
    fail(std::string(function) + " expected at most 1 argument, got " +
         std::to_string(args.positional.size()));
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : src.dict().items)
        d.set(k, v);
    } else {
      for (const Value& pair : iterate(rt, src)) {
        if (pair.is_undefined() || !(pair.is_list() || pair.is_string()))
          fail("cannot convert " + type_name(pair) + " to a dictionary update sequence element");
        const std::vector<Value> kv = iterate(rt, pair);
        if (kv.size() != 2)
          fail("dictionary update sequence element has length " + std::to_string(kv.size()) +
               "; 2 is required");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.keywords)
    d.set(Value::string(k), v);
}

Value dict(Runtime& rt, CallArgs& args) {
  DictBuilder d(rt.budget);
  fill_mapping(rt, d, args, "dict");
  return d.build();
}

Value make_namespace(Runtime& rt, CallArgs& args) {
  DictBuilder d(rt.budget);
  fill_mapping(rt, d, args, "namespace");
  const Value init = d.build();
  auto ns = rt.make_namespace();
  ns->attrs.reserve(init.dict().items.size());
  for (const auto& [k, v] : init.dict().items) {  // distinct keys: no need to look each one up
    if (!k.is_string()) fail("namespace attribute names must be strings");
    ns->attrs.emplace_back(k.str(), v);
  }
  return Value::from_namespace(std::move(ns));
}

Value joiner(Runtime& rt, CallArgs& args) {
  Params p("joiner", args, {"sep"});
  const std::string sep = p.string(0, ", ");
  auto used = std::make_shared<bool>(false);
  return Value::callable("jinja2.utils.Joiner object", [sep, used](Runtime&, CallArgs& a) {
    no_args("joiner", a);
    if (!*used) {
      *used = true;
      return Value::string("");
    }
    return Value::string(sep);
  });
}

Value raise_exception(Runtime& rt, CallArgs& args) {
  Params p("raise_exception", args, {"message"}, 1);
  fail(str_of(rt, p.get(0)));
}

Value strftime_now(Runtime& rt, CallArgs& args) {
  Params p("strftime_now", args, {"format"}, 1);
  const std::string format = p.string(0, "");
  rt.budget.scan(format.size());
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  if (format.empty()) return Value::string("");
  // strftime reports 0 both for "too small" and for an empty result: grow to a bound, then give up.
  for (size_t size = 64 + format.size() * 4; size <= rt.budget.max_bytes() && size <= (1u << 20); size *= 4) {
    std::string buf(size, '\0');
    const size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &local);
    if (n > 0) {
      buf.resize(n);
      return Value::string(std::move(buf));
    }
  }
  return Value::string("");
}

}  // namespace

Value lookup_global(std::string_view name) {
  using Fn = Value (*)(Runtime&, CallArgs&);
  static const std::pair<std::string_view, Fn> kGlobals[] = {
      {"range", range},
      {"dict", dict},
      {"namespace", make_namespace},
      {"joiner", joiner},
      {"raise_exception", raise_exception},
      {"strftime_now", strftime_now},
  };
  for (const auto& [n, fn] : kGlobals)
    if (n == name) return Value::callable("built-in function " + std::string(n), fn);
  return Value();
}

}  // namespace moe::jinja
