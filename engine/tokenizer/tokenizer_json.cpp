// Loading a tokenizer from a model folder: tokenizer.json and, beside it, tokenizer_config.json (special
// token strings, add_bos_token/add_eos_token, chat_template as a string or a list of named templates) and
// chat_template.jinja. Files are size-checked before they are read, and every field is type-checked, so that
// a bad file ends in a moe::Error naming the file and the field.
#include <fstream>

#include "moe/error.h"
#include "moe/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

constexpr uintmax_t kMaxTokenizerFileBytes = uintmax_t(1) << 30;
constexpr uintmax_t kMaxConfigFileBytes = uintmax_t(64) << 20;

std::string read_file(const std::filesystem::path& path, uintmax_t limit) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path.string() + ": cannot read: " + ec.message());
  if (size > limit)
    throw Error(path.string() + ": " + std::to_string(size) + " bytes is more than the " +
                std::to_string(limit) + " accepted");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::string data(size_t(size), '\0');
  in.read(data.data(), std::streamsize(size));
  if (size_t(in.gcount()) != data.size()) throw Error(path.string() + ": read failed");
  return data;
}

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(source + ": invalid JSON: " + e.what());
  }
}

}  // namespace

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  if (!where.empty() && where.back() == ':') throw Error(where + " " + what);
  throw Error(where + ": " + what);
}

std::string field(const std::string& where, const char* key) {
  if (!where.empty() && where.back() == ':') return where + " " + key;
  return where + "." + key;
}

std::string index(const std::string& where, size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

const json* find(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& require(const json& object, const char* key, const std::string& where) {
  if (!object.is_object()) fail(where, "expected an object");
  const json* v = find(object, key);
  if (!v) fail(field(where, key), "missing");
  return *v;
}

std::string get_string(const json& object, const char* key, const std::string& where,
                       std::optional<std::string> fallback) {
  const json* v = find(object, key);
  if (!v) {
    if (fallback) return *fallback;
    fail(field(where, key), "missing");
  }
  if (!v->is_string()) fail(field(where, key), "expected a string, got " + std::string(v->type_name()));
  return v->get<std::string>();
}

bool get_bool(const json& object, const char* key, const std::string& where, bool fallback) {
  const json* v = find(object, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(field(where, key), "expected true or false, got " + std::string(v->type_name()));
  return v->get<bool>();
}

int64_t get_int(const json& object, const char* key, const std::string& where, int64_t lo, int64_t hi,
                std::optional<int64_t> fallback) {
  const json* v = find(object, key);
  if (!v) {
    if (fallback) return *fallback;
    fail(field(where, key), "missing");
  }
  if (!v->is_number_integer()) fail(field(where, key), "expected an integer, got " + v->dump());
  const int64_t x =
      v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v->get<int64_t>();
  if (x < lo || x > hi)
    fail(field(where, key),
         std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::string type_of(const json& object, const std::string& where) {
  if (!object.is_object()) fail(where, "expected an object with a \"type\"");
  return get_string(object, "type", where);
}

TokenizerConfig parse_config(const json* config, const std::string& where) {
  TokenizerConfig c;
  if (!config || config->is_null()) return c;
  if (!config->is_object()) fail(where, "expected a JSON object");
  if (const json* t = find(*config, "chat_template")) {
    const std::string w = field(where, "chat_template");
    if (t->is_string()) {
      c.chat_template = t->get<std::string>();
    } else if (t->is_array()) {  // [{"name": ..., "template": ...}]: the one named "default"
      for (size_t i = 0; i < t->size(); ++i) {
        const json& e = (*t)[i];
        if (!e.is_object()) fail(index(w, i), "expected {\"name\": ..., \"template\": ...}");
        if (get_string(e, "name", index(w, i)) == "default")
          c.chat_template = get_string(e, "template", index(w, i));
      }
    } else {
      fail(w, "expected a string or a list of {\"name\", \"template\"}");
    }
  }
  const auto token = [&](const char* key) -> std::optional<std::string> {
    const json* t = find(*config, key);
    if (!t) return std::nullopt;
    if (t->is_string()) return t->get<std::string>();
    if (t->is_object()) return get_string(*t, "content", field(where, key));
    fail(field(where, key), "expected a string or an object with \"content\"");
  };
  c.bos_token = token("bos_token");
  c.eos_token = token("eos_token");
  c.add_bos_token = get_bool(*config, "add_bos_token", where, false);
  c.add_eos_token = get_bool(*config, "add_eos_token", where, false);
  return c;
}

}  // namespace moe::tok

namespace moe {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& folder_or_file) {
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(folder_or_file, ec);
  const std::filesystem::path file = is_dir ? folder_or_file / "tokenizer.json" : folder_or_file;
  const std::filesystem::path folder = is_dir ? folder_or_file : folder_or_file.parent_path();
  if (!std::filesystem::exists(file, ec))
    throw Error(file.string() + ": not found (the model has no tokenizer.json)");
  const tok::json doc = tok::parse_json(tok::read_file(file, tok::kMaxTokenizerFileBytes), file.string());

  const std::filesystem::path config_file = folder / "tokenizer_config.json";
  tok::json config;  // null when absent
  if (std::filesystem::exists(config_file, ec))
    config = tok::parse_json(tok::read_file(config_file, tok::kMaxConfigFileBytes), config_file.string());
  // transformers writes long templates to chat_template.jinja; it takes precedence over the config entry.
  const std::filesystem::path jinja = folder / "chat_template.jinja";
  if (std::filesystem::exists(jinja, ec)) {
    if (!config.is_null() && !config.is_object())
      throw Error(config_file.string() + ": expected a JSON object");
    config["chat_template"] = tok::read_file(jinja, tok::kMaxConfigFileBytes);
  }
  return from_json(doc, config.is_null() ? nullptr : &config, file.string());
}

}  // namespace moe
