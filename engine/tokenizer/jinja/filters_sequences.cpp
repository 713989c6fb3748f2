// jinja2's filters over sequences and mappings (filters.py): length, list, first/last, reverse, join, sum,
// sort/dictsort/groupby with case-insensitive keys, items, min/max, unique, batch, select/reject(attr), map.
#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "tokenizer/jinja/args.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/filters_internal.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja::filter_impl {

namespace {

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return 0;
    case Value::Kind::String:
      return int64_t(utf8::length(v.str()));
    case Value::Kind::List:
      if (v.list().kind == ListKind::Iterator) break;
      return int64_t(v.list().items.size());
    case Value::Kind::Dict:
      return int64_t(v.dict().items.size());
    case Value::Kind::Loop:
      return int64_t(v.loop().items.size());
    default:
      break;
  }
  fail("object of type '" + type_name(v) + "' has no len()");
}

// make_attrgetter: "a.b.0" looks up each part with getitem (an item, then an attribute); digit parts
// are integers.
std::vector<Value> attribute_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) return {attribute};
  const std::string& a = attribute.str();
  size_t start = 0;
  while (true) {
    const size_t dot = a.find('.', start);
    const std::string part = a.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && part.size() < 18 &&
                        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    parts.push_back(digits ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Value get_path(Runtime& rt, Value item, const std::vector<Value>& parts,
               const Value* default_value = nullptr) {
  for (const Value& p : parts) {
    if (item.is_undefined()) fail(item.undefined_hint());
    item = get_item(rt, item, p);
    if (default_value && item.is_undefined()) item = *default_value;
  }
  return item;
}

Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(utf8::lower(v.str())) : v;
}

// Sort keys for sort/min/max/unique/dictsort: the attribute path (comma-separated for sort), lowercased
// strings unless case_sensitive.
std::vector<Value> sort_key(Runtime& rt, const Value& item, const std::vector<std::vector<Value>>& paths,
                            bool case_sensitive) {
  std::vector<Value> key;
  if (paths.empty()) {
    key.push_back(case_sensitive ? item : ignore_case(item));
    return key;
  }
  for (const auto& path : paths) {
    Value k = get_path(rt, item, path);
    key.push_back(case_sensitive ? k : ignore_case(k));
  }
  return key;
}

bool key_less(Runtime& rt, const std::vector<Value>& x, const std::vector<Value>& y) {
  rt.budget.step();
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (equals(x[i], y[i], rt.budget)) continue;
    if (x[i].is_undefined()) fail(x[i].undefined_hint());
    if (y[i].is_undefined()) fail(y[i].undefined_hint());
    return compare(x[i], y[i], rt.budget) < 0;
  }
  return x.size() < y.size();
}

