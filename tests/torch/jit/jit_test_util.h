// Helpers of the graph-mode tests: fixtures, example inputs, configs.
#pragma once

#include <torch/script.h>

#include <string>
#include <vector>

#include "coreai_opt/quantization/config.h"

namespace coreai_opt::testing {

inline std::string fixture(const std::string& name) {
  return std::string(COREAI_OPT_JIT_FIXTURES) + "/" + name;
}

inline torch::jit::Module load_fixture(const std::string& name) {
  return torch::jit::load(fixture(name));
}

/// The example inputs saved beside a fixture (`net` -> net_inputs.pt).
inline std::vector<c10::IValue> fixture_inputs(const std::string& net) {
  torch::jit::Module holder = load_fixture(net + "_inputs.pt");
  std::vector<c10::IValue> out;
  for (int i = 0; holder.hasattr("input" + std::to_string(i)); ++i)
    out.emplace_back(holder.attr("input" + std::to_string(i)).toTensor().clone());
  return out;
}

inline quantization::QuantizerConfig yaml_config(const std::string& text) {
  return quantization::QuantizerConfig::from_yaml_string(text, "test.yaml");
}

/// The output tensor of a forward (the second element of Net's tuple).
inline at::Tensor out_tensor(const c10::IValue& v) {
  if (v.isTuple()) return v.toTupleRef().elements().at(1).toTensor();
  return v.toTensor();
}

}  // namespace coreai_opt::testing
