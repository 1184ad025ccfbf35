// Internals shared by the eager Quantizer (quantizer.cpp) and the eager modules
// and helpers of coreai_opt/torch/nn.h (nn.cpp).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/ordered_dict.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coreai_opt/torch/fake_quantize.h"

namespace coreai_opt {
namespace detail {

/// The registered parameters of any module (Module::parameters_ is protected;
/// a pointer to member named through a derived class reaches it).
torch::OrderedDict<std::string, at::Tensor>& parameters_of(torch::nn::Module& module);

/// One quantized weight of a prepared model. LibTorch modules read their
/// weights through members that share a TensorImpl with the registered
/// parameter, and user modules' members are unknown to the quantizer. So the
/// weight is split: the original tensor (`view`, still what every forward
/// reads) becomes a non-leaf holding fake_quant(master) with a gradient edge to
/// `master`, a new float leaf that takes its place in the owners' registered
/// parameters (what optimizers and state dicts see). refresh() recomputes the
/// view; a gradient hook on each refresh's result makes a backward through a
/// stale or already used view throw.
struct EagerWeight : std::enable_shared_from_this<EagerWeight> {
  /// Canonical `module.local` name, for messages.
  std::string name;
  /// Every (module, local name) registering the parameter, first owner first.
  std::vector<std::pair<torch::nn::Module*, std::string>> owners;
  at::Tensor view;
  at::Tensor master;
  /// master as it was at the last refresh. Optimizers update parameters through
  /// `.data()`, which does not bump the version counter, so a change is found by
  /// comparing values.
  at::Tensor snapshot;
  quantization::FakeQuantize fq{nullptr};
  /// Child name of `fq` in owners[0] (`weight_fake_quant`).
  std::string fq_child;
  bool split = false;
  std::int64_t refreshed_version = -1;
  std::uint64_t generation = 0;
  std::uint64_t consumed_generation = 0;

  /// Creates `master` and registers it in every owner in place of `view`.
  void split_parameter();
  /// Recomputes `view` = fake_quant(master) (observing if the observer is on),
  /// with autograd enabled when master requires grad.
  void refresh();
  /// True when master differs from its state at the last refresh (values,
  /// version, device, dtype, shape).
  bool master_changed() const;
  /// master_changed(), or a backward pass used the current view.
  bool stale() const;
  /// Ends the split: `view` becomes the registered leaf parameter again, holding
  /// `values` (no gradient history), requires_grad as the master had it.
  void unsplit(const at::Tensor& values);
};

/// A functional-helper op of a prepared model.
struct FunctionalOp {
  std::string name;                                ///< `block.add_1`
  std::string base;                                ///< `add`
  std::vector<quantization::FakeQuantize> inputs;  ///< per input index; null = none
  quantization::FakeQuantize output{nullptr};
};

/// The functional ops of one module, in the order prepare's forward called them.
struct FunctionalTable {
  std::weak_ptr<torch::nn::Module> owner;
  std::vector<FunctionalOp> ops;
  std::size_t cursor = 0;
};

/// Installs / removes the table of `module` (the functional helpers look it up).
void install_functional_table(torch::nn::Module& module, std::shared_ptr<FunctionalTable> table);
void remove_functional_table(const torch::nn::Module* module);

/// One call of a functional helper seen while tracing.
struct TracedCall {
  const torch::nn::Module* caller = nullptr;
  std::string base;
  std::vector<std::string> arg_names;
  /// Per input: a float tensor with more than one element.
  std::vector<bool> input_quantizable;
  bool output_quantizable = false;
};

/// Records functional-helper calls on this thread while alive (prepare's and
/// plan's discovery forward); the helpers then compute plain results.
class FunctionalTrace {
 public:
  FunctionalTrace();
  ~FunctionalTrace();
  FunctionalTrace(const FunctionalTrace&) = delete;
  FunctionalTrace& operator=(const FunctionalTrace&) = delete;
  const std::vector<TracedCall>& calls() const { return calls_; }
  static FunctionalTrace* active();
  void record(TracedCall call) { calls_.push_back(std::move(call)); }

 private:
  std::vector<TracedCall> calls_;
  FunctionalTrace* previous_;
};

}  // namespace detail
}  // namespace coreai_opt
