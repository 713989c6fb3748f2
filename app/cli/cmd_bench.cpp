// moe-cli bench (PATH | --random-like NAME) [--prompt N] [--gen M] [--at P] [--ctx C] [--device D] [--json]
// [--row] [--no-graphs]: prefill tok/s, time to first token and batch-1 decode tok/s, with the bytes a
// decode step must read (moe/roofline.h) over its time as achieved GB/s, and that over the device-to-device
// copy bandwidth measured in the same run as the share of the roofline. --random-like fills the GPU with
// random weights of a real shape directly (no files), so shapes too large for a disk can be measured.
#include <cstdio>
#include <iostream>

#include "bench_measure.h"
#include "cli_common.h"
#include "moe/device.h"
#include "moe/error.h"
#include "moe/random_checkpoint.h"

namespace moe::cli {
namespace {

struct BenchArgs {
  std::string path, like, device = "auto";
  BenchSettings settings;
  int64_t ctx = 0;
  bool json = false, row = false, no_graphs = false;
  double roofline_gbps = 0;  // a stated bandwidth instead of the measured one (the CPU has no measurement)
  uint64_t weight_seed = 1;
};

std::string fixed(double x, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

// One Markdown row per decode position, for tools/gpu-check.sh's summary table: shape, device, prompt,
// prefill tok/s, TTFT ms, decode position, decode tok/s, achieved GB/s, roofline GB/s, share of the roofline.
void print_rows(const std::string& shape, const std::string& device, const BenchSettings& s,
                const BenchFigures& f, double roof) {
  for (const DecodeFigures* d : {&f.decode, &f.decode_at}) {
    if (d->steps == 0) continue;
    const double gbps = d->bytes_per_second() / 1e9;
    std::printf("| %s | %s | %lld | %s | %s | %lld | %s | %s | %s | %s |\n", shape.c_str(), device.c_str(),
                (long long)s.prompt, fixed(f.prefill_tokens_per_second(s.prompt), 0).c_str(),
                fixed(f.ttft_seconds * 1e3, 1).c_str(), (long long)d->position,
                fixed(d->tokens_per_second(), 1).c_str(), fixed(gbps, 0).c_str(),
                roof > 0 ? fixed(roof / 1e9, 0).c_str() : "-",
                roof > 0 ? (fixed(100 * d->bytes_per_second() / roof, 1) + " %").c_str() : "-");
  }
}

nlohmann::json decode_json(const DecodeFigures& d, double roof) {
  nlohmann::json j = {{"position", d.position},
                      {"steps", d.steps},
                      {"median_step_seconds", d.step_seconds},
                      {"mean_step_seconds", d.mean_step_seconds},
                      {"tokens_per_second", d.tokens_per_second()},
                      {"bytes_per_step", d.bytes_per_step},
                      {"achieved_bytes_per_second", d.bytes_per_second()}};
  if (roof > 0) j["roofline_share"] = d.bytes_per_second() / roof;
  return j;
}

void print_decode(const char* label, const DecodeFigures& d, double roof) {
  std::cout << label << "at position " << d.position << ": " << fixed(d.tokens_per_second(), 1) << " tok/s ("
            << fixed(d.step_seconds * 1e3, 3) << " ms/step median, " << fixed(d.mean_step_seconds * 1e3, 3)
            << " mean, " << d.steps << " steps), " << human_bytes(d.bytes_per_step)
            << " read per step = " << fixed(d.bytes_per_second() / 1e9, 0) << " GB/s";
  if (roof > 0) std::cout << " = " << fixed(100 * d.bytes_per_second() / roof, 1) << " % of the roofline";
  std::cout << "\n";
}

void run(const BenchArgs& a) {
  if (a.path.empty() == a.like.empty()) throw Error("give exactly one of PATH or --random-like NAME");
  const std::string device = a.device == "auto" ? default_device() : a.device;
  if (device == "cuda") {
    GpuProbe probe = probe_gpus();
    if (probe.gpus.empty()) throw Error("--device cuda: no GPU to run on (" + probe.why_none + ")");
  }
  if (!a.like.empty() && device != "cuda")
    throw Error(
        "--random-like generates the weights on the GPU; on the CPU write a checkpoint first "
        "(moe-cli random OUT --like " +
        a.like + ") and bench that folder");

  std::unique_ptr<Model> model;
  ModelSpec spec;
  if (!a.like.empty()) {
    spec = parse_model_config(preset_config(a.like), a.like);
  } else {
    model = Model::open(a.path);
    spec = model->spec();
  }
  const int64_t need = bench_context(a.settings);
  const int64_t ctx = a.ctx > 0 ? a.ctx : need;
  if (ctx < need)
    throw Error("--ctx " + std::to_string(ctx) + " is too small: this run needs " + std::to_string(need) +
                " positions");
  if (ctx > spec.max_position_embeddings)
    throw Error("this run needs " + std::to_string(ctx) + " positions but the model holds at most " +
                std::to_string(spec.max_position_embeddings) + " (max_position_embeddings)");

  // The roofline: measured before the model takes the memory the copy buffers need.
  double roof = a.roofline_gbps * 1e9;
  bool measured = false;
  if (roof <= 0 && device == "cuda") {
    roof = measure_copy_bandwidth(0);
    measured = roof > 0;
  }

  BackendOptions options;
  options.context_length = ctx;
  options.cuda_graphs = !a.no_graphs;
  std::unique_ptr<Backend> backend =
      model ? make_backend(*model, device, options) : make_cuda_backend_random(spec, a.weight_seed, options);
  const BenchFigures f = run_bench(*backend, spec, a.settings);

  const std::string shape = (a.like.empty() ? std::filesystem::path(a.path).filename().string() : a.like) +
                            (device == "cuda" && a.no_graphs ? " (no graphs)" : "");
  std::string gpu;
  if (device == "cuda") gpu = probe_gpus().gpus.at(0).name;
  if (a.row) {
    print_rows(shape, device, a.settings, f, roof);
    return;
  }
  if (a.json) {
    nlohmann::json j = {{"shape", shape},
                        {"random_weights", !a.like.empty()},
                        {"device", device},
                        {"gpu", gpu},
                        {"cuda_graphs", options.cuda_graphs},
                        {"context", backend->context_length()},
                        {"prompt_tokens", a.settings.prompt},
                        {"prefill_seconds", f.prefill_seconds},
                        {"prefill_tokens_per_second", f.prefill_tokens_per_second(a.settings.prompt)},
                        {"ttft_seconds", f.ttft_seconds},
                        {"decode", decode_json(f.decode, roof)},
                        {"roofline_bytes_per_second", roof},
                        {"roofline_source", measured   ? "measured copy bandwidth"
                                            : roof > 0 ? "stated"
                                                       : "none"}};
    if (f.decode_at.steps) j["decode_at"] = decode_json(f.decode_at, roof);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "bench         " << shape << (a.like.empty() ? "" : " (random bf16 weights)") << ", " << device
            << (gpu.empty() ? "" : " on " + gpu)
            << (device == "cuda" ? (options.cuda_graphs ? ", graphs on" : ", graphs off") : "")
            << ", context " << backend->context_length() << "\n"
            << "prefill       " << a.settings.prompt
            << " tokens: " << fixed(f.prefill_tokens_per_second(a.settings.prompt), 0) << " tok/s ("
            << fixed(f.prefill_seconds * 1e3, 2) << " ms, median of " << a.settings.repeats << ")\n"
            << "first token   " << fixed(f.ttft_seconds * 1e3, 2) << " ms\n";
  print_decode("decode        ", f.decode, roof);
  if (f.decode_at.steps) print_decode("decode        ", f.decode_at, roof);
  std::cout << "roofline      "
            << (roof > 0
                    ? fixed(roof / 1e9, 0) + " GB/s (" +
                          (measured ? "device-to-device copy, read + write, measured now" : "stated") + ")"
                    : "none (give --roofline-gbps to compare the CPU with a figure)")
            << "\n";
}

}  // namespace

void add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* c =
      app.add_subcommand("bench", "prefill, first-token and decode speed against the bandwidth roofline");
  c->add_option("path", a->path, "model folder");
  std::string names;
  for (const auto& n : preset_names())
    names += (names.empty() ? "" : ", ") + n;
  c->add_option("--random-like", a->like, "random weights of a known shape, on the GPU: " + names);
  c->add_option("--prompt", a->settings.prompt, "prompt tokens (prefill), and where decoding starts")
      ->capture_default_str();
  c->add_option("--gen", a->settings.gen, "decode steps timed")->capture_default_str();
  c->add_option("--at", a->settings.at, "also time decoding at this position (the cache filled by prefill)");
  c->add_option("--repeats", a->settings.repeats, "prefill runs after the warm-up")->capture_default_str();
  c->add_option("--ctx", a->ctx, "context length (default: what the run needs)");
  c->add_option("--seed", a->weight_seed, "random-weight seed")->capture_default_str();
  c->add_option("--roofline-gbps", a->roofline_gbps,
                "compare with this bandwidth (GB/s) instead of measuring");
  add_device_option(*c, a->device);
  c->add_flag("--no-graphs", a->no_graphs, "CUDA: launch each decode step's kernels instead of a graph");
  c->add_flag("--json", a->json, "print one JSON document");
  c->add_flag("--row", a->row, "print one Markdown table row per decode position (for tools/gpu-check.sh)");
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
