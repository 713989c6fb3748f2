// Float32 building blocks of the CPU backend. Weights stay in their stored dtype (BF16/F16/F32) and are
// converted block by block as they are used; matrix work goes through OpenBLAS, loops through OpenMP.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "moe/model.h"

namespace moe::cpu {

// y[n, w.rows] = x[n, w.cols] * w^T (+ bias)
void linear(const float* x, int64_t n, const Matrix& w, float* y, const Vector* bias = nullptr);
// One row of a weight matrix (an embedding row, a norm scale) as float32.
void load_row(const Matrix& w, int64_t row, float* out);
std::vector<float> load_vector(const Vector& v);
// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for `rows` rows of `dim` (in place allowed).
void rms_norm(const float* x, const float* weight, float* out, int64_t rows, int64_t dim, double eps);
inline float silu(float x) {
  return x / (1.0f + std::exp(-x));
}

}  // namespace moe::cpu
