// moe-cli info PATH [--json]: what a model is and what it costs to run.
#include <iostream>

#include "cli_common.h"
#include "moe/device.h"

namespace moe::cli {
namespace {

struct InfoArgs {
  std::string path;
  bool json = false;
  int64_t ctx = 0;
};

nlohmann::json describe(const Model& m, int64_t ctx) {
  const ModelSpec& s = m.spec();
  int64_t sliding = 0;
  for (const auto& l : s.layers)
    sliding = std::max<int64_t>(sliding, l.sliding_window);
  auto backend = make_cpu_backend(m, BackendOptions{ctx});
  GpuProbe gpus = probe_gpus();
  nlohmann::json g = nlohmann::json::array();
  for (const auto& gpu : gpus.gpus)
    g.push_back({{"name", gpu.name}, {"memory_bytes", gpu.total_memory}});
  return {{"path", m.folder().string()},
          {"architecture", s.architecture},
          {"family", family_name(s.family)},
          {"layers", s.num_layers},
          {"moe_layers", s.num_moe_layers()},
          {"hidden_size", s.hidden_size},
          {"vocab_size", s.vocab_size},
          {"attention", s.attention == AttentionKind::MLA ? "mla" : "gqa"},
          {"heads", s.num_heads},
          {"kv_heads", s.num_kv_heads},
          {"head_dim", s.head_dim},
          {"experts", s.num_experts},
          {"top_k", s.top_k},
          {"shared_expert_size", s.shared_expert_intermediate_size},
          {"total_parameters", s.total_parameters()},
          {"active_parameters", s.active_parameters()},
          {"weight_bytes", m.weight_bytes()},
          {"weight_dtype", std::string(dtype_name(m.main_dtype()))},
          {"context_length", s.max_position_embeddings},
          {"sliding_window", sliding},
          {"rope_theta", s.rope.theta},
          {"eos_token_ids", s.eos_token_ids},
          {"plan",
           {{"backend", backend->name()},
            {"context", backend->context_length()},
            {"kv_cache_bytes", backend->kv_cache_bytes()}}},
          {"gpus", g},
          {"gpu_note", gpus.why_none}};
}

void run(const InfoArgs& a) {
  auto model = Model::open(a.path);
  auto j = describe(*model, a.ctx);
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  const ModelSpec& s = model->spec();
  std::cout << "model         " << a.path << "\n"
            << "architecture  " << s.architecture << "\n"
            << "layers        " << s.num_layers << " (" << s.num_moe_layers() << " MoE)\n"
            << "hidden size   " << s.hidden_size << ", vocabulary " << s.vocab_size << "\n"
            << "attention     " << j["attention"].get<std::string>() << ", " << s.num_heads << " heads, "
            << s.num_kv_heads << " kv heads, head size " << s.head_dim << "\n";
  if (s.is_moe())
    std::cout << "experts       " << s.num_experts << ", top-" << s.top_k
              << (s.shared_expert_intermediate_size ? " + shared expert" : "") << "\n";
  std::cout << "parameters    " << human_count(double(s.total_parameters())) << " total, "
            << human_count(double(s.active_parameters())) << " active per token\n"
            << "weights       " << human_bytes(double(model->weight_bytes())) << " ("
            << j["weight_dtype"].get<std::string>() << ")\n"
            << "context       " << s.max_position_embeddings << " positions"
            << (j["sliding_window"].get<int64_t>() ? ", sliding window " + j["sliding_window"].dump() : "")
            << "\n"
            << "plan          " << j["plan"]["backend"].get<std::string>() << ", KV cache "
            << human_bytes(double(j["plan"]["kv_cache_bytes"].get<size_t>())) << " for "
            << j["plan"]["context"].get<int64_t>() << " positions\n"
            << "gpu           "
            << (j["gpus"].empty() ? "none (" + j["gpu_note"].get<std::string>() + ")"
                                  : j["gpus"][0]["name"].get<std::string>())
            << "\n";
}

}  // namespace

void add_info(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  auto* c = app.add_subcommand("info", "architecture, sizes, parameters and memory plan of a model");
  c->add_option("path", a->path, "model folder")->required();
  c->add_option("--ctx", a->ctx, "context length to plan the KV cache for (default: min(model, 4096))");
  c->add_flag("--json", a->json, "print one JSON document");
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
