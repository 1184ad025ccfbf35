// The eager-mode Quantizer: quantizes a torch::nn::Module model (LibTorch C++
// frontend) in place, inside the application's own training code.
//
//   auto model = std::make_shared<Net>();
//   Quantizer q(model, QuantizerConfig::from_yaml("w8a8.yaml"));  // execution_mode: eager
//   q.prepare([&] { model->forward(example); });
//   { auto calib = q.calibration_mode(); for (...) model->forward(batch); }   // PTQ
//   torch::optim::SGD opt(model->parameters(), 0.01);   // build it after prepare()
//   { auto train = q.training_mode();
//     for (...) { opt.zero_grad(); loss(model->forward(x)).backward(); opt.step(); q.step(); } }
//   auto report = q.finalize();
//
// Weights of Linear, Conv*, ConvTranspose*, Embedding (and of user modules when
// the spec needs no default axis) are fake-quantized for every module type;
// activations only where the model uses coreai_opt::nn drop-ins, stubs or
// functional helpers (coreai_opt/torch/nn.h). What a config asks for and eager
// mode cannot reach is reported by prepare() and plan(). docs/eager_mode.md
// explains the design and its limits.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace quantization {

/// One quantization point of a plan: the shape shared by the eager and graph
/// plans (`{"kind", "op_name", "op_type", "module", "module_type", "tensor",
/// "spec", "rule"}`).
struct PlanPoint {
  /// `op_input`, `op_output`, `op_state`, `module_input`, `module_output`, `module_state`.
  std::string kind;
  std::optional<std::string> op_name;
  std::optional<std::string> op_type;
  /// Canonical module path (`""` is the root) and its type key.
  std::string module;
  std::string module_type;
  /// Input or output index (`"0"`), or the state's local name (`"weight"`).
  std::string tensor;
  /// nullopt when a rule explicitly disabled the point (`{key: null}`).
  std::optional<QuantizationSpec> spec;
  /// The provenance: `module_name_configs["enc"] > op_type_config["linear"]`.
  std::string rule;
};

/// A tensor the config asks to quantize that eager mode cannot reach (or that
/// prepare left alone), with the reason and the fix.
struct SkippedPoint {
  std::string kind;
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
  ExecutionMode execution_mode = ExecutionMode::kEager;
  std::vector<PlanPoint> points;
  /// What eager mode cannot reach (also listed in `warnings`).
  std::vector<SkippedPoint> skipped;
  /// Config keys matching nothing, skipped points, and other notes.
  std::vector<std::string> warnings;

  /// `{"execution_mode": "eager", "points": [...], "warnings": [...]}`, specs
  /// in canonical JSON (spec_to_json).
  std::string to_json(int indent = 2) const;
  /// A readable table, one point per line, then the warnings.
  std::string format_table() const;
};

/// The outcome of finalize(): every quantized weight and the parameter bytes.
struct FinalizeReport {
  struct Weight {
    std::string name;   ///< `fc1.weight`
    std::string dtype;  ///< `int8`, `float4_e2m1fn_x2`, ...
    std::int64_t numel = 0;
    /// Bytes of the float tensor.
    std::int64_t float_bytes = 0;
    /// Bytes stored quantized: codes at the dtype's width, plus scales (4 bytes,
    /// 1 for E8M0), zero points of asymmetric ZP specs at the code width, and
    /// minvals (4 bytes) of MINVAL specs.
    std::int64_t quantized_bytes = 0;
  };
  std::vector<Weight> weights;
  /// Bytes of every parameter as float before finalize.
  std::int64_t parameter_bytes_before = 0;
  /// The same with the quantized weights counted at quantized_bytes.
  std::int64_t parameter_bytes_after = 0;
  /// A table of the weights and the totals.
  std::string format() const;
};

/// The default config of the eager quantizer: QuantizerConfig() (W8A8) in eager mode.
inline QuantizerConfig eager_config() {
  QuantizerConfig c;
  c.execution_mode = ExecutionMode::kEager;
  return c;
}

