// The tokenizer on small hand-made tokenizer.json documents whose ids are worked out by hand: BPE merge
// order, ignore_merges, byte fallback and unknown tokens, added tokens (lstrip/rstrip/single_word/normalized,
// special tokens inside text), the five split behaviours, NFC, the post-processor with and without
// add_special; the tokenizer `moe-cli random` writes; StreamingDecoder over characters split across tokens;
// and bad files, each of which must end in a moe::Error naming the file and the field.
#include <QtTest>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "moe/error.h"
#include "moe/random_checkpoint.h"
#include "moe/tokenizer.h"

using namespace moe;
using json = nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

// A BPE tokenizer.json with the given vocabulary and merges and nothing else.
json bpe(json vocab, json merges, json extra_model = json::object()) {
  json model = {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}};
  model.update(extra_model);
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", model}};
}

// Every character of `chars` as a token, ids from 0 in order.
json char_vocab(const std::string& chars) {
  json v = json::object();
  for (char c : chars)
    if (!v.contains(std::string(1, c))) v[std::string(1, c)] = int(v.size());
  return v;
}

std::unique_ptr<Tokenizer> make(const json& doc, const json* config = nullptr) {
  return Tokenizer::from_json(doc, config, "/models/m/tokenizer.json");
}

json added(int id, const std::string& content, bool special, json flags = json::object()) {
  json t = {{"id", id},        {"content", content},     {"single_word", false}, {"lstrip", false},
            {"rstrip", false}, {"normalized", !special}, {"special", special}};
  t.update(flags);
  return t;
}

// The error message of make(doc), or "" when it loads.
QString load_error(const json& doc) {
  try {
    make(doc);
  } catch (const Error& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

std::filesystem::path temp_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("moe_test_tokenizer_" + std::to_string(QCoreApplication::applicationPid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

}  // namespace

class TokenizerTest : public QObject {
  Q_OBJECT

 private slots:
  void merge_order_by_rank();
  void long_single_word_merges();
  void ignore_merges();
  void byte_fallback_and_unknown();
  void byte_fallback_decoding();
  void split_behaviours();
  void added_tokens_strip_and_single_word();
  void added_tokens_longest_match_and_normalized();
  void special_tokens_in_text_and_post_processor();
  void config_bos_eos_without_post_processor();
  void nfc_normalisation();
  void sentencepiece_style();
  void random_checkpoint_tokenizer();
  void streaming_decoder_holds_partial_characters();
  void non_utf8_input();
  void bad_documents();
  void bad_files();
};

void TokenizerTest::merge_order_by_rank() {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}};
  // "b c" ranks first: abc -> a bc, and no rule joins a and bc.
  QCOMPARE(make(bpe(vocab, {"b c", "a b"}))->encode("abc"), (Ids{0, 4}));
  // "a b" first: ab c; then "ab c" (rank 2) makes abc.
  QCOMPARE(make(bpe(vocab, {"a b", "b c", "ab c"}))->encode("abc"), (Ids{5}));
  // Merges given as pairs read the same.
  QCOMPARE(make(bpe(vocab, json::array({json::array({"a", "b"}), json::array({"ab", "c"})})))->encode("abc"),
           (Ids{5}));
  // Equal ranks: the leftmost pair merges first.
  QCOMPARE(make(bpe(vocab, {"a a"}))->encode("aaa"), (Ids{6, 0}));
  QCOMPARE(make(bpe(vocab, {"a a"}))->encode("aaaa"), (Ids{6, 6}));
}

void TokenizerTest::long_single_word_merges() {
  // SentencePiece-style: the whole text is one word. 200k characters must merge quickly and correctly.
  const json vocab = {{"a", 0}, {"aa", 1}, {"aaaa", 2}};
  auto t = make(bpe(vocab, {"a a", "aa aa"}));
  const Ids ids = t->encode(std::string(200001, 'a'));
  QCOMPARE(ids.size(), size_t(50001));
  QCOMPARE(ids.back(), 0);
  QCOMPARE(ids.front(), 2);
}

void TokenizerTest::ignore_merges() {
  const json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"abab", 3}};
  QCOMPARE(make(bpe(vocab, {"a b"}))->encode("abab"), (Ids{2, 2}));
  QCOMPARE(make(bpe(vocab, {"a b"}, {{"ignore_merges", true}}))->encode("abab"), (Ids{3}));
  QCOMPARE(make(bpe(vocab, {"a b"}, {{"ignore_merges", true}}))->encode("ababab"), (Ids{2, 2, 2}));
}

