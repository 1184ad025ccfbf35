// QuantizationSpec: how one tensor is quantized. Mirrors
// coreai_opt.quantization.spec of the Python package.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/kernels/blockwise.h"

namespace coreai_opt {
namespace quantization {

using coreai_opt::DType;
using coreai_opt::QuantizationFormulation;
using coreai_opt::QuantizationScheme;

/// Which of the three granularity classes a Granularity is.
enum class GranularityType : std::uint8_t { kPerTensor, kPerChannel, kPerBlock };

/// Granularity of scales and zero points: per tensor, per channel along `axis`, or
/// per block. A per-block granularity has either one `block_size` along `axis`
/// (any dimension, negative counting from the end; the other dims follow the
/// tensor's role, see block_size_for) or one block extent per dimension
/// (`block_sizes`, -1 = the whole dimension; `axis` must be unset).
/// An unset axis on per-channel / single-axis per-block is resolved from the
/// consuming module type at prepare time (weights only).
struct Granularity {
  GranularityType type = GranularityType::kPerTensor;
  std::optional<std::int64_t> axis;
  /// per_block only: one entry (single-axis mode, `block_size_is_list == false`)
  /// or one entry per tensor dimension.
  std::vector<std::int64_t> block_size;
  bool block_size_is_list = false;

  bool operator==(const Granularity& o) const {
    return type == o.type && axis == o.axis && block_size == o.block_size &&
           block_size_is_list == o.block_size_is_list;
  }
  bool operator!=(const Granularity& o) const { return !(*this == o); }
};

/// The role of a quantized tensor (weight or activation); see kernels/blockwise.h.
using kernels::TensorRole;

/// The block extent per dimension of a tensor of `shape` under `g` (reference
/// get_block_size): the one translation from a granularity to the kernels'
/// block list. Single-axis per-block blocks depend on `role` (reference 0.3.0:
/// on [4, 8, 3, 32] with axis -1 and block 16, a weight gets (1, 1, 3, 16) and an
/// activation (1, 1, 1, 16)). BlockSizeMismatchError when a block does not
/// divide its dimension; InvalidArgumentError for an axis out of range or unresolved.
std::vector<std::int64_t> block_size_for(const Granularity& g,
                                         const std::vector<std::int64_t>& shape, TensorRole role);

/// The warning of a point whose blocks do not divide its tensor (reference 0.3.0's
/// text): "Tensor '<what>' (target: CompressionTargetTensor.WEIGHT, shape: (4, 48))
/// incompatible with block size configuration: <error>. Skipping quantization."
std::string block_mismatch_warning(const std::string& what, TensorRole role,
                                   const std::vector<std::int64_t>& shape,
                                   const std::string& error);

/// `PerTensorGranularity()`: one scale for the whole tensor.
inline Granularity PerTensorGranularity() { return Granularity{}; }
/// `PerChannelGranularity(axis)`: one scale per index along `axis` (negative
/// counts from the end; unset = default of the consuming module).
inline Granularity PerChannelGranularity(std::optional<std::int64_t> axis = std::nullopt) {
  return Granularity{GranularityType::kPerChannel, axis, {}, false};
}
/// `PerBlockGranularity(block_size, axis)`: blocks of `block_size` along `axis`.
inline Granularity PerBlockGranularity(std::int64_t block_size,
                                       std::optional<std::int64_t> axis = std::nullopt) {
  return Granularity{GranularityType::kPerBlock, axis, {block_size}, false};
}
/// `PerBlockGranularity(block_size=[b0, b1, ...])`: one block extent per dimension.
inline Granularity PerBlockGranularity(std::vector<std::int64_t> block_sizes) {
  return Granularity{GranularityType::kPerBlock, std::nullopt, std::move(block_sizes), true};
}

/// Algorithm computing scales from observed ranges. `kDefault` resolves by tensor
/// role: static for weights, moving average for activations.
/// kDynamic (0.3.0, activations only) is stateless: qparams from the current tensor on
/// every forward, nothing stored, the observer always on.
enum class QParamCalculator : std::uint8_t {
  kDefault,
  kStatic,
  kMovingAverage,
  kGlobalMinMax,
  kDynamic
};
/// How the range of a block is observed (only min/max exists).
enum class RangeCalculator : std::uint8_t { kMinMax };
/// The fake-quantize implementation (only the default exists).
enum class FakeQuantizeClass : std::uint8_t { kDefault };
/// Dtype of scales other than plain float: E8M0 power-of-two scales (MX).
enum class ScaleDType : std::uint8_t { kFloat8E8M0FNU };

/// Registry names (`"static"`, `"moving_average"`, ...), as in the Python package.
std::string_view to_string(QParamCalculator v);
std::string_view to_string(RangeCalculator v);
std::string_view to_string(FakeQuantizeClass v);
std::string_view to_string(ScaleDType v);
std::string_view to_string(QuantizationScheme v);
std::string_view to_string(QuantizationFormulation v);
std::string_view to_string(GranularityType v);

/// How one tensor is quantized. A plain value type: fields may be set freely;
/// `validate()` (called whenever a spec enters a config) checks the reference's
/// rules and fills the automatic scale dtype of fp4.
struct QuantizationSpec {
  DType dtype = DType::kInt8;
  QuantizationScheme qscheme = QuantizationScheme::kSymmetric;
  QuantizationFormulation qformulation = QuantizationFormulation::kZp;
  Granularity granularity = PerTensorGranularity();
  FakeQuantizeClass fake_quantize_cls = FakeQuantizeClass::kDefault;
  QParamCalculator qparam_calculator_cls = QParamCalculator::kDefault;
  RangeCalculator range_calculator_cls = RangeCalculator::kMinMax;
  /// Fixed [min, max] replacing the observed bound where set; min <= 0 <= max.
  std::array<std::optional<double>, 2> float_range{};
  /// Unset = automatic: E8M0 for fp4, plain float otherwise.
  std::optional<ScaleDType> scale_dtype;
  /// Weight of a new observation in the moving-average calculator (0 < c <= 1).
  /// An addition of this port: the reference hard-codes 0.01.
  double averaging_constant = 0.01;

