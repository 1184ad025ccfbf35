// Quantization parameters from observed ranges (kernels/qparams.h).
#include "coreai_opt/kernels/qparams.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "coreai_opt/errors.h"
#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/format/int.h"

namespace coreai_opt::kernels {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Elementwise min/max that propagate NaN (torch.minimum / torch.maximum).
float nan_min(float a, float b) { return std::isnan(a) || std::isnan(b) ? kNaN : (a < b ? a : b); }
float nan_max(float a, float b) { return std::isnan(a) || std::isnan(b) ? kNaN : (a > b ? a : b); }

// torch.clamp(v, min=lo): NaN stays NaN.
float clamp_below(float v, float lo) { return v < lo ? lo : v; }

float fp_max(DType d) {
  return static_cast<float>(quant_range(d, QuantizationScheme::kSymmetric).qmax);
}

}  // namespace

float round_to_bfloat16(float x) {
  if (std::isnan(x)) return x;
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);  // ties to even; overflow carries into infinity
  u &= 0xFFFF0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

float round_to_float16(float x) {
  if (!std::isfinite(x)) return x;
  const float a = std::fabs(x);
  // 65520 is the midpoint between the largest half (65504, odd mantissa) and 2^16.
  if (a >= 65520.0f) return std::copysign(std::numeric_limits<float>::infinity(), x);
  int e = -14;  // smallest normal exponent; below it the quantum is fixed (subnormals)
  if (a >= std::ldexp(1.0f, -14)) {
    int fe = 0;
    std::frexp(a, &fe);
    e = fe - 1;
  }
  const float quantum = std::ldexp(1.0f, e - 10);
  return std::copysign(std::nearbyint(a / quantum) * quantum, x);
}

float round_to_precision(float x, ParamPrecision p) {
  switch (p) {
    case ParamPrecision::kFloat32:
      return x;
    case ParamPrecision::kBFloat16:
      return round_to_bfloat16(x);
    case ParamPrecision::kFloat16:
      return round_to_float16(x);
  }
  return x;
}

void validate_float_range(const FloatRange& range) {
  if (range.min && (std::isnan(*range.min) || *range.min > 0.0f)) {
    throw InvalidArgumentError(fmt::format("float_range min must be <= 0, got {}", *range.min));
  }
  if (range.max && (std::isnan(*range.max) || *range.max < 0.0f)) {
    throw InvalidArgumentError(fmt::format("float_range max must be >= 0, got {}", *range.max));
  }
  if (range.min && range.max && !(*range.min < *range.max)) {
    throw InvalidArgumentError(
        fmt::format("float_range min must be < max, got [{}, {}]", *range.min, *range.max));
  }
}

void validate_qparams_config(const QParamsConfig& c) {
  const auto dtype = dtype_name(c.dtype);
  if (is_float(c.dtype)) {
    if (c.scheme != QuantizationScheme::kSymmetric) {
      throw InvalidArgumentError(fmt::format(
          "FP quantization (dtype={}) requires symmetric quantization scheme, got qscheme={}. "
          "Valid option: 'symmetric'",
          dtype, scheme_name(c.scheme)));
    }
    if (c.formulation != QuantizationFormulation::kZp) {
      throw InvalidArgumentError(fmt::format(
          "FP quantization (dtype={}) requires zero-point quantization formulation, got "
          "qformulation=minval. Valid option: 'zp'",
          dtype));
    }
    if (c.dtype == DType::kFloat4E2M1FNx2 && c.scale_kind != ScaleKind::kE8M0) {
      throw InvalidArgumentError(
          "float4_e2m1fn_x2 uses power-of-two E8M0 scales (scale_dtype float8_e8m0fnu); a float "
          "scale is not supported");
    }
  } else if (c.scale_kind == ScaleKind::kE8M0) {
    throw InvalidArgumentError(fmt::format(
        "scale_dtype must be None for integer dtypes, got scale_dtype=float8_e8m0fnu with "
        "dtype={}",
        dtype));
  }
}

void observed_range(const float* amin, const float* amax, std::size_t n, const FloatRange& range,
                    float* min_val, float* max_val) {
  for (std::size_t i = 0; i < n; ++i) {
    min_val[i] = range.min ? *range.min : nan_min(amin[i], 0.0f);
    max_val[i] = range.max ? *range.max : nan_max(amax[i], 0.0f);
  }
}

