#include "coreai_opt/quantization/axis_defaults.h"

#include <array>
#include <string>

#include "coreai_opt/errors.h"

namespace coreai_opt {
namespace quantization {

namespace {

struct AxisDefault {
  std::string_view type;
  std::int64_t per_channel;
  std::int64_t per_block;
};

// Module type keys and the graph op types that stand for them.
constexpr std::array<AxisDefault, 16> kAxisDefaults{{
    {"torch.nn.modules.conv.Conv1d", 0, 1},
    {"torch.nn.modules.conv.Conv2d", 0, 1},
    {"torch.nn.modules.conv.Conv3d", 0, 1},
    {"torch.nn.modules.conv.ConvTranspose1d", 1, 0},
    {"torch.nn.modules.conv.ConvTranspose2d", 1, 0},
    {"torch.nn.modules.conv.ConvTranspose3d", 1, 0},
    {"torch.nn.modules.linear.Linear", 0, 1},
    {"torch.nn.modules.sparse.Embedding", 0, 1},
    {"conv1d", 0, 1},
    {"conv2d", 0, 1},
    {"conv3d", 0, 1},
    {"conv_transpose1d", 1, 0},
    {"conv_transpose2d", 1, 0},
    {"conv_transpose3d", 1, 0},
    {"linear", 0, 1},
    {"embedding", 0, 1},
}};

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

}  // namespace

std::optional<std::int64_t> default_weight_axis(std::string_view consumer_type,
                                                GranularityType granularity) {
  if (granularity == GranularityType::kPerTensor) return std::nullopt;
  for (const AxisDefault& d : kAxisDefaults) {
    if (d.type == consumer_type) {
      return granularity == GranularityType::kPerChannel ? d.per_channel : d.per_block;
    }
  }
  return std::nullopt;
}

bool needs_default_axis(const Granularity& g) {
  if (g.axis) return false;
  if (g.type == GranularityType::kPerChannel) return true;
  return g.type == GranularityType::kPerBlock && !g.block_size_is_list;
}

std::string_view granularity_class_name(GranularityType type) {
  switch (type) {
    case GranularityType::kPerChannel:
      return "PerChannelGranularity";
    case GranularityType::kPerBlock:
      return "PerBlockGranularity";
    case GranularityType::kPerTensor:
      break;
  }
  return "PerTensorGranularity";
}

std::vector<Granularity> apply_weight_axis_defaults(const std::vector<WeightAxisRequest>& weights) {
  std::vector<Granularity> out;
  out.reserve(weights.size());
  std::vector<std::string> unresolved;
  std::vector<std::string> conflicting;
  for (const WeightAxisRequest& w : weights) {
    Granularity g = w.granularity;
    if (needs_default_axis(g)) {
      std::optional<std::int64_t> axis;
      bool conflict = false;
      for (const std::string& consumer : w.consumer_types) {
        const std::optional<std::int64_t> d = default_weight_axis(consumer, g.type);
        if (!d) continue;  // consumers without a default do not vote
        if (axis && *axis != *d) conflict = true;
        if (!axis) axis = d;
      }
      if (conflict) {
        conflicting.push_back(w.name);
      } else if (!axis) {
        unresolved.push_back(w.name);
      } else {
        g.axis = axis;
      }
    }
    out.push_back(std::move(g));
  }
  std::vector<std::string> parts;
  if (!unresolved.empty()) {
    parts.push_back(
        "Weight fake-quantize modules with unresolved axis=None remain after applying defaults: " +
        join(unresolved, ", ") +
        ". The ops consuming these modules do not have defaults. Provide an explicit axis value "
        "in the granularity configuration (e.g., PerChannelGranularity(axis=0)).");
  }
  if (!conflicting.empty()) {
    parts.push_back("Conflicting default axes for shared weight fake-quantize modules: " +
                    join(conflicting, ", ") +
                    ". All consumers of a shared weight must resolve to the same default axis. "
                    "Provide an explicit axis.");
  }
  if (!parts.empty()) throw InvalidArgumentError(join(parts, "\n"));
  return out;
}

QuantizationSpec apply_weight_axis_default(const QuantizationSpec& spec,
                                           const std::vector<std::string>& consumer_types,
                                           const std::string& name) {
  QuantizationSpec out = spec;
  out.granularity =
      apply_weight_axis_defaults({WeightAxisRequest{name, spec.granularity, consumer_types}})
          .front();
  return out;
}

void check_activation_axes(const std::vector<std::pair<std::string, Granularity>>& activations) {
  std::vector<std::string> bad;
  for (const auto& [name, g] : activations) {
    if (needs_default_axis(g)) {
      bad.push_back(name + " (" + std::string(granularity_class_name(g.type)) + ")");
    }
  }
  if (bad.empty()) return;
  throw InvalidArgumentError(
      "Activation fake-quantize modules with unresolved axis=None: " + join(bad, ", ") +
      ". Activation quantization does not support axis=None. Provide an "
      "explicit axis in the granularity configuration.");
}

}  // namespace quantization
}  // namespace coreai_opt
