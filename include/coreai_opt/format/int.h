// Integer quantization formats: int8/int4/int2 and uint8/uint4/uint2 codes.
//
// Element math (reference §2.6, rounding half to even):
//   ZP:      q = clamp(round(x / s) + zp, qmin, qmax),           x' = (q - zp) * s
//   MINVAL:  q = clamp(round((x - minval) / s) + qmin, qmin, qmax), x' = (q - qmin) * s + minval
// Both are one rule with a float offset (0 or minval) and a code offset (zp or qmin).
//
// Storage layouts:
//   int8, int2    one code per byte, two's complement int8 (int2 codes lie in [-2, 1]).
//   uint8, uint2  one code per byte, uint8.
//   int4, uint4   either one code per byte (as above) or packed two per byte:
//                 element 2i in bits 0-3 (low nibble), element 2i+1 in bits 4-7.
//                 Signed nibbles are two's complement (0x8 = -8, 0xF = -1). An odd
//                 element count leaves the high nibble of the last byte zero. This is the
//                 order of torch.float4_e2m1fn_x2 and of torchao's pack_uint4.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coreai_opt/format/dtype.h"

namespace coreai_opt {

/// Bytes needed for `n` elements packed two per byte.
constexpr std::size_t packed_nibble_bytes(std::size_t n) { return (n + 1) / 2; }

/// One byte holding element 2i (`lo`, low nibble) and 2i+1 (`hi`, high nibble).
/// Only the low four bits of each argument are used.
constexpr std::uint8_t pack_nibbles(std::uint8_t lo, std::uint8_t hi) {
  return static_cast<std::uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
}

/// Element 2i of a packed byte, as an unsigned nibble in [0, 15].
constexpr std::uint8_t low_nibble(std::uint8_t b) { return static_cast<std::uint8_t>(b & 0x0F); }

/// Element 2i+1 of a packed byte, as an unsigned nibble in [0, 15].
constexpr std::uint8_t high_nibble(std::uint8_t b) { return static_cast<std::uint8_t>(b >> 4); }

/// A two's complement int4 nibble as an int in [-8, 7].
constexpr int sign_extend_nibble(std::uint8_t n) { return ((n & 0x0F) ^ 0x08) - 0x08; }

/// True for the integer dtypes that may be packed two per byte (int4, uint4).
constexpr bool packs_two_per_byte(DType d) { return d == DType::kInt4 || d == DType::kUInt4; }

/// Zero point of the symmetric schemes: trunc((qmax + qmin + 1) / 2). 0 for signed
/// dtypes (also with clipping), 128 for uint8, 8 for uint4, 2 for uint2.
constexpr std::int32_t symmetric_zero_point(std::int32_t qmin, std::int32_t qmax) {
  return (qmax + qmin + 1) / 2;  // integer division truncates toward zero
}

}  // namespace coreai_opt
