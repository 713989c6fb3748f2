// Internal pieces of the tokenizer (engine/tokenizer/*.cpp): the stages of Hugging Face `tokenizers`'
// pipeline (added tokens -> normalizer -> pre-tokenizer -> model -> post-processor; decoder on the way back),
// each parsed from its tokenizer.json object. Not part of the public API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace moe::tok {

using json = nlohmann::json;

// ---- Limits on what a file may declare (tokenizer_json.cpp checks them) ----
inline constexpr int64_t kMaxTokenId = (int64_t(1) << 24) - 1;  // largest id accepted (16.7M; real: < 300k)
inline constexpr size_t kMaxVocab = size_t(1) << 22;            // vocabulary entries
inline constexpr size_t kMaxMerges = size_t(1) << 24;           // merge rules
inline constexpr size_t kMaxAddedTokens = size_t(1) << 20;
inline constexpr size_t kMaxTokenBytes = size_t(1) << 16;  // one vocabulary entry or added token
inline constexpr int kMaxNesting = 32;                     // Sequence inside Sequence...

// ---- JSON access with errors naming the file and the field (tokenizer_json.cpp) ----
// `where` reads "FILE: field.path"; sub-fields are appended with '.' or [i]. The top level is "FILE:".
[[noreturn]] void fail(const std::string& where, const std::string& what);
const json* find(const json& object, const char* key);  // nullptr when absent or null
const json& require(const json& object, const char* key, const std::string& where);
std::string get_string(const json& object, const char* key, const std::string& where,
                       std::optional<std::string> fallback = std::nullopt);
bool get_bool(const json& object, const char* key, const std::string& where, bool fallback);
int64_t get_int(const json& object, const char* key, const std::string& where, int64_t lo, int64_t hi,
                std::optional<int64_t> fallback = std::nullopt);
std::string type_of(const json& object, const std::string& where);  // the "type" field
std::string field(const std::string& where, const char* key);       // where + "." + key
std::string index(const std::string& where, size_t i);              // where + "[i]"

// ---- tokenizer_config.json (tokenizer_json.cpp) ----
struct TokenizerConfig {
  std::string chat_template;
  std::optional<std::string> bos_token, eos_token;
  bool add_bos_token = false, add_eos_token = false;  // used when tokenizer.json has no post-processor
};
TokenizerConfig parse_config(const json* config, const std::string& where);

// ---- UTF-8 (utf8.cpp). Functions taking valid UTF-8 assume it. ----
inline size_t utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
uint32_t next_code_point(std::string_view s, size_t& i);  // valid UTF-8; advances i
void append_utf8(std::string& out, uint32_t cp);
bool is_valid_utf8(std::string_view s);
// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);
bool is_white_space(uint32_t cp);  // Unicode White_Space (Rust char::is_whitespace, regex \s)
bool is_word_char(uint32_t cp);    // regex crate \w: Alphabetic, marks, Nd, Pc, Join_Control
bool is_numeric(uint32_t cp);      // Rust char::is_numeric: Nd, Nl, No
// "<0xAB>" -> 0xAB as tokenizers' ByteFallback reads it (u8::from_str_radix on the two characters).
std::optional<uint8_t> parse_byte_token(std::string_view token);

// ---- Where tokenizers' Unicode data differs from PCRE2's and utf8proc's (unicode_tables.cpp) ----
// Members of a property (regex names such as L, Nd, Alphabetic; "numeric" for Rust's char::is_numeric; "word"
// for the regex crate's \w) that PCRE2/utf8proc lack: as PCRE2 class items "\x{..}-\x{..}", or one by one.
std::string property_extra_ranges(std::string_view property);
bool in_property_extra(std::string_view property, uint32_t cp);
bool unknown_to_reference_normalizer(uint32_t cp);  // tokenizers' normalizers leave it as it is
bool is_reference_punctuation(uint32_t cp);         // Punctuation / BertPreTokenizer
bool is_reference_combining_mark(uint32_t cp);      // what StripAccents removes
uint32_t reference_lowercase_extra(uint32_t cp);    // a newer lowercase mapping, 0 if none

// ---- Regular expressions through PCRE2 (regex.cpp) ----
// Compiled with UTF and UCP. Oniguruma-only escapes (\uHHHH, \h, \H), which tokenizers' patterns may use,
// are translated first. Matches are produced as the `onig` crate's find_iter yields them: an empty match
// right after the previous match is skipped by advancing one character.
class Regex {
 public:
  // literal: the pattern is a plain string (tokenizers' {"String": ...} patterns).
  Regex(const std::string& pattern, bool literal, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Appends (start, end) byte offsets of the matches in `text` (valid UTF-8).
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code*
  bool jit_ = false;
};

// (start, end, is_match) pieces covering a string, as tokenizers' Pattern::find_matches returns them.
struct Span {
  size_t start, end;
  bool is_match;
};
// {"String": "..."} or {"Regex": "..."}: the pattern objects of Split, Replace and the Replace decoder.
std::unique_ptr<Regex> parse_pattern(const json& j, const std::string& where);
void regex_spans(const Regex& re, std::string_view text, std::vector<Span>& out);
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_behavior(const std::string& name, const std::string& where);
// NormalizedString::split: applies the behaviour to the spans; returns the kept (start, end) ranges, empty
// ones dropped.
void apply_behavior(const std::vector<Span>& spans, SplitBehavior behavior,
                    std::vector<std::pair<size_t, size_t>>& out);

// ---- Normalizers (normalizers.cpp) ----
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  void normalize(std::string& text) const {
    bool moved = false;
    apply(text, moved);
  }
  // start_moved: set when the text no longer begins with what was its first character (Strip removed it...):
  // tokenizers' Metaspace "first" prepends only to text that starts at offset 0 of the original.
  virtual void apply(std::string& text, bool& start_moved) const = 0;
};
std::unique_ptr<Normalizer> parse_normalizer(const json& j, const std::string& where, int depth = 0);

