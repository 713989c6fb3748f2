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
};

int64_t default_context_length(const ModelSpec& spec, int64_t requested);

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options = {});

}  // namespace moe
