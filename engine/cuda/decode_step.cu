// The decode step's buffers and its sequence of kernels (see decode.h). Per standard layer: fused QKV GEMV
// (norm folded in; it also adds the previous layer's FFN output to the residual), flash-decoding (which also
// prepares the position's q, k and v when attn_prep_fusable says so; else a preparation kernel first), the
// merge fused with the O projection (its output in fixed point), then the whole feed-forward block (which
// adds that output to the residual; router, expert choice, gate/up, weighted down projection) in one kernel
// that leaves its output for the next GEMV to add. MLA and heads other than 128 values merge in a kernel of
// their own and add the O GEMV's output to the residual directly.
#include <algorithm>
#include <type_traits>
#include <utility>

#include "cuda/cuda_check.h"
#include "cuda/decode.h"
#include "cuda/decode_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

bool is_deepseek(const ModelSpec& s) {
  return s.family == Family::DeepseekV2 || s.family == Family::DeepseekV3;
}

int64_t attn_width(const ModelSpec& s) {  // values per head the attention kernel produces
  return s.attention == AttentionKind::MLA ? s.kv_lora_rank : s.v_head_dim;
}

int64_t q_width(const ModelSpec& s) {
  return s.attention == AttentionKind::MLA ? s.kv_lora_rank + s.qk_rope_head_dim : s.head_dim;
}

// Flash-decoding splits: the partial buffer holds up to 512 (the combine kernel's limit); the launcher
// picks how many blocks fill the GPU and the kernels split the positions of each step over them, each split
// at least kMinSplitPositions positions.
constexpr int64_t kMinSplitPositions = 8;

// The fused projection's output, which MLA's q_b also writes (nh * head_dim) after the q_a rows are used.
int64_t max_qkv_rows(const ModelSpec& s) {
  return std::max(fused_qkv_rows(s), s.num_heads * s.head_dim);
}

}  // namespace

size_t layout_decode_buffers(const ModelSpec& s, int64_t ctx, int64_t logits_rows, std::byte* base,
                             DecodeBuffers* d) {
  size_t used = 0;
  auto take = [&](auto*& ptr, int64_t n) {
    using T = std::remove_reference_t<decltype(*ptr)>;
    if (base) ptr = reinterpret_cast<T*>(base + used);
    used += (sizeof(T) * size_t(std::max<int64_t>(n, 1)) + 255) / 256 * 256;
  };
  DecodeBuffers scratch;
  DecodeBuffers& b = d ? *d : scratch;
  const int64_t H = s.hidden_size, nh = s.num_heads, k = std::max<int64_t>(s.top_k, 1);
  const int64_t aw = attn_width(s);
  b.attn_chunk = kMinSplitPositions;
  b.attn_splits = std::min<int64_t>(512, (ctx + b.attn_chunk - 1) / b.attn_chunk);
  take(b.x, H);
  take(b.x_alt, H);
  take(b.qkv, max_qkv_rows(s));
  take(b.q, nh * std::max(q_width(s), s.v_head_dim));
  take(b.attn, std::max(nh * aw, s.q_lora_rank));
  take(b.attn_partial, b.attn_splits * nh * (aw + 2));
  take(b.route_experts, std::max<int64_t>(s.num_moe_layers(), 1) * k);
  take(b.route_weights, std::max<int64_t>(s.num_moe_layers(), 1) * k);
  take(b.logits, logits_rows * s.vocab_size);
  take(b.params, 1);
  take(b.seen, s.vocab_size);
  take(b.split, kMaxSplitPieces * H);  // the attention output projection's split-K pieces
  // One region, zeroed at the start of every step.
  const size_t sync_start = used;
  take(b.attn_out, s.num_layers * H);
  take(b.ffn_out, s.num_layers * H);
  take(b.ffn_logits, s.num_experts + 1);
  take(b.sample, 1);
  b.sync_bytes = used - sync_start;
  return used;
}

void prepare_decode_kernels(const CudaContext& c) {
  const ModelSpec& s = c.spec;
  int max_optin = 0;
  MOE_CUDA_CHECK(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, c.device));
  // The largest input vector any GEMV-like kernel holds in shared memory.
  const int64_t widest =
      std::max({s.hidden_size, s.num_heads * std::max(s.v_head_dim, s.kv_lora_rank), s.q_lora_rank});
  const size_t need = sizeof(float) * size_t(widest) + 8192;
  if (need > size_t(max_optin))
    throw Error("CUDA decode: an input vector of " + std::to_string(widest) +
                " floats does not fit in shared memory (" + std::to_string(max_optin) + " bytes)");
  // Room for the kernels' static shared memory.
  prepare_gemv_kernels(size_t(max_optin) - 8192);
  prepare_ffn_kernels(size_t(max_optin) - 8192);
  check_ffn_shape(s.hidden_size);
  prepare_attention_kernels();
  prepare_mla_kernels();
  prepare_attn_output_kernels();
  if (s.top_k > kMaxTopK)
    throw Error("CUDA decode: top-" + std::to_string(s.top_k) + " routing (at most " +
                std::to_string(kMaxTopK) + ")");
  if (s.n_group > 32)
    throw Error("CUDA decode: " + std::to_string(s.n_group) + " expert groups (at most 32)");
  if (s.num_experts > kMaxExperts)
    throw Error("CUDA decode: " + std::to_string(s.num_experts) + " experts (at most " +
                std::to_string(kMaxExperts) + ")");
}

