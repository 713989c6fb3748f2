// moe-cli generate PATH --ids FILE.json [sampling options] [--json]: generated ids, logprobs and routing.
#include <iostream>

#include "cli_common.h"
#include "moe/error.h"
#include "moe/generator.h"
#include "moe/tokenizer.h"

namespace moe::cli {
namespace {

struct GenerateArgs {
  std::string path, ids, prompt, device = "auto";
  GenerationParams gen;
  int64_t ctx = 0;
  bool json = false;
};

void run(GenerateArgs& a) {
  if (a.ids.empty() == a.prompt.empty()) throw Error("give exactly one of --ids FILE.json or -p TEXT");
  // Raw completion of a text: tokenized as Hugging Face's tokenizer(text) does (special tokens added).
  std::unique_ptr<Tokenizer> tok;
  if (!a.prompt.empty() || !a.gen.stop_strings.empty()) tok = Tokenizer::load(a.path);
  auto prompt = a.prompt.empty() ? read_ids(a.ids) : tok->encode(a.prompt, true);
  auto m = load(a.path, a.ctx, a.device);
  std::unique_ptr<StreamingDecoder> stream;
  if (tok) stream = std::make_unique<StreamingDecoder>(*tok);
  Generator generator(
      *m.backend, m.model->spec(),
      stream ? Generator::PieceFn([&](int32_t id) { return stream->push(id); }) : Generator::PieceFn());
  std::string text;
  nlohmann::json routing = nlohmann::json::array();
  nlohmann::json top = nlohmann::json::array();
  auto add_routing = [&](const RoutingRecord& r) {
    routing.push_back(
        {{"position", r.position}, {"prompt", r.prompt}, {"experts", r.experts}, {"weights", r.weights}});
  };
  auto result = generator.generate(
      prompt, a.gen,
      [&](const TokenEvent& ev) {
        add_routing(ev.routing);
        nlohmann::json alts = nlohmann::json::array();
        for (auto [id, lp] : ev.top_logprobs)
          alts.push_back({{"id", id}, {"logprob", lp}});
        top.push_back(alts);
        text += ev.piece;
        if (a.json) return;
        if (tok) {
          std::cout << ev.piece << std::flush;
        } else {
          std::cout << ev.id << " " << std::flush;
        }
      },
      add_routing);
  if (stream) text += stream->flush();
  for (const auto& st : a.gen.stop_strings)  // the answer ends before the stop string
    if (auto at = text.find(st); !st.empty() && at != std::string::npos) text.resize(at);
  if (!a.json) {
    std::cout << "\n";
    std::cerr << result.tokens.size() << " tokens, stopped: " << stop_reason_name(result.reason)
              << ", prefill " << result.prompt_tokens / std::max(result.prefill_seconds, 1e-9)
              << " tok/s, decode " << double(result.tokens.size()) / std::max(result.decode_seconds, 1e-9)
              << " tok/s\n";
    return;
  }
  const ModelSpec& s = m.model->spec();
  nlohmann::json out = {
      {"ids", result.tokens},
      {"logprobs", result.logprobs},
      {"stop_reason", stop_reason_name(result.reason)},
      {"prompt_tokens", result.prompt_tokens},
      {"routing", {{"moe_layers", s.num_moe_layers()}, {"top_k", s.top_k}, {"positions", routing}}},
      {"timing", {{"prefill_seconds", result.prefill_seconds}, {"decode_seconds", result.decode_seconds}}}};
  if (a.gen.top_logprobs > 0) out["top_logprobs"] = top;
  std::cout << out.dump() << "\n";
}

}  // namespace

void add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* c = app.add_subcommand("generate", "generate tokens after a prompt of token ids");
  c->add_option("path", a->path, "model folder")->required();
  c->add_option("--ids", a->ids, "JSON file with the prompt's token ids");
  c->add_option("-p,--prompt", a->prompt, "a text to continue (raw completion, no chat template)");
  add_sampling_options(*c, a->gen);
  c->add_option("--top-logprobs", a->gen.top_logprobs, "alternatives reported per token");
  c->add_option("--ctx", a->ctx, "context length (KV cache size)");
  c->add_flag("--json", a->json, "print one JSON document");
  add_device_option(*c, a->device);
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
