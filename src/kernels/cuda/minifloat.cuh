// Element codecs of the CUDA kernels: fp8 e4m3fn / e5m2, fp4 e2m1 and E8M0, written with
// integer and exactly rounded float operations only, so that the same code runs on the
// host (where the tests check it against format/fp8.h) and on the device.
//
// Every function here equals its scalar specification in format/fp8.h, fp4.h and e8m0.h
// bit for bit, for every float input:
//   soft_encode<F>(x) == minifloat_encode(x, F's MiniFloatFormat)
//   soft_decode<F>(c) == minifloat_decode(c, ...)  (NaN as NaN)
// The native sm_89+ conversion (cvt.rn.satfinite.e4m3x2/e5m2x2.f32) is used by encode<F>
// on those targets; it is round-to-nearest-even with saturation to the largest finite
// value, which is the specification's rule except for NaN, whose sign the instruction
// drops: encode<F> puts it back. tests/cuda checks native == soft over all 2^32 floats on
// the device, and soft == the specification on the host.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define COREAI_OPT_HD __host__ __device__ __forceinline__
#else
#define COREAI_OPT_HD inline
#endif

// COREAI_OPT_CUDA_NATIVE_FP8: encode/decode/round_trip2 use the fp8 conversions of
// cuda_fp8.h, which compile to the sm_89+ instructions in device code. The host emulation
// of the tests (tests/cuda/host_emulation.h) can define COREAI_OPT_CUDA_EMULATE_NATIVE_FP8
// to run that same path on NVIDIA's host models of the conversions. COREAI_OPT_CUDA_SOFT_FP8
// forces the integer codecs everywhere.
#if !defined(COREAI_OPT_CUDA_SOFT_FP8) &&                        \
    ((defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890) ||         \
     defined(COREAI_OPT_CUDA_EMULATE_NATIVE_FP8))
#define COREAI_OPT_CUDA_NATIVE_FP8 1
#endif
#if defined(__CUDACC__) || defined(COREAI_OPT_CUDA_NATIVE_FP8)
#include <cuda_fp8.h>
#endif

