// How fast the GPU reads a KV cache the way flash-decoding does (bench/cuda_decode_notes.md, plan item 2):
// a grid of (KV head, split) blocks, each reading its head's rows over its split of the positions, with the
// cache laid out two ways:
//   position-major [position][KV head][dimension] (the engine's today): a block reads `row` bytes every
//     heads * row bytes;
//   head-major [KV head][position][dimension]: a block's rows are one contiguous run.
// Same bytes, same grid, as many 16-byte loads in flight per thread as the flag asks for. Prints GB/s and
// the share of the device-to-device copy bandwidth (measure_copy_bandwidth, the roofline of moe-cli bench).
// One array stands for K and V (the kernel reads both alike). Each launch reads another layer's cache (24
// of them by default, 786 MB for the defaults), so L2 holds none of it. A thread keeps one 16-byte column of
// the row (threads must be a multiple of row / 16): no division in the loop. Usage: kv_read_bench
// [--positions N] [--heads H] [--row BYTES] [--splits S] [--threads T]
//                             [--inflight K] [--layers L]
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/cuda_check.h"
#include "moe/device.h"
#include "moe/error.h"

namespace {

struct Shape {
  int64_t positions = 8000, heads = 16, row = 256, splits = 33, threads = 128, layers = 24;
  int inflight = 8;  // 16-byte loads per thread issued before any is used (1, 2, 4, 8 or 16)
};

// Block (h, s) reads head h's rows over split s of the positions; 16-byte pieces, K loads per thread in
// flight. head_major: row p of head h at (h * positions + p) * row, else at (p * heads + h) * row.
template <int K>
__global__ void read_kernel(const uint4* cache, int64_t positions, int64_t heads, int64_t row, int64_t chunk,
                            bool head_major, unsigned* sink) {
  const int64_t h = blockIdx.x, p0 = int64_t(blockIdx.y) * chunk;
  const int64_t p1 = p0 + chunk < positions ? p0 + chunk : positions;
  const int pieces = int(row / 16), c = int(threadIdx.x) % pieces, rows_per_pass = int(blockDim.x) / pieces;
  // Pieces of row p: at (h * positions + p) * pieces (head-major) or (p * heads + h) * pieces.
  const int64_t row_step = head_major ? pieces : heads * pieces;
  const uint4* base = cache + (head_major ? h * positions * pieces : h * pieces) + c;
  unsigned acc = 0;
  for (int64_t p = p0 + int(threadIdx.x) / pieces; p < p1; p += int64_t(K) * rows_per_pass) {
    uint4 v[K];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int64_t pk = p + int64_t(k) * rows_per_pass;
      v[k] = pk < p1 ? __ldcg(base + pk * row_step) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int k = 0; k < K; ++k)
      acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;  // keeps the loads; practically never written
}

void launch(const Shape& s, const uint4* cache, bool head_major, unsigned* sink) {
  const dim3 grid(unsigned(s.heads), unsigned(s.splits));
  const int64_t chunk = (s.positions + s.splits - 1) / s.splits;
  const unsigned t = unsigned(s.threads);
  using Kernel = void (*)(const uint4*, int64_t, int64_t, int64_t, int64_t, bool, unsigned*);
  // Loads in flight a thread: 1, 2, 4, 8 or 16 (parse checks), by log2.
  constexpr Kernel kernels[] = {read_kernel<1>, read_kernel<2>, read_kernel<4>, read_kernel<8>,
                                read_kernel<16>};
  const Kernel kernel = kernels[__builtin_ctz(unsigned(s.inflight))];
  kernel<<<grid, t>>>(cache, s.positions, s.heads, s.row, chunk, head_major, sink);
  MOE_CUDA_LAUNCHED();
}

// GB/s of reading every layer's cache once, one launch per layer (after one warm-up pass).
double measure(const Shape& s, const uint4* base, int64_t layer_pieces, bool head_major, unsigned* sink) {
  cudaEvent_t start, stop;
  MOE_CUDA_CHECK(cudaEventCreate(&start));
  MOE_CUDA_CHECK(cudaEventCreate(&stop));
  for (int64_t l = 0; l < s.layers; ++l)
    launch(s, base + l * layer_pieces, head_major, sink);
  MOE_CUDA_CHECK(cudaEventRecord(start));
  for (int64_t l = 0; l < s.layers; ++l)
    launch(s, base + l * layer_pieces, head_major, sink);
  MOE_CUDA_CHECK(cudaEventRecord(stop));
  MOE_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  MOE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  MOE_CUDA_CHECK(cudaEventDestroy(start));
  MOE_CUDA_CHECK(cudaEventDestroy(stop));
  return double(s.layers) * double(layer_pieces) * 16.0 / (double(ms) * 1e6);
}

bool parse(int argc, char** argv, Shape& s) {
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (i + 1 >= argc) return false;
    const int64_t v = std::atoll(argv[++i]);
    if (v <= 0) return false;
    if (f == "--positions")
      s.positions = v;
    else if (f == "--heads")
      s.heads = v;
    else if (f == "--row")
      s.row = v;
    else if (f == "--splits")
      s.splits = v;
    else if (f == "--threads")
      s.threads = v;
    else if (f == "--inflight")
      s.inflight = int(v);
    else if (f == "--layers")
      s.layers = v;
    else
      return false;
  }
  const bool loads =
      s.inflight == 1 || s.inflight == 2 || s.inflight == 4 || s.inflight == 8 || s.inflight == 16;
  return loads && s.row % 16 == 0 && s.threads <= 1024 && s.threads % (s.row / 16) == 0 && s.splits <= 65535;
}

