// moe-gpu-check: the checks that need the GPU machine, as a Qt-free program printing one table row per check
// and exiting non-zero when any fails. Everything on the GPU is held to the CPU oracle (itself checked here
// against transformers first) or to another GPU run, never to itself:
//  1. the GPU is found; the CPU oracle reproduces every transformers parity fixture on this machine;
//  2. every fixture through the CUDA backend: logits of forward(All) (prefill), of the prompt fed one
//     token at a time (the decode step), and greedy decode_sample (the device sampler) against the CPU
//     oracle's logits, routing and argmax; the same on random bf16 checkpoints of real shapes cut to 2 layers
//     (OLMoE-1B-7B, DeepSeek-V2-Lite: MLA, Qwen3-30B-A3B, and shapes of hidden size 6,144, 12,288 and 1,020
//     for the FFN kernel's paths), written to disk so both backends read identical weights;
//  3. graph replay equals eager launches (BackendOptions::cuda_graphs): logits bit for bit and identical
//     tokens over a 64-token greedy generation;
//  4. out of memory: a shape that cannot fit is refused with a moe::Error saying so and by how much, leaves
//     the free memory as it was, and the process goes on computing correct logits.
// Tolerance (bf16): the CUDA path rounds weights (the fixtures are partly F32), activations at GEMM inputs
// (prefill carries some as bf16 hi/lo pairs instead: engine/cuda/prefill.cu, Precision) and the KV cache to
// bf16 (relative step 2^-8) with fp32 accumulation; through 2-3 layers of these models
// that is ~0.3-1 % of the largest logit, so the bar is max |diff| / max |ref| < 2e-2 per model, top-1
// agreement >= 99 % and identical top-k expert sets >= 98 % of (position, MoE layer) pairs over each group.
// On the random-weight real shapes the CPU oracle is also run against itself with bf16-sized weight noise
// (NoiseFloor below); a GPU figure within twice that floor's disagreement passes too, and both are printed.
// Usage: moe-gpu-check [DATA_DIR]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "gpu_compare.h"
#include "moe/backend.h"
#include "moe/device.h"
#include "moe/error.h"
#include "moe/model.h"
#include "moe/random_checkpoint.h"

namespace fs = std::filesystem;
using namespace moe;
using namespace moe::gpucheck;

namespace {

constexpr double kTolerance = 2e-2;
constexpr float kPoison = std::numeric_limits<float>::quiet_NaN();

int failures = 0;
std::vector<std::string> failed_rows;

void row(const std::string& check, bool ok, const std::string& detail) {
  char buf[640];
  std::snprintf(buf, sizeof buf, "| %-46s | %-4s | %s", check.c_str(), ok ? "ok" : "FAIL", detail.c_str());
  std::printf("%s\n", buf);
  std::fflush(stdout);
  if (!ok) failed_rows.push_back(buf);
  failures += !ok;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary | std::ios::ate);
  std::vector<float> v(size_t(in.tellg()) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  return v;
}

std::vector<int32_t> read_ids(const fs::path& dir) {
  std::ifstream in(dir / "ids.json");
  return nlohmann::json::parse(in).get<std::vector<int32_t>>();
}

// The CPU oracle against the transformers logits recorded with the fixture.
void check_oracle(const fs::path& dir) {
  auto model = Model::open(dir);
  auto ids = read_ids(dir);
  auto ref = read_f32(dir / "logits.f32");
  auto backend = make_cpu_backend(*model, {int64_t(ids.size())});
  std::vector<float> logits;
  backend->forward(ids, LogitsMode::All, logits, nullptr);
  const Compare c = compare(ref, logits, model->spec().vocab_size);
  char buf[96];
  std::snprintf(buf, sizeof buf, "max relative logit error %.2e", c.rel);
  row("cpu oracle = transformers: " + dir.filename().string(), c.finite && c.rel < 2e-5, buf);
}

// One decode step's routing (1 position) into row `pos` of `all`.
void put_routing(RoutingBatch& all, int64_t pos, const RoutingBatch& step) {
  const size_t width = size_t(all.n_moe_layers * all.top_k);
  if (step.experts.size() != width) return;  // left at -1: counts as a mismatch
  std::copy(step.experts.begin(), step.experts.end(), all.experts_at(pos, 0));
}

struct Groups {
  Totals forward, decode, sampled;
};

// The CPU oracle's own sensitivity to bf16 rounding, as a floor for the agreement a bf16 GPU path can reach
// on a model: the oracle on the same checkpoint with every matrix element nudged by one bf16 ulp with
// probability 1/12 (the output variance of rounding each GEMM input to bf16 once: a uniform error of
// +-ulp/2 has variance ulp^2/12) against the oracle on the checkpoint itself. Random-weight routers have
// near-tied expert scores, which trained routers rarely have, so this floor can sit below the stated bars.
struct NoiseFloor {
  Compare c;
};

// Nudges the bf16 matrices (2-D tensors) of one safetensors file in place.
void perturb_bf16_matrices(const fs::path& file, uint64_t seed) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t header_len = 0;
  f.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(size_t(header_len), '\0');
  f.read(header.data(), std::streamsize(header_len));
  const auto h = nlohmann::json::parse(header);
  uint64_t state = seed;
  auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<uint16_t> v;
  for (const auto& [name, t] : h.items()) {
    if (name == "__metadata__" || t["dtype"] != "BF16" || t["shape"].size() != 2) continue;
    const uint64_t b = t["data_offsets"][0], e = t["data_offsets"][1];
    v.resize(size_t((e - b) / 2));
    f.seekg(std::streamoff(8 + header_len + b));
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(e - b));
    for (auto& x : v) {
      const uint64_t r = next();
      if ((x & 0x7FFF) == 0 || (x & 0x7F80) == 0x7F80 || r % 12 != 0) continue;  // zeros, inf/NaN kept
      x = uint16_t((r >> 32) & 1 ? x + 1 : x - 1);  // the neighbouring bf16 magnitude, same sign
    }
    f.seekp(std::streamoff(8 + header_len + b));
    f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(e - b));
  }
  if (!f) throw Error(file.string() + ": could not perturb");
}

