// What the Quantizer front door (quantizer.cpp) needs from a mode. The front
// door owns the state machine (prepared, modes, steps, schedules, selectors);
// a backend owns the model surgery: planning, inserting fake-quants, listing
// them, and finalize. eager/quantizer.cpp and jit/quantizer.cpp implement it.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/plan.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/quantizer.h"

namespace coreai_opt {
namespace detail {

using quantization::Example;
using quantization::FinalizeResult;
using quantization::Model;
using quantization::QATSchedule;
using quantization::QuantizationPlan;
using quantization::QuantizationSpec;
using quantization::QuantizerConfig;

/// One live fake-quant as the state machine sees it: its identity and its
/// tensors (the int64 flag tensor of FakeQuantizeStateIndex and the qparams).
struct LivePoint {
  std::string name;
  std::string module;  ///< canonical path: schedule and selector scope
  bool weight = false;
  QuantizationSpec spec;
  std::optional<QATSchedule> schedule;
  at::Tensor state, scale, zero_point, minval;
};

class QuantizerBackend {
 public:
  virtual ~QuantizerBackend() = default;

  /// The points of the model as given (before prepare()).
  virtual QuantizationPlan plan(const Example& example) const = 0;
  /// Inserts the fake-quants and runs the observed example pass (observers on,
  /// fake quantization off on entry; the caller sets the final flags). Returns
  /// the prepared model and its plan.
  virtual std::pair<Model, QuantizationPlan> prepare(const Example& example) = 0;
  /// The live fake-quants of the prepared model, in a stable order.
  virtual std::vector<LivePoint> points() const = 0;
  /// Canonical paths of every module of the prepared model, each with every
  /// path it is reachable by (a module registered twice has two).
  virtual std::vector<std::pair<std::string, std::string>> module_paths() const = 0;
  /// Eager: recompute the fake-quantized weights after flags or weights changed.
  virtual void sync() {}
  /// Called by step() before the count advances (eager: optimizer hints).
  virtual void before_step() {}
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;
  virtual FinalizeResult finalize() = 0;
};

/// The backends, created by the front door for the model's kind with a config
/// it has already checked (QuantizerConfig::validate_for). Eager mode works on
/// the caller's model in place; graph mode on a copy.
std::unique_ptr<QuantizerBackend> make_eager_backend(const Model& model,
                                                     const QuantizerConfig& config);
std::unique_ptr<QuantizerBackend> make_graph_backend(const torch::jit::Module& model,
                                                     const QuantizerConfig& config);
/// The function running one forward pass of an eager model for `example`
/// (empty for no example); InvalidArgumentError naming `what` when positional
/// inputs cannot be passed to the model's forward.
std::function<void()> eager_runner(const Example& example, const ForwardFn& forward,
                                   const char* what);

/// The module tree and ops of a model, for the ModelInspector.
void inspect_eager(const std::shared_ptr<torch::nn::Module>& model,
                   const std::function<void()>& run_example, quantization::ModuleInfo& root,
                   std::vector<quantization::OpInfo>& ops);
void inspect_graph(const torch::jit::Module& model, bool compressible_only,
                   quantization::ModuleInfo& root, std::vector<quantization::OpInfo>& ops);

/// The TorchScript analysis behind Quantizer::get_compressible_op_names.
std::vector<std::string> graph_compressible_op_names(const torch::jit::Module& model);

}  // namespace detail
}  // namespace coreai_opt
