// launch_transpose_bf16 (see device_weights.h): the transpose upload_weights stores the down projections
// with.
#include "cuda/cuda_check.h"
#include "cuda/device_weights.h"

namespace moe::cuda {
namespace {

// 32 x 32 tiles through shared memory, so that reads and writes are both coalesced.
__global__ void transpose_bf16(const bf16* src, int64_t rows, int64_t cols, bf16* dst, int64_t ld_dst) {
  __shared__ bf16 tile[32][33];
  const int64_t r0 = int64_t(blockIdx.y) * 32, c0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t c = c0 + i, r = r0 + threadIdx.x;
    if (r < rows && c < cols) dst[c * ld_dst + r] = tile[threadIdx.x][i];
  }
}

}  // namespace

void launch_transpose_bf16(const bf16* src, int64_t rows, int64_t cols, bf16* dst, int64_t ld_dst,
                           cudaStream_t stream) {
  const dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32));
  transpose_bf16<<<grid, dim3(32, 8), 0, stream>>>(src, rows, cols, dst, ld_dst);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
