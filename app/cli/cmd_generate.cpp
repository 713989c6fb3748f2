// moe-cli generate PATH --ids FILE.json [sampling options] [--json]: generated ids, logprobs and routing.
#include <iostream>

#include "cli_common.h"
#include "moe/generator.h"

namespace moe::cli {
namespace {

struct GenerateArgs {
  std::string path, ids;
  GenerationParams gen;
  int64_t ctx = 0;
  bool json = false;
};

void run(GenerateArgs& a) {
  auto prompt = read_ids(a.ids);
  auto m = load(a.path, a.ctx);
  Generator generator(*m.backend, m.model->spec());
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
        if (!a.json) std::cout << ev.id << (ev.id >= 0 ? " " : "") << std::flush;
      },
      add_routing);
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
  c->add_option("--ids", a->ids, "JSON file with the prompt's token ids")->required();
  c->add_option("--max-tokens", a->gen.max_tokens, "tokens to generate at most")->capture_default_str();
  c->add_option("--temperature", a->gen.sampling.temperature, "0: greedy")->capture_default_str();
  c->add_option("--top-k", a->gen.sampling.top_k, "0: off")->capture_default_str();
  c->add_option("--top-p", a->gen.sampling.top_p, "1: off")->capture_default_str();
  c->add_option("--min-p", a->gen.sampling.min_p, "0: off")->capture_default_str();
  c->add_option("--repetition-penalty", a->gen.sampling.repetition_penalty, "1: off")->capture_default_str();
  c->add_option("--presence-penalty", a->gen.sampling.presence_penalty, "0: off")->capture_default_str();
  c->add_option("--seed", a->gen.sampling.seed, "sampling seed")->capture_default_str();
  c->add_option("--top-logprobs", a->gen.top_logprobs, "alternatives reported per token");
  c->add_flag("--ignore-eos", a->gen.ignore_eos, "do not stop at end-of-sequence tokens");
  c->add_option("--ctx", a->ctx, "context length (KV cache size)");
  c->add_flag("--json", a->json, "print one JSON document");
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
