#include "coreai_opt/quantization/spec.h"

#include <string>

#include "config/path.h"
#include "coreai_opt/errors.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/qparams.h"

namespace coreai_opt {
namespace quantization {

std::vector<std::int64_t> block_size_for(const Granularity& g,
                                         const std::vector<std::int64_t>& shape, TensorRole role) {
  switch (g.type) {
    case GranularityType::kPerTensor:
      return kernels::per_tensor_block_size(shape);
    case GranularityType::kPerChannel:
      return kernels::per_channel_block_size(shape, g.axis);
    case GranularityType::kPerBlock:
      if (g.block_size_is_list) return kernels::per_block_block_size(shape, g.block_size);
      return kernels::per_block_block_size(shape, g.block_size.at(0), g.axis, role);
  }
  return kernels::per_tensor_block_size(shape);
}

std::string block_mismatch_warning(const std::string& what, TensorRole role,
                                   const std::vector<std::int64_t>& shape,
                                   const std::string& error) {
  std::string dims;  // Python's tuple: (4, 48), (7,), ()
  for (std::size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  return "Tensor '" + what + "' (target: CompressionTargetTensor." +
         (role == TensorRole::kWeight ? "WEIGHT" : "ACTIVATION") + ", shape: (" + dims +
         ")) incompatible with block size configuration: " + error + ". Skipping quantization.";
}

using detail::format_number;
using detail::path_field;

std::string_view to_string(QParamCalculator v) {
  switch (v) {
    case QParamCalculator::kDefault: return "default";
    case QParamCalculator::kStatic: return "static";
    case QParamCalculator::kMovingAverage: return "moving_average";
    case QParamCalculator::kGlobalMinMax: return "global_minmax";
    case QParamCalculator::kDynamic:
      return "dynamic";
  }
  return "?";
}
std::string_view to_string(RangeCalculator) { return "minmax"; }
std::string_view to_string(FakeQuantizeClass) { return "default"; }
std::string_view to_string(ScaleDType) { return "float8_e8m0fnu"; }
std::string_view to_string(QuantizationScheme v) { return scheme_name(v); }
std::string_view to_string(QuantizationFormulation v) { return formulation_name(v); }
std::string_view to_string(GranularityType v) {
  switch (v) {
    case GranularityType::kPerTensor: return "per_tensor";
    case GranularityType::kPerChannel: return "per_channel";
    case GranularityType::kPerBlock: return "per_block";
  }
  return "?";
}

namespace {

void validate_granularity(const Granularity& g, const std::string& path) {
  const std::string axis_path = path_field(path, "axis");
  const std::string bs_path = path_field(path, "block_size");
  switch (g.type) {
    case GranularityType::kPerTensor:
      if (g.axis) {
        throw ConfigError(axis_path, "per_tensor granularity has no axis, got " +
                                         std::to_string(*g.axis) + "; allowed: null");
      }
      if (!g.block_size.empty()) {
        throw ConfigError(bs_path, "per_tensor granularity has no block_size");
      }
      return;
    case GranularityType::kPerChannel:
      if (!g.block_size.empty()) {
        throw ConfigError(bs_path, "per_channel granularity has no block_size");
      }
      return;
    case GranularityType::kPerBlock:
      break;
  }
  if (g.block_size.empty()) {
    throw ConfigError(bs_path, "per_block granularity needs a block_size (an int > 0, or a list "
                               "of ints > 0 or -1, one per dimension)");
  }
  if (!g.block_size_is_list) {
    if (g.block_size.size() != 1) {
      throw ConfigError(bs_path, "single-axis block_size must have exactly one value");
    }
    if (g.block_size[0] <= 0) {
      throw ConfigError(bs_path, "block_size must be > 0, got " + std::to_string(g.block_size[0]));
    }
    return;  // any axis (reference 0.3.0); its range is checked against the tensor
  }
  if (g.axis) {
    throw ConfigError(axis_path, "axis must be null when block_size is a list, got " +
                                     std::to_string(*g.axis));
  }
  for (std::size_t i = 0; i < g.block_size.size(); ++i) {
    const std::int64_t b = g.block_size[i];
    if (b <= 0 && b != -1) {
      throw ConfigError(detail::path_index(bs_path, static_cast<std::int64_t>(i)),
                        "block_size entries must be > 0 or -1 (whole dimension), got " +
                            std::to_string(b));
    }
  }
}

}  // namespace

QuantizationSpec QuantizationSpec::validated(const std::string& path) const {
  QuantizationSpec out = *this;
  const std::string dtype_name_str(dtype_name(dtype));
  if (is_float(dtype)) {
    if (qscheme != QuantizationScheme::kSymmetric) {
      throw ConfigError(path_field(path, "qscheme"),
                        "FP quantization (dtype=" + dtype_name_str +
                            ") requires symmetric quantization scheme, got qscheme=" +
                            std::string(to_string(qscheme)) + ". Valid option: 'symmetric'");
    }
    if (qformulation != QuantizationFormulation::kZp) {
      throw ConfigError(path_field(path, "qformulation"),
                        "FP quantization (dtype=" + dtype_name_str +
                            ") requires zero-point quantization formulation, got qformulation=" +
                            std::string(to_string(qformulation)) + ". Valid option: 'zp'");
    }
  } else if (scale_dtype) {
    throw ConfigError(path_field(path, "scale_dtype"), kernels::e8m0_scale_error(dtype));
  }
  out.scale_dtype = effective_scale_dtype();
  if (qparam_calculator_cls == QParamCalculator::kDynamic &&
      qscheme == QuantizationScheme::kSymmetricWithClipping) {
    throw ConfigError(path_field(path, "qscheme"),
                      "SYMMETRIC_WITH_CLIPPING is not supported with a dynamic "
                      "qparam_calculator_cls. Use qscheme=SYMMETRIC or ASYMMETRIC.");
  }

  const auto& lo = float_range[0];
  const auto& hi = float_range[1];
  const std::string fr_path = path_field(path, "float_range");
  if (lo && *lo > 0.0) {
    throw ConfigError(fr_path, "float_range min must be <= 0 (the range always contains 0), got " +
                                   format_number(*lo));
  }
  if (hi && *hi < 0.0) {
    throw ConfigError(fr_path, "float_range max must be >= 0 (the range always contains 0), got " +
                                   format_number(*hi));
  }
  if (lo && hi && !(*lo < *hi)) {
    throw ConfigError(fr_path, "float_range min must be < max, got [" + format_number(*lo) +
                                   ", " + format_number(*hi) + "]");
  }
  if (!(averaging_constant > 0.0 && averaging_constant <= 1.0)) {
    throw ConfigError(path_field(path, "averaging_constant"),
                      "averaging_constant must be in (0, 1], got " +
                          format_number(averaging_constant));
  }
  validate_granularity(granularity, path_field(path, "granularity"));
  return out;
}

bool QuantizationSpec::operator==(const QuantizationSpec& o) const {
  return dtype == o.dtype && qscheme == o.qscheme && qformulation == o.qformulation &&
         granularity == o.granularity && fake_quantize_cls == o.fake_quantize_cls &&
         qparam_calculator_cls == o.qparam_calculator_cls &&
         range_calculator_cls == o.range_calculator_cls && float_range == o.float_range &&
         effective_scale_dtype() == o.effective_scale_dtype() &&
         averaging_constant == o.averaging_constant;
}

QuantizationSpec default_weight_quantization_spec() {
  QuantizationSpec s(DType::kInt8, PerChannelGranularity(0));
  s.qparam_calculator_cls = QParamCalculator::kStatic;
  return s;
}

QuantizationSpec default_activation_quantization_spec() {
  QuantizationSpec s(DType::kInt8, PerTensorGranularity());
  s.qparam_calculator_cls = QParamCalculator::kMovingAverage;
  return s;
}

}  // namespace quantization
}  // namespace coreai_opt