NoiseFloor noise_floor(const fs::path& dir, const std::vector<int32_t>& ids) {
  const fs::path noisy = dir.string() + "-noisy";
  fs::remove_all(noisy);
  fs::copy(dir, noisy, fs::copy_options::recursive);
  uint64_t seed = 1;
  for (const auto& e : fs::directory_iterator(noisy))
    if (e.path().extension() == ".safetensors") perturb_bf16_matrices(e.path(), seed++);
  BackendOptions o;
  o.context_length = int64_t(ids.size());
  std::vector<float> ref, got;
  RoutingBatch rr, rg;
  auto model = Model::open(dir);
  make_cpu_backend(*model, o)->forward(ids, LogitsMode::All, ref, &rr);
  {
    auto noisy_model = Model::open(noisy);
    make_cpu_backend(*noisy_model, o)->forward(ids, LogitsMode::All, got, &rg);
  }
  fs::remove_all(noisy);
  return {compare(ref, got, model->spec().vocab_size, &rr, &rg)};
}

// CUDA prefill, CUDA decode steps and greedy device sampling against the CPU oracle on `ids`. With a noise
// floor, a logit error up to twice the floor's also passes.
void check_parity(const std::string& name, const Model& model, const std::vector<int32_t>& ids, Groups& g,
                  const NoiseFloor* floor = nullptr) {
  const double tol = floor ? std::max(kTolerance, 2 * floor->c.rel) : kTolerance;
  char bar[48] = "";
  if (floor) std::snprintf(bar, sizeof bar, ", bar %.2e", tol);
  const int64_t V = model.spec().vocab_size, n = int64_t(ids.size());
  BackendOptions o;
  o.context_length = n;
  std::vector<float> ref;
  RoutingBatch rref;
  make_cpu_backend(model, o)->forward(ids, LogitsMode::All, ref, &rref);
  auto gpu = make_cuda_backend(model, o);

  std::vector<float> got(ref.size(), kPoison);
  RoutingBatch rgot;
  gpu->forward(ids, LogitsMode::All, got, &rgot);
  Compare c = compare(ref, got, V, &rref, &rgot);
  g.forward.add(c);
  row("prefill = cpu: " + name, c.finite && c.rel < tol, describe(c) + bar);

  gpu->truncate(0);
  std::vector<float> dec(ref.size(), kPoison), step;
  RoutingBatch rdec, rstep;
  rdec.reset(n, rref.n_moe_layers, rref.top_k);
  for (int64_t i = 0; i < n; ++i) {
    step.assign(size_t(V), kPoison);
    gpu->forward(std::span<const int32_t>(&ids[size_t(i)], 1), LogitsMode::Last, step, &rstep);
    if (int64_t(step.size()) == V) std::copy(step.begin(), step.end(), dec.begin() + i * V);
    put_routing(rdec, i, rstep);
  }
  c = compare(ref, dec, V, &rref, &rdec);
  g.decode.add(c);
  row("decode steps = cpu: " + name, c.finite && c.rel < tol && gpu->cache_length() == n, describe(c) + bar);

  // Greedy decode_sample, teacher-forced: the device sampler's token is its own step's argmax exactly, and
  // agrees with the CPU's argmax as often as the logits do.
  gpu->truncate(0);
  std::vector<int32_t> history;
  int64_t own = 0, cpu = 0;
  for (int64_t i = 0; i < n; ++i) {
    history.push_back(ids[size_t(i)]);
    const SampleResult r =
        gpu->decode_sample(ids[size_t(i)], SamplingParams::greedy(), history, uint64_t(i), 0, nullptr);
    own += r.token == argmax_row(dec, i, V);
    cpu += r.token == argmax_row(ref, i, V);
  }
  g.sampled.rows += n;
  g.sampled.top1 += cpu;
  row("decode_sample greedy = argmax: " + name, own == n,
      std::to_string(own) + "/" + std::to_string(n) + " = own step's argmax, " + std::to_string(cpu) + "/" +
          std::to_string(n) + " = cpu argmax");
}

