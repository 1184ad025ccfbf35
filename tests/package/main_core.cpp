// Uses the torch-free core of the installed package: parse a config, check it.
#include <coreai_opt/core.h>

#include <cstdio>

int main() {
  using namespace coreai_opt::quantization;
  const QuantizerConfig c = QuantizerConfig::from_yaml_string(
      "quantization_config:\n  global_config:\n    op_state_spec:\n"
      "      weight: {dtype: int4, granularity: {type: per_block, block_size: 32}}\n");
  const QuantizationSpec& w = c.global_config->op_state_spec.get("weight")->value();
  if (w.dtype != DType::kInt4 || w.quant_min() != -8 || w.quant_max() != 7) {
    std::fprintf(stderr, "unexpected spec\n");
    return 1;
  }
  try {
    QuantizerConfig::from_yaml_string("quantization_config: {global_config: {bad: 1}}\n", "x.yaml");
    std::fprintf(stderr, "no error for a bad key\n");
    return 1;
  } catch (const coreai_opt::ConfigError& e) {
    std::printf("%s\n", e.what());
  }
  std::printf("consumer_core ok\n");
  return 0;
}
