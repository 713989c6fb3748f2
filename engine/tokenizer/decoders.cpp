// Decoders of tokenizer.json, turning token strings back into text as tokenizers' decode_chain does:
// ByteLevel (characters -> bytes, then lossy UTF-8), Metaspace, ByteFallback (<0xNN> runs -> bytes), Fuse,
// Strip, Replace and Sequence.
#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      // A token with a character outside the byte table (an added token such as "<｜end▁of▁sentence｜>")
      // goes through as its own UTF-8 bytes.
      const size_t mark = bytes.size();
      bool mapped = true;
      for (size_t i = 0; i < t.size() && mapped;) {
        const auto b = char_to_byte(next_code_point(t, i));
        if (b)
          bytes += char(*b);
        else
          mapped = false;
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(uint32_t replacement, bool strip_first) : strip_first_(strip_first) {
    append_utf8(rep_, replacement);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string out;
      const std::string& t = tokens[k];
      for (size_t i = 0; i < t.size();) {
        if (t.compare(i, rep_.size(), rep_) == 0) {
          if (!(k == 0 && strip_first_)) out += ' ';
          i += rep_.size();
        } else {
          out += t[i++];
        }
      }
      tokens[k] = std::move(out);
    }
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    size_t count = 0;
    const auto flush = [&] {
      if (count == 0) return;
      if (is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < count; ++i)
          out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      count = 0;
    };
    for (std::string& t : tokens) {
      if (const auto b = parse_byte_token(t)) {
        bytes += char(*b);
        ++count;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens)
      all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(uint32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<std::pair<size_t, uint32_t>> chars;  // byte offset, code point
      for (size_t i = 0; i < t.size();) {
        const size_t at = i;
        chars.emplace_back(at, next_code_point(t, i));
      }
      size_t start_cut = 0;
      for (size_t i = 0; i < std::min(start_, chars.size()); ++i) {
        if (chars[i].second != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < std::min(stop_, chars.size()); ++i) {
        const size_t k = chars.size() - i - 1;
        if (chars[k].second != content_) break;
        stop_cut = k;
      }
      if (stop_cut <= start_cut) {
        t.clear();
        continue;
      }
      const size_t b0 = chars[start_cut].first;
      const size_t b1 = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
      t = t.substr(b0, b1 - b0);
    }
  }

 private:
  uint32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    thread_local std::vector<Span> spans;
    for (std::string& t : tokens) {
      regex_spans(*re_, t, spans);
      std::string out;
      for (const Span& s : spans)
        out += s.is_match ? content_ : t.substr(s.start, s.end - s.start);
      t = std::move(out);
    }
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_)
      p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

uint32_t one_char(const std::string& s, const std::string& where) {
  size_t i = 0;
  if (s.empty()) fail(where, "expected one character");
  const uint32_t cp = next_code_point(s, i);
  if (i != s.size()) fail(where, "expected one character, got \"" + s + "\"");
  return cp;
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const json& j, const std::string& where, int depth) {
  if (depth > kMaxNesting) fail(where, "decoders nested too deeply");
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Metaspace") {
    const uint32_t rep = one_char(get_string(j, "replacement", where), field(where, "replacement"));
    bool strip_first = true;
    if (const json* scheme = find(j, "prepend_scheme")) {
      if (!scheme->is_string()) fail(field(where, "prepend_scheme"), "expected a string");
      strip_first = scheme->get<std::string>() != "never";
    } else {
      strip_first = get_bool(j, "add_prefix_space", where, true);
    }
    return std::make_unique<MetaspaceDecoder>(rep, strip_first);
  }
  if (type == "Strip") {
    const uint32_t content = one_char(get_string(j, "content", where), field(where, "content"));
    return std::make_unique<StripDecoder>(content, size_t(get_int(j, "start", where, 0, 1 << 20, 0)),
                                          size_t(get_int(j, "stop", where, 0, 1 << 20, 0)));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(
        parse_pattern(require(j, "pattern", where), field(where, "pattern")),
        get_string(j, "content", where));
  }
  if (type == "Sequence") {
    const json& list = require(j, "decoders", where);
    const std::string w = field(where, "decoders");
    if (!list.is_array()) fail(w, "expected a list");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      parts.push_back(parse_decoder(list[i], index(w, i), depth + 1));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  fail(field(where, "type"), "unsupported decoder \"" + type + "\"");
}

}  // namespace moe::tok