void TokenizerTest::byte_fallback_and_unknown() {
  // é is C3 A9; 😀 is F0 9F 98 80 and only some of its bytes have tokens.
  const json vocab = {{"<unk>", 0}, {"<0xC3>", 1}, {"<0xA9>", 2}, {"a", 3}, {"<0xF0>", 4}};
  const json fallback = {{"unk_token", "<unk>"}, {"byte_fallback", true}};
  QCOMPARE(make(bpe(vocab, json::array(), fallback))->encode("a\xC3\xA9"), (Ids{3, 1, 2}));
  QCOMPARE(make(bpe(vocab, json::array(), fallback))
               ->encode("\xF0\x9F\x98\x80"
                        "a"),
           (Ids{0, 3}));
  QCOMPARE(make(bpe(vocab, json::array(), {{"unk_token", "<unk>"}}))->encode("a\xC3\xA9"), (Ids{3, 0}));
  // fuse_unk: a run of unknown characters is one <unk>.
  QCOMPARE(make(bpe(vocab, json::array(), {{"unk_token", "<unk>"}}))
               ->encode("\xC3\xA9\xC3\xA9"
                        "a"),
           (Ids{0, 0, 3}));
  QCOMPARE(make(bpe(vocab, json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", true}}))
               ->encode("\xC3\xA9\xC3\xA9"
                        "a"),
           (Ids{0, 3}));
  // No unk token, no fallback: the character is dropped, as tokenizers drops it.
  QCOMPARE(make(bpe(vocab, json::array()))
               ->encode("a\xC3\xA9"
                        "a"),
           (Ids{3, 3}));
}

void TokenizerTest::byte_fallback_decoding() {
  json doc = bpe({{"<0xE4>", 0},
                  {"<0xBD>", 1},
                  {"<0xA0>", 2},
                  {"\xE2\x96\x81"
                   "a",
                   3}},
                 json::array(), {{"byte_fallback", true}});
  doc["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  auto t = make(doc);
  QCOMPARE(t->encode("\xE4\xBD\xA0"), (Ids{0, 1, 2}));                        // 你
  QCOMPARE(t->decode({3, 0, 1, 2, 3}), std::string("a\xE4\xBD\xA0 a"));       // leading space stripped
  QCOMPARE(t->decode({0, 1, 3}), std::string("\xEF\xBF\xBD\xEF\xBF\xBD a"));  // one U+FFFD per byte
}

void TokenizerTest::split_behaviours() {
  // With ignore_merges a piece that is in the vocabulary comes out as its own id, so the ids show the pieces.
  const std::vector<std::string> words = {"the",  "final",  "countdown", "-",         "--",
                                          "the-", "final-", "-final",    "-countdown"};
  json vocab = char_vocab("thefinalcoudw-");
  for (const auto& w : words)
    if (!vocab.contains(w)) vocab[w] = int(vocab.size());
  const auto id = [&](const std::string& w) { return vocab.at(w).get<int32_t>(); };
  const auto run = [&](const char* behavior) {
    json doc = bpe(vocab, json::array(), {{"ignore_merges", true}});
    doc["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}};
    return make(doc)->encode("the-final--countdown");
  };
  QCOMPARE(run("Removed"), (Ids{id("the"), id("final"), id("countdown")}));
  QCOMPARE(run("Isolated"), (Ids{id("the"), id("-"), id("final"), id("-"), id("-"), id("countdown")}));
  QCOMPARE(run("MergedWithPrevious"), (Ids{id("the-"), id("final-"), id("-"), id("countdown")}));
  QCOMPARE(run("MergedWithNext"), (Ids{id("the"), id("-final"), id("-"), id("-countdown")}));
  QCOMPARE(run("Contiguous"), (Ids{id("the"), id("-"), id("final"), id("--"), id("countdown")}));
  // Invert with a regex: the matches are the words, the gaps the delimiters.
  json doc = bpe(vocab, json::array(), {{"ignore_merges", true}});
  doc["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "[a-z]+"}}}, {"behavior", "Removed"}, {"invert", true}};
  QCOMPARE(make(doc)->encode("the-final--countdown"), (Ids{id("the"), id("final"), id("countdown")}));
}

void TokenizerTest::added_tokens_strip_and_single_word() {
  json doc = bpe(char_vocab(" abc"), json::array());
  doc["added_tokens"] = {added(4, "<m>", false, {{"lstrip", true}, {"normalized", false}}),
                         added(5, "<r>", false, {{"rstrip", true}, {"normalized", false}}),
                         added(6, "cab", false, {{"single_word", true}, {"normalized", false}})};
  auto t = make(doc);
  // lstrip swallows the spaces before, rstrip the spaces after.
  QCOMPARE(t->encode("a  <m> b"), (Ids{1, 4, 0, 2}));
  QCOMPARE(t->encode("a <r>  b"), (Ids{1, 0, 5, 2}));
  // single_word: only where no word character touches it ("." is not in the vocabulary: dropped).
  QCOMPARE(t->encode("cab"), (Ids{6}));
  QCOMPARE(t->encode("a cab."), (Ids{1, 0, 6}));
  QCOMPARE(t->encode("acab"), (Ids{1, 3, 1, 2}));
  QCOMPARE(t->token_to_id("<m>"), std::optional<int32_t>(4));
  QCOMPARE(t->vocab_size(), int64_t(7));
  // An added token that is not in the vocabulary gets the next id, as tokenizers gives it, whatever the
  // file says.
  doc["added_tokens"] = {added(40, "<x>", true)};
  QCOMPARE(make(doc)->token_to_id("<x>"), std::optional<int32_t>(4));
}

void TokenizerTest::added_tokens_longest_match_and_normalized() {
  json doc = bpe(char_vocab("abcxyz<>|_ "), json::array());
  doc["normalizer"] = {{"type", "Lowercase"}};
  doc["added_tokens"] = {added(11, "<|a|>", true), added(12, "<|a|>x", true), added(13, "yz", false)};
  auto t = make(doc);
  // Longest match at the leftmost position.
  QCOMPARE(t->encode("<|a|>xb"), (Ids{12, 1}));
  QCOMPARE(t->encode("b<|a|>"), (Ids{1, 11}));
  // "yz" is normalized=true: it is found in the lowercased text. The special tokens are not normalized:
  // "<|A|>" is not one of them.
  QCOMPARE(t->encode("aYZ"), (Ids{0, 13}));
  QCOMPARE(t->encode("<|A|>"), (Ids{6, 8, 0, 8, 7}));
  QVERIFY(t->is_special(11));
  QVERIFY(!t->is_special(13));
}

void TokenizerTest::special_tokens_in_text_and_post_processor() {
  json doc = bpe(char_vocab("ab "), json::array());
  doc["added_tokens"] = {added(3, "<s>", true), added(4, "</s>", true), added(5, "<|im_start|>", true)};
  doc["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair", json::array()},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {3}}, {"tokens", {"<s>"}}}}}}};
  auto t = make(doc);
  // Special tokens in the text are matched whether or not add_special is asked.
  QCOMPARE(t->encode("a<|im_start|>b"), (Ids{0, 5, 1}));
  QCOMPARE(t->encode("a<|im_start|>b", true), (Ids{3, 0, 5, 1}));
  QCOMPARE(t->encode("", true), (Ids{3}));
  QCOMPARE(t->encode(""), Ids{});
  QCOMPARE(t->decode({3, 0, 5, 1}), std::string("<s> a <|im_start|> b"));  // no decoder: joined by spaces
  QCOMPARE(t->decode({3, 0, 5, 1}, true), std::string("a b"));
  QCOMPARE(t->decode({0, 999, 1}), std::string("a b"));  // unknown ids are dropped
  QCOMPARE(t->id_to_token(999), std::string());
}

