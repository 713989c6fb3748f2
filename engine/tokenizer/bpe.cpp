// The BPE model of tokenizer.json, as tokenizers' `BPE` runs it: a word is split into characters (byte
// fallback to <0xNN> tokens, or the unknown token, for characters outside the vocabulary), then merged with a
// priority queue over adjacent pairs (lowest merge rank first, leftmost first) on a linked list of symbols,
// so that a word of a million characters (SentencePiece-style text without a pre-tokenizer) merges in
// O(n log n). `ignore_merges` takes a word that is itself in the vocabulary whole. Words of byte-level
// tokenizers repeat, so their ids are cached.
#include <algorithm>
#include <cstdio>
#include <mutex>

#include "moe/error.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

constexpr size_t kCacheWordBytes = 256;  // tokenizers' MAX_LENGTH
constexpr size_t kCacheEntries = 1 << 17;
constexpr size_t kCutPieceBytes = 256;  // long words are cut into pieces of about this size

uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}
size_t pair_hash(uint64_t k) {
  k ^= k >> 29;
  k *= 0xBF58476D1CE4E5B9ull;
  k ^= k >> 32;
  return size_t(k);
}
constexpr uint64_t kEmpty = ~uint64_t(0);

std::string nullable_string(const json& model, const char* key, const std::string& where) {
  const json* v = find(model, key);
  if (!v) return {};
  if (!v->is_string()) fail(field(where, key), "expected a string or null");
  return v->get<std::string>();
}

}  // namespace

struct BpeModel::Cache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
};

BpeModel::~BpeModel() = default;

