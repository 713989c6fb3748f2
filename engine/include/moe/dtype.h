// Element types of the safetensors format and conversions of the ones the engine computes with
// (BF16, F16, F32) to float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace moe {

enum class DType : uint8_t {
  BOOL,
  U8,
  I8,
  U16,
  I16,
  U32,
  I32,
  U64,
  I64,
  F16,
  BF16,
  F32,
  F64,
  F8_E4M3,
  F8_E5M2,
  F8_E8M0,
  F4,
  F6_E2M3,
  F6_E3M2,
  C64
};

// Bytes per element; sub-byte types (F4, F6_*) report 0 and are rejected where an element size is needed.
size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
// True for the types the engine converts to float32 for compute.
inline bool dtype_is_float_compute(DType t) {
  return t == DType::BF16 || t == DType::F16 || t == DType::F32;
}

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as torch does when casting float32 to bfloat16.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // keep NaN a NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Converts n elements of a BF16/F16/F32 buffer to float32.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace moe
