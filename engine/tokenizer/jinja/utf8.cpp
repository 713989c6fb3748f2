// UTF-8 decoding and the Unicode character classes Python's str methods use (via utf8proc).
#include "tokenizer/jinja/utf8.h"

#include <utf8proc.h>

#include <algorithm>

#include "tokenizer/jinja/special_casing.h"

namespace moe::jinja::utf8 {

char32_t decode(std::string_view s, size_t i, size_t& len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  len = 1;
  if (b0 < 0x80) return b0;
  int need;
  char32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    need = 1;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    need = 2;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    need = 3;
    cp = b0 & 0x07;
  } else {
    return 0xDC00 + b0;
  }
  if (i + size_t(need) >= s.size()) return 0xDC00 + b0;
  for (int k = 1; k <= need; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0xDC00 + b0;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are malformed.
  static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xDC00 + b0;
  len = size_t(need) + 1;
  return cp;
}

void append(std::string& out, char32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {  // a malformed byte kept as it was
    out += char(cp - 0xDC00);
  } else if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0, len; i < s.size(); i += len) {
    decode(s, i, len);
    ++n;
  }
  return n;
}

std::vector<size_t> offsets(std::string_view s) {
  std::vector<size_t> v;
  v.reserve(s.size() + 1);
  for (size_t i = 0, len; i < s.size(); i += len) {
    decode(s, i, len);
    v.push_back(i);
  }
  v.push_back(s.size());
  return v;
}

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> v;
  v.reserve(s.size());
  for (size_t i = 0, len; i < s.size(); i += len)
    v.push_back(decode(s, i, len));
  return v;
}

std::string encode(const std::vector<char32_t>& cps) {
  std::string s;
  s.reserve(cps.size());
  for (char32_t c : cps)
    append(s, c);
  return s;
}

bool valid(std::string_view s) {
  for (size_t i = 0, len; i < s.size(); i += len) {
    const char32_t c = decode(s, i, len);
    if (c >= 0xDC80 && c <= 0xDCFF) return false;
  }
  return true;
}

namespace {

utf8proc_category_t category(char32_t c) {
  if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(utf8proc_int32_t(c));
}

bool is_malformed(char32_t c) {
  return c >= 0xDC80 && c <= 0xDCFF;
}

}  // namespace

bool is_space(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (is_malformed(c)) return false;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

bool is_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return !is_malformed(c) && category(c) == UTF8PROC_CATEGORY_ND;
}

bool is_alnum(char32_t c) {
  if (is_alpha(c) || is_digit(c)) return true;
  if (c < 0x80 || is_malformed(c)) return false;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool is_upper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  return !is_malformed(c) && (category(c) == UTF8PROC_CATEGORY_LU || category(c) == UTF8PROC_CATEGORY_LT);
}

bool is_lower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  return !is_malformed(c) && category(c) == UTF8PROC_CATEGORY_LL;
}

bool is_printable(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x80) return c > 0x20 && c < 0x7F;
  if (is_malformed(c)) return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool is_word(char32_t c) {
  if (c == '_') return true;
  if (is_alnum(c)) return true;
  if (c < 0x80 || is_malformed(c)) return false;
  const auto k = category(c);  // Python's \w also takes combining marks of letters
  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC;
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (is_malformed(c) || c > 0x10FFFF) return c;
  return char32_t(utf8proc_toupper(utf8proc_int32_t(c)));
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (is_malformed(c) || c > 0x10FFFF) return c;
  return char32_t(utf8proc_tolower(utf8proc_int32_t(c)));
}

char32_t to_title(char32_t c) {
  if (c < 0x80) return to_upper(c);
  if (is_malformed(c) || c > 0x10FFFF) return c;
  return char32_t(utf8proc_totitle(utf8proc_int32_t(c)));
}

namespace {

template <size_t N>
const char* special(const SpecialCase (&table)[N], char32_t c) {
  if (c < 0xDF) return nullptr;
  auto it = std::lower_bound(std::begin(table), std::end(table), c,
                             [](const SpecialCase& e, char32_t x) { return e.code_point < x; });
  return it != std::end(table) && it->code_point == c ? it->mapping : nullptr;
}

}  // namespace

void append_upper(std::string& out, char32_t c) {
  if (const char* m = special(kSpecialUpper, c))
    out += m;
  else
    append(out, to_upper(c));
}

void append_lower(std::string& out, char32_t c) {
  if (const char* m = special(kSpecialLower, c))
    out += m;
  else
    append(out, to_lower(c));
}

void append_title(std::string& out, char32_t c) {
  if (const char* m = special(kSpecialTitle, c))
    out += m;
  else
    append(out, to_title(c));
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0, len; i < s.size(); i += len)
    append_upper(out, decode(s, i, len));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0, len; i < s.size(); i += len)
    append_lower(out, decode(s, i, len));
  return out;
}

}  // namespace moe::jinja::utf8