const BpeModel::Merge* BpeModel::find_merge(int32_t a, int32_t b) const {
  if (merge_keys_.empty()) return nullptr;
  const uint64_t key = pair_key(a, b);
  for (size_t i = pair_hash(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    if (merge_keys_[i] == key) return &merge_vals_[i];
    if (merge_keys_[i] == kEmpty) return nullptr;
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  const auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? nullptr : it->second;
}

std::unique_ptr<BpeModel> BpeModel::parse(const json& model, const std::string& where) {
  if (!model.is_object()) fail(where, "expected an object");
  const json* type = find(model, "type");
  if (type && (!type->is_string() || type->get<std::string>() != "BPE"))
    fail(field(where, "type"), "unsupported model " + type->dump() + " (only BPE is supported)");
  auto m = std::unique_ptr<BpeModel>(new BpeModel());

  // Vocabulary.
  const std::string wv = field(where, "vocab");
  const json& vocab = require(model, "vocab", where);
  if (!vocab.is_object()) fail(wv, "expected an object of token -> id");
  if (vocab.size() > kMaxVocab)
    fail(wv, std::to_string(vocab.size()) + " entries is more than the " + std::to_string(kMaxVocab) +
                 " accepted");
  m->vocab_.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId)
      fail(wv, "token \"" + token + "\" has id " + id.dump() + " (ids are integers from 0 to " +
                   std::to_string(kMaxTokenId) + ")");
    if (token.size() > kMaxTokenBytes) fail(wv, "a token of " + std::to_string(token.size()) + " bytes");
    m->vocab_.emplace(token, int32_t(id.get<int64_t>()));
  }
  for (const auto& [token, id] : m->vocab_) {
    m->id_to_token_.emplace(id, &token);  // the first entry wins when ids repeat
    m->max_id_ = std::max<int64_t>(m->max_id_, id);
  }

  m->prefix_ = nullable_string(model, "continuing_subword_prefix", where);
  m->suffix_ = nullable_string(model, "end_of_word_suffix", where);
  if (const json* unk = find(model, "unk_token")) {
    if (!unk->is_string()) fail(field(where, "unk_token"), "expected a string or null");
    m->unk_token_ = unk->get<std::string>();
    m->unk_id_ = m->token_to_id(*m->unk_token_);
  }
  m->fuse_unk_ = get_bool(model, "fuse_unk", where, false);
  m->byte_fallback_ = get_bool(model, "byte_fallback", where, false);
  m->ignore_merges_ = get_bool(model, "ignore_merges", where, false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m->byte_ids_[b] = m->token_to_id(name).value_or(-1);
  }
  if (m->prefix_.empty() && m->suffix_.empty()) {
    m->bmp_char_id_.assign(0x10000, -1);
    for (const auto& [token, id] : m->vocab_) {
      if (token.empty()) continue;
      size_t i = 0;
      const uint32_t cp = next_code_point(token, i);
      if (i == token.size() && cp < 0x10000) m->bmp_char_id_[cp] = id;
    }
  }

  // Merges: "a b" strings or ["a", "b"] pairs; the rank is the position in the list.
  const std::string wm = field(where, "merges");
  const json* merges = find(model, "merges");
  if (merges && !merges->is_array()) fail(wm, "expected a list");
  const size_t n = merges ? merges->size() : 0;
  if (n > kMaxMerges)
    fail(wm, std::to_string(n) + " merges is more than the " + std::to_string(kMaxMerges) + " accepted");
  size_t cap = 16;
  while (cap < n * 2)
    cap <<= 1;
  m->merge_keys_.assign(n ? cap : 0, kEmpty);
  m->merge_vals_.resize(n ? cap : 0);
  m->merge_mask_ = cap - 1;
  for (size_t r = 0; r < n; ++r) {
    const json& e = (*merges)[r];
    std::string a, b;
    if (e.is_string()) {
      const std::string& line = e.get_ref<const std::string&>();
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
        fail(index(wm, r), "expected \"a b\" (two tokens and one space), got \"" + line + "\"");
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      fail(index(wm, r), "expected \"a b\" or [\"a\", \"b\"], got " + e.dump());
    }
    const auto ia = m->token_to_id(a), ib = m->token_to_id(b);
    if (!ia) fail(index(wm, r), "token \"" + a + "\" is not in the vocabulary");
    if (!ib) fail(index(wm, r), "token \"" + b + "\" is not in the vocabulary");
    if (b.size() < m->prefix_.size() || b.compare(0, m->prefix_.size(), m->prefix_) != 0)
      fail(index(wm, r), "token \"" + b + "\" does not start with the continuing_subword_prefix");
    const std::string merged = a + b.substr(m->prefix_.size());
    const auto im = m->token_to_id(merged);
    if (!im) fail(index(wm, r), "merged token \"" + merged + "\" is not in the vocabulary");
    const uint64_t key = pair_key(*ia, *ib);
    for (size_t i = pair_hash(key) & m->merge_mask_;; i = (i + 1) & m->merge_mask_) {
      if (m->merge_keys_[i] == kEmpty || m->merge_keys_[i] == key) {  // a repeated pair: the later rank wins
        m->merge_keys_[i] = key;
        m->merge_vals_[i] = {int32_t(r), *im};
        break;
      }
    }
  }
  // Cutting long words is exact only when merges join plain characters: no prefix/suffix decoration, and
  // no merge of the unknown token or of byte-fallback tokens.
  m->cut_long_words_ = m->prefix_.empty() && m->suffix_.empty() && n > 0;
  std::vector<uint64_t> bigrams;
  for (size_t i = 0; i < m->merge_keys_.size() && m->cut_long_words_; ++i) {
    if (m->merge_keys_[i] == kEmpty) continue;
    const int32_t parts[2] = {int32_t(m->merge_keys_[i] >> 32), int32_t(uint32_t(m->merge_keys_[i]))};
    for (int32_t part : parts) {
      if ((m->unk_id_ && part == *m->unk_id_) || parse_byte_token(*m->id_to_token(part)))
        m->cut_long_words_ = false;
    }
    const std::string& t = *m->id_to_token(m->merge_vals_[i].new_id);
    size_t k = 0;
    uint32_t prev = next_code_point(t, k);
    while (k < t.size()) {
      const uint32_t cp = next_code_point(t, k);
      bigrams.push_back((uint64_t(prev) << 32) | cp);
      prev = cp;
    }
  }
  if (m->cut_long_words_) {
    std::sort(bigrams.begin(), bigrams.end());
    bigrams.erase(std::unique(bigrams.begin(), bigrams.end()), bigrams.end());
    size_t bcap = 16;
    while (bcap < bigrams.size() * 2)
      bcap <<= 1;
    m->bigram_keys_.assign(bcap, kEmpty);
    m->bigram_mask_ = bcap - 1;
    for (uint64_t key : bigrams)
      for (size_t i = pair_hash(key) & m->bigram_mask_;; i = (i + 1) & m->bigram_mask_)
        if (m->bigram_keys_[i] == kEmpty) {
          m->bigram_keys_[i] = key;
          break;
        }
  }
  m->cache_ = std::make_unique<Cache>();
  return m;
}

bool BpeModel::crossable(uint32_t left, uint32_t right) const {
  const uint64_t key = (uint64_t(left) << 32) | right;
  for (size_t i = pair_hash(key) & bigram_mask_;; i = (i + 1) & bigram_mask_) {
    if (bigram_keys_[i] == key) return true;
    if (bigram_keys_[i] == kEmpty) return false;
  }
}

void BpeModel::merge_long_word(std::string_view w, std::vector<int32_t>& out) const {
  size_t start = 0;
  size_t i = 0;
  uint32_t prev = 0;
  while (i < w.size()) {
    const size_t at = i;
    const uint32_t cp = next_code_point(w, i);
    // Cut before `cp` once the piece is long enough, where no merge joins prev and cp and cp is a known
    // character (so that a run of unknown characters, fused into one <unk>, is never split).
    if (at - start >= kCutPieceBytes && !crossable(prev, cp) && char_id(w.substr(at, i - at))) {
      merge_word(w.substr(start, at - start), out);
      start = at;
    }
    prev = cp;
  }
  merge_word(w.substr(start), out);
}

