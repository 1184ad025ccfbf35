// One fake-quantization point (reference §2.1): an observer that tracks the range
// of the tensors it sees, the qparams computed from that range, and the
// quantize-dequantize applied to the tensor. All state lives in tensors, so it can
// be held as module buffers (eager: FakeQuantize below; graph mode: buffers of the
// TorchScript module) and survives save/load.
//
// Both modes run the same step, fake_quant_forward(x, tensors, config, what),
// which graph mode calls through the operator
//   coreai_opt::fake_quant_forward(Tensor x, Tensor(a!) running_min,
//       Tensor(b!) running_max, Tensor(c!) scale, Tensor(d!) zero_point,
//       Tensor(e!) minval, Tensor(f!) state,
//       __torch__.torch.classes.coreai_opt.FakeQuantizeSpec spec) -> Tensor
// with `spec` a graph constant (FakeQuantizeSpec below).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace quantization {

/// The static part of a fake-quant point: its spec (validated; a per-channel /
/// single-axis per-block axis must be resolved) and the tensor role.
struct FakeQuantizeConfig {
  QuantizationSpec spec;
  TensorRole role = TensorRole::kActivation;

  /// Validates: the spec rules, and no unresolved axis (InvalidArgumentError
  /// naming `what`, e.g. the tensor).
  static FakeQuantizeConfig make(const QuantizationSpec& spec, TensorRole role,
                                 const std::string& what = "tensor");
  bool operator==(const FakeQuantizeConfig& o) const { return spec == o.spec && role == o.role; }
};

/// A validated FakeQuantizeConfig and the name of its tensor as a TorchScript
/// object (`torch.classes.coreai_opt.FakeQuantizeSpec`): the constant a graph
/// passes to coreai_opt::fake_quant_forward. It is validated once, when built
/// (prepare) or unpickled (loading a saved model); calls only read it.
class FakeQuantizeSpec : public torch::CustomClassHolder {
 public:
  /// `config` comes from FakeQuantizeConfig::make (already validated).
  FakeQuantizeSpec(FakeQuantizeConfig config, std::string what)
      : config_(std::move(config)), what_(std::move(what)) {}
  /// The spec and tensor role.
  const FakeQuantizeConfig& config() const { return config_; }
  /// The tensor the point quantizes, for messages (`weight of fc1 (linear)`).
  const std::string& what() const { return what_; }

 private:
  FakeQuantizeConfig config_;
  std::string what_;
};

/// Bits of the int64 `state` tensor [4]: observer enabled, fake quant enabled,
/// disabled (permanently: a block size that did not divide), qparams valid. The step
/// reads them on every call, so it keeps `state` in host memory: a state moved to a
/// device (Module::to) comes back on the next call, once.
enum FakeQuantizeStateIndex : std::int64_t {
  kObserverEnabled = 0,
  kFakeQuantEnabled = 1,
  kDisabled = 2,
  kInitialized = 3,
};

/// Reads / writes one flag of a `state` tensor (on any device).
bool fake_quant_flag(const at::Tensor& state, FakeQuantizeStateIndex i);
void set_fake_quant_flag(const at::Tensor& state, FakeQuantizeStateIndex i, bool on);

/// The tensors of one point. Parameter-shaped tensors start empty and take the
/// parameter shape of the first observed tensor.
struct FakeQuantizeTensors {
  at::Tensor running_min;  ///< float32
  at::Tensor running_max;  ///< float32
  at::Tensor scale;        ///< float32
  at::Tensor zero_point;   ///< int32 (zeros for fp dtypes)
  at::Tensor minval;       ///< float32 (zeros for fp dtypes)
  at::Tensor state;        ///< int64 [4], see FakeQuantizeStateIndex

  /// Fresh state: observer and fake quant enabled, not disabled, not initialized.
  static FakeQuantizeTensors fresh();
};

/// The step. First puts the tensors where they belong (state on the CPU as int64, the
/// others on x's device in their own dtypes, whatever Module::to did). If disabled,
/// returns x. If the observer is on, observes x (no gradient): updates the running range
/// and the qparams on x's device, never reading device memory from the host; a block
/// size that does not divide x's shape disables the point with a warning naming `what`
/// and returns x. If fake quant is on, returns the differentiable fake-quantized x
/// (straight-through gradient), else x. Fake quant without qparams ever computed raises
/// InvalidArgumentError.
at::Tensor fake_quant_forward(const at::Tensor& x, FakeQuantizeTensors& t,
                              const FakeQuantizeConfig& config, const std::string& what = "tensor");

/// Eager-mode holder of one point: the tensors are registered buffers
/// (`running_min`, ..., `state`), so state_dict / torch::save keep them.
class FakeQuantizeImpl : public torch::nn::Module {
 public:
  explicit FakeQuantizeImpl(FakeQuantizeConfig config, std::string what = "tensor");
  at::Tensor forward(const at::Tensor& x);

  const FakeQuantizeConfig& config() const { return config_; }
  void enable_observer(bool on);
  void enable_fake_quant(bool on);
  bool observer_enabled() const;
  bool fake_quant_enabled() const;
  bool disabled() const;
  bool initialized() const;
  /// The current qparams (parameter shape); undefined tensors before the first observation.
  const at::Tensor& scale() const { return t_.scale; }
  const at::Tensor& zero_point() const { return t_.zero_point; }
  const at::Tensor& minval() const { return t_.minval; }
  /// The int64 flag tensor (FakeQuantizeStateIndex).
  const at::Tensor& state() const { return t_.state; }

 private:
  void register_all();
  FakeQuantizeConfig config_;
  std::string what_;
  FakeQuantizeTensors t_;
};
TORCH_MODULE(FakeQuantize);

}  // namespace quantization
}  // namespace coreai_opt
