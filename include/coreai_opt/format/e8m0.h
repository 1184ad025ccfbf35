// E8M0: the power-of-two scale of the OCP MX formats (torch.float8_e8m0fnu).
//
// Layout: 8 exponent bits, no sign, no mantissa, bias 127. Code c means 2^(c - 127) for
// c in [0, 254]; code 0xFF is NaN. There is no zero and no infinity. Scales are stored as
// uint8 exponent codes.
//
// Scale rule from an observed block amax (reference §2.5, the OCP "floor" rule):
//   e = unbiased exponent field of float32(amax)   (floor(log2 amax); -127 for 0/subnormal)
//   k = clamp(e - T, -127, 128), scale = 2^k,  then scale = max(scale, 2^-126)
// with T = the element format's largest power of two: 2 (fp4 e2m1), 8 (fp8 e4m3fn),
// 15 (fp8 e5m2). So amax / scale lies in [2^T, 2^(T+1)) and elements above the format's
// max saturate. A non-finite amax (NaN or infinity in the block) gives the NaN code 0xFF,
// as in torchao and the MX spec, so the block dequantizes to NaN.
#pragma once

#include <cstdint>
#include <cstring>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/format/host_device.h"

namespace coreai_opt {

/// E8M0 NaN code.
inline constexpr std::uint8_t kE8M0NaN = 0xFF;

/// E8M0 code -> float scale (2^(c-127); code 0 is the float subnormal 2^-127; 0xFF NaN).
/// Built from the float's bits, so the CUDA kernels share it.
COREAI_OPT_HOST_DEVICE inline float e8m0_to_float(std::uint8_t code) {
  std::uint32_t bits = 0x7FC00000u;   // quiet NaN
  if (code == 0) bits = 0x00400000u;  // 2^-127, a float subnormal
  if (code != 0 && code != kE8M0NaN) bits = static_cast<std::uint32_t>(code) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// T of the scale rule: the exponent of the element format's largest power of two
/// (2 for fp4 e2m1, 8 for e4m3fn, 15 for e5m2; 0 for integer dtypes, which do not use E8M0).
constexpr int e8m0_element_emax(DType d) {
  switch (d) {
    case DType::kFloat4E2M1FNx2:
      return 2;
    case DType::kFloat8E4M3FN:
      return 8;
    case DType::kFloat8E5M2:
      return 15;
    default:
      return 0;
  }
}

/// E8M0 code of the scale chosen for a block with absolute maximum `amax` (file comment).
COREAI_OPT_HOST_DEVICE inline std::uint8_t e8m0_scale_code(float amax, int element_emax) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &amax, sizeof bits);
  if ((bits & 0x7FFFFFFFu) >= 0x7F800000u) return kE8M0NaN;  // NaN or infinity
  const int e = static_cast<int>((bits >> 23) & 0xFF) - 127;
  int k = e - element_emax;
  k = k < -127 ? -127 : (k > 128 ? 128 : k);
  if (k < -126) k = -126;  // the 2^-126 floor
  return static_cast<std::uint8_t>(k + 127);
}

/// The float scale of e8m0_scale_code (NaN for a non-finite amax).
COREAI_OPT_HOST_DEVICE inline float e8m0_scale(float amax, int element_emax) {
  return e8m0_to_float(e8m0_scale_code(amax, element_emax));
}

}  // namespace coreai_opt
