// Activations of stock torch::nn modules in eager mode, quantized at the dispatcher.
//
// A C++ module's forward cannot be wrapped, but the aten ops it runs can be seen: a boxed
// kernel registered for the DeferredInit dispatch key (the one key above Autograd that
// LibTorch leaves unused; every other op falls through it) runs on threads where the key
// is switched on. It attributes an op to a module by the identity of the module's weight
// tensor and replaces the op's input and output by their fake-quantized values, so the
// straight-through gradients flow as through a drop-in. Recognised calls, per module type:
//   Linear           t(weight), then addmm(bias, x, .) for a 2-D input with a bias, else
//                    matmul(x, .) and, with a bias, the in-place add_ of it (the output is
//                    quantized after the bias, in place)
//   Conv1d/2d/3d     conv{1,2,3}d(x, weight, ...), both padding overloads
//   ConvTranspose*d  conv_transpose{1,2,3}d(x, weight, ...)
//   Embedding        embedding(weight, indices, ...): the output only
// The key is switched on for the thread that prepares a model, for as long as that thread
// lives, and spreads to the threads LibTorch starts for it (intra-op parallelism and the
// autograd engine copy the thread's dispatch state); other threads switch it on with
// InterceptionScope or enable_interception_on_this_thread().
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "coreai_opt/torch/fake_quantize.h"

namespace coreai_opt::detail {

/// Which op family a site's weight feeds (two sites may share a weight only across families).
enum class InterceptFamily : std::uint8_t { kLinear, kConv, kConvTranspose, kEmbedding };

/// One stock module whose activations are quantized at the dispatcher.
struct InterceptSite {
  std::string name;  ///< module path, for messages
  InterceptFamily family = InterceptFamily::kLinear;
  bool has_bias = false;
  quantization::FakeQuantize input{nullptr};   ///< may be null
  quantization::FakeQuantize output{nullptr};  ///< may be null
  /// Intercepted calls so far (prepare checks that its example forward reached the site).
  std::atomic<std::int64_t> calls{0};
};

/// Registers `site` for the module whose forward reads `weight`; returns false when
/// another live site of the same family already uses that weight (tied weights). The
/// registration lasts as long as the weight tensor (the model) lives, so a finalized model
/// keeps its activation fake-quants after its Quantizer is gone.
bool register_intercept_site(const at::Tensor& weight, std::shared_ptr<InterceptSite> site);
/// Switches interception on for the calling thread, for good.
void enable_interception_on_this_thread();

}  // namespace coreai_opt::detail
