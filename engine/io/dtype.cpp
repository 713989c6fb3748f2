// dtype names and sizes as the safetensors format spells them, IEEE half <-> float conversion, and the
// block conversion of BF16/F16/F32 weights to float32 that the CPU backend runs on its hot path.
#include "moe/dtype.h"

#include <array>
#include <bit>
#include <string>

#include "io/tensor_size.h"
#include "moe/error.h"

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace moe {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  unsigned bits;
};

constexpr std::array<DTypeInfo, 20> kDTypes = {{
    {DType::BOOL, "BOOL", 8},       {DType::U8, "U8", 8},           {DType::I8, "I8", 8},
    {DType::U16, "U16", 16},        {DType::I16, "I16", 16},        {DType::U32, "U32", 32},
    {DType::I32, "I32", 32},        {DType::U64, "U64", 64},        {DType::I64, "I64", 64},
    {DType::F16, "F16", 16},        {DType::BF16, "BF16", 16},      {DType::F32, "F32", 32},
    {DType::F64, "F64", 64},        {DType::F8_E4M3, "F8_E4M3", 8}, {DType::F8_E5M2, "F8_E5M2", 8},
    {DType::F8_E8M0, "F8_E8M0", 8}, {DType::F4, "F4", 4},           {DType::F6_E2M3, "F6_E2M3", 6},
    {DType::F6_E3M2, "F6_E3M2", 6}, {DType::C64, "C64", 64},
}};

const DTypeInfo& info(DType t) {
  auto i = size_t(t);
  if (i >= kDTypes.size()) throw Error("invalid dtype value " + std::to_string(i));
  return kDTypes[i];
}

// Branch-free (masks instead of ifs) so that the loops below vectorise: the three cases (normal, inf/nan,
// subnormal/zero) are all computed and the right one selected.
inline float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t em = h & 0x7fffu;                                     // exponent and mantissa
  uint32_t bits = (em << 13) + (112u << 23);                     // rebias the exponent: 15 -> 127
  uint32_t infnan = 0u - uint32_t(em >= 0x7c00u);                // all ones for inf/nan
  bits += (112u << 23) & infnan;                                 // exponent 31 -> 255, payload kept
  uint32_t sub = std::bit_cast<uint32_t>(float(em) * 0x1p-24f);  // subnormal or zero: exact
  uint32_t is_sub = 0u - uint32_t(em < 0x0400u);
  bits = (bits & ~is_sub) | (sub & is_sub);
  return std::bit_cast<float>(bits | sign);
}

inline uint16_t load_u16(const unsigned char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Converts n 16-bit elements with `cvt`. Blocks of a fixed 16 elements let the compiler vectorise even under
// GCC's -O2 cost model (which refuses loops that need a scalar epilogue or an aliasing check); the source may
// be unaligned (safetensors offsets need not be), hence the memcpy loads.
template <typename Cvt>
inline void convert_u16(const unsigned char* __restrict s, float* __restrict d, size_t n, Cvt cvt) {
  constexpr size_t kBlock = 16;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock)
    for (size_t j = 0; j < kBlock; ++j)
      d[i + j] = cvt(load_u16(s + 2 * (i + j)));
  for (; i < n; ++i)
    d[i] = cvt(load_u16(s + 2 * i));
}

void convert_bf16(const unsigned char* __restrict s, float* __restrict d, size_t n) {
  convert_u16(s, d, n, [](uint16_t v) { return bf16_to_f32(v); });
}

void convert_f16(const unsigned char* __restrict s, float* __restrict d, size_t n) {
  convert_u16(s, d, n, [](uint16_t v) { return half_to_float(v); });
}

}  // namespace

static_assert(size_t(DType::C64) + 1 == kDTypes.size());

namespace io {
unsigned dtype_bits(DType t) {
  return info(t).bits;
}
}  // namespace io

size_t dtype_size(DType t) {
  unsigned bits = info(t).bits;
  return bits % 8 == 0 ? bits / 8 : 0;
}

std::string_view dtype_name(DType t) {
  return info(t).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return d.type;
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  return half_to_float(h);
}

uint16_t f32_to_f16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  auto sign = uint16_t((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return sign | 0x7e00u | uint16_t((x >> 13) & 0x3ffu);  // NaN stays a quiet NaN
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 (halfway above 65504) rounds to inf
  if (x >= 0x38800000u) {                       // normal half: rebias, round to nearest even
    x -= 112u << 23;
    x += 0xfffu + ((x >> 13) & 1u);
    return sign | uint16_t(x >> 13);
  }
  uint32_t e = x >> 23;
  if (e < 102) return sign;  // below 2^-25: rounds to zero (2^-25 itself ties to even, zero, below)
  // Subnormal half: the value in units of 2^-24 is (mantissa | implicit 1) >> (126 - e), rounded to even.
  uint32_t mant = (x & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - e;  // 14..24
  uint32_t q = mant >> shift;
  uint32_t rem = mant & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal, which is right
  return sign | uint16_t(q);
}

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
  const auto* s = static_cast<const unsigned char*>(src);
  switch (t) {
    case DType::F32:
      if (n) std::memcpy(dst, s, n * sizeof(float));
      return;
    case DType::BF16:
      convert_bf16(s, dst, n);
      return;
    case DType::F16:
      convert_f16(s, dst, n);
      return;
    default:
      throw Error("cannot convert " + std::string(dtype_name(t)) + " to float32 (only BF16, F16 and F32)");
  }
}

}  // namespace moe
