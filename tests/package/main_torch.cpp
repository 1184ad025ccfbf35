// Uses the LibTorch layer of the installed package through the umbrella header:
// the first steps of a LibTorch user (a preset on a stock module, prepare,
// calibrate, finalize), then the registered ops through the dispatcher.
#include <coreai_opt/coreai_opt.h>
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
  torch::manual_seed(0);
  torch::nn::Linear fc(16, 4);
  Quantizer q(fc, QuantizerConfig::presets.w8());  // no execution_mode: eager from the model
  const at::Tensor x = torch::randn({3, 16});
  q.prepare({x});
  {
    auto calibrating = q.calibration_mode();
    torch::NoGradGuard no_grad;
    fc->forward(x);
  }
  const FinalizeReport report = q.finalize().report;
  if (report.weights.size() != 1 || report.weights[0].name != "weight" ||
      report.weights[0].quantized_bytes != 16 * 4 + 4 * 4) {
    std::fprintf(stderr, "unexpected finalize report:\n%s", report.format().c_str());
    return 1;
  }
  // The op library registers its operators when it is loaded; this program uses
  // them only through the dispatcher, as a TorchScript model would.
  auto op = c10::Dispatcher::singleton().findSchema({"coreai_opt::fake_quantize", ""});
  if (!op) {
    std::fprintf(stderr, "coreai_opt::fake_quantize is not registered\n");
    return 1;
  }
  const auto y = op->typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                      const std::optional<at::Tensor>&,
                                      const std::optional<at::Tensor>&, at::IntArrayRef,
                                      c10::string_view, int64_t, int64_t)>()
                     .call(torch::tensor({0.3f, -1.6f, 9.0f}), torch::tensor({0.5f}),
                           std::nullopt, std::nullopt, {3}, "int8", -128, 127);
  // round(0.6) = 1, round(-3.2) = -3, round(18) = 18 -> times 0.5.
  if (!torch::equal(y, torch::tensor({0.5f, -1.5f, 9.0f}))) {
    std::fprintf(stderr, "unexpected fake_quantize result\n");
    return 1;
  }
  std::printf("consumer_torch ok\n");
  return 0;
}
