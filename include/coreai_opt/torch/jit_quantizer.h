// Graph mode: quantization of TorchScript modules (torch::jit::load) from C++.
//
//   torch::jit::Module model = torch::jit::load("model.pt");
//   JitQuantizer q(model, QuantizerConfig::from_yaml("config.yaml"));
//   q.plan().format_table();                       // what will be quantized, and why
//   torch::jit::Module prepared = q.prepare({example_input});
//   { auto calib = q.calibration_mode(); for (...) prepared.forward({batch}); }
//   { auto train = q.training_mode(); ... optimizer.step(); q.step(); }
//   torch::jit::Module final_model = q.finalize();
//   final_model.save("quantized.pt");             // loads where coreai_opt::torch is linked
//
// docs/graph_mode.md describes op discovery, the patterns and the state layout.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <memory>
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

/// One tensor that a rule quantizes (or explicitly leaves unquantized).
struct GraphPlanPoint {
  PointKind kind = PointKind::kOpInput;
  std::optional<std::string> op_name;  ///< unset for module points
  std::optional<std::string> op_type;
  std::string module;       ///< canonical module path (`""` for the root)
  std::string module_type;  ///< Python fully-qualified name
  /// The input index, the output index or the state name.
  std::string tensor;
  /// The spec applied (axes resolved); nullopt: a rule said "not quantized".
  std::optional<QuantizationSpec> spec;
  /// The deciding config entries (`module_name_configs["enc\..*"] > op_type_config["linear"]`).
  std::string rule;
  /// The fake-quant serving the point; points that share one name the same.
  /// Empty when nothing is inserted (null spec, or a block size that does not divide).
  std::string fake_quant;
};

/// Every quantization point of a model under a config.
struct GraphPlan {
  std::vector<GraphPlanPoint> points;
  std::vector<std::string> warnings;

  /// `{"execution_mode": "graph", "points": [...], "warnings": [...]}`; a point is
  /// `{"kind", "op_name", "op_type", "module", "module_type", "tensor", "spec",
  /// "rule", "fake_quant"}` with the spec as canonical JSON (or null).
  std::string to_json(int indent = 2) const;
  /// A readable table, one line per point, then the warnings.
  std::string format_table() const;
};

/// Quantizer of a TorchScript module (graph mode, reference §7).
class JitQuantizer {
 public:
  /// Validates the config (ConfigError) and the graph-mode key restrictions of
  /// reference §3.5 (UnsupportedError). The model is not modified: prepare()
  /// works on a clone. Throws InvalidArgumentError for an eager-mode config.
  explicit JitQuantizer(torch::jit::Module module, QuantizerConfig config = QuantizerConfig());
  ~JitQuantizer();
  JitQuantizer(JitQuantizer&&) noexcept;
  JitQuantizer& operator=(JitQuantizer&&) noexcept;

  /// The quantization points prepare() would create, without modifying anything.
  /// With example inputs, tensors that are not floating point are left out and
  /// activation shapes are checked against block sizes.
  GraphPlan plan(const std::vector<c10::IValue>& example_inputs = {}) const;

  /// Clones the model, inserts the fake-quant calls into its inlined forward
  /// graph, runs `example_inputs` once (eval, no grad, observers on) to set every
  /// scale, then turns observers off and fake quantization on. Returns the
  /// prepared module (also prepared_module()). With no example inputs, a config
  /// that quantizes only weights is prepared from the weight values alone.
  /// Errors: already prepared (Error), no example inputs while activations are
  /// quantized (InvalidArgumentError), the reference's config errors (state
  /// index in op_input_spec: Error; axes: InvalidArgumentError).
  torch::jit::Module prepare(const std::vector<c10::IValue>& example_inputs);
  bool is_prepared() const;
  /// The prepared module; throws Error before prepare().
  torch::jit::Module prepared_module() const;
  /// The plan prepare() followed (empty before prepare()).
  const GraphPlan& prepared_plan() const;

  /// RAII scope of calibration_mode() / training_mode().
  class ModeGuard {
   public:
    ModeGuard(ModeGuard&& o) noexcept;
    ModeGuard& operator=(ModeGuard&&) = delete;
    ModeGuard(const ModeGuard&) = delete;
    ModeGuard& operator=(const ModeGuard&) = delete;
    ~ModeGuard();

   private:
    friend class JitQuantizer;
    ModeGuard(JitQuantizer* q, bool training, bool was_training);
    JitQuantizer* q_;
    bool training_;
    bool was_training_;
  };
  /// Eval mode, every observer on, weight fake quantization on (activation
  /// observers see quantized weights), activation fake quantization off; on
  /// exit observers off, fake quantization on everywhere, the training flag
  /// restored. Error before prepare().
  [[nodiscard]] ModeGuard calibration_mode();
  /// Train mode, observers and fake quantization on, then the qat_schedule state
  /// at the current step; on exit observers off, fake quantization on, the
  /// training flag restored. Error before prepare() and when nested.
  [[nodiscard]] ModeGuard training_mode();
  /// Advances the QAT step (never reset) and applies the schedule; only inside
  /// training_mode() (Error). Without any qat_schedule: a warning, no change.
  void step();
  std::int64_t step_count() const;

  /// Switch the observers / fake quantization of the whole model, or of the
  /// fake-quants of module `module` and its descendants. Error when a
  /// qat_schedule is configured or before prepare(); InvalidArgumentError for a
  /// module that is not in the model.
  void enable_observer(const std::optional<std::string>& module = std::nullopt);
  void disable_observer(const std::optional<std::string>& module = std::nullopt);
  void enable_fake_quant(const std::optional<std::string>& module = std::nullopt);
  void disable_fake_quant(const std::optional<std::string>& module = std::nullopt);

  /// State of one inserted fake-quant.
  struct FakeQuantState {
    std::string name;    ///< as in GraphPlanPoint::fake_quant
    std::string module;  ///< module that owns it (first consumer, else producer)
    bool weight = false;
    QuantizationSpec spec;
    std::optional<QATSchedule> schedule;
    bool observer_enabled = false;
    bool fake_quant_enabled = false;
    bool disabled = false;  ///< block size did not divide at run time
    at::Tensor scale, zero_point, minval;
  };
  /// Every fake-quant of the prepared model (empty before prepare()).
  std::vector<FakeQuantState> fake_quants() const;

  /// A new module from the prepared one: conv/linear + batch norm folded, every
  /// quantized weight stored as codes (int8, packed int4/uint4, fp8, packed fp4)
  /// plus its scale / zero point / minval buffers and dequantized by
  /// coreai_opt::dequantize at run time; activation fake-quants frozen
  /// (observers off). The prepared module stays usable. Error before prepare().
  torch::jit::Module finalize();

  /// Bytes of the parameters and buffers of the module given to the constructor
  /// and of the last finalize() result (0 before).
  std::int64_t parameter_bytes_before() const;
  std::int64_t parameter_bytes_after() const;
  /// Bytes of the parameters and buffers of the prepared module (float weights
  /// plus the fake-quant state); 0 before prepare().
  std::int64_t parameter_bytes_prepared() const;

  /// Names of the ops that start a supported pattern (reference §7.5).
  static std::vector<std::string> get_compressible_op_names(const torch::jit::Module& module);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantization
}  // namespace coreai_opt
