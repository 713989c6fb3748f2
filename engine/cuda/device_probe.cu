// Lists the CUDA devices. The CUDA runtime is linked statically, so a machine without the driver reaches
// cudaGetDeviceCount, which then answers cudaErrorInsufficientDriver or cudaErrorNoDevice: "no GPU".
#include <cuda_runtime.h>

#include "moe/device.h"

namespace moe {

GpuProbe probe_gpus() {
  GpuProbe probe;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    probe.why_none = err == cudaErrorInsufficientDriver
                         ? "no NVIDIA driver (or one older than this build's CUDA)"
                     : err == cudaErrorNoDevice ? "no CUDA device"
                                                : std::string("CUDA: ") + cudaGetErrorString(err);
    return probe;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    probe.gpus.push_back(GpuInfo{i, prop.name, uint64_t(prop.totalGlobalMem), prop.major, prop.minor});
  }
  if (probe.gpus.empty()) probe.why_none = "no CUDA device";
  return probe;
}

}  // namespace moe
