// moe-attn-check: the decode step's flash-decoding kernels alone (launch_attn_decode: the split kernel and
// the merge) against a float64 softmax attention over the same bf16 cache, at long contexts and with few
// splits, so that each split runs many tiles through the kernel's buffer ring. The parity fixtures (20
// positions) and the real shapes of moe-gpu-check (192) give every split one tile of 8 positions; this is
// the check for everything past that. Cache rows after the position are NaN: a read of one fails the row.
// Usage: moe-attn-check
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "cuda/cuda_context.h"
#include "cuda/decode_kernels.h"
#include "moe/error.h"

namespace {

int failures = 0;

void row(const std::string& check, bool ok, const std::string& detail) {
  std::printf("| %-58s | %-4s | %s\n", check.c_str(), ok ? "ok" : "FAIL", detail.c_str());
  std::fflush(stdout);
  failures += !ok;
}

struct Case {
  int nh, nkv, hd, vd;
  int pos;         // the step's position: cache rows 0..pos hold keys, later rows NaN
  int window;      // 0: every position
  int64_t splits;  // what the partial buffer holds (the launcher uses at most that many)
  bool mla;        // values are the keys' first vd elements (k == v), as MLA's latent cache
};

// Deterministic values in [-amp, amp), rounded to bf16 (returned as the bf16 bits and the float they hold).
struct Filler {
  uint64_t state;
  uint16_t next(float amp, float& value) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const float x = amp * (float((state >> 40) & 0xffff) / 32768.0f - 1.0f);
    uint32_t u;
    std::memcpy(&u, &x, 4);
    const uint16_t b = uint16_t(u >> 16);
    const uint32_t back = uint32_t(b) << 16;
    std::memcpy(&value, &back, 4);
    return b;
  }
};

template <class T>
T* to_device(const std::vector<T>& host) {
  void* p = nullptr;
  if (cudaMalloc(&p, std::max<size_t>(host.size() * sizeof(T), 1)) != cudaSuccess)
    throw moe::Error("cudaMalloc failed");
  cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  return static_cast<T*>(p);
}

