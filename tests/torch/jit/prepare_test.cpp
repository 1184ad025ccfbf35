// Graph mode end to end: prepare, calibration, QAT, schedule, save/load, finalize.
// Expected values are recomputed here with plain ATen ops from the reference
// formulas (int8 symmetric: s = amax / 127.5, q = clamp(round(x / s), -128, 127)).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/script.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "coreai_opt/errors.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/quantizer.h"
#include "coreai_opt/warnings.h"
#include "torch/jit/jit_test_util.h"

namespace {

using coreai_opt::Error;
using coreai_opt::InvalidArgumentError;
using coreai_opt::WarningCollector;
using coreai_opt::quantization::Quantizer;
using coreai_opt::quantization::QuantizerConfig;
using coreai_opt::testing::fixture;
using coreai_opt::testing::fixture_inputs;
using coreai_opt::testing::load_fixture;
using coreai_opt::testing::out_tensor;
using coreai_opt::testing::yaml_config;

constexpr double kEps = 1.1920928955078125e-07;  // float32 machine epsilon: the scale floor

double act_scale(const at::Tensor& t) {
  const double amax =
      std::max(-std::min(t.min().item<double>(), 0.0), std::max(t.max().item<double>(), 0.0));
  return std::max(amax / 127.5, kEps);
}
at::Tensor fq_act(const at::Tensor& t, double s) {
  return at::clamp(at::round(t / s), -128, 127) * s;
}
// The output of a relu: int8 asymmetric whatever the config (min 0, so
// s = max / 255 and zero point -128).
double relu_scale(const at::Tensor& t) {
  return std::max(std::max(t.max().item<double>(), 0.0) / 255.0, kEps);
}
at::Tensor fq_relu(const at::Tensor& t, double s) {
  return at::clamp(at::round(t / s), 0, 255) * s;
}
// Per-channel along dim 0.
at::Tensor w_scale(const at::Tensor& w) {
  return at::clamp_min(w.abs().flatten(1).amax(1) / 127.5, kEps);
}
at::Tensor per_row(const at::Tensor& s, const at::Tensor& w) {
  std::vector<int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  shape[0] = -1;
  return s.view(shape);
}
at::Tensor fq_w(const at::Tensor& w) {
  const at::Tensor s = per_row(w_scale(w), w);
  return at::clamp(at::round(w / s), -128, 127) * s;
}
// In-range mask of the straight-through estimator (after rounding, before clamping).
at::Tensor w_mask(const at::Tensor& w) {
  const at::Tensor r = at::round(w / per_row(w_scale(w), w));
  return (r >= -128).logical_and(r <= 127).to(w.scalar_type());
}

at::Tensor param(const torch::jit::Module& m, const std::string& sub, const std::string& name) {
  return m.attr(sub).toModule().attr(name).toTensor();
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

std::map<std::string, coreai_opt::quantization::FakeQuantState> by_name(const Quantizer& q) {
  std::map<std::string, coreai_opt::quantization::FakeQuantState> out;
  for (auto& f : q.fake_quants()) out[f.name] = f;
  return out;
}

const char* kWeightOnly = R"(
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
)";

class JitPrepare : public ::testing::TestWithParam<std::string> {
 protected:
  std::string file(const std::string& net) const { return net + "_" + GetParam() + ".pt"; }
};

TEST_P(JitPrepare, TinyW8A8MatchesIndependentComputation) {
  torch::jit::Module m = load_fixture(file("tiny"));
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, QuantizerConfig());
  torch::jit::Module prepared = q.prepare({x}).script_module();
  at::Tensor y;
  {
    at::NoGradGuard ng;
    y = prepared.forward({x}).toTensor();
  }
  const at::Tensor w1 = param(m, "fc1", "weight"), b1 = param(m, "fc1", "bias");
  const at::Tensor w2 = param(m, "fc2", "weight"), b2 = param(m, "fc2", "bias");
  at::NoGradGuard ng;
  // prepare() observes one float pass; its ranges give the activation scales.
  const at::Tensor h_f = at::relu(at::linear(x, w1, b1));
  const at::Tensor y_f = at::linear(h_f, w2, b2);
  const double s_x = act_scale(x), s_h = relu_scale(h_f), s_y = act_scale(y_f);
  const at::Tensor h = fq_relu(at::relu(at::linear(fq_act(x, s_x), fq_w(w1), b1)), s_h);
  const at::Tensor expect = fq_act(at::linear(h, fq_w(w2), b2), s_y);
  EXPECT_LT(max_diff(y, expect), 1e-5);
  EXPECT_GT(max_diff(y, y_f), 1e-4);  // quantization did change the output

  // fc1 + relu fuse: one output fake-quant after the relu, shared by fc2's input.
  auto fqs = by_name(q);
  ASSERT_EQ(fqs.size(), 5U);
  for (const char* n :
       {"linear_input_0", "linear_weight", "linear_output", "linear_1_weight", "linear_1_output"})
    EXPECT_EQ(fqs.count(n), 1U) << n;
  EXPECT_NEAR(fqs["linear_input_0"].scale.item<double>(), s_x, 1e-9);
  EXPECT_NEAR(fqs["linear_output"].scale.item<double>(), s_h, 1e-9);
  EXPECT_TRUE(at::allclose(fqs["linear_weight"].scale.view(-1), w_scale(w1)));
  // The relu makes fc1's output fake-quant asymmetric (the config asks for
  // symmetric); its [0, observed] range joins fc2's observed input range, and
  // the observed minimum of a relu is 0 anyway. fc2's output keeps the config's
  // scheme.
  using coreai_opt::quantization::QuantizationScheme;
  EXPECT_EQ(fqs["linear_output"].spec.qscheme, QuantizationScheme::kAsymmetric);
  EXPECT_FALSE(fqs["linear_output"].spec.float_range[0].has_value());
  EXPECT_FALSE(fqs["linear_output"].spec.float_range[1].has_value());
  EXPECT_EQ(fqs["linear_output"].zero_point.item<std::int64_t>(), -128);
  EXPECT_EQ(fqs["linear_1_output"].spec.qscheme, QuantizationScheme::kSymmetric);
  for (const auto& [n, f] : fqs) {
    EXPECT_FALSE(f.observer_enabled) << n;
    EXPECT_TRUE(f.fake_quant_enabled) << n;
  }
  // The model given to the quantizer is untouched.
  EXPECT_TRUE(at::allclose(m.forward({x}).toTensor(), y_f));
}

