// Default axes of weight granularities (reference §6). A weight spec may leave
// the axis of a per-channel or single-axis per-block granularity unset; the
// quantizers fill it from the type of the module or op that consumes the weight:
// per-channel along the output channels, per-block along the input channels.
// Activations never get a default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace quantization {

/// The default axis of a weight consumed by `consumer_type` under a granularity
/// of type `granularity`. `consumer_type` is an exact module type key
/// (`torch.nn.modules.conv.Conv2d`, `torch.nn.modules.conv.ConvTranspose2d`,
/// `torch.nn.modules.linear.Linear`, `torch.nn.modules.sparse.Embedding`, ...;
/// no subclass matching) or a graph op type (`conv2d`, `conv_transpose2d`,
/// `linear`, `embedding`, ...). Weight layouts and defaults:
///   Conv{1,2,3}d [O, I, k...], Linear [O, I], Embedding [V, D]: per-channel 0,
///   per-block 1; ConvTranspose{1,2,3}d [I, O, k...]: per-channel 1, per-block 0.
/// nullopt for any other type and for per-tensor.
std::optional<std::int64_t> default_weight_axis(std::string_view consumer_type,
                                                GranularityType granularity);

/// True when `g` takes its axis from the consumer: per-channel without axis, or
/// single-axis per-block without axis. Per-tensor, per-block with one block size
/// per dimension and explicit axes are left as they are.
bool needs_default_axis(const Granularity& g);

/// `PerChannelGranularity`, `PerBlockGranularity` or `PerTensorGranularity`: the
/// reference class name of a granularity, for messages.
std::string_view granularity_class_name(GranularityType type);

/// One weight fake-quantizer whose axis may need a default.
struct WeightAxisRequest {
  /// The fake-quantizer's name, used in error messages.
  std::string name;
  Granularity granularity;
  /// Type keys of every consumer of the weight (module types or op types).
  std::vector<std::string> consumer_types;
};

/// Fills the default axis of every request that needs one and returns the
/// granularities in request order (the others unchanged). Consumers without a
/// default are ignored when at least one has one; those with one must agree.
/// Throws one InvalidArgumentError naming every weight that has no default
/// ("Weight fake-quantize modules with unresolved axis=None remain after applying
/// defaults: ...") and every one whose consumers disagree ("Conflicting default
/// axes for shared weight fake-quantize modules: ..."), the two parts joined by a
/// newline, as the reference does.
std::vector<Granularity> apply_weight_axis_defaults(const std::vector<WeightAxisRequest>& weights);

/// apply_weight_axis_defaults() for one weight spec: the spec with its
/// granularity axis filled in. `name` names the weight in errors.
QuantizationSpec apply_weight_axis_default(const QuantizationSpec& spec,
                                           const std::vector<std::string>& consumer_types,
                                           const std::string& name);

/// Throws InvalidArgumentError ("Activation fake-quantize modules with unresolved
/// axis=None: NAME (GranularityClass), ...") when any activation
/// fake-quantizer (name, granularity) needs a default axis: activations never
/// get one.
void check_activation_axes(const std::vector<std::pair<std::string, Granularity>>& activations);

}  // namespace quantization
}  // namespace coreai_opt
