// Integer quantize / dequantize / fake-quantize kernels (format: format/int.h).
//
// Conventions shared by every kernel in coreai_opt/kernels:
//   - x, y, codes and mask are base pointers of the whole array; a call processes the
//     element range [begin, end) only, single-threaded. The torch layer splits ranges
//     across threads.
//   - Element i uses parameter block i / run_length (see blockwise.h for how a
//     granularity becomes segments of runs).
//   - Kernels never throw and never allocate; arguments are the caller's responsibility.
//   - Functions in namespace `reference` are the scalar specification. The unqualified
//     functions dispatch at run time to the best Highway target of the CPU and are
//     bit-identical to the reference (tested on every compiled target).
//
// NaN: fake-quantize keeps NaN (y = NaN, mask = 0). Quantize has no integer code for NaN
// and writes the code offset (zero point, or quant_min for MINVAL), i.e. the code of 0.0
// in the ZP formulation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coreai_opt::kernels {

/// Per-block affine parameters of integer quantization.
struct IntQuantParams {
  const float* scale = nullptr;              ///< one per block, > 0
  const std::int32_t* zero_point = nullptr;  ///< ZP formulation; nullptr means all 0
  const float* minval = nullptr;             ///< non-null selects the MINVAL formulation
  std::int32_t quant_min = -128;
  std::int32_t quant_max = 127;
  std::size_t run_length = 1;  ///< consecutive elements per block (>= 1)
};

/// y[i] = dequantize(quantize(x[i])); mask[i] = 1 when the rounded code lies in
/// [quant_min, quant_max] (before clamping), else 0. `mask` may be null.
void int_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const IntQuantParams& p);

/// codes[i] = quantize(x[i]), one byte per element (two's complement int8 when
/// quant_min < 0, else uint8).
void int_quantize(const float* x, std::uint8_t* codes, std::size_t begin, std::size_t end,
                  const IntQuantParams& p);

/// y[i] = dequantize(codes[i]) for one code byte per element.
void int_dequantize(const std::uint8_t* codes, float* y, std::size_t begin, std::size_t end,
                    const IntQuantParams& p);

/// 4-bit codes packed two per byte: element i goes to packed[i / 2], low nibble when i is
/// even. `begin` must be even; an odd `end` writes the last byte with a zero high nibble.
void int_quantize_packed4(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                          const IntQuantParams& p);

/// Inverse of int_quantize_packed4 (`begin` even). Signed nibbles when quant_min < 0.
void int_dequantize_packed4(const std::uint8_t* packed, float* y, std::size_t begin,
                            std::size_t end, const IntQuantParams& p);

namespace reference {
/// Scalar specification of kernels::int_fake_quantize.
void int_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const IntQuantParams& p);
/// Scalar specification of kernels::int_quantize.
void int_quantize(const float* x, std::uint8_t* codes, std::size_t begin, std::size_t end,
                  const IntQuantParams& p);
/// Scalar specification of kernels::int_dequantize.
void int_dequantize(const std::uint8_t* codes, float* y, std::size_t begin, std::size_t end,
                    const IntQuantParams& p);
/// Scalar specification of kernels::int_quantize_packed4.
void int_quantize_packed4(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                          const IntQuantParams& p);
/// Scalar specification of kernels::int_dequantize_packed4.
void int_dequantize_packed4(const std::uint8_t* packed, float* y, std::size_t begin,
                            std::size_t end, const IntQuantParams& p);
}  // namespace reference

}  // namespace coreai_opt::kernels