void TokenizerTest::config_bos_eos_without_post_processor() {
  json doc = bpe(char_vocab("ab"), json::array());
  doc["added_tokens"] = {added(2, "<s>", true), added(3, "</s>", true)};
  const json config = {{"add_bos_token", true},
                       {"add_eos_token", true},
                       {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
                       {"eos_token", "</s>"},
                       {"chat_template", json::array({{{"name", "tool_use"}, {"template", "T"}},
                                                      {{"name", "default"}, {"template", "D"}}})}};
  auto t = make(doc, &config);
  QCOMPARE(t->encode("ab", true), (Ids{2, 0, 1, 3}));
  QCOMPARE(t->encode("ab", false), (Ids{0, 1}));
  QCOMPARE(t->bos_token(), std::optional<std::string>("<s>"));
  QCOMPARE(t->eos_token(), std::optional<std::string>("</s>"));
  QCOMPARE(t->chat_template(), std::string("D"));
}

void TokenizerTest::nfc_normalisation() {
  json doc = bpe({{"e", 0}, {"\xCC\x81", 1}, {"\xC3\xA9", 2}}, json::array());
  QCOMPARE(make(doc)->encode("e\xCC\x81"), (Ids{0, 1}));  // no normalizer: e + combining acute
  doc["normalizer"] = {{"type", "NFC"}};
  QCOMPARE(make(doc)->encode("e\xCC\x81"), (Ids{2}));  // NFC composes é
  doc["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}}}};
  QCOMPARE(make(doc)->encode("\xC3\xA9"), (Ids{0, 1}));
}

void TokenizerTest::sentencepiece_style() {
  // Llama 2 / Mistral: Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, byte fallback.
  const std::string u = "\xE2\x96\x81";
  json doc = bpe({{"<unk>", 0}, {u, 1}, {"h", 2}, {"i", 3}, {u + "h", 4}, {u + "hi", 5}, {"<0x21>", 6}},
                 {u + " h", u + "h i"}, {{"unk_token", "<unk>"}, {"byte_fallback", true}});
  doc["normalizer"] = {{"type", "Sequence"},
                       {"normalizers",
                        {{{"type", "Prepend"}, {"prepend", u}},
                         {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", u}}}}};
  doc["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", u}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  auto t = make(doc);
  QCOMPARE(t->encode("hi hi!"), (Ids{5, 5, 6}));
  QCOMPARE(t->decode(t->encode("hi hi!")), std::string("hi hi!"));
}

void TokenizerTest::random_checkpoint_tokenizer() {
  const auto dir = temp_dir("random");
  write_random_checkpoint(dir, preset_config("tiny-qwen3-moe"), 1, DType::F32);
  auto t = Tokenizer::load(dir);
  QCOMPARE(t->vocab_size(), int64_t(259));
  const std::vector<std::string> texts = {"Hello, world!", "  spaces\tand\nnewlines\r\n",
                                          "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", ""};
  for (const auto& s : texts) {
    const Ids ids = t->encode(s);
    QCOMPARE(ids.size(), s.size());  // one byte token per byte: there are no merges
    QCOMPARE(t->decode(ids), s);
  }
  const Ids chat = t->encode("<|im_start|>user\nhi<|im_end|>");
  QCOMPARE(chat.front(), *t->token_to_id("<|im_start|>"));
  QCOMPARE(chat.back(), *t->token_to_id("<|im_end|>"));
  QVERIFY(t->is_special(chat.front()));
  QCOMPARE(t->decode(chat, true), std::string("user\nhi"));
  QCOMPARE(t->eos_token(), std::optional<std::string>("<|im_end|>"));
  QVERIFY(!t->chat_template().empty());
  std::filesystem::remove_all(dir);
}

void TokenizerTest::streaming_decoder_holds_partial_characters() {
  json doc = bpe(json::object(), json::array());
  json vocab = json::object();
  // Byte-level vocabulary: the GPT-2 characters of all 256 bytes.
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? uint32_t(b) : uint32_t(256 + n++);
    std::string s;
    if (cp < 0x80) {
      s += char(cp);
    } else {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    }
    vocab[s] = b;
  }
  doc["model"]["vocab"] = vocab;
  doc["decoder"] = {{"type", "ByteLevel"}};
  doc["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  auto t = make(doc);
  // "a你b😀": 你 is 3 bytes, 😀 4: each byte is its own token.
  const std::string text =
      "a\xE4\xBD\xA0"
      "b\xF0\x9F\x98\x80";
  const Ids ids = t->encode(text);
  QCOMPARE(ids.size(), size_t(9));
  StreamingDecoder stream(*t);
  std::vector<std::string> pieces;
  for (int32_t id : ids)
    pieces.push_back(stream.push(id));
  QCOMPARE(pieces,
           (std::vector<std::string>{"a", "", "", "\xE4\xBD\xA0", "b", "", "", "", "\xF0\x9F\x98\x80"}));
  QCOMPARE(stream.flush(), std::string());
  // An unfinished character comes out of flush() as U+FFFD.
  StreamingDecoder cut(*t);
  QCOMPARE(cut.push(ids[0]), std::string("a"));
  QCOMPARE(cut.push(ids[1]), std::string());
  QCOMPARE(cut.flush(), std::string("\xEF\xBF\xBD"));
}

void TokenizerTest::non_utf8_input() {
  json doc = bpe(char_vocab("ab"), json::array(), {{"unk_token", "a"}});
  auto t = make(doc);
  // Invalid bytes read as U+FFFD (each maximal invalid run once), which this vocabulary maps to unk.
  QCOMPARE(t->encode(std::string("b\xFF\xC3"
                                 "b\xE4\xBD",
                                 6)),
           (Ids{1, 0, 0, 1, 0}));
  QCOMPARE(t->encode(std::string("\0b", 2)), (Ids{0, 1}));
}

void TokenizerTest::bad_documents() {
  const json vocab_ab = {{"a", 0}, {"b", 1}, {"ab", 2}};
  const json good = bpe(vocab_ab, {"a b"});
  const auto expect = [](const json& doc, const QStringList& parts) {
    const QString e = load_error(doc);
    QVERIFY2(!e.isEmpty(), "loaded a bad document");
    for (const QString& p : parts)
      QVERIFY2(e.contains(p), qPrintable("\"" + p + "\" missing from: " + e));
  };
  QVERIFY(load_error(bpe(vocab_ab, {"a b"})).isEmpty());
  json doc = good;
  doc.erase("model");
  expect(doc, {"/models/m/tokenizer.json", "model", "missing"});
  expect(bpe(vocab_ab, {"a c"}), {"tokenizer.json", "model.merges[0]", "\"c\"", "not in the vocabulary"});
  expect(bpe({{"a", 0}, {"b", 1}}, {"a b"}), {"model.merges[0]", "\"ab\""});
  expect(bpe(vocab_ab, {"a  b"}), {"model.merges[0]"});
  expect(bpe(vocab_ab, {42}), {"model.merges[0]"});
  expect(bpe({{"a", 4000000000LL}}, json::array()), {"model.vocab", "\"a\"", "4000000000"});
  expect(bpe({{"a", -1}}, json::array()), {"model.vocab", "-1"});
  expect(bpe({{"a", "zero"}}, json::array()), {"model.vocab"});
  expect(bpe(json::array(), json::array()), {"model.vocab"});
  doc = good;
  doc["model"]["type"] = "Unigram";
  expect(doc, {"model.type", "Unigram"});
  doc = good;
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(a|b"}}}, {"behavior", "Isolated"}};
  expect(doc, {"pre_tokenizer.pattern.Regex", "(a|b", "missing closing parenthesis"});
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
  expect(doc, {"pre_tokenizer.behavior", "Sideways"});
  doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Nope"}}}}};
  expect(doc, {"pre_tokenizer.pretokenizers[0].type", "Nope"});
  doc = good;
  doc["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", "[z-a]"}}}, {"content", ""}};
  expect(doc, {"normalizer.pattern.Regex", "[z-a]"});
  doc = good;
  doc["added_tokens"] = {{{"id", 5}, {"special", true}}};
  expect(doc, {"added_tokens[0].content", "missing"});
  doc = good;
  doc["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}},
                           {"special_tokens", json::object()}};
  expect(doc, {"post_processor.single[0].SpecialToken", "<s>"});
  doc["post_processor"]["special_tokens"] = {{"<s>", {{"id", "<s>"}, {"ids", {99}}, {"tokens", {"<s>"}}}}};
  expect(doc, {"post_processor", "adds id 99"});  // found by fuzz_tokenizer
  doc = good;
  doc["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
  expect(doc, {"decoder.content"});
  doc = good;
  doc["version"] = "2.0";
  expect(doc, {"version"});
  // Sequences nested without end.
  json deep = {{"type", "Lowercase"}};
  for (int i = 0; i < 100; ++i)
    deep = {{"type", "Sequence"}, {"normalizers", {deep}}};
  doc = good;
  doc["normalizer"] = deep;
  expect(doc, {"normalizer", "nested too deeply"});
  expect(json::array(), {"tokenizer.json", "JSON object"});
}

void TokenizerTest::bad_files() {
  const auto dir = temp_dir("files");
  const auto expect = [](const std::filesystem::path& p, const QStringList& parts) {
    QString e;
    try {
      Tokenizer::load(p);
    } catch (const Error& x) {
      e = x.what();
    }
    QVERIFY2(!e.isEmpty(), "loaded a bad file");
    for (const QString& s : parts)
      QVERIFY2(e.contains(s), qPrintable("\"" + s + "\" missing from: " + e));
  };
  expect(dir, {"tokenizer.json", "not found"});
  write(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,");
  expect(dir, {(dir / "tokenizer.json").string().c_str(), "invalid JSON"});
  write(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\xFF\": 0}, \"merges\": []}}");
  expect(dir, {"tokenizer.json", "invalid JSON"});  // not UTF-8
  write(dir / "tokenizer.json", bpe(char_vocab("ab"), json::array()).dump());
  write(dir / "tokenizer_config.json", "{\"bos_token\": 7}");
  expect(dir, {"tokenizer_config.json", "bos_token"});
  write(dir / "tokenizer_config.json", "{\"chat_template\": \"{{ x }}\", \"eos_token\": \"b\"}");
  auto t = Tokenizer::load(dir / "tokenizer.json");
  QCOMPARE(t->chat_template(), std::string("{{ x }}"));
  write(dir / "chat_template.jinja", "J");
  QCOMPARE(Tokenizer::load(dir)->chat_template(), std::string("J"));
  std::filesystem::remove_all(dir);
}

QTEST_GUILESS_MAIN(TokenizerTest)
#include "test_tokenizer.moc"