  QuantizationSpec() = default;
  /// Shorthand for the most common fields.
  explicit QuantizationSpec(DType dtype_, Granularity granularity_ = PerTensorGranularity(),
                            QuantizationScheme qscheme_ = QuantizationScheme::kSymmetric)
      : dtype(dtype_), qscheme(qscheme_), granularity(std::move(granularity_)) {}

  /// Checks every rule of the reference and returns the spec with its automatic
  /// fields filled (fp4 scale dtype). Throws ConfigError whose path is `path`
  /// joined with the offending field.
  QuantizationSpec validated(const std::string& path = "") const;

  /// Bit width of one element.
  int n_bits() const { return coreai_opt::n_bits(dtype); }
  /// Storage dtype of quantize() (`int8`, `uint8`, `float8_e4m3fn`, `float8_e5m2`).
  std::string_view target_dtype() const { return target_dtype_name(dtype); }
  double quant_min() const { return quant_range(dtype, qscheme).qmin; }
  double quant_max() const { return quant_range(dtype, qscheme).qmax; }
  /// The scale dtype in force (fp4 without an explicit one gets E8M0).
  std::optional<ScaleDType> effective_scale_dtype() const {
    if (!scale_dtype && dtype == DType::kFloat4E2M1FNx2) return ScaleDType::kFloat8E8M0FNU;
    return scale_dtype;
  }

  bool operator==(const QuantizationSpec& o) const;
  bool operator!=(const QuantizationSpec& o) const { return !(*this == o); }
};

/// int8, symmetric, per-channel along axis 0, static qparams: the default for weights.
QuantizationSpec default_weight_quantization_spec();
/// int8, symmetric, per-tensor, moving-average qparams: the default for activations.
QuantizationSpec default_activation_quantization_spec();

}  // namespace quantization
}  // namespace coreai_opt
