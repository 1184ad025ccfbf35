// Eager Quantizer over torch::nn::Module models: resolution, weight fake
// quantization with the straight-through gradient, the stale-weight checks,
// drop-in modules, stubs, functional helpers, modes, schedule, finalize, plan.
#include "coreai_opt/torch/quantizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "coreai_opt/errors.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/nn.h"
#include "coreai_opt/warnings.h"

namespace eager_test {

namespace cq = coreai_opt::quantization;
namespace cnn = coreai_opt::nn;
namespace F = coreai_opt::nn::functional;
using cq::Quantizer;
using cq::QuantizerConfig;

QuantizerConfig yaml(const std::string& body) {
  return QuantizerConfig::from_yaml_string("quantization_config:\n  execution_mode: eager\n" +
                                           body);
}

const char* kWeightOnly =
    "  global_config:\n"
    "    op_input_spec:\n"
    "    op_output_spec:\n";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// int8 symmetric per-channel (axis 0) fake quantization, written out (reference §2.4, §2.6).
at::Tensor ref_int8_per_channel(const at::Tensor& w) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < w.dim(); ++d) dims.push_back(d);
  auto amax = w.abs().amax(dims, /*keepdim=*/true);
  auto s = at::clamp_min(amax / 127.5, 1.1920928955078125e-07);
  return at::clamp(at::round(w / s), -128, 127) * s;
}
at::Tensor ref_int8_in_range(const at::Tensor& w) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < w.dim(); ++d) dims.push_back(d);
  auto amax = w.abs().amax(dims, true);
  auto s = at::clamp_min(amax / 127.5, 1.1920928955078125e-07);
  auto r = at::round(w / s);
  return (r >= -128).logical_and(r <= 127).to(at::kFloat);
}
// int8 symmetric per-tensor with a given scale.
at::Tensor ref_int8_tensor(const at::Tensor& x, const at::Tensor& s) {
  return at::clamp(at::round(x / s), -128, 127) * s;
}

cq::FakeQuantizeImpl& child_fq(torch::nn::Module& m, const std::string& name) {
  for (const auto& c : m.named_children()) {
    if (c.key() == name) return *c.value()->as<cq::FakeQuantizeImpl>();
  }
  throw std::runtime_error("no child " + name);
}
bool has_child(torch::nn::Module& m, const std::string& name) {
  for (const auto& c : m.named_children()) {
    if (c.key() == name) return true;
  }
  return false;
}

// ---------------------------------------------------------------- models

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = torch::nn::Linear(8, 16);
    fc2 = torch::nn::Linear(16, 8);
    enc = register_module("enc", torch::nn::Sequential(fc1, torch::nn::ReLU(), fc2));
    head = register_module("head", torch::nn::Linear(8, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(enc->forward(x)); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, head{nullptr};
  torch::nn::Sequential enc{nullptr};
};
TORCH_MODULE(Net);

// A user module owning its weight.
struct BlockImpl : torch::nn::Module {
  BlockImpl() { weight = register_parameter("weight", torch::randn({4, 8})); }
  torch::Tensor forward(const torch::Tensor& x) { return torch::matmul(x, weight.t()); }
  torch::Tensor weight;
};
TORCH_MODULE(Block);

struct CustomNetImpl : torch::nn::Module {
  CustomNetImpl() { block = register_module("block", Block()); }
  torch::Tensor forward(const torch::Tensor& x) { return block(x); }
  Block block{nullptr};
};
TORCH_MODULE(CustomNet);

struct DropNetImpl : torch::nn::Module {
  DropNetImpl() { fc = register_module("fc", cnn::Linear(6, 3)); }
  torch::Tensor forward(const torch::Tensor& x) { return fc(x); }
  cnn::Linear fc{nullptr};
};
TORCH_MODULE(DropNet);

struct ResImpl : torch::nn::Module {
  ResImpl() { fc = register_module("fc", cnn::Linear(4, 4)); }
  torch::Tensor forward(const torch::Tensor& x) {
    if (flip) return F::add(*this, F::mul(*this, x, x), x);
    auto y = F::add(*this, fc(x), x);
    return F::mul(*this, F::add(*this, y, x), y);
  }
  cnn::Linear fc{nullptr};
  bool flip = false;
};
TORCH_MODULE(Res);

struct TopImpl : torch::nn::Module {
  TopImpl() { block = register_module("block", Res()); }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = block(x);
    return F::add(*this, y, x);
  }
  Res block{nullptr};
};
TORCH_MODULE(Top);

