// Shared helpers of the moe-cli commands.
#include "cli_common.h"

#include <cstdio>
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

LoadedModel load(const std::filesystem::path& folder, int64_t context_length) {
  LoadedModel m;
  m.model = Model::open(folder);
  m.backend = make_cpu_backend(*m.model, BackendOptions{context_length});
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
