// fail() (see cuda_check.h).
#include "cuda/cuda_check.h"

#include <string>

#include "moe/error.h"

namespace moe::cuda {

void fail(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the caller can recover
  std::string msg = std::string("CUDA error: ") + cudaGetErrorString(err) + " in " + what + " (" + file +
                    ":" + std::to_string(line) + ")";
  if (err == cudaErrorMemoryAllocation) msg = "out of GPU memory: " + msg;
  throw Error(msg);
}

void fail(cublasStatus_t err, const char* what, const char* file, int line) {
  std::string msg = std::string("cuBLAS error: ") + cublasGetStatusString(err) + " in " + what + " (" + file +
                    ":" + std::to_string(line) + ")";
  if (err == CUBLAS_STATUS_ALLOC_FAILED) msg = "out of GPU memory: " + msg;
  throw Error(msg);
}

}  // namespace moe::cuda
