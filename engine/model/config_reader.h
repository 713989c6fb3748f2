// ConfigReader: typed, validated access to the fields of a config.json, with errors that name the file and
// the field. Shared by the architecture files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/error.h"

namespace moe::detail {

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const nlohmann::json& raw() const { return j_; }
  const std::string& source() const { return source_; }

  // Integer field in [lo, hi]; `def` when absent (nullopt def: the field is required).
  int64_t integer(const char* key, std::optional<int64_t> def, int64_t lo, int64_t hi) const;
  double number(const char* key, std::optional<double> def) const;
  bool boolean(const char* key, bool def) const;
  std::string string(const char* key, std::optional<std::string> def) const;
  std::vector<int64_t> int_list(const char* key) const;  // absent or null: empty
  // The first of several names transformers treats as aliases (attribute_map) that the config carries.
  const char* first_present(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (has(k)) return k;
    return *keys.begin();
  }
  std::vector<std::string> string_list(const char* key) const;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(source_ + ": field " + key + " " + what);
  }

 private:
  const nlohmann::json& j_;
  std::string source_;
};

// Limits that reject absurd configs before anything is allocated from them.
inline constexpr int64_t kMaxHidden = 1 << 17;
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxVocab = 1 << 22;
inline constexpr int64_t kMaxExperts = 1 << 12;
inline constexpr int64_t kMaxHeads = 1 << 12;
inline constexpr int64_t kMaxIntermediate = 1 << 20;
inline constexpr int64_t kMaxContext = int64_t(1) << 24;

}  // namespace moe::detail
