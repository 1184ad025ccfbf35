// The plan vocabulary shared by both execution modes: which tensors a config
// quantizes in a model, with which spec and why. Torch-free: the eager and the
// graph quantizer fill the same types, and `coreai-opt plan --json` writes them
// with one schema (docs/graph_mode.md, "The plan").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace quantization {

/// Where a quantization point sits.
enum class PointKind : std::uint8_t {
  kOpInput,
  kOpOutput,
  kOpState,
  kModuleInput,
  kModuleOutput,
  kModuleState
};
/// `op_input`, `op_output`, `op_state`, `module_input`, `module_output`, `module_state`.
std::string_view to_string(PointKind kind);
/// True for op_state and module_state (a weight or another stored tensor).
inline bool is_state(PointKind kind) {
  return kind == PointKind::kOpState || kind == PointKind::kModuleState;
}

/// One tensor that a rule quantizes, or explicitly declines to quantize.
struct PlanPoint {
  PointKind kind = PointKind::kOpInput;
  std::optional<std::string> op_name;  ///< unset for module points
  std::optional<std::string> op_type;
  std::string module;       ///< canonical module path (`""` for the root)
  std::string module_type;  ///< Python fully-qualified name, or the C++ type key
  /// The input index, the output index or the state name (`"0"`, `"weight"`).
  std::string tensor;
  /// The spec applied (axes resolved); nullopt: a rule declined (`{key: null}`).
  std::optional<QuantizationSpec> spec;
  /// The deciding config entries (`module_name_configs["enc\..*"] > op_type_config["linear"]`).
  std::string rule;
  /// The fake-quant serving the point; points that share one name the same.
  /// Empty when nothing is inserted (declined).
  std::string fake_quant;

  /// True when a rule declined the point (spec is nullopt).
  bool declined() const { return !spec.has_value(); }
};

/// A tensor the config asks to quantize that prepare cannot (or did not) reach,
/// with the reason and, where there is one, the fix.
struct SkippedPoint {
  PointKind kind = PointKind::kOpInput;
  std::string module;
  std::string module_type;
  std::string tensor;
  std::string rule;
  std::string reason;
  /// `fc1 (torch.nn.modules.linear.Linear) op_input 0 [rule]: reason`.
  std::string to_string() const;
};

/// Every quantization point of a model under a config.
struct QuantizationPlan {
  ExecutionMode execution_mode = ExecutionMode::kGraph;
  std::vector<PlanPoint> points;
  /// Requested points left unquantized (also summarised in `warnings`).
  std::vector<SkippedPoint> skipped;
  /// Config keys matching nothing, skipped points, and other notes.
  std::vector<std::string> warnings;

  /// `{"execution_mode", "points": [...], "skipped": [...], "warnings": [...]}`.
  /// A point is `{"kind", "op_name", "op_type", "module", "module_type",
  /// "tensor", "spec", "rule", "fake_quant"}` with the spec as canonical JSON,
  /// or null when declined; `fake_quant` is null when nothing is inserted. A
  /// skipped point is `{"kind", "module", "module_type", "tensor", "rule", "reason"}`.
  std::string to_json(int indent = 2) const;
  /// A readable table, one line per point (declined points say `declined`),
  /// then the skipped points and the warnings.
  std::string format_table() const;
};

/// One line describing a spec: `int4 per_block(32, axis=1) symmetric`.
std::string spec_summary(const QuantizationSpec& spec);
/// The granularity part of spec_summary: `per_channel(axis=0)`.
std::string granularity_summary(const Granularity& granularity);

/// Bytes a tensor of `numel` elements takes stored under `spec` with
/// `n_params` quantization parameter groups: codes at the dtype's width, plus
/// scales (4 bytes, 1 for E8M0), zero points of asymmetric ZP specs at the code
/// width and minvals (4 bytes) of MINVAL specs.
std::int64_t quantized_bytes(const QuantizationSpec& spec, std::int64_t numel,
                             std::int64_t n_params);

/// The outcome of finalize(): every quantized weight and the state bytes.
struct FinalizeReport {
  struct Weight {
    std::string name;   ///< `fc1.weight`
    std::string dtype;  ///< `int8`, `float4_e2m1fn_x2`, ...
    std::int64_t numel = 0;
    /// Bytes of the float tensor.
    std::int64_t float_bytes = 0;
    /// Bytes stored quantized (quantized_bytes()).
    std::int64_t quantized_bytes = 0;
  };
  std::vector<Weight> weights;
  /// Bytes of the parameters and buffers of the model given to the Quantizer.
  std::int64_t parameter_bytes_before = 0;
  /// Bytes of the parameters and buffers of the finalized model, with its
  /// quantized weights counted as stored (codes and qparams).
  std::int64_t parameter_bytes_after = 0;
  /// A table of the weights and the totals.
  std::string format() const;
};

}  // namespace quantization
}  // namespace coreai_opt
