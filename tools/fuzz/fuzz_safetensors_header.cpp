// libFuzzer target over SafetensorsFile::parse_header. The input is a whole .safetensors file. Every input
// must either be rejected with moe::Error (and nothing else: any other exception, a crash, a sanitizer report
// or a hang is a bug), or yield views that lie inside the input and tile its data section exactly.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "moe/error.h"
#include "moe/safetensors.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  std::vector<moe::TensorView> tensors;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;
  try {
    moe::SafetensorsFile::parse_header(bytes, size, "fuzz.safetensors", {}, tensors, metadata, data_start);
  } catch (const moe::Error&) {
    return 0;
  }

  check(data_start >= 8 && data_start <= size);
  const std::byte* begin = bytes.data() + data_start;
  const std::byte* end = bytes.data() + size;
  uint64_t covered = 0;
  for (const auto& t : tensors) {
    check(t.data >= begin && t.data <= end && size_t(end - t.data) >= t.nbytes);
    check(t.numel() >= 0);
    if (size_t element = moe::dtype_size(t.dtype)) check(uint64_t(t.numel()) * element == t.nbytes);
    if (t.nbytes) {
      volatile std::byte first = t.data[0], last = t.data[t.nbytes - 1];  // ASan checks these reads
      (void)first, (void)last;
    }
    check(!t.describe().empty());
    covered += t.nbytes;
  }
  check(covered == size - data_start);

  // Given the header alone, the same file parses the same way, with null data pointers.
  std::vector<moe::TensorView> again;
  uint64_t again_start = 0;
  moe::SafetensorsFile::parse_header(bytes.first(data_start), size, "fuzz.safetensors", {}, again, metadata,
                                     again_start);
  check(again.size() == tensors.size() && again_start == data_start);
  for (size_t i = 0; i < again.size(); ++i)
    check(again[i].data == nullptr && again[i].name == tensors[i].name);
  return 0;
}
