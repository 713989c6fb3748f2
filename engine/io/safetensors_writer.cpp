// write_safetensors: builds the header (__metadata__ first, then entries in the given order), pads it with
// spaces to a multiple of 8 bytes, and writes header and data to a temporary file beside the target, which is
// fsynced and renamed over the target so that a crash never leaves a truncated file at that path.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <set>
#include <system_error>

#include "io/json_strict.h"
#include "io/tensor_size.h"
#include "moe/error.h"
#include "moe/safetensors.h"

namespace moe {
namespace {

namespace fs = std::filesystem;

std::string reason(int err) {
  return std::generic_category().message(err);
}

// A file created exclusively beside the target; unlinked on destruction unless committed.
class TempFile {
 public:
  explicit TempFile(const fs::path& target) : target_(target) {
    static std::atomic<unsigned> counter{0};
    fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = dir / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(counter++));
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0 || errno != EEXIST) break;
    }
    if (fd_ < 0)
      throw Error("cannot write " + target_.string() + ": cannot create " + path_.string() + ": " +
                  reason(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* data, size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t(1) << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail("write");
      p += w;
      n -= size_t(w);
    }
  }

  // fsync, close, rename over the target, then fsync the folder so that the rename itself is durable.
  void commit() {
    if (::fsync(fd_) != 0) fail("fsync");
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close");
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail("rename");
    committed_ = true;
    fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
    int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);  // best effort: some file systems refuse fsync on a folder
      ::close(dir_fd);
    }
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw Error("cannot write " + target_.string() + ": " + what + " failed: " + reason(errno));
  }

  fs::path target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const fs::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string file = path.string();
  auto check_utf8 = [&](const std::string& s, const std::string& what) {
    if (io::find_invalid_utf8(s) != std::string_view::npos)
      throw Error(file + ": " + what + " is not valid UTF-8");
  };

  // The header is assembled entry by entry: ordered_json would keep the order too, but inserts in linear
  // time.
  std::string text = "{";
  auto add_entry = [&](const std::string& key, const auto& value) {
    if (text.size() > 1) text += ',';
    text += nlohmann::json(key).dump();
    text += ':';
    text += value.dump();
  };
  if (!metadata.empty()) {
    nlohmann::json meta = nlohmann::json::object();  // keys sorted, as in the std::map
    for (const auto& [key, value] : metadata) {
      check_utf8(key, "metadata key " + key);
      check_utf8(value, "the metadata value of " + key);
      meta[key] = value;
    }
    add_entry("__metadata__", meta);
  }

  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    check_utf8(t.name, "tensor name " + t.name);
    if (t.name == "__metadata__") throw Error(file + ": __metadata__ cannot be a tensor name");
    if (!names.insert(t.name).second) throw Error(file + ": tensor " + t.name + " is given twice");
    std::vector<uint64_t> dims;
    for (int64_t d : t.shape) {
      if (d < 0) throw Error(file + ": tensor " + t.name + " has a negative dimension");
      dims.push_back(uint64_t(d));
    }
    auto numel = io::checked_numel(dims);
    auto bits = numel ? io::checked_bits(t.dtype, *numel) : std::nullopt;
    if (!bits) throw Error(file + ": tensor " + t.name + " has a shape whose size overflows 64 bits");
    if (*bits % 8 != 0) throw Error(file + ": tensor " + t.name + " is not a whole number of bytes");
    const uint64_t nbytes = *bits / 8;
    if (nbytes != t.nbytes)
      throw Error(file + ": tensor " + t.name + " is " + std::string(dtype_name(t.dtype)) + " with " +
                  std::to_string(*numel) + " elements = " + std::to_string(nbytes) + " bytes, but " +
                  std::to_string(t.nbytes) + " bytes were given");
    if (t.nbytes > 0 && !t.data) throw Error(file + ": tensor " + t.name + " has no data");
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();  // keys in the reference writer's order
    entry["dtype"] = dtype_name(t.dtype);
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + nbytes};
    add_entry(t.name, entry);
    offset += nbytes;
  }

  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));

  TempFile out(path);
  out.write(length, 8);
  out.write(text.data(), text.size());
  for (const auto& t : tensors)
    if (t.nbytes) out.write(t.data, t.nbytes);
  out.commit();
}

}  // namespace moe
