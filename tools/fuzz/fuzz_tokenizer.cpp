// libFuzzer targets over the tokenizer.
//
// fuzz_tokenizer: the input is a tokenizer.json document. Loading must either succeed or throw moe::Error
// (any other exception, a crash, a sanitizer report or a hang is a bug); a tokenizer that loads must encode
// and decode a few texts, throwing nothing but moe::Error, with ids inside its vocabulary.
//
// fuzz_tokenizer_encode (this file built with MOE_FUZZ_ENCODE): the input is text, any bytes, encoded with
// fixed small tokenizers of the shapes the engine meets (byte-level BPE with a Split regex and added tokens;
// SentencePiece-style BPE with byte fallback; Metaspace/Digits/NFKC pieces). Checks: ids inside the
// vocabulary, decoded text is valid UTF-8, byte-level round trips give back the (U+FFFD-repaired) input, and
// the StreamingDecoder's pieces add up to the whole decode.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/error.h"
#include "moe/tokenizer.h"

namespace {

using json = nlohmann::json;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = uint8_t(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < n; ++k) {
      if ((uint8_t(s[i + k]) & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

void exercise(const moe::Tokenizer& tok, std::string_view text) {
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids = tok.encode(text, special);
    for (int32_t id : ids)
      check(id >= 0 && id < tok.vocab_size());
    for (bool skip : {false, true}) {
      const std::string d = tok.decode(ids, skip);
      (void)d;
    }
  }
}

#ifndef MOE_FUZZ_ENCODE

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json doc;
  try {
    doc = json::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const json::exception&) {
    return 0;  // not JSON: Tokenizer::load reports that as a moe::Error of its own
  }
  std::unique_ptr<moe::Tokenizer> tok;
  try {
    tok = moe::Tokenizer::from_json(doc, nullptr, "fuzz/tokenizer.json");
  } catch (const moe::Error&) {
    return 0;
  }
  try {
    for (const char* text :
         {"Hello, world! 123", " \t\n\r\n  x", "caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80",
          "<s><|im_start|>user<|im_end|></s>", "\xFF\xC3(", ""})
      exercise(*tok, text);
  } catch (const moe::Error&) {
  }
  return 0;
}

#else

const std::string& byte_char(int b) {
  static std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int n = 0;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
      const uint32_t cp = printable ? uint32_t(c) : uint32_t(256 + n++);
      if (cp < 0x80) {
        t[size_t(c)] += char(cp);
      } else {
        t[size_t(c)] += char(0xC0 | (cp >> 6));
        t[size_t(c)] += char(0x80 | (cp & 0x3F));
      }
    }
    return t;
  }();
  return table[size_t(b)];
}

json added(int id, const std::string& content, bool special, json flags = json::object()) {
  json t = {{"id", id},        {"content", content},     {"single_word", false}, {"lstrip", false},
            {"rstrip", false}, {"normalized", !special}, {"special", special}};
  t.update(flags);
  return t;
}

// Byte-level BPE (Qwen/Llama 3 shape): the 256 byte tokens, merges over common English pairs, a Split regex
// then ByteLevel, NFC, added tokens with lstrip/rstrip/single_word.
json byte_level() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b)
    vocab[byte_char(b)] = b;
  json merges = json::array();
  const auto merge = [&](const std::string& a, const std::string& b) {
    if (!vocab.contains(a + b)) vocab[a + b] = int(vocab.size());
    merges.push_back(json::array({a, b}));
  };
  const std::string sp = byte_char(' ');
  merge(sp, "t");
  merge("h", "e");
  merge(sp + "t", "he");
  merge("i", "n");
  merge("in", "g");
  merge(sp, sp);
  merge(sp + sp, sp + sp);
  merge("e", "r");
  merge(byte_char(0xE4), byte_char(0xBD));
  merge(byte_char(0xE4) + byte_char(0xBD), byte_char(0xA0));
  const int n = int(vocab.size());
  json doc = {
      {"version", "1.0"},
      {"added_tokens",
       {added(n, "<|im_start|>", true), added(n + 1, "<|im_end|>", true),
        added(n + 2, "word", false, {{"single_word", true}})}},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", false},
           {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<|im_start|>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens",
         {{"<|im_start|>", {{"id", "<|im_start|>"}, {"ids", {n}}, {"tokens", {"<|im_start|>"}}}}}}}},
      {"decoder",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", true}}}};
  return doc;
}

