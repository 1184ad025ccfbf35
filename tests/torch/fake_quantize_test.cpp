// The shared fake-quantization point: observer, qparams, STE, state in buffers.
#include "coreai_opt/torch/fake_quantize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "coreai_opt/errors.h"
#include "coreai_opt/kernels/qparams.h"
#include "coreai_opt/warnings.h"

namespace coreai_opt::quantization {
namespace {

// Independent int fake quant: clamp(round_half_even(x / s) + zp, qmin, qmax), then back.
float int_fq(float x, float s, int zp, int qmin, int qmax) {
  const float q = std::nearbyint(x / s) + static_cast<float>(zp);
  const float c = std::min(std::max(q, static_cast<float>(qmin)), static_cast<float>(qmax));
  return (c - static_cast<float>(zp)) * s;
}

FakeQuantize make_fq(const QuantizationSpec& spec, TensorRole role, const std::string& what = "t") {
  return FakeQuantize(FakeQuantizeConfig::make(spec, role, what), what);
}

TEST(FakeQuantizePoint, Int8SymmetricPerTensorMatchesFormula) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8), TensorRole::kWeight);
  const auto x = torch::tensor({-1.0f, 0.0f, 3.0f, 2.9f, -2.2f});
  const auto y = fq->forward(x);
  const float s = 3.0f / 127.5f;
  EXPECT_FLOAT_EQ(fq->scale().item<float>(), s);
  EXPECT_EQ(fq->zero_point().item<int>(), 0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(y[i].item<float>(), int_fq(x[i].item<float>(), s, 0, -128, 127)) << i;
  }
  // +amax lands on 127.5 -> 128 (half to even) -> clamped to 127: 127 * s, not 3.
  EXPECT_EQ(y[2].item<float>(), 127.0f * s);
}

// 0.3.0 per_block on the last axis: an activation [B, S, D] gets one scale per token and
// block (per-token), a weight of the same shape blocks along the last axis with its dim 0
// per-channel and dim 1 per-channel too (dims 0 and 1 are the "other" dims of axis 2).
TEST(FakeQuantizePoint, PerBlockLastAxisIsPerTokenForActivations) {
  const QuantizationSpec spec(DType::kInt8, PerBlockGranularity(4, -1));
  auto act = make_fq(spec, TensorRole::kActivation);
  auto wgt = make_fq(spec, TensorRole::kWeight);
  const auto x = torch::arange(48, torch::kFloat).reshape({2, 3, 8}) - 20.0f;
  const auto ya = act->forward(x);
  wgt->forward(x);
  EXPECT_EQ(act->scale().sizes(), (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(wgt->scale().sizes(), (std::vector<int64_t>{2, 3, 2}));
  // Each block of 4 consecutive values has its own scale: amax / 127.5.
  const auto blocks = x.reshape({2, 3, 2, 4});
  const auto want = blocks.abs().amax(-1) / 127.5f;
  EXPECT_TRUE(torch::equal(act->scale(), want));
  for (int64_t i = 0; i < 48; ++i) {
    const float s = want.flatten()[i / 4].item<float>();
    EXPECT_EQ(ya.flatten()[i].item<float>(), int_fq(x.flatten()[i].item<float>(), s, 0, -128, 127))
        << i;
  }
  // On a 4-D tensor the roles differ: the weight keeps dim 2 inside its blocks.
  auto act4 = make_fq(spec, TensorRole::kActivation);
  auto wgt4 = make_fq(spec, TensorRole::kWeight);
  const auto x4 = torch::randn({2, 3, 5, 8});
  act4->forward(x4);
  wgt4->forward(x4);
  EXPECT_EQ(act4->scale().sizes(), (std::vector<int64_t>{2, 3, 5, 2}));
  EXPECT_EQ(wgt4->scale().sizes(), (std::vector<int64_t>{2, 3, 1, 2}));
}

// The dynamic calculator: each call's qparams come from that call's tensor and are not
// stored; the observer flag does not matter; weights and bounded ranges are refused when
// the point is built, with the reference's texts.
TEST(FakeQuantizePoint, DynamicIsStatelessAndActivationOnly) {
  QuantizationSpec spec(DType::kInt8);
  spec.qparam_calculator_cls = QParamCalculator::kDynamic;
  auto fq = make_fq(spec, TensorRole::kActivation);
  fq->enable_observer(false);
  const auto a = torch::tensor({-1.0f, 0.5f, 3.0f});
  const auto b = torch::tensor({-10.0f, 4.0f, 7.0f, 1.0f});  // another shape too
  const auto ya = fq->forward(a);
  const auto yb = fq->forward(b);
  EXPECT_EQ(ya[2].item<float>(), int_fq(3.0f, 3.0f / 127.5f, 0, -128, 127));
  EXPECT_EQ(yb[1].item<float>(), int_fq(4.0f, 10.0f / 127.5f, 0, -128, 127));
  EXPECT_EQ(fq->scale().numel(), 0);
  EXPECT_FALSE(fq->initialized());
  fq->enable_fake_quant(false);
  EXPECT_TRUE(torch::equal(fq->forward(a), a));

  EXPECT_THAT(
      [&] { make_fq(spec, TensorRole::kWeight, "fc.weight"); },
      ::testing::ThrowsMessage<InvalidArgumentError>(::testing::StrEq(
          "fc.weight: DynamicQParamsCalculator is only supported for activation quantization, "
          "got quantization_target=CompressionTargetTensor.WEIGHT.")));
  spec.float_range = {0.0, std::nullopt};
  EXPECT_THAT([&] { make_fq(spec, TensorRole::kActivation, "relu_output"); },
              ::testing::ThrowsMessage<InvalidArgumentError>(::testing::StrEq(
                  "relu_output: StatelessQParamsCalculatorBase requires float_range=[None, None]; "
                  "got [0.0, None]. Bounded ranges contradict the per-forward recompute "
                  "contract.")));
}

TEST(FakeQuantizePoint, WorkedNumbersUint8Asymmetric) {
  QuantizationSpec spec(DType::kUInt8, PerTensorGranularity(), QuantizationScheme::kAsymmetric);
  auto fq = make_fq(spec, TensorRole::kWeight);
  fq->forward(torch::tensor({-1.0f, 0.0f, 5.0f}));
  EXPECT_FLOAT_EQ(fq->scale().item<float>(), 6.0f / 255.0f);
  EXPECT_EQ(fq->zero_point().item<int>(), 42);  // 0 - round(-42.5) = 42 (half to even)
}

TEST(FakeQuantizePoint, PerChannelWeightUsesOneScalePerRow) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8, PerChannelGranularity(0)), TensorRole::kWeight);
  const auto w = torch::tensor({{1.0f, -2.0f}, {0.5f, 0.25f}});
  fq->forward(w);
  ASSERT_EQ(fq->scale().sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_FLOAT_EQ(fq->scale()[0][0].item<float>(), 2.0f / 127.5f);
  EXPECT_FLOAT_EQ(fq->scale()[1][0].item<float>(), 0.5f / 127.5f);
}

