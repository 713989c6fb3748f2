// Typed accessors of ConfigReader.
#include "model/config_reader.h"

#include <cmath>

namespace moe::detail {

int64_t ConfigReader::integer(const char* key, std::optional<int64_t> def, int64_t lo, int64_t hi) const {
  if (!has(key)) {
    if (!def) fail(key, "is missing");
    return *def;
  }
  const auto& v = j_.at(key);
  int64_t x = 0;
  if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::fabs(v.get<double>()) < 9e18 &&
             v.get<double>() == std::trunc(v.get<double>())) {
    x = int64_t(v.get<double>());  // 4096.0 is an integer; checked to fit before the conversion
  } else {
    fail(key, "must be an integer, found " + v.dump());
  }
  if (x < lo || x > hi)
    fail(key, "= " + std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
  return x;
}

double ConfigReader::number(const char* key, std::optional<double> def) const {
  if (!has(key)) {
    if (!def) fail(key, "is missing");
    return *def;
  }
  const auto& v = j_.at(key);
  if (!v.is_number()) fail(key, "must be a number, found " + v.dump());
  return v.get<double>();
}

bool ConfigReader::boolean(const char* key, bool def) const {
  if (!has(key)) return def;
  const auto& v = j_.at(key);
  if (!v.is_boolean()) fail(key, "must be true or false, found " + v.dump());
  return v.get<bool>();
}

std::string ConfigReader::string(const char* key, std::optional<std::string> def) const {
  if (!has(key)) {
    if (!def) fail(key, "is missing");
    return *def;
  }
  const auto& v = j_.at(key);
  if (!v.is_string()) fail(key, "must be a string, found " + v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> ConfigReader::int_list(const char* key) const {
  std::vector<int64_t> out;
  if (!has(key)) return out;
  const auto& v = j_.at(key);
  if (v.is_number_integer()) return {v.get<int64_t>()};
  if (!v.is_array()) fail(key, "must be an integer or a list of integers");
  for (const auto& e : v) {
    if (!e.is_number_integer()) fail(key, "must hold integers only, found " + e.dump());
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<std::string> ConfigReader::string_list(const char* key) const {
  std::vector<std::string> out;
  if (!has(key)) return out;
  const auto& v = j_.at(key);
  if (!v.is_array()) fail(key, "must be a list of strings");
  for (const auto& e : v) {
    if (!e.is_string()) fail(key, "must hold strings only, found " + e.dump());
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace moe::detail
