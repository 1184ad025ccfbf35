// fp8 (float8_e4m3fn, float8_e5m2) kernels. Format and rounding: format/fp8.h.
// Range, block and threading conventions: kernels/int.h.
//
// Math (reference §2.7): r = x / s; mask = (-max <= r <= max); r = clamp(r, -max, max);
// code = encode(r) (ties to even); x' = decode(code) * s. NaN stays NaN (mask 0).
#pragma once

#include <cstddef>
#include <cstdint>

#include "coreai_opt/format/dtype.h"

namespace coreai_opt::kernels {

/// Per-block scales of float (fp8 / fp4) quantization.
struct FloatQuantParams {
  const float* scale = nullptr;  ///< one per block (float, or an E8M0 power of two)
  std::size_t run_length = 1;    ///< consecutive elements per block (>= 1)
};

/// Fused fake quantization through `format` (kFloat8E4M3FN or kFloat8E5M2); `mask` may
/// be null.
void fp8_fake_quantize(DType format, const float* x, float* y, std::uint8_t* mask,
                       std::size_t begin, std::size_t end, const FloatQuantParams& p);

/// codes[i] = encode(clamp(x[i] / s)), one byte per element.
void fp8_quantize(DType format, const float* x, std::uint8_t* codes, std::size_t begin,
                  std::size_t end, const FloatQuantParams& p);

/// y[i] = decode(codes[i]) * s.
void fp8_dequantize(DType format, const std::uint8_t* codes, float* y, std::size_t begin,
                    std::size_t end, const FloatQuantParams& p);

namespace reference {
/// Scalar specification of kernels::fp8_fake_quantize.
void fp8_fake_quantize(DType format, const float* x, float* y, std::uint8_t* mask,
                       std::size_t begin, std::size_t end, const FloatQuantParams& p);
/// Scalar specification of kernels::fp8_quantize.
void fp8_quantize(DType format, const float* x, std::uint8_t* codes, std::size_t begin,
                  std::size_t end, const FloatQuantParams& p);
/// Scalar specification of kernels::fp8_dequantize.
void fp8_dequantize(DType format, const std::uint8_t* codes, float* y, std::size_t begin,
                    std::size_t end, const FloatQuantParams& p);
}  // namespace reference

}  // namespace coreai_opt::kernels
