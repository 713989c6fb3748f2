// prefill_forward: a chunk of prompt positions through every layer at once (see prefill.h). Dense
// projections (fused qkv, o, q_b, shared-expert gate/up and down, lm_head) are cuBLAS GEMMs with bf16 inputs
// (some as hi/lo pairs, see Precision below) and fp32 outputs, the router an fp32 GEMM; the routed experts
// run in the grouped GEMM of prefill_gemm.cu over a device-built tile table; attention is
// prefill_attention.cu's flash kernel. The residual stream stays fp32 and the order of operations is the
// CPU oracle's (engine/cpu/cpu_backend.cpp).
//
// Work per position and layer (Qwen1.5-MoE-A2.7B: H 2048, 16 heads of 128, 60 experts of 1408, top-4, a
// shared expert of 5632): qkv + o 16.8 M MACs, routed experts 34.6 M, shared expert 34.6 M, attention
// 2 * 16 * 128 * L / 2 on average over a causal chunk of L: about 4.3 GFLOP per token over 24 layers, 8.9
// TFLOP for 2048 tokens (11 ms at 800 TFLOP/s). Expert weights are read once per chunk (25 GB, 7.5 ms at
// 3.35 TB/s), overlapped with the math.
#include "cuda/prefill.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/cuda_check.h"
#include "cuda/prefill_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

constexpr size_t kAlign = 256;

size_t align_up(size_t b) {
  return (b + kAlign - 1) / kAlign * kAlign;
}

bool env_flag(const char* name) {
  const char* e = std::getenv(name);
  return e && *e && *e != '0';
}
// MOE_PREFILL_GENERIC=1 forces the generic attention kernel (the check compares both on real shapes).
bool force_generic() {
  return env_flag("MOE_PREFILL_GENERIC");
}

// Precision. Random-weight routers and lm_heads are near-tied, so every bf16 rounding of an activation moves
// some expert choices and argmaxes away from the fp32 CPU oracle. Where the mask below names a place, the
// activation entering that GEMM is carried as a bf16 pair (hi, lo = v - hi: about 16 significant bits) and
// the GEMM runs on both with fp32 accumulation (twice its MMAs) instead of on one bf16 rounding; kExAttn16
// runs the attention on fp16 q, k, v and P (10 stored mantissa bits against bf16's 7), the chunk's own keys
// and values from fp16 copies rather than from the bf16 cache. The router logits are always fp32
// (moe_ffn). MOE_PREFILL_EXACT (a number, e.g. 0x127) overrides the default mask, for the measurements
// of moe-prefill-check (MOE_PREFILL_CHECK_ABLATE=1), which chose the default (H100, random bf16
// checkpoints of the Qwen1.5-MoE-A2.7B shape cut to 2 layers, 8 prompts of 377 ids, top-1 / routing-set
// disagreements with the CPU oracle out of 3016 / 6032; prefill of 2048 tokens on the full shape):
//   nothing split                        50 / 109   37.2 ms  55,000 tok/s
//   qkv, o, fp16 attention  (0x103)      21 /  32   41.6 ms  49,200
//   + lm_head               (0x107)      19 /  32   41.2 ms  49,700
//   + shared down           (0x147)      21 /  26   43.5 ms  47,000
//   + shared gate/up        (0x127)       9 /  19   46.1 ms  44,500   (default)
//   + shared gate/up, down  (0x167)       4 /  12   47.7 ms  42,900
//   + routed experts too    (0x17f)       2 /   8   (routed gate/up +12 ms, down +7 ms alone)
// The routed experts barely matter on these shapes (their outputs, weighted by small router probabilities,
// are a small part of the residual stream); the attention path (qkv input, bf16 keys/values and P, the o
// input) mattered most. The KV cache itself stays bf16 (decode reads it): keys of earlier chunks carry that
// rounding in prefill as in decode.
// fp16 attention needs |q|, |k|, |v| <= 65,504 (fp16's largest, where bf16 reaches 3e38): projections of
// RMS-normalised inputs are expected far below that; an element beyond it would give non-finite logits, not
// quietly different ones.
enum Exact : unsigned {
  kExQkv = 1,          // normalised attention input into the fused qkv GEMM (MLA: and q_a into q_b)
  kExO = 2,            // attention output into the o projection
  kExHead = 4,         // final normalised rows into the lm_head
  kExUp = 8,           // normalised FFN input into the routed experts' gate/up (grouped GEMM)
  kExDown = 16,        // routed experts' silu(gate) * up into their down projection
  kExSharedUp = 32,    // normalised FFN input into the always-on MLP's (shared expert, dense MLP) gate/up
  kExSharedDown = 64,  // its silu(gate) * up into its down projection
  kExAttn = 128,       // attention on the generic kernel (fp32 q and P; measurement only, ~15x slower)
  kExAttn16 = 256,     // standard attention in fp16 on the tensor-core kernel (not MLA: keys are decompressed
                       // in bf16 there)
};
constexpr unsigned kDefaultExact = kExQkv | kExO | kExHead | kExSharedUp | kExAttn16;
unsigned exact_mask() {
  const char* e = std::getenv("MOE_PREFILL_EXACT");
  return e && *e ? unsigned(std::strtoul(e, nullptr, 0)) : kDefaultExact;
}