// Top-1 >= 99 % and routing >= 98 %; with a noise floor, also passing: at most twice the floor's rate of
// disagreement (the GPU path rounds at several points per layer, the floor once).
void check_group(const std::string& name, const Totals& t, const NoiseFloor* floor = nullptr) {
  double top1_bar = 0.99, route_bar = 0.98;
  std::string detail = t.describe();
  if (floor) {
    Totals f;
    f.add(floor->c);
    top1_bar = std::min(top1_bar, 1 - 2 * (1 - f.top1_share()));
    route_bar = std::min(route_bar, 1 - 2 * (1 - f.routing_share()));
    detail += "; cpu noise floor " + f.describe();
  }
  row(name, t.top1_share() >= top1_bar && t.routing_share() >= route_bar, detail);
}

// Decode with graphs and without on the same weights: the prompt one token at a time, 64 greedy
// decode_sample steps, then 8 more teacher-forced steps, comparing every logit and every token.
void check_graphs(const std::string& name, const Model& model, const std::vector<int32_t>& prompt) {
  const int64_t V = model.spec().vocab_size, gen = 64, extra = 8;
  BackendOptions o;
  o.context_length = int64_t(prompt.size()) + gen + extra + 1;
  o.cuda_graphs = true;
  auto graphs = make_cuda_backend(model, o);
  o.cuda_graphs = false;
  auto eager = make_cuda_backend(model, o);
  double diff = 0, mx = 0;
  bool bit_equal = true, finite = true;
  std::vector<float> la, lb;
  auto step_both = [&](int32_t token) {
    la.assign(size_t(V), kPoison);
    lb.assign(size_t(V), kPoison);
    graphs->forward(std::span<const int32_t>(&token, 1), LogitsMode::Last, la, nullptr);
    eager->forward(std::span<const int32_t>(&token, 1), LogitsMode::Last, lb, nullptr);
    bit_equal &= la.size() == lb.size() && std::memcmp(la.data(), lb.data(), la.size() * 4) == 0;
    for (size_t i = 0; i < la.size() && i < lb.size(); ++i) {
      finite &= std::isfinite(la[i]) && std::isfinite(lb[i]);
      diff = std::max(diff, double(std::fabs(la[i] - lb[i])));
      mx = std::max(mx, double(std::fabs(lb[i])));
    }
  };
  for (int32_t t : prompt)
    step_both(t);
  std::vector<int32_t> ha = prompt, hb = prompt, gen_a, gen_b;
  int32_t ta = int32_t(argmax_row(la, 0, V)), tb = int32_t(argmax_row(lb, 0, V));
  for (int64_t i = 0; i < gen; ++i) {
    ha.push_back(ta);
    hb.push_back(tb);
    ta = graphs->decode_sample(ta, SamplingParams::greedy(), ha, uint64_t(i), 0, nullptr).token;
    tb = eager->decode_sample(tb, SamplingParams::greedy(), hb, uint64_t(i), 0, nullptr).token;
    gen_a.push_back(ta);
    gen_b.push_back(tb);
  }
  for (int64_t i = 0; i < extra; ++i)
    step_both(gen_a[size_t(i)]);
  int64_t same = 0;
  for (size_t i = 0; i < gen_a.size(); ++i)
    same += gen_a[i] == gen_b[i];
  const double rel = mx > 0 ? diff / mx : diff;
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "%zu + %lld steps: %s (max |diff| %.1e of max |logit|), %lld/%lld tokens equal",
                prompt.size(), (long long)extra, bit_equal ? "bit-equal" : "differ", rel, (long long)same,
                (long long)gen);
  // Bit for bit: every decode kernel sums in a fixed order or in integers (the FFN's fixed point).
  row("graph replay = eager: " + name, finite && bit_equal && same == gen, buf);
}