TEST(FakeQuantizePoint, MovingAverageForActivations) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8), TensorRole::kActivation);  // default -> EMA
  fq->forward(torch::tensor({-1.0f, 2.0f}));
  fq->forward(torch::tensor({-3.0f, 4.0f}));
  auto buffers = fq->named_buffers();
  const float c = 0.01f;
  EXPECT_EQ(buffers["running_min"].item<float>(), c * -3.0f + (1.0f - c) * -1.0f);
  EXPECT_EQ(buffers["running_max"].item<float>(), c * 4.0f + (1.0f - c) * 2.0f);

  QuantizationSpec fast(DType::kInt8);
  fast.averaging_constant = 0.5;
  auto fq2 = make_fq(fast, TensorRole::kActivation);
  fq2->forward(torch::tensor({-1.0f, 2.0f}));
  fq2->forward(torch::tensor({-3.0f, 4.0f}));
  EXPECT_EQ(fq2->named_buffers()["running_max"].item<float>(), 3.0f);
}

TEST(FakeQuantizePoint, GlobalMinMaxNeverContracts) {
  QuantizationSpec spec(DType::kInt8);
  spec.qparam_calculator_cls = QParamCalculator::kGlobalMinMax;
  auto fq = make_fq(spec, TensorRole::kActivation);
  fq->forward(torch::tensor({-4.0f, 1.0f}));
  fq->forward(torch::tensor({-1.0f, 2.0f}));
  EXPECT_EQ(fq->named_buffers()["running_min"].item<float>(), -4.0f);
  EXPECT_EQ(fq->named_buffers()["running_max"].item<float>(), 2.0f);
}

TEST(FakeQuantizePoint, StraightThroughGradientMasksClippedElements) {
  QuantizationSpec spec(DType::kInt8);
  spec.float_range = {-1.0, 1.0};
  auto fq = make_fq(spec, TensorRole::kActivation);
  auto x = torch::tensor({0.5f, 2.0f, -3.0f, -0.25f}, torch::requires_grad());
  fq->forward(x).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({1.0f, 0.0f, 0.0f, 1.0f})));
}