// SentencePiece-style BPE (Llama 2 / Mistral shape): Prepend + Replace, byte fallback, unk.
json sentencepiece() {
  const std::string u = "\xE2\x96\x81";
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = int(vocab.size());
  }
  for (const char* c : {"a", "b", "e", "h", "l", "o", "t", " "})
    vocab[std::string(c)] = int(vocab.size());
  vocab[u] = int(vocab.size());
  json merges = json::array();
  const auto merge = [&](const std::string& a, const std::string& b) {
    if (!vocab.contains(a + b)) vocab[a + b] = int(vocab.size());
    merges.push_back(a + " " + b);
  };
  merge(u, "t");
  merge("h", "e");
  merge(u + "t", "he");
  merge(u, u);
  merge(u + u, u + u);
  merge("l", "l");
  merge("e", "ll");
  return {{"version", "1.0"},
          {"added_tokens", {added(0, "<unk>", true), added(1, "<s>", true), added(2, "</s>", true)}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", u}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", u}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", u}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"merges", merges},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"fuse_unk", true}}}};
}

// The other pieces: NFKC + Lowercase + Strip, Digits, Punctuation and Metaspace "first", Metaspace decoder,
// added tokens with lstrip/rstrip/single_word.
json pieces() {
  json doc = sentencepiece();
  doc["normalizer"] = {{"type", "Sequence"},
                       {"normalizers",
                        {{{"type", "NFKC"}},
                         {{"type", "Lowercase"}},
                         {{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}}}};
  doc["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Digits"}, {"individual_digits", true}},
                            {{"type", "Punctuation"}, {"behavior", "MergedWithNext"}},
                            {{"type", "Metaspace"},
                             {"replacement", "\xE2\x96\x81"},
                             {"prepend_scheme", "first"},
                             {"split", true}}}}};
  doc["decoder"] = {
      {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}};
  // Whitespace-swallowing added tokens here, where round trips are not checked.
  const int n = int(doc["model"]["vocab"].size());
  doc["added_tokens"].push_back(added(n, "<mask>", false, {{"lstrip", true}, {"rstrip", true}}));
  doc["added_tokens"].push_back(added(n + 1, "[SEP]", true, {{"lstrip", true}, {"single_word", true}}));
  return doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto tokenizers = [] {
    std::vector<std::unique_ptr<moe::Tokenizer>> t;
    t.push_back(moe::Tokenizer::from_json(byte_level(), nullptr, "fuzz/byte_level.json"));
    t.push_back(moe::Tokenizer::from_json(sentencepiece(), nullptr, "fuzz/sentencepiece.json"));
    t.push_back(moe::Tokenizer::from_json(pieces(), nullptr, "fuzz/pieces.json"));
    return t;
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = valid_utf8(text);
  for (size_t k = 0; k < tokenizers.size(); ++k) {
    const moe::Tokenizer& tok = *tokenizers[k];
    std::vector<int32_t> ids;
    try {
      ids = tok.encode(text, false);
    } catch (const moe::Error&) {
      continue;  // e.g. a regex limit on a pathological input
    }
    for (int32_t id : ids)
      check(id >= 0 && id < tok.vocab_size());
    const std::string decoded = tok.decode(ids);
    check(valid_utf8(decoded));
    check(valid_utf8(tok.decode(ids, true)));
    // Byte-level BPE loses nothing (NFC aside: checked on ASCII).
    if (k == 0 && valid) {
      bool ascii = true;
      for (char c : text)
        ascii = ascii && uint8_t(c) < 0x80;
      if (ascii) check(decoded == text);
    }
    // Streamed pieces are valid UTF-8 and, unless the text holds U+FFFD (which the stream cannot tell from an
    // unfinished character for more than a few ids), add up to the whole decode.
    moe::StreamingDecoder stream(tok);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = stream.push(id);
      check(valid_utf8(piece));
      streamed += piece;
    }
    streamed += stream.flush();
    if (decoded.find("\xEF\xBF\xBD") == std::string::npos) check(streamed == decoded);
  }
  return 0;
}

#endif
