// Strict JSON parsing in two passes: a SAX pass that checks UTF-8, JSON syntax, duplicate keys and nesting
// without building anything, then nlohmann's plain DOM parse of the text it approved. (nlohmann's parser
// callback would do both at once, but its DOM builder rescans the parent object at every object end, which
// is quadratic in the number of tensors.)
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

std::string quote_clipped(const std::string& s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return "\"" + s + "\"";
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  return "\"" + s.substr(0, cut) + "...\"";
}

// The SAX handler of the first pass: keeps one key set per open object (and a placeholder per array, so that
// the stack matches the nesting), throws moe::Error at the first problem.
class StrictChecker {
 public:
  StrictChecker(const std::string& file, const std::string& what, int max_depth,
                std::vector<std::string>* top)
      : file_(file), what_(what), max_depth_(max_depth), top_(top) {}

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(nlohmann::json::number_integer_t) { return true; }
  bool number_unsigned(nlohmann::json::number_unsigned_t) { return true; }
  bool number_float(nlohmann::json::number_float_t, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(nlohmann::json::binary_t&) { return true; }
  bool start_object(std::size_t) { return open(); }
  bool start_array(std::size_t) { return open(); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& key) {
    if (!keys_.back().insert(key).second)
      throw Error(file_ + ": the " + what_ + " has the key " + quote_clipped(key) + " twice");
    if (keys_.size() == 1 && top_) top_->push_back(key);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) {
    throw Error(file_ + ": the " + what_ + " is not valid JSON: " + short_json_message(e.what()));
  }

 private:
  bool open() {
    if (int(keys_.size()) >= max_depth_)
      throw Error(file_ + ": the " + what_ + " nests deeper than " + std::to_string(max_depth_) + " levels");
    keys_.emplace_back();
    return true;
  }
  bool close() {
    keys_.pop_back();
    return true;
  }

  const std::string& file_;
  const std::string& what_;
  int max_depth_;
  std::vector<std::string>* top_;
  std::vector<std::set<std::string>> keys_;
};

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
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    throw Error(file + ": the " + what + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  // JSON text never holds a raw NUL, and nlohmann's lexer would take one for the end of the input.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(file + ": the " + what + " has a NUL byte at " + std::to_string(nul));

  if (top_level_keys) top_level_keys->clear();
  StrictChecker checker(file, what, max_depth, top_level_keys);
  nlohmann::json::sax_parse(text.begin(), text.end(), &checker);
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {  // not expected once the first pass has passed
    throw Error(file + ": the " + what + " is not valid JSON: " + short_json_message(e.what()));
  }
}

}  // namespace moe::io
