// The interpreter's built-in vocabulary: filters (filters.cpp), tests (tests.cpp), globals (globals.cpp),
// and attribute/item access with the sandbox's rules and the methods of str, dict and list
// (access.cpp, string_methods.cpp).
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/jinja/value.h"

namespace moe::jinja {

class Runtime;

bool filter_exists(std::string_view name);
Value apply_filter(Runtime& rt, std::string_view name, const Value& input, CallArgs& args);

bool test_exists(std::string_view name);
bool apply_test(Runtime& rt, std::string_view name, const Value& input, CallArgs& args);

// range, dict, namespace, cycler, joiner, raise_exception, strftime_now; undefined for other names.
Value lookup_global(std::string_view name);

// jinja2's environment.getattr / getitem under ImmutableSandboxedEnvironment: `obj.name` looks for an
// attribute (a method of str/dict/list, a namespace member, a loop property) and then for an item;
// `obj[key]` the other way round. Missing ones are undefined; methods that would mutate are unsafe.
// Any access to an undefined value fails, as jinja2's Undefined does.
Value get_attr(Runtime& rt, const Value& obj, const std::string& name);
Value get_item(Runtime& rt, const Value& obj, const Value& key);
Value get_slice(Runtime& rt, const Value& obj, const Value& start, const Value& stop, const Value& step);

// Methods of str (string_methods.cpp): a bound method for `name`, or undefined if str has no such method.
Value string_method(const Value& self, const std::string& name);

// The items a `for` loop or a filter iterates over: list/tuple items, dict keys, string characters;
// undefined iterates as empty. Fails for values that are not iterable.
std::vector<Value> iterate(Runtime& rt, const Value& v);

// str(value) under the render's limits.
std::string str_of(Runtime& rt, const Value& v);

}  // namespace moe::jinja