struct StubNetImpl : torch::nn::Module {
  StubNetImpl() {
    stub = register_module("stub", cnn::QuantStub());
    fc = register_module("fc", torch::nn::Linear(4, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc(stub(x)); }
  cnn::QuantStub stub{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(StubNet);

struct SharedNetImpl : torch::nn::Module {
  SharedNetImpl() {
    shared = torch::nn::Linear(4, 4);
    register_module("a", shared);
    register_module("b", shared);
  }
  torch::Tensor forward(const torch::Tensor& x) { return shared(shared(x)); }
  torch::nn::Linear shared{nullptr};
};
TORCH_MODULE(SharedNet);

class EagerTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

// ---------------------------------------------------------------- construction

TEST_F(EagerTest, ConstructionChecksModeAndKeys) {
  Net net;
  auto bad = yaml(
      "  global_config:\n"
      "    op_input_spec: {input: {dtype: int8}}\n");
  try {
    Quantizer q(net, bad);
    FAIL() << "expected UnsupportedError";
  } catch (const coreai_opt::UnsupportedError& e) {
    EXPECT_EQ(std::string(e.what()),
              "Only integer indices or '*' are supported for op_input_spec and op_output_spec "
              "currently. Got {'input'}");
  }
  coreai_opt::WarningCollector warnings;
  auto preserved = yaml("  preserved_attributes: [foo]\n");
  Quantizer q(net, preserved);
  ASSERT_EQ(warnings.messages().size(), 1u);
  EXPECT_NE(warnings.messages()[0].find("only used in graph mode"), std::string::npos);
}

// ---------------------------------------------------------------- weights

TEST_F(EagerTest, PlainLinearWeightsAreFakeQuantizedAndTrainedThroughSte) {
  Net net;
  const at::Tensor w0 = net->fc1->weight.detach().clone();
  Quantizer q(net, yaml(kWeightOnly));
  const at::Tensor x = torch::randn({5, 8});
  q.prepare([&] { net->forward(x); });

  // The module reads the fake-quantized view; the registered parameter is the float master.
  auto params = net->named_parameters();
  const at::Tensor master = params["enc.0.weight"];
  EXPECT_TRUE(master.is_leaf());
  EXPECT_TRUE(torch::equal(master, w0));
  EXPECT_TRUE(torch::allclose(net->fc1->weight, ref_int8_per_channel(w0), 0, 1e-7));
  EXPECT_FALSE(torch::equal(net->fc1->weight, w0));
  EXPECT_TRUE(has_child(*net->fc1, "weight_fake_quant"));
  const at::Tensor expected_h = at::relu(at::linear(x, ref_int8_per_channel(w0), net->fc1->bias));
  {
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::allclose(
        net->fc1(x), at::linear(x, ref_int8_per_channel(w0), net->fc1->bias), 1e-6, 1e-6));
    EXPECT_TRUE(torch::allclose(
        net->fc2(expected_h),
        at::linear(expected_h, ref_int8_per_channel(params["enc.2.weight"]), net->fc2->bias), 1e-6,
        1e-6));
  }

  // Straight-through gradient: d(sum(fc1(x)))/dW = 1^T x, zero where the code clipped.
  auto guard = q.training_mode();
  net->fc1(x).sum().backward();
  const at::Tensor expected_grad = x.sum(0).unsqueeze(0).expand({16, 8}) * ref_int8_in_range(w0);
  ASSERT_TRUE(master.grad().defined());
  EXPECT_TRUE(torch::allclose(master.grad(), expected_grad, 1e-6, 1e-6));
  EXPECT_LT(ref_int8_in_range(w0).sum().item<float>(), 128.f);  // +amax clips (127.5 -> 128)

  // The optimizer updates the master; step() refreshes the view from it.
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.5));
  opt.step();
  EXPECT_FALSE(torch::equal(master, w0));
  q.step();
  EXPECT_TRUE(torch::allclose(net->fc1->weight, ref_int8_per_channel(master.detach()), 0, 1e-7));
  EXPECT_EQ(q.step_count(), 1);
}

TEST_F(EagerTest, ForgettingStepFailsLoudlyNamingTheFix) {
  Net net;
  Quantizer q(net, yaml(kWeightOnly));
  const at::Tensor x = torch::randn({3, 8});
  q.prepare([&] { net->forward(x); });
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1));
  auto guard = q.training_mode();
  net->forward(x).sum().backward();
  opt.step();
  opt.zero_grad();
  // No q.step(): the forward runs on stale quantized weights and backward says so.
  auto loss = net->forward(x).sum();
  const std::string msg = error_of([&] { loss.backward(); });
  ASSERT_FALSE(msg.empty());
  EXPECT_NE(msg.find("was computed before its float weight last changed"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("Call Quantizer::step() after every optimizer.step()"), std::string::npos);

  // The proper loop works for several iterations.
  q.refresh_weights();
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    net->forward(x).sum().backward();
    opt.step();
    q.step();
  }
  // step() before optimizer.step() is caught too (the weights would lag a step).
  opt.zero_grad();
  net->forward(x).sum().backward();
  q.step();
  opt.step();
  auto lagging = net->forward(x).sum();
  EXPECT_NE(error_of([&] { lagging.backward(); }).find("computed before its float weight"),
            std::string::npos);
  q.refresh_weights();
  // Two backward passes without a refresh in between are refused too.
  net->forward(x).sum().backward();
  auto again = net->forward(x).sum();
  EXPECT_NE(error_of([&] { again.backward(); }).find("already used by a backward pass"),
            std::string::npos);
}

TEST_F(EagerTest, DropInsRefreshTheirOwnWeights) {
  DropNet net;
  Quantizer q(net, yaml(kWeightOnly));
  const at::Tensor x = torch::randn({2, 6});
  q.prepare([&] { net->forward(x); });
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.3));
  auto guard = q.training_mode();
  for (int i = 0; i < 3; ++i) {  // no step(): the drop-in refreshes itself
    opt.zero_grad();
    net->forward(x).sum().backward();
    opt.step();
  }
  const at::Tensor master = net->named_parameters()["fc.weight"];
  net->forward(x);
  EXPECT_TRUE(torch::allclose(net->fc->weight, ref_int8_per_channel(master.detach()), 0, 1e-7));
}

TEST_F(EagerTest, CustomModuleWeightsNeedAnExplicitAxis) {
  CustomNet net;
  const at::Tensor x = torch::randn({2, 8});
  {
    coreai_opt::WarningCollector warnings;
    Quantizer q(net, yaml("  global_config:\n"
                          "    op_input_spec:\n"
                          "    op_output_spec:\n"
                          "    op_state_spec:\n"
                          "      weight: {dtype: int8, granularity: {type: per_channel}}\n"));
    q.prepare([&] { net->forward(x); });
    ASSERT_EQ(q.plan().skipped.size(), 1u);
    EXPECT_EQ(q.plan().skipped[0].module, "block");
    EXPECT_EQ(q.plan().skipped[0].module_type, "eager_test::BlockImpl");
    EXPECT_EQ(q.plan().skipped[0].tensor, "weight");
    EXPECT_NE(q.plan().skipped[0].reason.find("give an explicit axis"), std::string::npos);
    bool warned = false;
    for (const auto& m : warnings.messages())
      warned |= m.find("plan().skipped lists them") != std::string::npos;
    EXPECT_TRUE(warned);
    EXPECT_TRUE(net->block->weight.is_leaf());
  }
  CustomNet net2;
  const at::Tensor w0 = net2->block->weight.detach().clone();
  Quantizer q2(net2, yaml(kWeightOnly));  // the default weight spec has axis 0
  q2.prepare([&] { net2->forward(x); });
  EXPECT_TRUE(q2.plan().skipped.empty());
  EXPECT_TRUE(torch::allclose(net2->block->weight, ref_int8_per_channel(w0), 0, 1e-7));
  EXPECT_EQ(q2.plan().points.at(0).rule, "global_config > op_*_spec");
}

