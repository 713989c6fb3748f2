// jinja2's lexer (lexer.py) rewritten as a hand-written scanner. The regular expressions it mirrors are
// quoted next to the code that implements them.
#include "tokenizer/jinja/lexer.h"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

namespace {

bool starts_with(std::string_view s, size_t pos, std::string_view prefix) {
  return s.substr(pos, prefix.size()) == prefix;
}

bool ascii_digit(char c) {
  return c >= '0' && c <= '9';
}

// Length in bytes of the Unicode whitespace run (Python's \s) starting at `pos`.
size_t whitespace_run(std::string_view s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    size_t len;
    if (!utf8::is_space(utf8::decode(s, i, len))) break;
    i += len;
  }
  return i - pos;
}

// Python's str.rstrip(): drops trailing Unicode whitespace.
std::string_view rstrip(std::string_view s) {
  auto offsets = utf8::offsets(s);
  size_t end = offsets.size() - 1;
  while (end > 0) {
    size_t len;
    if (!utf8::is_space(utf8::decode(s, offsets[end - 1], len))) break;
    --end;
  }
  return s.substr(0, offsets[end]);
}

class Lexer {
 public:
  explicit Lexer(const Source& source) : src_(source), s_(source.text()) {}

  std::vector<Token> run() {
    while (pos_ < s_.size())
      root();
    push(Tok::Eof, {}, s_.size());
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(size_t offset, const std::string& message) const {
    throw_error(src_.pos(offset), message);
  }

  void push(Tok type, std::string text, size_t offset) {
    tokens_.push_back(Token{type, std::move(text), 0, 0, offset});
  }

  // OptionalLStrip: the text before a tag loses all trailing whitespace for `-`, and with lstrip_blocks the
  // spaces between the last newline and a block or comment tag unless the tag says `+`.
  void emit_data(std::string_view text, size_t offset, char sign, bool is_variable) {
    if (sign == '-') {
      text = rstrip(text);
    } else if (sign != '+' && !is_variable) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size() &&
          whitespace_run(text, l_pos) == text.size() - l_pos)
        text = text.substr(0, l_pos);
    }
    if (!text.empty()) push(Tok::Data, std::string(text), offset);
  }

  // After a tag's end: `-%}` eats all following whitespace, `%}` (trim_blocks) one newline.
  void after_end(bool strip_all, bool trim_newline) {
    if (strip_all) {
      pos_ += whitespace_run(s_, pos_);
    } else if (trim_newline && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > 0 && s_[pos_ - 1] == '\n';
  }

  // "{%" ("-"|"+"|"") \s* "raw" \s* ("-%}" \s* | "%}")
  bool match_raw_begin(size_t at, size_t& end, char& sign, bool& strip_after) const {
    size_t i = at + 2;
    sign = 0;
    if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) sign = s_[i++];
    i += whitespace_run(s_, i);
    if (!starts_with(s_, i, "raw")) return false;
    i += 3;
    i += whitespace_run(s_, i);
    if (starts_with(s_, i, "-%}")) {
      strip_after = true;
      end = i + 3;
      return true;
    }
    if (starts_with(s_, i, "%}")) {
      strip_after = false;
      end = i + 2;
      return true;
    }
    return false;
  }

  void root() {
    size_t tag = pos_;
    while (true) {
      tag = s_.find('{', tag);
      if (tag == std::string_view::npos || tag + 1 >= s_.size()) {
        push(Tok::Data, std::string(s_.substr(pos_)), pos_);
        pos_ = s_.size();
        return;
      }
      const char c = s_[tag + 1];
      if (c == '%' || c == '{' || c == '#') break;
      ++tag;
    }
    const std::string_view text = s_.substr(pos_, tag - pos_);
    const size_t text_offset = pos_;
    const char kind = s_[tag + 1];

    size_t raw_end;
    char sign;
    bool strip_after;
    if (kind == '%' && match_raw_begin(tag, raw_end, sign, strip_after)) {
      emit_data(text, text_offset, sign, false);
      pos_ = raw_end;
      after_end(strip_after, false);  // the raw tag's own end has no trim_blocks suffix
      raw(tag);
      return;
    }

    size_t i = tag + 2;
    sign = (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) ? s_[i] : 0;
    if (sign) ++i;
    emit_data(text, text_offset, sign, kind == '{');
    line_starting_ = false;
    pos_ = i;
    if (kind == '#') {
      comment(tag);
    } else {
      push(kind == '%' ? Tok::BlockBegin : Tok::VarBegin, {}, tag);
      inside_tag(kind == '%');
    }
  }

  // (.*?)((?:\+#}|\-#}\s*|#}\n?))
  void comment(size_t begin) {
    for (size_t p = pos_; p < s_.size(); ++p) {
      if (starts_with(s_, p, "+#}")) {
        pos_ = p + 3;
        after_end(false, false);
        return;
      }
      if (starts_with(s_, p, "-#}")) {
        pos_ = p + 3;
        after_end(true, false);
        return;
      }
      if (starts_with(s_, p, "#}")) {
        pos_ = p + 2;
        after_end(false, true);
        return;
      }
    }
    error(begin, "Missing end of comment tag");
  }

  // (.*?)((?:{%(\-|\+|))\s*endraw\s*(?:\+%}|\-%}\s*|%}\n?))
  void raw(size_t begin) {
    for (size_t p = s_.find("{%", pos_); p != std::string_view::npos; p = s_.find("{%", p + 1)) {
      size_t i = p + 2;
      const char sign = (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) ? s_[i] : 0;
      if (sign) ++i;
      i += whitespace_run(s_, i);
      if (!starts_with(s_, i, "endraw")) continue;
      i += 6;
      i += whitespace_run(s_, i);
      bool strip_all = false, trim = false;
      if (starts_with(s_, i, "+%}")) {
        i += 3;
      } else if (starts_with(s_, i, "-%}")) {
        i += 3;
        strip_all = true;
      } else if (starts_with(s_, i, "%}")) {
        i += 2;
        trim = true;
      } else {
        continue;
      }
      emit_data(s_.substr(pos_, p - pos_), pos_, sign, false);
      pos_ = i;
      after_end(strip_all, trim);
      return;
    }
    error(begin, "Missing end of raw directive");
  }

  void inside_tag(bool block) {
    std::vector<char> balance;  // closing brackets expected, innermost last
    while (true) {
      if (pos_ >= s_.size()) return;  // the parser reports the missing end
      if (balance.empty()) {
        if (block) {
          if (starts_with(s_, pos_, "+%}")) {
            push(Tok::BlockEnd, {}, pos_);
            pos_ += 3;
            after_end(false, false);
            return;
          }
          if (starts_with(s_, pos_, "-%}")) {
            push(Tok::BlockEnd, {}, pos_);
            pos_ += 3;
            after_end(true, false);
            return;
          }
          if (starts_with(s_, pos_, "%}")) {
            push(Tok::BlockEnd, {}, pos_);
            pos_ += 2;
            after_end(false, true);
            return;
          }
        } else {
          if (starts_with(s_, pos_, "-}}")) {
            push(Tok::VarEnd, {}, pos_);
            pos_ += 3;
            after_end(true, false);
            return;
          }
          if (starts_with(s_, pos_, "}}")) {
            push(Tok::VarEnd, {}, pos_);
            pos_ += 2;
            after_end(false, false);
            return;
          }
        }
      }
      if (size_t ws = whitespace_run(s_, pos_)) {
        pos_ += ws;
        continue;
      }
      if (number()) continue;
      if (name()) continue;
      if (s_[pos_] == '\'' || s_[pos_] == '"') {
        string_literal();
        continue;
      }
      op(balance);
    }
  }

  // Digits with optional single underscores between them: (\d+_)*\d+
  size_t digit_run(size_t i) const {
    const size_t start = i;
    while (i < s_.size() && ascii_digit(s_[i])) {
      ++i;
      if (i + 1 < s_.size() && s_[i] == '_' && ascii_digit(s_[i + 1])) ++i;
    }
    return i - start;
  }

  bool number() {
    const size_t start = pos_;
    if (!ascii_digit(s_[start])) return false;
    // float: (?<!\.)(\d+_)*\d+((\.(\d+_)*\d+)?e[+\-]?(\d+_)*\d+|\.(\d+_)*\d+)
    if (start == 0 || s_[start - 1] != '.') {
      size_t i = start + digit_run(start);
      size_t frac_end = i;
      bool has_frac = false;
      if (i < s_.size() && s_[i] == '.') {
        if (size_t n = digit_run(i + 1)) {
          frac_end = i + 1 + n;
          has_frac = true;
        }
      }
      size_t exp_end = 0;
      size_t e = frac_end;
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t k = e + 1;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        if (size_t n = digit_run(k)) exp_end = k + n;
      }
      if (has_frac || exp_end) {
        const size_t end = exp_end ? exp_end : frac_end;
        std::string clean;
        for (char c : s_.substr(start, end - start))
          if (c != '_') clean += c;
        Token t{Tok::Float, {}, 0, std::strtod(clean.c_str(), nullptr), start};
        tokens_.push_back(std::move(t));
        pos_ = end;
        return true;
      }
    }
    // integer: 0b(_?[01])+ | 0o(_?[0-7])+ | 0x(_?[\da-f])+ | [1-9](_?\d)* | 0(_?0)*
    int base = 10;
    size_t i = start;
    if (s_[i] == '0' && i + 1 < s_.size()) {
      const char p = char(s_[i + 1] | 0x20);
      base = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 10;
    }
    auto digit_value = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      c = char(c | 0x20);
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return 99;
    };
    uint64_t value = 0;
    bool overflow = false;
    auto add_digit = [&](int d) {
      if (value > (uint64_t(INT64_MAX) - uint64_t(d)) / uint64_t(base)) overflow = true;
      value = value * uint64_t(base) + uint64_t(d);
    };
    if (base != 10) {
      size_t k = i + 2;
      size_t count = 0;
      while (k < s_.size()) {
        size_t step = (s_[k] == '_' && k + 1 < s_.size()) ? 1 : 0;
        const int d = digit_value(s_[k + step]);
        if (d >= base) break;
        add_digit(d);
        k += step + 1;
        ++count;
      }
      if (count == 0)
        base = 10;  // "0b" alone: just the integer 0 followed by a name
      else
        i = k;
    }
    if (base == 10) {
      if (s_[start] == '0') {  // 0(_?0)*
        i = start + 1;
        while (i < s_.size() && (s_[i] == '0' || (s_[i] == '_' && i + 1 < s_.size() && s_[i + 1] == '0')))
          i += s_[i] == '_' ? 2 : 1;
      } else {
        i = start;
        while (i < s_.size() && ascii_digit(s_[i])) {
          add_digit(s_[i] - '0');
          ++i;
          if (i + 1 < s_.size() && s_[i] == '_' && ascii_digit(s_[i + 1])) ++i;
        }
      }
    }
    if (overflow) error(start, "integer literal too large (more than 64 bits)");
    Token t{Tok::Integer, {}, int64_t(value), 0, start};
    tokens_.push_back(std::move(t));
    pos_ = i;
    return true;
  }

  bool name() {
    size_t len;
    const char32_t c = utf8::decode(s_, pos_, len);
    if (!(c == '_' || utf8::is_alpha(c))) return false;
    size_t i = pos_ + len;
    while (i < s_.size()) {
      const char32_t d = utf8::decode(s_, i, len);
      if (!utf8::is_word(d)) break;
      i += len;
    }
    push(Tok::Name, std::string(s_.substr(pos_, i - pos_)), pos_);
    pos_ = i;
    return true;
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = char(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
  }

  // A quoted literal with Python's escapes (jinja2 decodes it with "unicode-escape").
  void string_literal() {
    const size_t start = pos_;
    const char quote = s_[pos_];
    std::string out;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= s_.size()) error(start, "unexpected char '" + std::string(1, quote) + "'");
      const char c = s_[i];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= s_.size()) error(start, "unexpected char '" + std::string(1, quote) + "'");
      const char e = s_[i + 1];
      i += 2;
      auto read_hex = [&](int digits, const char* what) -> char32_t {
        char32_t v = 0;
        for (int k = 0; k < digits; ++k) {
          const int h = i < s_.size() ? hex_value(s_[i]) : -1;
          if (h < 0) error(start, std::string("truncated ") + what + " escape");
          v = v * 16 + char32_t(h);
          ++i;
        }
        return v;
      };
      switch (e) {
        case '\n':
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
          utf8::append(out, read_hex(2, "\\xXX"));
          break;
        case 'u':
        case 'U': {
          const char32_t cp = read_hex(e == 'u' ? 4 : 8, e == 'u' ? "\\uXXXX" : "\\UXXXXXXXX");
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error(start, "illegal Unicode character");
          utf8::append(out, cp);
          break;
        }
        case 'N':
          error(start, "named Unicode escapes (\\N{...}) are not supported");
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = char32_t(e - '0');
            for (int k = 0; k < 2 && i < s_.size() && s_[i] >= '0' && s_[i] <= '7'; ++k)
              v = v * 8 + char32_t(s_[i++] - '0');
            utf8::append(out, v);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    push(Tok::String, std::move(out), start);
    pos_ = i + 1;
  }

  void op(std::vector<char>& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view o : kTwo)
      if (starts_with(s_, pos_, o)) {
        push(Tok::Op, std::string(o), pos_);
        pos_ += 2;
        return;
      }
    const char c = s_[pos_];
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      size_t len;
      utf8::decode(s_, pos_, len);
      error(pos_, "unexpected char " + repr_char(s_.substr(pos_, len)));
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error(pos_, std::string("unexpected '") + c + "'");
      const char expected = balance.back();
      balance.pop_back();
      if (expected != c) error(pos_, std::string("unexpected '") + c + "', expected '" + expected + "'");
    }
    push(Tok::Op, std::string(1, c), pos_);
    ++pos_;
  }

  static std::string repr_char(std::string_view c) { return "'" + std::string(c) + "'"; }

  const Source& src_;
  std::string_view s_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const Source& source) {
  return Lexer(source).run();
}

}  // namespace moe::jinja
