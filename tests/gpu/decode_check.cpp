// moe-decode-check: the CUDA decode step against the CPU oracle, one token at a time over every parity
// fixture (logits, top-1, routing sets), graph replay against eager launches, and decode speed on random
// weights of real shapes at a given context position with the share of the memory-bandwidth roofline.
// Usage: moe-decode-check [DATA_DIR]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "moe/backend.h"
#include "moe/device.h"
#include "moe/dtype.h"
#include "moe/error.h"
#include "moe/model.h"
#include "moe/random_checkpoint.h"
#include "moe/roofline.h"
#include "moe/safetensors.h"

namespace fs = std::filesystem;

namespace {

int failures = 0;
int64_t total_rows = 0, total_top1 = 0, total_route_rows = 0, total_route_same = 0;

void row(const std::string& check, bool ok, const std::string& detail) {
  std::printf("| %-40s | %-4s | %s\n", check.c_str(), ok ? "ok" : "FAIL", detail.c_str());
  std::fflush(stdout);
  failures += !ok;
}

struct Compare {
  double max_rel = 0;  // max |diff| / max |ref| over a row, worst row
  int64_t rows = 0, top1_same = 0, route_rows = 0, route_same = 0;
};

int64_t argmax(const float* v, int64_t n) {
  return int64_t(std::max_element(v, v + n) - v);
}

// Feeds `ids` one at a time through `gpu` and compares each position with the CPU's logits and routing.
Compare compare_decode(moe::Backend& gpu, const std::vector<int32_t>& ids, const std::vector<float>& ref,
                       const moe::RoutingBatch& ref_routing, int64_t V) {
  Compare c;
  std::vector<float> logits;
  moe::RoutingBatch r;
  for (size_t t = 0; t < ids.size(); ++t) {
    gpu.forward(std::span<const int32_t>(&ids[t], 1), moe::LogitsMode::Last, logits, &r);
    const float* want = ref.data() + t * size_t(V);
    double diff = 0, mx = 0;
    bool finite = true;
    for (int64_t i = 0; i < V; ++i) {
      finite &= std::isfinite(logits[size_t(i)]);
      diff = std::max(diff, double(std::fabs(logits[size_t(i)] - want[i])));
      mx = std::max(mx, double(std::fabs(want[i])));
    }
    c.max_rel = std::max(c.max_rel, finite ? diff / mx : INFINITY);
    ++c.rows;
    c.top1_same += argmax(logits.data(), V) == argmax(want, V);
    const int64_t k = ref_routing.top_k, L = ref_routing.n_moe_layers;
    for (int64_t l = 0; l < L; ++l) {
      const int32_t* a = ref_routing.experts.data() + (int64_t(t) * L + l) * k;
      std::set<int32_t> sa(a, a + k), sb(r.experts_at(0, l), r.experts_at(0, l) + k);
      ++c.route_rows;
      c.route_same += sa == sb;
    }
  }
  return c;
}

// A copy of a fixture whose matrices are rounded to bf16 as the CUDA backend stores them (norms and biases
// stay as they are, as on the device), so the comparison measures the kernels, not the weights' rounding.
fs::path bf16_copy(const fs::path& dir) {
  const fs::path out = fs::temp_directory_path() / "moe-decode-check" / dir.filename();
  fs::create_directories(out);
  for (const char* f : {"config.json", "generation_config.json"})
    if (fs::exists(dir / f)) fs::copy_file(dir / f, out / f, fs::copy_options::overwrite_existing);
  moe::TensorStore store(dir);
  std::vector<std::vector<uint16_t>> buffers;
  std::vector<moe::TensorToWrite> tensors;
  for (const std::string& name : store.names()) {
    const moe::TensorView& t = store.get(name);
    moe::TensorToWrite w{name, t.dtype, t.shape, t.data, t.nbytes};
    if (t.shape.size() >= 2 && t.dtype != moe::DType::BF16) {
      std::vector<float> f(size_t(t.numel()));
      moe::convert_to_f32(t.dtype, t.data, f.data(), f.size());
      auto& b = buffers.emplace_back(f.size());
      for (size_t i = 0; i < f.size(); ++i)
        b[i] = moe::f32_to_bf16(f[i]);
      w.dtype = moe::DType::BF16;
      w.data = b.data();
      w.nbytes = b.size() * 2;
    }
    tensors.push_back(w);
  }
  moe::write_safetensors(out / "model.safetensors", tensors);
  return out;
}

void check_fixture(const fs::path& dir) {
  auto model = moe::Model::open(dir);
  std::ifstream ids_in(dir / "ids.json");
  auto ids = nlohmann::json::parse(ids_in).get<std::vector<int32_t>>();
  const int64_t V = model->spec().vocab_size;
  auto rounded = moe::Model::open(bf16_copy(dir));
  auto cpu = moe::make_cpu_backend(*rounded, {int64_t(ids.size())});
  std::vector<float> ref;
  moe::RoutingBatch ref_routing;
  cpu->forward(ids, moe::LogitsMode::All, ref, &ref_routing);
  moe::BackendOptions o;
  o.context_length = int64_t(ids.size());
  auto gpu = moe::make_cuda_backend(*model, o);
  Compare c = compare_decode(*gpu, ids, ref, ref_routing, V);
  char buf[160];
  std::snprintf(buf, sizeof buf, "rel err %.2e, top-1 %lld/%lld, routing sets %lld/%lld", c.max_rel,
                (long long)c.top1_same, (long long)c.rows, (long long)c.route_same, (long long)c.route_rows);
  // Same bf16 weights; the bf16 KV cache and fp32 sums in another order remain: ~1e-3 of the logit range.
  // Top-1 and routing agreement are judged over all fixtures together (see main).
  row("decode = cpu: " + dir.filename().string(), c.max_rel < 1e-2, buf);
  total_rows += c.rows;
  total_top1 += c.top1_same;
  total_route_rows += c.route_rows;
  total_route_same += c.route_same;

  // Graph replay against eager launches: the same kernels, so the same bits.
  o.cuda_graphs = false;
  auto eager = moe::make_cuda_backend(*model, o);
  gpu->truncate(0);
  std::vector<float> a, b;
  double worst = 0;
  for (int32_t id : ids) {
    gpu->forward(std::span<const int32_t>(&id, 1), moe::LogitsMode::Last, a, nullptr);
    eager->forward(std::span<const int32_t>(&id, 1), moe::LogitsMode::Last, b, nullptr);
    for (size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  }
  std::snprintf(buf, sizeof buf, "max |graph - eager| %.1e", worst);
  row("graph = eager: " + dir.filename().string(), worst == 0, buf);
}

void bench_shape(const std::string& name, int64_t position, int64_t steps, double copy_bw) {
  moe::ModelSpec spec = moe::parse_model_config(moe::preset_config(name), name);
  moe::BackendOptions o;
  o.context_length = position + steps + 1;
  auto gpu = moe::make_cuda_backend_random(spec, 7, o);
  // Fill the cache to `position` (prefill), then time greedy decode steps sampled on the device.
  std::vector<int32_t> prompt(static_cast<size_t>(position));
  for (size_t i = 0; i < prompt.size(); ++i)
    prompt[i] = int32_t((i * 7919) % size_t(spec.vocab_size));
  std::vector<float> logits;
  gpu->forward(prompt, moe::LogitsMode::Last, logits, nullptr);
  moe::SamplingParams greedy;
  greedy.temperature = 0;
  std::vector<int32_t> history = prompt;
  int32_t tok = 1;
  std::vector<double> times;
  moe::RoutingBatch r;
  for (int64_t s = 0; s < steps; ++s) {
    history.push_back(tok);
    auto t0 = std::chrono::steady_clock::now();
    moe::SampleResult res = gpu->decode_sample(tok, greedy, history, uint64_t(s), 0, &r);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    tok = res.token;
  }
  std::vector<double> steady(times.begin() + std::min<int64_t>(8, steps / 4), times.end());
  std::sort(steady.begin(), steady.end());
  const double step = steady[steady.size() / 2];
  const double bytes = double(moe::decode_step_bytes(spec, position + steps / 2).total());
  const double gbs = bytes / step / 1e9;
  char buf[200];
  std::snprintf(
      buf, sizeof buf,
      "%7.1f tok/s at position %lld: %.3f ms/step, %.2f GB/step, %.0f GB/s = %.1f%% of %.0f GB/s copy",
      1.0 / step, (long long)position, step * 1e3, bytes / 1e9, gbs, 100.0 * gbs * 1e9 / copy_bw,
      copy_bw / 1e9);
  row("decode speed: " + name, true, buf);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path data = argc > 1 ? fs::path(argv[1]) : fs::path(MOE_TEST_DATA_DIR);
  std::printf("| %-40s | %-4s | %s\n|---|---|---|\n", "decode check", "", "detail");
  moe::GpuProbe probe = moe::probe_gpus();
  if (probe.gpus.empty()) {
    row("GPU present", false, probe.why_none);
    return 1;
  }
  const char* only = std::getenv("MOE_DECODE_BENCH");  // e.g. "olmoe-1b-7b": time that shape only
  std::vector<fs::path> fixtures;
  for (const auto& e : fs::directory_iterator(data / "parity"))
    if (!only)
      if (fs::exists(e.path() / "logits.f32")) fixtures.push_back(e.path());
  std::sort(fixtures.begin(), fixtures.end());
  for (const auto& f : fixtures) {
    try {
      check_fixture(f);
    } catch (const std::exception& e) {
      row("decode = cpu: " + f.filename().string(), false, e.what());
    }
  }
  // A random checkpoint of `config` checked like a fixture (24 token ids).
  const auto random_case = [&](const std::string& name, const nlohmann::json& config) {
    const fs::path dir = fs::temp_directory_path() / "moe-decode-check-random" / name;
    try {
      fs::remove_all(dir);
      moe::write_random_checkpoint(dir, config, 5, moe::DType::BF16);
      std::vector<int32_t> ids;
      for (int i = 0; i < 24; ++i)
        ids.push_back(int32_t((i * 131 + 7) % 512));
      std::ofstream(dir / "ids.json") << nlohmann::json(ids).dump();
      check_fixture(dir);
    } catch (const std::exception& e) {
      row("decode = cpu: " + name, false, e.what());
    }
  };
  if (!only) {
    // Expert matrices that are not a multiple of 256 bytes (hidden 120, experts 36 wide), so the stacked
    // experts carry alignment padding the kernels must step over.
    nlohmann::json padded = moe::preset_config("tiny-qwen3-moe");
    padded["hidden_size"] = 120;
    padded["moe_intermediate_size"] = 36;
    random_case("padded-experts", padded);
    // As many experts as the decode routing holds (eight a lane of its warp: kMaxExperts), DeepSeek-V3's
    // grouped sigmoid routing with its score bias.
    nlohmann::json many = moe::preset_config("tiny-deepseek-v3");
    many["n_routed_experts"] = 256;
    many["num_experts_per_tok"] = 8;
    many["n_group"] = 8;
    many["topk_group"] = 4;
    many["moe_intermediate_size"] = 16;
    random_case("256-experts", many);
  }
  if (total_rows > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "top-1 %lld/%lld (%.2f%%), routing sets %lld/%lld (%.2f%%)",
                  (long long)total_top1, (long long)total_rows, 100.0 * total_top1 / total_rows,
                  (long long)total_route_same, (long long)total_route_rows,
                  100.0 * total_route_same / std::max<int64_t>(total_route_rows, 1));
    row("decode agreement, all fixtures",
        total_top1 * 100 >= total_rows * 99 && total_route_same * 100 >= total_route_rows * 98, buf);
  }
  const double bw = moe::measure_copy_bandwidth(0);
  // Position 512 for the four target shapes; long context (KV bytes dominate) where the shape allows it
  // (Qwen1.5-MoE's maximum is 8,192 positions, so it runs at 8,000).
  const std::pair<const char*, int64_t> runs[] = {
      {"qwen1.5-moe-a2.7b", 512},  {"olmoe-1b-7b", 512},    {"deepseek-v2-lite", 512}, {"qwen3-30b-a3b", 512},
      {"qwen1.5-moe-a2.7b", 8000}, {"qwen3-30b-a3b", 8192}, {"deepseek-v2-lite", 8192}};
  for (const auto& [name, position] : runs) {
    if (only && std::string(only) != name) continue;
    try {
      bench_shape(name, position, 128, bw);
    } catch (const std::exception& e) {
      row("decode speed: " + std::string(name), false, e.what());
    }
  }
  std::printf("%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