TEST_F(EagerTest, NonDividingBlockLeavesTheLayerInFloat) {
  Net net;
  const at::Tensor w0 = net->fc1->weight.detach().clone();
  coreai_opt::WarningCollector warnings;
  Quantizer q(
      net, yaml("  global_config:\n"
                "    op_input_spec:\n"
                "    op_output_spec:\n"
                "    op_state_spec:\n"
                "      weight: {dtype: int4, granularity: {type: per_block, block_size: 16}}\n"));
  q.prepare([&] { net->forward(torch::randn({2, 8})); });
  // fc1 has 8 input channels: not divisible by 16; fc2 (16) and head (8) -> head too.
  EXPECT_TRUE(torch::equal(net->fc1->weight, w0));
  EXPECT_TRUE(net->fc1->weight.is_leaf());
  EXPECT_FALSE(has_child(*net->fc1, "weight_fake_quant"));
  EXPECT_TRUE(has_child(*net->fc2, "weight_fake_quant"));
  int block_warnings = 0;
  for (const auto& m : warnings.messages()) {
    block_warnings += m.find("incompatible with block size") != std::string::npos;
  }
  EXPECT_EQ(block_warnings, 2);
  ASSERT_EQ(q.plan().skipped.size(), 2u);
  EXPECT_NE(q.plan().skipped[0].reason.find("block size"), std::string::npos);
  ASSERT_EQ(q.plan().points.size(), 1u);
  EXPECT_EQ(q.plan().points[0].module, "enc.2");
}

TEST_F(EagerTest, SharedModuleAndConvTransposeAxis) {
  SharedNet net;
  Quantizer q(net, yaml(kWeightOnly));
  q.prepare([&] { net->forward(torch::randn({2, 4})); });
  auto plan = q.plan();
  ASSERT_EQ(plan.points.size(), 1u);
  EXPECT_EQ(plan.points[0].module, "a");
  EXPECT_EQ(plan.points[0].op_name, "a.linear");

  auto seq = torch::nn::Sequential(torch::nn::ConvTranspose2d(3, 5, 3), torch::nn::Conv2d(5, 2, 3));
  Quantizer qc(seq.ptr(), yaml("  global_config:\n"
                               "    op_input_spec:\n"
                               "    op_output_spec:\n"
                               "    op_state_spec:\n"
                               "      weight: {dtype: int8, granularity: {type: per_channel}}\n"));
  qc.prepare([&] { seq->forward(torch::randn({1, 3, 6, 6})); });
  auto* ct = seq[0]->as<torch::nn::ConvTranspose2dImpl>();
  EXPECT_EQ(child_fq(*ct, "weight_fake_quant").scale().numel(), 5);  // axis 1 = output channels
  EXPECT_EQ(child_fq(*seq[1], "weight_fake_quant").scale().numel(), 2);
  auto p = qc.plan();
  EXPECT_EQ(p.points[0].spec->granularity.axis, 1);
  EXPECT_EQ(p.points[1].spec->granularity.axis, 0);
}

// ---------------------------------------------------------------- activations

TEST_F(EagerTest, DropInLinearQuantizesInputOutputAndWeight) {
  DropNet net;
  const at::Tensor x0 = torch::randn({4, 6});
  const at::Tensor w0 = net->fc->weight.detach().clone();
  const at::Tensor y0 = at::linear(x0, w0, net->fc->bias).detach();
  Quantizer q(net);  // default: W8A8 in eager mode
  q.prepare([&] { net->forward(x0); });
  auto& in = *net->fc->input_quantizer();
  auto& out = *net->fc->output_quantizer();
  // Scales observed by prepare's forward (moving average initialised from it).
  EXPECT_NEAR(in.scale().item<float>(), x0.abs().max().item<float>() / 127.5f, 1e-7);
  EXPECT_NEAR(out.scale().item<float>(), y0.abs().max().item<float>() / 127.5f, 1e-7);
  const at::Tensor x1 = torch::randn({3, 6});
  torch::NoGradGuard g;
  const at::Tensor expected = ref_int8_tensor(
      at::linear(ref_int8_tensor(x1, in.scale()), ref_int8_per_channel(w0), net->fc->bias),
      out.scale());
  EXPECT_TRUE(torch::allclose(net->forward(x1), expected, 1e-6, 1e-6));
  EXPECT_TRUE(has_child(*net->fc, "linear_quantize_input"));
  EXPECT_TRUE(has_child(*net->fc, "linear_quantize_output_0"));
  auto plan = q.plan();
  ASSERT_EQ(plan.points.size(), 3u);
  EXPECT_EQ(plan.points[0].kind, cq::PointKind::kOpState);
  EXPECT_EQ(plan.points[1].kind, cq::PointKind::kOpInput);
  EXPECT_EQ(plan.points[2].kind, cq::PointKind::kOpOutput);
  EXPECT_EQ(plan.points[2].rule, "global_config > op_*_spec");
}

TEST_F(EagerTest, StubConfiguredByNameAndInertUnderWeightOnly) {
  StubNet net;
  const at::Tensor x0 = torch::randn({3, 4});
  Quantizer q(net,
              yaml(std::string(kWeightOnly) + "  module_name_configs:\n"
                                              "    stub:\n"
                                              "      op_input_spec:\n"
                                              "      op_output_spec:\n"
                                              "      module_input_spec: {0: {dtype: int8}}\n"));
  q.prepare([&] { net->forward(x0); });
  ASSERT_FALSE(net->stub->quantizer().is_empty());
  const float s = net->stub->quantizer()->scale().item<float>();
  EXPECT_NEAR(s, x0.abs().max().item<float>() / 127.5f, 1e-7);
  torch::NoGradGuard g;
  const at::Tensor x1 = torch::randn({3, 4});
  EXPECT_TRUE(torch::allclose(net->stub(x1), ref_int8_tensor(x1, net->stub->quantizer()->scale())));
  auto plan = q.plan();
  bool found = false;
  for (const auto& p : plan.points) {
    if (p.module == "stub") {
      found = true;
      EXPECT_EQ(p.kind, cq::PointKind::kModuleInput);
      EXPECT_EQ(p.rule, "module_name_configs[\"stub\"] > module_input_spec[0]");
    }
  }
  EXPECT_TRUE(found);

  StubNet plain;
  Quantizer q2(plain, yaml(kWeightOnly));
  q2.prepare([&] { plain->forward(x0); });
  EXPECT_TRUE(plain->stub->quantizer().is_empty());
}