// MOE_PREFILL_PROFILE=1: events between the stages of every layer, summed per stage (synchronises at the end
// of each call, so only for measurements); prefill_profile_report prints the sums.
enum Stage {
  kEmbed,
  kNorm,
  kQkvGemm,
  kQkvPost,
  kMlaDecompress,
  kAttention,
  kOGemm,
  kRoute,
  kExpertsUp,
  kExpertsDown,
  kShared,
  kCombine,
  kDenseMlp,
  kLmHead,
  kStages
};
const char* const kStageNames[kStages] = {
    "embed+rope table",   "rmsnorm",           "qkv gemm (+q_b)", "qkv post",
    "MLA k/v decompress", "attention",         "o gemm",          "router gemm+route+plan",
    "experts gate/up",    "experts down",      "shared expert",   "combine",
    "dense mlp",          "final norm+lm_head"};
struct Profiler {
  bool on = false;
  std::vector<cudaEvent_t> pool;
  std::vector<int> stage_of;
  size_t used = 0;
  double ms[kStages] = {};
  int64_t calls = 0, positions = 0;

  void start(cudaStream_t st) {
    on = env_flag("MOE_PREFILL_PROFILE");
    used = 0;
    stage_of.clear();
    if (on) mark(-1, st);
  }
  void mark(int stage, cudaStream_t st) {
    if (!on) return;
    if (used == pool.size()) {
      cudaEvent_t e;
      MOE_CUDA_CHECK(cudaEventCreate(&e));
      pool.push_back(e);
    }
    MOE_CUDA_CHECK(cudaEventRecord(pool[used++], st));
    stage_of.push_back(stage);
  }
  void finish(int64_t n) {
    if (!on) return;
    MOE_CUDA_CHECK(cudaEventSynchronize(pool[used - 1]));
    for (size_t i = 1; i < used; ++i) {
      float t = 0;
      MOE_CUDA_CHECK(cudaEventElapsedTime(&t, pool[i - 1], pool[i]));
      ms[stage_of[i]] += t;
    }
    ++calls;
    positions += n;
  }
};
Profiler& profiler() {
  static Profiler p;
  return p;
}