/// Quantizer of a torch::nn::Module model (execution_mode: eager).
class Quantizer {
 public:
  /// Validates the config for eager mode: execution_mode must be eager
  /// (InvalidArgumentError naming the fix otherwise); op_input_spec /
  /// op_output_spec keys must be indices or "*" (UnsupportedError, as in the
  /// reference); preserved_attributes warns and is ignored.
  explicit Quantizer(std::shared_ptr<torch::nn::Module> model,
                     QuantizerConfig config = eager_config());
  /// Same for a module holder (`Net model; Quantizer q(model, cfg);`).
  template <class M>
  explicit Quantizer(const torch::nn::ModuleHolder<M>& model,
                     QuantizerConfig config = eager_config())
      : Quantizer(std::static_pointer_cast<torch::nn::Module>(model.ptr()), std::move(config)) {}
  ~Quantizer();
  Quantizer(Quantizer&&) noexcept;
  Quantizer& operator=(Quantizer&&) noexcept;
  Quantizer(const Quantizer&) = delete;
  Quantizer& operator=(const Quantizer&) = delete;

  /// The points prepare would create (after prepare: the points it created).
  /// Functional-helper ops are only known from a forward pass: pass
  /// `run_example` to trace one before prepare. Unmatched config keys and
  /// unreachable points are in `warnings`.
  QuantizationPlan plan(const std::function<void()>& run_example = {});

  /// Prepares the model in place: resolves the config, replaces every quantized
  /// weight by a fake-quantized view of a new float parameter (build optimizers
  /// after this call), attaches the activation points, then runs `run_example`
  /// (one forward pass with example inputs, in eval mode without gradients)
  /// twice: once to discover the functional ops, once with observers on to
  /// initialise every scale. Points whose block size does not divide the tensor
  /// are removed with a warning. Afterwards fake quantization is on and
  /// observers are off. Warns about config keys matching nothing and about
  /// what eager mode cannot reach (skipped()). A second call warns and does nothing.
  std::shared_ptr<torch::nn::Module> prepare(const std::function<void()>& run_example);
  bool prepared() const;
  /// What prepare could not quantize (see SkippedPoint).
  const std::vector<SkippedPoint>& skipped() const;

  struct Impl;

  /// RAII guard of calibration_mode() / training_mode(). It refers to the
  /// quantizer's state, which stays put when the Quantizer object is moved.
  class ModeGuard {
   public:
    ModeGuard(ModeGuard&& o) noexcept;
    ModeGuard& operator=(ModeGuard&&) = delete;
    ModeGuard(const ModeGuard&) = delete;
    ModeGuard& operator=(const ModeGuard&) = delete;
    /// Ends the mode (also done by the destructor).
    void exit();
    ~ModeGuard();

   private:
    friend class Quantizer;
    enum class Kind : std::uint8_t { kCalibration, kTraining };
    ModeGuard(Impl* impl, Kind kind, bool was_training)
        : impl_(impl), kind_(kind), was_training_(was_training) {}
    Impl* impl_;
    Kind kind_;
    bool was_training_;
  };

  /// PTQ: model in eval mode, every observer on, weight fake quantization on
  /// (activation observers see quantized weights), activation fake quantization
  /// off; on exit observers off, fake quantization on everywhere, the training
  /// flag restored. Requires
  /// prepare() (Error "Model must be prepared before entering calibration mode.
  /// Call prepare() first.").
  [[nodiscard]] ModeGuard calibration_mode();
  /// QAT: train mode, observers and fake quantization on, then each point's
  /// qat_schedule at the current step; on exit observers off and fake
  /// quantization on for every point. Nested use is an Error.
  [[nodiscard]] ModeGuard training_mode();
  /// Call after every optimizer.step() inside training_mode(): advances the step
  /// counter (never reset), applies the qat_schedule, and recomputes the
  /// fake-quantized weights from the updated float weights. Forgetting it makes
  /// the next backward pass throw an Error that names this call.
  void step();
  /// The number of step() calls so far.
  std::int64_t step_count() const;
  /// Recomputes every fake-quantized weight from its float weight without
  /// advancing the schedule: after loading a state dict, `model->to(...)`, or
  /// between backward passes that accumulate gradients.
  void refresh_weights();

  /// Turn observers / fake quantization on or off for every point, or only the
  /// points of `module` and its descendants (InvalidArgumentError when it is not
  /// part of the model). Error when any qat_schedule is configured.
  void enable_observer(const torch::nn::Module* module = nullptr);
  void disable_observer(const torch::nn::Module* module = nullptr);
  void enable_fake_quant(const torch::nn::Module* module = nullptr);
  void disable_fake_quant(const torch::nn::Module* module = nullptr);

  /// Ends quantization-aware training: every quantized weight parameter gets its
  /// quantized values (dequantized to float) and becomes an ordinary parameter
  /// of its module again; activation points keep fake quantization on with
  /// frozen observers. Returns the size report. Requires prepare().
  FinalizeReport finalize();

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantization
}  // namespace coreai_opt
