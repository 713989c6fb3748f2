// moe-gpu-check: the checks that need the GPU machine, as a Qt-free program printing one table row per check
// and exiting non-zero when any fails. Today: the GPU is found by the engine's probe, and the CPU oracle
// reproduces every transformers parity fixture on that machine too (the reference every CUDA path will be
// held to). Usage: moe-gpu-check [DATA_DIR]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "moe/backend.h"
#include "moe/device.h"
#include "moe/error.h"
#include "moe/model.h"

namespace fs = std::filesystem;

namespace {

int failures = 0;

void row(const std::string& check, bool ok, const std::string& detail) {
  std::printf("| %-44s | %-4s | %s\n", check.c_str(), ok ? "ok" : "FAIL", detail.c_str());
  failures += !ok;
}

std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary | std::ios::ate);
  std::vector<float> v(size_t(in.tellg()) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  return v;
}

void check_fixture(const fs::path& dir) {
  auto model = moe::Model::open(dir);
  std::ifstream ids_in(dir / "ids.json");
  auto ids = nlohmann::json::parse(ids_in).get<std::vector<int32_t>>();
  auto ref = read_f32(dir / "logits.f32");
  auto backend = moe::make_cpu_backend(*model, {int64_t(ids.size())});
  std::vector<float> logits;
  backend->forward(ids, moe::LogitsMode::All, logits, nullptr);
  double err = 0, mx = 0;
  for (size_t i = 0; i < ref.size() && i < logits.size(); ++i) {
    err = std::max(err, double(std::fabs(logits[i] - ref[i])));
    mx = std::max(mx, double(std::fabs(ref[i])));
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "max relative logit error %.2e", err / mx);
  row("cpu oracle = transformers: " + dir.filename().string(), logits.size() == ref.size() && err / mx < 2e-5,
      buf);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path data = argc > 1 ? fs::path(argv[1]) : fs::path(MOE_TEST_DATA_DIR);
  std::printf("| %-44s | %-4s | %s\n|---|---|---|\n", "check", "", "detail");
  moe::GpuProbe probe = moe::probe_gpus();
  row("GPU found by the engine's probe", !probe.gpus.empty(),
      probe.gpus.empty()
          ? probe.why_none
          : probe.gpus[0].name + ", " + std::to_string(probe.gpus[0].total_memory >> 20) + " MiB, sm_" +
                std::to_string(probe.gpus[0].compute_major) + std::to_string(probe.gpus[0].compute_minor));
  std::vector<fs::path> fixtures;
  for (const auto& e : fs::directory_iterator(data / "parity"))
    if (fs::exists(e.path() / "logits.f32")) fixtures.push_back(e.path());
  std::sort(fixtures.begin(), fixtures.end());
  for (const auto& f : fixtures) {
    try {
      check_fixture(f);
    } catch (const moe::Error& e) {
      row("cpu oracle = transformers: " + f.filename().string(), false, e.what());
    }
  }
  std::printf("%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
