// Linear layers and RMSNorm on the CPU. For a handful of rows (decode) the weight matrix is streamed once,
// each thread converting and dotting its rows; for a batch (prefill) blocks of the weight are converted to
// float32 and multiplied with OpenBLAS sgemm, so no whole-model float32 copy ever exists.
#include "cpu/ops.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

namespace moe::cpu {
namespace {

constexpr int64_t kGemvMaxRows = 4;          // batches up to this size take the streaming path
constexpr int64_t kBlockElements = 1 << 20;  // weights converted per sgemm block (4 MB of float32)
// Below this much work a loop runs on one thread: waking the team costs more than it saves, and far more on a
// busy machine (measured: a 7 M-parameter model decoding 9x slower with 2 threads under load than with 1).
constexpr int64_t kParallelMinWork = 1 << 18;

thread_local std::vector<float> tls_row;

float dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i)
    s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

void linear_streaming(const float* x, int64_t n, const Matrix& w, float* y) {
  const int64_t rows = w.rows, cols = w.cols;
#pragma omp parallel for schedule(static) if (rows * cols * n >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr;
    if (w.dtype == DType::F32) {
      wr = reinterpret_cast<const float*>(w.row(r));
    } else {
      tls_row.resize(size_t(cols));
      convert_to_f32(w.dtype, w.row(r), tls_row.data(), size_t(cols));
      wr = tls_row.data();
    }
    for (int64_t i = 0; i < n; ++i)
      y[i * rows + r] = dot(x + i * cols, wr, cols);
  }
}

// OpenBLAS runs single-threaded inside OpenMP threads: its own thread pool would compete with OpenMP's
// for the same cores (measured: 2 cores, a tiny model decoding 10x slower with both pools spinning).
void single_threaded_blas() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

void linear_blocked(const float* x, int64_t n, const Matrix& w, float* y) {
  single_threaded_blas();
  const int64_t rows = w.rows, cols = w.cols;
  // Row blocks small enough to convert in cache-sized pieces and to spread over the threads.
  const int64_t by_size = std::max<int64_t>(16, kBlockElements / std::max<int64_t>(cols, 1));
  const int64_t by_threads = (rows + 4 * omp_get_max_threads() - 1) / (4 * omp_get_max_threads());
  const int64_t block_rows =
      std::max<int64_t>(1, std::min({rows, by_size, std::max<int64_t>(16, by_threads)}));
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
#pragma omp parallel for schedule(dynamic) if (rows * cols * n >= kParallelMinWork)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = b * block_rows, nr = std::min(block_rows, rows - r0);
    const float* wb;
    if (w.dtype == DType::F32) {
      wb = reinterpret_cast<const float*>(w.row(r0));
    } else {
      tls_row.resize(size_t(nr * cols));
      for (int64_t r = 0; r < nr; ++r)
        convert_to_f32(w.dtype, w.row(r0 + r), tls_row.data() + r * cols, size_t(cols));
      wb = tls_row.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(nr), int(cols), 1.0f, x, int(cols), wb,
                int(cols), 0.0f, y + r0, int(rows));
  }
}

}  // namespace

void linear(const float* x, int64_t n, const Matrix& w, float* y, const Vector* bias) {
  if (n <= 0) return;
  if (n <= kGemvMaxRows) {
    linear_streaming(x, n, w, y);
  } else {
    linear_blocked(x, n, w, y);
  }
  if (bias && !bias->empty()) {
    std::vector<float> b = load_vector(*bias);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < w.rows; ++r)
        y[i * w.rows + r] += b[size_t(r)];
  }
}

void load_row(const Matrix& w, int64_t row, float* out) {
  convert_to_f32(w.dtype, w.row(row), out, size_t(w.cols));
}

std::vector<float> load_vector(const Vector& v) {
  std::vector<float> out(size_t(v.rows * v.cols));
  convert_to_f32(v.dtype, v.data, out.data(), out.size());
  return out;
}

void rms_norm(const float* x, const float* weight, float* out, int64_t rows, int64_t dim, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i)
      ss += double(xr[i]) * xr[i];
    const float inv = float(1.0 / std::sqrt(ss / double(dim) + eps));
    for (int64_t i = 0; i < dim; ++i)
      o[i] = weight[i] * (xr[i] * inv);
  }
}

}  // namespace moe::cpu
