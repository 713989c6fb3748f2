// Which accelerators this machine has. A machine without the NVIDIA driver, or a build without CUDA, has
// none: that is an answer, never an error.
#pragma once

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

}  // namespace moe
