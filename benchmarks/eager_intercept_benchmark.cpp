// What quantizing stock torch::nn modules at the dispatcher costs per forward, against the
// same network built from coreai_opt::nn drop-ins (which call their fake-quants directly)
// and against the float network. The network is two small Linear layers (2-D input: t +
// addmm) and one Conv2d, so the per-call overhead shows rather than the arithmetic.
//
// Names: BM_EagerForward/<float|drop_in|stock>. All three run on this thread with the
// interception switched on (the float model's ops fall through it); `stock - drop_in` is
// the interception's cost, `drop_in - float` the fake-quants' own cost.
// BM_UnrelatedOp/<off|on>: an op no module runs (a relu) with the switch off and on: the
// cost of the switch for code that is not quantized.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <memory>

#include "coreai_opt/coreai_opt.h"

namespace coreai_opt::bench {
namespace {

namespace cq = coreai_opt::quantization;

template <class Linear, class Conv2d>
struct NetImpl : torch::nn::Module {
  NetImpl() {
    conv = register_module("conv", Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
    fc1 = register_module("fc1", Linear(64, 32));
    fc2 = register_module("fc2", Linear(32, 8));
  }
  at::Tensor forward(const at::Tensor& x) {  // x: [B, 1, 4, 4]
    const at::Tensor h = torch::relu(conv(x)).flatten(1);
    return fc2(torch::relu(fc1(h)));
  }
  Linear fc1{nullptr}, fc2{nullptr};
  Conv2d conv{nullptr};
};

enum class Variant { kFloat, kDropIn, kStock };

template <class Net>
void run(benchmark::State& state, bool prepare) {
  auto net = std::make_shared<Net>();
  net->eval();
  const at::Tensor x = at::randn({4, 1, 4, 4});
  std::unique_ptr<cq::Quantizer> q;
  if (prepare) {
    q = std::make_unique<cq::Quantizer>(net);  // W8A8
    q->prepare({x});
    auto calibrating = q->calibration_mode();
    net->forward(x);
  }
  cq::enable_stock_module_quantization_on_this_thread();
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x));
}

void BM_EagerForward(benchmark::State& state, Variant v) {
  using Stock = NetImpl<torch::nn::Linear, torch::nn::Conv2d>;
  using DropIn = NetImpl<nn::Linear, nn::Conv2d>;
  switch (v) {
    case Variant::kFloat:
      run<Stock>(state, false);
      break;
    case Variant::kDropIn:
      run<DropIn>(state, true);
      break;
    case Variant::kStock:
      run<Stock>(state, true);
      break;
  }
}

void BM_UnrelatedOp(benchmark::State& state, bool on) {
  // A thread of its own per run would be cleaner; the switch only goes on, so `off` runs
  // first (registration order) on the benchmark thread.
  if (on) cq::enable_stock_module_quantization_on_this_thread();
  const at::Tensor x = at::randn({16});
  for (auto _ : state) benchmark::DoNotOptimize(at::relu(x));
}

BENCHMARK_CAPTURE(BM_UnrelatedOp, off, false);
BENCHMARK_CAPTURE(BM_UnrelatedOp, on, true);
BENCHMARK_CAPTURE(BM_EagerForward, float, Variant::kFloat);
BENCHMARK_CAPTURE(BM_EagerForward, drop_in, Variant::kDropIn);
BENCHMARK_CAPTURE(BM_EagerForward, stock, Variant::kStock);

}  // namespace
}  // namespace coreai_opt::bench

BENCHMARK_MAIN();