// A random bf16 checkpoint of a preset's shape cut to `layers` layers, with a 4,096-token vocabulary (the
// lm_head is not what is being tested, and the file stays quick to write) and the fields of `patch` changed;
// the caller removes the folder.
fs::path write_real_shape(const std::string& preset, int64_t layers, const nlohmann::json& patch) {
  auto cfg = preset_config(preset);
  cfg["num_hidden_layers"] = layers;
  cfg["vocab_size"] = 4096;
  cfg.update(patch);
  const fs::path dir = fs::temp_directory_path() / ("moe-gpu-check-" + preset);
  fs::remove_all(dir);
  write_random_checkpoint(dir, cfg, 11, DType::BF16);
  return dir;
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1ull << 30));
  return buf;
}

// Sets every element of the bf16 tensor `name` to +infinity in whichever safetensors file of `dir` holds it.
void set_tensor_infinite(const fs::path& dir, const std::string& name) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    uint64_t header_len = 0;
    f.read(reinterpret_cast<char*>(&header_len), 8);
    std::string header(size_t(header_len), '\0');
    f.read(header.data(), std::streamsize(header_len));
    const auto h = nlohmann::json::parse(header);
    if (!h.contains(name)) continue;
    if (h[name]["dtype"] != "BF16") throw Error(name + " is not bf16");
    const uint64_t b = h[name]["data_offsets"][0], end = h[name]["data_offsets"][1];
    const std::vector<uint16_t> inf(size_t((end - b) / 2), uint16_t(0x7F80));
    f.seekp(std::streamoff(8 + header_len + b));
    f.write(reinterpret_cast<const char*>(inf.data()), std::streamsize(end - b));
    if (!f) throw Error(e.path().string() + ": could not write " + name);
    return;
  }
  throw Error(dir.string() + ": no tensor " + name);
}

// The decode step sums the residual in fixed point, which cannot carry inf or NaN: an infinite weight in
// layer 1 must end the step with an error naming that layer and its part (SampleOut::nonfinite_*), in both
// the logits step (forward of one token) and decode_sample, instead of finite garbage; the position is not
// kept, and the same step fails the same way again (no sticky CUDA error). 16 experts keep the files small
// and still leave lane 0 of the routing warp without an expert in the third of four rounds (the case NaN
// scores once turned into expert 2^30).
void check_nonfinite() {
  struct Case {
    std::string preset, tensor, expect;
    nlohmann::json patch;
  };
  const std::vector<Case> cases = {
      {"qwen1.5-moe-a2.7b",
       "model.layers.1.post_attention_layernorm.weight",
       "feed-forward output of layer 1 ",
       {{"num_experts", 16}}},
      {"qwen1.5-moe-a2.7b",
       "model.layers.1.self_attn.o_proj.weight",
       "attention output of layer 1 ",
       {{"num_experts", 16}}},
      // MLA: the merge applies the value up-projection (the fused value path) and reports.
      {"deepseek-v2-lite",
       "model.layers.1.self_attn.kv_b_proj.weight",
       "attention output of layer 1 ",
       {{"n_routed_experts", 16}}}};
  for (const auto& c : cases) {
    const fs::path dir = write_real_shape(c.preset, 2, c.patch);
    set_tensor_infinite(dir, c.tensor);
    auto model = Model::open(dir);
    const auto ids = gpu_check_ids(16, model->spec().vocab_size, 7);
    const std::span<const int32_t> prompt(ids.data(), ids.size() - 1), last(&ids.back(), 1);
    for (const bool sampled : {false, true}) {
      const std::string name =
          "non-finite reported: " + c.preset + " " + c.tensor + (sampled ? ", decode_sample" : ", decode");
      BackendOptions o;
      o.context_length = 64;
      auto b = make_cuda_backend(*model, o);
      std::vector<float> logits;
      b->forward(prompt, LogitsMode::Last, logits, nullptr);
      std::string first, again;
      for (std::string* m : {&first, &again}) {
        try {
          if (sampled)
            b->decode_sample(ids.back(), SamplingParams{}, ids, 0, 0, nullptr);
          else
            b->forward(last, LogitsMode::Last, logits, nullptr);
          *m = "no error";
        } catch (const Error& e) {
          *m = e.what();
        }
      }
      const bool ok = first.find(c.expect) != std::string::npos &&
                      first.find("position 15 ") != std::string::npos && again == first &&
                      b->cache_length() == 15;
      row(name, ok,
          first.substr(0, 240) + (again == first ? "; the same again" : "; then: " + again.substr(0, 120)) +
              "; cache length " + std::to_string(b->cache_length()));
    }
    fs::remove_all(dir);
  }
}

