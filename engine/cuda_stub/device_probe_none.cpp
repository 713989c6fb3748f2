// The build without CUDA: no accelerator is ever reported.
#include "moe/device.h"

namespace moe {

GpuProbe probe_gpus() {
  return GpuProbe{{}, "this build has no CUDA backend (MOE_WITH_CUDA=OFF)"};
}

}  // namespace moe
