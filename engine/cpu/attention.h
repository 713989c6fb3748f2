// Self-attention on the CPU over a float32 KV cache: grouped-query attention with optional q/k norms,
// clip_qkv, sliding windows; and DeepSeek's multi-head latent attention in the absorbed-weight form, whose
// cache holds the compressed latent c_kv and the shared rotary key.
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model.h"
#include "moe/rope.h"

namespace moe::cpu {

struct KvLayer {
  std::vector<float> k;  // standard: [ctx, kv_heads, head_dim]; MLA: c_kv [ctx, kv_lora_rank]
  std::vector<float> v;  // standard: [ctx, kv_heads, v_head_dim]; MLA: k_rope [ctx, qk_rope_head_dim]
};

// Rotates `n_heads` vectors per position, `rot_dim` values starting at `offset` within each head of size
// `head_stride`, for positions pos0 .. pos0 + n - 1.
void apply_rope(float* x, int64_t n, int64_t n_heads, int64_t head_stride, int64_t offset, int64_t rot_dim,
                int64_t pos0, const RopeFrequencies& f, bool interleaved);

// out[n, hidden] = attention(xn[n, hidden]) for positions pos0 .. pos0 + n - 1, appending to `cache`.
void attention_standard(const ModelSpec& s, const LayerWeights& w, int32_t window, const float* xn, int64_t n,
                        int64_t pos0, KvLayer& cache, float* out);
void attention_mla(const ModelSpec& s, const LayerWeights& w, const float* xn, int64_t n, int64_t pos0,
                   KvLayer& cache, float* out);

}  // namespace moe::cpu
