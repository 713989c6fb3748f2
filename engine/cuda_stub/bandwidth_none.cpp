// The build without CUDA: no device to measure (see moe/device.h).
#include "moe/device.h"

namespace moe {

double measure_copy_bandwidth(int, size_t) {
  return 0.0;
}

bool gpu_memory(int, GpuMemory&) {
  return false;
}

}  // namespace moe
