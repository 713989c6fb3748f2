// Error checking for CUDA and cuBLAS calls: every failure becomes a moe::Error naming the call, the source
// line and the runtime's message; out-of-memory says so in words.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace moe::cuda {

[[noreturn]] void fail(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void fail(cublasStatus_t err, const char* what, const char* file, int line);

inline void check(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) fail(err, what, file, line);
}
inline void check(cublasStatus_t err, const char* what, const char* file, int line) {
  if (err != CUBLAS_STATUS_SUCCESS) fail(err, what, file, line);
}

}  // namespace moe::cuda

#define MOE_CUDA_CHECK(expr) ::moe::cuda::check((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations at once (asynchronous faults surface later).
#define MOE_CUDA_LAUNCHED() ::moe::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