TEST(FakeQuantizePoint, ObserverOffKeepsQparams) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8), TensorRole::kWeight);
  fq->forward(torch::tensor({-1.0f, 1.0f}));
  fq->enable_observer(false);
  const auto y = fq->forward(torch::tensor({10.0f}));
  EXPECT_EQ(y.item<float>(), 127.0f * (1.0f / 127.5f));  // clipped with the old scale
  fq->enable_fake_quant(false);
  EXPECT_EQ(fq->forward(torch::tensor({10.0f})).item<float>(), 10.0f);
}

TEST(FakeQuantizePoint, FakeQuantWithoutQparamsIsAnError) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8), TensorRole::kWeight, "fc.weight");
  fq->enable_observer(false);
  try {
    fq->forward(torch::ones({2}));
    FAIL() << "expected an error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_EQ(std::string(e.what()),
              "fake quantization of fc.weight has no qparams yet: run a forward pass with its "
              "observer enabled (calibration) before enabling fake quantization");
  }
}

TEST(FakeQuantizePoint, NonDividingBlockDisablesWithWarning) {
  auto fq = make_fq(QuantizationSpec(DType::kInt4, PerBlockGranularity(32, 1)), TensorRole::kWeight,
                    "fc.weight");
  WarningCollector warnings;
  const auto w = torch::randn({4, 48});
  const auto y = fq->forward(w);
  EXPECT_TRUE(torch::equal(y, w));
  EXPECT_TRUE(fq->disabled());
  ASSERT_EQ(warnings.messages().size(), 1u);
  EXPECT_EQ(warnings.messages()[0],
            "Tensor 'fc.weight' (target: CompressionTargetTensor.WEIGHT, shape: (4, 48)) "
            "incompatible with block size configuration: Tensor size 48 along axis 1 is not "
            "divisible by block size 32. Skipping quantization.");
}

TEST(FakeQuantizePoint, Bf16InputsGetBf16Qparams) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8), TensorRole::kWeight);
  const auto y = fq->forward(torch::tensor({-1.0f, 0.0f, 3.0f}).to(torch::kBFloat16));
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(fq->scale().item<float>(), kernels::round_to_bfloat16(3.0f / 127.5f));
  EXPECT_NE(fq->scale().item<float>(), 3.0f / 127.5f);
}

// Module::to(dtype) converts every buffer, flags included; the next forward puts the
// point's tensors back to their own dtypes, and the point goes on as if nothing happened.
TEST(FakeQuantizePoint, ModelDtypeChangeKeepsTheQparamDtypes) {
  const QuantizationSpec spec(DType::kInt8, PerTensorGranularity(),
                              QuantizationScheme::kAsymmetric);
  auto kept = make_fq(spec, TensorRole::kActivation);
  auto moved = make_fq(spec, TensorRole::kActivation);
  const auto x1 = torch::tensor({-1.5f, 0.25f, 3.0f}).to(torch::kBFloat16);
  const auto x2 = torch::tensor({-4.0f, 1.0f, 2.5f}).to(torch::kBFloat16);
  kept->forward(x1);
  moved->forward(x1);
  moved->to(torch::kBFloat16);
  ASSERT_EQ(moved->state().scalar_type(), torch::kBFloat16);  // what Module::to did
  const auto y_kept = kept->forward(x2);
  const auto y_moved = moved->forward(x2);
  EXPECT_TRUE(torch::equal(y_kept, y_moved));
  EXPECT_EQ(moved->state().scalar_type(), torch::kLong);
  EXPECT_EQ(moved->scale().scalar_type(), torch::kFloat);
  EXPECT_EQ(moved->zero_point().scalar_type(), torch::kInt);
  EXPECT_TRUE(torch::equal(kept->scale(), moved->scale()));
  EXPECT_TRUE(torch::equal(kept->zero_point(), moved->zero_point()));
  EXPECT_TRUE(moved->observer_enabled() && moved->fake_quant_enabled() && moved->initialized());
  // 0.99 * -1.5 + 0.01 * -4 = -1.525 in bf16 arithmetic: -1.5234375.
  EXPECT_EQ(moved->minval().item<float>(), -1.5234375f);
}

