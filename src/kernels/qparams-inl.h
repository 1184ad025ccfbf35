// The per-parameter qparam math of kernels/qparams.h, written once for the host loops of
// qparams.cpp and the CUDA kernel of cuda/qparams.cu. Each function handles one parameter
// (one block's range) and uses only exactly rounded float operations, integer operations
// and bit manipulation, so the host and the device give the same bits. Internal.
#pragma once

#include <math.h>  // rintf and fabsf: the C functions, which nvcc provides on both sides

#include <cstdint>
#include <cstring>

#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/format/host_device.h"
#include "coreai_opt/kernels/qparams.h"

namespace coreai_opt::kernels::detail {

COREAI_OPT_HOST_DEVICE inline std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

COREAI_OPT_HOST_DEVICE inline float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

COREAI_OPT_HOST_DEVICE inline bool is_nan(float x) { return x != x; }
COREAI_OPT_HOST_DEVICE inline float quiet_nan() { return float_of(0x7FC00000u); }

// Elementwise min/max that propagate NaN (torch.minimum / torch.maximum).
COREAI_OPT_HOST_DEVICE inline float nan_min(float a, float b) {
  return is_nan(a) || is_nan(b) ? quiet_nan() : (a < b ? a : b);
}
COREAI_OPT_HOST_DEVICE inline float nan_max(float a, float b) {
  return is_nan(a) || is_nan(b) ? quiet_nan() : (a > b ? a : b);
}

// torch.clamp(v, min=lo): NaN stays NaN.
COREAI_OPT_HOST_DEVICE inline float clamp_below(float v, float lo) { return v < lo ? lo : v; }

COREAI_OPT_HOST_DEVICE inline float round_bfloat16(float x) {
  if (is_nan(x)) return x;
  std::uint32_t u = bits_of(x);
  u += 0x7FFFu + ((u >> 16) & 1u);  // ties to even; overflow carries into infinity
  return float_of(u & 0xFFFF0000u);
}

COREAI_OPT_HOST_DEVICE inline float round_float16(float x) {
  const std::uint32_t u = bits_of(x);
  const std::uint32_t mag = u & 0x7FFFFFFFu;
  if (mag >= 0x7F800000u) return x;  // NaN and infinities stay
  const std::uint32_t sign = u & 0x80000000u;
  // 65520 is the midpoint between the largest half (65504, odd mantissa) and 2^16.
  if (mag >= bits_of(65520.0f)) return float_of(sign | 0x7F800000u);
  // The half quantum at |x|: 2^(e - 10), e = floor(log2 |x|), at least -14 (subnormals).
  int e = static_cast<int>(mag >> 23) - 127;
  if (e < -14) e = -14;
  const float quantum = float_of(static_cast<std::uint32_t>(e - 10 + 127) << 23);
  // |x| / quantum is exact (a power of two, no underflow) and below 2^12; rintf rounds it
  // to the nearest integer, ties to even; the product is exact again.
  const float r = rintf(float_of(mag) / quantum) * quantum;
  return float_of(bits_of(r) | sign);
}

COREAI_OPT_HOST_DEVICE inline float round_to(float x, ParamPrecision p) {
  if (p == ParamPrecision::kBFloat16) return round_bfloat16(x);
  if (p == ParamPrecision::kFloat16) return round_float16(x);
  return x;
}

/// The constants of one qparams choice, derived once from a QParamsConfig on the host.
struct QParamsConstants {
  ParamPrecision precision = ParamPrecision::kFloat32;
  bool is_float = false;    ///< fp8 / fp4: scale only
  bool e8m0 = false;        ///< power-of-two scale
  bool asymmetric = false;  ///< integer asymmetric scheme
  int element_emax = 0;     ///< E8M0 rule's T
  float fp_max = 0.0f;      ///< largest finite value of an fp dtype
  float qmin = 0.0f, qmax = 0.0f;
  std::int32_t symmetric_zp = 0;
  std::int32_t nan_zp = 0;  ///< zero point of a NaN range: 0 clamped into [qmin, qmax]
};

/// The qparams of one block from its observed range min_val <= 0 <= max_val. For fp dtypes
/// zero_point and minval are left as they are.
COREAI_OPT_HOST_DEVICE inline void choose_one(const QParamsConstants& c, float mn, float mx,
                                              float& scale, std::int32_t& zero_point, float& minval,
                                              std::uint8_t& scale_code) {
  const ParamPrecision P = c.precision;
  const float eps = kScaleEpsilon;  // 2^-23 is exact in bf16 and fp16 (subnormal) too
  const float min_neg = nan_min(mn, 0.0f);
  const float max_pos = nan_max(mx, 0.0f);
  if (c.is_float) {
    if (c.e8m0) {
      const float amax = nan_max(fabsf(mn), fabsf(mx));
      scale_code = e8m0_scale_code(amax, c.element_emax);
      scale = e8m0_to_float(scale_code);
    } else {
      const float amax = nan_max(-min_neg, max_pos);
      scale = clamp_below(round_to(amax / c.fp_max, P), eps);
    }
    return;
  }
  if (c.asymmetric) {
    const float s =
        clamp_below(round_to(round_to(max_pos - min_neg, P) / (c.qmax - c.qmin), P), eps);
    const float r = rintf(round_to(min_neg / s, P));
    const float z = c.qmin - r;
    scale = s;
    // A NaN range has no meaningful zero point; 0 (clamped into range) keeps it defined.
    zero_point = is_nan(z)
                     ? c.nan_zp
                     : static_cast<std::int32_t>(z < c.qmin ? c.qmin : (z > c.qmax ? c.qmax : z));
    minval = min_neg;
    return;
  }
  const float amax = nan_max(-min_neg, max_pos);
  scale = clamp_below(round_to(amax / ((c.qmax - c.qmin) / 2.0f), P), eps);
  zero_point = c.symmetric_zp;
  minval = -nan_max(fabsf(mn), fabsf(mx));
}

/// The constants of one observer step, derived once from an ObserveStep on the host.
struct ObserveConstants {
  RangeCalculator calculator = RangeCalculator::kStatic;
  float averaging_constant = kDefaultAveragingConstant;
  float one_minus_c = 1.0f - kDefaultAveragingConstant;  ///< rounded once from double
  ParamPrecision precision = ParamPrecision::kFloat32;
  bool has_range_min = false, has_range_max = false;
  float range_min = 0.0f, range_max = 0.0f;  ///< already rounded to `precision`
  bool choose = false;                       ///< also compute qparams
  QParamsConstants qparams;
};

/// The running-range update of one parameter from its new bounds.
COREAI_OPT_HOST_DEVICE inline void update_one(const ObserveConstants& k, bool initialized,
                                              float nmin, float nmax, float& run_min,
                                              float& run_max) {
  const ParamPrecision P = k.precision;
  if (!initialized || k.calculator == RangeCalculator::kStatic) {
    run_min = nmin;
    run_max = nmax;
  } else if (k.calculator == RangeCalculator::kGlobalMinMax) {
    run_min = nan_min(run_min, nmin);
    run_max = nan_max(run_max, nmax);
  } else {
    // c * new + (1 - c) * running, each tensor op rounded to the working precision.
    const float c = k.averaging_constant;
    run_min = round_to(round_to(c * nmin, P) + round_to(k.one_minus_c * run_min, P), P);
    run_max = round_to(round_to(c * nmax, P) + round_to(k.one_minus_c * run_max, P), P);
  }
}

/// One parameter of observe_step: the observed bounds (rounded to the precision), the
/// running-range update and, when asked, the qparams of the new running range.
COREAI_OPT_HOST_DEVICE inline void observe_one(const ObserveConstants& k, bool initialized,
                                               float amin, float amax, float& run_min,
                                               float& run_max, float& scale,
                                               std::int32_t& zero_point, float& minval,
                                               std::uint8_t& scale_code) {
  const ParamPrecision P = k.precision;
  const float nmin = k.has_range_min ? k.range_min : round_to(nan_min(amin, 0.0f), P);
  const float nmax = k.has_range_max ? k.range_max : round_to(nan_max(amax, 0.0f), P);
  update_one(k, initialized, nmin, nmax, run_min, run_max);
  if (k.choose) choose_one(k.qparams, run_min, run_max, scale, zero_point, minval, scale_code);
}

/// The constants of a config or a step (host side, qparams.cpp).
QParamsConstants qparams_constants(const QParamsConfig& config);
ObserveConstants observe_constants(const ObserveStep& step);

}  // namespace coreai_opt::kernels::detail
