// Shared helpers of the moe-cli commands.
#include "cli_common.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "moe/error.h"

namespace moe::cli {

std::vector<int32_t> read_ids(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot be opened");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
  if (j.is_object() && j.contains("ids")) j = j["ids"];
  if (!j.is_array()) throw Error(path.string() + ": expected a JSON array of token ids");
  std::vector<int32_t> ids;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number_integer() || j[i].get<int64_t>() < 0 || j[i].get<int64_t>() > INT32_MAX)
      throw Error(path.string() + ": element " + std::to_string(i) + " is not a token id: " + j[i].dump());
    ids.push_back(j[i].get<int32_t>());
  }
  return ids;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot be opened");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string find_demo_model() {
  if (const char* env = std::getenv("MOE_DEMO_MODEL"); env && *env) return env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "moe-studio" / "demo-model";
    if (std::filesystem::exists(installed / "config.json")) return installed.string();
  }
  const std::filesystem::path source = std::filesystem::path(MOE_SOURCE_DIR) / "resources" / "demo-model";
  if (std::filesystem::exists(source / "config.json")) return source.string();
  throw Error(
      "the built-in demo model was not found: set MOE_DEMO_MODEL to its folder or give a model folder");
}

void add_sampling_options(CLI::App& c, GenerationParams& g) {
  c.add_option("--max-tokens", g.max_tokens, "tokens to generate at most")->capture_default_str();
  c.add_option("--temperature", g.sampling.temperature, "0: greedy")->capture_default_str();
  c.add_option("--top-k", g.sampling.top_k, "0: off")->capture_default_str();
  c.add_option("--top-p", g.sampling.top_p, "1: off")->capture_default_str();
  c.add_option("--min-p", g.sampling.min_p, "0: off")->capture_default_str();
  c.add_option("--repetition-penalty", g.sampling.repetition_penalty, "1: off")->capture_default_str();
  c.add_option("--presence-penalty", g.sampling.presence_penalty, "0: off")->capture_default_str();
  c.add_option("--seed", g.sampling.seed, "sampling seed")->capture_default_str();
  c.add_option("--stop", g.stop_strings, "stop when the text contains this (repeatable)");
  c.add_flag("--ignore-eos", g.ignore_eos, "do not stop at end-of-sequence tokens");
}

void add_device_option(CLI::App& c, std::string& device) {
  c.add_option("--device", device, "cpu, cuda or auto (the GPU when there is one)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
}

LoadedModel load(const std::filesystem::path& folder, int64_t context_length, const std::string& device) {
  LoadedModel m;
  m.model = Model::open(folder);
  BackendOptions options;
  options.context_length = context_length;
  m.backend = make_backend(*m.model, device, options);
  return m;
}

std::string human_count(double n) {
  char buf[32];
  const char* unit[] = {"", " K", " M", " B", " T"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  std::snprintf(buf, sizeof buf, u ? "%.2f%s" : "%.0f%s", n, unit[u]);
  return buf;
}

std::string human_bytes(double n) {
  char buf[32];
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", n, unit[u]);
  return buf;
}

}  // namespace moe::cli
