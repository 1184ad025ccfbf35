// 8-bit floating point formats (OCP OFP8) and the small-float codec they share with fp4.
//
// float8_e4m3fn: bit 7 sign, bits 6-3 exponent (bias 7), bits 2-0 mantissa.
//   Normal:    (1 + m/8) * 2^(e - 7) for e in [1, 15], except S.1111.111 (0x7F, 0xFF) = NaN.
//   Subnormal: m * 2^-9 for e = 0. No infinities. Largest finite 448 (0x7E), smallest
//   subnormal 2^-9, smallest normal 2^-6.
// float8_e5m2: bit 7 sign, bits 6-2 exponent (bias 15), bits 1-0 mantissa (IEEE-like).
//   Normal:    (1 + m/4) * 2^(e - 15) for e in [1, 30]; e = 31: m = 0 infinity, else NaN.
//   Subnormal: m * 2^-16. Largest finite 57344 (0x7B), smallest normal 2^-14.
//
// Encoding (float -> code) used by every quantizer in this library:
//   - round to nearest, ties to even, with exact subnormals;
//   - saturating: a magnitude at or above the largest finite value (infinity included)
//     becomes +-max (0x7E / 0x7B with the sign), never NaN or infinity;
//   - NaN stays NaN: sign | 0x7F for both formats (the code PyTorch produces).
// Saturation matters for MX-style power-of-two scales, where scaled magnitudes above the
// largest finite value occur by design. PyTorch's own cast (before 2.13) is non-saturating;
// it agrees with this encoder on every input clamped to the finite range first.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace coreai_opt {

/// Which special values a small float format has.
enum class MiniFloatSpecials : std::uint8_t {
  kNone,       ///< no NaN, no infinity (fp4 e2m1)
  kFiniteNaN,  ///< "fn": only the all-ones magnitude is NaN, no infinity (e4m3fn)
  kIeee,       ///< all-ones exponent: infinity (mantissa 0) or NaN (e5m2)
};

/// Parameters of a sign-exponent-mantissa format of at most 8 bits.
struct MiniFloatFormat {
  int exponent_bits;
  int mantissa_bits;
  int bias;
  float max_finite;       ///< largest finite magnitude
  std::uint8_t max_code;  ///< magnitude code of max_finite
  MiniFloatSpecials specials;
  std::uint8_t nan_code;  ///< magnitude code written for NaN (unused for kNone)

  /// Bit position of the sign bit (= exponent_bits + mantissa_bits).
  constexpr int sign_shift() const { return exponent_bits + mantissa_bits; }
  /// Exponent of the smallest normal value (1 - bias).
  constexpr int min_normal_exponent() const { return 1 - bias; }
};

/// float8_e4m3fn.
inline constexpr MiniFloatFormat kE4M3FNFormat{
    4, 3, 7, 448.0f, 0x7E, MiniFloatSpecials::kFiniteNaN, 0x7F};
/// float8_e5m2.
inline constexpr MiniFloatFormat kE5M2Format{5,   2, 15, 57344.0f, 0x7B, MiniFloatSpecials::kIeee,
                                             0x7F};

/// Encodes `x` with round-half-to-even and saturation (see the file comment). This is
/// the scalar specification; the SIMD kernels are tested bit-exact against it.
/// For formats without NaN (fp4) a NaN encodes as +0.
inline std::uint8_t minifloat_encode(float x, const MiniFloatFormat& f) {
  const auto sign = static_cast<std::uint8_t>(std::signbit(x) ? (1u << f.sign_shift()) : 0u);
  if (std::isnan(x)) {
    return f.specials == MiniFloatSpecials::kNone ? std::uint8_t{0}
                                                  : static_cast<std::uint8_t>(sign | f.nan_code);
  }
  const float a = std::fabs(x);
  if (a >= f.max_finite) return static_cast<std::uint8_t>(sign | f.max_code);
  // Binade of `a`; everything below the smallest normal shares its quantum (subnormals).
  int e = f.min_normal_exponent();
  if (a >= std::ldexp(1.0f, e)) {
    int fe = 0;
    std::frexp(a, &fe);  // a = m * 2^fe with m in [0.5, 1)
    e = fe - 1;
  }
  const int one = 1 << f.mantissa_bits;
  // Dividing by a power of two is exact here, so the only rounding is nearbyint (ties to
  // even in the default rounding mode).
  int k = static_cast<int>(std::nearbyint(a / std::ldexp(1.0f, e - f.mantissa_bits)));
  if (e == f.min_normal_exponent() && k < one) return static_cast<std::uint8_t>(sign | k);
  if (k == 2 * one) {  // rounded up into the next binade
    k = one;
    ++e;
  }
  const int code = ((e + f.bias) << f.mantissa_bits) | (k - one);
  return static_cast<std::uint8_t>(sign | code);
}

/// Decodes a code (only the low sign_shift()+1 bits are used) to its exact float value.
inline float minifloat_decode(std::uint8_t code, const MiniFloatFormat& f) {
  const bool negative = ((code >> f.sign_shift()) & 1) != 0;
  const int mag = code & ((1 << f.sign_shift()) - 1);
  const int exp_field = mag >> f.mantissa_bits;
  const int mant = mag & ((1 << f.mantissa_bits) - 1);
  float v = 0.0f;
  if (f.specials == MiniFloatSpecials::kFiniteNaN && mag == f.nan_code) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (f.specials == MiniFloatSpecials::kIeee && exp_field == (1 << f.exponent_bits) - 1) {
    v = mant == 0 ? std::numeric_limits<float>::infinity()
                  : std::numeric_limits<float>::quiet_NaN();
  } else if (exp_field == 0) {
    v = std::ldexp(static_cast<float>(mant), f.min_normal_exponent() - f.mantissa_bits);
  } else {
    v = std::ldexp(static_cast<float>((1 << f.mantissa_bits) + mant),
                   exp_field - f.bias - f.mantissa_bits);
  }
  return negative ? -v : v;
}

/// float -> float8_e4m3fn code, saturating to +-448, ties to even, NaN -> sign|0x7F.
inline std::uint8_t float_to_e4m3fn(float x) { return minifloat_encode(x, kE4M3FNFormat); }
/// float8_e4m3fn code -> float (exact).
inline float e4m3fn_to_float(std::uint8_t c) { return minifloat_decode(c, kE4M3FNFormat); }
/// float -> float8_e5m2 code, saturating to +-57344, ties to even, NaN -> sign|0x7F.
inline std::uint8_t float_to_e5m2(float x) { return minifloat_encode(x, kE5M2Format); }
/// float8_e5m2 code -> float (exact; 0x7C is +inf, 0x7D-0x7F NaN).
inline float e5m2_to_float(std::uint8_t c) { return minifloat_decode(c, kE5M2Format); }

}  // namespace coreai_opt
