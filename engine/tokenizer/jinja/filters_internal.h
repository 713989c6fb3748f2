// Shared by the filter files: filters.cpp (strings, numbers, tojson; the registry) and filters_sequences.cpp
// (lists and dicts).
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/value.h"

namespace moe::jinja::filter_impl {

using FilterFn = Value (*)(Runtime&, const Value&, CallArgs&);

// jinja2 filters that return generators return one-shot iterators here too.
inline Value generator(std::vector<Value> items, std::string name = "generator") {
  return Value::list(std::move(items), ListKind::Iterator, std::move(name));
}

inline Value str_value(Runtime& rt, std::string s) {
  rt.budget.bytes(s.size());
  return Value::string(std::move(s));
}

inline void require_defined(const Value& v) {
  if (v.is_undefined()) fail(v.undefined_hint());
}

Value f_length(Runtime& rt, const Value& v, CallArgs& a);
Value f_list(Runtime& rt, const Value& v, CallArgs& a);
Value f_first(Runtime& rt, const Value& v, CallArgs& a);
Value f_last(Runtime& rt, const Value& v, CallArgs& a);
Value f_reverse(Runtime& rt, const Value& v, CallArgs& a);
Value f_join(Runtime& rt, const Value& v, CallArgs& a);
Value f_sum(Runtime& rt, const Value& v, CallArgs& a);
Value f_sort(Runtime& rt, const Value& v, CallArgs& a);
Value f_dictsort(Runtime& rt, const Value& v, CallArgs& a);
Value f_items(Runtime& rt, const Value& v, CallArgs& a);
Value f_min(Runtime& rt, const Value& v, CallArgs& a);
Value f_max(Runtime& rt, const Value& v, CallArgs& a);
Value f_unique(Runtime& rt, const Value& v, CallArgs& a);
Value f_batch(Runtime& rt, const Value& v, CallArgs& a);
Value f_groupby(Runtime& rt, const Value& v, CallArgs& a);
Value f_select(Runtime& rt, const Value& v, CallArgs& a);
Value f_reject(Runtime& rt, const Value& v, CallArgs& a);
Value f_selectattr(Runtime& rt, const Value& v, CallArgs& a);
Value f_rejectattr(Runtime& rt, const Value& v, CallArgs& a);
Value f_map(Runtime& rt, const Value& v, CallArgs& a);

}  // namespace moe::jinja::filter_impl