TEST_F(EagerTest, FunctionalOpsAreNamedPerModuleAndQuantized) {
  Top top;
  const at::Tensor x0 = torch::randn({2, 4});
  Quantizer q(top);
  auto before = q.plan([&] { top->forward(x0); });
  q.prepare([&] { top->forward(x0); });
  auto plan = q.plan();
  std::vector<std::string> ops;
  for (const auto& p : plan.points) {
    if (p.op_type && *p.op_type != "linear" && p.kind == cq::PointKind::kOpOutput)
      ops.push_back(*p.op_name);
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"block.add", "block.add_1", "block.mul", "add"}));
  EXPECT_EQ(before.points.size(), plan.points.size());
  EXPECT_TRUE(has_child(*top->block, "add_quantize_input"));
  EXPECT_TRUE(has_child(*top->block, "add_quantize_other"));
  EXPECT_TRUE(has_child(*top->block, "add_1_quantize_output_0"));
  EXPECT_TRUE(has_child(*top, "add_quantize_output_0"));
  // The result is on the grid of the last add's output quantizer.
  torch::NoGradGuard g;
  const at::Tensor y = top->forward(torch::randn({2, 4}));
  const at::Tensor s = child_fq(*top, "add_quantize_output_0").scale();
  EXPECT_TRUE(torch::allclose(y / s, at::round(y / s), 0, 1e-4));
  EXPECT_TRUE(torch::allclose(top->forward(x0), top->forward(x0)));  // sequences restart
  // A different op order than in prepare is refused.
  top->block->flip = true;
  EXPECT_NE(error_of([&] { top->forward(x0); }).find("same order"), std::string::npos);
}

// Every stock module type with a weight, and both shapes of Linear's inline code: 3-D
// input (matmul, then the bias added in place), no bias (matmul alone), 2-D input with a
// bias (addmm). The same network from drop-ins is the expectation.
template <class Linear, class Conv2d, class ConvTranspose2d, class Embedding>
struct ZooImpl : torch::nn::Module {
  ZooImpl() {
    emb = register_module("emb", Embedding(torch::nn::EmbeddingOptions(10, 8)));
    conv = register_module("conv", Conv2d(torch::nn::Conv2dOptions(1, 2, 3).padding(1)));
    deconv = register_module(
        "deconv", ConvTranspose2d(torch::nn::ConvTranspose2dOptions(2, 1, 3).padding(1)));
    fc3d = register_module("fc3d", Linear(torch::nn::LinearOptions(8, 8)));
    nobias = register_module("nobias", Linear(torch::nn::LinearOptions(8, 4).bias(false)));
    fc2d = register_module("fc2d", Linear(torch::nn::LinearOptions(4, 3)));
  }
  torch::Tensor forward(const torch::Tensor& ids) {
    auto img = emb(ids).unsqueeze(1);       // [B, 1, T, 8]
    img = deconv(torch::relu(conv(img)));   // [B, 1, T, 8]
    auto h = nobias(fc3d(img.squeeze(1)));  // [B, T, 4]
    return fc2d(h.mean(1));                 // [B, 3]
  }
  Linear fc3d{nullptr}, nobias{nullptr}, fc2d{nullptr};
  Conv2d conv{nullptr};
  ConvTranspose2d deconv{nullptr};
  Embedding emb{nullptr};
};
using StockZoo =
    ZooImpl<torch::nn::Linear, torch::nn::Conv2d, torch::nn::ConvTranspose2d, torch::nn::Embedding>;
using DropInZoo = ZooImpl<cnn::Linear, cnn::Conv2d, cnn::ConvTranspose2d, cnn::Embedding>;

// A new Net with the parameters of `from` (same names).
template <class Net>
std::shared_ptr<Net> twin_of(torch::nn::Module& from) {
  auto net = std::make_shared<Net>();
  torch::NoGradGuard g;
  for (const auto& p : from.named_parameters()) net->named_parameters()[p.key()].copy_(p.value());
  return net;
}

TEST_F(EagerTest, StockModulesAreQuantizedLikeTheirDropIns) {
  auto stock = std::make_shared<StockZoo>();
  auto drop = twin_of<DropInZoo>(*stock);
  const at::Tensor ids0 = torch::tensor({{1, 3, 5, 7}, {2, 4, 6, 8}}, torch::kLong);
  const at::Tensor ids1 = torch::tensor({{9, 0, 3, 3}, {1, 1, 2, 5}}, torch::kLong);
  coreai_opt::WarningCollector warnings;
  Quantizer qs(stock);  // W8A8
  Quantizer qd(drop);
  qs.prepare({ids0});
  qd.prepare({ids0});
  EXPECT_TRUE(warnings.messages().empty()) << warnings.messages().front();
  // The same plan: 6 weights and 11 activations (Embedding has no float input).
  EXPECT_EQ(qs.plan().to_json(), qd.plan().to_json());
  EXPECT_EQ(qs.plan().points.size(), 17u);
  EXPECT_TRUE(qs.plan().skipped.empty());
  EXPECT_TRUE(has_child(*stock->fc3d, "linear_quantize_input"));
  EXPECT_TRUE(has_child(*stock->fc3d, "linear_quantize_output_0"));
  EXPECT_TRUE(has_child(*stock->emb, "embedding_quantize_output_0"));
  {
    auto cs = qs.calibration_mode();
    auto cd = qd.calibration_mode();
    stock->forward(ids1);
    drop->forward(ids1);
  }
  // Same qparams at every point, same outputs and the same straight-through gradients.
  const auto ps = qs.fake_quants();
  const auto pd = qd.fake_quants();
  ASSERT_EQ(ps.size(), pd.size());
  for (std::size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(ps[i].name, pd[i].name);
    EXPECT_TRUE(torch::equal(ps[i].scale, pd[i].scale)) << ps[i].name;
  }
  const at::Tensor ys = stock->forward(ids1);
  const at::Tensor yd = drop->forward(ids1);
  EXPECT_TRUE(torch::equal(ys, yd));
  ys.sum().backward();
  yd.sum().backward();
  for (const auto& p : stock->named_parameters()) {
    const at::Tensor gd = drop->named_parameters()[p.key()].grad();
    ASSERT_TRUE(p.value().grad().defined() && gd.defined()) << p.key();
    EXPECT_TRUE(torch::equal(p.value().grad(), gd)) << p.key();
  }
  // Quantization is on: the output differs from the float model's.
  auto fresh = twin_of<StockZoo>(*stock);
  EXPECT_FALSE(torch::equal(fresh->forward(ids1), ys));
  // The activation point of fc2d quantizes its input as the formula says: its input is
  // the output of nobias's own output fake-quant, re-quantized with fc2d's scale.
  const auto& in_fq = child_fq(*stock->fc2d, "linear_quantize_input");
  EXPECT_TRUE(in_fq.initialized());
  EXPECT_GT(in_fq.scale().item<float>(), 0.0f);
}

