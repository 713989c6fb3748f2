// Pre-tokenizers of tokenizer.json: Split (regex or string, five delimiter behaviours, invert), ByteLevel
// (the GPT-2 regex, add_prefix_space, the byte -> character table), Digits, Metaspace, Whitespace,
// WhitespaceSplit, Punctuation, BertPreTokenizer and Sequence. They cut the normalized text into the words
// the model tokenizes one by one.
#include <array>

#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

// The GPT-2 table: printable bytes stand for themselves, the others for U+0100 + n in byte order.
struct ByteTable {
  std::array<std::string, 256> chars;
  std::array<int16_t, 512> byte_of;  // code point (< 512) -> byte, -1 if none
  ByteTable() {
    byte_of.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? uint32_t(b) : uint32_t(256 + n++);
      append_utf8(chars[size_t(b)], cp);
      byte_of[cp] = int16_t(b);
    }
  }
};
const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Pattern::find_matches for a character predicate: every matching character is a match of its own.
template <typename Pred>
void char_spans(std::string_view text, Pred pred, std::vector<Span>& out) {
  out.clear();
  if (text.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  size_t last = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    if (pred(next_code_point(text, i))) {
      if (last < start) out.push_back({last, start, false});
      out.push_back({start, i, true});
      last = i;
    }
  }
  if (last < text.size()) out.push_back({last, text.size(), false});
}

void emit(const Split& in, const std::vector<std::pair<size_t, size_t>>& ranges, std::vector<Split>& out) {
  for (const auto& [s, e] : ranges)
    out.push_back({in.text.substr(s, e - s), in.at_start && s == 0});
}

class SplitRegex final : public PreTokenizer {
 public:
  SplitRegex(std::unique_ptr<Regex> re, SplitBehavior behavior, bool invert)
      : re_(std::move(re)), behavior_(behavior), invert_(invert) {}
  void split(const Split& in, std::vector<Split>& out) const override {
    thread_local std::vector<Span> spans;
    thread_local std::vector<std::pair<size_t, size_t>> ranges;
    regex_spans(*re_, in.text, spans);
    if (invert_)
      for (Span& s : spans)
        s.is_match = !s.is_match;
    apply_behavior(spans, behavior_, ranges);
    emit(in, ranges, out);
  }

 private:
  std::unique_ptr<Regex> re_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) re_ = std::make_unique<Regex>(kGpt2Pattern, false, "ByteLevel");
  }
  void split(const Split& in, std::vector<Split>& out) const override {
    thread_local std::vector<Span> spans;
    thread_local std::vector<std::pair<size_t, size_t>> ranges;
    const bool prefix = add_prefix_space_ && (in.text.empty() || in.text[0] != ' ');
    const std::string text = prefix ? " " + in.text : in.text;
    ranges.clear();
    if (re_) {
      regex_spans(*re_, text, spans);
      apply_behavior(spans, SplitBehavior::Isolated, ranges);
    } else if (!text.empty()) {
      ranges.emplace_back(0, text.size());
    }
    const ByteTable& table = byte_table();
    for (const auto& [s, e] : ranges) {
      Split piece{std::string(), in.at_start && s == 0};
      piece.text.reserve((e - s) * 2);
      for (size_t i = s; i < e; ++i)
        piece.text += table.chars[uint8_t(text[i])];
      out.push_back(std::move(piece));
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;
};

class Digits final : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  void split(const Split& in, std::vector<Split>& out) const override {
    thread_local std::vector<Span> spans;
    thread_local std::vector<std::pair<size_t, size_t>> ranges;
    char_spans(in.text, is_numeric, spans);
    apply_behavior(spans, individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous, ranges);
    emit(in, ranges, out);
  }

 private:
  bool individual_;
};

class Metaspace final : public PreTokenizer {
 public:
  enum class Prepend { Always, Never, First };
  Metaspace(uint32_t replacement, Prepend prepend, bool split)
      : replacement_(replacement), prepend_(prepend), split_(split) {
    append_utf8(rep_, replacement);
  }
  void split(const Split& in, std::vector<Split>& out) const override {
    Split s{std::string(), in.at_start};
    s.text.reserve(in.text.size() + rep_.size());
    for (char c : in.text) {
      if (c == ' ')
        s.text += rep_;
      else
        s.text += c;
    }
    const bool starts = s.text.compare(0, rep_.size(), rep_) == 0;
    if (!starts && (prepend_ == Prepend::Always || (prepend_ == Prepend::First && in.at_start)))
      s.text.insert(0, rep_);
    if (!split_) {
      out.push_back(std::move(s));
      return;
    }
    thread_local std::vector<Span> spans;
    thread_local std::vector<std::pair<size_t, size_t>> ranges;
    char_spans(
        s.text, [this](uint32_t cp) { return cp == replacement_; }, spans);
    apply_behavior(spans, SplitBehavior::MergedWithNext, ranges);
    emit(s, ranges, out);
  }

