// Quantization parameters from observed ranges (kernels/qparams.h).
#include "coreai_opt/kernels/qparams.h"

#include <fmt/format.h>

#include <cmath>

#include "coreai_opt/errors.h"
#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/format/int.h"
#include "qparams-inl.h"

namespace coreai_opt::kernels {
namespace {

float fp_max(DType d) {
  return static_cast<float>(quant_range(d, QuantizationScheme::kSymmetric).qmax);
}

}  // namespace

float round_to_bfloat16(float x) { return detail::round_bfloat16(x); }
float round_to_float16(float x) { return detail::round_float16(x); }
float round_to_precision(float x, ParamPrecision p) { return detail::round_to(x, p); }

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
    throw InvalidArgumentError(e8m0_scale_error(c.dtype));
  }
}

std::string e8m0_scale_error(DType dtype) {
  return fmt::format(
      "scale_dtype must be None for dtype={}, got scale_dtype=float8_e8m0fnu. No e8m0 target "
      "exponent is defined for it; supported dtypes are [float4_e2m1fn_x2, float8_e4m3fn, "
      "float8_e5m2].",
      dtype_name(dtype));
}

void observed_range(const float* amin, const float* amax, std::size_t n, const FloatRange& range,
                    float* min_val, float* max_val) {
  for (std::size_t i = 0; i < n; ++i) {
    min_val[i] = range.min ? *range.min : detail::nan_min(amin[i], 0.0f);
    max_val[i] = range.max ? *range.max : detail::nan_max(amax[i], 0.0f);
  }
}

void update_running_range(RangeCalculator calculator, float averaging_constant,
                          ParamPrecision precision, bool initialized, const float* new_min,
                          const float* new_max, std::size_t n, float* running_min,
                          float* running_max) {
  const detail::ObserveConstants k = detail::observe_constants(
      ObserveStep{calculator, averaging_constant, FloatRange{}, precision, std::nullopt});
  for (std::size_t i = 0; i < n; ++i) {
    detail::update_one(k, initialized, new_min[i], new_max[i], running_min[i], running_max[i]);
  }
}

void choose_qparams(const QParamsConfig& c, const float* min_val, const float* max_val,
                    std::size_t n, float* scale, std::int32_t* zero_point, float* minval,
                    std::uint8_t* scale_code) {
  const detail::QParamsConstants k = detail::qparams_constants(c);
  for (std::size_t i = 0; i < n; ++i) {
    std::int32_t zp = zero_point != nullptr ? zero_point[i] : 0;
    float mv = minval != nullptr ? minval[i] : 0.0f;
    std::uint8_t code = 0;
    detail::choose_one(k, min_val[i], max_val[i], scale[i], zp, mv, code);
    if (zero_point != nullptr) zero_point[i] = zp;
    if (minval != nullptr) minval[i] = mv;
    if (scale_code != nullptr && k.e8m0) scale_code[i] = code;
  }
}

void observe_step(const ObserveStep& step, bool initialized, const float* amin, const float* amax,
                  std::size_t n, float* running_min, float* running_max, float* scale,
                  std::int32_t* zero_point, float* minval) {
  const detail::ObserveConstants k = detail::observe_constants(step);
  std::int32_t zp = 0;
  float mv = 0.0f, s = 0.0f;
  std::uint8_t code = 0;
  for (std::size_t i = 0; i < n; ++i) {
    detail::observe_one(k, initialized, amin != nullptr ? amin[i] : 0.0f,
                        amax != nullptr ? amax[i] : 0.0f, running_min[i], running_max[i], s, zp, mv,
                        code);
    if (!k.choose) continue;
    scale[i] = s;
    if (!k.qparams.is_float) {
      zero_point[i] = zp;
      minval[i] = mv;
    }
  }
}

namespace detail {

QParamsConstants qparams_constants(const QParamsConfig& c) {
  QParamsConstants k;
  const QuantRange qr = quant_range(c.dtype, c.scheme);
  k.precision = c.precision;
  k.is_float = is_float(c.dtype);
  k.e8m0 = k.is_float && c.scale_kind == ScaleKind::kE8M0;
  k.asymmetric = c.scheme == QuantizationScheme::kAsymmetric;
  k.element_emax = e8m0_element_emax(c.dtype);
  k.fp_max = k.is_float ? fp_max(c.dtype) : 0.0f;
  k.qmin = static_cast<float>(qr.qmin);
  k.qmax = static_cast<float>(qr.qmax);
  k.symmetric_zp =
      symmetric_zero_point(static_cast<std::int32_t>(qr.qmin), static_cast<std::int32_t>(qr.qmax));
  k.nan_zp = static_cast<std::int32_t>(std::fmin(std::fmax(0.0f, k.qmin), k.qmax));
  return k;
}

ObserveConstants observe_constants(const ObserveStep& s) {
  ObserveConstants k;
  k.calculator = s.calculator;
  k.averaging_constant = s.averaging_constant;
  // 1 - c is formed in double and rounded once, as a Python float scalar would be.
  k.one_minus_c = static_cast<float>(1.0 - static_cast<double>(s.averaging_constant));
  k.precision = s.precision;
  k.has_range_min = s.range.min.has_value();
  k.has_range_max = s.range.max.has_value();
  // A float_range bound is a tensor in the observed dtype, as the observed ones are.
  if (s.range.min) k.range_min = round_to(*s.range.min, s.precision);
  if (s.range.max) k.range_max = round_to(*s.range.max, s.precision);
  k.choose = s.qparams.has_value();
  if (k.choose) k.qparams = qparams_constants(*s.qparams);
  return k;
}

}  // namespace detail

}  // namespace coreai_opt::kernels
