// Quantization parameters from observed ranges (reference §1.8, §2.2 - §2.5).
//
// Torch-free: everything works on float arrays with one entry per block (see
// blockwise.h for the block layout). The torch layer feeds these from per-block
// amin/amax reductions and keeps the results in tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "coreai_opt/format/dtype.h"

namespace coreai_opt::kernels {

/// Float scale (amax / denominator) or power-of-two E8M0 scale (MX rule, e8m0.h).
enum class ScaleKind : std::uint8_t { kFloat, kE8M0 };

/// Arithmetic precision of the qparam math. The reference computes qparams in the input's
/// dtype, so bf16/fp16 inputs round every intermediate result to that type.
enum class ParamPrecision : std::uint8_t { kFloat32, kBFloat16, kFloat16 };

/// How running ranges evolve over calls (reference §2.3).
enum class RangeCalculator : std::uint8_t {
  kStatic,         ///< the current tensor only
  kMovingAverage,  ///< running = c * new + (1 - c) * running
  kGlobalMinMax,   ///< running_min = min(running_min, new), running_max likewise
};

/// Default moving-average constant of the reference.
inline constexpr float kDefaultAveragingConstant = 0.01f;

/// Scale floor of the float-scale rule: float32 machine epsilon, 2^-23.
inline constexpr float kScaleEpsilon = 1.1920928955078125e-07f;

/// Everything that determines qparams besides the observed range.
struct QParamsConfig {
  DType dtype = DType::kInt8;
  QuantizationScheme scheme = QuantizationScheme::kSymmetric;
  QuantizationFormulation formulation = QuantizationFormulation::kZp;
  /// fp4 requires kE8M0; integer dtypes require kFloat.
  ScaleKind scale_kind = ScaleKind::kFloat;
  ParamPrecision precision = ParamPrecision::kFloat32;
};

/// Optional replacements of the observed bounds (reference §1.6). A set bound replaces the
/// observed one for every block.
struct FloatRange {
  std::optional<float> min;
  std::optional<float> max;
};

/// Checks a FloatRange against the reference's rules (min <= 0 <= max, min < max when both
/// are set). Throws InvalidArgumentError with the offending values.
void validate_float_range(const FloatRange& range);

/// The reference 0.3.0's refusal of E8M0 scales for `dtype`, a dtype without an E8M0
/// target exponent (every integer dtype).
std::string e8m0_scale_error(DType dtype);

/// Checks a config (fp dtypes: symmetric + zp; fp4: E8M0; ints: float scale). Throws
/// InvalidArgumentError / UnsupportedError with the reference's wording.
void validate_qparams_config(const QParamsConfig& config);

/// x rounded to bfloat16 (nearest, ties to even), returned as float. NaN stays NaN.
float round_to_bfloat16(float x);
/// x rounded to IEEE half (nearest, ties to even; overflow to infinity), as float.
float round_to_float16(float x);
/// x rounded to `p` (identity for kFloat32).
float round_to_precision(float x, ParamPrecision p);

/// Observed range per block (reference §2.2): min_val = float_range.min or min(amin, 0),
/// max_val = float_range.max or max(amax, 0). NaN observations stay NaN. `amin`/`amax`
/// may be null when the matching float_range bound is set.
void observed_range(const float* amin, const float* amax, std::size_t n, const FloatRange& range,
                    float* min_val, float* max_val);

/// Running-range update of a calculator. When `initialized` is false (first call) or the
/// calculator is kStatic the running range becomes the new one. Moving average rounds
/// every operation to `precision` (as tensor ops in that dtype would).
void update_running_range(RangeCalculator calculator, float averaging_constant,
                          ParamPrecision precision, bool initialized, const float* new_min,
                          const float* new_max, std::size_t n, float* running_min,
                          float* running_max);

/// Scale, zero point and minval per block from min_val <= 0 <= max_val (reference §1.8,
/// §2.4, §2.5). `zero_point` and `minval` may be null; for fp dtypes they are left
/// untouched (fp has neither). For kE8M0 `scale_code` (may be null) receives the E8M0
/// codes. Never throws; call validate_qparams_config first.
void choose_qparams(const QParamsConfig& config, const float* min_val, const float* max_val,
                    std::size_t n, float* scale, std::int32_t* zero_point, float* minval,
                    std::uint8_t* scale_code = nullptr);

/// One observer step over n parameters (the parameter shape of a blockwise view): the
/// observed bounds of each block, rounded to `precision` (the observed tensor's dtype)
/// like the float_range bounds that replace them; the running-range update of
/// `calculator`; and, when `qparams` is set, the qparams of the new running range
/// (choose_qparams). The CUDA kernels run the same step on device memory
/// (cuda::observe_step).
struct ObserveStep {
  RangeCalculator calculator = RangeCalculator::kMovingAverage;
  float averaging_constant = kDefaultAveragingConstant;
  FloatRange range;
  ParamPrecision precision = ParamPrecision::kFloat32;
  std::optional<QParamsConfig> qparams;  ///< validated (validate_qparams_config)
};

/// Runs `step` on host arrays: amin / amax are the blocks' minima and maxima (either may
/// be null when its float_range bound is set); running_min / running_max are read when
/// `initialized` and always written. With step.qparams, scale is written, and for integer
/// dtypes zero_point and minval too (fp dtypes leave them untouched; any may be null then).
/// Equal to observed_range, round_to_precision, update_running_range and choose_qparams
/// applied in turn.
void observe_step(const ObserveStep& step, bool initialized, const float* amin, const float* amax,
                  std::size_t n, float* running_min, float* running_max, float* scale,
                  std::int32_t* zero_point, float* minval);

}  // namespace coreai_opt::kernels