int run(const Shape& s) {
  const double copy = moe::measure_copy_bandwidth(0);
  if (copy <= 0) {
    std::fprintf(stderr, "kv_read_bench: no CUDA device\n");
    return 1;
  }
  const int64_t layer_pieces = s.positions * s.heads * s.row / 16;
  uint4* cache = nullptr;
  MOE_CUDA_CHECK(cudaMalloc(&cache, size_t(s.layers * layer_pieces) * 16));
  MOE_CUDA_CHECK(cudaMemset(cache, 1, size_t(s.layers * layer_pieces) * 16));
  unsigned* sink = nullptr;
  MOE_CUDA_CHECK(cudaMalloc(&sink, sizeof(unsigned)));
  std::printf(
      "%lld positions x %lld heads x %lld-byte rows (%.1f MB a layer), grid (%lld, %lld) x %lld threads, "
      "%d loads in flight a thread; copy %.0f GB/s\n",
      (long long)s.positions, (long long)s.heads, (long long)s.row, double(layer_pieces) * 16 / 1e6,
      (long long)s.heads, (long long)s.splits, (long long)s.threads, s.inflight, copy / 1e9);
  for (const bool head_major : {false, true}) {
    const double gbs = measure(s, cache, layer_pieces, head_major, sink);
    std::printf("%-15s %7.0f GB/s  %5.1f %% of copy\n", head_major ? "head-major" : "position-major", gbs,
                100.0 * gbs * 1e9 / copy);
  }
  MOE_CUDA_CHECK(cudaFree(cache));
  MOE_CUDA_CHECK(cudaFree(sink));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Shape s;
  if (!parse(argc, argv, s)) {
    std::fprintf(
        stderr,
        "usage: kv_read_bench [--positions N] [--heads H] [--row BYTES (multiple of 16)] [--splits S]\n"
        "                     [--threads T (multiple of row / 16)] [--inflight 1|2|4|8|16] [--layers L]\n");
    return 2;
  }
  try {
    return run(s);
  } catch (const moe::Error& e) {
    std::fprintf(stderr, "kv_read_bench: %s\n", e.what());
    return 1;
  }
}
