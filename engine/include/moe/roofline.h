// The memory-bandwidth floor of batch-1 decoding: the bytes one decode step must read. A step touches every
// weight once except the embedding table (one row) and the routed experts the router did not choose, plus
// the KV cache of the positions it attends to, so at batch 1 its time cannot go below these bytes over the
// memory bandwidth. `moe-cli bench` divides them by the measured step time (achieved GB/s) and compares that
// with the measured copy bandwidth (the share of the roofline).
#pragma once

#include <cstdint>

#include "moe/model_spec.h"

namespace moe {

struct DecodeBytes {
  uint64_t weights = 0;   // in the CUDA backend's storage: matrices bf16, 1-D tensors (norms, biases) fp32
  uint64_t kv_cache = 0;  // bf16 keys and values (MLA: the compressed latent and the rope key)
  uint64_t total() const { return weights + kv_cache; }
};

// Bytes the decode step of the token at `position` (0-based; the cache then holds `position` earlier
// positions) reads: one embedding row, every attention and norm weight, the routers, the shared experts and
// dense MLPs, top_k of the routed experts of each MoE layer, the final norm and the lm_head (the whole
// table, tied or not), and the keys and values of positions 0..position that each layer's attention sees
// (a sliding window of W sees the last W).
DecodeBytes decode_step_bytes(const ModelSpec& spec, int64_t position);

}  // namespace moe
