// The tokenizer pipeline, in tokenizers' order: added tokens are cut out of the raw text, each remaining
// piece is normalized and searched again for normalized added tokens, pre-tokenized into words, and the words
// are tokenized by the BPE model; the post-processor adds BOS/EOS when asked. Decoding maps ids back to token
// strings and runs the decoder chain.
#include "moe/tokenizer.h"
#include "moe/error.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe {

namespace {

using tok::json;

class JsonTokenizer final : public Tokenizer {
 public:
  JsonTokenizer(const json& doc, const json* config, const std::string& source) {
    const std::string top = source + ":";
    if (!doc.is_object()) tok::fail(top, "expected a JSON object");
    if (const json* v = tok::find(doc, "version")) {
      if (!v->is_string() || v->get<std::string>() != "1.0")
        tok::fail(tok::field(top, "version"), "unknown tokenizer.json version " + v->dump());
    }
    model_ = tok::BpeModel::parse(tok::require(doc, "model", top), tok::field(top, "model"));
    if (const json* n = tok::find(doc, "normalizer"))
      normalizer_ = tok::parse_normalizer(*n, tok::field(top, "normalizer"));
    if (const json* p = tok::find(doc, "pre_tokenizer"))
      pre_tokenizer_ = tok::parse_pre_tokenizer(*p, tok::field(top, "pre_tokenizer"));
    if (const json* p = tok::find(doc, "post_processor"))
      post_processor_ = tok::parse_post_processor(*p, tok::field(top, "post_processor"));
    if (const json* d = tok::find(doc, "decoder"))
      decoder_ = tok::parse_decoder(*d, tok::field(top, "decoder"));
    if (const json* a = tok::find(doc, "added_tokens"))
      added_.build(*a, *model_, normalizer_.get(), tok::field(top, "added_tokens"));

    if (post_processor_) {  // what it adds must be in the vocabulary: ids index the embedding table
      std::vector<int32_t> ids;
      post_processor_->added_ids(ids);
      for (int32_t id : ids)
        if (id_to_token(id).empty() && !model_->id_to_token(id))
          tok::fail(tok::field(top, "post_processor"),
                    "adds id " + std::to_string(id) + ", which no token has");
    }

    std::string config_source = "tokenizer_config.json";
    const std::string suffix = "tokenizer.json";
    if (source.size() >= suffix.size() &&
        source.compare(source.size() - suffix.size(), suffix.size(), suffix) == 0)
      config_source = source.substr(0, source.size() - suffix.size()) + "tokenizer_config.json";
    config_ = tok::parse_config(config, config_source + ":");
    if (config_.bos_token) bos_id_ = token_to_id(*config_.bos_token);
    if (config_.eos_token) eos_id_ = token_to_id(*config_.eos_token);
  }

  std::vector<int32_t> encode(std::string_view input, bool add_special) const override {
    std::string repaired;
    std::string_view text = input;
    if (!tok::is_valid_utf8(input)) {  // tokenizers takes Unicode strings: bad bytes become U+FFFD
      repaired = tok::utf8_lossy(input);
      text = repaired;
    }
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    std::vector<tok::Piece> pieces, sub;
    std::vector<tok::Split> splits;
    added_.split(text, false, pieces);
    for (const tok::Piece& p : pieces) {
      if (p.id >= 0) {
        ids.push_back(p.id);
        continue;
      }
      std::string s(text.substr(p.start, p.end - p.start));
      bool start_moved = false;
      if (normalizer_) normalizer_->apply(s, start_moved);
      if (s.empty()) continue;
      added_.split(s, true, sub);
      for (const tok::Piece& q : sub) {
        if (q.id >= 0) {
          ids.push_back(q.id);
          continue;
        }
        splits.clear();
        splits.push_back({s.substr(q.start, q.end - q.start), p.start == 0 && !start_moved && q.start == 0});
        if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(splits);
        for (const tok::Split& w : splits)
          model_->tokenize(w.text, ids);
      }
    }
    if (post_processor_) {
      post_processor_->process(ids, add_special);
    } else if (add_special) {
      if (config_.add_bos_token && bos_id_) ids.insert(ids.begin(), *bos_id_);
      if (config_.add_eos_token && eos_id_) ids.push_back(*eos_id_);
    }
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      const std::string* t = nullptr;
      if (const tok::AddedToken* a = added_.by_id(id))
        t = &a->content;
      else
        t = model_->id_to_token(id);
      if (!t) continue;  // unknown ids are dropped, as tokenizers drops them
      if (skip_special && added_.is_special_content(*t)) continue;
      tokens.push_back(*t);
    }
    std::string out;
    if (decoder_) {
      decoder_->decode_chain(tokens);
      for (const std::string& t : tokens)
        out += t;
    } else {
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (i) out += ' ';
        out += tokens[i];
      }
    }
    return out;
  }

  int64_t vocab_size() const override { return std::max(model_->max_id(), added_.max_id()) + 1; }

  std::optional<int32_t> token_to_id(std::string_view token) const override {
    if (const auto id = added_.token_to_id(token)) return id;
    return model_->token_to_id(token);
  }

  std::string id_to_token(int32_t id) const override {
    if (const tok::AddedToken* a = added_.by_id(id)) return a->content;
    const std::string* t = model_->id_to_token(id);
    return t ? *t : std::string();
  }

  bool is_special(int32_t id) const override {
    const tok::AddedToken* a = added_.by_id(id);
    return a && added_.is_special_content(a->content);
  }

  const std::string& chat_template() const override { return config_.chat_template; }
  std::optional<std::string> bos_token() const override { return config_.bos_token; }
  std::optional<std::string> eos_token() const override { return config_.eos_token; }

 private:
  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::PostProcessor> post_processor_;
  std::unique_ptr<tok::Decoder> decoder_;
  tok::AddedVocabulary added_;
  tok::TokenizerConfig config_;
  std::optional<int32_t> bos_id_, eos_id_;
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_json(const nlohmann::json& tokenizer_json,
                                                const nlohmann::json* config, const std::string& source) {
  try {
    return std::make_unique<JsonTokenizer>(tokenizer_json, config, source);
  } catch (const nlohmann::json::exception& e) {  // a type check missed above still names the file
    throw Error(source + ": " + e.what());
  }
}

}  // namespace moe
