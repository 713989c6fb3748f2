// Launchers of the prefill kernels (prefill_ops.cu, prefill_attention.cu, prefill_moe.cu, prefill_gemm.cu)
// and the carving of the prefill workspace, shared by prefill.cu (the orchestration) and the check program.
// Every launcher only enqueues on `stream`.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "moe/model_spec.h"

namespace moe::cuda {

using bf16 = __nv_bfloat16;

// Rows per tile of the grouped expert GEMM: an expert's rows are cut into tiles of 64 or 128 (the variant's
// BM), the last one partial, so the work wasted on partial tiles is at most E * (BM - 1) rows per layer. The
// tile table holds enough entries for the smallest tile.
constexpr int kMoeTileM = 64;
constexpr int kDefaultGemmVariant = 3;  // fastest on the three real MoE shapes measured (H100)

// Byte offsets of every buffer inside the workspace of one chunk. The attention phase and the FFN phase of a
// layer never live at once, so their buffers share one region (the larger of the two).
struct PrefillLayout {
  int64_t chunk = 0;
  int64_t mla_seg = 0;  // MLA: cache rows whose keys and values are decompressed at once (the chunk size)
  // Whole forward
  size_t x = 0;        // fp32 [C, H] residual stream
  size_t xn = 0;       // bf16 [C, H] normalised input of the next GEMM
  size_t xn_lo = 0;    // bf16 [C, H] its rounding remainder, xn32 - xn (split-precision GEMMs, see below)
  size_t rope_cs = 0;  // fp32 [2][C][rot/2] cos, sin of every position of the chunk
  // Attention phase
  size_t qkv = 0;     // fp32 [C, qkv_rows]
  size_t q = 0;       // fp32 [C, nh, q_width] (bf16 on the tensor-core path); MLA q_width nope + rope
  size_t qa = 0;      // MLA: bf16 [C, q_lora_rank] normalised q_a output
  size_t qa_lo = 0;   // MLA: bf16 [C, q_lora_rank] its remainder
  size_t qfull = 0;   // MLA: fp32 [C, nh * hd] q_b output
  size_t mla_k = 0;   // MLA: bf16 [S, nh, nope + rope] keys decompressed for a segment of S cache rows
  size_t mla_v = 0;   // MLA: bf16 [S, nh, vd] values of the same rows
  size_t mla_ml = 0;  // MLA: fp32 [C, nh, 2] softmax state carried between key segments
  size_t mla_o = 0;   // MLA: fp32 [C, nh, vd] unnormalised output carried between key segments
  size_t mla_s = 0;   // MLA, score-matrix form (MOE_PREFILL_MLA_CUBLAS): fp32 [mla_s_heads, C, C]
  int64_t mla_s_heads = 0;
  size_t attn_out = 0;  // bf16 [C, nh * vd]
  size_t attn_lo = 0;   // bf16 [C, nh * vd] remainder of the attention output
  size_t k16 = 0;       // fp16 [C, nkv * hd] this chunk's keys (fp16 attention)
  size_t v16 = 0;       // fp16 [C, nkv * vd] its values
  size_t kp16 = 0;      // fp16 [C, nkv * hd] a segment of earlier cache rows' keys, widened from bf16
  size_t vp16 = 0;      // fp16 [C, nkv * vd] their values
  size_t att_ml = 0;    // fp32 [C, nh, 2] softmax state carried between those segments and the chunk
  size_t att_o = 0;     // fp32 [C, nh, vd]
  // FFN phase
  size_t xn32 = 0;       // fp32 [C, H] normalised FFN input (the router reads it in fp32, as the CPU does)
  size_t router32 = 0;   // fp32 [router_rows, H] this layer's router weights
  size_t logits = 0;     // fp32 [C, router_rows]
  size_t choice = 0;     // fp32 [C, E] router scratch (bias-corrected, group-masked scores)
  size_t topk_ids = 0;   // int32 [C, k]
  size_t topk_w = 0;     // fp32 [C, k]
  size_t slot_of = 0;    // int32 [C, k] row of each (token, rank) in the expert-sorted order
  size_t row_token = 0;  // int32 [C * k] token of each sorted row
  size_t counts = 0;     // int32 [E] rows per expert, then [E] cursors
  size_t tiles = 0;      // int4 [max_tiles] (expert, first row, rows, 0) + int32 tile count
  size_t act = 0;        // bf16 [C * k, I] silu(gate) * up of the sorted rows
  size_t act_lo = 0;     // bf16 [C * k, I] its remainder
  size_t yperm = 0;      // fp32 [C * k, H] expert outputs of the sorted rows
  size_t act_s = 0;      // bf16 [C, Ia] activation of the always-on MLP
  size_t act_s_lo = 0;   // bf16 [C, Ia] its remainder
  size_t gu = 0;         // fp32 [2, C, Ia] gate and up of the always-on MLP (cuBLAS path)
  size_t ys = 0;         // fp32 [C, H] always-on MLP output (MoE layers)
  size_t sgate = 0;      // fp32 [C] shared-expert gate
  int64_t max_tiles = 0;
  size_t total = 0;
};
PrefillLayout prefill_layout(const ModelSpec& s, int64_t chunk);
// Time per stage summed over the calls made with MOE_PREFILL_PROFILE=1 (see prefill.cu), as a table.
std::string prefill_profile_report(bool reset);
// The default mask of split-precision places (prefill.cu, Precision; MOE_PREFILL_EXACT overrides it).
unsigned prefill_exact_default();

// ---- prefill_ops.cu ----
void launch_embed(const int32_t* tokens, const bf16* embed, int64_t n, int64_t H, float* x, cudaStream_t st);
// out[r] = w * rmsnorm(x[r]) as bf16, for rows [0, n) of x (row stride H); also as fp32 to out32 if given,
// and the remainder v - bf16(v) as bf16 to lo if given.
void launch_rmsnorm_bf16(const float* x, const float* w, int64_t n, int64_t H, double eps, bf16* out,
                         cudaStream_t st, float* out32 = nullptr, bf16* lo = nullptr);
void launch_bf16_to_f32(const bf16* in, int64_t count, float* out, cudaStream_t st);
// cos/sin of (pos0 + t) * inv_freq[i] (float32 angle, as transformers), times scale. cs: [2][n][half].
void launch_rope_table(const float* inv_freq, int64_t half, int64_t pos0, int64_t n, float scale, float* cs,
                       cudaStream_t st);
// Standard attention: bias, q/k norm, clip, rope on the fused qkv rows; q to `q` (fp32, or bf16 when
// q_bf16), k and v into the cache at positions pos0 + t.
struct QkvPostArgs {
  const float* qkv;
  int64_t qkv_rows;
  const float* bias;
  const float* q_norm;
  const float* k_norm;
  int qk_norm;  // 0 none, 1 per head, 2 full
  float eps;
  float clip;  // 0: none
  int64_t nh, nkv, hd, vd, half;
  bool interleaved;
  const float* cs;  // rope table [2][n][half]
  int64_t n, pos0;
  void* q;
  bool q_bf16;
  bool q_f16;  // q as fp16 instead (takes precedence)
  bf16* k_cache;
  bf16* v_cache;
  void* k16;  // fp16 [n, nkv * hd] copies of this chunk's keys and values (row t), or null
  void* v16;
};
void launch_qkv_post(const QkvPostArgs& a, cudaStream_t st);
// MLA: rmsnorm(c_kv) and the rotated k_pe into the cache row [r + rope] of each position; the normalised
// q_a output (q_lora_rank > 0) to qa.
struct MlaKvArgs {
  const float* qkv;
  int64_t qkv_rows, q_rows, r, rope, q_lora;
  const float* kv_a_norm;
  const float* q_a_norm;
  float eps;
  bool interleaved;
  const float* cs;
  int64_t n, pos0;
  bf16* k_cache;
  bf16* qa;
  bf16* qa_lo;  // remainder of qa, or null
};
void launch_mla_kv(const MlaKvArgs& a, cudaStream_t st);
// MLA queries in the decompressed form: q[t, h, :] = [q_nope | rotated q_pe] (fp32, or bf16 when q_bf16)
// from the q projection rows (q_stride apart, nh * (nope + rope) wide).
void launch_mla_q(const float* q, int64_t q_stride, int64_t n, int64_t nh, int64_t nope, int64_t rope,
                  bool interleaved, const float* cs, void* out, bool q_bf16, cudaStream_t st);
// The rotated k_pe of cache rows [j0, j0 + cnt) (row width kw, k_pe at column r) into every head of the
// decompressed keys: keys[j - j0, h, nope + i] (row stride nh * (nope + rope)).
void launch_mla_kpe(const bf16* k_cache, int64_t kw, int64_t r, int64_t rope, int64_t j0, int64_t cnt,
                    int64_t nh, int64_t nope, bf16* keys, cudaStream_t st);
// count bf16 values to fp16 (the cache rows of earlier positions, for the fp16 attention).
void launch_bf16_to_f16(const bf16* in, int64_t count, void* out, cudaStream_t st);
// out[i] = silu(g[i]) * u[i] as bf16 (and the remainder to lo if given).
void launch_silu_mul(const float* g, const float* u, int64_t count, bf16* out, cudaStream_t st,
                     bf16* lo = nullptr);
void launch_add_bias(float* x, const float* bias, int64_t n, int64_t H, cudaStream_t st);
// x[t] += sum_i w[t,i] * yperm[slot[t,i]] (rank order) + (ys ? (sgate ? sgate[t] : 1) * ys[t] : 0).
void launch_moe_combine(float* x, const float* yperm, const int32_t* slot_of, const float* topk_w,
                        const float* ys, const float* sgate, int64_t n, int64_t k, int64_t H,
                        cudaStream_t st);

// ---- prefill_attention.cu ----
// Causal attention of queries t in [0, n) at positions pos0 + t over cache keys [first, pos0 + t], first =
// max(0, p - window + 1) with a window, else 0. Element (j, g, d) of K is k[(j - kv_base) * k_row + g *
// k_head
// + d] (V likewise).
//
// Key segments (MLA, whose keys are decompressed into a buffer one segment at a time): with seg_hi > 0 a
// launch sees only keys [seg_lo, seg_hi) and carries the online-softmax state across launches in fp32:
// load_state reads (m, l, unnormalised o) from state_ml [n, nh, 2] / state_o [n, nh, dv] first, store_state
// writes them back instead of the normalised bf16 output. The first segment of a sequence loads nothing, the
// last stores nothing (it writes `out`).
struct AttentionArgs {
  const void* q;  // fp32 [n, nh, q_width] (bf16 on the tensor-core path)
  int64_t q_width;
  const bf16* k;
  int64_t k_row, k_head, dk;
  const bf16* v;
  int64_t v_row, v_head, dv;
  int64_t n, nh, nkv, pos0;
  int32_t window;
  float scale;
  bf16* out;               // [n, nh, dv]
  bf16* out_lo = nullptr;  // [n, nh, dv] remainder of out, or null
  bool f16 = false;        // q, k and v hold fp16 (__half) bits (tensor-core kernel only); P rounds to fp16
  int64_t kv_base = 0;
  int64_t seg_lo = 0, seg_hi = 0;  // seg_hi 0: every key
  bool load_state = false, store_state = false;
  float* state_ml = nullptr;
  float* state_o = nullptr;
};
// Whether the tensor-core kernel handles these shapes (q as bf16): dk = dv = 64 or 128, or dk 192 with dv 128
// (MLA's nope 128 + rope 64 keys, values of 128).
bool attention_fast_path(const AttentionArgs& a);
void launch_attention(const AttentionArgs& a, bool fast, cudaStream_t st);
// ---- prefill_mla.cu ----
// Rows r of S (fp32, `pitch` floats apart; row r is query r % n) over `keys` keys from position 0: keys j <=
// pos0 + r % n scaled and softmaxed, written as bf16 probabilities over the row's start (masked ones 0).
void launch_causal_softmax(float* S, int64_t rows, int64_t n, int64_t keys, int64_t pitch, int64_t pos0,
                           float scale, cudaStream_t st);

// ---- prefill_moe.cu ----
struct RouteArgs {
  float* logits;  // [n, router_rows] (overwritten with scores)
  int64_t router_rows;
  float* choice;  // [n, E]
  const float* score_bias;
  int64_t n, E, k;
  int score;     // 0 softmax, 1 sigmoid
  int grouping;  // 0 none, 1 group max, 2 group top-2 sum
  int64_t n_group, topk_group;
  bool norm_topk, deepseek;
  bool scale;
  float scaling;
  int32_t* topk_ids;
  float* topk_w;
  int32_t* out_experts;  // [n][n_moe][k] at this layer's index, or null
  float* out_weights;
  int64_t out_stride;  // n_moe * k
  float* sgate;        // sigmoid(logits[t, E]) when router_rows > E, else untouched
};
void launch_route(const RouteArgs& a, cudaStream_t st);
// Counts rows per expert, sorts (token, rank) pairs by expert into slot_of/row_token, cuts each expert's
// rows into tiles of kMoeTileM: tiles[i] = (expert, first row, rows), tile count after max_tiles entries.
void launch_moe_plan(const int32_t* topk_ids, int64_t n, int64_t k, int64_t E, int tile_m, int32_t* counts,
                     int32_t* slot_of, int32_t* row_token, int4* tiles, int64_t max_tiles, cudaStream_t st);

// ---- prefill_gemm.cu ----
// Grouped GEMM over tiles of rows: C[row, f] = sum_k A[a_row(row), k] * B_e[f, k] with B_e the weight of the
// tile's expert (B + e * b_stride). swiglu: B holds gate, B2 up; C (bf16) = silu(gate) * up. Else C fp32.
struct GroupedGemmArgs {
  const bf16* A;
  const bf16* A_lo = nullptr;  // remainder of A (same layout): C = (A + A_lo) B^T, twice the MMAs
  int64_t lda;
  const int32_t* a_rows;  // sorted row -> A row, or null (identity)
  const bf16* B;
  const bf16* B2;     // up (swiglu) or null
  int64_t b_stride;   // elements between experts
  bool b_kn = false;  // B stored [K, N] per expert (N contiguous) instead of [N, K]; not with swiglu
  int64_t N, K;
  const int4* tiles;   // null: dense, tile i covers rows [i * BM, ...) of M
  int64_t max_tiles;   // capacity of the tile table (the tile count follows it); unused when dense
  int64_t grid_tiles;  // blocks launched along the rows (an upper bound of the tile count); 0: max_tiles
  int64_t M;
  void* C;
  void* C_lo = nullptr;  // swiglu: remainder of C (bf16), or null
  int64_t ldc;
  bool swiglu;
};
// The variant (prefill_gemm.cu's list) MOE_PREFILL_GEMM names, else kDefaultGemmVariant; its tile rows.
int grouped_gemm_variant();
int grouped_gemm_tile_m(int variant);
void launch_grouped_gemm(const GroupedGemmArgs& a, int variant, cudaStream_t st);

}  // namespace moe::cuda
