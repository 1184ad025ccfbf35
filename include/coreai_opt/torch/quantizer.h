// The Quantizer: one front door for torch::nn::Module trees (eager mode) and
// TorchScript modules (graph mode). The model's type decides the mode.
//
//   auto model = std::make_shared<Net>();                  // or torch::jit::load("m.pt")
//   Quantizer q(model, QuantizerConfig::from_yaml("w8a8.yaml"));
//   q.plan({example}).format_table();                      // what will be quantized, and why
//   Model prepared = q.prepare({example});                 // eager: in place; graph: a copy
//   { auto calib = q.calibration_mode(); for (...) prepared.forward({batch}); }   // PTQ
//   { auto train = q.training_mode();                      // QAT
//     for (...) { ...; optimizer.step(); q.step(); } }
//   FinalizeResult done = q.finalize();                    // done.model, done.report
//
// docs/eager_mode.md and docs/graph_mode.md describe what each mode reaches.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/plan.h"
#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace detail {
// A forward(Tensor) / forward(Tensor, Tensor) of a concrete module type, called
// with positional IValues; empty when the type has no such forward.
using ForwardFn = std::function<c10::IValue(const std::vector<c10::IValue>&)>;

template <class M, class = void>
struct HasTensorForward1 : std::false_type {};
template <class M>
struct HasTensorForward1<
    M, std::void_t<decltype(std::declval<M&>().forward(std::declval<const at::Tensor&>()))>>
    : std::true_type {};
template <class M, class = void>
struct HasTensorForward2 : std::false_type {};
template <class M>
struct HasTensorForward2<
    M, std::void_t<decltype(std::declval<M&>().forward(std::declval<const at::Tensor&>(),
                                                       std::declval<const at::Tensor&>()))>>
    : std::true_type {};

/// Throws InvalidArgumentError unless `inputs` holds `n` tensors.
void check_tensor_inputs(const std::vector<c10::IValue>& inputs, std::size_t n);

template <class R>
c10::IValue to_ivalue(R&& r) {
  if constexpr (std::is_constructible_v<c10::IValue, R>) {
    return c10::IValue(std::forward<R>(r));
  } else {
    return c10::IValue();
  }
}

template <class M>
ForwardFn forward_of(const std::shared_ptr<M>& m) {
  if constexpr (HasTensorForward1<M>::value) {
    return [m](const std::vector<c10::IValue>& in) {
      check_tensor_inputs(in, 1);
      return to_ivalue(m->forward(in[0].toTensor()));
    };
  } else if constexpr (HasTensorForward2<M>::value) {
    return [m](const std::vector<c10::IValue>& in) {
      check_tensor_inputs(in, 2);
      return to_ivalue(m->forward(in[0].toTensor(), in[1].toTensor()));
    };
  } else {
    return {};
  }
}
}  // namespace detail

namespace quantization {

/// The model a Quantizer works on: a torch::nn::Module tree (eager mode) or a
/// TorchScript module (graph mode). A handle: copies refer to the same model.
class Model {
 public:
  /// An eager model. forward() works when the concrete type is known (the
  /// templated constructors) and its forward takes one or two tensors.
  Model(std::shared_ptr<torch::nn::Module> module);  // NOLINT(google-explicit-constructor)
  template <class M, std::enable_if_t<std::is_base_of_v<torch::nn::Module, M> &&
                                          !std::is_same_v<M, torch::nn::Module>,
                                      int> = 0>
  Model(std::shared_ptr<M> module)  // NOLINT(google-explicit-constructor)
      : Model(std::static_pointer_cast<torch::nn::Module>(module)) {
    forward_ = detail::forward_of(module);
  }
  /// An eager model from a module holder (`Net net; Model m(net);`).
  template <class M>
  Model(const torch::nn::ModuleHolder<M>& holder)  // NOLINT(google-explicit-constructor)
      : Model(holder.ptr()) {}
  /// A graph-mode model.
  Model(torch::jit::Module module);  // NOLINT(google-explicit-constructor)

  /// kEager for a torch::nn::Module, kGraph for a TorchScript module.
  ExecutionMode mode() const { return eager_ ? ExecutionMode::kEager : ExecutionMode::kGraph; }
  bool is_eager() const { return eager_ != nullptr; }
  /// The torch::nn::Module; InvalidArgumentError for a graph-mode model.
  const std::shared_ptr<torch::nn::Module>& module() const;
  /// The TorchScript module; InvalidArgumentError for an eager model.
  const torch::jit::Module& script_module() const;
  /// Runs forward on positional inputs. Eager models need a forward taking one
  /// or two tensors on a known type (InvalidArgumentError otherwise).
  c10::IValue forward(const std::vector<c10::IValue>& inputs) const;
  /// True when forward() can run on positional inputs.
  bool has_forward() const { return !eager_ || static_cast<bool>(forward_); }
  /// The typed forward of an eager model (empty when unknown).
  const detail::ForwardFn& forward_fn() const { return forward_; }
  bool is_training() const;
  void train(bool on = true);
  /// Bytes of every parameter and buffer (tensors shared by several modules once).
  std::int64_t state_bytes() const;

