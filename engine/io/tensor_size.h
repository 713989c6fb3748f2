// Checked element-count and size arithmetic shared by the safetensors reader and writer: a shape's
// element count must fit int64 at every step (TensorView::numel multiplies in int64), and the byte size must
// fit uint64 (as bits, so that the sub-byte types F4 and F6_* are covered too).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "moe/dtype.h"

namespace moe::io {

// Bits per element of every dtype, sub-byte ones included (dtype_size reports 0 for those).
unsigned dtype_bits(DType t);

// Product of the dimensions, or nullopt when some prefix product exceeds INT64_MAX.
inline std::optional<uint64_t> checked_numel(std::span<const uint64_t> shape) {
  constexpr uint64_t kMax = uint64_t(INT64_MAX);
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d > kMax) return std::nullopt;
    if (__builtin_mul_overflow(n, d, &n) || n > kMax) return std::nullopt;
  }
  return n;
}

// numel * bits, or nullopt when that overflows; a tensor's bytes are bits / 8 when bits % 8 == 0.
inline std::optional<uint64_t> checked_bits(DType t, uint64_t numel) {
  uint64_t bits;
  if (__builtin_mul_overflow(numel, uint64_t(dtype_bits(t)), &bits)) return std::nullopt;
  return bits;
}

}  // namespace moe::io