// Ops with a known output range (reference 0.3.0) set the scheme (integer
// dtypes only) and float_range of a pattern's output fake-quant, whatever the
// config says; fixed bounds fix the qparams.
TEST(JitPrepareGraph, BoundedActivationsSetSchemeAndRange) {
  torch::jit::Module m("Bounded");
  m.register_attribute("training", c10::BoolType::get(), false);  // as nn.Module has
  m.register_parameter("weight", torch::randn({6, 4}), false);
  m.register_parameter("bias", torch::randn({6}), false);
  m.register_parameter("weight2", torch::randn({3, 6}), false);
  m.register_parameter("weight3", torch::randn({2, 3}), false);
  m.define(R"(
def forward(self, x):
    a = torch.sigmoid(torch.linear(x, self.weight, self.bias))
    b = torch.tanh(torch.linear(x, self.weight, self.bias))
    c = torch.clamp(torch.linear(x, self.weight, self.bias), -2.0, 2.0)
    d = torch.clamp(torch.linear(x, self.weight, self.bias), 0.0, 3.0)
    e = torch.clamp(torch.linear(x, self.weight, self.bias), 0.0, 6.0)
    f = torch.linear(x, self.weight, self.bias)
    g = torch.linear(torch.sigmoid(torch.linear(x, self.weight, self.bias)), self.weight2)
    h = torch.relu(torch.linear(x, self.weight, self.bias)).reshape([-1, 3]).unsqueeze(0)
    return a, b, c, d, e, f, g, torch.linear(h, self.weight3)
)");
  // The C++ script compiler cannot reach torch.nn.functional: the clamps become
  // the hardtanh calls (same arguments) that F.hardtanh and nn.ReLU6 record.
  {
    auto graph = torch::jit::toGraphFunction(m.get_method("forward").function()).graph();
    std::vector<torch::jit::Node*> clamps;
    for (torch::jit::Node* n : graph->nodes())
      if (n->kind() == c10::aten::clamp) clamps.push_back(n);
    ASSERT_EQ(clamps.size(), 3U);
    for (torch::jit::Node* n : clamps) {
      n->replaceWithNewSymbol(c10::aten::hardtanh);
      n->destroy();
    }
  }
  const at::Tensor x = torch::randn({5, 4}) * 4;
  using coreai_opt::quantization::QuantizationScheme;
  constexpr auto kAsym = QuantizationScheme::kAsymmetric;
  constexpr auto kSym = QuantizationScheme::kSymmetric;
  struct Expect {
    const char* fq;
    QuantizationScheme qscheme;
    double lo, hi;
  };
  const Expect expect[] = {{"linear_output", kAsym, 0.0, 1.0},
                           {"linear_1_output", kSym, -1.0, 1.0},
                           {"linear_2_output", kSym, -2.0, 2.0},
                           {"linear_3_output", kAsym, 0.0, 3.0},
                           {"linear_4_output", kAsym, 0.0, 6.0}};
  const at::Tensor w = m.attr("weight").toTensor(), b = m.attr("bias").toTensor();
  EXPECT_TRUE(at::allclose(m.forward({x}).toTupleRef().elements()[2].toTensor(),
                           at::hardtanh(at::linear(x, w, b), -2.0, 2.0)));
  {
    Quantizer q(m, QuantizerConfig());  // W8A8, symmetric activations
    q.prepare({x});
    auto fqs = by_name(q);
    for (const Expect& e : expect) {
      SCOPED_TRACE(e.fq);
      ASSERT_EQ(fqs.count(e.fq), 1U);
      const auto& f = fqs[e.fq];
      EXPECT_EQ(f.spec.qscheme, e.qscheme);
      EXPECT_EQ(f.spec.float_range[0], std::optional<double>(e.lo));
      EXPECT_EQ(f.spec.float_range[1], std::optional<double>(e.hi));
      // The range is fixed, not observed: int8 asymmetric (hi - lo) / 255 with
      // zero point -128 - round(lo / s); symmetric max / 127.5 with zero point 0.
      const double scale = e.qscheme == kAsym ? (e.hi - e.lo) / 255.0 : e.hi / 127.5;
      EXPECT_NEAR(f.scale.item<double>(), scale, 1e-7 * scale);
      EXPECT_EQ(f.zero_point.item<std::int64_t>(),
                e.qscheme == kAsym ? -128 - std::lround(e.lo / scale) : 0);
    }
    // A linear alone keeps the config's spec.
    EXPECT_EQ(fqs["linear_5_output"].spec.qscheme, kSym);
    EXPECT_FALSE(fqs["linear_5_output"].spec.float_range[0].has_value());
    // A sigmoid read by a linear that quantizes its input: one fake-quant for
    // both, whose range is the union of [0, 1] and the input spec's observed
    // range, so observed; the scheme stays asymmetric.
    const auto& g = fqs["linear_6_output"];
    EXPECT_EQ(g.spec.qscheme, kAsym);
    EXPECT_FALSE(g.spec.float_range[0].has_value());
    EXPECT_FALSE(g.spec.float_range[1].has_value());
    EXPECT_EQ(fqs.count("linear_7_input_0"), 0U);
    const at::Tensor sig = at::sigmoid(at::linear(x, w, b));
    const double g_scale = sig.max().item<double>() / 255.0;
    EXPECT_NEAR(g.scale.item<double>(), g_scale, 1e-6 * g_scale);
    // Through reshape and unsqueeze (rank-changing shape-only ops) the relu's
    // scheme and range reach the input fake-quant of the next linear.
    for (const char* n : {"linear_8_output", "linear_9_input_0"}) {
      SCOPED_TRACE(n);
      ASSERT_EQ(fqs.count(n), 1U);
      EXPECT_EQ(fqs[n].spec.qscheme, kAsym);
      EXPECT_EQ(fqs[n].spec.float_range[0], std::optional<double>(0.0));
      EXPECT_FALSE(fqs[n].spec.float_range[1].has_value());
      EXPECT_EQ(fqs[n].zero_point.item<std::int64_t>(), -128);
    }
  }
  {
    // Float dtypes are symmetric only: the range applies, the scheme does not.
    Quantizer q(m, yaml_config(R"(
quantization_config:
  global_config:
    op_input_spec: {"*": {dtype: float8_e4m3fn}}
    op_output_spec: {0: {dtype: float8_e4m3fn}}
    op_state_spec: {weight: null}
)"));
    q.prepare({x});
    auto fqs = by_name(q);
    ASSERT_EQ(fqs.count("linear_output"), 1U);
    EXPECT_EQ(fqs["linear_output"].spec.qscheme, kSym);
    EXPECT_EQ(fqs["linear_output"].spec.float_range[1], std::optional<double>(1.0));
    EXPECT_NEAR(fqs["linear_output"].scale.item<double>(), 1.0 / 448.0, 1e-9);
  }
}

// Net registers one Linear as `shared` and `alias`. Scripting makes that two
// module objects over the same tensors; the prepared (and finalized) clone
// keeps them one tensor, quantized by one weight fake-quant, in both frontends.
TEST_P(JitPrepare, SharedModuleKeepsOneWeightAndOneFakeQuant) {
  torch::jit::Module m = load_fixture(file("net"));
  ASSERT_TRUE(m.attr("shared").toModule().attr("weight").toTensor().is_same(
      m.attr("alias").toModule().attr("weight").toTensor()));
  Quantizer q(m, QuantizerConfig());
  torch::jit::Module prepared = q.prepare(fixture_inputs("net")).script_module();
  auto same = [](const torch::jit::Module& mod, const char* name) {
    return mod.attr("shared").toModule().attr(name).toTensor().is_same(
        mod.attr("alias").toModule().attr(name).toTensor());
  };
  EXPECT_TRUE(same(prepared, "weight"));
  EXPECT_TRUE(same(prepared, "bias"));
  std::vector<std::string> weights;
  for (const auto& f : q.fake_quants())
    if (f.weight) weights.push_back(f.name);
  EXPECT_EQ(weights.size(), 14U);  // 15 weight uses, linear_8 and linear_9 share one
  EXPECT_EQ(std::count(weights.begin(), weights.end(), "linear_8_weight"), 1);
  EXPECT_EQ(std::count(weights.begin(), weights.end(), "linear_9_weight"), 0);
  // What plan() promised without cloning.
  int linear_9_weight = 0;
  for (const auto& p : q.plan().points) {
    if (p.op_name != std::optional<std::string>("linear_9") || p.tensor != "weight") continue;
    ++linear_9_weight;
    EXPECT_EQ(p.fake_quant, "linear_8_weight");
  }
  EXPECT_EQ(linear_9_weight, 1);
  // finalize() keeps the float bias, read by both calls, as one tensor.
  EXPECT_TRUE(same(q.finalize().model.script_module(), "bias"));
}

TEST_P(JitPrepare, CalibrationMovesTheMovingAverage) {
  torch::jit::Module m = load_fixture(file("tiny"));
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, QuantizerConfig());
  torch::jit::Module prepared = q.prepare({x}).script_module();
  const at::Tensor w1 = param(m, "fc1", "weight"), b1 = param(m, "fc1", "bias");
  const at::Tensor w2 = param(m, "fc2", "weight"), b2 = param(m, "fc2", "bias");
  at::NoGradGuard ng;
  {
    auto calib = q.calibration_mode();
    // As in the reference: weights stay fake-quantized, activations are float.
    for (const auto& f : q.fake_quants()) {
      EXPECT_TRUE(f.observer_enabled) << f.name;
      EXPECT_EQ(f.fake_quant_enabled, f.weight) << f.name;
    }
    const at::Tensor y_wq = at::linear(at::relu(at::linear(x, fq_w(w1), b1)), fq_w(w2), b2);
    EXPECT_LT(max_diff(prepared.forward({x}).toTensor(), y_wq), 1e-6);
    prepared.forward({x * 3});
  }
  for (const auto& f : q.fake_quants()) EXPECT_TRUE(!f.observer_enabled && f.fake_quant_enabled);
  // Two observations after the one of prepare(): x, then 3x (EMA constant 0.01).
  auto ema_scale = [](const std::array<at::Tensor, 3>& seen, bool asymmetric = false) {
    double lo = std::min(seen[0].min().item<double>(), 0.0);
    double hi = std::max(seen[0].max().item<double>(), 0.0);
    for (std::size_t i = 1; i < seen.size(); ++i) {
      lo = 0.01 * std::min(seen[i].min().item<double>(), 0.0) + 0.99 * lo;
      hi = 0.01 * std::max(seen[i].max().item<double>(), 0.0) + 0.99 * hi;
    }
    return asymmetric ? (hi - lo) / 255.0 : std::max(-lo, hi) / 127.5;
  };
  const double expect_x = ema_scale({x, x, x * 3});
  EXPECT_NEAR(by_name(q)["linear_input_0"].scale.item<double>(), expect_x, 1e-6 * expect_x);
  // The relu output (asymmetric): prepare() observed it on float weights,
  // calibration on fake-quantized fc1 weights.
  auto hidden = [&](const at::Tensor& in, const at::Tensor& w) {
    return at::relu(at::linear(in, w, b1));
  };
  const double expect_h =
      ema_scale({hidden(x, w1), hidden(x, fq_w(w1)), hidden(x * 3, fq_w(w1))}, true);
  const double float_weights_h = ema_scale({hidden(x, w1), hidden(x, w1), hidden(x * 3, w1)}, true);
  ASSERT_GT(std::abs(expect_h - float_weights_h), 1e-5 * expect_h);  // the test can tell
  EXPECT_NEAR(by_name(q)["linear_output"].scale.item<double>(), expect_h, 1e-6 * expect_h);
}

