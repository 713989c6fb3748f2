// fill_random_weights (see device_weights.h): random weights generated where they live, so a benchmark of
// a 30 B-parameter shape needs no file and no host memory.
#include <cmath>

#include "cuda/cuda_check.h"
#include "cuda/device_weights.h"

namespace moe::cuda {
namespace {

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform values in [-a, a) with a = std * sqrt(3) (standard deviation `std`).
__global__ void fill_uniform_bf16(bf16* p, size_t n, uint64_t stream, float a) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const uint64_t r = splitmix64(stream ^ splitmix64(i));
    const float u = float(r >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    p[i] = __float2bfloat16((2.0f * u - 1.0f) * a);
  }
}

__global__ void fill_constant_f32(float* p, size_t n, float v) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = v;
}

}  // namespace

void fill_random_weights(const std::vector<WeightSlot>& slots, std::byte* base, uint64_t seed,
                         cudaStream_t stream) {
  for (const WeightSlot& s : slots) {
    const size_t n = size_t(s.rows * s.cols);
    if (n == 0) continue;
    const unsigned blocks = unsigned(std::min<size_t>((n + 255) / 256, 4096));
    if (s.fp32) {
      fill_constant_f32<<<blocks, 256, 0, stream>>>(reinterpret_cast<float*>(base + s.offset), n,
                                                    s.kind == 1 ? 1.0f : 0.0f);
    } else {
      // 1/sqrt(fan_in) keeps activations of order one through the layers; the embedding (offset 0) has
      // unit scale.
      const float std_dev = s.offset == 0 ? 1.0f : 1.0f / std::sqrt(float(s.cols));
      const uint64_t stream_id = seed * 0x9E3779B97F4A7C15ull ^ uint64_t(s.offset);
      fill_uniform_bf16<<<blocks, 256, 0, stream>>>(reinterpret_cast<bf16*>(base + s.offset), n, stream_id,
                                                    std_dev * std::sqrt(3.0f));
    }
    MOE_CUDA_LAUNCHED();
  }
  MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace moe::cuda
