// Added and special tokens, as tokenizers' AddedVocabulary finds them: before anything else, in the raw text
// (tokens with normalized=false) and then in each normalized piece (normalized=true), leftmost-longest, with
// the lstrip/rstrip (swallow neighbouring whitespace) and single_word (not inside a word) options. Special
// tokens are always matched, whether or not the post-processor adds any.
#include "moe/error.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t start = s.size() - 1;
  while (start > 0 && (uint8_t(s[start]) & 0xC0) == 0x80)
    --start;
  size_t i = start;
  return is_word_char(next_code_point(s, i));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  return is_word_char(next_code_point(s, i));
}

// Start of the whitespace run that ends `s` (s.size() when none).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (uint8_t(s[start]) & 0xC0) == 0x80)
      --start;
    size_t i = start;
    if (!is_white_space(next_code_point(s, i))) break;
    end = start;
  }
  return end;
}

// Length of the whitespace run that begins `s`.
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t k = i;
    if (!is_white_space(next_code_point(s, k))) break;
    i = k;
  }
  return i;
}

}  // namespace

void AddedVocabulary::Trie::add(const std::string& pattern, int32_t token) {
  if (pattern.empty()) return;
  int32_t node = root[uint8_t(pattern[0])];
  if (node < 0) {
    node = int32_t(nodes.size());
    nodes.emplace_back();
    root[uint8_t(pattern[0])] = node;
  }
  for (size_t k = 1; k < pattern.size(); ++k) {
    const uint8_t b = uint8_t(pattern[k]);
    int32_t child = -1;
    for (const auto& [byte, n] : nodes[size_t(node)].next)
      if (byte == b) child = n;
    if (child < 0) {
      child = int32_t(nodes.size());
      nodes[size_t(node)].next.emplace_back(b, child);
      nodes.emplace_back();
    }
    node = child;
  }
  if (nodes[size_t(node)].token < 0) nodes[size_t(node)].token = token;
}

void AddedVocabulary::Trie::matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans,
                                    std::vector<int32_t>& tokens) const {
  spans.clear();
  tokens.clear();
  for (size_t pos = 0; pos < text.size();) {
    int32_t node = root[uint8_t(text[pos])];
    if (node < 0) {
      ++pos;
      continue;
    }
    size_t best_len = 0;
    int32_t best = -1;
    for (size_t k = pos + 1;; ++k) {
      if (nodes[size_t(node)].token >= 0) {
        best = nodes[size_t(node)].token;
        best_len = k - pos;
      }
      if (k == text.size()) break;
      const uint8_t b = uint8_t(text[k]);
      int32_t child = -1;
      for (const auto& [byte, n] : nodes[size_t(node)].next)
        if (byte == b) {
          child = n;
          break;
        }
      if (child < 0) break;
      node = child;
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    spans.emplace_back(pos, pos + best_len);
    tokens.push_back(best);
    pos += best_len;
  }
}

void AddedVocabulary::build(const json& list, const BpeModel& model, const Normalizer* normalizer,
                            const std::string& where) {
  if (!list.is_array()) fail(where, "expected a list");
  if (list.size() > kMaxAddedTokens)
    fail(where, std::to_string(list.size()) + " added tokens is more than the " +
                    std::to_string(kMaxAddedTokens) + " accepted");
  std::vector<AddedToken> specials, others;  // tokenizers' special_tokens and added_tokens lists
  std::unordered_map<int32_t, AddedToken> by_id;
  std::unordered_set<std::string> registered;  // content + flags of the tokens in by_id
  int64_t max_added = -1;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string w = index(where, i);
    const json& e = list[i];
    if (!e.is_object()) fail(w, "expected an object");
    AddedToken t;
    t.content = get_string(e, "content", w);
    if (t.content.size() > kMaxTokenBytes)
      fail(field(w, "content"), "longer than " + std::to_string(kMaxTokenBytes) + " bytes");
    get_int(e, "id", w, 0, kMaxTokenId);  // checked; the id itself is assigned as tokenizers assigns it
    t.special = get_bool(e, "special", w, false);
    t.single_word = get_bool(e, "single_word", w, false);
    t.lstrip = get_bool(e, "lstrip", w, false);
    t.rstrip = get_bool(e, "rstrip", w, false);
    t.normalized = get_bool(e, "normalized", w, !t.special);
    if (t.content.empty()) continue;
    if (t.special && !special_.count(t.content)) {
      specials.push_back(t);
      special_.insert(t.content);
    }
    // An identical token (all fields equal) already registered is ignored.
    std::string signature = t.content;
    for (bool flag : {t.single_word, t.lstrip, t.rstrip, t.normalized, t.special})
      signature += flag ? '1' : '0';
    if (registered.count(signature)) continue;
    std::optional<int32_t> id;
    if (const auto it = by_content_.find(t.content); it != by_content_.end())
      id = it->second;
    else
      id = model.token_to_id(t.content);
    if (!id) {
      const int64_t vocab = int64_t(model.size());
      int64_t next = vocab;
      if (max_added >= 0) next = (max_added >= vocab || vocab == 0) ? max_added + 1 : vocab;
      if (next > kMaxTokenId) fail(w, "no id left for token \"" + t.content + "\"");
      id = int32_t(next);
    }
    t.id = *id;
    by_content_[t.content] = *id;
    max_added = std::max<int64_t>(max_added, *id);
    if (const auto it = by_id.find(*id); it != by_id.end()) {  // the id's previous token is replaced
      std::string old = it->second.content;
      for (bool flag : {it->second.single_word, it->second.lstrip, it->second.rstrip, it->second.normalized,
                        it->second.special})
        old += flag ? '1' : '0';
      registered.erase(old);
    }
    by_id[*id] = t;
    registered.insert(signature);
    if (!special_.count(t.content)) others.push_back(t);
  }

  tokens_.clear();
  for (auto& [id, t] : by_id) {
    by_id_[id] = tokens_.size();
    tokens_.push_back(t);
    max_id_ = std::max<int64_t>(max_id_, id);
  }
  raw_ = Trie();
  normalized_ = Trie();
  for (const auto* part : {&specials, &others}) {
    for (const AddedToken& t : *part) {
      const int32_t id = by_content_.at(t.content);
      if (!t.normalized) {
        raw_.add(t.content, id);
      } else {
        std::string content = t.content;
        if (normalizer) normalizer->normalize(content);
        normalized_.add(content, id);
      }
    }
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Piece>& out) const {
  out.clear();
  thread_local std::vector<std::pair<size_t, size_t>> spans;
  thread_local std::vector<int32_t> ids;
  (normalized ? normalized_ : raw_).matches(text, spans, ids);
  size_t offset = 0;
  for (size_t m = 0; m < spans.size(); ++m) {
    size_t start = spans[m].first, stop = spans[m].second;
    const AddedToken* t = by_id(ids[m]);
    if (!t) continue;
    if (t->single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (t->lstrip) start = std::max(trailing_space_start(text.substr(0, start)), offset);
    if (t->rstrip) stop += leading_space_len(text.substr(stop));
    if (offset < start) out.push_back({offset, start, -1});
    out.push_back({start, stop, ids[m]});
    offset = stop;
  }
  if (offset < text.size()) out.push_back({offset, text.size(), -1});
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace moe::tok