void check_case(const Case& c) {
  const int64_t rows = int64_t(c.pos) + 64;  // room past the position, poisoned
  const int64_t k_stride = int64_t(c.nkv) * c.hd, v_stride = c.mla ? k_stride : int64_t(c.nkv) * c.vd;
  Filler fill{0x9e3779b97f4a7c15ull ^ uint64_t(c.nh * 131 + c.hd * 7 + c.pos)};
  std::vector<float> q(size_t(c.nh) * c.hd), kf(size_t(rows * k_stride)),
      vf(c.mla ? 0 : size_t(rows * v_stride));
  std::vector<uint16_t> kb(kf.size()), vb(vf.size());
  for (auto& x : q)
    fill.next(2.0f, x);
  for (size_t i = 0; i < kf.size(); ++i)
    kb[i] = fill.next(1.0f, kf[i]);
  for (size_t i = 0; i < vf.size(); ++i)
    vb[i] = fill.next(1.0f, vf[i]);
  const uint16_t nan_bits = 0x7FC0;
  for (size_t i = size_t((c.pos + 1) * k_stride); i < kb.size(); ++i)
    kb[i] = nan_bits;
  for (size_t i = size_t((c.pos + 1) * v_stride); i < vb.size(); ++i)
    vb[i] = nan_bits;

  // float64 reference over the bf16 values
  const float scale = 1.0f / std::sqrt(float(c.hd));
  const int first = c.window > 0 ? std::max(0, c.pos - c.window + 1) : 0;
  std::vector<double> ref(size_t(c.nh) * c.vd, 0.0);
  double ref_max = 0;
  for (int h = 0; h < c.nh; ++h) {
    const int g = h / (c.nh / c.nkv);
    std::vector<double> p(size_t(c.pos - first + 1));
    double mx = -1e300, sum = 0;
    for (int j = first; j <= c.pos; ++j) {
      double d = 0;
      for (int i = 0; i < c.hd; ++i)
        d += double(q[size_t(h * c.hd + i)]) * kf[size_t(j * k_stride + g * c.hd + i)];
      p[size_t(j - first)] = d * scale;
      mx = std::max(mx, d * scale);
    }
    for (auto& x : p)
      sum += x = std::exp(x - mx);
    for (int j = first; j <= c.pos; ++j)
      for (int i = 0; i < c.vd; ++i) {
        const double v = c.mla ? kf[size_t(j * k_stride + i)] : vf[size_t(j * v_stride + g * c.vd + i)];
        ref[size_t(h * c.vd + i)] += p[size_t(j - first)] / sum * v;
      }
  }
  for (double v : ref)
    ref_max = std::max(ref_max, std::fabs(v));

  moe::cuda::StepParams params;
  params.pos = c.pos;
  float* dq = to_device(q);
  auto* dk = reinterpret_cast<moe::cuda::bf16*>(to_device(kb));
  auto* dv = c.mla ? dk : reinterpret_cast<moe::cuda::bf16*>(to_device(vb));
  auto* dparams = to_device(std::vector<moe::cuda::StepParams>{params});
  float* dpartial = to_device(std::vector<float>(size_t(c.splits) * c.nh * (c.vd + 2), 0.0f));
  float* dout = to_device(std::vector<float>(ref.size(), std::nanf("")));

  moe::cuda::AttnDecodeArgs a;
  a.q = dq;
  a.k = dk;
  a.v = dv;
  a.k_stride = k_stride;
  a.v_stride = v_stride;
  a.nh = c.nh;
  a.nkv = c.nkv;
  a.hd = c.hd;
  a.vd = c.vd;
  a.window = c.window;
  a.scale = scale;
  a.chunk = 8;
  a.splits = c.splits;
  a.params = dparams;
  a.partial = dpartial;
  a.out = dout;
  std::string error;
  cudaStream_t stream = nullptr;
  cudaStreamCreate(&stream);
  try {
    moe::cuda::launch_attn_decode(a, stream);
  } catch (const std::exception& e) {
    error = e.what();
  }
  const cudaError_t err = cudaDeviceSynchronize();
  cudaStreamDestroy(stream);
  std::vector<float> got(ref.size());
  cudaMemcpy(got.data(), dout, got.size() * sizeof(float), cudaMemcpyDeviceToHost);
  for (void* p : {static_cast<void*>(dq), static_cast<void*>(dk), static_cast<void*>(dparams),
                  static_cast<void*>(dpartial), static_cast<void*>(dout)})
    cudaFree(p);
  if (!c.mla) cudaFree(dv);

  double worst = 0;
  bool finite = true;
  for (size_t i = 0; i < ref.size(); ++i) {
    finite &= std::isfinite(got[i]);
    worst = std::max(worst, std::fabs(double(got[i]) - ref[i]));
  }
  const double rel = worst / std::max(ref_max, 1e-30);
  char name[160], detail[200];
  std::snprintf(name, sizeof name, "%s%d heads / %d kv, %d x %d, pos %d%s, <= %lld splits",
                c.mla ? "MLA " : "", c.nh, c.nkv, c.hd, c.vd, c.pos,
                c.window ? (", window " + std::to_string(c.window)).c_str() : "", (long long)c.splits);
  std::snprintf(detail, sizeof detail, "max |diff| %.2e of max |ref| %.3f (%s)%s%s", rel, ref_max,
                finite ? "finite" : "NOT finite", err != cudaSuccess ? ", CUDA error: " : "",
                err != cudaSuccess ? cudaGetErrorString(err) : error.c_str());
  // The bar, 1e-4 of the largest output, is far above the rounding of fp32 sums over 8,192 positions and
  // far below a missed or doubled row (its weight, ~1 / positions, times a value of up to 1: ~1e-4 of an
  // output whose largest is a few 1e-2); a row read past the position makes the output non-finite.
  row(name, error.empty() && err == cudaSuccess && finite && rel < 1e-4, detail);
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("moe-attn-check: no CUDA device\n");
    return 1;
  }
  moe::cuda::prepare_attention_kernels();
  std::printf("| %-58s | %-4s | %s\n|---|---|---|\n", "flash-decoding alone (float64 reference)", "",
              "detail");
  // Head groups of 1, 2, 4, 8 and 16 per KV head (each launch variant), an odd head size (the element-by-
  // element loads), values wider than 128 (the wide variant), MLA's shared latent, a sliding window; one
  // split (every tile of the context through one block), three, and as many as the launcher likes.
  std::vector<Case> cases;
  for (const int64_t splits : {int64_t(1), int64_t(3), int64_t(512)}) {
    cases.push_back({16, 16, 128, 128, 5000, 0, splits, false});
    cases.push_back({32, 4, 128, 128, 8191, 0, splits, false});
  }
  cases.push_back({8, 4, 64, 64, 3001, 0, 3, false});
  cases.push_back({16, 4, 128, 128, 2047, 0, 1, false});
  cases.push_back({32, 2, 128, 128, 4100, 0, 3, false});
  cases.push_back({10, 10, 102, 102, 2500, 0, 3, false});
  cases.push_back({8, 8, 256, 256, 3000, 0, 3, false});
  cases.push_back({16, 16, 128, 128, 6000, 1000, 3, false});
  cases.push_back({16, 1, 576, 512, 5000, 0, 3, true});
  cases.push_back({16, 1, 576, 512, 8191, 0, 512, true});
  for (const Case& c : cases)
    check_case(c);
  std::printf("\nmoe-attn-check: %d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
