// The decode step on the GPU: one position through every layer with fused kernels (RMSNorm folded into the
// GEMVs that read it, gate/up/SiLU in one pass over the chosen experts, the weighted down projection added
// straight into the residual, flash-decoding attention over the bf16 cache). Every kernel reads the token
// and position from c.d.params, so the whole step can be captured once as a CUDA graph and replayed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_context.h"

namespace moe::cuda {

// Lays out the decode buffers over `base` (nullptr: sizes only); returns the bytes used.
size_t layout_decode_buffers(const ModelSpec& spec, int64_t ctx, int64_t logits_rows, std::byte* base,
                             DecodeBuffers* d);

// One-time setup (shared-memory limits of the kernels) for this model.
void prepare_decode_kernels(const CudaContext& c);

// Enqueues the step for token c.d.params->token at position c.d.params->pos: logits into c.d.logits (row 0)
// and the routing of that position into c.d.route_experts / route_weights. No host synchronisation.
void enqueue_decode_step(CudaContext& c);

}  // namespace moe::cuda
