// Scalar specification of the fp8 kernels (kernels/fp8.h), reference §2.7.
#include "coreai_opt/format/fp8.h"

#include <cmath>

#include "coreai_opt/kernels/fp8.h"

namespace coreai_opt::kernels::reference {
namespace {

const MiniFloatFormat& format_of(DType d) {
  return d == DType::kFloat8E5M2 ? kE5M2Format : kE4M3FNFormat;
}

}  // namespace

void fp8_fake_quantize(DType format, const float* x, float* y, std::uint8_t* mask,
                       std::size_t begin, std::size_t end, const FloatQuantParams& p) {
  const MiniFloatFormat& f = format_of(format);
  for (std::size_t i = begin; i < end; ++i) {
    const float s = p.scale[i / p.run_length];
    const float r = x[i] / s;
    const bool in_range = r >= -f.max_finite && r <= f.max_finite;
    const float clamped = r < -f.max_finite ? -f.max_finite : (r > f.max_finite ? f.max_finite : r);
    y[i] = std::isnan(r) ? r : minifloat_decode(minifloat_encode(clamped, f), f) * s;
    if (mask != nullptr) mask[i] = in_range ? 1 : 0;
  }
}

void fp8_quantize(DType format, const float* x, std::uint8_t* codes, std::size_t begin,
                  std::size_t end, const FloatQuantParams& p) {
  const MiniFloatFormat& f = format_of(format);
  for (std::size_t i = begin; i < end; ++i) {
    codes[i] = minifloat_encode(x[i] / p.scale[i / p.run_length], f);
  }
}

void fp8_dequantize(DType format, const std::uint8_t* codes, float* y, std::size_t begin,
                    std::size_t end, const FloatQuantParams& p) {
  const MiniFloatFormat& f = format_of(format);
  for (std::size_t i = begin; i < end; ++i) {
    y[i] = minifloat_decode(codes[i], f) * p.scale[i / p.run_length];
  }
}

}  // namespace coreai_opt::kernels::reference
