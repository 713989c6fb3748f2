// Where tokenizers' Unicode data and ours differ, as measured on tokenizers itself by
// tools/gen_unicode_tables.py (unicode_tables.inc): property members that PCRE2's and utf8proc's tables lack,
// characters tokenizers' older normalization tables do not know, newer lowercase pairs, and tokenizers' own
// punctuation and combining-mark sets.
#include <algorithm>
#include <cstdio>
#include <iterator>

#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

struct CodeRange {
  uint32_t first, last;
};
struct PropertyRanges {
  const char* property;
  std::vector<CodeRange> ranges;
};

#include "tokenizer/unicode_tables.inc"

template <typename It>
bool in_ranges(It begin, It end, uint32_t cp) {
  const auto it =
      std::upper_bound(begin, end, cp, [](uint32_t c, const CodeRange& r) { return c < r.first; });
  return it != begin && cp <= std::prev(it)->last;
}

const std::vector<CodeRange>& property(std::string_view name) {
  static const std::vector<CodeRange> none;
  for (const PropertyRanges& p : kPropertyExtra)
    if (name == p.property) return p.ranges;
  return none;
}

}  // namespace

std::string property_extra_ranges(std::string_view name) {
  std::string out;
  char buf[48];
  for (const CodeRange& r : property(name)) {
    if (r.first == r.last)
      std::snprintf(buf, sizeof(buf), "\\x{%X}", r.first);
    else
      std::snprintf(buf, sizeof(buf), "\\x{%X}-\\x{%X}", r.first, r.last);
    out += buf;
  }
  return out;
}

bool in_property_extra(std::string_view name, uint32_t cp) {
  const auto& r = property(name);
  return in_ranges(r.begin(), r.end(), cp);
}

bool unknown_to_reference_normalizer(uint32_t cp) {
  return in_ranges(std::begin(kNormalizationUnknown), std::end(kNormalizationUnknown), cp);
}

bool is_reference_punctuation(uint32_t cp) {
  return in_ranges(std::begin(kPunctuation), std::end(kPunctuation), cp);
}

bool is_reference_combining_mark(uint32_t cp) {
  return in_ranges(std::begin(kCombiningMark), std::end(kCombiningMark), cp);
}

uint32_t reference_lowercase_extra(uint32_t cp) {
  const auto it = std::lower_bound(std::begin(kLowercaseExtra), std::end(kLowercaseExtra), cp,
                                   [](const CodeRange& r, uint32_t c) { return r.first < c; });
  return it != std::end(kLowercaseExtra) && it->first == cp ? it->last : 0;
}

}  // namespace moe::tok
