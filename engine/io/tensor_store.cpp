// TensorStore: the tensors of a model folder (model.safetensors, the shards of
// model.safetensors.index.json, or every *.safetensors file) or of one file, indexed by name.
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "io/json_strict.h"
#include "moe/error.h"
#include "moe/safetensors.h"

namespace moe {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxIndexBytes = 100ull * 1024 * 1024;
constexpr int kIndexMaxDepth = 16;

std::string read_small_file(const fs::path& path, uint64_t max_bytes) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) throw Error("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes)
    throw Error(path.string() + " is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(max_bytes) + " an index may have");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path.string());
  return std::move(text).str();
}

// A shard named by an index must be a plain file name inside the folder.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

TensorStore::TensorStore(const fs::path& folder_or_file) : root_(folder_or_file) {
  std::error_code ec;
  auto status = fs::status(root_, ec);
  if (ec || !fs::exists(status)) throw Error(root_.string() + " does not exist");

  auto add_file = [&](const fs::path& path) -> SafetensorsFile& {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
    SafetensorsFile& file = *files_.back();
    for (const auto& t : file.tensors()) {
      auto [it, inserted] = index_.emplace(t.name, &t);
      if (!inserted)
        throw Error("tensor " + t.name + " is in both " + it->second->file + " and " + file.path().string());
    }
    return file;
  };

  if (fs::is_regular_file(status)) {
    add_file(root_);
    return;
  }
  if (!fs::is_directory(status)) throw Error(root_.string() + " is neither a file nor a folder");

  const fs::path index_path = root_ / "model.safetensors.index.json";
  if (fs::exists(index_path, ec)) {
    const std::string index_name = index_path.string();
    auto index = io::parse_json_strict(read_small_file(index_path, kMaxIndexBytes), index_name, "index",
                                       kIndexMaxDepth);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      throw Error(index_name + ": there is no \"weight_map\" object");
    const auto& weight_map = index["weight_map"];
    if (weight_map.empty()) throw Error(index_name + ": the weight_map lists no tensors");
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : weight_map.items()) {
      if (!shard.is_string())
        throw Error(index_name + ": the shard of tensor " + tensor + " is not a string");
      const auto& shard_name = shard.get_ref<const std::string&>();
      if (!is_plain_file_name(shard_name))
        throw Error(index_name + ": tensor " + tensor + " is mapped to \"" + shard_name +
                    "\", which is not a file name inside the folder");
      shards.insert(shard_name);
    }
    std::map<std::string, std::string> shard_files;  // shard name -> the path its views carry in `file`
    for (const auto& shard : shards) {
      try {
        shard_files[shard] = add_file(root_ / shard).path().string();
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (a shard listed in " + index_name + ")");
      }
    }
    for (const auto& [tensor, shard] : weight_map.items()) {
      const auto& shard_name = shard.get_ref<const std::string&>();
      auto it = index_.find(tensor);
      if (it == index_.end() || it->second->file != shard_files.at(shard_name))
        throw Error(index_name + ": tensor " + tensor + " is mapped to " + shard_name + ", but " +
                    shard_name + " has no such tensor");
    }
    return;
  }

  if (fs::is_regular_file(root_ / "model.safetensors", ec)) {
    add_file(root_ / "model.safetensors");
    return;
  }

  std::vector<fs::path> found;
  fs::directory_iterator it(root_, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;  // a dangling link is skipped, not an error
    if (it->path().extension() == ".safetensors" && it->is_regular_file(type_ec)) found.push_back(it->path());
  }
  if (ec) throw Error("cannot list " + root_.string() + ": " + ec.message());
  if (found.empty()) throw Error(root_.string() + " holds no .safetensors file");
  std::sort(found.begin(), found.end());
  for (const auto& path : found)
    add_file(path);
}

TensorStore::~TensorStore() = default;

const TensorView* TensorStore::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& TensorStore::get(std::string_view name) const {
  if (const TensorView* t = find(name)) return *t;
  throw Error("tensor " + std::string(name) + " is missing from " + root_.string());
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, view] : index_)
    out.push_back(name);
  return out;
}

size_t TensorStore::total_bytes() const {
  size_t total = 0;
  for (const auto& file : files_)
    for (const auto& t : file->tensors())
      total += t.nbytes;
  return total;
}

}  // namespace moe
