// Eager-mode building blocks for activation quantization of torch::nn::Module
// models. The Quantizer (coreai_opt/torch/quantizer.h) reaches the activations of
// stock torch::nn modules with a weight at the dispatcher; these pieces reach the
// rest, and make the placement explicit where an application prefers that:
//   - drop-in modules (coreai_opt::nn::Linear, Conv1d/2d/3d,
//     ConvTranspose1d/2d/3d, Embedding): the torch::nn module of the same name
//     and options, whose forward applies the input and output fake-quant
//     points that Quantizer::prepare attaches (on any thread, with no
//     interception);
//   - QuantStub: an identity module placed at an activation point;
//   - functional helpers (add, sub, mul, matmul, cat) for ops that are not
//     modules, named like the reference's eager op names (`block.add`,
//     `block.add_1`).
// Before prepare (and in a model that is never prepared) they compute exactly
// what their torch counterparts compute. docs/eager_mode.md has the design.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/module_types.h"

namespace coreai_opt {
namespace detail {
struct EagerWeight;  // a quantized weight of a prepared model (src/torch/eager)
}  // namespace detail

namespace nn {

/// Base of the drop-in modules: the fake-quant points of the module's op that
/// Quantizer::prepare attaches (input 0 and output 0; the module's own
/// module_input_spec / module_output_spec win over the op-level specs), and
/// the quantized weights whose freshness the forward checks.
class QuantizedModule {
 public:
  QuantizedModule() = default;
  QuantizedModule(const QuantizedModule&) = default;
  QuantizedModule& operator=(const QuantizedModule&) = default;
  virtual ~QuantizedModule();

  /// Registry key of the op the module runs (`linear`, `conv2d`, ...).
  virtual const char* op_type() const = 0;
  /// The module type key the drop-in stands for (`torch.nn.modules.linear.Linear`):
  /// module_type_configs written for the torch::nn module apply to it.
  virtual const char* type_key() const = 0;
  /// False when input 0 is not a float activation (Embedding's indices).
  virtual bool has_float_input() const { return true; }

  /// The attached fake-quant points (null holders when not quantized).
  const quantization::FakeQuantize& input_quantizer() const { return input_; }
  const quantization::FakeQuantize& output_quantizer() const { return output_; }

  /// Used by Quantizer::prepare / finalize; not for application code.
  void attach_quantizers(quantization::FakeQuantize input, quantization::FakeQuantize output,
                         std::vector<std::shared_ptr<detail::EagerWeight>> weights);
  void detach_input_quantizer() { input_ = nullptr; }
  void detach_output_quantizer() { output_ = nullptr; }
  void detach_weights() { weights_.clear(); }

 protected:
  at::Tensor quantize_input(const at::Tensor& x);
  at::Tensor quantize_output(const at::Tensor& y);
  /// Recomputes this module's fake-quantized weights when their float weights
  /// changed (optimizer step, load, `to()`) or their graph was used by a
  /// backward pass, so a drop-in never runs on stale quantized weights.
  void refresh_stale_weights();

 private:
  quantization::FakeQuantize input_{nullptr};
  quantization::FakeQuantize output_{nullptr};
  std::vector<std::shared_ptr<detail::EagerWeight>> weights_;
};

/// torch::nn::Linear with quantizable input and output.
class LinearImpl : public torch::nn::LinearImpl, public QuantizedModule {
 public:
  using torch::nn::LinearImpl::LinearImpl;
  at::Tensor forward(const at::Tensor& input);
  const char* op_type() const override { return "linear"; }
  const char* type_key() const override { return "torch.nn.modules.linear.Linear"; }
};
TORCH_MODULE(Linear);

#define COREAI_OPT_DECLARE_CONV(Name, op, key)                              \
  class Name##Impl : public torch::nn::Name##Impl, public QuantizedModule { \
   public:                                                                  \
    using torch::nn::Name##Impl::Name##Impl;                                \
    at::Tensor forward(const at::Tensor& input);                            \
    const char* op_type() const override { return op; }                     \
    const char* type_key() const override { return key; }                   \
  };                                                                        \
  TORCH_MODULE(Name)

/// torch::nn::Conv1d / Conv2d / Conv3d with quantizable input and output.
COREAI_OPT_DECLARE_CONV(Conv1d, "conv1d", "torch.nn.modules.conv.Conv1d");
COREAI_OPT_DECLARE_CONV(Conv2d, "conv2d", "torch.nn.modules.conv.Conv2d");
COREAI_OPT_DECLARE_CONV(Conv3d, "conv3d", "torch.nn.modules.conv.Conv3d");
#undef COREAI_OPT_DECLARE_CONV

#define COREAI_OPT_DECLARE_CONV_TRANSPOSE(Name, op, key)                                  \
  class Name##Impl : public torch::nn::Name##Impl, public QuantizedModule {               \
   public:                                                                                \
    using torch::nn::Name##Impl::Name##Impl;                                              \
    at::Tensor forward(const at::Tensor& input,                                           \
                       const std::optional<at::IntArrayRef>& output_size = std::nullopt); \
    const char* op_type() const override { return op; }                                   \
    const char* type_key() const override { return key; }                                 \
                                                                                          \
   protected:                                                                             \
    FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(std::optional<at::IntArrayRef>())})  \
  };                                                                                      \
  TORCH_MODULE(Name)

