// Strict JSON parsing: UTF-8 validation, duplicate-key detection through nlohmann's parser callback, and a
// nesting limit, all reported as moe::Error.
#include "io/json_strict.h"

#include <set>
#include <vector>

#include "moe/error.h"

namespace moe::io {
namespace {

// Trims nlohmann's messages ("[json.exception.parse_error.101] parse error at ...") to the useful part and
// to a bounded length: the "last read" part can quote an arbitrarily long token.
std::string short_json_message(const char* what) {
  std::string m(what);
  if (m.rfind("[json.exception.", 0) == 0) {
    size_t close = m.find("] ");
    if (close != std::string::npos) m.erase(0, close + 2);
  }
  constexpr size_t kMax = 240;
  if (m.size() > kMax) {
    size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80)
      --cut;  // keep UTF-8 whole
    m.resize(cut);
    m += "...";
  }
  return m;
}

std::string quoted(const std::string& s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return "\"" + s + "\"";
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  return "\"" + s.substr(0, cut) + "...\"";
}

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

nlohmann::json parse_json_strict(std::string_view text, const std::string& file, const std::string& what,
                                 int max_depth, std::vector<std::string>* top_level_keys) {
  using Json = nlohmann::json;
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    throw Error(file + ": the " + what + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  // JSON text never holds a raw NUL, and nlohmann's lexer would take one for the end of the input.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(file + ": the " + what + " has a NUL byte at " + std::to_string(nul));

  // One set of keys per open object; containers opened inside arrays get an empty placeholder so that the
  // stack always matches the nesting.
  std::vector<std::set<std::string>> keys;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= max_depth)
          throw Error(file + ": the " + what + " nests deeper than " + std::to_string(max_depth) + " levels");
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string()) {
          const auto& key = parsed.get_ref<const std::string&>();
          if (!keys.back().insert(key).second)
            throw Error(file + ": the " + what + " has the key " + quoted(key) + " twice");
          if (depth == 1 && top_level_keys) top_level_keys->push_back(key);
        }
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };

  try {
    return Json::parse(text.data(), text.data() + text.size(), callback);
  } catch (const Json::exception& e) {
    throw Error(file + ": the " + what + " is not valid JSON: " + short_json_message(e.what()));
  }
}

}  // namespace moe::io
