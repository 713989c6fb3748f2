// MmapFile: open, fstat, mmap(PROT_READ, MAP_PRIVATE), close. The descriptor is not kept: the mapping stays
// valid after close, and a file replaced by rename (as write_safetensors does) keeps its old mapping intact.
#include "io/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "moe/error.h"

namespace moe::io {
namespace {

std::string reason(int err) {
  return std::generic_category().message(err);
}

}  // namespace

MmapFile::MmapFile(const std::filesystem::path& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw Error("cannot open " + path.string() + ": " + reason(errno));

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error("cannot stat " + path.string() + ": " + reason(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path.string() + " is not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* addr = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error("cannot map " + path.string() + " into memory: " + reason(err));
    }
    addr_ = addr;
  }
  ::close(fd);
}

MmapFile::~MmapFile() {
  unmap(addr_, size_);
}

void* MmapFile::release() {
  void* addr = addr_;
  addr_ = nullptr;
  return addr;
}

void MmapFile::unmap(void* addr, size_t size) {
  if (addr) ::munmap(addr, size);
}

}  // namespace moe::io