 private:
  std::shared_ptr<torch::nn::Module> eager_;
  std::shared_ptr<torch::jit::Module> graph_;
  detail::ForwardFn forward_;
};

/// Example data for plan() and prepare(): the positional inputs of one forward
/// call (both modes), or a function running one forward pass of the model
/// (eager mode, for a forward that takes other arguments).
class Example {
 public:
  /// No example: plan() without shapes; prepare() of a weight-only graph config.
  Example() = default;
  Example(std::vector<c10::IValue> inputs)  // NOLINT(google-explicit-constructor)
      : inputs_(std::move(inputs)), has_inputs_(true) {}
  Example(std::initializer_list<c10::IValue> inputs)  // NOLINT(google-explicit-constructor)
      : inputs_(inputs), has_inputs_(true) {}
  Example(at::Tensor input)  // NOLINT(google-explicit-constructor)
      : inputs_{c10::IValue(std::move(input))}, has_inputs_(true) {}
  template <class F, std::enable_if_t<std::is_invocable_r_v<void, F&> &&
                                          !std::is_convertible_v<F, std::vector<c10::IValue>> &&
                                          !std::is_convertible_v<F, at::Tensor>,
                                      int> = 0>
  Example(F run)  // NOLINT(google-explicit-constructor)
      : run_(std::function<void()>(std::move(run))) {}

  bool empty() const { return !has_inputs_ && !run_; }
  bool has_inputs() const { return has_inputs_; }
  const std::vector<c10::IValue>& inputs() const { return inputs_; }
  const std::function<void()>& run() const { return run_; }

 private:
  std::vector<c10::IValue> inputs_;
  bool has_inputs_ = false;
  std::function<void()> run_;
};

/// Which fake-quants enable_observer() and friends switch: every one (the
/// default), those of one module and its descendants, or those of every module
/// whose canonical path fully matches a regex (and their descendants).
class Selector {
 public:
  /// Every fake-quant of the model.
  Selector() = default;
  /// The module at this path (`"enc.layer1"`; `""` is the root).
  Selector(std::string module_path)  // NOLINT(google-explicit-constructor)
      : text_(std::move(module_path)), kind_(Kind::kPath) {}
  Selector(const char* module_path)  // NOLINT(google-explicit-constructor)
      : Selector(std::string(module_path)) {}
  static Selector all() { return Selector(); }
  static Selector module(std::string path) { return Selector(std::move(path)); }
  static Selector regex(std::string pattern) {
    Selector s;
    s.text_ = std::move(pattern);
    s.kind_ = Kind::kRegex;
    return s;
  }
  enum class Kind : std::uint8_t { kAll, kPath, kRegex };
  Kind kind() const { return kind_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  Kind kind_ = Kind::kAll;
};

/// State of one inserted fake-quant.
struct FakeQuantState {
  /// The point's name (PlanPoint::fake_quant).
  std::string name;
  /// Canonical path of the module it belongs to (its qat_schedule and selector scope).
  std::string module;
  bool weight = false;
  QuantizationSpec spec;
  std::optional<QATSchedule> schedule;
  bool observer_enabled = false;
  bool fake_quant_enabled = false;
  /// Permanently off: a block size that did not divide the tensor at run time.
  bool disabled = false;
  at::Tensor scale, zero_point, minval;
};

/// What finalize() returns: the finalized model and its size report.
struct FinalizeResult {
  Model model;
  FinalizeReport report;
};

/// Quantizes one model under one config.
class Quantizer {
 public:
  /// Validates the config (ConfigError) and the key restrictions of the model's
  /// mode (UnsupportedError). An execution_mode written in the config that
  /// contradicts the model kind warns once and is ignored; an unset one
  /// follows the model. The model is not touched before prepare().
  explicit Quantizer(Model model, QuantizerConfig config = QuantizerConfig());
  ~Quantizer();
  Quantizer(Quantizer&&) noexcept;
  Quantizer& operator=(Quantizer&&) noexcept;
  Quantizer(const Quantizer&) = delete;
  Quantizer& operator=(const Quantizer&) = delete;

  /// The mode in force (the model's kind).
  ExecutionMode execution_mode() const;
  /// The config as given (execution_mode set to the mode in force).
  const QuantizerConfig& config() const;