// A shape far larger than the GPU is refused cleanly, and the process goes on working afterwards.
void check_oom(const fs::path& fixture) {
  GpuMemory before;
  if (!gpu_memory(0, before)) {
    row("out of memory reported", false, "gpu_memory failed");
    return;
  }
  auto cfg = preset_config("mixtral-8x7b");
  ModelSpec spec = parse_model_config(cfg, "mixtral-8x7b");
  while (double(cuda_memory_plan(spec, 4096).total()) < 1.25 * double(before.total)) {
    cfg["num_hidden_layers"] = cfg["num_hidden_layers"].get<int64_t>() * 2;
    spec = parse_model_config(cfg, "mixtral-8x7b");
  }
  const std::string what = "mixtral-8x7b x " + std::to_string(spec.num_layers) + " layers (" +
                           gib(double(cuda_memory_plan(spec, 4096).total())) + ")";
  try {
    BackendOptions o;
    o.context_length = 4096;
    auto b = make_cuda_backend_random(spec, 1, o);
    row("out of memory reported: " + what, false, "no error: the backend was made");
  } catch (const Error& e) {
    const std::string m = e.what();
    const bool says = m.find("out of") != std::string::npos && m.find("memory") != std::string::npos &&
                      m.find("short") != std::string::npos;
    row("out of memory reported: " + what, says, m.substr(0, 400));
  } catch (const std::exception& e) {
    row("out of memory reported: " + what, false, std::string("not a moe::Error: ") + e.what());
  }
  GpuMemory after;
  gpu_memory(0, after);
  row("out of memory leaves the memory free", after.free + (64ull << 20) >= before.free,
      "free " + gib(double(before.free)) + " before, " + gib(double(after.free)) + " after");
  // The process still works: a fixture again, against the CPU.
  auto model = Model::open(fixture);
  const auto ids = read_ids(fixture);
  std::vector<float> ref, got;
  make_cpu_backend(*model, {int64_t(ids.size())})->forward(ids, LogitsMode::All, ref, nullptr);
  got.assign(ref.size(), kPoison);
  make_cuda_backend(*model, {int64_t(ids.size())})->forward(ids, LogitsMode::All, got, nullptr);
  const Compare c = compare(ref, got, model->spec().vocab_size);
  row("works after out of memory: " + fixture.filename().string(), c.finite && c.rel < kTolerance,
      describe(c));
}