TEST_P(JitPrepare, QatGradientsAreStraightThrough) {
  torch::jit::Module m = load_fixture(file("tiny"));
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, yaml_config(kWeightOnly));
  torch::jit::Module prepared = q.prepare({x}).script_module();
  std::vector<at::Tensor> params;
  for (const auto& p : prepared.parameters()) params.push_back(p);
  ASSERT_EQ(params.size(), 4U);
  torch::optim::SGD opt(params, torch::optim::SGDOptions(0.1));
  const at::Tensor w1_before = param(prepared, "fc1", "weight").detach().clone();
  {
    auto train = q.training_mode();
    opt.zero_grad();
    const at::Tensor loss = prepared.forward({x}).toTensor().pow(2).sum();
    loss.backward();
    // Independent STE: value of the fake-quantized weight, gradient masked.
    auto ste = [](const at::Tensor& w) {
      const at::Tensor wd = w.detach();
      return fq_w(wd) + (w - wd) * w_mask(wd);
    };
    at::Tensor w1 = param(m, "fc1", "weight").detach().clone().requires_grad_();
    at::Tensor b1 = param(m, "fc1", "bias").detach().clone().requires_grad_();
    at::Tensor w2 = param(m, "fc2", "weight").detach().clone().requires_grad_();
    at::Tensor b2 = param(m, "fc2", "bias").detach().clone().requires_grad_();
    at::linear(at::relu(at::linear(x, ste(w1), b1)), ste(w2), b2).pow(2).sum().backward();
    const at::Tensor g1 = param(prepared, "fc1", "weight").grad();
    ASSERT_TRUE(g1.defined());
    EXPECT_TRUE(at::allclose(g1, w1.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(param(prepared, "fc1", "bias").grad(), b1.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(param(prepared, "fc2", "weight").grad(), w2.grad(), 1e-5, 1e-6));
    // +amax of each row rounds to 128 and is clipped: its gradient is zero.
    const at::Tensor mask = w_mask(param(m, "fc1", "weight"));
    EXPECT_GT((mask == 0).sum().item<int64_t>(), 0);
    EXPECT_TRUE(at::all(g1.masked_select(mask == 0) == 0).item<bool>());
    opt.step();
  }
  EXPECT_GT(max_diff(param(prepared, "fc1", "weight"), w1_before), 0.0);
  EXPECT_TRUE(at::allclose(param(m, "fc1", "weight"), w1_before));  // original untouched
}

TEST_P(JitPrepare, QatScheduleTransitions) {
  torch::jit::Module m = load_fixture(file("tiny"));
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, yaml_config(R"(
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
    qat_schedule: {enable_observer: 1, enable_fake_quant: 2, disable_observer: 3}
)"));
  torch::jit::Module prepared = q.prepare({x}).script_module();
  const at::Tensor y_float = m.forward({x}).toTensor();
  auto flags = [&] {
    const auto f = by_name(q).at("linear_weight");
    return std::make_pair(f.observer_enabled, f.fake_quant_enabled);
  };
  at::NoGradGuard ng;
  {
    auto train = q.training_mode();
    EXPECT_EQ(q.step_count(), 0);
    EXPECT_EQ(flags(), std::make_pair(false, false));
    EXPECT_TRUE(at::allclose(prepared.forward({x}).toTensor(), y_float));
    q.step();
    EXPECT_EQ(flags(), std::make_pair(true, false));
    q.step();
    EXPECT_EQ(flags(), std::make_pair(true, true));
    EXPECT_GT(max_diff(prepared.forward({x}).toTensor(), y_float), 1e-5);
    q.step();
    EXPECT_EQ(flags(), std::make_pair(false, true));
    EXPECT_THROW(q.enable_observer(), Error);
    try {
      q.disable_fake_quant();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot be used with a qat_schedule configured"),
                std::string::npos);
    }
  }
  EXPECT_EQ(flags(), std::make_pair(false, true));
  {  // The count persists across training_mode() scopes.
    auto train = q.training_mode();
    EXPECT_EQ(q.step_count(), 3);
    EXPECT_EQ(flags(), std::make_pair(false, true));
  }
}

