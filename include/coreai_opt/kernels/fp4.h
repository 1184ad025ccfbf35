// fp4 e2m1 and MXFP4 kernels. Format, packing and the MXFP4 layout: format/fp4.h and
// format/e8m0.h. Range, block and threading conventions: kernels/int.h.
//
// With a given scale per block (the observer path): r = x / s, mask = (-6 <= r <= 6),
// code = e2m1(clamp(r, -6, 6)), x' = value(code) * s; NaN stays NaN in fake-quantize.
// The fused MXFP4 quantizer computes each block's E8M0 scale from its amax itself.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coreai_opt/kernels/fp8.h"  // FloatQuantParams

namespace coreai_opt::kernels {

/// Fused fake quantization through fp4 e2m1; `mask` may be null.
void fp4_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const FloatQuantParams& p);

/// e2m1 codes packed two per byte (element i in packed[i / 2], low nibble when i is even).
/// `begin` must be even.
void fp4_quantize_packed(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                         const FloatQuantParams& p);

/// Inverse of fp4_quantize_packed (`begin` even).
void fp4_dequantize_packed(const std::uint8_t* packed, float* y, std::size_t begin, std::size_t end,
                           const FloatQuantParams& p);

/// MXFP4 quantization of blocks of `block_size` consecutive elements (32 for OCP MX;
/// must be even): per block, scale_codes[b] = e8m0_scale_code(amax, 2) and the elements are
/// encoded against that scale and packed. Processes blocks [begin / block_size,
/// end / block_size); begin and end must be multiples of block_size.
void mxfp4_quantize(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                    std::size_t begin, std::size_t end, std::size_t block_size);

/// Inverse of mxfp4_quantize: y = e2m1 value * 2^(scale_code - 127); NaN scale -> NaN.
void mxfp4_dequantize(const std::uint8_t* packed, const std::uint8_t* scale_codes, float* y,
                      std::size_t begin, std::size_t end, std::size_t block_size);

namespace reference {
/// Scalar specification of kernels::fp4_fake_quantize.
void fp4_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const FloatQuantParams& p);
/// Scalar specification of kernels::fp4_quantize_packed.
void fp4_quantize_packed(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                         const FloatQuantParams& p);
/// Scalar specification of kernels::fp4_dequantize_packed.
void fp4_dequantize_packed(const std::uint8_t* packed, float* y, std::size_t begin, std::size_t end,
                           const FloatQuantParams& p);
/// Scalar specification of kernels::mxfp4_quantize.
void mxfp4_quantize(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                    std::size_t begin, std::size_t end, std::size_t block_size);
/// Scalar specification of kernels::mxfp4_dequantize.
void mxfp4_dequantize(const std::uint8_t* packed, const std::uint8_t* scale_codes, float* y,
                      std::size_t begin, std::size_t end, std::size_t block_size);
}  // namespace reference

}  // namespace coreai_opt::kernels