// 0.3.0 float_range precision: one bound from the data, and the qparams follow the
// input's dtype; both bounds fixed, and they stay float32.
TEST(FakeQuantizePoint, FixedFloatRangeKeepsFloat32Qparams) {
  const auto x = torch::tensor({-0.5f, 0.25f, 2.0f}).to(torch::kBFloat16);
  QuantizationSpec both(DType::kInt8);
  both.float_range = {-1.0, 3.0};
  auto fq_both = make_fq(both, TensorRole::kActivation);
  fq_both->forward(x);
  EXPECT_EQ(fq_both->scale().item<float>(), 3.0f / 127.5f);  // not rounded to bf16
  QuantizationSpec one(DType::kInt8);
  one.float_range = {std::nullopt, 3.0};
  auto fq_one = make_fq(one, TensorRole::kActivation);
  fq_one->forward(x);
  EXPECT_EQ(fq_one->scale().item<float>(), kernels::round_to_bfloat16(3.0f / 127.5f));
  EXPECT_NE(3.0f / 127.5f, kernels::round_to_bfloat16(3.0f / 127.5f));
}

TEST(FakeQuantizePoint, Mxfp4WeightsUsePowerOfTwoScales) {
  auto fq = make_fq(QuantizationSpec(DType::kFloat4E2M1FNx2, PerBlockGranularity(32, 1)),
                    TensorRole::kWeight);
  auto w = torch::zeros({1, 32});
  w[0][0] = 500.0f;  // amax 500 -> scale 2^(8-2) = 64; 500/64 = 7.8 saturates to 6 -> 384
  w[0][1] = 100.0f;  // 100/64 = 1.5625 -> 1.5 -> 96
  const auto y = fq->forward(w);
  EXPECT_EQ(fq->scale().item<float>(), 64.0f);
  EXPECT_EQ(y[0][0].item<float>(), 384.0f);
  EXPECT_EQ(y[0][1].item<float>(), 96.0f);
}

TEST(FakeQuantizePoint, StateSurvivesSaveAndLoad) {
  auto fq = make_fq(QuantizationSpec(DType::kInt8, PerChannelGranularity(0)), TensorRole::kWeight);
  fq->forward(torch::tensor({{1.0f, -2.0f}, {0.5f, 0.25f}}));
  fq->enable_observer(false);
  std::stringstream buf;
  torch::save(fq, buf);
  auto fresh =
      make_fq(QuantizationSpec(DType::kInt8, PerChannelGranularity(0)), TensorRole::kWeight);
  torch::load(fresh, buf);
  EXPECT_TRUE(torch::equal(fresh->scale(), fq->scale()));
  EXPECT_TRUE(fresh->initialized());
  EXPECT_FALSE(fresh->observer_enabled());
  // The loaded qparams are used (observer stays off).
  EXPECT_TRUE(torch::equal(fresh->forward(torch::tensor({{4.0f, 4.0f}, {4.0f, 4.0f}})),
                           fq->forward(torch::tensor({{4.0f, 4.0f}, {4.0f, 4.0f}}))));
}

TEST(FakeQuantizePoint, GraphOpMatchesTheModule) {
  const auto cfg = FakeQuantizeConfig::make(
      QuantizationSpec(DType::kInt8, PerTensorGranularity(), QuantizationScheme::kAsymmetric),
      TensorRole::kActivation);
  auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("coreai_opt::fake_quant_forward", "")
          .typed<at::Tensor(const at::Tensor&, at::Tensor&, at::Tensor&, at::Tensor&, at::Tensor&,
                            at::Tensor&, at::Tensor&, c10::intrusive_ptr<FakeQuantizeSpec>)>();
  auto t = FakeQuantizeTensors::fresh();
  const auto x = torch::tensor({-0.7f, 0.1f, 2.5f});
  const auto y = op.call(x, t.running_min, t.running_max, t.scale, t.zero_point, t.minval, t.state,
                         c10::make_intrusive<FakeQuantizeSpec>(cfg, "x"));
  FakeQuantize module(cfg, "x");
  EXPECT_TRUE(torch::equal(y, module->forward(x)));
  EXPECT_EQ(t.scale.sizes(), (std::vector<int64_t>{1}));
  EXPECT_EQ(t.state[kInitialized].item<int64_t>(), 1);
}

TEST(FakeQuantizePoint, ConfigRejectsUnresolvedAxis) {
  try {
    FakeQuantizeConfig::make(QuantizationSpec(DType::kInt8, PerChannelGranularity()),
                             TensorRole::kWeight, "fc.weight");
    FAIL() << "expected an error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_EQ(std::string(e.what()),
              "fc.weight: per_channel granularity has no axis; resolve the default axis of the "
              "consuming module first or give an explicit axis");
  }
}

}  // namespace
}  // namespace coreai_opt::quantization