  /// Before prepare(): the points prepare() would create, without modifying
  /// anything (an example adds what only a forward pass shows: eager
  /// functional ops, graph activation shapes). After prepare(): the points it
  /// created, and what it skipped.
  QuantizationPlan plan(const Example& example = {}) const;

  /// Inserts the fake-quants, runs the example once with observers on (eval, no
  /// gradient) to set every scale, then turns observers off and fake
  /// quantization on. Eager: in place, float weights become new parameters
  /// (build optimizers afterwards); a second call warns and returns the model.
  /// Graph: a prepared copy; a second call is an Error. A graph config that
  /// quantizes only weights needs no example. Points whose block size does not
  /// divide their tensor are left out with a warning.
  Model prepare(const Example& example = {});
  bool is_prepared() const;
  /// The prepared model after prepare(), the model given before.
  Model model() const;

  struct Impl;

  /// RAII scope of calibration_mode() / training_mode(); stays valid when the
  /// Quantizer is moved.
  class ModeGuard {
   public:
    ModeGuard(ModeGuard&& o) noexcept;
    ModeGuard& operator=(ModeGuard&&) = delete;
    ModeGuard(const ModeGuard&) = delete;
    ModeGuard& operator=(const ModeGuard&) = delete;
    /// Ends the mode (the destructor does it otherwise).
    void exit();
    ~ModeGuard();

   private:
    friend class Quantizer;
    ModeGuard(Impl* impl, bool training, bool was_training)
        : impl_(impl), training_(training), was_training_(was_training) {}
    Impl* impl_;
    bool training_;
    bool was_training_;
  };
  /// PTQ: eval mode, every observer on, weight fake quantization on (activation
  /// observers see quantized weights), activation fake quantization off; on exit
  /// observers off, fake quantization on, the training flag restored.
  [[nodiscard]] ModeGuard calibration_mode();
  /// QAT: train mode, observers and fake quantization on, then each point's
  /// qat_schedule at the current step; on exit observers off and fake
  /// quantization on. Nested use is an Error.
  [[nodiscard]] ModeGuard training_mode();
  /// Call after every optimizer.step() inside training_mode(): advances the
  /// step count (never reset) and applies the qat_schedule. Eager: also
  /// recomputes the fake-quantized weights from the updated float weights.
  void step();
  std::int64_t step_count() const;
  /// Eager: recomputes every fake-quantized weight from its float weight (after
  /// loading a state dict or `to(device)`). Graph: nothing to do (the graph
  /// quantizes weights in every forward).
  void refresh_weights();

  /// Switch observers / fake quantization of the selected fake-quants. Error
  /// before prepare() and when a qat_schedule is configured;
  /// InvalidArgumentError for a module path or regex naming no module.
  void enable_observer(const Selector& which = {});
  void disable_observer(const Selector& which = {});
  void enable_fake_quant(const Selector& which = {});
  void disable_fake_quant(const Selector& which = {});

  /// Every fake-quant of the prepared model (empty before prepare()).
  std::vector<FakeQuantState> fake_quants() const;

  /// Saves the prepared model with its fake-quant state. Graph: a TorchScript
  /// archive that torch::jit::load reads where the coreai_opt library is
  /// linked. Eager: an archive that only load() reads (torch::load into a bare
  /// model fails with a missing-tensor error instead of silently dropping the
  /// fake-quants).
  void save(const std::string& path) const;
  /// Loads what save() wrote into the prepared model of this quantizer (same
  /// model type and config): Error before prepare(), InvalidArgumentError for a
  /// file that save() did not write or whose fake-quants differ.
  void load(const std::string& path);

  /// Graph: a new module with conv/linear + batch norm folded, every quantized
  /// weight stored as codes plus its qparams and dequantized at run time,
  /// activation fake-quants frozen; the prepared model stays usable. Eager: in
  /// place, each quantized weight becomes an ordinary parameter holding its
  /// quantized values, activation fake-quants stay frozen. Error before
  /// prepare() and inside training_mode().
  FinalizeResult finalize();

  /// Names of the ops that start a supported pattern (reference §7.5); empty
  /// for an eager model, as in the reference.
  static std::vector<std::string> get_compressible_op_names(const Model& model);

 private:
  std::unique_ptr<Impl> impl_;
};

/// Eager mode quantizes the activations of stock torch::nn modules with a weight
/// (Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d, Embedding) by intercepting their ops at
/// the dispatcher, on the threads where that is switched on: the thread that called
/// prepare() and the threads LibTorch starts from it (intra-op parallelism, autograd).
/// Another thread that runs a prepared or finalized eager model calls this once before
/// its first forward; it stays on for that thread (docs/eager_mode.md, "Stock modules").
void enable_stock_module_quantization_on_this_thread();

}  // namespace quantization
}  // namespace coreai_opt