template <class F>
void guarded(const std::string& name, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    row(name, false, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path data = argc > 1 ? fs::path(argv[1]) : fs::path(MOE_TEST_DATA_DIR);
  const double t0 = now_s();
  std::printf("| %-46s | %-4s | %s\n|---|---|---|\n", "gpu check", "", "detail");
  GpuProbe probe = probe_gpus();
  row("GPU found by the engine's probe", !probe.gpus.empty(),
      probe.gpus.empty()
          ? probe.why_none
          : probe.gpus[0].name + ", " + std::to_string(probe.gpus[0].total_memory >> 20) + " MiB, sm_" +
                std::to_string(probe.gpus[0].compute_major) + std::to_string(probe.gpus[0].compute_minor));
  std::vector<fs::path> fixtures;
  for (const auto& e : fs::directory_iterator(data / "parity"))
    if (fs::exists(e.path() / "logits.f32")) fixtures.push_back(e.path());
  std::sort(fixtures.begin(), fixtures.end());
  for (const auto& f : fixtures)
    guarded("cpu oracle = transformers: " + f.filename().string(), [&] { check_oracle(f); });

  if (!probe.gpus.empty()) {
    Groups fixture_groups;
    for (const auto& f : fixtures)
      guarded("cuda = cpu: " + f.filename().string(),
              [&] { check_parity(f.filename().string(), *Model::open(f), read_ids(f), fixture_groups); });
    check_group("fixtures overall, prefill", fixture_groups.forward);
    check_group("fixtures overall, decode steps", fixture_groups.decode);
    check_group("fixtures overall, decode_sample tokens", fixture_groups.sampled);

    for (const auto& f : fixtures)
      guarded("graph replay = eager: " + f.filename().string(),
              [&] { check_graphs(f.filename().string(), *Model::open(f), read_ids(f)); });

    // Real shapes; one of hidden size 6,144 (the FFN kernel's two-vectors-per-thread path; Mixtral's shape
    // otherwise, with smaller experts); one of hidden size 12,288 (its four-vectors path, as Llama-3.1-405B's
    // 16,384 takes, and the GEMVs' widest input; few heads and small experts keep the file small); one of
    // hidden size 1,020 and heads of 102 (not multiples of 8: the FFN's one-column path and the generic
    // GEMV and attention paths; OLMoE's shape otherwise, smaller).
    const std::vector<std::pair<std::string, nlohmann::json>> shapes = {
        {"olmoe-1b-7b", nlohmann::json::object()},
        {"deepseek-v2-lite", nlohmann::json::object()},
        {"qwen3-30b-a3b", nlohmann::json::object()},
        {"mixtral-8x7b", {{"hidden_size", 6144}, {"num_attention_heads", 48}, {"intermediate_size", 1024}}},
        {"mixtral-8x7b",
         {{"hidden_size", 12288},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 8},
          {"head_dim", 128},
          {"intermediate_size", 256},
          {"num_local_experts", 4}}},
        {"olmoe-1b-7b",
         {{"hidden_size", 1020},
          {"num_attention_heads", 10},
          {"num_key_value_heads", 10},
          {"intermediate_size", 128},
          {"num_experts", 16},
          {"num_experts_per_tok", 4}}}};
    for (const auto& [preset, patch] : shapes) {
      const std::string name = preset + (patch.empty() ? "" : " " + patch.dump()) + " 2 layers";
      guarded("real shape: " + name, [&] {
        const double w0 = now_s();
        const fs::path dir = write_real_shape(preset, 2, patch);
        std::printf("(%s: random bf16 checkpoint written in %.1f s)\n", name.c_str(), now_s() - w0);
        auto model = Model::open(dir);
        const auto ids = gpu_check_ids(192, model->spec().vocab_size, 5);
        const NoiseFloor floor = noise_floor(dir, ids);
        row("cpu noise floor: " + name, floor.c.finite,
            describe(floor.c) + " (cpu vs cpu, 1/12-ulp weight noise)");
        Groups g;
        check_parity(name + ", 192 pos", *model, ids, g, &floor);
        check_group(name + " overall, prefill", g.forward, &floor);
        check_group(name + " overall, decode steps", g.decode, &floor);
        check_group(name + " overall, decode_sample tokens", g.sampled, &floor);
        check_graphs(name, *model, gpu_check_ids(32, model->spec().vocab_size, 6));
        fs::remove_all(dir);
      });
    }
    guarded("non-finite reported", check_nonfinite);
    if (!fixtures.empty()) guarded("out of memory", [&] { check_oom(fixtures.front()); });
  }

  std::printf("\nmoe-gpu-check: %d check(s) failed in %.0f s\n", failures, now_s() - t0);
  for (const auto& r : failed_rows)
    std::printf("%s\n", r.c_str());
  return failures ? 1 : 0;
}