// A finalized model keeps its stock modules' activation fake-quants after its Quantizer is
// gone, and another thread runs them once it switches interception on.
TEST_F(EagerTest, StockModuleActivationsOutliveTheQuantizerAndReachOtherThreads) {
  auto stock = std::make_shared<StockZoo>();
  auto drop = twin_of<DropInZoo>(*stock);
  const at::Tensor ids = torch::tensor({{1, 3, 5, 7}, {2, 4, 6, 8}}, torch::kLong);
  {
    Quantizer qs(stock);
    Quantizer qd(drop);
    qs.prepare({ids});
    qd.prepare({ids});
    qs.finalize();
    qd.finalize();
  }
  torch::NoGradGuard g;
  const at::Tensor yd = drop->forward(ids);
  EXPECT_TRUE(torch::equal(stock->forward(ids), yd));
  at::Tensor unswitched, switched;
  std::thread([&] {
    torch::NoGradGuard g2;
    unswitched = stock->forward(ids);
    coreai_opt::quantization::enable_stock_module_quantization_on_this_thread();
    switched = stock->forward(ids);
  }).join();
  EXPECT_TRUE(torch::equal(switched, yd));
  EXPECT_FALSE(torch::equal(unswitched, yd));  // the documented limit: the switch is per thread
}

TEST_F(EagerTest, PlainModulesReportWhatTheyCannotQuantize) {
  // Parameter-free stock modules, and two stock Linear layers sharing one weight.
  struct TiedImpl : torch::nn::Module {
    TiedImpl() {
      a = register_module("a", torch::nn::Linear(4, 4));
      b = register_module("b", torch::nn::Linear(4, 4));
      b->weight = a->weight;  // tied: b's forward reads a's weight
      pool = register_module("pool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    }
    torch::Tensor forward(const torch::Tensor& x) {
      return b(a(pool(x.view({1, 1, 4, 8})).view({2, 4})));
    }
    torch::nn::Linear a{nullptr}, b{nullptr};
    torch::nn::MaxPool2d pool{nullptr};
  };
  auto net = std::make_shared<TiedImpl>();
  coreai_opt::WarningCollector warnings;
  Quantizer q(net);
  q.prepare([&] { net->forward(torch::randn({4, 8})); });
  const auto skipped = q.plan().skipped;
  ASSERT_EQ(skipped.size(), 4u);  // input and output of b and of pool
  EXPECT_EQ(skipped[0].module, "b");
  EXPECT_EQ(skipped[0].reason,
            "torch::nn::Linear shares its weight with 'a': eager mode tells stock modules apart "
            "by their weight; use coreai_opt::nn::Linear for one of them");
  EXPECT_EQ(skipped[3].module, "pool");
  EXPECT_EQ(skipped[3].kind, cq::PointKind::kOpOutput);
  EXPECT_EQ(skipped[3].reason,
            "a torch::nn module without a weight cannot be told apart at the dispatcher; place a "
            "coreai_opt::nn::QuantStub at the tensor to quantize it");
  ASSERT_FALSE(warnings.messages().empty());
  EXPECT_NE(warnings.messages().back().find("left 4 requested quantization point(s)"),
            std::string::npos);
}

// ---------------------------------------------------------------- modes

TEST_F(EagerTest, ModeErrorsAndSchedule) {
  Net net;
  auto cfg = yaml(
      "  global_config:\n"
      "    op_input_spec:\n"
      "    op_output_spec:\n"
      "    qat_schedule: {enable_observer: 0, enable_fake_quant: 2, disable_observer: 3}\n");
  Quantizer q(net, cfg);
  EXPECT_EQ(error_of([&] { auto c = q.calibration_mode(); }),
            "Model must be prepared before entering calibration mode. Call prepare() first.");
  EXPECT_NE(error_of([&] { q.finalize(); }).find("Call prepare() first"), std::string::npos);
  const at::Tensor x = torch::randn({2, 8});
  q.prepare([&] { net->forward(x); });
  EXPECT_NE(error_of([&] { q.step(); }).find("inside training_mode()"), std::string::npos);
  EXPECT_NE(error_of([&] { q.enable_observer(); }).find("cannot be used with a qat_schedule"),
            std::string::npos);
  {
    coreai_opt::WarningCollector w;
    q.prepare([&] { net->forward(x); });
    ASSERT_EQ(w.messages().size(), 1u);
    EXPECT_NE(w.messages()[0].find("already been prepared"), std::string::npos);
  }
  auto& fq = child_fq(*net->fc1, "weight_fake_quant");
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01));
  {
    auto t = q.training_mode();
    EXPECT_NE(error_of([&] { auto t2 = q.training_mode(); }).find("Nested training_mode()"),
              std::string::npos);
    std::vector<std::pair<bool, bool>> states;
    states.emplace_back(fq.observer_enabled(), fq.fake_quant_enabled());
    for (int i = 0; i < 4; ++i) {
      opt.zero_grad();
      net->forward(x).sum().backward();
      opt.step();
      q.step();
      states.emplace_back(fq.observer_enabled(), fq.fake_quant_enabled());
    }
    using P = std::pair<bool, bool>;
    EXPECT_EQ(
        states,
        (std::vector<P>{{true, false}, {true, false}, {true, true}, {false, true}, {false, true}}));
    // Fake quant off at step 0..1 means the float weights were used.
  }
  EXPECT_FALSE(fq.observer_enabled());
  EXPECT_TRUE(fq.fake_quant_enabled());
  EXPECT_EQ(q.step_count(), 4);
}

