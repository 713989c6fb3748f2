// Normalizers of tokenizer.json: Unicode forms through utf8proc, Lowercase, Strip, Replace, Prepend, Append,
// StripAccents, ByteLevel and Sequence. Each runs on one piece of input text (what lies between added
// tokens), as tokenizers runs them.
#include <cstdlib>

#include <utf8proc.h>

#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

bool all_below(const std::string& s, uint8_t limit) {
  for (char c : s)
    if (uint8_t(c) >= limit) return false;
  return true;
}

class UnicodeForm final : public Normalizer {
 public:
  // quick_limit: every string whose bytes are all below it is left unchanged by this form.
  UnicodeForm(int options, uint8_t quick_limit) : options_(options), quick_limit_(quick_limit) {}
  void apply(std::string& text, bool& start_moved) const override {
    if (all_below(text, quick_limit_)) return;
    // Characters tokenizers' tables do not know pass through untouched: each becomes a placeholder starter
    // (U+F0000, private use: never decomposed, composed or reordered past), put back in order afterwards.
    constexpr uint32_t kHolder = 0xF0000;
    std::string in;
    in.reserve(text.size());
    std::vector<uint32_t> held;
    for (size_t i = 0; i < text.size();) {
      const size_t start = i;
      const uint32_t cp = next_code_point(text, i);
      if (cp >= 0x300 && (cp == kHolder || unknown_to_reference_normalizer(cp))) {
        held.push_back(cp);
        append_utf8(in, kHolder);
      } else {
        in.append(text, start, i - start);
      }
    }
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()), utf8proc_ssize_t(in.size()),
                     &mapped, utf8proc_option_t(options_));
    if (n < 0 || !mapped) {
      std::free(mapped);
      return;
    }
    const std::string_view out(reinterpret_cast<const char*>(mapped), size_t(n));
    std::string result;
    result.reserve(out.size());
    size_t k = 0;
    for (size_t i = 0; i < out.size();) {
      const size_t start = i;
      const uint32_t cp = next_code_point(out, i);
      if (cp == kHolder && k < held.size()) {
        append_utf8(result, held[k++]);
      } else if (cp >= 0x300 && unknown_to_reference_normalizer(cp)) {
        // A composition tokenizers' tables do not have: back to its canonical decomposition.
        utf8proc_int32_t parts[16];
        int boundclass = 0;
        const utf8proc_ssize_t m =
            utf8proc_decompose_char(utf8proc_int32_t(cp), parts, 16, UTF8PROC_DECOMPOSE, &boundclass);
        for (utf8proc_ssize_t j = 0; j < m && j < 16; ++j)
          append_utf8(result, uint32_t(parts[j]));
      } else {
        result.append(out, start, i - start);
      }
    }
    std::free(mapped);
    text = std::move(result);
  }

 private:
  int options_;
  uint8_t quick_limit_;
};

class Lowercase final : public Normalizer {
 public:
  void apply(std::string& text, bool& start_moved) const override {
    if (all_below(text, 0x80)) {
      for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      return;
    }
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const uint32_t cp = next_code_point(text, i);
      if (cp == 0x130) {  // the one unconditional multi-character lowercase mapping
        out += "i\xCC\x87";
        continue;
      }
      const uint32_t newer = reference_lowercase_extra(cp);
      append_utf8(out, newer ? newer : uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))));
    }
    text = std::move(out);
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void apply(std::string& text, bool& start_moved) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t i = begin;
        if (!is_white_space(next_code_point(text, i))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (uint8_t(text[start]) & 0xC0) == 0x80)
          --start;
        size_t i = start;
        if (!is_white_space(next_code_point(text, i))) break;
        end = start;
      }
    }
    if (begin > 0 && begin < text.size()) start_moved = true;
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class StripAccents final : public Normalizer {
 public:
  void apply(std::string& text, bool& start_moved) const override {
    if (all_below(text, 0x80)) return;
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const size_t start = i;
      const uint32_t cp = next_code_point(text, i);
      if (!is_reference_combining_mark(cp))
        out.append(text, start, i - start);
      else if (out.empty() && i < text.size())
        start_moved = true;
    }
    text = std::move(out);
  }
};

class Replace final : public Normalizer {
 public:
  Replace(std::unique_ptr<Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void apply(std::string& text, bool& start_moved) const override {
    thread_local std::vector<Span> spans;
    regex_spans(*re_, text, spans);
    std::string out;
    out.reserve(text.size());
    bool first = true;
    for (const Span& s : spans) {
      if (s.is_match)
        out += content_;
      else
        out.append(text, s.start, s.end - s.start);
      if (first && !out.empty()) {  // the first character out comes from here
        first = false;
        if (s.start != 0) start_moved = true;
      }
    }
    text = std::move(out);
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class Affix final : public Normalizer {
 public:
  Affix(std::string affix, bool prepend) : affix_(std::move(affix)), prepend_(prepend) {}
  void apply(std::string& text, bool& start_moved) const override {
    if (text.empty()) return;
    if (prepend_)
      text.insert(0, affix_);
    else
      text += affix_;
  }

 private:
  std::string affix_;
  bool prepend_;
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  void apply(std::string& text, bool& start_moved) const override {
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text)
      out += byte_to_chars(uint8_t(c));
    text = std::move(out);
  }
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void apply(std::string& text, bool& start_moved) const override {
    for (const auto& p : parts_)
      p->apply(text, start_moved);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Regex> parse_pattern(const json& j, const std::string& where) {
  if (!j.is_object() || j.size() != 1) fail(where, "expected {\"String\": ...} or {\"Regex\": ...}");
  if (const json* s = find(j, "String")) {
    if (!s->is_string()) fail(field(where, "String"), "expected a string");
    return std::make_unique<Regex>(s->get<std::string>(), true, field(where, "String"));
  }
  if (const json* r = find(j, "Regex")) {
    if (!r->is_string()) fail(field(where, "Regex"), "expected a string");
    return std::make_unique<Regex>(r->get<std::string>(), false, field(where, "Regex"));
  }
  fail(where, "expected {\"String\": ...} or {\"Regex\": ...}");
}

std::unique_ptr<Normalizer> parse_normalizer(const json& j, const std::string& where, int depth) {
  if (depth > kMaxNesting) fail(where, "normalizers nested too deeply");
  const std::string type = type_of(j, where);
  if (type == "NFC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE, 0xCC);
  if (type == "NFD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, 0x80);
  if (type == "NFKC")
    return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, 0x80);
  if (type == "NFKD")
    return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, 0x80);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Strip")
    return std::make_unique<Strip>(get_bool(j, "strip_left", where, true),
                                   get_bool(j, "strip_right", where, true));
  if (type == "Prepend") return std::make_unique<Affix>(get_string(j, "prepend", where), true);
  if (type == "Append") return std::make_unique<Affix>(get_string(j, "append", where), false);
  if (type == "Replace")
    return std::make_unique<Replace>(parse_pattern(require(j, "pattern", where), field(where, "pattern")),
                                     get_string(j, "content", where));
  if (type == "Sequence") {
    const json& list = require(j, "normalizers", where);
    const std::string w = field(where, "normalizers");
    if (!list.is_array()) fail(w, "expected a list");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      parts.push_back(parse_normalizer(list[i], index(w, i), depth + 1));
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail(field(where, "type"), "unsupported normalizer \"" + type + "\"");
}

}  // namespace moe::tok
