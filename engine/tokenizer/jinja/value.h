// The value model of the Jinja interpreter: the Python objects a chat template can see. Strings, lists and
// dicts are immutable and shared (ImmutableSandboxedEnvironment forbids mutating them); namespaces and loop
// objects are the only mutable values. Dicts keep insertion order, as Python's do.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/jinja/budget.h"

namespace moe::jinja {

class Value;
class Runtime;

// How a sequence prints and behaves: Python tells lists, tuples, dict views and one-shot iterators
// (generators from select/map, reversed(...)) and range objects apart.
enum class ListKind : uint8_t { List, Tuple, KeysView, ValuesView, ItemsView, Iterator, Range };

// Containers may nest this deep (input data and values built by the template alike); deeper data is an
// error, which keeps every recursive walk (printing, comparing, JSON, destruction) within the stack.
constexpr int kMaxNesting = 200;

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

struct Callable {
  std::string name;
  std::function<Value(Runtime&, CallArgs&)> fn;
};

class Value {
 public:
  enum class Kind : uint8_t {
    Undefined,
    None,
    Bool,
    Int,
    Float,
    String,
    List,
    Dict,
    Namespace,
    Callable,
    Loop
  };

  Value() = default;  // undefined, with no hint
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(std::vector<Value> items, ListKind kind = ListKind::List, std::string iterator_name = {});
  // A generator whose production failed: jinja2's generators are lazy, so the error surfaces only when it is
  // consumed (iterated, listed, joined); until then it is a true value that prints as a generator.
  static Value failed_generator(std::string error);
  static Value dict(std::vector<std::pair<Value, Value>> items);  // keys must be distinct (see DictBuilder)
  static Value from_namespace(std::shared_ptr<struct Namespace> ns);
  static Value callable(std::string name, std::function<Value(Runtime&, CallArgs&)> fn);
  static Value from_loop(std::shared_ptr<struct LoopState> loop);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_int() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python's bool is an int
  bool is_number() const { return is_int() || kind_ == Kind::Float; }

  bool as_bool() const { return u_.b; }
  int64_t as_int() const { return kind_ == Kind::Bool ? int64_t(u_.b) : u_.i; }
  double as_float() const { return kind_ == Kind::Float ? u_.f : double(as_int()); }
  const std::string& str() const { return *static_cast<const std::string*>(obj_.get()); }
  const struct List& list() const { return *static_cast<const struct List*>(obj_.get()); }
  const struct Dict& dict() const { return *static_cast<const struct Dict*>(obj_.get()); }
  struct Namespace& ns() const {
    return *static_cast<struct Namespace*>(obj_.get());
  }
  const struct Callable& fn() const { return *static_cast<const struct Callable*>(obj_.get()); }
  struct LoopState& loop() const {
    return *static_cast<struct LoopState*>(obj_.get());
  }
  std::string undefined_hint() const;
  const void* identity() const { return obj_.get(); }

  int depth() const;  // container nesting, 0 for scalars

 private:
  Kind kind_ = Kind::Undefined;
  union {
    bool b;
    int64_t i;
    double f;
  } u_{};
  std::shared_ptr<void> obj_;
};

struct List {
  std::vector<Value> items;
  ListKind kind = ListKind::List;
  int depth = 1;
  std::string iterator_name;   // Iterator: "generator", "list_reverseiterator", ...; Range: its repr
  std::string deferred_error;  // Iterator: raised when consumed (see Value::failed_generator)
};

struct Dict {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  std::unordered_map<std::string_view, size_t> index;  // string keys of a large dict, built once
  const Value* find(const Value& key, Budget& budget) const;
  const Value* find(std::string_view key) const;
};

struct Namespace {
  std::vector<std::pair<std::string, Value>> attrs;
  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value value);
};

// `loop` inside a for: the filtered items and where the iteration stands.
struct LoopState {
  std::vector<Value> items;
  size_t index0 = 0;
  int depth0 = 0;
  Value recurse;  // loop(...) of a recursive loop
  bool has_changed_value = false;
  std::vector<Value> changed_value;
};

// Builds a dict the way Python's dict literal does: a repeated key keeps its first position and takes the
// last value.
class DictBuilder {
 public:
  explicit DictBuilder(Budget& budget) : budget_(budget) {}
  void set(Value key, Value value);
  Value build() { return Value::dict(std::move(items_)); }

 private:
  Budget& budget_;
  std::vector<std::pair<Value, Value>> items_;
  std::unordered_map<std::string, size_t> string_keys_;
};

// Python semantics.
bool truthy(const Value& v);
bool hashable(const Value& v);
std::string type_name(const Value& v);  // "str", "int", "NoneType", ...
bool equals(const Value& a, const Value& b, Budget& budget);
int compare(const Value& a, const Value& b, Budget& budget, const char* op = "<");  // fails on mixed types
void append_str(std::string& out, const Value& v, Budget& budget);   // str(v); checks the size limit
void append_repr(std::string& out, const Value& v, Budget& budget);  // repr(v)
std::string to_str(const Value& v, Budget& budget);
std::string repr(const Value& v, Budget& budget);
std::string format_float(double f);  // repr(float): shortest round-trip, Python's exponent rules
std::string repr_string(std::string_view s);

}  // namespace moe::jinja