TEST_F(EagerTest, EnableDisableByModule) {
  Net net;
  Quantizer q(net, yaml(kWeightOnly));
  const at::Tensor x = torch::randn({2, 8});
  q.prepare([&] { net->forward(x); });
  EXPECT_EQ(error_of([&] { q.disable_fake_quant("stranger"); }),
            "disable_fake_quant(): module 'stranger' is not part of the prepared model");
  EXPECT_EQ(error_of([&] { q.disable_fake_quant(cq::Selector::regex("str.*")); }),
            "disable_fake_quant(): the regex 'str.*' matches no module of the prepared model");
  q.disable_fake_quant("enc");
  auto params = net->named_parameters();
  EXPECT_TRUE(torch::equal(net->fc1->weight, params["enc.0.weight"]));
  EXPECT_TRUE(torch::allclose(net->head->weight,
                              ref_int8_per_channel(params["head.weight"].detach()), 0, 1e-7));
  q.enable_fake_quant();
  EXPECT_TRUE(torch::allclose(net->fc1->weight,
                              ref_int8_per_channel(params["enc.0.weight"].detach()), 0, 1e-7));
  {
    auto c = q.calibration_mode();
    EXPECT_FALSE(net->is_training());
    // Weight fake quantization stays on while calibrating (as in the reference).
    EXPECT_TRUE(torch::allclose(net->fc1->weight,
                                ref_int8_per_channel(params["enc.0.weight"].detach()), 0, 1e-7));
  }
  EXPECT_TRUE(net->is_training());
}

TEST_F(EagerTest, CalibrationKeepsWeightFakeQuantOn) {
  DropNet net;
  Quantizer q(net, yaml(""));  // W8A8
  const at::Tensor x = torch::randn({5, 6});
  q.prepare([&] { net->forward(x); });
  auto fqs = [&] {
    std::map<std::string, cq::FakeQuantizeImpl*> out;
    for (const auto& c : net->fc->named_children()) {
      if (auto* f = c.value()->as<cq::FakeQuantizeImpl>()) out[c.key()] = f;
    }
    return out;
  };
  ASSERT_EQ(fqs().size(), 3u);  // weight, input, output
  ASSERT_EQ(fqs().count("weight_fake_quant"), 1u);
  auto params = net->named_parameters();
  const at::Tensor w_q = ref_int8_per_channel(params["fc.weight"].detach());
  torch::NoGradGuard g;
  {
    auto c = q.calibration_mode();
    for (const auto& [name, f] : fqs()) {
      EXPECT_TRUE(f->observer_enabled()) << name;
      EXPECT_EQ(f->fake_quant_enabled(), name == "weight_fake_quant") << name;
    }
    // Activations pass through unquantized; the weight is fake-quantized.
    EXPECT_TRUE(torch::allclose(net->forward(x), torch::linear(x, w_q, net->fc->bias), 0, 1e-6));
  }
  for (const auto& [name, f] : fqs()) {
    EXPECT_FALSE(f->observer_enabled()) << name;
    EXPECT_TRUE(f->fake_quant_enabled()) << name;
  }
}

// ---------------------------------------------------------------- finalize and plan

TEST_F(EagerTest, FinalizeStoresQuantizedValuesAndReportsBytes) {
  Net net;
  const at::Tensor w0 = net->fc1->weight.detach().clone();
  Quantizer q(net, yaml(kWeightOnly));
  q.prepare([&] { net->forward(torch::randn({2, 8})); });
  const auto report = q.finalize().report;
  ASSERT_EQ(report.weights.size(), 3u);
  EXPECT_EQ(report.weights[0].name, "enc.0.weight");
  EXPECT_EQ(report.weights[0].float_bytes, 16 * 8 * 4);
  EXPECT_EQ(report.weights[0].quantized_bytes, 16 * 8 + 16 * 4);  // codes + scales
  // Parameters: 16*8+16 + 8*16+8 + 4*8+4 floats.
  EXPECT_EQ(report.parameter_bytes_before, (128 + 16 + 128 + 8 + 32 + 4) * 4);
  EXPECT_EQ(report.parameter_bytes_after, report.parameter_bytes_before - (512 - 192) -
                                              (512 - (128 + 8 * 4)) - (128 - (32 + 16)));
  auto params = net->named_parameters();
  EXPECT_TRUE(params["enc.0.weight"].is_same(net->fc1->weight));
  EXPECT_TRUE(net->fc1->weight.is_leaf());
  EXPECT_TRUE(net->fc1->weight.requires_grad());
  EXPECT_TRUE(torch::allclose(net->fc1->weight, ref_int8_per_channel(w0), 0, 1e-7));
  EXPECT_FALSE(has_child(*net->fc1, "weight_fake_quant"));
  EXPECT_NE(error_of([&] { q.finalize(); }).find("finalized"), std::string::npos);
  EXPECT_NE(report.format().find("parameter bytes:"), std::string::npos);
}

