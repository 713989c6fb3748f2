// Post-processors of tokenizer.json: what `add_special_tokens=True` adds around an encoded text.
// TemplateProcessing (the "single" template: special-token pieces and the sequence), Bert/Roberta processing
// (cls ... sep), ByteLevel (offsets only: nothing to do for ids) and Sequence. Without add_special the ids
// are left as they are.
#include "tokenizer/tokenizer_impl.h"

namespace moe::tok {

namespace {

class Template final : public PostProcessor {
 public:
  // pieces: -1 for the sequence, otherwise an index into specials_.
  Template(std::vector<int> pieces, std::vector<std::vector<int32_t>> specials)
      : pieces_(std::move(pieces)), specials_(std::move(specials)) {}
  void process(std::vector<int32_t>& ids, bool add_special) const override {
    if (!add_special) return;
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (int p : pieces_) {
      if (p < 0)
        out.insert(out.end(), ids.begin(), ids.end());
      else
        out.insert(out.end(), specials_[size_t(p)].begin(), specials_[size_t(p)].end());
    }
    ids = std::move(out);
  }
  void added_ids(std::vector<int32_t>& out) const override {
    for (const auto& s : specials_)
      out.insert(out.end(), s.begin(), s.end());
  }

 private:
  std::vector<int> pieces_;
  std::vector<std::vector<int32_t>> specials_;
};

class Around final : public PostProcessor {
 public:
  Around(int32_t cls, int32_t sep) : cls_(cls), sep_(sep) {}
  void process(std::vector<int32_t>& ids, bool add_special) const override {
    if (!add_special) return;
    ids.insert(ids.begin(), cls_);
    ids.push_back(sep_);
  }
  void added_ids(std::vector<int32_t>& out) const override {
    out.push_back(cls_);
    out.push_back(sep_);
  }

 private:
  int32_t cls_, sep_;
};

class Nothing final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
  void added_ids(std::vector<int32_t>&) const override {}
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids, bool add_special) const override {
    for (const auto& p : parts_)
      p->process(ids, add_special);
  }
  void added_ids(std::vector<int32_t>& out) const override {
    for (const auto& p : parts_)
      p->added_ids(out);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

int32_t token_pair_id(const json& j, const char* key, const std::string& where) {
  const std::string w = field(where, key);
  const json& v = require(j, key, where);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer())
    fail(w, "expected [\"token\", id]");
  const int64_t id = v[1].get<int64_t>();
  if (id < 0 || id > kMaxTokenId) fail(w, "id " + std::to_string(id) + " is out of range");
  return int32_t(id);
}

std::unique_ptr<PostProcessor> parse_template(const json& j, const std::string& where) {
  const std::string ws = field(where, "special_tokens");
  std::vector<std::string> names;
  std::vector<std::vector<int32_t>> specials;
  if (const json* st = find(j, "special_tokens")) {
    if (!st->is_object()) fail(ws, "expected an object");
    for (const auto& [name, entry] : st->items()) {
      const std::string w = field(ws, name.c_str());
      if (!entry.is_object()) fail(w, "expected an object");
      const json& ids = require(entry, "ids", w);
      if (!ids.is_array()) fail(field(w, "ids"), "expected a list of ids");
      std::vector<int32_t> v;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (!ids[i].is_number_integer() || ids[i].get<int64_t>() < 0 || ids[i].get<int64_t>() > kMaxTokenId)
          fail(index(field(w, "ids"), i), "expected an id from 0 to " + std::to_string(kMaxTokenId));
        v.push_back(int32_t(ids[i].get<int64_t>()));
      }
      names.push_back(name);
      specials.push_back(std::move(v));
    }
  }
  const std::string w = field(where, "single");
  const json& single = require(j, "single", where);
  if (!single.is_array()) fail(w, "expected a list of pieces");
  std::vector<int> pieces;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string wp = index(w, i);
    const json& p = single[i];
    if (!p.is_object() || p.size() != 1) fail(wp, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    if (const json* s = find(p, "SpecialToken")) {
      const std::string id = get_string(*s, "id", field(wp, "SpecialToken"));
      const auto it = std::find(names.begin(), names.end(), id);
      if (it == names.end()) fail(field(wp, "SpecialToken"), "\"" + id + "\" is not in special_tokens");
      pieces.push_back(int(it - names.begin()));
    } else if (const json* q = find(p, "Sequence")) {
      const std::string id = get_string(*q, "id", field(wp, "Sequence"));
      if (id != "A" && id != "B") fail(field(wp, "Sequence"), "expected sequence \"A\" or \"B\"");
      if (id == "A") pieces.push_back(-1);
    } else {
      fail(wp, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  return std::make_unique<Template>(std::move(pieces), std::move(specials));
}

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const json& j, const std::string& where, int depth) {
  if (depth > kMaxNesting) fail(where, "post-processors nested too deeply");
  const std::string type = type_of(j, where);
  if (type == "TemplateProcessing") return parse_template(j, where);
  if (type == "ByteLevel") return std::make_unique<Nothing>();
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return std::make_unique<Around>(token_pair_id(j, "cls", where), token_pair_id(j, "sep", where));
  if (type == "Sequence") {
    const json& list = require(j, "processors", where);
    const std::string w = field(where, "processors");
    if (!list.is_array()) fail(w, "expected a list");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      parts.push_back(parse_post_processor(list[i], index(w, i), depth + 1));
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail(field(where, "type"), "unsupported post-processor \"" + type + "\"");
}

}  // namespace moe::tok