/// torch::nn::ConvTranspose1d / 2d / 3d with quantizable input and output.
COREAI_OPT_DECLARE_CONV_TRANSPOSE(ConvTranspose1d, "conv_transpose1d",
                                  "torch.nn.modules.conv.ConvTranspose1d");
COREAI_OPT_DECLARE_CONV_TRANSPOSE(ConvTranspose2d, "conv_transpose2d",
                                  "torch.nn.modules.conv.ConvTranspose2d");
COREAI_OPT_DECLARE_CONV_TRANSPOSE(ConvTranspose3d, "conv_transpose3d",
                                  "torch.nn.modules.conv.ConvTranspose3d");
#undef COREAI_OPT_DECLARE_CONV_TRANSPOSE

/// torch::nn::Embedding with a quantizable output (its input is indices).
class EmbeddingImpl : public torch::nn::EmbeddingImpl, public QuantizedModule {
 public:
  using torch::nn::EmbeddingImpl::EmbeddingImpl;
  at::Tensor forward(const at::Tensor& indices);
  const char* op_type() const override { return "embedding"; }
  const char* type_key() const override { return "torch.nn.modules.sparse.Embedding"; }
  bool has_float_input() const override { return false; }
};
TORCH_MODULE(Embedding);

/// An identity module marking an activation point. Configured by its module
/// name or type (`coreai_opt::nn::QuantStubImpl`): its own module_input_spec[0]
/// (else module_output_spec[0]) if present, else its config's op_input_spec[0]
/// (so a weight-only config leaves it inert). One fake-quant point.
class QuantStubImpl : public torch::nn::Cloneable<QuantStubImpl> {
 public:
  QuantStubImpl() = default;
  void reset() override {}
  at::Tensor forward(const at::Tensor& x);
  /// The attached fake-quant point (null holder when not quantized).
  const quantization::FakeQuantize& quantizer() const { return quantizer_; }
  /// Used by Quantizer::prepare; not for application code.
  void attach_quantizer(quantization::FakeQuantize fq) { quantizer_ = std::move(fq); }

 private:
  quantization::FakeQuantize quantizer_{nullptr};
};
TORCH_MODULE(QuantStub);

/// Ops that are not modules. `caller` is the module whose forward calls the op
/// (pass `*this`): the op is named after it and a per-module counter in call
/// order (`block.add`, `block.add_1`; no prefix in the root module), resolved
/// with that module's config, and its fake-quant points are registered on it
/// (`add_quantize_input`, `add_quantize_other`, `add_quantize_output_0`).
/// Prepare learns each module's op sequence from the example forward; later
/// forwards must call the same ops in the same order (a different op type at a
/// position is an error; a module's sequence restarts after its last op).
namespace functional {
/// input + alpha * other (op type `add`).
at::Tensor add(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other,
               const at::Scalar& alpha = 1);
/// input - alpha * other (op type `sub`).
at::Tensor sub(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other,
               const at::Scalar& alpha = 1);
/// input * other (op type `mul`).
at::Tensor mul(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other);
/// at::matmul(input, other) (op type `matmul`).
at::Tensor matmul(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other);
/// at::cat(tensors, dim) (op type `cat`); input i is tensors[i]
/// (`cat_quantize_tensors_0`, ...).
at::Tensor cat(torch::nn::Module& caller, at::TensorList tensors, std::int64_t dim = 0);
}  // namespace functional

}  // namespace nn

namespace quantization {
// The drop-ins are configured with the type keys of the torch::nn modules they
// replace, so `set_module_type<coreai_opt::nn::Linear>()` and
// `set_module_type<torch::nn::Linear>()` write the same key.
#define COREAI_OPT_DROP_IN_TYPE_KEY(Name)                                            \
  template <>                                                                        \
  struct ModuleTypeKey<coreai_opt::nn::Name##Impl, void> {                           \
    static std::string get() { return ModuleTypeKey<torch::nn::Name##Impl>::get(); } \
  };
COREAI_OPT_DROP_IN_TYPE_KEY(Linear)
COREAI_OPT_DROP_IN_TYPE_KEY(Conv1d)
COREAI_OPT_DROP_IN_TYPE_KEY(Conv2d)
COREAI_OPT_DROP_IN_TYPE_KEY(Conv3d)
COREAI_OPT_DROP_IN_TYPE_KEY(ConvTranspose1d)
COREAI_OPT_DROP_IN_TYPE_KEY(ConvTranspose2d)
COREAI_OPT_DROP_IN_TYPE_KEY(ConvTranspose3d)
COREAI_OPT_DROP_IN_TYPE_KEY(Embedding)
#undef COREAI_OPT_DROP_IN_TYPE_KEY
}  // namespace quantization

}  // namespace coreai_opt