TEST_F(EagerTest, PlanJsonShape) {
  Net net;
  auto cfg = yaml(
      "  global_config:\n"
      "    op_input_spec:\n"
      "    op_output_spec:\n"
      "    op_type_config:\n"
      "      matmul:\n"
      "  module_name_configs:\n"
      "    head:\n"
      "      op_input_spec:\n"
      "      op_output_spec:\n"
      "      op_state_spec: {weight: null}\n"
      "    nothing_here: {}\n");
  Quantizer q(net, cfg);
  auto plan = q.plan();
  auto j = nlohmann::json::parse(plan.to_json());
  EXPECT_EQ(j["execution_mode"], "eager");
  ASSERT_EQ(j["points"].size(), 3u);
  const auto& p0 = j["points"][0];
  std::vector<std::string> keys;
  for (auto it = p0.begin(); it != p0.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"fake_quant", "kind", "module", "module_type",
                                            "op_name", "op_type", "rule", "spec", "tensor"}));
  EXPECT_EQ(p0["fake_quant"], "enc.0.weight_fake_quant");
  EXPECT_EQ(p0["kind"], "op_state");
  EXPECT_EQ(p0["op_name"], "enc.0.linear");
  EXPECT_EQ(p0["module_type"], "torch.nn.modules.linear.Linear");
  EXPECT_EQ(p0["spec"]["dtype"], "int8");
  EXPECT_EQ(p0["spec"]["granularity"]["axis"], 0);
  EXPECT_EQ(p0["rule"], "global_config > op_*_spec");
  const auto& p2 = j["points"][2];
  EXPECT_EQ(p2["module"], "head");
  EXPECT_TRUE(p2["spec"].is_null());
  EXPECT_EQ(p2["rule"], "module_name_configs[\"head\"] > op_*_spec");
  bool unmatched = false;
  for (const auto& w : j["warnings"]) {
    unmatched |=
        w.get<std::string>().find("module_name_configs[\"nothing_here\"]") != std::string::npos;
  }
  EXPECT_TRUE(unmatched);
  EXPECT_NE(plan.format_table().find("enc.0.linear [linear]"), std::string::npos);
}

TEST_F(EagerTest, Mxfp4WeightsLandOnTheFp4Grid) {
  auto lin = torch::nn::Linear(64, 4);
  Quantizer q(lin, yaml("  global_config:\n"
                        "    op_input_spec:\n"
                        "    op_output_spec:\n"
                        "    op_state_spec:\n"
                        "      weight: {dtype: float4_e2m1fn_x2, granularity: {type: per_block, "
                        "block_size: 32}}\n"));
  q.prepare([&] { lin->forward(torch::randn({2, 64})); });
  const at::Tensor s = child_fq(*lin, "weight_fake_quant").scale();
  ASSERT_EQ(s.numel(), 8);
  const at::Tensor r = (lin->weight / s.reshape({4, 2}).repeat_interleave(32, 1)).abs().detach();
  const at::Tensor grid = torch::tensor({0.f, 0.5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f});
  const at::Tensor on_grid = (r.unsqueeze(-1) - grid).abs().amin(-1);
  EXPECT_LT(on_grid.max().item<float>(), 1e-6);
}

struct EmbNetImpl : torch::nn::Module {
  EmbNetImpl() { emb = register_module("emb", cnn::Embedding(10, 4)); }
  torch::Tensor forward(const torch::Tensor& idx) { return emb(idx); }
  cnn::Embedding emb{nullptr};
};
TORCH_MODULE(EmbNet);

TEST_F(EagerTest, EmbeddingDropInQuantizesWeightAndOutputOnly) {
  EmbNet net;
  const at::Tensor w0 = net->emb->weight.detach().clone();
  const at::Tensor idx = torch::tensor({1, 3, 5, 7}, torch::kLong);
  Quantizer q(net);
  q.prepare([&] { net->forward(idx); });
  auto plan = q.plan();
  ASSERT_EQ(plan.points.size(), 2u);
  EXPECT_EQ(plan.points[0].op_name, "emb.embedding");
  EXPECT_EQ(plan.points[1].kind, cq::PointKind::kOpOutput);
  EXPECT_TRUE(net->emb->input_quantizer().is_empty());
  torch::NoGradGuard g;
  const at::Tensor s = net->emb->output_quantizer()->scale();
  const at::Tensor expected = ref_int8_tensor(ref_int8_per_channel(w0).index_select(0, idx), s);
  EXPECT_TRUE(torch::allclose(net->forward(idx), expected, 1e-6, 1e-6));
}

TEST_F(EagerTest, ModuleStateSpecOverridesOpStateSpec) {
  Net net;
  const at::Tensor w0 = net->head->weight.detach().clone();
  Quantizer q(net, yaml(std::string(kWeightOnly) +
                        "  module_name_configs:\n"
                        "    head:\n"
                        "      op_input_spec:\n"
                        "      op_output_spec:\n"
                        "      module_state_spec:\n"
                        "        weight: {dtype: int4, granularity: {type: per_channel}}\n"));
  q.prepare([&] { net->forward(torch::randn({2, 8})); });
  const auto plan = q.plan();
  const auto& p = plan.points.at(2);
  EXPECT_EQ(p.kind, cq::PointKind::kModuleState);
  EXPECT_EQ(p.rule, "module_name_configs[\"head\"] > module_state_spec[\"weight\"]");
  EXPECT_EQ(p.spec->granularity.axis, 0);  // Linear default
  auto s = w0.abs().amax({1}, true) / 7.5;
  EXPECT_TRUE(torch::allclose(net->head->weight, at::clamp(at::round(w0 / s), -8, 7) * s, 0, 1e-7));
}

