// Reading and writing the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
// then the tensor bytes. Files are memory-mapped; nothing a file says is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/dtype.h"

namespace moe {

// A read-only view of one tensor inside a mapped file.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // the file it lives in, for error messages

  int64_t numel() const;
  // "model.layers.0.mlp.gate.weight [8, 64] BF16 in model.safetensors"
  std::string describe() const;
};

// Limits applied while parsing; the defaults follow the format's own reference implementation.
struct SafetensorsLimits {
  uint64_t max_header_bytes = 100ull * 1024 * 1024;
};

// One memory-mapped .safetensors file. Construction validates the whole header and throws moe::Error.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path, SafetensorsLimits limits = {});
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* find(std::string_view name) const;

  // Validates a header given as bytes (the 8-byte length prefix included) against a file of file_size bytes.
  // Used by the reader and by the fuzzer; throws moe::Error naming `display_name`.
  static void parse_header(std::span<const std::byte> bytes, uint64_t file_size,
                           const std::string& display_name, const SafetensorsLimits& limits,
                           std::vector<TensorView>& tensors, std::map<std::string, std::string>& metadata,
                           uint64_t& data_start);

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model folder: model.safetensors, or the shards listed in model.safetensors.index.json,
// or (failing both) every *.safetensors file in the folder. Also opens a single file path.
class TensorStore {
 public:
  explicit TensorStore(const std::filesystem::path& folder_or_file);
  ~TensorStore();

  const TensorView* find(std::string_view name) const;
  // Throws moe::Error "tensor NAME is missing from FOLDER" when absent.
  const TensorView& get(std::string_view name) const;
  std::vector<std::string> names() const;
  size_t total_bytes() const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*, std::less<>> index_;
};

// A tensor to be written: its bytes are copied from `data`.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a safetensors file atomically (to a temporary file beside PATH, fsync, rename), tensors contiguous
// in the order given, the header padded with spaces to a multiple of 8 bytes as the reference writer does.
// Throws moe::Error on I/O failure or inconsistent sizes.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace moe
