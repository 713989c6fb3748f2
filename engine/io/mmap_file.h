// MmapFile: RAII read-only memory mapping of a whole regular file. Errors are moe::Error naming the path and
// the system's reason. An empty file maps to (nullptr, 0).
#pragma once

#include <cstddef>
#include <filesystem>

namespace moe::io {

class MmapFile {
 public:
  explicit MmapFile(const std::filesystem::path& path);
  ~MmapFile();
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;

  const std::byte* data() const { return static_cast<const std::byte*>(addr_); }
  size_t size() const { return size_; }

  // Hands the mapping over to the caller, who must later call unmap(addr, size()).
  void* release();
  static void unmap(void* addr, size_t size);

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace moe::io