TEST_P(JitPrepare, SaveLoadPreparedAndFinalized) {
  torch::jit::Module m = load_fixture(file("tiny"));
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, QuantizerConfig());
  torch::jit::Module prepared = q.prepare({x}).script_module();
  at::NoGradGuard ng;
  const at::Tensor y = prepared.forward({x}).toTensor();
  const std::string path = ::testing::TempDir() + "/jit_prepared_" + GetParam() + ".pt";
  prepared.save(path);
  torch::jit::Module loaded = torch::jit::load(path);
  EXPECT_TRUE(at::equal(loaded.forward({x}).toTensor(), y));
  EXPECT_TRUE(at::equal(loaded.attr("_fq_linear_input_0_scale").toTensor(),
                        by_name(q)["linear_input_0"].scale));

  torch::jit::Module fin = q.finalize().model.script_module();
  const at::Tensor yf = fin.forward({x}).toTensor();
  EXPECT_LT(max_diff(yf, y), 1e-5);
  const at::Tensor codes = fin.attr("_fq_linear_weight_codes").toTensor();
  EXPECT_EQ(codes.scalar_type(), at::kChar);
  EXPECT_EQ(codes.sizes().vec(), (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(param(fin, "fc1", "weight").numel(), 0);  // stored as codes only
  const std::string fpath = ::testing::TempDir() + "/jit_final_" + GetParam() + ".pt";
  fin.save(fpath);
  torch::jit::Module floaded = torch::jit::load(fpath);
  EXPECT_TRUE(at::equal(floaded.forward({x}).toTensor(), yf));
  // The prepared module still works after finalize().
  EXPECT_TRUE(at::equal(prepared.forward({x}).toTensor(), y));
  std::remove(path.c_str());
  std::remove(fpath.c_str());
}

TEST_P(JitPrepare, ConvBatchNormFoldedForQatAndFinalize) {
  torch::jit::Module m = load_fixture(file("convbn"));
  const at::Tensor x = fixture_inputs("convbn")[0].toTensor();
  Quantizer q(m, yaml_config(kWeightOnly));
  torch::jit::Module prepared = q.prepare({x}).script_module();
  at::NoGradGuard ng;
  const at::Tensor y = prepared.forward({x}).toTensor();
  // Independent: BN scale k folded into the weight before quantization, then the
  // eval-mode BN algebra: conv(x, fq(k W)) + (b - mean) k + beta.
  auto folded = [&](const std::string& conv, const std::string& bn, const at::Tensor& in) {
    const at::Tensor w = param(m, conv, "weight");
    const at::Tensor k = param(m, bn, "weight") / at::sqrt(param(m, bn, "running_var") + 1e-5);
    const at::Tensor wk = w * k.view({-1, 1, 1, 1});
    at::Tensor b = at::zeros_like(k);
    const torch::jit::Module cm = m.attr(conv).toModule();
    if (cm.hasattr("bias") && cm.attr("bias").isTensor()) b = cm.attr("bias").toTensor();
    const at::Tensor shift = (b - param(m, bn, "running_mean")) * k + param(m, bn, "bias");
    return at::conv2d(in, fq_w(wk), shift, 1, 1);
  };
  at::Tensor h = at::relu(folded("conv1", "bn1", x));
  h = folded("conv2", "bn2", h);
  const at::Tensor expect =
      at::linear(at::flatten(h, 1), fq_w(param(m, "fc", "weight")), param(m, "fc", "bias"));
  EXPECT_LT(max_diff(y, expect), 1e-4);

  const auto done = q.finalize();
  torch::jit::Module fin = done.model.script_module();
  EXPECT_LT(max_diff(fin.forward({x}).toTensor(), y), 1e-4);
  int bn_nodes = 0;
  for (const auto* n : fin.get_method("forward").graph()->nodes())
    bn_nodes += n->kind() == c10::aten::batch_norm ? 1 : 0;
  EXPECT_EQ(bn_nodes, 0);
  EXPECT_EQ(param(fin, "bn1", "running_var").numel(), 0);
  EXPECT_LT(done.report.parameter_bytes_after, done.report.parameter_bytes_before);
}

// Weights only: prepare() without example inputs reads the weights alone and
// gives the scales (and outputs) that a forward over example inputs gives,
// conv + batch norm folding included.
TEST_P(JitPrepare, WeightsOnlyNeedNoExampleInputs) {
  for (const char* net : {"tiny", "convbn"}) {
    const torch::jit::Module m = load_fixture(file(net));
    const auto in = fixture_inputs(net);
    Quantizer with_inputs(m, yaml_config(kWeightOnly));
    Quantizer without(m, yaml_config(kWeightOnly));
    torch::jit::Module a = with_inputs.prepare(in).script_module();
    torch::jit::Module b = without.prepare({}).script_module();
    auto fa = by_name(with_inputs), fb = by_name(without);
    ASSERT_EQ(fa.size(), std::string(net) == "tiny" ? 2U : 3U) << net;
    ASSERT_EQ(fb.size(), fa.size()) << net;
    for (const auto& [name, f] : fa) {
      ASSERT_EQ(fb.count(name), 1U) << net << " " << name;
      EXPECT_TRUE(f.weight) << name;
      EXPECT_TRUE(at::equal(fb[name].scale, f.scale)) << net << " " << name;
      EXPECT_FALSE(fb[name].observer_enabled) << name;
      EXPECT_TRUE(fb[name].fake_quant_enabled) << name;
    }
    at::NoGradGuard ng;
    EXPECT_TRUE(at::equal(b.forward(in).toTensor(), a.forward(in).toTensor())) << net;
    EXPECT_LT(without.finalize()
                  .model.forward(in)
                  .toTensor()
                  .sub(a.forward(in).toTensor())
                  .abs()
                  .max()
                  .item<double>(),
              1e-4)
        << net;
  }
  // tiny: the fc1 weight scale is the per-row amax / 127.5 of the weight itself.
  Quantizer q(load_fixture(file("tiny")), yaml_config(kWeightOnly));
  q.prepare({});
  EXPECT_TRUE(at::allclose(by_name(q)["linear_weight"].scale.view(-1),
                           w_scale(param(load_fixture(file("tiny")), "fc1", "weight"))));
}

// Calls of fake-quant `name` in the prepared forward graph.
int fake_quant_calls(const torch::jit::Module& prepared, const std::string& name) {
  auto graph = prepared.get_method("forward").graph();
  int n = 0;
  for (const torch::jit::Node* node : graph->nodes()) {
    if (node->kind() != c10::Symbol::fromQualString("coreai_opt::fake_quant_forward")) continue;
    const torch::jit::Node* attr = node->input(1)->node();
    if (attr->kind() == c10::prim::GetAttr &&
        attr->s(c10::attr::name) == "_fq_" + name + "_running_min")
      ++n;
  }
  return n;
}

std::optional<std::string> plan_fake_quant(const Quantizer& q, const std::string& op,
                                           const std::string& tensor,
                                           coreai_opt::quantization::PointKind kind) {
  for (const auto& p : q.plan().points)
    if (p.op_name == std::optional<std::string>(op) && p.tensor == tensor && p.kind == kind)
      return p.fake_quant;
  return std::nullopt;
}

// Reference 0.3.0: the tensors on both sides of k.transpose(-2, -1) share the
// k projection's output fake-quant, called after the linear and after the
// transpose; the matmul input has no fake-quant of its own.
TEST_P(JitPrepare, TransposeSharesOneFakeQuantWithProducerAndConsumer) {
  using coreai_opt::quantization::PointKind;
  Quantizer q(load_fixture(file("net")), QuantizerConfig());
  const torch::jit::Module prepared = q.prepare(fixture_inputs("net")).script_module();
  const auto fqs = by_name(q);
  // Two attention layers: k is linear_1 and linear_4, read through transpose and
  // transpose_1 by input 1 of matmul and matmul_2.
  for (const auto& [k, matmul] :
       {std::pair<std::string, std::string>{"linear_1", "matmul"}, {"linear_4", "matmul_2"}}) {
    SCOPED_TRACE(k);
    ASSERT_EQ(fqs.count(k + "_output"), 1U);
    EXPECT_EQ(fqs.count(matmul + "_input_1"), 0U);
    EXPECT_EQ(plan_fake_quant(q, matmul, "1", PointKind::kOpInput), k + "_output");
    EXPECT_EQ(plan_fake_quant(q, k, "0", PointKind::kOpOutput), k + "_output");
    EXPECT_EQ(fake_quant_calls(prepared, k + "_output"), 2);
  }
  // The q projection has no pass-through op: one call.
  EXPECT_EQ(fake_quant_calls(prepared, "linear_output"), 1);
}

// A declined producer does not stop the sharing: with the linears disabled, the
// matmul's input spec quantizes the k projection's output too (one fake-quant,
// two calls), as in the reference.
TEST_P(JitPrepare, PassThroughQuantizesADeclinedProducer) {
  using coreai_opt::quantization::PointKind;
  Quantizer q(load_fixture(file("net")), yaml_config(R"(
quantization_config:
  global_config:
    op_type_config:
      linear: null
)"));
  const torch::jit::Module prepared = q.prepare(fixture_inputs("net")).script_module();
  const auto fqs = by_name(q);
  ASSERT_EQ(fqs.count("matmul_input_1"), 1U);
  EXPECT_EQ(fqs.count("linear_1_output"), 0U);
  EXPECT_EQ(plan_fake_quant(q, "linear_1", "0", PointKind::kOpOutput), "matmul_input_1");
  EXPECT_EQ(fake_quant_calls(prepared, "matmul_input_1"), 2);
  // The q projection's output stays declined: only matmul's own input fake-quant.
  // The plan lists it as a declined point, without a fake-quant.
  EXPECT_EQ(plan_fake_quant(q, "linear", "0", PointKind::kOpOutput), std::string());
}

// The fake-quant a coreai_opt::fake_quant_forward call belongs to ("" for
// other nodes).
std::string fake_quant_of(const torch::jit::Node* node) {
  if (node->kind() != c10::Symbol::fromQualString("coreai_opt::fake_quant_forward")) return "";
  const std::string field = node->input(1)->node()->s(c10::attr::name);
  const std::string suffix = "_running_min";
  return field.substr(4, field.size() - 4 - suffix.size());  // "_fq_" + name + suffix
}

// The fake-quants called directly on the output of a call of `name`.
std::vector<std::string> called_after(const torch::jit::Module& prepared, const std::string& name) {
  std::vector<std::string> out;
  for (const torch::jit::Node* node : prepared.get_method("forward").graph()->nodes()) {
    if (fake_quant_of(node) != name) continue;
    for (const auto& u : node->output()->uses())
      if (const std::string next = fake_quant_of(u.user); !next.empty()) out.push_back(next);
  }
  return out;
}

std::optional<coreai_opt::quantization::PlanPoint> module_point(
    const Quantizer& q, coreai_opt::quantization::PointKind kind, const std::string& module,
    const std::string& tensor) {
  for (const auto& p : q.plan().points)
    if (p.kind == kind && !p.op_name && p.module == module && p.tensor == tensor) return p;
  return std::nullopt;
}

// Module-level input/output specs overwrite the module's side of an edge only,
// as in reference 0.3.0: a null keeps the producer's output fake-quant, a spec
// of another dtype or range is called after it (two on one edge), one of the
// same dtype and range joins it; a module output spec whose tensor shares a
// fake-quant from an earlier slot (here the slice after cat) is called before
// that fake-quant.
TEST_P(JitPrepare, ModuleSpecsOverwriteTheModuleSideOfAnEdge) {
  using coreai_opt::quantization::PointKind;
  Quantizer q(load_fixture(file("net")), yaml_config(R"(
quantization_config:
  global_config: {}
  module_name_configs:
    "encoder\\.layers\\.0":
      module_input_spec:
        0: {dtype: uint8, qscheme: asymmetric}
        3: {dtype: int8, qparam_calculator_cls: static}
      module_output_spec: {"*": {dtype: int8, qscheme: symmetric_with_clipping}}
    "odd":
      module_input_spec: {"*": null}
)"));
  const torch::jit::Module prepared = q.prepare(fixture_inputs("net")).script_module();
  const auto fqs = by_name(q);

  // Input 0 (the embedding output into q): uint8 after the int8 output fake-quant.
  const auto in0 = module_point(q, PointKind::kModuleInput, "encoder.layers.0", "0");
  ASSERT_TRUE(in0.has_value());
  EXPECT_EQ(in0->fake_quant, "encoder_layers_0_module_input_0");
  EXPECT_EQ(in0->rule,
            "module_name_configs[\"encoder\\.layers\\.0\"] > module_input_spec (called after "
            "linear_input_0)");
  ASSERT_EQ(fqs.count("encoder_layers_0_module_input_0"), 1U);
  EXPECT_EQ(fqs.at("encoder_layers_0_module_input_0").spec.dtype, coreai_opt::DType::kUInt8);
  EXPECT_EQ(fake_quant_calls(prepared, "linear_input_0"), 1);
  EXPECT_EQ(fake_quant_calls(prepared, "encoder_layers_0_module_input_0"), 1);
  EXPECT_EQ(called_after(prepared, "linear_input_0"),
            std::vector<std::string>{"encoder_layers_0_module_input_0"});
  // Input 3 (the same tensor into the residual add): int8, same range, so it
  // joins the producer's fake-quant; the static calculator is not compared.
  const auto in3 = module_point(q, PointKind::kModuleInput, "encoder.layers.0", "3");
  ASSERT_TRUE(in3.has_value());
  EXPECT_EQ(in3->fake_quant, "linear_input_0");
  EXPECT_EQ(fqs.count("encoder_layers_0_module_input_3"), 0U);
  EXPECT_NE(fqs.at("linear_input_0").spec.qparam_calculator_cls,
            coreai_opt::quantization::QParamCalculator::kStatic);

  // Output 0 (the slice of cat): the shared add_output comes from an earlier
  // slot, and [-127, 127] is another range: called before it.
  const auto out0 = module_point(q, PointKind::kModuleOutput, "encoder.layers.0", "0");
  ASSERT_TRUE(out0.has_value());
  EXPECT_EQ(out0->fake_quant, "encoder_layers_0_module_output_0");
  EXPECT_EQ(fake_quant_calls(prepared, "encoder_layers_0_module_output_0"), 1);
  EXPECT_EQ(called_after(prepared, "encoder_layers_0_module_output_0"),
            std::vector<std::string>{"add_output"});
  EXPECT_EQ(fake_quant_calls(prepared, "add_output"), 4);  // add, the sum into cat, cat, slice

  // odd: {"*": null} declines its own side; the relu's output fake-quant stays.
  const auto odd = module_point(q, PointKind::kModuleInput, "odd", "0");
  ASSERT_TRUE(odd.has_value());
  EXPECT_TRUE(odd->fake_quant.empty());
  EXPECT_NE(odd->rule.find("linear_11_input_0, the producer's output fake-quant, still serves "
                           "the edge"),
            std::string::npos)
      << odd->rule;
  EXPECT_EQ(fake_quant_calls(prepared, "linear_11_input_0"), 1);
}

INSTANTIATE_TEST_SUITE_P(Frontends, JitPrepare, ::testing::Values("scripted", "traced"));

TEST(GraphQuantizerErrors, LifecycleErrors) {
  torch::jit::Module m = load_fixture("tiny_scripted.pt");
  const auto in = fixture_inputs("tiny");
  Quantizer q(m, QuantizerConfig());
  auto expect_error = [](auto&& f, const std::string& text) {
    try {
      f();
      ADD_FAILURE() << "no error; expected: " << text;
    } catch (const coreai_opt::Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  expect_error([&] { (void)q.calibration_mode(); },
               "Model must be prepared before entering calibration mode. Call prepare() first.");
  expect_error([&] { (void)q.training_mode(); },
               "Model must be prepared before entering training mode. Call prepare() first.");
  expect_error([&] { q.finalize(); }, "Model must be prepared before finalize()");
  expect_error([&] { q.prepare({}); },
               "prepare() without example inputs: the config quantizes activations (4 points, "
               "e.g. op_input 0 of linear); example inputs are required to calibrate them");
  EXPECT_FALSE(q.is_prepared());  // the refused call changed nothing
  q.prepare(in);
  expect_error([&] { q.prepare(in); },
               "Model has already been prepared. Cannot re-prepare a prepared model.");
  expect_error([&] { q.step(); }, "step() can only be called inside training_mode()");
  {
    auto t = q.training_mode();
    expect_error([&] { (void)q.training_mode(); },
                 "Nested training_mode() calls are not supported");
    WarningCollector w;
    q.step();  // without a qat_schedule step() only counts, silently
    EXPECT_TRUE(w.messages().empty());
    EXPECT_EQ(q.step_count(), 1);
  }
  expect_error([&] { q.enable_observer("nope"); },
               "enable_observer(): module 'nope' is not part of the prepared model");
  // Per-module switches reach only the fake-quants owned by that module's subtree.
  q.disable_fake_quant("fc1");
  for (const auto& f : q.fake_quants())
    EXPECT_EQ(f.fake_quant_enabled, f.module != "fc1") << f.name;
  q.enable_fake_quant();
  q.enable_observer("fc2");
  for (const auto& f : q.fake_quants()) EXPECT_EQ(f.observer_enabled, f.module == "fc2") << f.name;
}

}  // namespace

namespace {

// finalize() stores every weight format as codes that dequantize to exactly the
// fake-quantized weight of the prepared model.
struct FormatCase {
  const char* name;
  const char* weight_spec;
  at::ScalarType codes_dtype;
  std::vector<int64_t> fc1_codes_shape;  // fc1.weight is [8, 4]
};

class JitFinalizeFormats : public ::testing::TestWithParam<FormatCase> {};

TEST_P(JitFinalizeFormats, CodesDequantizeToTheFakeQuantizedWeight) {
  const FormatCase& c = GetParam();
  torch::jit::Module m = load_fixture("tiny_scripted.pt");
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, yaml_config(std::string(kWeightOnly) +
                             "    op_state_spec: {weight: " + c.weight_spec + "}\n"));
  torch::jit::Module prepared = q.prepare({x}).script_module();
  at::NoGradGuard ng;
  const at::Tensor y = prepared.forward({x}).toTensor();
  EXPECT_GT(max_diff(y, m.forward({x}).toTensor()), 1e-6);
  torch::jit::Module fin = q.finalize().model.script_module();
  EXPECT_LT(max_diff(fin.forward({x}).toTensor(), y), 1e-5) << c.name;
  const at::Tensor codes = fin.attr("_fq_linear_weight_codes").toTensor();
  EXPECT_EQ(codes.scalar_type(), c.codes_dtype) << c.name;
  EXPECT_EQ(codes.sizes().vec(), c.fc1_codes_shape) << c.name;
  EXPECT_EQ(param(fin, "fc1", "weight").numel(), 0);
  if (fin.hasattr("_fq_linear_weight_scale_e8m0")) {
    const at::Tensor e8 = fin.attr("_fq_linear_weight_scale_e8m0").toTensor();
    EXPECT_EQ(e8.scalar_type(), at::kFloat8_e8m0fnu);
    EXPECT_TRUE(at::equal(e8.to(at::kFloat), prepared.attr("_fq_linear_weight_scale").toTensor()));
    EXPECT_EQ(fin.attr("_fq_linear_weight_scale").toTensor().numel(), 0) << c.name;
  } else {
    EXPECT_TRUE(at::equal(fin.attr("_fq_linear_weight_scale").toTensor(),
                          prepared.attr("_fq_linear_weight_scale").toTensor()));
  }
  // Only what dequantize reads stays: no observer state, no all-zero zero point;
  // the MINVAL case keeps minval, the asymmetric uint4 case its zero points.
  const std::string name = c.name;
  for (const std::string b : {"running_min", "running_max", "minval", "zero_point"}) {
    const bool kept =
        (name == "int8_minval" && b == "minval") || (name == "uint4_asym" && b == "zero_point");
    EXPECT_EQ(fin.attr("_fq_linear_weight_" + b).toTensor().numel(), kept ? 8 : 0)
        << c.name << " " << b;
  }
  // Reloads and runs the same in a fresh module.
  const std::string path = ::testing::TempDir() + "/jit_format_" + c.name + ".pt";
  fin.save(path);
  EXPECT_TRUE(
      at::equal(torch::jit::load(path).forward({x}).toTensor(), fin.forward({x}).toTensor()));
  std::remove(path.c_str());
}

// An embedding table is looked up in its codes and only the rows read are
// dequantized; the values are those of the prepared model's fake-quantized table.
// With tied weights the linear still reads the whole dequantized table.
TEST_P(JitFinalizeFormats, EmbeddingRowsAreDequantizedAfterTheLookup) {
  const FormatCase& c = GetParam();
  for (const bool tied : {false, true}) {
    torch::manual_seed(3);
    torch::jit::Module m("Lookup");
    m.register_attribute("training", c10::BoolType::get(), false);
    m.register_parameter("weight", torch::randn({12, 8}), false);
    if (tied) {
      m.define(R"(
def forward(self, ids):
    h = torch.embedding(self.weight, ids)
    return torch.linear(h, self.weight)
)");
    } else {
      m.define(R"(
def forward(self, ids):
    return torch.embedding(self.weight, ids)
)");
    }
    const at::Tensor ids = torch::tensor({0, 3, 11, 5, 5, 2}, at::kLong).view({2, 3});
    Quantizer q(m, yaml_config(std::string(kWeightOnly) +
                               "    op_state_spec: {weight: " + c.weight_spec + "}\n"));
    torch::jit::Module prepared = q.prepare({ids}).script_module();
    torch::jit::Module fin = q.finalize().model.script_module();
    at::NoGradGuard ng;
    for (const at::Tensor& x :
         {ids, torch::tensor({7, 1, 0}, at::kLong), torch::tensor({4}, at::kInt).view({1, 1, 1})}) {
      const at::Tensor want = prepared.forward({x}).toTensor();
      EXPECT_TRUE(at::equal(fin.forward({x}).toTensor(), want)) << c.name << " tied " << tied;
    }
    EXPECT_GT(max_diff(prepared.forward({ids}).toTensor(), m.forward({ids}).toTensor()), 1e-6);
    const auto graph = torch::jit::toGraphFunction(fin.get_method("forward").function()).graph();
    const auto deq_kind = c10::Symbol::fromQualString("coreai_opt::dequantize");
    int gathered = 0, whole = 0;
    for (torch::jit::Node* n : graph->nodes()) {
      if (n->kind() != deq_kind) continue;
      (n->input(0)->node()->kind() == c10::aten::embedding ? gathered : whole)++;
    }
    EXPECT_EQ(gathered, 1) << c.name;
    EXPECT_EQ(whole, tied ? 1 : 0) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, JitFinalizeFormats,
    ::testing::Values(
        FormatCase{"int8", "{dtype: int8, granularity: {type: per_channel}}", at::kChar, {8, 4}},
        FormatCase{"int8_minval",
                   "{dtype: int8, qscheme: asymmetric, qformulation: minval, granularity: {type: "
                   "per_channel}}",
                   at::kChar,
                   {8, 4}},
        FormatCase{"int4_block",
                   "{dtype: int4, granularity: {type: per_block, block_size: 2}}",
                   at::kByte,
                   {8, 2}},
        FormatCase{"uint4_asym",
                   "{dtype: uint4, qscheme: asymmetric, granularity: {type: per_channel}}",
                   at::kByte,
                   {8, 2}},
        FormatCase{"fp8",
                   "{dtype: float8_e4m3fn, granularity: {type: per_channel}}",
                   at::kFloat8_e4m3fn,
                   {8, 4}},
        FormatCase{"fp4",
                   "{dtype: float4_e2m1fn_x2, granularity: {type: per_block, block_size: 4}}",
                   at::kFloat4_e2m1fn_x2,
                   {8, 2}}),
    [](const ::testing::TestParamInfo<FormatCase>& i) { return std::string(i.param.name); });

// module_output_spec {0: null} removes the op-level output fake-quant of the
// module's boundary; module_input_spec replaces the input one.
TEST(JitModuleSpecs, BoundaryOverridesChangeTheNumbers) {
  torch::jit::Module m = load_fixture("tiny_traced.pt");
  const at::Tensor x = fixture_inputs("tiny")[0].toTensor();
  Quantizer q(m, yaml_config(R"(
quantization_config:
  global_config: {}
  module_name_configs:
    fc2:
      module_output_spec: {0: null}
    fc1:
      module_input_spec: {0: {dtype: uint8, qscheme: asymmetric}}
)"));
  torch::jit::Module prepared = q.prepare({x}).script_module();
  at::NoGradGuard ng;
  const at::Tensor y = prepared.forward({x}).toTensor();
  const at::Tensor w1 = param(m, "fc1", "weight"), b1 = param(m, "fc1", "bias");
  const at::Tensor w2 = param(m, "fc2", "weight"), b2 = param(m, "fc2", "bias");
  const at::Tensor h_f = at::relu(at::linear(x, w1, b1));
  // uint8 asymmetric input: s = (max - min) / 255, zp = clamp(0 - round(min / s), 0, 255).
  const double lo = std::min(x.min().item<double>(), 0.0),
               hi = std::max(x.max().item<double>(), 0.0);
  const double s = (hi - lo) / 255.0;
  const double zp = std::clamp(-std::nearbyint(lo / s), 0.0, 255.0);
  const at::Tensor xq = (at::clamp(at::round(x / s) + zp, 0, 255) - zp) * s;
  const at::Tensor h = fq_relu(at::relu(at::linear(xq, fq_w(w1), b1)), relu_scale(h_f));
  const at::Tensor expect = at::linear(h, fq_w(w2), b2);  // no output fake-quant
  EXPECT_LT(max_diff(y, expect), 1e-5);
  const auto plan = q.plan();
  int module_points = 0;
  for (const auto& p : plan.points)
    module_points += p.kind == coreai_opt::quantization::PointKind::kModuleInput ||
                     p.kind == coreai_opt::quantization::PointKind::kModuleOutput;
  EXPECT_EQ(module_points, 2);
}

}  // namespace

namespace {

// Writes finalized Net models (W8A8 with int4 per-block weights in the encoder)
// and their outputs for the plain-program and Python loaders (tests/torch/jit/
// CMakeLists.txt). Also checks the whole Net: scripted and traced prepared models
// compute the same, and finalize shrinks the parameters.
TEST(JitExport, WriteModels) {
  const auto in = fixture_inputs("net");
  // Only the ctest `jit_export_models` names the shared directory the loaders
  // read; any other run writes to a private one.
  const char* env = std::getenv("COREAI_OPT_JIT_EXPORT_DIR");
  const std::string dir = env != nullptr ? env : ::testing::TempDir() + "/jit_export";
  std::filesystem::create_directories(dir);
  const char* yaml = R"(
quantization_config:
  global_config: {}
  module_name_configs:
    "encoder":
      op_state_spec: {weight: {dtype: int4, granularity: {type: per_block, block_size: 8}}}
)";
  std::map<std::string, at::Tensor> prepared_out;
  for (const char* kind : {"scripted", "traced"}) {
    Quantizer q(load_fixture(std::string("net_") + kind + ".pt"), yaml_config(yaml));
    torch::jit::Module prepared = q.prepare(in).script_module();
    at::NoGradGuard ng;
    prepared_out[kind] = out_tensor(prepared.forward(in));
    const auto done = q.finalize();
    torch::jit::Module fin = done.model.script_module();
    const at::Tensor h = out_tensor(fin.forward(in));
    EXPECT_LT(max_diff(h, prepared_out[kind]), 1e-4) << kind;
    EXPECT_EQ(fin.attr("_fq_linear_weight_codes").toTensor().scalar_type(), at::kByte);  // packed
    EXPECT_LT(done.report.parameter_bytes_after, done.report.parameter_bytes_before);
    fin.save(dir + "/net_" + kind + "_final.pt");
    torch::jit::Module expected(c10::QualifiedName("__torch__.Expected"));
    expected.register_buffer("output", h);
    expected.save(dir + "/net_" + kind + "_expected.pt");
  }
  EXPECT_LT(max_diff(prepared_out["scripted"], prepared_out["traced"]), 1e-5);
}

}  // namespace

namespace {

// QAT from C++ on the whole Net: torch::optim over the prepared parameters
// lowers the loss through every fake-quant (W8A8, BN in its QAT form).
TEST(JitQat, NetTrainsWithTorchOptim) {
  for (const char* kind : {"scripted", "traced"}) {
    const auto in = fixture_inputs("net");
    Quantizer q(load_fixture(std::string("net_") + kind + ".pt"), QuantizerConfig());
    torch::jit::Module prepared = q.prepare(in).script_module();
    std::vector<at::Tensor> params;
    for (const auto& p : prepared.parameters()) params.push_back(p);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-2));
    auto train = q.training_mode();
    WarningCollector warnings;  // step() without a qat_schedule warns (once)
    double first = 0, last = 0;
    for (int it = 0; it < 25; ++it) {
      opt.zero_grad();
      const c10::IValue out = prepared.forward(in);  // (h.sum() + y.mean(), h)
      const at::Tensor loss =
          out_tensor(out).pow(2).mean() + out.toTupleRef().elements()[0].toTensor().pow(2);
      loss.backward();
      if (it == 0) {
        first = loss.item<double>();
        for (const char* sub : {"emb", "odd", "deconv"}) {
          const at::Tensor g = param(prepared, sub, "weight").grad();
          ASSERT_TRUE(g.defined()) << kind << " " << sub;
          EXPECT_GT(g.abs().sum().item<double>(), 0.0) << kind << " " << sub;
        }
      }
      last = loss.item<double>();
      opt.step();
      q.step();
    }
    EXPECT_LT(last, 0.5 * first) << kind;
    EXPECT_EQ(q.step_count(), 25);
    EXPECT_TRUE(warnings.messages().empty());  // step() without a schedule is the normal loop
  }
}

TEST(GraphQuantizerWarnings, MissingPreservedAttribute) {
  Quantizer q(load_fixture("tiny_scripted.pt"),
              yaml_config("quantization_config:\n  preserved_attributes: [nope]\n"));
  WarningCollector w;
  q.prepare(fixture_inputs("tiny"));
  ASSERT_EQ(w.messages().size(), 1U);
  EXPECT_EQ(w.messages()[0], "preserved attribute 'nope' not found on the model");
}

TEST(JitPrepare, OpsInsideControlFlowAreReportedNotSkippedSilently) {
  torch::jit::Module m = load_fixture("branchy_scripted.pt");
  Quantizer q(m, QuantizerConfig());
  WarningCollector warnings;
  q.prepare({torch::randn({2, 4})});
  bool reported = false;
  for (const auto& w : warnings.messages()) {
    reported = reported || w == "ops inside if/loop blocks are not quantized in graph mode, "
                                "although the config asks for it: linear_1 [linear]";
  }
  EXPECT_TRUE(reported) << ::testing::PrintToString(warnings.messages());
}

}  // namespace

// ---------------------------------------------------------------- coreai-opt quantize
//
// The CLI end to end: its output model against the same steps run in-process.
// tests/cli/cli_test.sh checks the error lines.
namespace {

struct CliResult {
  int rc = -1;
  std::string out, err;
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

[[maybe_unused]] CliResult run_cli(const std::string& args) {
  CliResult r;
#ifdef COREAI_OPT_CLI
  // One file per test and process: ctest runs the cases in parallel processes.
  const std::string err = ::testing::TempDir() + "/jit_cli_stderr_" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
                          std::to_string(getpid()) + ".txt";
  FILE* p = popen((std::string(COREAI_OPT_CLI) + " " + args + " 2>" + err).c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) r.out += buf.data();
  r.rc = WEXITSTATUS(pclose(p));
  r.err = read_text(err);
  std::remove(err.c_str());
#else
  (void)args;
#endif
  return r;
}

// The batches of a calibration file (torch.save of a list of tuples of tensors).
std::vector<std::vector<c10::IValue>> load_calibration(const std::string& name) {
  const std::string text = read_text(coreai_opt::testing::fixture(name));
  const c10::IValue v = torch::pickle_load(std::vector<char>(text.begin(), text.end()));
  std::vector<std::vector<c10::IValue>> out;
  for (const c10::IValue& b : v.toListRef()) {
    const auto& e = b.toTupleRef().elements();
    out.emplace_back(e.begin(), e.end());
  }
  return out;
}

const std::string kConfigs = std::string(COREAI_OPT_SOURCE_DIR) + "/configs/";

// prepare(batch 0), then every batch under calibration_mode(): what the CLI does.
torch::jit::Module calibrated(Quantizer& q, const std::vector<std::vector<c10::IValue>>& batches) {
  torch::jit::Module prepared = q.prepare(batches.at(0)).script_module();
  at::NoGradGuard ng;
  auto calibrating = q.calibration_mode();
  for (const auto& b : batches) prepared.forward(b);
  return prepared;
}

TEST(JitCliQuantize, W8A8PreparedModelMatchesInProcess) {
#ifndef COREAI_OPT_CLI
  GTEST_SKIP() << "built without the coreai-opt tool";
#endif
  const std::string out = ::testing::TempDir() + "/jit_cli_tiny_w8a8.pt";
  const CliResult r =
      run_cli("quantize " + fixture("tiny_scripted.pt") + " --config " + kConfigs +
              "w8a8.yaml --calibration " + fixture("tiny_calib.pt") + " --output " + out);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto batches = load_calibration("tiny_calib.pt");
  ASSERT_EQ(batches.size(), 6U);
  Quantizer q(load_fixture("tiny_scripted.pt"), QuantizerConfig::from_yaml(kConfigs + "w8a8.yaml"));
  torch::jit::Module expect = calibrated(q, batches);
  // fc1 + relu fuse: the inputs of fc1 and fc2 and the output of fc2 are activations.
  EXPECT_NE(r.out.find("\nquantized   int8: 2 weights, 3 activations\n"), std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find("\nparameters  268 bytes before, " + std::to_string(q.model().state_bytes()) +
                 " bytes prepared (float weights plus quantizer state"),
      std::string::npos)
      << r.out;
  EXPECT_GT(q.model().state_bytes(), 268);
  EXPECT_NE(r.out.find("\noutput      " + out + " (prepared)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", calibration "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" s (6 batches, "), std::string::npos) << r.out;
  // Non-terminal progress: plain lines, the last one for all six batches.
  EXPECT_NE(r.err.find("calibrating: 1/6 batches, "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("calibrating: 6/6 batches, "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;

  torch::jit::Module loaded = torch::jit::load(out);
  at::NoGradGuard ng;
  for (const auto& b : batches) {
    const at::Tensor y = loaded.forward(b).toTensor();
    EXPECT_TRUE(at::equal(y, expect.forward(b).toTensor()));
    // Fake quantization is on: not the float model's output.
    EXPECT_GT(max_diff(y, load_fixture("tiny_scripted.pt").forward(b).toTensor()), 1e-4);
  }
  for (const auto& f : q.fake_quants())
    EXPECT_TRUE(at::equal(loaded.attr("_fq_" + f.name + "_scale").toTensor(), f.scale)) << f.name;
  std::remove(out.c_str());
}

TEST(JitCliQuantize, NetFinalizedJsonSummaryAndModel) {
#ifndef COREAI_OPT_CLI
  GTEST_SKIP() << "built without the coreai-opt tool";
#endif
  const std::string out = ::testing::TempDir() + "/jit_cli_net_final.pt";
  const CliResult r = run_cli("quantize " + fixture("net_traced.pt") + " --config " + kConfigs +
                              "w8a8.yaml --calibration " + fixture("net_calib.pt") +
                              " --batches 3 --output " + out + " --finalize --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto batches = load_calibration("net_calib.pt");
  ASSERT_EQ(batches.size(), 4U);
  const auto last = batches.back();
  batches.pop_back();  // --batches 3
  Quantizer q(load_fixture("net_traced.pt"), QuantizerConfig::from_yaml(kConfigs + "w8a8.yaml"));
  calibrated(q, batches);
  const auto done = q.finalize();
  torch::jit::Module expect = done.model.script_module();
  int weights = 0, activations = 0;
  for (const auto& f : q.fake_quants()) ++(f.weight ? weights : activations);

  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["finalized"], true);
  EXPECT_EQ(j["calibration_batches"], 3);
  EXPECT_EQ(j["disabled"], 0);
  ASSERT_EQ(j["fake_quants"].size(), 1U) << r.out;
  EXPECT_EQ(j["fake_quants"]["int8"]["weights"], weights);
  EXPECT_EQ(j["fake_quants"]["int8"]["activations"], activations);
  // emb, 6 attention projections, 2 mlp layers, shared (its alias reuses it), down,
  // odd, block.conv, deconv.
  EXPECT_EQ(weights, 14);
  EXPECT_EQ(j["parameter_bytes"]["before"], done.report.parameter_bytes_before);
  EXPECT_EQ(j["parameter_bytes"]["after"], done.report.parameter_bytes_after);
  EXPECT_LT(done.report.parameter_bytes_after, done.report.parameter_bytes_before);
  EXPECT_TRUE(j["seconds"]["finalize"].is_number());
  EXPECT_NE(r.err.find("calibrating: 3/3 batches, "), std::string::npos) << r.err;

  torch::jit::Module loaded = torch::jit::load(out);
  at::NoGradGuard ng;
  EXPECT_TRUE(at::equal(out_tensor(loaded.forward(last)), out_tensor(expect.forward(last))));
  std::remove(out.c_str());
}

TEST(JitCliQuantize, WeightsOnlyWithoutCalibration) {
#ifndef COREAI_OPT_CLI
  GTEST_SKIP() << "built without the coreai-opt tool";
#endif
  const std::string out = ::testing::TempDir() + "/jit_cli_tiny_w8.pt";
  const CliResult r = run_cli("quantize " + fixture("tiny_traced.pt") + " --config " + kConfigs +
                              "w8.yaml --output " + out + " --finalize");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no calibration, no progress
  EXPECT_NE(r.out.find("\nquantized   int8: 2 weights, 0 activations\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(", calibration none (weights only), finalize "), std::string::npos) << r.out;
  Quantizer q(load_fixture("tiny_traced.pt"), QuantizerConfig::from_yaml(kConfigs + "w8.yaml"));
  q.prepare(fixture_inputs("tiny"));
  const auto done = q.finalize();
  torch::jit::Module expect = done.model.script_module();
  EXPECT_NE(
      r.out.find("\nparameters  268 bytes before, " +
                 std::to_string(done.report.parameter_bytes_after) + " bytes after finalize ("),
      std::string::npos)
      << r.out;
  torch::jit::Module loaded = torch::jit::load(out);
  at::NoGradGuard ng;
  for (const auto& b : load_calibration("tiny_calib.pt"))
    EXPECT_TRUE(at::equal(loaded.forward(b).toTensor(), expect.forward(b).toTensor()));
  std::remove(out.c_str());
}

}  // namespace
