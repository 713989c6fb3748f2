// moe-cli info PATH [--ctx N] [--device D] [--json]: what a model is and what it costs to run, with the VRAM
// plan of the CUDA backend (weights, KV cache, workspace) against the GPU's free memory. Nothing is loaded:
// the plan is the backend's own host arithmetic.
#include <iostream>

#include "cli_common.h"
#include "moe/device.h"

namespace moe::cli {
namespace {

struct InfoArgs {
  std::string path;
  bool json = false;
  int64_t ctx = 0;
  std::string device = "auto";
};

// The CUDA backend's memory plan at `ctx` positions and, with a GPU, whether it fits in the free memory now.
nlohmann::json vram_plan(const ModelSpec& s, int64_t ctx) {
  const MemoryPlan p = cuda_memory_plan(s, ctx);
  nlohmann::json j = {{"context", default_context_length(s, ctx)},
                      {"weights_bytes", p.weights},
                      {"kv_cache_bytes", p.kv_cache},
                      {"workspace_bytes", p.workspace},
                      {"total_bytes", p.total()}};
  GpuMemory mem;
  if (gpu_memory(0, mem)) {
    j["gpu_free_bytes"] = mem.free;
    j["gpu_total_bytes"] = mem.total;
    j["fits"] = p.total() + kCudaMemoryReserve <= mem.free;
  }
  return j;
}

nlohmann::json describe(const Model& m, int64_t ctx, const std::string& device) {
  const ModelSpec& s = m.spec();
  int64_t sliding = 0;
  for (const auto& l : s.layers)
    sliding = std::max<int64_t>(sliding, l.sliding_window);
  GpuProbe gpus = probe_gpus();
  // "auto" resolves as make_backend would; only the CPU plan needs a backend (its cache is host memory).
  const std::string backend = device == "auto" ? (gpus.gpus.empty() ? "cpu" : "cuda") : device;
  nlohmann::json vram = vram_plan(s, ctx);
  nlohmann::json plan = {
      {"backend", backend}, {"context", vram["context"]}, {"kv_cache_bytes", vram["kv_cache_bytes"]}};
  if (backend == "cpu") plan["kv_cache_bytes"] = make_cpu_backend(m, BackendOptions{ctx})->kv_cache_bytes();
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
          {"plan", plan},
          {"vram", vram},
          {"gpus", g},
          {"gpu_note", gpus.why_none}};
}

void run(const InfoArgs& a) {
  auto model = Model::open(a.path);
  auto j = describe(*model, a.ctx, a.device);
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
  const nlohmann::json& v = j["vram"];
  auto bytes = [&](const char* key) { return human_bytes(double(v[key].get<uint64_t>())); };
  std::cout << "vram plan     weights " << bytes("weights_bytes") << " + KV cache " << bytes("kv_cache_bytes")
            << " (" << v["context"].get<int64_t>() << " positions, bf16) + workspace "
            << bytes("workspace_bytes") << " = " << bytes("total_bytes") << "\n";
  if (v.contains("gpu_free_bytes")) {
    // The backend keeps kCudaMemoryReserve free beyond its plan.
    const double need = double(v["total_bytes"].get<uint64_t>() + kCudaMemoryReserve),
                 free = double(v["gpu_free_bytes"].get<uint64_t>());
    std::cout << "gpu memory    " << bytes("gpu_free_bytes") << " free of " << bytes("gpu_total_bytes")
              << ": " << (need <= free ? "fits" : "does not fit, " + human_bytes(need - free) + " short")
              << " (plan + " << human_bytes(double(kCudaMemoryReserve)) << " reserve)\n";
  }
}

}  // namespace

void add_info(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  auto* c = app.add_subcommand("info", "architecture, sizes, parameters and memory plan of a model");
  c->add_option("path", a->path, "model folder")->required();
  c->add_option("--ctx", a->ctx, "context length to plan the KV cache for (default: min(model, 4096))");
  add_device_option(*c, a->device);
  c->add_flag("--json", a->json, "print one JSON document");
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