std::optional<int32_t> BpeModel::char_id(std::string_view chr) const {
  if (!bmp_char_id_.empty()) {
    size_t i = 0;
    const uint32_t cp = next_code_point(chr, i);
    if (cp < 0x10000) {
      const int32_t id = bmp_char_id_[cp];
      return id < 0 ? std::nullopt : std::optional<int32_t>(id);
    }
  }
  return token_to_id(chr);
}

void BpeModel::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> syms;
  syms.clear();
  const auto add = [&](int32_t id, uint32_t len) {
    const int32_t n = int32_t(syms.size());
    if (n > 0) syms.back().next = n;
    syms.push_back({id, n - 1, -1, len});
  };
  bool have_unk = false;
  int32_t unk_id = 0;
  uint32_t unk_len = 0;
  const bool plain = prefix_.empty() && suffix_.empty();
  std::string s;
  for (size_t i = 0; i < w.size();) {
    const size_t start = i;
    i += utf8_len(uint8_t(w[i]));
    const uint32_t byte_len = uint32_t(i - start);
    std::optional<int32_t> id;
    if (plain) {
      id = char_id(w.substr(start, byte_len));
    } else {
      s.clear();
      if (start != 0) s += prefix_;
      s.append(w.data() + start, byte_len);
      if (i == w.size()) s += suffix_;
      id = token_to_id(s);
    }
    if (id) {
      if (have_unk) {
        add(unk_id, unk_len);
        have_unk = false;
      }
      add(*id, byte_len);
      continue;
    }
    if (byte_fallback_) {
      const std::string_view bytes = plain ? w.substr(start, byte_len) : std::string_view(s);
      bool all = true;
      for (char c : bytes)
        all = all && byte_ids_[uint8_t(c)] >= 0;
      if (all) {
        for (char c : bytes)
          add(byte_ids_[uint8_t(c)], 1);
        continue;
      }
    }
    if (unk_token_) {
      if (!unk_id_) throw Error("tokenizer: unk_token \"" + *unk_token_ + "\" is not in the vocabulary");
      if (have_unk && fuse_unk_) {
        unk_len += byte_len;
      } else {
        if (have_unk) add(unk_id, unk_len);
        have_unk = true;
        unk_id = *unk_id_;
        unk_len = byte_len;
      }
    }
  }
  if (have_unk) add(unk_id, unk_len);

  // Word::merge_all: lowest rank first, then leftmost position.
  struct Candidate {
    int32_t rank, pos, new_id;
  };
  const auto worse = [](const Candidate& x, const Candidate& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  thread_local std::vector<Candidate> heap;
  heap.clear();
  for (size_t k = 0; k + 1 < syms.size(); ++k)
    if (const Merge* mg = find_merge(syms[k].id, syms[k + 1].id))
      heap.push_back({mg->rank, int32_t(k), mg->new_id});
  std::make_heap(heap.begin(), heap.end(), worse);
  const int32_t count = int32_t(syms.size());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& cur = syms[size_t(top.pos)];
    if (cur.len == 0 || cur.next == -1) continue;
    const int32_t next_pos = cur.next;
    const Symbol right = syms[size_t(next_pos)];
    const Merge* now = find_merge(cur.id, right.id);
    if (!now || now->new_id != top.new_id) continue;  // an expired entry
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    syms[size_t(next_pos)].len = 0;
    if (right.next > -1 && right.next < count) syms[size_t(right.next)].prev = top.pos;
    if (cur.prev >= 0) {
      if (const Merge* mg = find_merge(syms[size_t(cur.prev)].id, cur.id)) {
        heap.push_back({mg->rank, cur.prev, mg->new_id});
        std::push_heap(heap.begin(), heap.end(), worse);
      }
    }
    if (cur.next >= 0 && cur.next < count) {
      if (const Merge* mg = find_merge(cur.id, syms[size_t(cur.next)].id)) {
        heap.push_back({mg->rank, top.pos, mg->new_id});
        std::push_heap(heap.begin(), heap.end(), worse);
      }
    }
  }
  for (const Symbol& sym : syms)
    if (sym.len != 0) out.push_back(sym.id);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    const auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  if (cut_long_words_ && word.size() > 2 * kCutPieceBytes)
    merge_long_word(word, out);
  else
    merge_word(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->words.size() >= kCacheEntries) cache_->words.clear();
    cache_->words.emplace(std::string(word), std::vector<int32_t>(out.begin() + long(first), out.end()));
  }
}

}  // namespace moe::tok