// ---- Pre-tokenizers (pre_tokenizers.cpp) ----
struct Split {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the original text (Metaspace prepend_scheme "first")
};
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces the splits by their pre-tokenized pieces (empty pieces dropped).
  virtual void pre_tokenize(std::vector<Split>& splits) const;
  // One split into pieces; the default pre_tokenize() calls it for every split.
  virtual void split(const Split& in, std::vector<Split>& out) const = 0;
};
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const json& j, const std::string& where, int depth = 0);
// The GPT-2 byte <-> character table of the ByteLevel pre-tokenizer/decoder.
const std::string& byte_to_chars(uint8_t b);
std::optional<uint8_t> char_to_byte(uint32_t cp);

// ---- The BPE model (bpe.cpp) ----
class BpeModel {
 public:
  static std::unique_ptr<BpeModel> parse(const json& model, const std::string& where);
  ~BpeModel();
  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when no entry has the id
  size_t size() const { return vocab_.size(); }      // entries (tokenizers' get_vocab_size)
  int64_t max_id() const { return max_id_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Symbol {
    int32_t id, prev, next;
    uint32_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
  };
  struct Merge {
    int32_t rank, new_id;
  };
  const Merge* find_merge(int32_t a, int32_t b) const;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  // Long words (SentencePiece-style text is one word) are cut where no merge can reach across: between two
  // characters that are adjacent in no merged token. Each piece then merges on its own, with the same result.
  void merge_long_word(std::string_view word, std::vector<int32_t>& out) const;
  bool crossable(uint32_t left, uint32_t right) const;
  std::optional<int32_t> char_id(std::string_view chr) const;

  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> vocab_;
  std::unordered_map<int32_t, const std::string*> id_to_token_;  // keys of vocab_ (stable nodes)
  int64_t max_id_ = -1;
  // Merges: open-addressing table keyed by (left id << 32 | right id).
  std::vector<uint64_t> merge_keys_;
  std::vector<Merge> merge_vals_;
  uint64_t merge_mask_ = 0;
  std::vector<int32_t> bmp_char_id_;  // id of the one-character token U+0000..U+FFFF, -1 if none
  // Character pairs (left << 32 | right) adjacent inside some merged token; empty when cutting is off.
  std::vector<uint64_t> bigram_keys_;
  uint64_t bigram_mask_ = 0;
  bool cut_long_words_ = false;
  std::optional<int32_t> unk_id_;
  std::optional<std::string> unk_token_;
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];  // <0xNN> tokens, -1 if absent
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

// ---- Added tokens (added_tokens.cpp) ----
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};
// A piece of input: text to tokenize, or an added token already recognised.
struct Piece {
  size_t start, end;  // byte range in the string that was split
  int32_t id;         // -1: text
};
class AddedVocabulary {
 public:
  // Assigns ids as tokenizers does (an entry of the model keeps its id, others follow the vocabulary) and
  // builds the two matchers: raw-text tokens and normalized tokens (matched after normalization).
  void build(const json& added_tokens, const BpeModel& model, const Normalizer* normalizer,
             const std::string& where);
  // AddedVocabulary::find_matches over `text` with one of the two matchers.
  void split(std::string_view text, bool normalized, std::vector<Piece>& out) const;
  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;
  bool is_special_content(const std::string& content) const { return special_.count(content) > 0; }
  int64_t max_id() const { return max_id_; }
  bool empty() const { return tokens_.empty(); }

 private:
  struct Trie {
    struct Node {
      std::vector<std::pair<uint8_t, int32_t>> next;
      int32_t token = -1;  // index into tokens_ of the token ending here
    };
    std::vector<Node> nodes{Node{}};
    int32_t root[256];  // child of the root per first byte, -1 if none
    Trie() { std::fill(std::begin(root), std::end(root), -1); }
    void add(const std::string& pattern, int32_t token);
    // Leftmost-longest matches, non-overlapping, as aho-corasick's MatchKind::LeftmostLongest.
    void matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans,
                 std::vector<int32_t>& tokens) const;
  };
  std::vector<AddedToken> tokens_;  // in tokenizers' order: special first, then the others
  std::unordered_map<std::string, int32_t> by_content_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_set<std::string> special_;
  Trie raw_, normalized_;
  int64_t max_id_ = -1;
};

// ---- Post-processors (post_processor.cpp) ----
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids, bool add_special) const = 0;
  // The ids it may add (checked against the vocabulary once everything is loaded).
  virtual void added_ids(std::vector<int32_t>& out) const = 0;
};
std::unique_ptr<PostProcessor> parse_post_processor(const json& j, const std::string& where, int depth = 0);

// ---- Decoders (decoders.cpp) ----
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};
std::unique_ptr<Decoder> parse_decoder(const json& j, const std::string& where, int depth = 0);

}  // namespace moe::tok