// C (row-major [M, N], type ct) = A (bf16 [M, K], row stride lda) * W^T (W bf16 [N, K]) + beta * C; with
// w_kn, W is stored transposed ([K, N], row stride ldw), as the down projections are.
void gemm(CudaContext& c, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const bf16* W,
          int64_t ldw, void* C, cudaDataType ct, int64_t ldc, float beta, bool w_kn = false) {
  const float alpha = 1.0f;
  MOE_CUDA_CHECK(cublasGemmEx(c.cublas, w_kn ? CUBLAS_OP_N : CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(M), int(K),
                              &alpha, W, CUDA_R_16BF, int(ldw), A, CUDA_R_16BF, int(lda), &beta, C, ct,
                              int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// gemm() over A + A_lo when A_lo is given (two GEMMs, the second accumulating).
void gemm_split(CudaContext& c, int64_t M, int64_t N, int64_t K, const bf16* A, const bf16* A_lo, int64_t lda,
                const bf16* W, int64_t ldw, void* C, cudaDataType ct, int64_t ldc, float beta,
                bool w_kn = false) {
  gemm(c, M, N, K, A, lda, W, ldw, C, ct, ldc, beta, w_kn);
  if (A_lo) gemm(c, M, N, K, A_lo, lda, W, ldw, C, ct, ldc, 1.0f, w_kn);
}

template <class T>
T* at(void* ws, size_t off) {
  return reinterpret_cast<T*>(static_cast<char*>(ws) + off);
}

struct Ctx {
  CudaContext& c;
  const ModelSpec& s;
  const PrefillLayout& L;
  int64_t n, pos0;
  cudaStream_t st;
  unsigned exact;
  const bf16* attn_lo = nullptr;  // remainder of this layer's attention output, when the attention wrote one
  // ws + off as T*, or null unless the mask has `bit` (the remainder buffers of split-precision inputs).
  template <class T>
  T* lo(unsigned bit, size_t off) const {
    return exact & bit ? at<T>(c.prefill_workspace, off) : nullptr;
  }
};

// MOE_PREFILL_KV_SEG=k (k >= 1): the fp16 attention widens at most k earlier cache rows at a time instead of
// a chunk's worth (the checks run several segments on short sequences).
int64_t kv_segment(const PrefillLayout& L) {
  const char* e = std::getenv("MOE_PREFILL_KV_SEG");
  const int64_t k = e && *e ? std::atoll(e) : 0;
  return k >= 1 ? std::min(k, L.chunk) : L.chunk;
}

// Standard attention of layer l: xn -> attn_out (bf16 [n, nh * vd]), appending k and v to the cache.
void attention_standard(Ctx& x, int64_t l) {
  const ModelSpec& s = x.s;
  const DeviceLayer& w = x.c.w.layers[size_t(l)];
  void* ws = x.c.prefill_workspace;
  const int64_t H = s.hidden_size, nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim, vd = s.v_head_dim;
  float* qkv = at<float>(ws, x.L.qkv);
  gemm_split(x.c, x.n, w.qkv_rows, H, at<bf16>(ws, x.L.xn), x.lo<bf16>(kExQkv, x.L.xn_lo), H, w.qkv, H, qkv,
             CUDA_R_32F, w.qkv_rows, 0.0f);
  profiler().mark(kQkvGemm, x.st);

  AttentionArgs a{};
  a.q = at<void>(ws, x.L.q);
  a.q_width = hd;
  a.k = x.c.kv.k[size_t(l)];
  a.k_row = nkv * hd;
  a.k_head = hd;
  a.dk = hd;
  a.v = x.c.kv.v[size_t(l)];
  a.v_row = nkv * vd;
  a.v_head = vd;
  a.dv = vd;
  a.n = x.n;
  a.nh = nh;
  a.nkv = nkv;
  a.pos0 = x.pos0;
  a.window = s.layers[size_t(l)].sliding_window;
  a.scale = float(s.attention_scale());
  a.out = at<bf16>(ws, x.L.attn_out);
  a.out_lo = x.lo<bf16>(kExO, x.L.attn_lo);
  x.attn_lo = a.out_lo;
  const bool fast = attention_fast_path(a) && !force_generic() && !(x.exact & kExAttn);

  QkvPostArgs p{};
  p.qkv = qkv;
  p.qkv_rows = w.qkv_rows;
  p.bias = w.qkv_bias;
  p.q_norm = w.q_norm;
  p.k_norm = w.k_norm;
  p.qk_norm = s.qk_norm == QkNorm::PerHead ? 1 : s.qk_norm == QkNorm::Full ? 2 : 0;
  p.eps = float(s.rms_norm_eps);
  p.clip = float(s.clip_qkv);
  p.nh = nh;
  p.nkv = nkv;
  p.hd = hd;
  p.vd = vd;
  p.half = x.c.rot_dim / 2;
  p.interleaved = s.rope.interleaved;
  p.cs = at<float>(ws, x.L.rope_cs);
  p.n = x.n;
  p.pos0 = x.pos0;
  p.q = at<void>(ws, x.L.q);
  p.q_bf16 = fast;
  p.k_cache = x.c.kv.k[size_t(l)];
  p.v_cache = x.c.kv.v[size_t(l)];
  const bool f16 = fast && (x.exact & kExAttn16);
  if (f16) {
    p.q_f16 = true;
    p.k16 = at<void>(ws, x.L.k16);
    p.v16 = at<void>(ws, x.L.v16);
  }
  launch_qkv_post(p, x.st);
  profiler().mark(kQkvPost, x.st);
  if (!f16) {
    launch_attention(a, fast, x.st);
    profiler().mark(kAttention, x.st);
    return;
  }
  // fp16 attention: keys of earlier positions [first, pos0) widened from the bf16 cache a segment at a time,
  // then this chunk's own keys from their fp16 copies, the softmax state carried between the launches.
  a.f16 = true;
  a.state_ml = at<float>(ws, x.L.att_ml);
  a.state_o = at<float>(ws, x.L.att_o);
  const int64_t nk = nkv * hd, nv = nkv * vd, seg = kv_segment(x.L);
  const int64_t first = a.window > 0 ? std::max<int64_t>(0, x.pos0 - a.window + 1) : 0;
  bool have_state = false;
  for (int64_t s0 = first; s0 < x.pos0; s0 += seg) {
    const int64_t cnt = std::min(seg, x.pos0 - s0);
    launch_bf16_to_f16(x.c.kv.k[size_t(l)] + s0 * nk, cnt * nk, at<void>(ws, x.L.kp16), x.st);
    launch_bf16_to_f16(x.c.kv.v[size_t(l)] + s0 * nv, cnt * nv, at<void>(ws, x.L.vp16), x.st);
    a.k = at<bf16>(ws, x.L.kp16);
    a.v = at<bf16>(ws, x.L.vp16);
    a.kv_base = a.seg_lo = s0;
    a.seg_hi = s0 + cnt;
    a.load_state = have_state;
    a.store_state = true;
    launch_attention(a, true, x.st);
    have_state = true;
  }
  a.k = at<bf16>(ws, x.L.k16);
  a.v = at<bf16>(ws, x.L.v16);
  a.kv_base = a.seg_lo = x.pos0;
  a.seg_hi = x.pos0 + x.n;
  a.load_state = have_state;
  a.store_state = false;
  launch_attention(a, true, x.st);
  profiler().mark(kAttention, x.st);
}

// MOE_PREFILL_MLA_SEG=k (k >= 1) decompresses at most k cache rows at a time instead of a chunk's worth, so
// the checks can run the segmented attention (keys of a long cache in several pieces) on short sequences.
int64_t mla_segment(const PrefillLayout& L) {
  const char* e = std::getenv("MOE_PREFILL_MLA_SEG");
  const int64_t k = e && *e ? std::atoll(e) : 0;
  return k >= 1 ? std::min(k, L.mla_seg) : L.mla_seg;
}

// The score-matrix form of the decompressed attention over keys [0, cnt) (see prefill_mla.cu), heads in
// groups of L.mla_s_heads: S_h = Q_h K_h^T (fp32 [n, cnt]), causal softmax to bf16 P_h in place (row pitch
// 2 cnt bf16), O_h = P_h V_h into a.out.
void mla_scores(Ctx& x, const AttentionArgs& a, int64_t cnt) {
  float* S = at<float>(x.c.prefill_workspace, x.L.mla_s);
  const float one = 1.0f, zero = 0.0f;
  const bf16* q = static_cast<const bf16*>(a.q);
  for (int64_t h0 = 0; h0 < a.nh; h0 += x.L.mla_s_heads) {
    const int64_t G = std::min(x.L.mla_s_heads, a.nh - h0);
    MOE_CUDA_CHECK(cublasGemmStridedBatchedEx(
        x.c.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(cnt), int(x.n), int(a.dk), &one, a.k + h0 * a.k_head,
        CUDA_R_16BF, int(a.k_row), a.k_head, q + h0 * a.q_width, CUDA_R_16BF, int(a.nh * a.q_width),
        a.q_width, &zero, S, CUDA_R_32F, int(cnt), x.n * cnt, int(G), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT));
    launch_causal_softmax(S, G * x.n, x.n, cnt, cnt, x.pos0, a.scale, x.st);
    MOE_CUDA_CHECK(cublasGemmStridedBatchedEx(
        x.c.cublas, CUBLAS_OP_N, CUBLAS_OP_N, int(a.dv), int(x.n), int(cnt), &one, a.v + h0 * a.v_head,
        CUDA_R_16BF, int(a.v_row), a.v_head, reinterpret_cast<const bf16*>(S), CUDA_R_16BF, int(2 * cnt),
        2 * x.n * cnt, &zero, a.out + h0 * a.dv, CUDA_R_16BF, int(a.nh * a.dv), a.dv, int(G),
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

// MLA, decompressed: keys [W_k,h c_kv | k_pe] (nope + rope per head) and values W_v,h c_kv (vd per head) are
// rebuilt from the cached latent rows by two cuBLAS batched GEMMs (bf16 in, fp32 accumulate, bf16 out), a
// segment of rows at a time, and attention runs on them as multi-head attention (tensor cores for the real
// 192/128 heads). The CPU oracle computes the absorbed form (q mapped into the latent space); the two are the
// same sums in another order, and the decompressed one costs 2 * r * nh * (nope + vd) MACs per cache row and
// segment instead of attention over 576-wide latents per head. Why not absorbed on tensor cores: its score
// and value products are 576 and 512 wide per head, 3x and 4x the decompressed 192 and 128, for every
// (query, key) pair, whereas decompression is paid once per key row. DeepSeek-V2-Lite shape, 2048 tokens on
// an H100: 0.9 ms decompression + 4.2 ms attention over 27 layers, 44,100 tok/s end to end (the absorbed form
// on the generic kernel took 2,224 ms: 904 tok/s).
void attention_mla(Ctx& x, int64_t l) {
  const ModelSpec& s = x.s;
  const DeviceLayer& w = x.c.w.layers[size_t(l)];
  void* ws = x.c.prefill_workspace;
  const int64_t H = s.hidden_size, nh = s.num_heads, nope = s.qk_nope_head_dim, rope = s.qk_rope_head_dim;
  const int64_t hd = nope + rope, vd = s.v_head_dim, r = s.kv_lora_rank, ql = s.q_lora_rank;
  const int64_t q_rows = ql > 0 ? ql : nh * hd, kw = r + rope;
  float* qkv = at<float>(ws, x.L.qkv);
  gemm_split(x.c, x.n, w.qkv_rows, H, at<bf16>(ws, x.L.xn), x.lo<bf16>(kExQkv, x.L.xn_lo), H, w.qkv, H, qkv,
             CUDA_R_32F, w.qkv_rows, 0.0f);
  const float* cs = at<float>(ws, x.L.rope_cs);
  profiler().mark(kQkvGemm, x.st);

  MlaKvArgs m{};
  m.qkv = qkv;
  m.qkv_rows = w.qkv_rows;
  m.q_rows = q_rows;
  m.r = r;
  m.rope = rope;
  m.q_lora = ql;
  m.kv_a_norm = w.kv_a_norm;
  m.q_a_norm = w.q_a_norm;
  m.eps = float(s.rms_norm_eps);
  m.interleaved = s.rope.interleaved;
  m.cs = cs;
  m.n = x.n;
  m.pos0 = x.pos0;
  m.k_cache = x.c.kv.k[size_t(l)];
  m.qa = ql > 0 ? at<bf16>(ws, x.L.qa) : nullptr;
  m.qa_lo = ql > 0 ? x.lo<bf16>(kExQkv, x.L.qa_lo) : nullptr;
  launch_mla_kv(m, x.st);

  const float* qsrc = qkv;
  int64_t q_stride = w.qkv_rows;
  if (ql > 0) {
    float* qfull = at<float>(ws, x.L.qfull);
    gemm_split(x.c, x.n, nh * hd, ql, m.qa, m.qa_lo, ql, w.q_b, ql, qfull, CUDA_R_32F, nh * hd, 0.0f);
    qsrc = qfull;
    q_stride = nh * hd;
  }
  bf16* keys = at<bf16>(ws, x.L.mla_k);
  bf16* vals = at<bf16>(ws, x.L.mla_v);
  const bf16* cache = x.c.kv.k[size_t(l)];

  AttentionArgs a{};
  a.q = at<void>(ws, x.L.q);
  a.q_width = hd;
  a.k = keys;
  a.k_row = nh * hd;
  a.k_head = hd;
  a.dk = hd;
  a.v = vals;
  a.v_row = nh * vd;
  a.v_head = vd;
  a.dv = vd;
  a.n = x.n;
  a.nh = nh;
  a.nkv = nh;
  a.pos0 = x.pos0;
  a.window = 0;
  a.scale = float(s.attention_scale());
  a.out = at<bf16>(ws, x.L.attn_out);
  a.out_lo = x.lo<bf16>(kExO, x.L.attn_lo);
  a.state_ml = at<float>(ws, x.L.mla_ml);
  a.state_o = at<float>(ws, x.L.mla_o);
  // Key rows [0, pos0 + n) in segments of `seg` rows (one segment unless the cache holds more than a chunk).
  const int64_t end = x.pos0 + x.n, seg = mla_segment(x.L);
  const bool scores = env_flag("MOE_PREFILL_MLA_CUBLAS") && end <= seg;  // one segment only (no state carry)
  if (scores) a.out_lo = nullptr;                                        // cuBLAS writes the bf16 output only
  x.attn_lo = a.out_lo;
  const bool fast = (attention_fast_path(a) && !force_generic() && !(x.exact & kExAttn)) ||
                    scores;  // bf16 q for cuBLAS too
  launch_mla_q(qsrc, q_stride, x.n, nh, nope, rope, s.rope.interleaved, cs, at<void>(ws, x.L.q), fast, x.st);
  profiler().mark(kQkvPost, x.st);

  const float one = 1.0f, zero = 0.0f;
  for (int64_t s0 = 0; s0 < end; s0 += seg) {
    const int64_t cnt = std::min(seg, end - s0);
    // keys[j, h, 0:nope] = W_k,h c_kv[s0 + j]: W_k,h = kv_b rows [h (nope + vd), + nope), each r wide; the
    // cache rows are kw wide with c_kv first.
    MOE_CUDA_CHECK(cublasGemmStridedBatchedEx(
        x.c.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(nope), int(cnt), int(r), &one, w.kv_b, CUDA_R_16BF, int(r),
        (nope + vd) * r, cache + s0 * kw, CUDA_R_16BF, int(kw), 0, &zero, keys, CUDA_R_16BF, int(nh * hd), hd,
        int(nh), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    // vals[j, h, :] = W_v,h c_kv[s0 + j]: W_v,h = kv_b rows [h (nope + vd) + nope, + vd).
    MOE_CUDA_CHECK(cublasGemmStridedBatchedEx(
        x.c.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(vd), int(cnt), int(r), &one, w.kv_b + nope * r, CUDA_R_16BF,
        int(r), (nope + vd) * r, cache + s0 * kw, CUDA_R_16BF, int(kw), 0, &zero, vals, CUDA_R_16BF,
        int(nh * vd), vd, int(nh), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    launch_mla_kpe(cache, kw, r, rope, s0, cnt, nh, nope, keys, x.st);
    profiler().mark(kMlaDecompress, x.st);
    if (scores) {
      mla_scores(x, a, cnt);
      profiler().mark(kAttention, x.st);
      continue;
    }
    a.kv_base = s0;
    a.seg_lo = s0;
    a.seg_hi = s0 + cnt;
    a.load_state = s0 > 0;
    a.store_state = s0 + cnt < end;
    launch_attention(a, fast, x.st);
    profiler().mark(kAttention, x.st);
  }
}

// Dense MLP (or a shared expert): act_s = silu(gate xn) * (up xn), then the down projection into the
// residual (beta 1) or into `out`. Gate/up run as one cuBLAS batched GEMM to fp32 and a SiLU pass (measured
// on the Qwen1.5-MoE shape: 6.4 ms for the 24 shared experts against 12 ms in the grouped kernel's dense
// mode, which MOE_PREFILL_DENSE_FUSED=1 selects; it needs no fp32 intermediate).
void always_mlp(Ctx& x, const DeviceLayer& w, float* out, float beta) {
  void* ws = x.c.prefill_workspace;
  const int64_t H = x.s.hidden_size, Ia = w.always_inter;
  bf16* act = at<bf16>(ws, x.L.act_s);
  bf16* act_lo = x.lo<bf16>(kExSharedDown, x.L.act_s_lo);
  const bf16* xn_lo = x.lo<bf16>(kExSharedUp, x.L.xn_lo);
  if (!env_flag("MOE_PREFILL_DENSE_FUSED")) {
    float* gu = at<float>(ws, x.L.gu);
    const float one = 1.0f, zero = 0.0f;
    const bf16* inputs[2] = {at<bf16>(ws, x.L.xn), xn_lo};
    for (const bf16* in : inputs) {
      if (!in) continue;
      MOE_CUDA_CHECK(cublasGemmStridedBatchedEx(
          x.c.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(Ia), int(x.n), int(H), &one, w.always_gate, CUDA_R_16BF,
          int(H), w.always_up - w.always_gate, in, CUDA_R_16BF, int(H), 0, in == xn_lo ? &one : &zero, gu,
          CUDA_R_32F, int(Ia), x.n * Ia, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    launch_silu_mul(gu, gu + x.n * Ia, x.n * Ia, act, x.st, act_lo);
  } else {
    GroupedGemmArgs g{};
    g.A = at<bf16>(ws, x.L.xn);
    g.A_lo = xn_lo;
    g.lda = H;
    g.B = w.always_gate;
    g.B2 = w.always_up;
    g.N = Ia;
    g.K = H;
    g.M = x.n;
    g.C = act;
    g.C_lo = act_lo;
    g.ldc = Ia;
    g.swiglu = true;
    launch_grouped_gemm(g, grouped_gemm_variant(), x.st);
  }
  gemm_split(x.c, x.n, H, Ia, act, act_lo, Ia, w.always_down, H, out, CUDA_R_32F, H, beta, true);
}

void moe_ffn(Ctx& x, int64_t l, int64_t moe_index, int32_t* experts, float* weights) {
  const ModelSpec& s = x.s;
  const DeviceLayer& w = x.c.w.layers[size_t(l)];
  void* ws = x.c.prefill_workspace;
  const int64_t H = s.hidden_size, E = s.num_experts, k = s.top_k, I = s.moe_intermediate_size;
  const int64_t n_moe = s.num_moe_layers();
  float* logits = at<float>(ws, x.L.logits);
  // Router logits in full fp32 (fp32 input, weights widened, no TF32): expert choice hinges on small gaps
  // between scores, and bf16 inputs would flip near-ties the CPU oracle (and the decode step) resolve the
  // other way. 2 * n * (E + 1) * H FLOPs, under 1 % of the layer.
  float* w32 = at<float>(ws, x.L.router32);
  launch_bf16_to_f32(w.router, w.router_rows * H, w32, x.st);
  {
    const float one = 1.0f, zero = 0.0f;
    MOE_CUDA_CHECK(cublasGemmEx(x.c.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(w.router_rows), int(x.n), int(H),
                                &one, w32, CUDA_R_32F, int(H), at<float>(ws, x.L.xn32), CUDA_R_32F, int(H),
                                &zero, logits, CUDA_R_32F, int(w.router_rows), CUBLAS_COMPUTE_32F_PEDANTIC,
                                CUBLAS_GEMM_DEFAULT));
  }

  RouteArgs r{};
  r.logits = logits;
  r.router_rows = w.router_rows;
  r.choice = at<float>(ws, x.L.choice);
  r.score_bias = w.router_bias;
  r.n = x.n;
  r.E = E;
  r.k = k;
  r.score = s.router_score == RouterScore::Sigmoid ? 1 : 0;
  r.grouping = s.router_grouping == RouterGrouping::GroupMax       ? 1
               : s.router_grouping == RouterGrouping::GroupTop2Sum ? 2
                                                                   : 0;
  r.n_group = s.n_group;
  r.topk_group = s.topk_group;
  r.norm_topk = s.norm_topk_prob;
  r.deepseek = s.family == Family::DeepseekV2 || s.family == Family::DeepseekV3;
  r.scale =
      s.family == Family::DeepseekV3 || (s.family == Family::DeepseekV2 && !(s.norm_topk_prob && k > 1));
  r.scaling = float(s.routed_scaling_factor);
  r.topk_ids = at<int32_t>(ws, x.L.topk_ids);
  r.topk_w = at<float>(ws, x.L.topk_w);
  r.out_experts = experts ? experts + moe_index * k : nullptr;
  r.out_weights = weights ? weights + moe_index * k : nullptr;
  r.out_stride = n_moe * k;
  r.sgate = w.always_gated ? at<float>(ws, x.L.sgate) : nullptr;
  launch_route(r, x.st);

  int32_t* slot_of = at<int32_t>(ws, x.L.slot_of);
  int32_t* row_token = at<int32_t>(ws, x.L.row_token);
  int4* tiles = at<int4>(ws, x.L.tiles);
  const int variant = grouped_gemm_variant(), tile_m = grouped_gemm_tile_m(variant);
  launch_moe_plan(r.topk_ids, x.n, k, E, tile_m, at<int32_t>(ws, x.L.counts), slot_of, row_token, tiles,
                  x.L.max_tiles, x.st);

  // Experts of a stack are one slot each of the weight layout (rounded up to its alignment).
  const int64_t stride = expert_stride(I, H);
  if (w.experts_up - w.experts_gate != E * stride || w.experts_down - w.experts_up != E * stride)
    throw Error("prefill: unexpected expert weight layout");
  const int64_t grid_tiles = std::min<int64_t>(x.L.max_tiles, (x.n * k + tile_m - 1) / tile_m + E);

  GroupedGemmArgs g{};
  g.A = at<bf16>(ws, x.L.xn);
  g.A_lo = x.lo<bf16>(kExUp, x.L.xn_lo);
  g.lda = H;
  g.a_rows = row_token;
  g.B = w.experts_gate;
  g.B2 = w.experts_up;
  g.b_stride = stride;
  g.N = I;
  g.K = H;
  g.tiles = tiles;
  g.max_tiles = x.L.max_tiles;
  g.grid_tiles = grid_tiles;
  g.C = at<bf16>(ws, x.L.act);
  g.C_lo = x.lo<bf16>(kExDown, x.L.act_lo);
  g.ldc = I;
  g.swiglu = true;
  launch_grouped_gemm(g, variant, x.st);
  profiler().mark(kExpertsUp, x.st);

  GroupedGemmArgs d{};
  d.A = at<bf16>(ws, x.L.act);
  d.A_lo = x.lo<bf16>(kExDown, x.L.act_lo);
  d.lda = I;
  d.B = w.experts_down;  // [I, H] per expert
  d.b_kn = true;
  d.b_stride = stride;
  d.N = H;
  d.K = I;
  d.tiles = tiles;
  d.max_tiles = x.L.max_tiles;
  d.grid_tiles = grid_tiles;
  d.C = at<float>(ws, x.L.yperm);
  d.ldc = H;
  d.swiglu = false;
  launch_grouped_gemm(d, variant, x.st);
  profiler().mark(kExpertsDown, x.st);

  float* ys = nullptr;
  if (w.always_inter > 0) {
    ys = at<float>(ws, x.L.ys);
    always_mlp(x, w, ys, 0.0f);
    profiler().mark(kShared, x.st);
  }
  launch_moe_combine(at<float>(ws, x.L.x), at<float>(ws, x.L.yperm), slot_of, r.topk_w, ys, r.sgate, x.n, k,
                     H, x.st);
}

}  // namespace

PrefillLayout prefill_layout(const ModelSpec& s, int64_t C) {
  PrefillLayout L;
  L.chunk = C;
  const size_t c = size_t(C), H = size_t(s.hidden_size), nh = size_t(s.num_heads);
  const bool mla = s.attention == AttentionKind::MLA;
  const size_t rot = size_t(mla ? s.qk_rope_head_dim : s.head_dim);
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t o = off;
    off += align_up(bytes);
    return o;
  };
  L.x = take(c * H * 4);
  L.xn = take(c * H * 2);
  L.xn_lo = take(c * H * 2);
  L.rope_cs = take(2 * c * (rot / 2) * 4);
  const size_t phase = off;

  // Attention phase.
  L.qkv = take(c * size_t(fused_qkv_rows(s)) * 4);
  if (mla) {
    const size_t rope = size_t(s.qk_rope_head_dim), nope = size_t(s.qk_nope_head_dim),
                 vd = size_t(s.v_head_dim);
    L.mla_seg = C;
    L.q = take(c * nh * (nope + rope) * 4);
    if (s.q_lora_rank > 0) {
      L.qa = take(c * size_t(s.q_lora_rank) * 2);
      L.qa_lo = take(c * size_t(s.q_lora_rank) * 2);
      L.qfull = take(c * nh * (nope + rope) * 4);
    }
    L.mla_k = take(size_t(L.mla_seg) * nh * (nope + rope) * 2);
    L.mla_v = take(size_t(L.mla_seg) * nh * vd * 2);
    L.mla_ml = take(c * nh * 2 * 4);
    L.mla_o = take(c * nh * vd * 4);
    // Score matrices of the measured alternative (prefill_mla.cu): as many heads at a time as fit 64 MiB,
    // at least one. Inside the FFN phase's size on DeepSeek-V2-Lite/V3 shapes, so usually no extra memory.
    L.mla_s_heads = std::clamp<int64_t>(int64_t((size_t(64) << 20) / (c * c * 4)), 1, int64_t(nh));
    L.mla_s = take(size_t(L.mla_s_heads) * c * c * 4);
  } else {
    const size_t nkv = size_t(s.num_kv_heads), hd = size_t(s.head_dim), vd = size_t(s.v_head_dim);
    L.q = take(c * nh * hd * 4);
    L.k16 = take(c * nkv * hd * 2);
    L.v16 = take(c * nkv * vd * 2);
    L.kp16 = take(c * nkv * hd * 2);
    L.vp16 = take(c * nkv * vd * 2);
    L.att_ml = take(c * nh * 2 * 4);
    L.att_o = take(c * nh * vd * 4);
  }
  L.attn_out = take(c * nh * size_t(s.v_head_dim) * 2);
  L.attn_lo = take(c * nh * size_t(s.v_head_dim) * 2);
  const size_t attn_end = off;

  // FFN phase.
  off = phase;
  bool any_moe = false, any_dense = false;
  for (const auto& ls : s.layers)
    (ls.moe ? any_moe : any_dense) = true;
  size_t ia = any_dense ? size_t(s.intermediate_size) : 0;
  if (any_moe) {
    const size_t E = size_t(s.num_experts), k = size_t(s.top_k), I = size_t(s.moe_intermediate_size);
    L.xn32 = take(c * H * 4);
    L.router32 = take((E + 1) * H * 4);
    L.logits = take(c * (E + 1) * 4);
    L.choice = take(c * E * 4);
    L.topk_ids = take(c * k * 4);
    L.topk_w = take(c * k * 4);
    L.slot_of = take(c * k * 4);
    L.row_token = take(c * k * 4);
    L.counts = take(E * 4);
    L.max_tiles = int64_t((c * k + kMoeTileM - 1) / kMoeTileM + E);
    L.tiles = take(size_t(L.max_tiles) * sizeof(int4) + 16);
    L.act = take(c * k * I * 2);
    L.act_lo = take(c * k * I * 2);
    L.yperm = take(c * k * H * 4);
    if (s.shared_expert_intermediate_size > 0) {
      L.ys = take(c * H * 4);
      L.sgate = take(c * 4);
      ia = std::max(ia, size_t(s.shared_expert_intermediate_size));
    }
  }
  if (ia > 0) {
    L.act_s = take(c * ia * 2);
    L.act_s_lo = take(c * ia * 2);
    L.gu = take(2 * c * ia * 4);
  }
  L.total = std::max(attn_end, off);
  return L;
}

unsigned prefill_exact_default() {
  return kDefaultExact;
}

std::string prefill_profile_report(bool reset) {
  Profiler& p = profiler();
  std::string out;
  double total = 0;
  for (double v : p.ms)
    total += v;
  char line[160];
  std::snprintf(line, sizeof line, "prefill stages over %lld calls, %lld positions (%.3f ms):\n",
                (long long)p.calls, (long long)p.positions, total);
  out += line;
  for (int i = 0; i < kStages; ++i) {
    if (p.ms[i] == 0) continue;
    std::snprintf(line, sizeof line, "  %-26s %9.3f ms  %5.1f %%\n", kStageNames[i], p.ms[i],
                  total > 0 ? 100.0 * p.ms[i] / total : 0.0);
    out += line;
  }
  if (reset) {
    for (double& v : p.ms)
      v = 0;
    p.calls = p.positions = 0;
  }
  return out;
}

size_t prefill_workspace_bytes(const ModelSpec& spec, int64_t chunk) {
  return prefill_layout(spec, chunk).total;
}

void prefill_forward(CudaContext& c, const int32_t* tokens, int64_t n, int64_t pos0, bool all_logits,
                     float* logits, int32_t* experts, float* weights) {
  const ModelSpec& s = c.spec;
  if (n < 1 || n > c.prefill_chunk || pos0 < 0 || pos0 + n > c.ctx)
    throw Error("prefill_forward: " + std::to_string(n) + " positions at " + std::to_string(pos0) +
                " do not fit a chunk of " + std::to_string(c.prefill_chunk) + " in a cache of " +
                std::to_string(c.ctx));
  if (all_logits && n > c.logits_rows)
    throw Error("prefill_forward: " + std::to_string(n) + " rows of logits asked, room for " +
                std::to_string(c.logits_rows));
  const PrefillLayout L = prefill_layout(s, c.prefill_chunk);
  if ((reinterpret_cast<uintptr_t>(c.prefill_workspace) & 255) != 0)
    throw Error("prefill_forward: the workspace must be 256-byte aligned");
  if (L.total > c.prefill_workspace_bytes || !c.prefill_workspace)
    throw Error("prefill_forward: workspace of " + std::to_string(c.prefill_workspace_bytes) + " bytes, " +
                std::to_string(L.total) + " needed");
  cudaStream_t st = c.stream;
  cublasPointerMode_t mode;
  MOE_CUDA_CHECK(cublasGetPointerMode(c.cublas, &mode));
  MOE_CUDA_CHECK(cublasSetPointerMode(c.cublas, CUBLAS_POINTER_MODE_HOST));

  void* ws = c.prefill_workspace;
  const int64_t H = s.hidden_size;
  float* x = at<float>(ws, L.x);
  bf16* xn = at<bf16>(ws, L.xn);
  Ctx cx{c, s, L, n, pos0, st, exact_mask()};
  Profiler& prof = profiler();
  prof.start(st);
  launch_embed(tokens, c.w.embed, n, H, x, st);
  launch_rope_table(c.inv_freq, c.rot_dim / 2, pos0, n, c.cos_sin_scale, at<float>(ws, L.rope_cs), st);
  prof.mark(kEmbed, st);

  int64_t moe_index = 0;
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const DeviceLayer& w = c.w.layers[size_t(l)];
    launch_rmsnorm_bf16(x, w.attn_norm, n, H, s.rms_norm_eps, xn, st, nullptr, cx.lo<bf16>(kExQkv, L.xn_lo));
    prof.mark(kNorm, st);
    if (s.attention == AttentionKind::MLA)
      attention_mla(cx, l);
    else
      attention_standard(cx, l);
    gemm_split(c, n, H, s.num_heads * s.v_head_dim, at<bf16>(ws, L.attn_out), cx.attn_lo,
               s.num_heads * s.v_head_dim, w.o, s.num_heads * s.v_head_dim, x, CUDA_R_32F, H, 1.0f);
    if (w.o_bias) launch_add_bias(x, w.o_bias, n, H, st);
    prof.mark(kOGemm, st);
    launch_rmsnorm_bf16(x, w.ffn_norm, n, H, s.rms_norm_eps, xn, st,
                        s.layers[size_t(l)].moe ? at<float>(ws, L.xn32) : nullptr,
                        cx.lo<bf16>(kExUp | kExSharedUp, L.xn_lo));
    prof.mark(kNorm, st);
    if (s.layers[size_t(l)].moe) {
      moe_ffn(cx, l, moe_index++, experts, weights);
    } else {
      always_mlp(cx, w, x, 1.0f);
      prof.mark(kDenseMlp, st);
    }
  }
  const int64_t first = all_logits ? 0 : n - 1, rows = n - first;
  bf16* xn_lo = cx.lo<bf16>(kExHead, L.xn_lo);
  launch_rmsnorm_bf16(x + first * H, c.w.final_norm, rows, H, s.rms_norm_eps, xn, st, nullptr, xn_lo);
  gemm_split(c, rows, s.vocab_size, H, xn, xn_lo, H, c.w.lm_head, H, logits, CUDA_R_32F, s.vocab_size, 0.0f);
  prof.mark(kLmHead, st);
  MOE_CUDA_CHECK(cublasSetPointerMode(c.cublas, mode));
  prof.finish(n);
}

}  // namespace moe::cuda
