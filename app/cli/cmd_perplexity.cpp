// moe-cli perplexity PATH --ids FILE.json [--ctx N]: non-overlapping windows of N tokens, every token but the
// first of each window scored.
#include <cmath>
#include <iostream>

#include "cli_common.h"
#include "moe/error.h"
#include "moe/tokenizer.h"

namespace moe::cli {
namespace {

struct PerplexityArgs {
  std::string path, ids, file, device = "auto";
  int64_t ctx = 512;
  bool json = false;
};

void run(const PerplexityArgs& a) {
  if (a.ids.empty() == a.file.empty()) throw Error("give exactly one of --ids FILE.json or --file TEXT");
  // A text file is tokenized without special tokens: every window is scored from its own first token.
  auto ids = a.ids.empty() ? Tokenizer::load(a.path)->encode(read_text_file(a.file), false) : read_ids(a.ids);
  if (a.ctx < 2) throw Error("--ctx must be at least 2");
  if (ids.size() < 2) throw Error(a.ids + ": at least 2 token ids are needed");
  auto m = load(a.path, a.ctx, a.device);
  const int64_t V = m.model->spec().vocab_size;
  double nll = 0;
  int64_t scored = 0;
  std::vector<float> logits;
  for (size_t start = 0; start + 1 < ids.size(); start += size_t(a.ctx)) {
    const size_t len = std::min(size_t(a.ctx), ids.size() - start);
    if (len < 2) break;
    m.backend->truncate(0);
    m.backend->forward(std::span<const int32_t>(ids.data() + start, len), LogitsMode::All, logits, nullptr);
    for (size_t i = 1; i < len; ++i) {
      const float* row = logits.data() + (i - 1) * size_t(V);
      float mx = row[0];
      for (int64_t v = 1; v < V; ++v)
        mx = std::max(mx, row[v]);
      double z = 0;
      for (int64_t v = 0; v < V; ++v)
        z += std::exp(double(row[v]) - mx);
      nll += std::log(z) + mx - row[ids[start + i]];
      ++scored;
    }
  }
  const double ppl = std::exp(nll / double(scored));
  if (a.json) {
    std::cout << nlohmann::json{{"perplexity", ppl},
                                {"tokens_scored", scored},
                                {"mean_nll", nll / double(scored)},
                                {"ctx", a.ctx}}
                     .dump()
              << "\n";
  } else {
    std::cout << "perplexity " << ppl << " over " << scored << " tokens (windows of " << a.ctx << ")\n";
  }
}

}  // namespace

void add_perplexity(CLI::App& app) {
  auto a = std::make_shared<PerplexityArgs>();
  auto* c = app.add_subcommand("perplexity", "perplexity of a token sequence");
  c->add_option("path", a->path, "model folder")->required();
  c->add_option("--ids", a->ids, "JSON file with token ids");
  c->add_option("--file", a->file, "a UTF-8 text file, tokenized with the model's tokenizer");
  c->add_option("--ctx", a->ctx, "window size")->capture_default_str();
  c->add_flag("--json", a->json, "print one JSON document");
  add_device_option(*c, a->device);
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
