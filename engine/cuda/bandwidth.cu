// measure_copy_bandwidth and gpu_memory (see moe/device.h). The copy bandwidth is the roofline a decode
// step is held to: a device-to-device cudaMemcpy runs as a kernel that streams reads and writes at once,
// about as fast as a bandwidth-bound kernel can go, so achieved bytes per second over this figure is the
// share of the attainable peak rather than of the datasheet's.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_check.h"
#include "moe/device.h"

namespace moe {
namespace {

// Frees what it holds on every exit path (a failed check throws).
struct CopyBuffers {
  void* src = nullptr;
  void* dst = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaStream_t stream = nullptr;
  ~CopyBuffers() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
    cudaFree(src);
    cudaFree(dst);
  }
};

bool device_exists(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear: no driver or no device is an answer, not a sticky error
    return false;
  }
  return device >= 0 && device < count;
}

}  // namespace

double measure_copy_bandwidth(int device, size_t bytes) {
  if (!device_exists(device)) return 0.0;
  MOE_CUDA_CHECK(cudaSetDevice(device));
  CopyBuffers b;
  // A GPU nearly full (a large model already loaded) still gets a figure: halve the buffer until it fits,
  // down to 64 MiB, which is still far past the L2 cache (50 MiB on an H100).
  bytes = std::max<size_t>(bytes, size_t(64) << 20);
  for (;;) {
    if (cudaMalloc(&b.src, bytes) == cudaSuccess && cudaMalloc(&b.dst, bytes) == cudaSuccess) break;
    cudaGetLastError();
    cudaFree(b.src);
    cudaFree(b.dst);
    b.src = b.dst = nullptr;
    if (bytes <= (size_t(64) << 20)) return 0.0;
    bytes /= 2;
  }
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking));
  MOE_CUDA_CHECK(cudaEventCreate(&b.start));
  MOE_CUDA_CHECK(cudaEventCreate(&b.stop));
  MOE_CUDA_CHECK(cudaMemsetAsync(b.src, 1, bytes, b.stream));
  // Warm-up: first touch of the pages and the copy kernel's first launch are not bandwidth.
  for (int i = 0; i < 2; ++i)
    MOE_CUDA_CHECK(cudaMemcpyAsync(b.dst, b.src, bytes, cudaMemcpyDeviceToDevice, b.stream));
  std::vector<float> ms;
  for (int i = 0; i < 11; ++i) {
    MOE_CUDA_CHECK(cudaEventRecord(b.start, b.stream));
    MOE_CUDA_CHECK(cudaMemcpyAsync(b.dst, b.src, bytes, cudaMemcpyDeviceToDevice, b.stream));
    MOE_CUDA_CHECK(cudaEventRecord(b.stop, b.stream));
    MOE_CUDA_CHECK(cudaEventSynchronize(b.stop));
    float t = 0;
    MOE_CUDA_CHECK(cudaEventElapsedTime(&t, b.start, b.stop));
    ms.push_back(t);
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  const double median_s = double(ms[ms.size() / 2]) * 1e-3;
  return median_s > 0 ? 2.0 * double(bytes) / median_s : 0.0;
}

bool gpu_memory(int device, GpuMemory& out) {
  if (!device_exists(device)) return false;
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = device;
  size_t free = 0, total = 0;
  const bool ok = cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&free, &total) == cudaSuccess;
  cudaSetDevice(previous);
  if (!ok) {
    cudaGetLastError();
    return false;
  }
  out.free = free;
  out.total = total;
  return true;
}

}  // namespace moe
