// moe-cli random OUT (--config config.json | --like NAME) [--seed S] [--dtype bf16|f32]: a random-weight
// checkpoint of a real model's shape, with a byte-level tokenizer and a ChatML template.
#include <fstream>
#include <iostream>

#include "cli_common.h"
#include "moe/error.h"
#include "moe/random_checkpoint.h"

namespace moe::cli {
namespace {

struct RandomArgs {
  std::string out, config, like, dtype = "bf16";
  uint64_t seed = 0;
};

void run(const RandomArgs& a) {
  if (a.config.empty() == a.like.empty()) throw Error("give exactly one of --config FILE or --like NAME");
  nlohmann::json config;
  if (!a.like.empty()) {
    config = preset_config(a.like);
  } else {
    std::ifstream in(a.config, std::ios::binary);
    if (!in) throw Error(a.config + ": cannot be opened");
    try {
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(a.config + ": invalid JSON: " + e.what());
    }
  }
  if (a.dtype != "bf16" && a.dtype != "f32") throw Error("--dtype must be bf16 or f32");
  write_random_checkpoint(a.out, config, a.seed, a.dtype == "bf16" ? DType::BF16 : DType::F32);
  std::cerr << "wrote a random " << config["architectures"][0].get<std::string>() << " checkpoint to "
            << a.out << "\n";
}

}  // namespace

void add_random(CLI::App& app) {
  auto a = std::make_shared<RandomArgs>();
  auto* c = app.add_subcommand("random", "write a random-weight checkpoint of a real model's shape");
  c->add_option("out", a->out, "output folder")->required();
  c->add_option("--config", a->config, "a config.json to take the shape from");
  std::string names;
  for (const auto& n : preset_names())
    names += (names.empty() ? "" : ", ") + n;
  c->add_option("--like", a->like, "a known shape: " + names);
  c->add_option("--seed", a->seed, "random seed")->capture_default_str();
  c->add_option("--dtype", a->dtype, "bf16 or f32")->capture_default_str();
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
