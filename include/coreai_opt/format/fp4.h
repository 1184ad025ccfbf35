// 4-bit floating point fp4 e2m1 (the MXFP4 element) and the MXFP4 block layout.
//
// float4_e2m1fn: bit 3 sign, bits 2-1 exponent (bias 1), bit 0 mantissa.
//   Magnitudes by code 0..7: 0, 0.5, 1, 1.5, 2, 3, 4, 6 (code 1 is the only subnormal).
//   No infinity, no NaN.
// Encoding: round to nearest, ties to even (0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2,
//   2.5 -> 2, 3.5 -> 4, 5 -> 4), saturating: magnitudes above 6 (and infinity) become 6.
//   A NaN has no code and encodes as +0; MXFP4 carries NaN in its block scale instead.
// Packing: two codes per byte, element 2i in bits 0-3, element 2i+1 in bits 4-7 (the
//   byte order of torch.float4_e2m1fn_x2 and torchao). An odd count leaves the last
//   high nibble zero.
//
// MXFP4 (OCP Microscaling v1.0): blocks of 32 consecutive elements along the block axis
// share one E8M0 scale (see e8m0.h). Storage is two separate arrays:
//   codes:  n / 2 bytes, packed as above, in the element order of the tensor;
//   scales: n / 32 bytes, one E8M0 exponent code per block, in block order.
// Element value = e2m1_value(code) * 2^(scale_code - 127); scale code 0xFF is NaN and
// turns the whole block into NaN.
#pragma once

#include <cstdint>

#include "coreai_opt/format/fp8.h"
#include "coreai_opt/format/int.h"

namespace coreai_opt {

/// fp4 e2m1 as a small-float format (max 6 = code 0x7).
inline constexpr MiniFloatFormat kE2M1Format{2, 1, 1, 6.0f, 0x7, MiniFloatSpecials::kNone, 0x0};

/// Elements per MXFP4 block (OCP MX k = 32).
inline constexpr int kMxfp4BlockSize = 32;

/// float -> e2m1 code in [0, 15], ties to even, saturating at +-6, NaN -> 0.
inline std::uint8_t float_to_e2m1(float x) { return minifloat_encode(x, kE2M1Format); }

/// e2m1 code (low four bits) -> float (exact).
inline float e2m1_to_float(std::uint8_t c) {
  return minifloat_decode(static_cast<std::uint8_t>(c & 0x0F), kE2M1Format);
}

}  // namespace coreai_opt