struct GainBlockImpl : torch::nn::Module {
  GainBlockImpl() {
    weight = register_parameter("weight", torch::randn({4, 8}));
    gain = register_parameter("gain", torch::randn({4}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::matmul(x, weight.t()) * gain; }
  torch::Tensor weight, gain;
};
TORCH_MODULE(GainBlock);

TEST_F(EagerTest, UserModuleVectorsAreNotQuantized) {
  GainBlock block;
  const at::Tensor g0 = block->gain.detach().clone();
  Quantizer q(block, yaml("  global_config:\n"
                          "    op_input_spec:\n"
                          "    op_output_spec:\n"
                          "    op_state_spec: {\"*\": {dtype: int8, granularity: {type: "
                          "per_channel, axis: 0}}}\n"));
  auto before = q.plan();
  ASSERT_EQ(before.points.size(), 1u);
  EXPECT_EQ(before.points[0].tensor, "weight");
  bool functional_note = false;
  for (const auto& w : before.warnings)
    functional_note |= w.find("pass an example") != std::string::npos;
  EXPECT_TRUE(functional_note);
  q.prepare([&] { block->forward(torch::randn({2, 8})); });
  EXPECT_TRUE(torch::equal(block->gain, g0));
  EXPECT_TRUE(block->gain.is_leaf());
}

TEST_F(EagerTest, InspectorListsModulesAndEagerOpNames) {
  Top top;
  cq::ModelInspector inspector(top, [&] { top->forward(torch::randn({2, 4})); });
  std::vector<std::string> names;
  for (const auto& op : inspector.ops()) names.push_back(op.op_name);
  EXPECT_EQ(names, (std::vector<std::string>{"block.fc.linear", "block.add", "block.add_1",
                                             "block.mul", "add"}));
  EXPECT_EQ(inspector.get_matched_ops_for_op_type("add").size(), 3u);
  EXPECT_EQ(inspector.get_matched_ops_for_op_name("block\\.add.*").size(), 2u);
  EXPECT_EQ(inspector.get_matched_ops_for_module_name("block").size(), 4u);
  EXPECT_EQ(inspector.get_matched_ops_for_module_type("torch.nn.modules.linear.Linear").size(), 1u);
  EXPECT_THROW(inspector.get_matched_ops_for_op_name("("), coreai_opt::InvalidArgumentError);
  const auto& fc = inspector.summary().get_submodule("block.fc");
  EXPECT_EQ(fc.module_type, "torch.nn.modules.linear.Linear");
  ASSERT_EQ(fc.ops.size(), 1u);
  ASSERT_EQ(fc.ops[0].module_stack.size(), 2u);
  EXPECT_EQ(fc.ops[0].module_stack[0].module_name, "block");
  EXPECT_EQ(fc.ops[0].module_stack[0].module_type, "eager_test::ResImpl");
  auto j = nlohmann::json::parse(inspector.to_json());
  EXPECT_EQ(j["execution_mode"], "eager");
  EXPECT_EQ(j["root"]["module_type"], "eager_test::TopImpl");
  EXPECT_EQ(j["root"]["ops"][0]["op_name"], "add");
  EXPECT_EQ(j["root"]["child_modules"][0]["module_name"], "block");
  const std::string text = inspector.format_summary();
  EXPECT_NE(text.find("(eager_test::TopImpl)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("│   ├── ■ block.fc (torch.nn.modules.linear.Linear)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("◆ block.add_1 [add]"), std::string::npos) << text;
}

TEST_F(EagerTest, PreparedModelSavesAndLoads) {
  const at::Tensor x = torch::randn({3, 6});
  DropNet a;
  Quantizer qa(a);
  qa.prepare([&] { a->forward(x); });
  {
    torch::optim::SGD opt(a->parameters(), torch::optim::SGDOptions(0.1));
    auto t = qa.training_mode();
    for (int i = 0; i < 2; ++i) {
      opt.zero_grad();
      a->forward(x).sum().backward();
      opt.step();
      qa.step();
    }
  }
  std::stringstream archive;
  torch::save(a, archive);
  DropNet b;
  Quantizer qb(b);
  qb.prepare([&] { b->forward(torch::randn({3, 6})); });
  torch::load(b, archive);
  qb.refresh_weights();
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::equal(b->named_parameters()["fc.weight"], a->named_parameters()["fc.weight"]));
  EXPECT_TRUE(torch::equal(b->fc->input_quantizer()->scale(), a->fc->input_quantizer()->scale()));
  EXPECT_TRUE(torch::equal(b->fc->weight, a->fc->weight));
  EXPECT_TRUE(torch::equal(b->forward(x), a->forward(x)));
}

TEST_F(EagerTest, TypedSetModuleTypeAndDropInsInSequential) {
  EXPECT_EQ(cq::ModuleTypeKey<cnn::Linear>::get(), "torch.nn.modules.linear.Linear");
  EXPECT_EQ(cq::ModuleTypeKey<cnn::ConvTranspose2dImpl>::get(),
            "torch.nn.modules.conv.ConvTranspose2d");
  EXPECT_EQ(cq::ModuleTypeKey<Block>::get(), "eager_test::BlockImpl");
  auto seq = torch::nn::Sequential(cnn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3)),
                                   cnn::ConvTranspose2d(4, 2, 3), torch::nn::Flatten(),
                                   cnn::Linear(2 * 6 * 6, 8), Block());
  cq::ModuleQuantizerConfig w4;
  w4.op_input_spec.clear();
  w4.op_output_spec.clear();
  w4.op_state_spec = {
      {"weight", cq::QuantizationSpec(coreai_opt::DType::kInt4, cq::PerChannelGranularity())}};
  QuantizerConfig cfg;  // W8A8; the mode follows the model
  cfg.set_module_type<cnn::Linear>(w4);
  cfg.set_module_type<torch::nn::Conv2d>(std::nullopt);
  cfg.set_module_type<Block>(std::nullopt);
  Quantizer q(seq.ptr(), cfg);
  const at::Tensor x = torch::randn({1, 2, 6, 6});
  q.prepare([&] { seq->forward(torch::randn({1, 2, 6, 6})); });
  auto plan = q.plan();
  std::vector<std::string> got;
  for (const auto& p : plan.points)
    got.push_back(p.module + " " + std::string(cq::to_string(p.kind)) + " " + p.rule);
  EXPECT_EQ(got,
            (std::vector<std::string>{
                "1 op_state global_config > op_*_spec",
                "3 op_state module_type_configs[\"torch.nn.modules.linear.Linear\"] > op_*_spec",
                "1 op_input global_config > op_*_spec", "1 op_output global_config > op_*_spec",
                // The Conv2d declined by its type key is listed as declined.
                "0 op_state module_type_configs[\"torch.nn.modules.conv.Conv2d\"] > op_*_spec",
                "0 op_input module_type_configs[\"torch.nn.modules.conv.Conv2d\"] > op_*_spec",
                "0 op_output module_type_configs[\"torch.nn.modules.conv.Conv2d\"] > op_*_spec"}));
  EXPECT_EQ(plan.points[1].spec->dtype, coreai_opt::DType::kInt4);
  EXPECT_TRUE(plan.points[4].declined());
  auto* lin = seq[3]->as<cnn::LinearImpl>();
  EXPECT_TRUE(lin->input_quantizer().is_empty());
  auto* ct = seq[1]->as<cnn::ConvTranspose2dImpl>();
  EXPECT_FALSE(ct->output_quantizer().is_empty());
  torch::NoGradGuard g;
  const at::Tensor y = seq->forward(x);  // Sequential calls the drop-ins' forward
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 4}));
}

}  // namespace eager_test
