// Uses the LibTorch layer of the installed package.
#include <coreai_opt/torch/module_types.h>
#include <torch/torch.h>

#include <cstdio>

int main() {
  using namespace coreai_opt::quantization;
  QuantizerConfig c = QuantizerConfig::presets.w8();
  c.set_module_type<torch::nn::Linear>(std::nullopt);
  if (!c.module_type_configs.contains("torch.nn.modules.linear.Linear")) {
    std::fprintf(stderr, "typed set_module_type did not use the Python name\n");
    return 1;
  }
  // The op library registers its operators when it is loaded.
  auto schema = c10::Dispatcher::singleton().findSchema({"coreai_opt::fake_quantize", ""});
  std::printf("coreai_opt ops registered: %s\n", schema ? "yes" : "no");
  std::printf("consumer_torch ok\n");
  return 0;
}