 private:
  uint32_t replacement_;
  std::string rep_;
  Prepend prepend_;
  bool split_;
};

// Character-class splits: WhitespaceSplit (whitespace removed), Punctuation.
class CharSplit final : public PreTokenizer {
 public:
  CharSplit(bool (*pred)(uint32_t), SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  void split(const Split& in, std::vector<Split>& out) const override {
    thread_local std::vector<Span> spans;
    thread_local std::vector<std::pair<size_t, size_t>> ranges;
    char_spans(in.text, pred_, spans);
    apply_behavior(spans, behavior_, ranges);
    emit(in, ranges, out);
  }

 private:
  bool (*pred_)(uint32_t);
  SplitBehavior behavior_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Split>& splits) const override {
    for (const auto& p : parts_)
      p->pre_tokenize(splits);
  }
  void split(const Split& in, std::vector<Split>& out) const override {
    std::vector<Split> one{in};
    pre_tokenize(one);
    for (Split& s : one)
      out.push_back(std::move(s));
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

uint32_t single_char(const std::string& s, const std::string& where) {
  size_t i = 0;
  if (s.empty()) fail(where, "expected one character");
  const uint32_t cp = next_code_point(s, i);
  if (i != s.size()) fail(where, "expected one character, got \"" + s + "\"");
  return cp;
}

}  // namespace

const std::string& byte_to_chars(uint8_t b) {
  return byte_table().chars[b];
}

std::optional<uint8_t> char_to_byte(uint32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = byte_table().byte_of[cp];
  if (b < 0) return std::nullopt;
  return uint8_t(b);
}

void PreTokenizer::pre_tokenize(std::vector<Split>& splits) const {
  std::vector<Split> out;
  out.reserve(splits.size() * 2);
  for (const Split& s : splits)
    split(s, out);
  std::erase_if(out, [](const Split& s) { return s.text.empty(); });
  splits = std::move(out);
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const json& j, const std::string& where, int depth) {
  if (depth > kMaxNesting) fail(where, "pre-tokenizers nested too deeply");
  const std::string type = type_of(j, where);
  if (type == "Split") {
    const std::string behavior = get_string(j, "behavior", where);
    return std::make_unique<SplitRegex>(parse_pattern(require(j, "pattern", where), field(where, "pattern")),
                                        parse_behavior(behavior, field(where, "behavior")),
                                        get_bool(j, "invert", where, false));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(get_bool(j, "add_prefix_space", where, true),
                                       get_bool(j, "use_regex", where, true));
  if (type == "Digits") return std::make_unique<Digits>(get_bool(j, "individual_digits", where, false));
  if (type == "Metaspace") {
    const uint32_t rep = single_char(get_string(j, "replacement", where), field(where, "replacement"));
    Metaspace::Prepend prepend = Metaspace::Prepend::Always;
    if (const json* scheme = find(j, "prepend_scheme")) {
      const std::string w = field(where, "prepend_scheme");
      if (!scheme->is_string()) fail(w, "expected a string");
      const auto s = scheme->get<std::string>();
      if (s == "always")
        prepend = Metaspace::Prepend::Always;
      else if (s == "never")
        prepend = Metaspace::Prepend::Never;
      else if (s == "first")
        prepend = Metaspace::Prepend::First;
      else
        fail(w, "expected \"always\", \"never\" or \"first\", got \"" + s + "\"");
    } else if (!get_bool(j, "add_prefix_space", where, true)) {
      prepend = Metaspace::Prepend::Never;
    }
    return std::make_unique<Metaspace>(rep, prepend, get_bool(j, "split", where, true));
  }
  if (type == "Whitespace") {
    // The regex crate's \w (tokenizers compiles this one with it, not with Oniguruma).
    const std::string w =
        "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}" + property_extra_ranges("word");
    auto re = std::make_unique<Regex>("[" + w + "]+|[^" + w + "\\s]+", false, where);
    return std::make_unique<SplitRegex>(std::move(re), SplitBehavior::Removed, true);
  }
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_white_space, SplitBehavior::Removed);
  if (type == "Punctuation") {
    const std::string behavior = get_string(j, "behavior", where, "Isolated");
    return std::make_unique<CharSplit>(is_reference_punctuation,
                                       parse_behavior(behavior, field(where, "behavior")));
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(std::make_unique<CharSplit>(is_white_space, SplitBehavior::Removed));
    parts.push_back(std::make_unique<CharSplit>(is_reference_punctuation, SplitBehavior::Isolated));
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "Sequence") {
    const json& list = require(j, "pretokenizers", where);
    const std::string w = field(where, "pretokenizers");
    if (!list.is_array()) fail(w, "expected a list");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      parts.push_back(parse_pre_tokenizer(list[i], index(w, i), depth + 1));
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail(field(where, "type"), "unsupported pre-tokenizer \"" + type + "\"");
}

}  // namespace moe::tok
