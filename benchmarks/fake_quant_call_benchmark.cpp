// Per-call cost of one fake-quant point on a tensor small enough that the
// arithmetic hardly counts: the step called directly (eager mode) against the
// coreai_opt::fake_quant_forward op called boxed with the argument stack the
// TorchScript interpreter builds (graph mode). The difference is what graph mode
// adds per call: unboxing the arguments and reading the FakeQuantizeSpec constant.
//
// Names: BM_FakeQuantCall_<direct|graph_op>/<passthrough|frozen|observing>/<elements>.
// `passthrough` is a disabled point (the step returns x at once), so the time is
// the call overhead alone; `frozen` is a prepared model's steady state (observer
// off, fake quant on); `observing` is calibration (observer on as well).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "coreai_opt/torch/fake_quantize.h"

namespace coreai_opt::bench {
namespace {

using quantization::FakeQuantizeConfig;
using quantization::FakeQuantizeSpec;
using quantization::FakeQuantizeTensors;

enum class Mode { kPassthrough, kFrozen, kObserving };

struct Point {
  FakeQuantizeConfig config = FakeQuantizeConfig::make(
      quantization::QuantizationSpec(DType::kInt8, quantization::PerTensorGranularity(),
                                     QuantizationScheme::kAsymmetric),
      quantization::TensorRole::kActivation, "x");
  FakeQuantizeTensors t = FakeQuantizeTensors::fresh();
  at::Tensor x;

  Point(int64_t n, Mode mode) {
    at::manual_seed(0);
    x = at::randn({n});
    quantization::fake_quant_forward(x, t, config, "x");  // sets the qparams
    t.state[quantization::kObserverEnabled] = mode == Mode::kObserving ? 1 : 0;
    t.state[quantization::kDisabled] = mode == Mode::kPassthrough ? 1 : 0;
  }
};

void BM_FakeQuantCall_direct(benchmark::State& state, Mode mode) {
  Point p(state.range(0), mode);
  const std::string what = "x";  // the graph op reads its name from the spec, no copy either
  for (auto _ : state) {
    benchmark::DoNotOptimize(quantization::fake_quant_forward(p.x, p.t, p.config, what));
  }
}

void BM_FakeQuantCall_graph_op(benchmark::State& state, Mode mode) {
  Point p(state.range(0), mode);
  const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("coreai_opt::fake_quant_forward", "");
  // The interpreter pushes each argument (a copy of the IValue) and calls the op boxed.
  const std::vector<c10::IValue> args{
      p.x,
      p.t.running_min,
      p.t.running_max,
      p.t.scale,
      p.t.zero_point,
      p.t.minval,
      p.t.state,
      c10::IValue(c10::make_intrusive<FakeQuantizeSpec>(p.config, "x"))};
  torch::jit::Stack stack;
  for (auto _ : state) {
    stack.assign(args.begin(), args.end());
    op.callBoxed(stack);
    benchmark::DoNotOptimize(stack.back());
  }
}

BENCHMARK_CAPTURE(BM_FakeQuantCall_direct, passthrough, Mode::kPassthrough)->Arg(16);
BENCHMARK_CAPTURE(BM_FakeQuantCall_graph_op, passthrough, Mode::kPassthrough)->Arg(16);
BENCHMARK_CAPTURE(BM_FakeQuantCall_direct, frozen, Mode::kFrozen)->Arg(16);
BENCHMARK_CAPTURE(BM_FakeQuantCall_graph_op, frozen, Mode::kFrozen)->Arg(16);
BENCHMARK_CAPTURE(BM_FakeQuantCall_direct, observing, Mode::kObserving)->Arg(16);
BENCHMARK_CAPTURE(BM_FakeQuantCall_graph_op, observing, Mode::kObserving)->Arg(16);

}  // namespace
}  // namespace coreai_opt::bench

BENCHMARK_MAIN();
