// CudaContext: everything the CUDA backend's kernels share for one model on one device: the spec, the
// weights, the bf16 KV cache, the rotary frequencies, the stream, the cuBLAS handle and the workspaces of
// the decode step, the prefill and the sampler. Built by cuda_backend.cpp; the kernels in decode_*.cu,
// prefill_*.cu and sampler.cu read it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda/device_weights.h"
#include "moe/backend.h"

namespace moe::cuda {

// Values the host changes between steps without re-capturing the decode graph: copied to the device
// (one small async copy) before each launch.
struct StepParams {
  int32_t token = 0;  // input token of this decode step
  int32_t pos = 0;    // its position (= cache length before the step)
  // Sampling (sample_token's parameters); top_k 0 = off, top_p 1 = off, min_p 0 = off.
  float temperature = 0;
  int32_t top_k = 0;
  float top_p = 1;
  float min_p = 0;
  float repetition_penalty = 1;
  float presence_penalty = 0;
  uint64_t seed = 0;
  uint64_t step = 0;
  int32_t top_logprobs = 0;
};

constexpr int kMaxTopLogprobs = 20;

// What one decode step sends back to the host (one async copy): the sampled token, its logprob, the best
// alternatives, and whether every attention and FFN output could be added to the residual. Zeroed at the
// start of each step (it lies in DecodeBuffers' sync region).
struct SampleOut {
  int32_t token = -1;
  float logprob = 0;
  int32_t top_ids[kMaxTopLogprobs] = {};
  float top_logprobs[kMaxTopLogprobs] = {};
  // The first layer (+ 1) whose fused attention output or FFN output held a value the fixed-point residual
  // cannot carry (infinite, NaN or a part beyond +-2^23; to_fixed in decode_common.cuh), 0 where none did.
  int32_t nonfinite_attn = 0;
  int32_t nonfinite_ffn = 0;
};

struct KvCache {
  // Standard attention: k [ctx, nkv, hd], v [ctx, nkv, vd]. MLA: k [ctx, r + rope] (normalised latent c_kv
  // followed by the rotated shared key), v null: the values are the latent itself.
  std::vector<bf16*> k, v;
  int64_t k_width = 0, v_width = 0;  // elements per position
};

// Decode-step buffers (one position).
struct DecodeBuffers {
  // The residual stream in two buffers that swap roles: a QKV GEMV stores x + the previous FFN output to the
  // other one, and so does an FFN kernel with x + the fused attention output. The output head adds the last
  // FFN output without storing it, so after a step neither holds the final residual.
  float* x = nullptr;                // [H]
  float* x_alt = nullptr;            // [H]
  float* qkv = nullptr;              // [max qkv_rows] fused projection output
  float* q = nullptr;                // [nh * q_width] queries ready for attention (roped; MLA: absorbed)
  float* attn = nullptr;             // [nh * max(vd, r)] attention output (MLA: latent per head)
  float* attn_partial = nullptr;     // [splits, nh, attn_width + 2] flash-decoding partials (m, l, acc)
  int32_t* route_experts = nullptr;  // [n_moe, top_k] this step's routing record
  float* route_weights = nullptr;    // [n_moe, top_k]
  float* logits = nullptr;           // [logits_rows, V]
  StepParams* params = nullptr;      // device copy of the host's StepParams
  SampleOut* sample = nullptr;       // sampler output and the step's non-finite report (sync region)
  uint8_t* seen = nullptr;           // [V] tokens present in the history (penalties)
  float* split = nullptr;            // split-K partial sums of the attention output projection
  // The attention outputs (merge and output projection fused, see AttnDecodeArgs::o_out), the FFN blocks'
  // outputs, tagged router logits (see FfnArgs) and `sample`, one region zeroed at the start of a step.
  int64_t* attn_out = nullptr;     // [layers, H] fixed-point sums (MLA: the merged values, nh * vd <= H)
  int64_t* ffn_out = nullptr;      // [layers, H] fixed-point sums
  uint64_t* ffn_logits = nullptr;  // [E + 1] router logits
  size_t sync_bytes = 0;
  void* sampler_workspace = nullptr;
  size_t sampler_workspace_bytes = 0;
  int64_t attn_splits =
      0;                   // flash-decoding splits the partial buffer holds (the step picks how many it uses)
  int64_t attn_chunk = 0;  // fewest positions per split
};

struct CudaContext {
  ModelSpec spec;
  int64_t ctx = 0;  // KV cache positions
  int device = 0;
  int sm_count = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;

  DeviceWeights w;
  KvCache kv;
  float* inv_freq = nullptr;  // [rot_dim / 2] rotary frequencies (device)
  float cos_sin_scale = 1.0f;
  int64_t rot_dim = 0;

  DecodeBuffers d;
  // Prefill workspace: one chunk of up to prefill_chunk positions at a time (see prefill.h).
  void* prefill_workspace = nullptr;
  size_t prefill_workspace_bytes = 0;
  int64_t prefill_chunk = 0;

  int64_t logits_rows = 1;  // rows c.d.logits holds (prefill with all logits runs at most this many)
  int64_t n_moe_layers = 0;
  int64_t top_k = 1;
};

}  // namespace moe::cuda