std::vector<std::vector<Value>> attribute_paths(const Value& attribute, bool allow_many) {
  std::vector<std::vector<Value>> paths;
  if (attribute.is_none() || attribute.is_undefined()) return paths;
  if (allow_many && attribute.is_string()) {
    const std::string& s = attribute.str();
    size_t start = 0;
    while (true) {
      const size_t comma = s.find(',', start);
      paths.push_back(attribute_parts(
          Value::string(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return paths;
  }
  paths.push_back(attribute_parts(attribute));
  return paths;
}

Value min_max(Runtime& rt, const Value& v, CallArgs& a, bool want_max) {
  Params p(want_max ? "max" : "min", a, {"case_sensitive", "attribute"});
  const bool case_sensitive = p.flag(0, false);
  const auto paths = attribute_paths(p.get_or(1, Value::none()), false);
  const std::vector<Value> items = iterate(rt, v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  std::vector<Value> best_key = sort_key(rt, items[0], paths, case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    std::vector<Value> k = sort_key(rt, items[i], paths, case_sensitive);
    if (want_max ? key_less(rt, best_key, k) : key_less(rt, k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

// select / reject / selectattr / rejectattr
Value select_or_reject(Runtime& rt, const Value& v, CallArgs& a, bool keep_matches, bool by_attribute) {
  if (!truthy(v)) return generator({});  // jinja2 looks at neither the value nor the arguments then
  size_t off = 0;
  std::vector<Value> parts;
  if (by_attribute) {
    if (a.positional.empty()) fail("Missing parameter for attribute name");
    parts = attribute_parts(a.positional[0]);
    off = 1;
  }
  std::string test_name;
  CallArgs test_args;
  const bool has_test = a.positional.size() > off;
  if (has_test) {
    if (!a.positional[off].is_string()) fail("test name must be a string");
    test_name = a.positional[off].str();
    if (!test_exists(test_name)) fail("No test named '" + test_name + "'.");
    test_args.positional.assign(a.positional.begin() + std::ptrdiff_t(off + 1), a.positional.end());
    test_args.keywords = a.keywords;
  }
  std::vector<Value> out;
  for (const Value& item : iterate(rt, v)) {
    const Value subject = by_attribute ? get_path(rt, item, parts) : item;
    CallArgs args = test_args;
    const bool hit = has_test ? apply_test(rt, test_name, subject, args) : truthy(subject);
    if (hit == keep_matches) out.push_back(item);
  }
  return generator(std::move(out));
}

}  // namespace

Value f_length(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("length", a);
  return Value::integer(py_len(v));
}

Value f_list(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("list", a);
  std::vector<Value> items = iterate(rt, v);
  rt.budget.bytes(items.size() * sizeof(Value));
  return Value::list(std::move(items));
}

Value f_first(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("first", a);
  const std::vector<Value> items = iterate(rt, v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("last", a);
  if (v.is_list() && v.list().kind == ListKind::Iterator)
    fail("'" + v.list().iterator_name + "' object is not reversible");
  if (v.is_list() && !v.list().items.empty()) return v.list().items.back();
  std::vector<Value> items = iterate(rt, v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_reverse(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("reverse", a);
  if (v.is_string()) {
    auto cps = utf8::code_points(v.str());
    std::reverse(cps.begin(), cps.end());
    return str_value(rt, utf8::encode(cps));
  }
  if (v.is_list() && v.list().kind == ListKind::Iterator) {  // not reversible: list(value) reversed
    std::vector<Value> items = iterate(rt, v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  std::vector<Value> items = iterate(rt, v);
  std::reverse(items.begin(), items.end());
  return generator(std::move(items), v.is_dict() ? "dict_reversekeyiterator" : "list_reverseiterator");
}

Value f_join(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("join", a, {"d", "attribute"});
  const std::string sep = p.has(0) ? str_of(rt, p.get(0)) : "";
  const auto parts = attribute_parts(p.get_or(1, Value::none()));
  std::string out;
  bool first = true;
  for (const Value& item : iterate(rt, v)) {
    if (!first) out += sep;
    first = false;
    append_str(out, parts.empty() ? item : get_path(rt, item, parts), rt.budget);
    rt.budget.limit(out.size());
  }
  return str_value(rt, std::move(out));
}

Value f_sum(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("sum", a, {"attribute", "start"});
  const auto parts = attribute_parts(p.get_or(0, Value::none()));
  Value total = p.get_or(1, Value::integer(0));
  for (const Value& item : iterate(rt, v))
    total = binary_op(rt, BinaryOp::Add, total, parts.empty() ? item : get_path(rt, item, parts));
  return total;
}

Value f_sort(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("sort", a, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = p.flag(0, false);
  const bool case_sensitive = p.flag(1, false);
  const auto paths = attribute_paths(p.get_or(2, Value::none()), true);
  std::vector<Value> items = iterate(rt, v);
  std::vector<std::pair<std::vector<Value>, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i)
    keyed.emplace_back(sort_key(rt, items[i], paths, case_sensitive), i);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? key_less(rt, y.first, x.first) : key_less(rt, x.first, y.first);
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (const auto& k : keyed)
    out.push_back(items[k.second]);
  return Value::list(std::move(out));
}

Value f_dictsort(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("dictsort", a, {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = p.flag(0, false);
  const std::string by = p.string(1, "key");
  const bool reverse = p.flag(2, false);
  if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
  require_defined(v);
  if (!v.is_dict()) fail("'" + type_name(v) + "' object has no attribute 'items'");
  const auto& src = v.dict().items;
  std::vector<size_t> order(src.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  auto key = [&](size_t i) {
    const Value& k = by == "key" ? src[i].first : src[i].second;
    return std::vector<Value>{case_sensitive ? k : ignore_case(k)};
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? key_less(rt, key(y), key(x)) : key_less(rt, key(x), key(y));
  });
  std::vector<Value> out;
  for (size_t i : order)
    out.push_back(Value::list({src[i].first, src[i].second}, ListKind::Tuple));
  return Value::list(std::move(out));
}

Value f_items(Runtime& rt, const Value& v, CallArgs& a) {
  no_args("items", a);
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict().items)
    out.push_back(Value::list({k, val}, ListKind::Tuple));
  return generator(std::move(out));
}

Value f_min(Runtime& rt, const Value& v, CallArgs& a) {
  return min_max(rt, v, a, false);
}

Value f_max(Runtime& rt, const Value& v, CallArgs& a) {
  return min_max(rt, v, a, true);
}

Value f_unique(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("unique", a, {"case_sensitive", "attribute"});
  const bool case_sensitive = p.flag(0, false);
  const auto paths = attribute_paths(p.get_or(1, Value::none()), false);
  std::vector<Value> out;
  std::unordered_set<std::string> seen_strings;
  std::vector<Value> seen_other;
  for (const Value& item : iterate(rt, v)) {
    const Value key = sort_key(rt, item, paths, case_sensitive)[0];
    if (!hashable(key)) fail("unhashable type: '" + type_name(key) + "'");
    bool fresh;
    if (key.is_string()) {
      fresh = seen_strings.insert(key.str()).second;
    } else {
      fresh = true;
      rt.budget.step(int64_t(seen_other.size()));
      for (const Value& s : seen_other)
        if (equals(s, key, rt.budget)) fresh = false;
      if (fresh) seen_other.push_back(key);
    }
    if (fresh) out.push_back(item);
  }
  return generator(std::move(out));
}

Value f_batch(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("batch", a, {"linecount", "fill_with"}, 1);
  const int64_t n = p.integer(0, 1);
  if (n <= 0) fail("batch size must be positive");
  const std::vector<Value> items = iterate(rt, v);
  std::vector<Value> out;
  std::vector<Value> row;
  for (const Value& item : items) {
    if (int64_t(row.size()) == n) {
      out.push_back(Value::list(std::move(row)));
      row.clear();
    }
    row.push_back(item);
  }
  if (!row.empty()) {
    if (p.has(1) && !p.get(1).is_none()) {
      rt.budget.bytes(size_t(n - int64_t(row.size())) * sizeof(Value));
      while (int64_t(row.size()) < n)
        row.push_back(p.get(1));
    }
    out.push_back(Value::list(std::move(row)));
  }
  return generator(std::move(out));
}

Value f_groupby(Runtime& rt, const Value& v, CallArgs& a) {
  Params p("groupby", a, {"attribute", "default", "case_sensitive"}, 1);
  const auto parts = attribute_parts(p.get(0));
  const Value default_value = p.get_or(1, Value::none());
  const bool case_sensitive = p.flag(2, false);
  std::vector<Value> items = iterate(rt, v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    Value k = get_path(rt, items[i], parts, default_value.is_none() ? nullptr : &default_value);
    keyed.emplace_back(case_sensitive ? k : ignore_case(k), i);
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [&](const auto& x, const auto& y) { return key_less(rt, {x.first}, {y.first}); });
  std::vector<Value> groups;
  for (size_t i = 0; i < keyed.size();) {
    std::vector<Value> members;
    size_t j = i;
    while (j < keyed.size() && equals(keyed[j].first, keyed[i].first, rt.budget))
      members.push_back(items[keyed[j++].second]);
    Value grouper = case_sensitive ? keyed[i].first : get_path(rt, items[keyed[i].second], parts);
    groups.push_back(Value::list({grouper, Value::list(std::move(members))}, ListKind::Tuple));
    i = j;
  }
  return Value::list(std::move(groups));
}

Value f_select(Runtime& rt, const Value& v, CallArgs& a) {
  return select_or_reject(rt, v, a, true, false);
}

Value f_reject(Runtime& rt, const Value& v, CallArgs& a) {
  return select_or_reject(rt, v, a, false, false);
}

Value f_selectattr(Runtime& rt, const Value& v, CallArgs& a) {
  return select_or_reject(rt, v, a, true, true);
}

Value f_rejectattr(Runtime& rt, const Value& v, CallArgs& a) {
  return select_or_reject(rt, v, a, false, true);
}

Value f_map(Runtime& rt, const Value& v, CallArgs& a) {
  if (!truthy(v)) return generator({});  // as in jinja2, a false value maps to nothing, unchecked
  std::vector<Value> out;
  if (a.positional.empty()) {
    const Value* attribute = nullptr;
    const Value* default_value = nullptr;
    for (const auto& [k, kv] : a.keywords) {
      if (k == "attribute")
        attribute = &kv;
      else if (k == "default")
        default_value = &kv;
      else
        fail("Unexpected keyword argument '" + k + "'");
    }
    if (!attribute) fail("map requires a filter argument");
    const auto parts = attribute_parts(*attribute);
    const Value* fallback = default_value && !default_value->is_none() ? default_value : nullptr;
    for (const Value& item : iterate(rt, v))
      out.push_back(get_path(rt, item, parts, fallback));
    return generator(std::move(out));
  }
  if (!a.positional[0].is_string()) fail("map requires a filter name");
  const std::string name = a.positional[0].str();
  if (!filter_exists(name)) fail("No filter named '" + name + "'.");
  CallArgs filter_args;
  filter_args.positional.assign(a.positional.begin() + 1, a.positional.end());
  filter_args.keywords = a.keywords;
  for (const Value& item : iterate(rt, v)) {
    CallArgs args = filter_args;
    out.push_back(apply_filter(rt, name, item, args));
  }
  return generator(std::move(out));
}

}  // namespace moe::jinja::filter_impl
