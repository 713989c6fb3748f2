// The flash-decoding split plan, shared by the kernel that writes the splits' partials
// (decode_attention.cu) and the kernels that merge them (the merge kernel there, the merge fused with the
// output projection in decode_attn_output.cu).
#pragma once

#include <cstdint>

#include "cuda/decode_kernels.h"

namespace moe::cuda {

constexpr int kMaxSplits = 512;  // splits the partial buffer and the merge kernels take

// Positions of this step split over at most a.splits blocks of at least a.chunk positions (multiples of 8),
// counted from the first visible position: the split count follows the position, so short contexts still
// fill the GPU and long ones keep few partials. Every kernel derives the same plan from the position.
__device__ __forceinline__ void split_plan(const AttnDecodeArgs& a, int pos, int64_t& first, int64_t& chunk,
                                           int64_t& n) {
  first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  const int64_t keys = int64_t(pos) + 1 - first;
  chunk = (keys + a.splits - 1) / a.splits;
  chunk = max(a.chunk, (chunk + 7) / 8 * 8);
  n = (keys + chunk - 1) / chunk;
}

}  // namespace moe::cuda
