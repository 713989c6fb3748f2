// Regular expressions of tokenizer.json (Split pre-tokenizers, Replace normalizers/decoders, the ByteLevel
// regex) through PCRE2 with Unicode properties. tokenizers runs them with Oniguruma; the differences that
// matter are bridged here: Oniguruma's \uHHHH and \h escapes, and the way the `onig` crate iterates matches
// (an empty match directly after the previous match is skipped by stepping one character).
#include <pcre2.h>

#include <algorithm>
#include <cstdio>

#include "moe/error.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

constexpr size_t kMaxPatternBytes = 1 << 16;

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Oniguruma's \s: White_Space (PCRE2 adds U+180E).
const char* const kSpace =
    "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// The members of a class item: what goes between [ and ].
std::string word_members() {
  // Oniguruma's \w also takes the Latin-1 superscripts and fractions, and leaves out ZWJ/ZWNJ.
  return "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}" +
         property_extra_ranges("Alphabetic") + property_extra_ranges("M") + property_extra_ranges("Nd");
}

// Rewrites what PCRE2 reads differently from Oniguruma (Ruby syntax, as tokenizers compiles it): \uHHHH and
// \h escapes, \s \w \d with Oniguruma's Unicode definitions, and property classes completed with the
// characters PCRE2's older Unicode tables lack. Negated forms inside a bracket class are left as they are.
std::string translate_oniguruma(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 8);
  bool in_class = false;
  size_t class_start = 0;
  const auto emit_class = [&](const std::string& members, bool negated) {
    if (in_class) {
      out += members;
    } else {
      out += negated ? "[^" : "[";
      out += members;
      out += "]";
    }
  };
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 'u' && i + 5 < p.size() && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4]) &&
          is_hex(p[i + 5])) {
        out += "\\x{" + p.substr(i + 2, 4) + "}";
        i += 5;
      } else if (n == 'h' || (n == 'H' && !in_class)) {
        emit_class("0-9A-Fa-f", n == 'H');
        ++i;
      } else if (n == 's' || (n == 'S' && !in_class)) {
        emit_class(kSpace, n == 'S');
        ++i;
      } else if (n == 'w' || (n == 'W' && !in_class)) {
        emit_class(word_members(), n == 'W');
        ++i;
      } else if (n == 'd' || (n == 'D' && !in_class)) {
        emit_class("\\p{Nd}" + property_extra_ranges("Nd"), n == 'D');
        ++i;
      } else if ((n == 'p' || (n == 'P' && !in_class)) && i + 2 < p.size() && p[i + 2] == '{') {
        std::string name;
        size_t len = 0;
        if (const size_t close = p.find('}', i + 3); close != std::string::npos) {
          name = p.substr(i + 3, close - i - 3);
          len = close - i + 1;
        }
        const std::string extra =
            name.empty() || name[0] == '^' ? std::string() : property_extra_ranges(name);
        if (extra.empty()) {
          out += c;
          out += n;
          ++i;
          continue;
        }
        emit_class("\\p{" + name + "}" + extra, n == 'P');
        i += len - 1;
      } else {
        out += c;
        out += n;
        ++i;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += '[';
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      class_start = out.size();
      continue;
    }
    if (c == ']' && in_class && out.size() > class_start) in_class = false;
    out += c;
  }
  return out;
}

// Per-thread match state: one match data block (a single pair suffices, captures are not read), a match
// context with limits, and a JIT stack.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    if (context) {
      pcre2_set_match_limit(context, 10'000'000);
      pcre2_set_depth_limit(context, 100'000);
      if (jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
  }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  if (!state.data || !state.context) throw Error("tokenizer: out of memory for regex matching");
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof(buf));
  return n > 0 ? std::string(reinterpret_cast<const char*>(buf), size_t(n)) : "error " + std::to_string(code);
}

}  // namespace

Regex::Regex(const std::string& pattern, bool literal, const std::string& where) : pattern_(pattern) {
  if (pattern.size() > kMaxPatternBytes)
    fail(where, "pattern of " + std::to_string(pattern.size()) + " bytes is too long");
  const std::string source = literal ? pattern : translate_oniguruma(pattern);
  const uint32_t options = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &code,
                                 &offset, nullptr);
  if (!re)
    fail(where, "invalid regex \"" + pattern + "\": " + pcre2_message(code) + " (at offset " +
                    std::to_string(offset) + ")");
  code_ = re;
  jit_ = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  auto* re = static_cast<pcre2_code*>(code_);
  MatchState& st = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    int rc;
    if (jit_) {
      rc = pcre2_jit_match(re, subject, text.size(), last_end, 0, st.data, st.context);
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)  // JIT stack or limits: retry with the interpreter
        rc = pcre2_match(re, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, st.data,
                         st.context);
    } else {
      rc = pcre2_match(re, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, st.data, st.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      throw Error("tokenizer: regex \"" + pattern_ + "\" failed on the input: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const size_t s = ov[0], e = ov[1];
    if (s > e || e > text.size()) break;  // \K tricks: not produced by tokenizer patterns
    if (s == e && have_last && last_match_end == e) {
      last_end += last_end < text.size() ? utf8_len(uint8_t(text[last_end])) : 1;
      continue;
    }
    last_end = e;
    have_last = true;
    last_match_end = e;
    out.emplace_back(s, e);
  }
}

void regex_spans(const Regex& re, std::string_view text, std::vector<Span>& out) {
  out.clear();
  if (text.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  thread_local std::vector<std::pair<size_t, size_t>> matches;
  matches.clear();
  re.find_all(text, matches);
  size_t prev = 0;
  for (const auto& [s, e] : matches) {
    if (prev != s) out.push_back({prev, s, false});
    out.push_back({s, e, true});
    prev = e;
  }
  if (prev != text.size()) out.push_back({prev, text.size(), false});
}

SplitBehavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  fail(where, "unknown split behavior \"" + name + "\"");
}

void apply_behavior(const std::vector<Span>& spans, SplitBehavior behavior,
                    std::vector<std::pair<size_t, size_t>>& out) {
  out.clear();
  struct Keep {
    size_t start, end;
    bool remove;
  };
  thread_local std::vector<Keep> acc;
  acc.clear();
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Span& s : spans)
        acc.push_back({s.start, s.end, false});
      break;
    case SplitBehavior::Removed:
      for (const Span& s : spans)
        acc.push_back({s.start, s.end, s.is_match});
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const Span& s : spans) {
        if (s.is_match == previous && !acc.empty())
          acc.back().end = s.end;
        else
          acc.push_back({s.start, s.end, false});
        previous = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous && !acc.empty())
          acc.back().end = s.end;
        else
          acc.push_back({s.start, s.end, false});
        previous = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous && !acc.empty())
          acc.back().start = it->start;
        else
          acc.push_back({it->start, it->end, false});
        previous = it->is_match;
      }
      std::reverse(acc.begin(), acc.end());
      break;
    }
  }
  for (const Keep& k : acc)
    if (!k.remove && k.start != k.end) out.emplace_back(k.start, k.end);
}

}  // namespace moe::tok
