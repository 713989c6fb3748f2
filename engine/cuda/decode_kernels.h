// Launchers of the decode-step kernels (decode_ffn.cu, decode_attention.cu). Arguments are plain structs
// passed by value, so the launches can be captured in a graph; values that change per step (token,
// position) are read from StepParams on the device.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/cuda_context.h"

namespace moe::cuda {

constexpr int kMaxExperts = 256;  // eight a lane of the routing warp (decode_route.cuh)
constexpr int kMaxTopK = 32;

// y[rows] (=|+=) W[rows, cols] . norm(x) (+ bias)
struct GemvArgs {
  const bf16* w = nullptr;
  int64_t rows = 0, cols = 0;
  const float* x = nullptr;
  const float* norm_w = nullptr;  // RMSNorm of x folded in when set
  float eps = 0;
  const float* bias = nullptr;
  float* y = nullptr;
  // The previous FFN block's output (int64, units of 2^-32, see load_input) to add to x first; block 0
  // stores x + ffn to x_out. Only the plain (not residual-adding) GEMV takes it.
  const int64_t* ffn = nullptr;
  float* x_out = nullptr;
  // The input as int64 in units of 2^-32 instead of x (AttnDecodeArgs::v_out); only where
  // gemv_row_add_takes says so.
  const int64_t* x_fixed = nullptr;
};

struct RouterArgs {
  int num_experts = 0, top_k = 0;
  bool sigmoid = false;
  const float* score_bias = nullptr;
  int n_group = 1, topk_group = 1;
  bool group_top2_sum = false;
  bool normalize = false;
  float normalize_eps = 0;
  float scale = 1;
  bool shared_gate = false;    // sigmoid(logits row num_experts) scales the shared expert
  int32_t* experts = nullptr;  // [top_k] of this layer (the routing record)
  float* weights = nullptr;
};

// The feed-forward block of one layer for one position (decode_ffn.cu): router GEMV, expert choice,
// gate/up/SiLU over the chosen and the always-on experts and the weighted down projection, all in one
// kernel, whose output ffn(norm(x)) the next GEMV adds to the residual. Down projections are stored
// transposed ([I, H]). A non-finite output does not survive the fixed point (cuda_decode_notes, version 62).
struct FfnArgs {
  const float* x = nullptr;  // residual (input of the norm)
  // The fused attention output (int64, units of 2^-32, AttnDecodeArgs::o_out) to add to x first; block 0
  // stores x + x_add to x_out.
  const int64_t* x_add = nullptr;
  float* x_out = nullptr;
  const float* ffn_norm = nullptr;
  float eps = 0;
  int64_t hidden = 0;
  const bf16* router = nullptr;  // [router_rows, hidden]: E expert rows (+ the shared-expert gate row)
  int router_rows = 0;
  int slots = 0;  // routed experts chosen (top_k), 0 for a dense layer
  int64_t inter = 0;
  int64_t expert_stride = 0;  // elements from one expert's matrix to the next (padded: see expert_stride())
  const bf16 *experts_gate = nullptr, *experts_up = nullptr, *experts_down = nullptr;
  const bf16 *always_gate = nullptr, *always_up = nullptr, *always_down = nullptr;
  int64_t always_inter = 0;
  // [hidden] ffn(norm(x)) as int64 sums in units of 2^-32 (each block adds its part), zero before the step;
  // the next kernel adds it to x (GemvArgs::ffn).
  int64_t* out = nullptr;
  // Router logits, each a float (low half) with the tag of its writer (high half): zero before the step,
  // `tag` is the layer's (> 0), so that a block can wait for the logits of other blocks.
  uint64_t* logits = nullptr;  // [router_rows]
  int32_t tag = 0;
  int32_t* nonfinite = nullptr;  // SampleOut::nonfinite_ffn (to_fixed)
};

// Column pieces of a residual-adding GEMV with few rows: enough (row, piece) units to fill the GPU, at most
// kMaxSplitPieces.
constexpr int kMaxSplitPieces = 8;
inline int split_pieces(int64_t rows, int64_t cols) {
  if (cols % 8 != 0 || rows >= 8192) return 1;
  int p = 1;
  while (p < kMaxSplitPieces && rows * p < 8192 && cols / (p * 2) >= 256)
    p *= 2;
  return p;
}

void prepare_gemv_kernels(size_t max_smem);
void prepare_ffn_kernels(size_t max_smem);
void prepare_attention_kernels();
void prepare_mla_kernels();
void prepare_attn_output_kernels();
// y (=|+=) W norm(x). A residual-adding GEMV of 2,048 or 4,096 columns runs one row per warp; other
// residual-adding GEMVs with few rows run split-K when given `split_part` (kMaxSplitPieces * rows floats).
void launch_gemv(const GemvArgs& a, bool add, cudaStream_t s, float* split_part = nullptr);
// Whether a residual-adding GEMV without a norm runs one row per warp (and so takes GemvArgs::x_fixed).
bool gemv_row_add_takes(int64_t cols, const bf16* w);
// Throws unless the FFN kernel takes this hidden size (up to 16,384; up to 2,048 if not a multiple of 8).
void check_ffn_shape(int64_t hidden);
// The FFN block (r.top_k 0: a dense layer), of a hidden size check_ffn_shape took.
void launch_ffn(const FfnArgs& a, const RouterArgs& r, cudaStream_t s);

// Attention of one position (decode_attention.cu).
struct AttnPrepArgs {  // standard attention: q/k norms, clip, rope; k and v into the cache
  const float* qkv = nullptr;
  int nh = 0, nkv = 0, hd = 0, vd = 0;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  bool norm_full = false;  // over all heads (OLMoE) rather than per head
  float eps = 0;
  float clip = 0;
  const float* inv_freq = nullptr;
  float cos_sin_scale = 1;
  bool interleaved = false;
  const StepParams* params = nullptr;
  float* q = nullptr;  // [nh, hd]
  bf16* k_cache = nullptr;
  bf16* v_cache = nullptr;
};
void launch_attn_prep(const AttnPrepArgs& a, cudaStream_t s);

struct MlaPrepArgs {
  const float* qkv = nullptr;  // [q_rows | c_kv (r) | k_pe (rope)]
  int q_rows = 0, q_lora = 0, r = 0, rope = 0;
  const float* q_a_norm = nullptr;
  const float* kv_a_norm = nullptr;
  float eps = 0;
  const float* inv_freq = nullptr;
  float cos_sin_scale = 1;
  bool interleaved = false;
  const StepParams* params = nullptr;
  bf16* k_cache = nullptr;   // [ctx, r + rope]
  float* q_a_out = nullptr;  // normalised q_a (when q_lora > 0)
};
void launch_mla_prep(const MlaPrepArgs& a, cudaStream_t s);

struct MlaQueryArgs {  // q_abs = W_k^T q_nope per head, and the rotated q_pe, into q [nh, r + rope]
  const float* q_full = nullptr;  // [nh, nope + rope]
  const bf16* kv_b = nullptr;     // [nh * (nope + vd), r]
  int nh = 0, nope = 0, rope = 0, vd = 0, r = 0;
  const float* inv_freq = nullptr;
  float cos_sin_scale = 1;
  bool interleaved = false;
  const StepParams* params = nullptr;
  float* q = nullptr;
  MlaPrepArgs prep;  // when set (q_lora 0: the query does not wait for it), one more block does its work
};
void launch_mla_query(const MlaQueryArgs& a, cudaStream_t s);

struct MlaValueArgs {             // out[h, vd] = W_v[h] . latent[h]
  const float* latent = nullptr;  // [nh, r]
  const bf16* kv_b = nullptr;
  int nh = 0, nope = 0, vd = 0, r = 0;
  float* out = nullptr;
};
void launch_mla_value(const MlaValueArgs& a, cudaStream_t s);

struct AttnDecodeArgs {      // flash-decoding over the cache, partials per split, then combined
  const float* q = nullptr;  // [nh, hd]
  const bf16* k = nullptr;
  const bf16* v = nullptr;
  int64_t k_stride = 0, v_stride = 0;  // elements per position
  int nh = 0, nkv = 0, hd = 0, vd = 0;
  int window = 0;  // 0: all positions
  float scale = 1;
  int64_t chunk = 0;   // fewest positions per split
  int64_t splits = 0;  // splits the partial buffer holds (at most 512); the launcher may use fewer
  const StepParams* params = nullptr;
  float* partial = nullptr;  // [splits, nh, vd + 2]
  float* out = nullptr;      // [nh, vd]
  // Set (prep.qkv, standard attention only): the kernel also prepares this position's q, k and v from the
  // fused projection as launch_attn_prep does (`q` is then not read): each block its own query heads, the
  // block whose split holds the position its key and value, which it also writes to the cache.
  AttnPrepArgs prep;
  // Set (o_w): the merge also applies the attention output projection o_w [o_rows, nh * vd] (+ o_bias) and
  // adds the result to o_out (int64 in units of 2^-32, zero before the step) instead of writing `out`. Only
  // where attn_output_fusable says so.
  const bf16* o_w = nullptr;
  int64_t o_rows = 0;
  const float* o_bias = nullptr;
  int64_t* o_out = nullptr;
  // Set (v_up, MLA, where mla_value_fusable says so): the merge also applies each head's value
  // up-projection, rows v_nope .. v_nope + v_vd of head h's block of v_up ([nh * (v_nope + v_vd), vd]),
  // adding the values to v_out ([nh, v_vd], int64 in units of 2^-32, zero before the step) instead of writing
  // `out`.
  const bf16* v_up = nullptr;
  int v_nope = 0, v_vd = 0;
  int64_t* v_out = nullptr;
  // Where o_out or v_out meet a value the fixed point cannot carry: SampleOut::nonfinite_attn gets `tag`
  // (the layer + 1; to_fixed).
  int32_t* nonfinite = nullptr;
  int32_t tag = 0;
};
void launch_attn_decode(const AttnDecodeArgs& a, cudaStream_t s);
// Whether the MLA merge can apply the value up-projection (AttnDecodeArgs::v_up): latents in slices of 32,
// heads of at most 128 values, a 16-byte aligned matrix.
bool mla_value_fusable(int64_t r, int64_t vd, const bf16* kv_b);
// Whether the flash-decoding kernel takes the preparation (AttnDecodeArgs::prep): at most 8 query heads per
// KV head and values of at most 128. Compiled as its own instantiation, the 8-head variant keeps three
// blocks an SM (79 registers; 99 when the preparation was a runtime branch of every variant,
// bench/cuda_decode_notes.md, version 73).
bool attn_prep_fusable(int nh, int nkv, int vd);
// Whether the merge can apply the output projection (decode_attn_output.cu): heads of 128 values, a
// 16-byte aligned matrix.
bool attn_output_fusable(int64_t vd, const bf16* o_w);
// The merge with the output projection, for a.splits as the flash-decoding kernel ran with.
void launch_attn_output(const AttnDecodeArgs& a, cudaStream_t s);

void launch_embed(const bf16* table, int64_t hidden, const StepParams* params, float* x, cudaStream_t s);

}  // namespace moe::cuda