namespace coreai_opt::kernels::cuda::detail {

COREAI_OPT_HD std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

COREAI_OPT_HD float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

COREAI_OPT_HD bool is_nan(float x) { return x != x; }

/// Compile-time description of a small float format (cf. MiniFloatFormat in format/fp8.h).
template <int kExponentBits, int kMantissaBits, int kBias, std::uint32_t kMaxFiniteBits,
          std::uint8_t kMaxCode, bool kHasNaN, bool kIeee>
struct MiniFloat {
  static constexpr int kE = kExponentBits;
  static constexpr int kM = kMantissaBits;
  static constexpr int kEMin = 1 - kBias;  ///< exponent of the smallest normal
  static constexpr int kBiasV = kBias;
  static constexpr std::uint32_t kMaxBits = kMaxFiniteBits;  ///< float bits of max finite
  static constexpr std::uint8_t kMax = kMaxCode;
  static constexpr bool kNaN = kHasNaN;  ///< has a NaN code (sign | 0x7F)
  static constexpr bool kIeeeSpecials = kIeee;  ///< all-ones exponent = inf / NaN
};

/// float8_e4m3fn: max 448 (0x43E00000), NaN S.1111.111, no infinity.
using E4M3 = MiniFloat<4, 3, 7, 0x43E00000u, 0x7E, true, false>;
/// float8_e5m2: max 57344 (0x47600000), IEEE-like specials.
using E5M2 = MiniFloat<5, 2, 15, 0x47600000u, 0x7B, true, true>;
/// fp4 e2m1: max 6 (0x40C00000), no specials; NaN encodes as +0.
using E2M1 = MiniFloat<2, 1, 1, 0x40C00000u, 0x7, false, false>;

/// float -> code, ties to even, saturating, NaN -> sign | 0x7F (e2m1: 0). The scalar
/// specification's algorithm (format/fp8.h) on the float's bits: the binade comes from the
/// exponent field, the quantum is a power of two, and scaling by it is exact, so rintf
/// (ties to even) is the only rounding.
template <class F>
COREAI_OPT_HD std::uint8_t soft_encode(float x) {
  const std::uint32_t bits = float_bits(x);
  const auto sign = static_cast<std::uint32_t>((bits >> 31) << (F::kE + F::kM));
  if (is_nan(x)) return F::kNaN ? static_cast<std::uint8_t>(sign | 0x7Fu) : std::uint8_t{0};
  const std::uint32_t abits = bits & 0x7FFFFFFFu;
  if (abits >= F::kMaxBits) return static_cast<std::uint8_t>(sign | F::kMax);
  int e = static_cast<int>(abits >> 23) - 127;  // float subnormals and zero: below kEMin
  if (e < F::kEMin) e = F::kEMin;
  // 2^(M - e) is a normal float for every e of these formats, and a * 2^(M - e) is exact.
  const float step = bits_float(static_cast<std::uint32_t>(127 + F::kM - e) << 23);
#if defined(__CUDA_ARCH__)
  const float scaled = __fmul_rn(bits_float(abits), step);
#else
  const float scaled = bits_float(abits) * step;
#endif
  int k = static_cast<int>(rintf(scaled));
  constexpr int kOne = 1 << F::kM;
  if (e == F::kEMin && k < kOne) return static_cast<std::uint8_t>(sign | static_cast<std::uint32_t>(k));
  if (k == 2 * kOne) {  // rounded up into the next binade
    k = kOne;
    ++e;
  }
  const auto code = static_cast<std::uint32_t>(((e + F::kBiasV) << F::kM) | (k - kOne));
  return static_cast<std::uint8_t>(sign | code);
}

/// code -> float, exact (NaN codes give a quiet NaN, e5m2 0x7C/0xFC give +-inf).
template <class F>
COREAI_OPT_HD float soft_decode(std::uint32_t code) {
  constexpr int kBits = F::kE + F::kM;
  const std::uint32_t mag = code & ((1u << kBits) - 1u);
  const std::uint32_t sign = ((code >> kBits) & 1u) << 31;
  const std::uint32_t ef = mag >> F::kM;
  const std::uint32_t m = mag & ((1u << F::kM) - 1u);
  std::uint32_t out;
  if (F::kNaN && !F::kIeeeSpecials && mag == 0x7Fu) {
    out = 0x7FC00000u;
  } else if (F::kIeeeSpecials && ef == (1u << F::kE) - 1u) {
    out = m == 0 ? 0x7F800000u : 0x7FC00000u;
  } else if (ef == 0) {
    // m * 2^(EMin - M): a small integer times a power of two, exact.
    out = float_bits(static_cast<float>(m) *
                     bits_float(static_cast<std::uint32_t>(127 + F::kEMin - F::kM) << 23));
  } else {
    out = ((ef + 127u - static_cast<std::uint32_t>(F::kBiasV)) << 23) | (m << (23 - F::kM));
  }
  return bits_float(out | sign);
}

/// float -> e2m1 code, ties to even, saturating at 6, NaN -> +0: soft_encode<E2M1> without
/// branches. The grid 0, 0.5, 1, 1.5, 2, 3, 4, 6 has the quantum 0.5 below 2, 1 in [2, 4)
/// and 2 from 4; |x| in units of its range's quantum (an exact scaling by a power of two)
/// rounded to nearest even, plus the code of the range's first value, is the code (a tie
/// lands on the even integer, which is the even code). |x| >= 7 gives 7 after the minimum,
/// and so do infinities and NaN (the minimum ignores NaN; NaN's code is chosen at the end).
COREAI_OPT_HD std::uint8_t e2m1_encode(float x) {
  const float a = std::fabs(x);
  const bool low = a < 2.0f;
  const bool mid = a < 4.0f;
  const float unit = low ? 2.0f : (mid ? 1.0f : 0.5f);
  const float first = low ? 0.0f : (mid ? 2.0f : 4.0f);
#if defined(__CUDA_ARCH__)
  const float k = fminf(__fadd_rn(rintf(__fmul_rn(a, unit)), first), 7.0f);
#else
  const float k = std::fmin(std::rint(a * unit) + first, 7.0f);
#endif
  const unsigned code = ((float_bits(x) >> 28) & 0x8u) | static_cast<unsigned>(k);
  return is_nan(x) ? std::uint8_t{0} : static_cast<std::uint8_t>(code);
}

/// float -> code with the specification's bits: the conversion instruction where the
/// target has one (sm_89+; e4m3fn and e5m2 only), the comparison encoder for e2m1, else
/// soft_encode.
template <class F>
COREAI_OPT_HD std::uint8_t encode(float x) {
  if constexpr (!F::kNaN && F::kE == 2 && F::kM == 1) return e2m1_encode(x);
#if defined(COREAI_OPT_CUDA_NATIVE_FP8)
  if constexpr (F::kNaN) {
    const __nv_fp8_interpretation_t kind = F::kIeeeSpecials ? __NV_E5M2 : __NV_E4M3;
    const auto c = static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(x, __NV_SATFINITE, kind));
    if (is_nan(x)) return static_cast<std::uint8_t>(((float_bits(x) >> 24) & 0x80u) | 0x7Fu);
    return c;
  }
#endif
  return soft_encode<F>(x);
}

