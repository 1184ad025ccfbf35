// The Quantizer front door, once per model kind from one test body: the same
// two-layer network as a torch::nn::Module (eager mode, stock torch::nn::Linear
// layers quantized at the dispatcher) and as a TorchScript module with the same
// weights (graph mode). Each test runs for both kinds; where the modes differ by
// design, the test says so.
#include "coreai_opt/torch/quantizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "coreai_opt/errors.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/nn.h"
#include "coreai_opt/warnings.h"

namespace front_door_test {
namespace {

namespace cq = coreai_opt::quantization;
using cq::ExecutionMode;
using cq::Quantizer;
using cq::QuantizerConfig;

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(8, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, 4));
  }
  at::Tensor forward(const at::Tensor& x) { return fc2->forward(torch::relu(fc1->forward(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Tiny);

// A scripted nn.Linear holding copies of `w` and `b`.
torch::jit::Module script_linear(const at::Tensor& w, const at::Tensor& b) {
  torch::jit::Module m(c10::QualifiedName("__torch__.torch.nn.modules.linear.Linear"));
  m.register_parameter("weight", w.detach().clone(), false);
  m.register_parameter("bias", b.detach().clone(), false);
  m.register_attribute("training", c10::BoolType::get(), true);
  m.define("def forward(self, input):\n  return torch.linear(input, self.weight, self.bias)\n");
  return m;
}

// The TorchScript form of `net` with the same weights.
torch::jit::Module script_of(const Tiny& net) {
  torch::jit::Module m(c10::QualifiedName("__torch__.Tiny"));
  m.register_module("fc1", script_linear(net->fc1->weight, net->fc1->bias));
  m.register_module("fc2", script_linear(net->fc2->weight, net->fc2->bias));
  m.register_attribute("training", c10::BoolType::get(), true);
  m.define("def forward(self, x):\n  return self.fc2.forward(torch.relu(self.fc1.forward(x)))\n");
  return m;
}

QuantizerConfig yaml(const std::string& body) {
  return QuantizerConfig::from_yaml_string("quantization_config:\n" + body, "test.yaml");
}

const char* const kWeightOnly =
    "  global_config:\n"
    "    op_input_spec: null\n"
    "    op_output_spec: null\n"
    "    op_state_spec: {weight: {dtype: int8, granularity: {type: per_channel}}}\n";

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

at::Tensor run(const cq::Model& m, const at::Tensor& in) {
  torch::NoGradGuard g;
  return m.forward({in}).toTensor();
}

// The fixture: one network, its eager or TorchScript form by the parameter.
class FrontDoor : public ::testing::TestWithParam<ExecutionMode> {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    net = Tiny();
    script = script_of(net);
    x = torch::randn({5, 8});
    w1 = net->fc1->weight.detach().clone();
    w2 = net->fc2->weight.detach().clone();
  }
  bool eager() const { return GetParam() == ExecutionMode::kEager; }
  cq::Model model() const { return eager() ? cq::Model(net) : cq::Model(script); }
  // The fake-quant states by module path of their module.
  static std::map<std::string, cq::FakeQuantState> weights_of(const Quantizer& q) {
    std::map<std::string, cq::FakeQuantState> out;
    for (auto& f : q.fake_quants())
      if (f.weight) out.emplace(f.module, f);
    return out;
  }
  Tiny net{nullptr};
  at::Tensor w1, w2;  // the float weights before prepare
  torch::jit::Module script;
  at::Tensor x;
};

std::string kind_name(const ::testing::TestParamInfo<ExecutionMode>& p) {
  return std::string(cq::to_string(p.param));
}

// ---------------------------------------------------------------- construction

TEST_P(FrontDoor, PresetsAndModelessYamlFollowTheModel) {
  coreai_opt::WarningCollector warnings;
  for (const QuantizerConfig& config :
       {QuantizerConfig::presets.w4(),
        QuantizerConfig::from_yaml(std::string(COREAI_OPT_SOURCE_DIR) + "/configs/w8.yaml")}) {
    SetUp();  // a fresh float model for each config
    Quantizer q(model(), config);
    EXPECT_EQ(q.execution_mode(), GetParam());
    EXPECT_EQ(q.config().execution_mode, GetParam());
    q.prepare({x});
    const auto w = weights_of(q);
    ASSERT_EQ(w.size(), 2U);
    EXPECT_EQ(w.at("fc1").spec.dtype, config.global_config->op_state_spec.begin()->second->dtype);
  }
  EXPECT_TRUE(warnings.messages().empty()) << warnings.messages()[0];
}

TEST_P(FrontDoor, AWrittenModeThatContradictsTheModelWarnsOnce) {
  const ExecutionMode other = eager() ? ExecutionMode::kGraph : ExecutionMode::kEager;
  coreai_opt::WarningCollector warnings;
  Quantizer q(model(), QuantizerConfig(yaml(kWeightOnly)).set_execution_mode(other));
  EXPECT_EQ(q.execution_mode(), GetParam());
  ASSERT_EQ(warnings.messages().size(), 1U);
  EXPECT_EQ(warnings.messages()[0],
            eager() ? "quantization_config.execution_mode is 'graph' but the model is a "
                      "torch::nn::Module; using execution_mode 'eager'"
                    : "quantization_config.execution_mode is 'eager' but the model is a "
                      "TorchScript module; using execution_mode 'graph'");
  q.prepare({x});
  EXPECT_EQ(q.fake_quants().size(), 2U);
  EXPECT_EQ(warnings.messages().size(), 1U);
}

// ---------------------------------------------------------------- prepare and plan

TEST_P(FrontDoor, PrepareQuantizesWeightsWithTheReferenceScale) {
  Quantizer q(model(), yaml(kWeightOnly));
  EXPECT_FALSE(q.is_prepared());
  EXPECT_TRUE(q.fake_quants().empty());
  const cq::Model prepared = q.prepare({x});
  EXPECT_TRUE(q.is_prepared());
  EXPECT_EQ(prepared.mode(), GetParam());
  const auto w = weights_of(q);
  ASSERT_EQ(w.size(), 2U);
  // Symmetric int8: scale = amax / ((qmax - qmin) / 2) = amax / 127.5 per row.
  EXPECT_TRUE(torch::equal(w.at("fc1").scale.flatten(), std::get<0>(w1.abs().max(1)) / 127.5f));
  EXPECT_TRUE(torch::equal(w.at("fc2").scale.flatten(), std::get<0>(w2.abs().max(1)) / 127.5f));
  for (const auto& [module, f] : w) {
    EXPECT_FALSE(f.observer_enabled) << module;
    EXPECT_TRUE(f.fake_quant_enabled) << module;
    EXPECT_FALSE(f.disabled) << module;
  }
  // The forward runs on the quantized weights: round(w / s) * s.
  const auto fq = [](const at::Tensor& t, const at::Tensor& s) {
    return torch::clamp(torch::round(t / s.reshape({-1, 1})), -128, 127) * s.reshape({-1, 1});
  };
  torch::NoGradGuard g;
  const at::Tensor h = torch::relu(torch::linear(x, fq(w1, w.at("fc1").scale), net->fc1->bias));
  const at::Tensor expected = torch::linear(h, fq(w2, w.at("fc2").scale), net->fc2->bias);
  EXPECT_TRUE(torch::allclose(run(prepared, x), expected, 0, 1e-6));
}

TEST_P(FrontDoor, BothKindsPrepareTheSameWeightsAndOutputs) {
  Quantizer qe(cq::Model(net), yaml(kWeightOnly));
  Quantizer qg(cq::Model(script), yaml(kWeightOnly));
  const at::Tensor ye = run(qe.prepare({x}), x);
  const at::Tensor yg = run(qg.prepare({x}), x);
  EXPECT_TRUE(torch::equal(ye, yg));
  const auto we = weights_of(qe), wg = weights_of(qg);
  for (const char* m : {"fc1", "fc2"}) EXPECT_TRUE(torch::equal(we.at(m).scale, wg.at(m).scale));
}

TEST_P(FrontDoor, PlanShowsQuantizedAndDeclinedPoints) {
  Quantizer q(model(), yaml(std::string(kWeightOnly) + "  module_name_configs:\n"
                                                       "    fc2:\n"
                                                       "      op_input_spec: null\n"
                                                       "      op_output_spec: null\n"
                                                       "      op_state_spec: {weight: null}\n"));
  for (const auto& plan : {q.plan({x}), (q.prepare({x}), q.plan())}) {
    EXPECT_EQ(plan.execution_mode, GetParam());
    std::vector<std::string> rows;
    for (const auto& p : plan.points) {
      if (!cq::is_state(p.kind)) continue;
      rows.push_back(p.module + " " + std::string(cq::to_string(p.kind)) + " " + p.tensor + " " +
                     (p.declined() ? "declined" : cq::spec_summary(*p.spec)) + " [" + p.rule + "]");
    }
    EXPECT_THAT(rows, ::testing::UnorderedElementsAre(
                          "fc1 op_state weight int8 per_channel(axis=0) symmetric [global_config "
                          "> op_*_spec]",
                          "fc2 op_state weight declined [module_name_configs[\"fc2\"] > "
                          "op_*_spec]"));
    EXPECT_THAT(plan.format_table(), ::testing::HasSubstr("declined"));
    EXPECT_THAT(plan.to_json(), ::testing::HasSubstr("\"spec\": null"));
  }
  EXPECT_EQ(q.fake_quants().size(), 1U);
}

TEST_P(FrontDoor, AnOpDeclinedAsAWholeIsListedAsDeclined) {
  Quantizer q(model(), yaml(std::string(kWeightOnly) +
                            "  module_name_configs:\n"
                            "    fc2:\n"
                            "      op_type_config: {linear: null}\n"));
  const auto plan = q.plan({x});
  std::vector<std::string> fc2;
  for (const auto& p : plan.points) {
    if (p.module != "fc2") continue;
    EXPECT_TRUE(p.declined()) << p.tensor;
    EXPECT_TRUE(p.fake_quant.empty()) << p.tensor;
    EXPECT_EQ(p.rule, "module_name_configs[\"fc2\"] > op_type_config[\"linear\"]");
    fc2.push_back(std::string(cq::to_string(p.kind)) + " " + p.tensor);
  }
  // Every float tensor of the op; graph mode also sees the bias as a state input.
  EXPECT_THAT(fc2, ::testing::IsSupersetOf({"op_input 0", "op_output 0", "op_state weight"}));
  q.prepare({x});
  ASSERT_EQ(q.fake_quants().size(), 1U);
  EXPECT_EQ(q.fake_quants()[0].module, "fc1");
}

// ---------------------------------------------------------------- modes

TEST_P(FrontDoor, CalibrationModeSwitchesObserversAndActivationFakeQuant) {
  Quantizer q(model(), QuantizerConfig());  // W8A8
  EXPECT_EQ(error_of([&] { auto c = q.calibration_mode(); }),
            "Model must be prepared before entering calibration mode. Call prepare() first.");
  cq::Model m = q.prepare({x});
  m.train(true);
  ASSERT_GT(q.fake_quants().size(), 2U);
  {
    auto calib = q.calibration_mode();
    EXPECT_FALSE(m.is_training());
    for (const auto& f : q.fake_quants()) {
      EXPECT_TRUE(f.observer_enabled) << f.name;
      EXPECT_EQ(f.fake_quant_enabled, f.weight) << f.name;
    }
    run(m, 3 * x);
  }
  EXPECT_TRUE(m.is_training());
  for (const auto& f : q.fake_quants()) {
    EXPECT_FALSE(f.observer_enabled) << f.name;
    EXPECT_TRUE(f.fake_quant_enabled) << f.name;
  }
}

// 0.3.0 dynamic activations: per-token (per_block along the last axis) qparams from every
// forward's own tensor, nothing stored, any batch size, the observer never off.
TEST_P(FrontDoor, DynamicActivationsArePerTokenAndStateless) {
  Quantizer q(model(),
              yaml(std::string(kWeightOnly) +
                   "  module_name_configs:\n"
                   "    fc1:\n"
                   "      op_input_spec: {0: {dtype: int8, qparam_calculator_cls: dynamic,\n"
                   "                          granularity: {type: per_block, block_size: 4,"
                   " axis: -1}}}\n"
                   "      op_output_spec: null\n"
                   "      op_state_spec: {weight: {dtype: int8, granularity: {type: "
                   "per_channel}}}\n"));
  cq::Model m = q.prepare({x});
  {
    auto calib = q.calibration_mode();
    run(m, 3 * x);
  }
  const cq::FakeQuantState* dyn = nullptr;
  const auto points = q.fake_quants();
  for (const auto& f : points)
    if (!f.weight) dyn = &f;
  ASSERT_NE(dyn, nullptr);
  EXPECT_EQ(dyn->spec.qparam_calculator_cls, cq::QParamCalculator::kDynamic);
  EXPECT_TRUE(dyn->observer_enabled);  // calibration exit left it on
  EXPECT_EQ(dyn->scale.numel(), 0);    // nothing stored
  q.disable_observer();
  for (const auto& f : q.fake_quants()) EXPECT_EQ(f.observer_enabled, !f.weight) << f.name;

  const auto eps = 1.1920928955078125e-07;
  const auto wq = [&](const at::Tensor& w) {
    const auto sc = (w.abs().amax(1, true) / 127.5).clamp_min(eps);
    return (w / sc).round().clamp(-128, 127) * sc;
  };
  const auto per_token = [&](const at::Tensor& a) {
    const auto b = a.reshape({a.size(0), -1, 4});
    const auto sc = (b.abs().amax(-1, true) / 127.5).clamp_min(eps);
    return ((b / sc).round().clamp(-128, 127) * sc).reshape(a.sizes());
  };
  for (const int64_t rows : {5, 2, 7}) {  // any batch: the scales follow the tensor
    const at::Tensor in = torch::randn({rows, 8}) * static_cast<double>(rows);
    (void)run(m, 100 * in);  // a stateful observer would remember this range
    torch::NoGradGuard g;
    const at::Tensor want = torch::linear(
        torch::relu(torch::linear(per_token(in), wq(w1), net->fc1->bias)), wq(w2), net->fc2->bias);
    EXPECT_TRUE(torch::equal(run(m, in), want)) << rows << " rows";
  }
}

TEST_P(FrontDoor, QatStepsFollowTheSchedule) {
  Quantizer q(model(), yaml(std::string(kWeightOnly) +
                            "    qat_schedule: {enable_observer: 0, enable_fake_quant: 2, "
                            "disable_observer: 3}\n"));
  cq::Model m = q.prepare({x});
  m.train(false);
  EXPECT_EQ(error_of([&] { q.step(); }),
            "step() can only be called inside training_mode() (after optimizer.step()); enter "
            "it with `auto guard = quantizer.training_mode();`");
  EXPECT_THAT(error_of([&] { q.enable_observer(); }),
              ::testing::HasSubstr("cannot be used with a qat_schedule configured"));
  std::vector<std::pair<bool, bool>> states;
  auto state = [&] {
    const auto f = q.fake_quants().at(0);
    return std::make_pair(f.observer_enabled, f.fake_quant_enabled);
  };
  {
    auto t = q.training_mode();
    EXPECT_TRUE(m.is_training());
    EXPECT_EQ(error_of([&] { auto t2 = q.training_mode(); }),
              "Nested training_mode() calls are not supported");
    states.push_back(state());
    for (int i = 0; i < 4; ++i) {
      if (eager()) {  // eager QAT trains the float weights through the fake-quantized ones
        net->forward(x).sum().backward();
      } else {
        run(m, x);
      }
      q.step();
      states.push_back(state());
    }
    EXPECT_EQ(error_of([&] { q.finalize(); }),
              "finalize() cannot be called inside training_mode()");
  }
  using S = std::pair<bool, bool>;
  EXPECT_EQ(states, (std::vector<S>{
                        {true, false}, {true, false}, {true, true}, {false, true}, {false, true}}));
  EXPECT_EQ(q.step_count(), 4);
  EXPECT_EQ(state(), S(false, true));
  EXPECT_TRUE(m.is_training());  // leaving training_mode() keeps train mode, as the reference
}

TEST_P(FrontDoor, SelectorsReachModulesByPathOrRegex) {
  Quantizer q(model(), yaml(kWeightOnly));
  EXPECT_EQ(error_of([&] { q.disable_fake_quant("fc1"); }),
            "Model must be prepared before calling disable_fake_quant(). Call prepare() first.");
  q.prepare({x});
  auto fq_on = [&] {
    std::map<std::string, bool> out;
    for (const auto& [m, f] : weights_of(q)) out[m] = f.fake_quant_enabled;
    return out;
  };
  using M = std::map<std::string, bool>;
  q.disable_fake_quant("fc1");
  EXPECT_EQ(fq_on(), (M{{"fc1", false}, {"fc2", true}}));
  q.enable_fake_quant();
  q.disable_fake_quant(cq::Selector::regex("fc[0-9]"));
  EXPECT_EQ(fq_on(), (M{{"fc1", false}, {"fc2", false}}));
  q.enable_fake_quant(cq::Selector::module(""));  // the root: everything
  EXPECT_EQ(fq_on(), (M{{"fc1", true}, {"fc2", true}}));
  EXPECT_EQ(error_of([&] { q.disable_observer("fc3"); }),
            "disable_observer(): module 'fc3' is not part of the prepared model");
  EXPECT_EQ(error_of([&] {
              q.disable_observer(cq::Selector::regex("fc("));
            }).rfind("Invalid regex pattern 'fc(' in the selector: ", 0),
            0U);
}

// ---------------------------------------------------------------- finalize, save, load

TEST_P(FrontDoor, FinalizeReportsEveryWeight) {
  Quantizer q(model(), yaml(kWeightOnly));
  EXPECT_EQ(error_of([&] { q.finalize(); }),
            "Model must be prepared before finalize(). Call prepare() first.");
  const at::Tensor y = run(q.prepare({x}), x);
  const cq::FinalizeResult done = q.finalize();
  EXPECT_EQ(done.model.mode(), GetParam());
  ASSERT_EQ(done.report.weights.size(), 2U);
  const auto& r1 = done.report.weights[0];
  EXPECT_EQ(r1.name, "fc1.weight");
  EXPECT_EQ(r1.dtype, "int8");
  EXPECT_EQ(r1.numel, 128);
  EXPECT_EQ(r1.float_bytes, 128 * 4);
  EXPECT_EQ(r1.quantized_bytes, 128 + 16 * 4);  // codes + one float scale per row
  EXPECT_EQ(done.report.weights[1].quantized_bytes, 64 + 4 * 4);
  EXPECT_EQ(done.report.parameter_bytes_before, (128 + 16 + 64 + 4) * 4);
  // Float biases stay; each weight is stored as its codes and scales.
  EXPECT_EQ(done.report.parameter_bytes_after, (16 + 4) * 4 + (128 + 16 * 4) + (64 + 4 * 4));
  // Dequantized codes are the fake-quantized weights: the same outputs.
  EXPECT_TRUE(torch::allclose(run(done.model, x), y, 0, 1e-6));
}

// The fresh process of SaveLoadInAFreshProcess: the same test binary, run with
// this test selected and COREAI_OPT_FRESH_DIR set. It builds a model of the
// same type with other weights, prepares it, loads the saved state and checks
// the saved outputs bit for bit.
TEST(FrontDoorFreshProcess, LoadsWhatTheParentSaved) {
  const char* dir = std::getenv("COREAI_OPT_FRESH_DIR");
  const char* kind = std::getenv("COREAI_OPT_FRESH_KIND");
  if (dir == nullptr || kind == nullptr) GTEST_SKIP() << "run by SaveLoadInAFreshProcess only";
  torch::manual_seed(1234);  // not the parent's weights
  Tiny fresh;
  const bool eager = std::string(kind) == "eager";
  const cq::Model m = eager ? cq::Model(fresh) : cq::Model(script_of(fresh));
  at::Tensor in, expected;
  torch::load(in, std::string(dir) + "/input.pt");
  torch::load(expected, std::string(dir) + "/output.pt");
  Quantizer q(m, QuantizerConfig());
  const cq::Model prepared = q.prepare({in});
  EXPECT_FALSE(torch::equal(run(prepared, in), expected));
  q.load(std::string(dir) + "/prepared.pt");
  EXPECT_TRUE(torch::equal(run(prepared, in), expected));
  if (!eager) {  // a saved TorchScript model also runs without a Quantizer
    EXPECT_TRUE(torch::equal(
        run(cq::Model(torch::jit::load(std::string(dir) + "/prepared.pt")), in), expected));
  }
}

TEST_P(FrontDoor, SaveLoadInAFreshProcess) {
  const std::string dir =
      ::testing::TempDir() + "/front_door_" + std::string(cq::to_string(GetParam()));
  std::filesystem::create_directories(dir);
  Quantizer q(model(), QuantizerConfig());  // W8A8
  EXPECT_EQ(error_of([&] { q.save(dir + "/prepared.pt"); }),
            "Model must be prepared before save(). Call prepare() first.");
  const cq::Model prepared = q.prepare({x});
  {
    auto calib = q.calibration_mode();
    run(prepared, 2 * x);
  }
  const at::Tensor y = run(prepared, x);
  q.save(dir + "/prepared.pt");
  torch::save(x, dir + "/input.pt");
  torch::save(y, dir + "/output.pt");
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cmd = "COREAI_OPT_FRESH_DIR='" + dir +
                          "' COREAI_OPT_FRESH_KIND=" + std::string(cq::to_string(GetParam())) +
                          " '" + exe +
                          "' --gtest_filter=FrontDoorFreshProcess.LoadsWhatTheParentSaved "
                          "> '" +
                          dir + "/child.log' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "see " << dir << "/child.log";
  // Loading into this quantizer's own prepared model round-trips too.
  q.load(dir + "/prepared.pt");
  EXPECT_TRUE(torch::equal(run(prepared, x), y));
  // A file that is not a prepared model of this kind is refused with its name.
  torch::save(x, dir + "/not_a_model.pt");
  EXPECT_THAT(error_of([&] { q.load(dir + "/not_a_model.pt"); }),
              ::testing::HasSubstr("load('" + dir + "/not_a_model.pt')"));
}

TEST(FrontDoorEager, LoadingAPreparedFileIntoABareModelFailsLoudly) {
  torch::manual_seed(3);
  Tiny net;
  Quantizer q(net, QuantizerConfig());
  q.prepare({torch::randn({2, 8})});
  const std::string path = ::testing::TempDir() + "/front_door_bare.pt";
  q.save(path);
  Tiny bare;
  EXPECT_THAT(error_of([&] { torch::load(bare, path); }), ::testing::HasSubstr("fc1"));
}

TEST(FrontDoorEager, ForwardOfAnUntypedModelNeedsAFunction) {
  Tiny net;
  Quantizer q(std::static_pointer_cast<torch::nn::Module>(net.ptr()), QuantizerConfig());
  const at::Tensor x = torch::randn({2, 8});
  EXPECT_THAT(error_of([&] { q.prepare({x}); }),
              ::testing::HasSubstr("prepare(): the model's forward cannot be called with "
                                   "positional inputs here"));
  q.prepare([&] { net->forward(x); });
  EXPECT_GT(q.fake_quants().size(), 2U);
}

TEST(FrontDoorGraph, AFunctionCannotServeAsTheExample) {
  torch::manual_seed(3);
  Tiny net;
  Quantizer q(script_of(net), QuantizerConfig());
  EXPECT_THAT(error_of([&] { q.prepare([] {}); }),
              ::testing::HasSubstr("prepare(): graph mode runs a prepared copy"));
}

TEST_P(FrontDoor, InspectorListsTheLinearOps) {
  const cq::ModelInspector inspector(model(), eager() ? cq::Example({x}) : cq::Example());
  EXPECT_EQ(inspector.execution_mode(), GetParam());
  std::vector<std::string> linears;
  for (const auto& op : inspector.get_matched_ops_for_op_type("linear"))
    linears.push_back(op.module_name());
  EXPECT_EQ(linears, (std::vector<std::string>{"fc1", "fc2"}));
  EXPECT_EQ(inspector.get_matched_ops_for_module_name("fc2").size(), 1U);
}

INSTANTIATE_TEST_SUITE_P(Kinds, FrontDoor,
                         ::testing::Values(ExecutionMode::kEager, ExecutionMode::kGraph),
                         kind_name);

}  // namespace
}  // namespace front_door_test
