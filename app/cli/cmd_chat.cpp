// moe-cli chat [PATH]: an interactive chat in the terminal with the model's own template, streaming output,
// a system prompt flag and /reset. The conversation's KV cache is kept between turns: each turn prefills
// only what the template added since the last one.
#include <iostream>

#include "cli_common.h"
#include "moe/chat_format.h"
#include "moe/error.h"
#include "moe/generator.h"
#include "moe/tokenizer.h"

namespace moe::cli {
namespace {

struct ChatArgs {
  std::string path, system, template_file, device = "auto";
  GenerationParams gen;
  int64_t ctx = 0;
};

void run(ChatArgs& a) {
  const std::string folder = a.path.empty() ? find_demo_model() : a.path;
  auto m = load(folder, a.ctx, a.device);
  auto tok = Tokenizer::load(folder);
  ChatFormatter format(*tok, a.template_file.empty() ? "" : read_text_file(a.template_file));
  ModelSpec spec = m.model->spec();
  if (auto eos = tok->eos_token())
    if (auto id = tok->token_to_id(*eos)) spec.eos_token_ids.push_back(*id);
  Generator generator(*m.backend, spec);
  std::cerr << "chatting with " << folder << " (" << spec.architecture
            << "), template: " << format.template_name()
            << "\ntype /reset to start over, /exit or Ctrl-D to quit\n";
  nlohmann::json messages = nlohmann::json::array();
  auto reset = [&] {
    messages = nlohmann::json::array();
    if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  };
  reset();
  std::string line;
  while (true) {
    std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      reset();
      generator.reset();
      std::cout << "(conversation reset)\n";
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    auto ids = tok->encode(format.render(messages, true), false);
    StreamingDecoder stream(*tok, true);
    std::string answer;
    auto result = generator.generate(ids, a.gen, [&](const TokenEvent& ev) {
      std::string piece = stream.push(ev.id);
      answer += piece;
      std::cout << piece << std::flush;
    });
    std::string rest = stream.flush();
    answer += rest;
    std::cout << rest << "\n";
    if (result.reason == StopReason::ContextFull) std::cerr << "(the context is full: /reset to continue)\n";
    std::cerr << "(" << result.tokens.size() << " tokens, "
              << double(result.tokens.size()) / std::max(result.decode_seconds, 1e-9) << " tok/s, "
              << result.reused_tokens << " prompt tokens reused)\n";
    messages.push_back({{"role", "assistant"}, {"content", answer}});
  }
}

}  // namespace

void add_chat(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  a->gen.max_tokens = 512;
  auto* c =
      app.add_subcommand("chat", "chat with a model in the terminal (the built-in demo model by default)");
  c->add_option("path", a->path, "model folder (default: the built-in demo model)");
  c->add_option("--system", a->system, "system prompt");
  c->add_option("--template", a->template_file, "a Jinja chat template file to use instead of the model's");
  add_sampling_options(*c, a->gen);
  c->add_option("--ctx", a->ctx, "context length (KV cache size)");
  add_device_option(*c, a->device);
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
