// Scalar specification of the fp4 e2m1 and MXFP4 kernels (kernels/fp4.h), reference
// §2.5 and §2.7.
#include "coreai_opt/format/fp4.h"

#include <cmath>

#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/kernels/fp4.h"

namespace coreai_opt::kernels::reference {

void fp4_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const FloatQuantParams& p) {
  for (std::size_t i = begin; i < end; ++i) {
    const float s = p.scale[i / p.run_length];
    const float r = x[i] / s;
    const bool in_range = r >= -6.0f && r <= 6.0f;
    const float clamped = r < -6.0f ? -6.0f : (r > 6.0f ? 6.0f : r);
    y[i] = std::isnan(r) ? r : e2m1_to_float(float_to_e2m1(clamped)) * s;
    if (mask != nullptr) mask[i] = in_range ? 1 : 0;
  }
}

void fp4_quantize_packed(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                         const FloatQuantParams& p) {
  auto code = [&](std::size_t i) { return float_to_e2m1(x[i] / p.scale[i / p.run_length]); };
  for (std::size_t i = begin; i < end; i += 2) {
    packed[i / 2] = pack_nibbles(code(i), i + 1 < end ? code(i + 1) : std::uint8_t{0});
  }
}

void fp4_dequantize_packed(const std::uint8_t* packed, float* y, std::size_t begin, std::size_t end,
                           const FloatQuantParams& p) {
  for (std::size_t i = begin; i < end; ++i) {
    const std::uint8_t b = packed[i / 2];
    y[i] = e2m1_to_float(i % 2 == 0 ? low_nibble(b) : high_nibble(b)) * p.scale[i / p.run_length];
  }
}

void mxfp4_quantize(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                    std::size_t begin, std::size_t end, std::size_t block_size) {
  for (std::size_t b0 = begin; b0 < end; b0 += block_size) {
    float amax = 0.0f;
    bool nan = false;
    for (std::size_t i = b0; i < b0 + block_size; ++i) {
      nan = nan || std::isnan(x[i]);
      amax = std::fmax(amax, std::fabs(x[i]));
    }
    const std::uint8_t code =
        e8m0_scale_code(nan ? std::nanf("") : amax, e8m0_element_emax(DType::kFloat4E2M1FNx2));
    scale_codes[b0 / block_size] = code;
    const float scale = e8m0_to_float(code);
    for (std::size_t i = b0; i < b0 + block_size; i += 2) {
      packed[i / 2] = pack_nibbles(float_to_e2m1(x[i] / scale), float_to_e2m1(x[i + 1] / scale));
    }
  }
}

void mxfp4_dequantize(const std::uint8_t* packed, const std::uint8_t* scale_codes, float* y,
                      std::size_t begin, std::size_t end, std::size_t block_size) {
  for (std::size_t i = begin; i < end; ++i) {
    const std::uint8_t b = packed[i / 2];
    const std::uint8_t c = i % 2 == 0 ? low_nibble(b) : high_nibble(b);
    y[i] = e2m1_to_float(c) * e8m0_to_float(scale_codes[i / block_size]);
  }
}

}  // namespace coreai_opt::kernels::reference