void update_running_range(RangeCalculator calculator, float averaging_constant,
                          ParamPrecision precision, bool initialized, const float* new_min,
                          const float* new_max, std::size_t n, float* running_min,
                          float* running_max) {
  if (!initialized || calculator == RangeCalculator::kStatic) {
    for (std::size_t i = 0; i < n; ++i) {
      running_min[i] = new_min[i];
      running_max[i] = new_max[i];
    }
    return;
  }
  if (calculator == RangeCalculator::kGlobalMinMax) {
    for (std::size_t i = 0; i < n; ++i) {
      running_min[i] = nan_min(running_min[i], new_min[i]);
      running_max[i] = nan_max(running_max[i], new_max[i]);
    }
    return;
  }
  // c * new + (1 - c) * running, each tensor op rounded to the working precision. (1 - c)
  // is formed in double and rounded once, as a Python float scalar would be.
  const float c = averaging_constant;
  const auto one_minus_c = static_cast<float>(1.0 - static_cast<double>(averaging_constant));
  auto ema = [&](float nw, float run) {
    const float a = round_to_precision(c * nw, precision);
    const float b = round_to_precision(one_minus_c * run, precision);
    return round_to_precision(a + b, precision);
  };
  for (std::size_t i = 0; i < n; ++i) {
    running_min[i] = ema(new_min[i], running_min[i]);
    running_max[i] = ema(new_max[i], running_max[i]);
  }
}

void choose_qparams(const QParamsConfig& c, const float* min_val, const float* max_val,
                    std::size_t n, float* scale, std::int32_t* zero_point, float* minval,
                    std::uint8_t* scale_code) {
  const ParamPrecision P = c.precision;
  auto rnd = [P](float v) { return round_to_precision(v, P); };
  const float eps = kScaleEpsilon;  // 2^-23 is exact in bf16 and fp16 (subnormal) too
  const QuantRange qr = quant_range(c.dtype, c.scheme);
  const auto qmin = static_cast<float>(qr.qmin);
  const auto qmax = static_cast<float>(qr.qmax);
  for (std::size_t i = 0; i < n; ++i) {
    const float mn = min_val[i];
    const float mx = max_val[i];
    const float min_neg = nan_min(mn, 0.0f);
    const float max_pos = nan_max(mx, 0.0f);
    if (is_float(c.dtype)) {
      if (c.scale_kind == ScaleKind::kE8M0) {
        const float amax = nan_max(std::fabs(mn), std::fabs(mx));
        const std::uint8_t code = e8m0_scale_code(amax, e8m0_element_emax(c.dtype));
        scale[i] = e8m0_to_float(code);
        if (scale_code != nullptr) scale_code[i] = code;
      } else {
        const float amax = nan_max(-min_neg, max_pos);
        scale[i] = clamp_below(rnd(amax / fp_max(c.dtype)), eps);
      }
      continue;
    }
    float s = 0.0f;
    std::int32_t zp = 0;
    float mv = 0.0f;
    if (c.scheme == QuantizationScheme::kAsymmetric) {
      s = clamp_below(rnd(rnd(max_pos - min_neg) / (qmax - qmin)), eps);
      const float r = std::nearbyint(rnd(min_neg / s));
      const float z = qmin - r;
      // A NaN range has no meaningful zero point; 0 (clamped into range) keeps it defined.
      zp = std::isnan(z) ? static_cast<std::int32_t>(std::fmin(std::fmax(0.0f, qmin), qmax))
                         : static_cast<std::int32_t>(z < qmin ? qmin : (z > qmax ? qmax : z));
      mv = min_neg;
    } else {
      const float amax = nan_max(-min_neg, max_pos);
      s = clamp_below(rnd(amax / ((qmax - qmin) / 2.0f)), eps);
      zp = symmetric_zero_point(static_cast<std::int32_t>(qmin), static_cast<std::int32_t>(qmax));
      mv = -nan_max(std::fabs(mn), std::fabs(mx));
    }
    scale[i] = s;
    if (zero_point != nullptr) zero_point[i] = zp;
    if (minval != nullptr) minval[i] = mv;
  }
}

}  // namespace coreai_opt::kernels
