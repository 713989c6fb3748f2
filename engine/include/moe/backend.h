// Backend: the interface every compute path implements (the CPU oracle here, CUDA under engine/cuda/).
// A backend owns the KV cache of one sequence and runs tokens through the whole model, batched: a prompt is
// one call (prefill), each generated token one more (decode).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "moe/model.h"
#include "moe/sampler.h"

namespace moe {

// Routing of a batch of positions: for each position and each MoE layer (in layer order), the top_k chosen
// experts and the gate weights applied to their outputs, in the order the router ranked them.
struct RoutingBatch {
  int64_t n_positions = 0;
  int64_t n_moe_layers = 0;
  int64_t top_k = 0;
  std::vector<int32_t> experts;  // [n_positions][n_moe_layers][top_k]
  std::vector<float> weights;    // same layout

  void reset(int64_t positions, int64_t layers, int64_t k) {
    n_positions = positions;
    n_moe_layers = layers;
    top_k = k;
    experts.assign(size_t(positions * layers * k), -1);
    weights.assign(size_t(positions * layers * k), 0.0f);
  }
  int32_t* experts_at(int64_t pos, int64_t layer) {
    return experts.data() + (pos * n_moe_layers + layer) * top_k;
  }
  float* weights_at(int64_t pos, int64_t layer) {
    return weights.data() + (pos * n_moe_layers + layer) * top_k;
  }
};

enum class LogitsMode { Last, All };

struct BackendOptions {
  int64_t context_length = 0;  // KV cache size in positions; 0: min(max_position_embeddings, 4096)
  bool cuda_graphs = true;     // CUDA: replay each decode step as one captured graph (false: eager launches)
  int cuda_device = 0;
};

// Device memory a backend holds (all zero for the CPU backend).
struct MemoryPlan {
  size_t weights = 0;
  size_t kv_cache = 0;
  size_t workspace = 0;
  size_t total() const { return weights + kv_cache + workspace; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Runs `tokens` at positions [cache_length(), cache_length() + n). Fills `logits` with n x vocab (All) or
  // 1 x vocab (Last) float32 values and, when given, `routing` for every position of the batch.
  virtual void forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>& logits,
                       RoutingBatch* routing) = 0;
  // Keeps the first n positions of the cache (n <= cache_length()), dropping the rest.
  virtual void truncate(int64_t n) = 0;
  virtual int64_t cache_length() const = 0;
  virtual int64_t context_length() const = 0;
  // Bytes of the KV cache at full context.
  virtual size_t kv_cache_bytes() const = 0;
  // Device memory held (zero on the CPU).
  virtual MemoryPlan memory_plan() const { return {}; }
  // One decode step that also samples: runs `token` at cache_length() (like forward with one token) and
  // samples the next token from its logits with `sample_token`'s arithmetic and RNG counter `step`.
  // `history` holds every token so far, `token` included (for the penalties). The CPU does this on the host;
  // the CUDA backend samples on the device and copies back only the result.
  // The CUDA backend's one-token steps (this and forward with one token) throw moe::Error, and leave
  // cache_length() as it was, when a layer's output overflows its fixed-point residual (inf, NaN or out of
  // range); the CPU backend and the CUDA prefill return the non-finite logits instead.
  virtual SampleResult decode_sample(int32_t token, const SamplingParams& params,
                                     std::span<const int32_t> history, uint64_t step, int top_logprobs,
                                     RoutingBatch* routing);
};

int64_t default_context_length(const ModelSpec& spec, int64_t requested);

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options = {});

// The CUDA backend: bf16 weights uploaded once, bf16 KV cache, fp32 accumulation. Throws moe::Error when the
// build has no CUDA, no GPU is present, or the plan does not fit in device memory (saying by how much).
std::unique_ptr<Backend> make_cuda_backend(const Model& model, const BackendOptions& options = {});
// The same backend over random bf16 weights of `spec`'s shapes, generated on the device from `seed` (no
// files: real shapes too large for a disk can be benchmarked).
std::unique_ptr<Backend> make_cuda_backend_random(const ModelSpec& spec, uint64_t seed,
                                                  const BackendOptions& options = {});
// Device memory the CUDA backend keeps free beyond its plan (CUDA context growth, cuBLAS workspaces, graphs):
// a plan fits when total() + kCudaMemoryReserve <= the GPU's free memory.
constexpr size_t kCudaMemoryReserve = size_t(256) << 20;
// What the CUDA backend would allocate for `spec` at `context_length` positions (host arithmetic only).
MemoryPlan cuda_memory_plan(const ModelSpec& spec, int64_t context_length);

// "cpu", "cuda" or "auto" (cuda when a GPU is present, else cpu); anything else is an error.
std::unique_ptr<Backend> make_backend(const Model& model, const std::string& device,
                                      const BackendOptions& options = {});
// The device "auto" picks on this machine.
std::string default_device();

}  // namespace moe
