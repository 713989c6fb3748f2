// Model: a ModelSpec plus views of its weights inside the memory-mapped safetensors files. Nothing is
// copied or converted at load time; backends convert blocks of weights as they use them.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "moe/model_spec.h"
#include "moe/safetensors.h"

namespace moe {

// A row-major [rows, cols] matrix in BF16, F16 or F32, pointing into a mapped file (or a slice of a fused
// 3-D tensor). Empty (data == nullptr) when the model has no such weight.
struct Matrix {
  const std::byte* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  std::string name;  // the tensor it comes from, for messages

  bool empty() const { return data == nullptr; }
  size_t row_bytes() const { return size_t(cols) * dtype_size(dtype); }
  const std::byte* row(int64_t r) const { return data + size_t(r) * row_bytes(); }
  size_t bytes() const { return size_t(rows) * row_bytes(); }
};

// A 1-D weight (norm scale, bias), as a 1 x n Matrix.
using Vector = Matrix;

struct ExpertWeights {
  Matrix gate;  // [I, H]
  Matrix up;    // [I, H]
  Matrix down;  // [H, I]
};

struct LayerWeights {
  Vector attn_norm, ffn_norm;
  // Standard attention
  Matrix q, k, v, o;
  Vector q_bias, k_bias, v_bias, o_bias;
  Vector q_norm, k_norm;
  // MLA: q = q_b(norm(q_a x)) or q_proj x; [c_kv | k_rope] = kv_a x; kv_b maps norm(c_kv) to k_nope, v.
  Matrix q_a, q_b;
  Vector q_a_norm;
  Matrix kv_a, kv_b;
  Vector kv_a_norm;
  // Dense MLP
  ExpertWeights mlp;
  // MoE
  Matrix router;             // [E, H]
  Vector router_score_bias;  // [E] e_score_correction_bias (DeepSeek-V3)
  std::vector<ExpertWeights> experts;
  ExpertWeights shared;  // shared expert(s), empty when none
  Matrix shared_gate;    // [1, H] Qwen2-MoE
};

struct ModelWeights {
  Matrix embed;    // [V, H]
  Matrix lm_head;  // [V, H]; the embedding table when tied
  Vector final_norm;
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  // Opens a model folder (config.json + safetensors); validates every tensor's presence and shape.
  static std::unique_ptr<Model> open(const std::filesystem::path& folder);

  const ModelSpec& spec() const { return spec_; }
  const ModelWeights& weights() const { return weights_; }
  const TensorStore& tensors() const { return *store_; }
  const std::filesystem::path& folder() const { return folder_; }
  // Bytes of all weight tensors the model uses.
  size_t weight_bytes() const;
  // The dtype most weights are stored in (for display).
  DType main_dtype() const;

 private:
  std::filesystem::path folder_;
  ModelSpec spec_;
  std::unique_ptr<TensorStore> store_;
  ModelWeights weights_;
};

}  // namespace moe
