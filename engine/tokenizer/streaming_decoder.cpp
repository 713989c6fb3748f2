// StreamingDecoder: text out of generated ids, one id at a time. It decodes a short window of ids and emits
// what the window adds beyond the text already emitted for it; while the window's text ends in U+FFFD (a
// character whose bytes have not all arrived) nothing is emitted. After an emission the window shrinks to the
// last ids that decode on their own to the end of the text (as tokenizers' DecodeStream keeps its prefix),
// kept as context: decoders that treat the first token specially (Metaspace, Strip) then see the same first
// token in every decode, and byte tokens of one character stay together.
#include <algorithm>

#include "moe/tokenizer.h"

namespace moe {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
// The context kept after an emission is at most kMaxContextIds ids; a character's bytes come in at most 4
// more. A window of kMaxHeldIds ids whose text still ends in U+FFFD holds a real one (the model's own): it is
// let out.
constexpr size_t kMaxContextIds = 8;
constexpr size_t kMaxHeldIds = 16;

bool ends_with_replacement(const std::string& s) {
  return s.size() >= kReplacement.size() &&
         s.compare(s.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0;
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tok_(tokenizer), skip_special_(skip_special) {}

std::string StreamingDecoder::push(int32_t id) {
  ids_.push_back(id);
  const std::string text = tok_.decode(ids_, skip_special_);
  if (text.size() <= emitted_bytes_) return {};
  if (ends_with_replacement(text) && ids_.size() < kMaxHeldIds) return {};
  size_t cut = emitted_bytes_;
  while (cut < text.size() && (uint8_t(text[cut]) & 0xC0) == 0x80)  // never split a character
    ++cut;
  std::string piece = text.substr(cut);
  // The new window: the shortest run of last ids that decodes on its own to the end of `text`, starting with
  // a whole character (a lone byte token would not: it belongs to the bytes before it).
  size_t keep = 1;
  std::string context;
  for (size_t k = 1; k <= std::min(ids_.size(), kMaxContextIds); ++k) {
    const std::vector<int32_t> tail(ids_.end() - long(k), ids_.end());
    std::string t = tok_.decode(tail, skip_special_);
    if (!t.empty() && t.size() <= text.size() && text.compare(text.size() - t.size(), t.size(), t) == 0 &&
        t.compare(0, kReplacement.size(), kReplacement) != 0) {
      keep = k;
      context = std::move(t);
      break;
    }
    if (k == 1) context = std::move(t);
  }
  ids_.erase(ids_.begin(), ids_.end() - long(keep));
  emitted_bytes_ = context.size();
  return piece;
}

std::string StreamingDecoder::flush() {
  std::string rest;
  if (!ids_.empty()) {
    const std::string text = tok_.decode(ids_, skip_special_);
    if (text.size() > emitted_bytes_) rest = text.substr(emitted_bytes_);
  }
  ids_.clear();
  emitted_bytes_ = 0;
  return rest;
}

}  // namespace moe
