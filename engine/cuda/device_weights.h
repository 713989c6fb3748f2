// The model's weights in device memory: every matrix as bf16, every norm scale and bias as fp32, laid out
// for the kernels (q, k and v fused into one matrix; experts of a layer contiguous so a kernel can index
// them by the expert id the router wrote on the device; down projections transposed, so that a neuron's
// gate, up and down weights are three contiguous rows for the decode step's FFN kernel). One layout function
// computes every offset, so the memory plan, the upload from a checkpoint and the random fill agree by
// construction.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "moe/model.h"

namespace moe::cuda {

using bf16 = __nv_bfloat16;

struct DeviceLayer {
  const float* attn_norm = nullptr;  // [H]
  const float* ffn_norm = nullptr;   // [H]

  // Attention input projection, fused: standard [q; k; v] ([nh*hd + nkv*hd + nkv*vd, H]); MLA
  // [q_a or q; kv_a] ([q_rows + r + rope, H]). qkv_rows is the total.
  const bf16* qkv = nullptr;
  int64_t qkv_rows = 0;
  const float* qkv_bias = nullptr;  // [qkv_rows] or null
  const float* q_norm = nullptr;    // [hd] (per head) or [nh*hd] (full) or null
  const float* k_norm = nullptr;
  const bf16* o = nullptr;  // [H, nh*vd]
  const float* o_bias = nullptr;
  // MLA only
  const float* q_a_norm = nullptr;   // [q_lora_rank] or null when q is projected directly
  const bf16* q_b = nullptr;         // [nh*hd, q_lora_rank]
  const float* kv_a_norm = nullptr;  // [r]
  const bf16* kv_b = nullptr;        // [nh*(nope+vd), r]

  // Routed experts (MoE layers): router rows [E] plus, for Qwen2-MoE, the shared-expert gate as row E.
  const bf16* router = nullptr;
  int64_t router_rows = 0;
  const float* router_bias = nullptr;  // [E] e_score_correction_bias or null
  const bf16* experts_gate = nullptr;  // [E, I, H]
  const bf16* experts_up = nullptr;    // [E, I, H]
  const bf16* experts_down = nullptr;  // [E, I, H]: each expert's down projection transposed
  // Always-on MLP: the shared expert of an MoE layer, or the whole MLP of a dense layer. Empty (null,
  // always_inter 0) in an MoE layer without a shared expert.
  const bf16* always_gate = nullptr;  // [Ia, H]
  const bf16* always_up = nullptr;    // [Ia, H]
  const bf16* always_down = nullptr;  // [Ia, H] (transposed)
  int64_t always_inter = 0;
  bool always_gated = false;  // scaled by sigmoid(router row E . x) (Qwen2-MoE's shared_expert_gate)
};

struct DeviceWeights {
  const bf16* embed = nullptr;    // [V, H]
  const bf16* lm_head = nullptr;  // [V, H] (the embedding when tied)
  const float* final_norm = nullptr;
  std::vector<DeviceLayer> layers;
  size_t bytes = 0;  // the whole allocation
};

// Every tensor of the layout starts on a 256-byte boundary (16-byte loads, coalescing); this is the
// distance, in bf16 elements, between consecutive experts of a stacked [E, rows, cols] tensor.
constexpr size_t kWeightAlign = 256;
inline int64_t expert_stride(int64_t rows, int64_t cols) {
  const size_t bytes = size_t(rows * cols) * sizeof(uint16_t);
  return int64_t((bytes + kWeightAlign - 1) / kWeightAlign * kWeightAlign / sizeof(uint16_t));
}

// Rows of the fused attention input projection: standard [q; k; v], MLA [q_a or q; kv_a].
inline int64_t fused_qkv_rows(const ModelSpec& s) {
  if (s.attention == AttentionKind::MLA)
    return (s.q_lora_rank > 0 ? s.q_lora_rank : s.num_heads * s.head_dim) + s.kv_lora_rank +
           s.qk_rope_head_dim;
  return s.num_heads * s.head_dim + s.num_kv_heads * (s.head_dim + s.v_head_dim);
}

// Elements per position and layer of the bf16 KV cache: keys (MLA: normalised latent + rotated shared key)
// and values (MLA: none, the values are the latent).
inline int64_t kv_key_width(const ModelSpec& s) {
  return s.attention == AttentionKind::MLA ? s.kv_lora_rank + s.qk_rope_head_dim
                                           : s.num_kv_heads * s.head_dim;
}
inline int64_t kv_value_width(const ModelSpec& s) {
  return s.attention == AttentionKind::MLA ? 0 : s.num_kv_heads * s.v_head_dim;
}

// One stored tensor of the layout: where it goes and what it holds.
struct WeightSlot {
  size_t offset = 0;  // bytes from the base
  int64_t rows = 0, cols = 0;
  bool fp32 = false;               // norm scales and biases; else bf16
  const Matrix* source = nullptr;  // the checkpoint's view (null for random weights)
  int kind = 0;                    // 0: matrix, 1: norm scale (random fill 1.0), 2: bias (random fill 0)
  bool transposed = false;         // stored as [cols, rows], the transpose of the source
};

// Computes the layout of `spec` over `base` (nullptr: sizes only). With `model`, each slot names the
// checkpoint tensor it is copied from. Returns the weights (pointers into base) and fills `slots`.
DeviceWeights layout_weights(const ModelSpec& spec, const ModelWeights* model, std::byte* base,
                             std::vector<WeightSlot>* slots);

// Copies (converting F16/F32 to bf16 on the host, through pinned staging) every slot from the checkpoint;
// transposed slots go through a device buffer and a transpose kernel.
void upload_weights(const std::vector<WeightSlot>& slots, std::byte* base, cudaStream_t stream);
// Fills every slot on the device: matrices with uniform values of standard deviation 1/sqrt(cols) (the
// embedding 1), norm scales with 1, biases with 0. Deterministic in `seed`.
void fill_random_weights(const std::vector<WeightSlot>& slots, std::byte* base, uint64_t seed,
                         cudaStream_t stream);
// dst[c * ld_dst + r] = src[r * cols + c] for r < rows, c < cols (device_transpose.cu).
void launch_transpose_bf16(const bf16* src, int64_t rows, int64_t cols, bf16* dst, int64_t ld_dst,
                           cudaStream_t stream);

}  // namespace moe::cuda
