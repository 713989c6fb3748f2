// Python's json encoder (json/encoder.py) over the interpreter's values.
#include "tokenizer/jinja/json_dump.h"

#include <algorithm>
#include <cmath>

#include "tokenizer/jinja/runtime.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

void append_hex4(std::string& out, unsigned v) {
  static const char* hex = "0123456789abcdef";
  out += "\\u";
  for (int k = 3; k >= 0; --k)
    out += hex[(v >> (4 * k)) & 0xF];
}

void encode_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = utf8::decode(s, i, len);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      append_hex4(out, unsigned(c));
    } else if (c < 0x7F || (!ensure_ascii && c >= 0x7F)) {
      out.append(s, i, len);
    } else if (c < 0x10000) {
      append_hex4(out, unsigned(c));
    } else {
      const unsigned v = unsigned(c) - 0x10000;
      append_hex4(out, 0xD800 | (v >> 10));
      append_hex4(out, 0xDC00 | (v & 0x3FF));
    }
  }
  out += '"';
}

std::string float_json(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "Infinity" : "-Infinity";
  return format_float(f);
}

class Encoder {
 public:
  Encoder(Runtime& rt, const JsonOptions& o) : rt_(rt), o_(o) {}

  void encode(const Value& v, int level) {
    rt_.budget.step();
    rt_.budget.limit(out.size());
    switch (v.kind()) {
      case Value::Kind::None:
        out += "null";
        return;
      case Value::Kind::Bool:
        out += v.as_bool() ? "true" : "false";
        return;
      case Value::Kind::Int:
        out += std::to_string(v.as_int());
        return;
      case Value::Kind::Float:
        out += float_json(v.as_float());
        return;
      case Value::Kind::String:
        rt_.budget.scan(v.str().size());
        encode_string(out, v.str(), o_.ensure_ascii);
        return;
      case Value::Kind::List:
        if (v.list().kind == ListKind::List || v.list().kind == ListKind::Tuple) {
          encode_list(v.list().items, level);
          return;
        }
        break;
      case Value::Kind::Dict:
        encode_dict(v.dict(), level);
        return;
      default:
        break;
    }
    fail("Object of type " + type_name(v) + " is not JSON serializable");
  }

  std::string out;

 private:
  void newline(int level) {
    if (!o_.indent) return;
    rt_.budget.limit(out.size() + 1 + size_t(level) * o_.indent->size());
    out += '\n';
    for (int i = 0; i < level; ++i)
      out += *o_.indent;
  }

  void encode_list(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    newline(level + 1);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) {
        out += o_.item_separator;
        newline(level + 1);
      }
      encode(items[i], level + 1);
    }
    newline(level);
    out += ']';
  }

  std::string key_string(const Value& k) {
    switch (k.kind()) {
      case Value::Kind::String:
        return k.str();
      case Value::Kind::Float:
        return float_json(k.as_float());
      case Value::Kind::Bool:
        return k.as_bool() ? "true" : "false";
      case Value::Kind::Int:
        return std::to_string(k.as_int());
      case Value::Kind::None:
        return "null";
      default:
        fail("keys must be str, int, float, bool or None, not " + type_name(k));
    }
  }

  void encode_dict(const Dict& d, int level) {
    if (d.items.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> items;
    for (const auto& kv : d.items)
      items.push_back(&kv);
    if (o_.sort_keys)
      std::stable_sort(items.begin(), items.end(), [&](const auto* a, const auto* b) {
        return compare(a->first, b->first, rt_.budget) < 0;
      });
    out += '{';
    newline(level + 1);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) {
        out += o_.item_separator;
        newline(level + 1);
      }
      encode_string(out, key_string(items[i]->first), o_.ensure_ascii);
      out += o_.key_separator;
      encode(items[i]->second, level + 1);
    }
    newline(level);
    out += '}';
  }

  Runtime& rt_;
  const JsonOptions& o_;
};

}  // namespace

std::string to_json(Runtime& rt, const Value& v, const JsonOptions& options) {
  Encoder e(rt, options);
  e.encode(v, 0);
  rt.budget.bytes(e.out.size());
  return std::move(e.out);
}

}  // namespace moe::jinja