void enqueue_decode_step(CudaContext& c) {
  const ModelSpec& s = c.spec;
  const DecodeBuffers& d = c.d;
  const cudaStream_t st = c.stream;
  const float eps = float(s.rms_norm_eps);
  const int64_t H = s.hidden_size, nh = s.num_heads, k = c.top_k;
  const bool mla = s.attention == AttentionKind::MLA;
  MOE_CUDA_CHECK(cudaMemsetAsync(d.attn_out, 0, d.sync_bytes, st));
  // The flash-decoding kernel prepares the position itself (AttnDecodeArgs::prep) where that leaves its
  // occupancy as it was (see attn_prep_fusable).
  const bool fuse_prep = !mla && attn_prep_fusable(int(nh), int(s.num_kv_heads), int(s.v_head_dim));
  // The residual stream: each FFN block leaves its output in fixed point (ffn), which the next layer's QKV
  // GEMV adds to x as it loads it, its block 0 storing the sum to the other buffer.
  float* x = d.x;
  float* x_other = d.x_alt;
  const int64_t* ffn = nullptr;
  launch_embed(c.w.embed, H, d.params, x, st);
  int64_t moe_index = 0;
  for (int64_t li = 0; li < s.num_layers; ++li) {
    const DeviceLayer& L = c.w.layers[size_t(li)];
    const LayerSpec& ls = s.layers[size_t(li)];
    const int64_t* attn_add = nullptr;  // the fused attention output, when the merge projects it
    // Attention input projection, with the layer's input norm folded in.
    launch_gemv({L.qkv, L.qkv_rows, H, x, L.attn_norm, eps, L.qkv_bias, d.qkv, ffn, ffn ? x_other : nullptr},
                false, st);
    if (ffn) std::swap(x, x_other);
    AttnDecodeArgs at;
    at.params = d.params;
    at.nh = int(nh);
    at.scale = float(s.attention_scale());
    at.chunk = d.attn_chunk;
    at.splits = d.attn_splits;
    at.partial = d.attn_partial;
    at.nonfinite = &d.sample->nonfinite_attn;
    at.tag = int32_t(li + 1);
    at.out = d.attn;
    if (mla) {
      const int r = int(s.kv_lora_rank), rope = int(s.qk_rope_head_dim), nope = int(s.qk_nope_head_dim);
      const int q_rows = int(s.q_lora_rank > 0 ? s.q_lora_rank : nh * s.head_dim);
      MlaPrepArgs mp{d.qkv,
                     q_rows,
                     int(s.q_lora_rank),
                     r,
                     rope,
                     L.q_a_norm,
                     L.kv_a_norm,
                     eps,
                     c.inv_freq,
                     c.cos_sin_scale,
                     s.rope.interleaved,
                     d.params,
                     c.kv.k[size_t(li)],
                     d.attn};
      MlaQueryArgs mq{d.qkv,
                      L.kv_b,
                      int(nh),
                      nope,
                      rope,
                      int(s.v_head_dim),
                      r,
                      c.inv_freq,
                      c.cos_sin_scale,
                      s.rope.interleaved,
                      d.params,
                      d.q};
      if (s.q_lora_rank > 0) {  // q = q_b(norm(q_a)), over the q_a rows of d.qkv (already consumed)
        launch_mla_prep(mp, st);
        launch_gemv({L.q_b, nh * s.head_dim, s.q_lora_rank, d.attn, nullptr, 0, nullptr, d.qkv}, false, st);
      } else {
        mq.prep = mp;  // the query kernel's extra block prepares the latent beside the heads
      }
      launch_mla_query(mq, st);
      at.q = d.q;
      at.k = c.kv.k[size_t(li)];
      at.v = c.kv.k[size_t(li)];
      at.k_stride = at.v_stride = r + rope;
      at.nkv = 1;
      at.hd = r + rope;
      at.vd = r;
      const int64_t o_cols = nh * s.v_head_dim;
      GemvArgs o{L.o, H, o_cols, d.q, nullptr, 0, L.o_bias, x};
      const bool fused_value =
          mla_value_fusable(r, s.v_head_dim, L.kv_b) && o_cols <= H && gemv_row_add_takes(o_cols, L.o);
      if (fused_value) {
        // The merge applies the value up-projection; the O projection reads its fixed-point output, in the
        // layer's attn_out (which MLA layers do not use otherwise).
        at.v_up = L.kv_b;
        at.v_nope = nope;
        at.v_vd = int(s.v_head_dim);
        at.v_out = d.attn_out + li * H;
        o.x = nullptr;
        o.x_fixed = at.v_out;
      }
      launch_attn_decode(at, st);
      if (!fused_value) launch_mla_value({d.attn, L.kv_b, int(nh), nope, int(s.v_head_dim), r, d.q}, st);
      launch_gemv(o, true, st, d.split);
    } else {
      AttnPrepArgs ap;
      ap.qkv = d.qkv;
      ap.nh = int(nh);
      ap.nkv = int(s.num_kv_heads);
      ap.hd = int(s.head_dim);
      ap.vd = int(s.v_head_dim);
      ap.q_norm = L.q_norm;
      ap.k_norm = L.k_norm;
      ap.norm_full = s.qk_norm == QkNorm::Full;
      ap.eps = eps;
      ap.clip = float(s.clip_qkv);
      ap.inv_freq = c.inv_freq;
      ap.cos_sin_scale = c.cos_sin_scale;
      ap.interleaved = s.rope.interleaved;
      ap.params = d.params;
      ap.q = d.q;
      ap.k_cache = c.kv.k[size_t(li)];
      ap.v_cache = c.kv.v[size_t(li)];
      if (fuse_prep) {
        at.prep = ap;  // the flash-decoding kernel prepares the position itself
      } else {
        launch_attn_prep(ap, st);
      }
      at.q = d.q;
      at.k = c.kv.k[size_t(li)];
      at.v = c.kv.v[size_t(li)];
      at.nkv = int(s.num_kv_heads);
      at.hd = int(s.head_dim);
      at.vd = int(s.v_head_dim);
      at.k_stride = s.num_kv_heads * s.head_dim;
      at.v_stride = s.num_kv_heads * s.v_head_dim;
      at.window = ls.sliding_window;
      const bool fused_output = attn_output_fusable(at.vd, L.o);
      if (fused_output) {
        // The merge applies the output projection; the FFN adds its output to the residual.
        at.o_w = L.o;
        at.o_rows = H;
        at.o_bias = L.o_bias;
        at.o_out = d.attn_out + li * H;
        attn_add = at.o_out;
      }
      launch_attn_decode(at, st);
      if (!fused_output)
        launch_gemv({L.o, H, nh * s.v_head_dim, d.attn, nullptr, 0, L.o_bias, x}, true, st, d.split);
    }

    // Feed-forward block: ffn(norm(x)), added to x by the next GEMV.
    FfnArgs f;
    f.x = x;
    if (attn_add) {
      f.x_add = attn_add;
      f.x_out = x_other;
      std::swap(x, x_other);
    }
    f.ffn_norm = L.ffn_norm;
    f.eps = eps;
    f.hidden = H;
    f.out = d.ffn_out + li * H;
    f.logits = d.ffn_logits;
    f.tag = int32_t(li + 1);
    f.nonfinite = &d.sample->nonfinite_ffn;
    f.always_gate = L.always_gate;
    f.always_up = L.always_up;
    f.always_down = L.always_down;
    f.always_inter = L.always_inter;
    RouterArgs r;  // top_k 0: a dense layer (no choice)
    if (ls.moe) {
      r.num_experts = int(s.num_experts);
      r.top_k = int(s.top_k);
      r.sigmoid = s.router_score == RouterScore::Sigmoid;
      r.score_bias = L.router_bias;
      if (s.router_grouping != RouterGrouping::None && s.n_group > 1) {
        r.n_group = int(s.n_group);
        r.topk_group = int(s.topk_group);
        r.group_top2_sum = s.router_grouping == RouterGrouping::GroupTop2Sum;
      }
      const bool deepseek = is_deepseek(s);
      r.normalize = s.norm_topk_prob && (!deepseek || s.top_k > 1);
      r.normalize_eps = deepseek ? 1e-20f : 0.0f;
      const bool scale = s.family == Family::DeepseekV3 ||
                         (s.family == Family::DeepseekV2 && !(s.norm_topk_prob && s.top_k > 1));
      r.scale = scale ? float(s.routed_scaling_factor) : 1.0f;
      r.shared_gate = L.always_gated;
      r.experts = d.route_experts + moe_index * k;
      r.weights = d.route_weights + moe_index * k;
      f.router = L.router;
      f.router_rows = int(L.router_rows);
      f.slots = int(s.top_k);
      f.inter = s.moe_intermediate_size;
      f.expert_stride = expert_stride(s.moe_intermediate_size, H);
      f.experts_gate = L.experts_gate;
      f.experts_up = L.experts_up;
      f.experts_down = L.experts_down;
      ++moe_index;
    }
    launch_ffn(f, r, st);
    ffn = f.out;
  }
  launch_gemv({c.w.lm_head, s.vocab_size, H, x, c.w.final_norm, eps, nullptr, d.logits, ffn}, false, st);
}

}  // namespace moe::cuda