/// code -> float: the conversion instruction where the target has one (sm_89+, e4m3fn and
/// e5m2: fp8 -> float16 is exact, and so is float16 -> float), else soft_decode. NaN codes
/// give a NaN (its sign is not specified), e5m2 infinity codes give infinities.
template <class F>
COREAI_OPT_HD float decode(std::uint32_t code) {
#if defined(COREAI_OPT_CUDA_NATIVE_FP8)
  if constexpr (F::kNaN) {
    const __nv_fp8_interpretation_t kind = F::kIeeeSpecials ? __NV_E5M2 : __NV_E4M3;
    return __half2float(
        __half(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), kind)));
  }
#endif
  return soft_decode<F>(code);
}

/// decode(encode(x)) for a non-NaN x already clamped to the finite range: the nearest
/// value of the format (ties to even), as a float.
template <class F>
COREAI_OPT_HD float round_trip(float x) {
  return decode<F>(encode<F>(x));
}

/// round_trip of two values; on sm_89+ one conversion instruction each way for the pair.
template <class F>
COREAI_OPT_HD void round_trip2(float a, float b, float& ra, float& rb) {
#if defined(COREAI_OPT_CUDA_NATIVE_FP8)
  if constexpr (F::kNaN) {
    const __nv_fp8_interpretation_t kind = F::kIeeeSpecials ? __NV_E5M2 : __NV_E4M3;
    const __nv_fp8x2_storage_t c =
        __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, kind);
    const __half2 h(__nv_cvt_fp8x2_to_halfraw2(c, kind));
    ra = __low2float(h);
    rb = __high2float(h);
    return;
  }
#endif
  ra = round_trip<F>(a);
  rb = round_trip<F>(b);
}

/// E8M0 code of a block amax (format/e8m0.h, element emax T): 0xFF for NaN or infinity,
/// else clamp(floor(log2 amax) - T, -127, 128) + 127 with the 2^-126 floor.
COREAI_OPT_HD std::uint8_t e8m0_code(float amax, int element_emax) {
  const std::uint32_t b = float_bits(amax) & 0x7FFFFFFFu;
  if (b >= 0x7F800000u) return 0xFF;
  int k = static_cast<int>(b >> 23) - 127 - element_emax;
  k = k < -126 ? -126 : (k > 128 ? 128 : k);
  return static_cast<std::uint8_t>(k + 127);
}

/// E8M0 code -> float (0xFF NaN, 0 the float subnormal 2^-127).
COREAI_OPT_HD float e8m0_value(std::uint32_t code) {
  if (code == 0xFFu) return bits_float(0x7FC00000u);
  if (code == 0) return bits_float(0x00400000u);
  return bits_float(code << 23);
}

/// 1 / e8m0_value(code) for the codes e8m0_code produces (1..252 and 0xFF): exact, as
/// every such scale is a power of two in [2^-126, 2^125]; NaN for 0xFF. x * this equals
/// x / scale bit for bit, both being the one correctly rounded value of the same quotient.
COREAI_OPT_HD float e8m0_reciprocal(std::uint32_t code) {
  if (code == 0xFFu) return bits_float(0x7FC00000u);
  return bits_float((254u - code) << 23);
}

}  // namespace coreai_opt::kernels::cuda::detail
