// Batched prefill on the GPU: a chunk of prompt positions through every layer at once with cuBLAS GEMMs,
// tokens permuted by expert on the device and grouped expert GEMMs (no host round trip to learn the
// routing), and a flash-attention kernel (causal, GQA, sliding window, MLA).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_context.h"

namespace moe::cuda {

// Device bytes prefill_forward needs for chunks of up to `chunk` positions (host arithmetic only; the
// backend allocates exactly this and stores it in CudaContext::prefill_workspace).
size_t prefill_workspace_bytes(const ModelSpec& spec, int64_t chunk);

// Runs positions [pos0, pos0 + n) (1 <= n <= c.prefill_chunk, pos0 + n <= c.ctx) of `tokens` (device) on
// c.stream, appending their keys and values to the KV cache. Writes the logits of the last position
// (all_logits false: [1, V]) or of every position (true: [n, V], n <= logits_rows) to `logits` (device,
// fp32), and the routing of every position to experts/weights (device, [n][n_moe][top_k]). Enqueues only:
// no host synchronisation.
void prefill_forward(CudaContext& c, const int32_t* tokens, int64_t n, int64_t pos0, bool all_logits,
                     float* logits, int32_t* experts, float* weights);

}  // namespace moe::cuda
