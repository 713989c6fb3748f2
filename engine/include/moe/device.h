// Which accelerators this machine has. A machine without the NVIDIA driver, or a build without CUDA, has
// none: that is an answer, never an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

struct GpuInfo {
  int index = 0;
  std::string name;
  uint64_t total_memory = 0;
  int compute_major = 0;
  int compute_minor = 0;
};

struct GpuProbe {
  std::vector<GpuInfo> gpus;
  std::string why_none;  // filled when gpus is empty: "built without CUDA", "no NVIDIA driver", ...
};

GpuProbe probe_gpus();

// Device-to-device copy bandwidth of `device` in bytes per second, counting both the bytes read and the bytes
// written (a copy of n bytes moves 2n): the practical ceiling of a bandwidth-bound kernel, the roofline a
// decode step is measured against. Copies a `bytes` buffer once to warm up, then times ~10 copies with
// events and returns the median. 0 when there is no GPU (or no CUDA in this build).
double measure_copy_bandwidth(int device, size_t bytes = size_t(1) << 30);

struct GpuMemory {
  uint64_t free = 0, total = 0;
};
// cudaMemGetInfo of `device`; false (and `out` untouched) when there is no such GPU.
bool gpu_memory(int device, GpuMemory& out);

}  // namespace moe
