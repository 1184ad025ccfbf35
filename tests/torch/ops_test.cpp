// The LibTorch layer: differential tests against ATen in the same binary, autograd (STE),
// out= variants, bf16/fp16, observers, MXFP4, TorchScript access, and two real threads.
#include "coreai_opt/torch/ops.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "coreai_opt/format/fp4.h"
#include "coreai_opt/kernels/blockwise.h"

namespace coreai_opt {
namespace {

using at::Tensor;
namespace k = kernels;

// Bitwise equality of two float tensors, NaN equal to NaN.
::testing::AssertionResult same_values(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = a_in.contiguous().to(at::kFloat), b = b_in.contiguous().to(at::kFloat);
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  const Tensor ia = a.view(at::kInt), ib = b.view(at::kInt);
  const Tensor differ = (ia != ib) & ~(a.isnan() & b.isnan());
  const int64_t n = differ.sum().item<int64_t>();
  if (n == 0) return ::testing::AssertionSuccess();
  const int64_t i = differ.flatten().nonzero()[0].item<int64_t>();
  return ::testing::AssertionFailure()
         << n << " elements differ, first at " << i << ": " << a.flatten()[i].item<float>()
         << " vs " << b.flatten()[i].item<float>();
}

std::vector<int64_t> vec(at::IntArrayRef r) { return r.vec(); }

// Input with exact ties: with power-of-two scales x / s and x * (1 / s) agree, which is
// the only case where ATen's multiply-by-reciprocal matches the reference's division.
std::vector<std::string>& ran_ops() {
  static std::vector<std::string> names;
  return names;
}

Tensor tie_heavy_input(at::IntArrayRef shape, float scale) {
  torch::manual_seed(0);
  Tensor x = torch::randn(shape) * 40.0f * scale;
  Tensor ties = (torch::randint(-300, 300, shape).to(at::kFloat) + 0.5f) * scale;
  return torch::where(torch::rand(shape) < 0.3, ties, x);
}

TEST(TorchOps, Int8PerTensorEqualsAtenForwardAndGradient) {
  const float s = 0.03125f;  // 2^-5
  for (auto [qmin, qmax, zp] :
       {std::tuple<int, int, int>{-128, 127, 0}, {0, 255, 128}, {-8, 7, 3}, {0, 15, 8}}) {
    Tensor x = tie_heavy_input({64, 100}, s).requires_grad_(true);
    Tensor xa = x.detach().clone().requires_grad_(true);
    const auto dtype = qmin < 0 ? (qmax == 127 ? DType::kInt8 : DType::kInt4)
                                : (qmax == 255 ? DType::kUInt8 : DType::kUInt4);
    Tensor y = ops::fake_quantize(x, torch::full({1, 1}, s), torch::full({1, 1}, zp, at::kInt),
                                  std::nullopt, vec(x.sizes()), dtype, qmin, qmax);
    Tensor ya = at::fake_quantize_per_tensor_affine(xa, s, zp, qmin, qmax);
    ASSERT_TRUE(same_values(ya, y)) << qmin << ".." << qmax;
    const Tensor g = torch::randn(x.sizes());
    y.backward(g);
    ya.backward(g);
    ASSERT_TRUE(same_values(xa.grad(), x.grad()));
    EXPECT_GT((x.grad() == 0).sum().item<int64_t>(), 0) << "some elements must clip";
  }
}

// Without anything to differentiate the autograd kernel goes straight to the
// kernel without the in-range mask; with a differentiable input it computes the mask.
TEST(TorchOps, FakeQuantizeSkipsTheMaskWhenNothingIsDifferentiated) {
  std::vector<std::string> ran;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback([](const at::RecordFunction& fn)
                                     -> std::unique_ptr<at::ObserverContext> {
        const std::string name = fn.name();
        if (name.rfind("coreai_opt::", 0) == 0) ran_ops().push_back(name);
        return nullptr;
      }).scopes({at::RecordScope::FUNCTION}));
  const Tensor x = tie_heavy_input({16, 40}, 0.03125f);
  const Tensor scale = torch::full({1, 1}, 0.03125f);
  auto run = [&](const Tensor& in) {
    ran_ops().clear();
    Tensor y = ops::fake_quantize(in, scale, std::nullopt, std::nullopt, vec(in.sizes()),
                                  DType::kInt8, -128, 127);
    ran = ran_ops();
    return y;
  };
  auto mask_kernel_ran = [&] {
    return std::count(ran.begin(), ran.end(), "coreai_opt::fake_quantize_with_mask");
  };
  const Tensor plain = run(x);
  EXPECT_EQ(ran.front(), "coreai_opt::fake_quantize");
  EXPECT_EQ(mask_kernel_ran(), 0);
  Tensor no_grad;
  {
    at::NoGradGuard guard;
    no_grad = run(x.clone().requires_grad_(true));
  }
  EXPECT_EQ(mask_kernel_ran(), 0);
  EXPECT_FALSE(no_grad.requires_grad());
  const Tensor with_grad = run(x.clone().requires_grad_(true));
  EXPECT_EQ(mask_kernel_ran(), 1);
  EXPECT_TRUE(with_grad.requires_grad());
  EXPECT_TRUE(same_values(plain, no_grad));
  EXPECT_TRUE(same_values(plain, with_grad.detach()));
  at::removeCallback(handle);
}

TEST(TorchOps, Int8PerChannelEqualsAtenForwardAndGradient) {
  for (int64_t axis : {0, 1, 2}) {
    const std::vector<int64_t> shape = {6, 10, 34};
    Tensor x = tie_heavy_input(shape, 0.25f).requires_grad_(true);
    Tensor xa = x.detach().clone().requires_grad_(true);
    const int64_t c = shape[static_cast<std::size_t>(axis)];
    Tensor scales = torch::pow(2.0, torch::randint(-6, 0, {c}).to(at::kFloat)).to(at::kFloat);
    Tensor zps = torch::randint(-10, 10, {c}, at::kInt);
    auto block = k::per_channel_block_size(shape, axis);
    auto pshape = k::param_shape(shape, block);
    Tensor y = ops::fake_quantize(x, scales.view(pshape), zps.view(pshape), std::nullopt, block,
                                  DType::kInt8, -128, 127);
    Tensor ya = at::fake_quantize_per_channel_affine(xa, scales, zps, axis, -128, 127);
    ASSERT_TRUE(same_values(ya, y)) << "axis " << axis;
    const Tensor g = torch::randn(x.sizes());
    y.backward(g);
    ya.backward(g);
    ASSERT_TRUE(same_values(xa.grad(), x.grad())) << "axis " << axis;
  }
}

TEST(TorchOps, Fp8EncodeEqualsTorchCastAfterClamping) {
  torch::manual_seed(1);
  for (auto [dtype, st, mx] :
       {std::tuple<DType, at::ScalarType, float>{DType::kFloat8E4M3FN, at::kFloat8_e4m3fn, 448.0f},
        {DType::kFloat8E5M2, at::kFloat8_e5m2, 57344.0f}}) {
    // Every exponent of the format's range, subnormals, values past saturation, NaN.
    Tensor x =
        torch::randn({4096}) * torch::pow(2.0, torch::randint(-20, 18, {4096})).to(at::kFloat);
    x[0] = std::numeric_limits<float>::quiet_NaN();
    x[1] = -std::numeric_limits<float>::infinity();
    x[2] = 1e30f;
    x[3] = -0.0f;
    const float s = 0.75f;  // x / s is a division in both implementations
    Tensor codes = ops::quantize(x, torch::full({1}, s), std::nullopt, std::nullopt, {4096}, dtype);
    ASSERT_EQ(codes.scalar_type(), st);
    Tensor expected = x.div(s).clamp(-mx, mx).to(st);
    ASSERT_TRUE(torch::equal(codes.view(at::kByte), expected.view(at::kByte))) << dtype_name(dtype);
    // Dequantize matches torch's decode times the scale.
    Tensor back =
        ops::dequantize(codes, torch::full({1}, s), std::nullopt, std::nullopt, {4096}, dtype);
    ASSERT_TRUE(same_values(expected.to(at::kFloat) * s, back));
  }
}

TEST(TorchOps, Fp4PackingIsTorchFloat4x2LowNibbleFirst) {
  // PyTorch 2.11 has the float4_e2m1fn_x2 dtype but no cast into it; the bytes it would
  // carry are element 2i in the low nibble, which is what our packed output holds.
  Tensor x = torch::tensor({1.0f, -6.0f, 0.5f, 3.0f, 0.75f, -1.75f});
  Tensor codes = ops::quantize(x.view({1, 6}), torch::ones({1, 1}), std::nullopt, std::nullopt,
                               {1, 6}, DType::kFloat4E2M1FNx2, 0, 0, /*packed=*/true);
  ASSERT_EQ(codes.scalar_type(), at::kFloat4_e2m1fn_x2);
  ASSERT_EQ(vec(codes.sizes()), (std::vector<int64_t>{1, 3}));
  Tensor bytes = codes.view(at::kByte).flatten();
  // 1.0 -> 0x2, -6 -> 0xF; 0.5 -> 0x1, 3 -> 0x5; 0.75 -> 1.0 (tie to even) 0x2, -1.75 -> -2 0xC.
  EXPECT_EQ(bytes[0].item<int>(), 0xF2);
  EXPECT_EQ(bytes[1].item<int>(), 0x51);
  EXPECT_EQ(bytes[2].item<int>(), 0xC2);
}

TEST(TorchOps, OutVariantsWriteIntoTheCallersBuffer) {
  Tensor x = torch::randn({33, 64});
  const auto block = k::per_block_block_size({33, 64}, 32, 1);
  Tensor s = torch::rand({33, 2}) + 0.1f;
  Tensor zp = torch::zeros({33, 2}, at::kInt);
  Tensor out = torch::empty_like(x);
  void* before = out.data_ptr();
  ops::fake_quantize_out(x, s, zp, std::nullopt, block, DType::kInt4, -8, 7, out);
  EXPECT_EQ(out.data_ptr(), before);
  ASSERT_TRUE(
      same_values(ops::fake_quantize(x, s, zp, std::nullopt, block, DType::kInt4, -8, 7), out));
  Tensor codes = torch::empty({33, 32}, at::kByte);
  ops::quantize_out(x, s, zp, std::nullopt, block, DType::kInt4, -8, 7, true, codes);
  Tensor y = torch::empty_like(x);
  ops::dequantize_out(codes, s, zp, std::nullopt, block, DType::kInt4, -8, 7, true, y);
  ASSERT_TRUE(same_values(out, y));  // fake-quantize == dequantize(quantize)
}

TEST(TorchOps, HalfPrecisionInputsQuantizeInFloat32) {
  Tensor x32 = torch::randn({8, 64}) * 3;
  for (auto st : {at::kBFloat16, at::kHalf}) {
    Tensor x = x32.to(st);
    Tensor s = torch::full({8, 1}, 0.05f);
    const auto block = k::per_channel_block_size({8, 64}, 0);
    Tensor y = ops::fake_quantize(x, s, std::nullopt, std::nullopt, block, DType::kInt8, -128, 127);
    ASSERT_EQ(y.scalar_type(), st);
    Tensor expected = ops::fake_quantize(x.to(at::kFloat), s, std::nullopt, std::nullopt, block,
                                         DType::kInt8, -128, 127)
                          .to(st);
    ASSERT_TRUE(same_values(expected, y));
  }
}

TEST(TorchOps, ObserverAndQParamsWorkedNumbers) {
  // int8 asymmetric over [-1, 0, 7] (reference §2.9): scale 8/255, zp -96, minval -1.
  Tensor x = torch::tensor({-1.0f, 0.0f, 7.0f});
  Tensor rmin = torch::zeros({1}), rmax = torch::zeros({1});
  Tensor init = torch::zeros({}, at::kBool);
  ops::observe_(x, rmin, rmax, init, {3}, k::RangeCalculator::kMovingAverage);
  EXPECT_TRUE(init.item<bool>());
  EXPECT_EQ(rmin.item<float>(), -1.0f);
  EXPECT_EQ(rmax.item<float>(), 7.0f);
  auto [scale, zp, minval] = ops::choose_qparams(
      rmin, rmax, {DType::kInt8, QuantizationScheme::kAsymmetric, QuantizationFormulation::kZp});
  EXPECT_EQ(scale.item<float>(), 8.0f / 255.0f);
  EXPECT_EQ(zp.item<int>(), -96);
  EXPECT_EQ(minval.item<float>(), -1.0f);
  // A second batch moves a moving average by 1 %; global min-max takes the union.
  ops::observe_(torch::tensor({-101.0f, 0.0f, 7.0f}), rmin, rmax, init, {3},
                k::RangeCalculator::kMovingAverage);
  EXPECT_NEAR(rmin.item<float>(), -2.0f, 1e-6);
  ops::observe_(torch::tensor({-101.0f, 0.0f, 9.0f}), rmin, rmax, init, {3},
                k::RangeCalculator::kGlobalMinMax);
  EXPECT_EQ(rmin.item<float>(), -101.0f);
  EXPECT_EQ(rmax.item<float>(), 9.0f);
  // float_range overrides the observation.
  Tensor fresh = torch::zeros({}, at::kBool);
  ops::observe_(x, rmin, rmax, fresh, {3}, k::RangeCalculator::kStatic, 0.01, -4.0, 4.0);
  EXPECT_EQ(rmin.item<float>(), -4.0f);
  EXPECT_EQ(rmax.item<float>(), 4.0f);
  // fp4 uses E8M0: [-3, 0, 3] -> 0.5.
  auto [s4, z4, m4] = ops::choose_qparams(torch::tensor({-3.0f}), torch::tensor({3.0f}),
                                          {DType::kFloat4E2M1FNx2, QuantizationScheme::kSymmetric,
                                           QuantizationFormulation::kZp, k::ScaleKind::kE8M0});
  EXPECT_EQ(s4.item<float>(), 0.5f);
}

TEST(TorchOps, BlockMinMaxEqualsAten) {
  Tensor x = torch::randn({16, 128});
  auto [mn, mx] = ops::block_minmax(x, k::per_block_block_size({16, 128}, 32, 1));
  ASSERT_TRUE(same_values(std::get<0>(x.view({16, 4, 32}).min(2)), mn));
  ASSERT_TRUE(same_values(std::get<0>(x.view({16, 4, 32}).max(2)), mx));
  x[3][70] = std::numeric_limits<float>::quiet_NaN();
  std::tie(mn, mx) = ops::block_minmax(x, k::per_tensor_block_size({16, 128}));
  EXPECT_TRUE(std::isnan(mn.item<float>()));
}

TEST(TorchOps, Mxfp4WorkedNumbersAndRoundTrip) {
  Tensor x = torch::zeros({32});
  const float head[] = {1,   2,   0,   4,   5,   10,    20,   -30,  40,    50,
                        100, 200, 300, 400, 500, -0.1f, 0.2f, 0.3f, -0.4f, 0.5f};
  for (int i = 0; i < 20; ++i) x[i] = head[i];
  auto [packed, scales] = ops::mxfp4_quantize(x.view({1, 32}));
  EXPECT_EQ(packed.scalar_type(), at::kFloat4_e2m1fn_x2);
  EXPECT_EQ(scales.scalar_type(), at::kFloat8_e8m0fnu);
  EXPECT_EQ(scales.view(at::kByte).item<int>(), 127 + 6);  // scale 64
  Tensor y = ops::mxfp4_dequantize(packed, scales);
  const float expected[] = {0, 0, 0, 0, 0, 0, 32, -32, 32, 64, 96, 192, 256, 384, 384};
  for (int i = 0; i < 15; ++i) EXPECT_EQ(y[0][i].item<float>(), expected[i]) << i;
  // torch's own e8m0 decode agrees with the scale code.
  EXPECT_EQ(scales.to(at::kFloat).item<float>(), 64.0f);
}

// Resolves `coreai_opt.<op>` to the registered operator coreai_opt::<op>, the symbol a
// scripted graph or a saved TorchScript model refers to.
struct OpsResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name,
                                                         torch::jit::GraphFunction&,
                                                         const torch::jit::SourceRange&) override {
    if (name == "torch") return std::make_shared<torch::jit::BuiltinModule>("aten");
    if (name == "coreai_opt") return std::make_shared<torch::jit::BuiltinModule>("coreai_opt");
    return nullptr;
  }
  c10::TypePtr resolveType(const std::string&, const torch::jit::SourceRange&) override {
    return nullptr;
  }
};

TEST(TorchOps, RegisteredForTorchScript) {
  torch::jit::CompilationUnit cu;
  cu.define(std::nullopt, R"JIT(
def fq(x, s):
    return coreai_opt.fake_quantize(x, s, None, None, [2, 4], "int8", -128, 127)
)JIT",
            std::make_shared<OpsResolver>(), nullptr);
  const std::string graph = torch::jit::toGraphFunction(cu.get_function("fq")).graph()->toString();
  EXPECT_NE(graph.find("coreai_opt::fake_quantize"), std::string::npos) << graph;
  Tensor x = torch::tensor({{0.1f, 0.26f, -3.0f, 100.0f}, {1.0f, 2.0f, 3.0f, 4.0f}});
  Tensor y = cu.get_function("fq")({x, torch::full({1, 1}, 0.5f)}).toTensor();
  ASSERT_TRUE(same_values(at::fake_quantize_per_tensor_affine(x, 0.5, 0, -128, 127), y));
}

TEST(TorchOps, TwoThreadsRunAndAgreeWithOne) {
  at::set_num_threads(2);
  ASSERT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(ops::parallel_threads_used(64), 2) << "at::parallel_for ran serially: OpenMP missing";
  Tensor x = torch::randn({1 << 20});
  Tensor s = torch::rand({(1 << 20) / 32}) + 0.01f;
  const auto block = std::vector<int64_t>{32};
  Tensor y2 = ops::fake_quantize(x, s, std::nullopt, std::nullopt, block, DType::kInt4, -8, 7);
  auto [mn2, mx2] = ops::block_minmax(x, {1 << 20});
  at::set_num_threads(1);
  Tensor y1 = ops::fake_quantize(x, s, std::nullopt, std::nullopt, block, DType::kInt4, -8, 7);
  auto [mn1, mx1] = ops::block_minmax(x, {1 << 20});
  ASSERT_TRUE(same_values(y1, y2));
  ASSERT_TRUE(same_values(mn1, mn2));
  ASSERT_TRUE(same_values(mx1, mx2));
}

TEST(TorchOps, ErrorsAreTorchChecks) {
  Tensor x = torch::randn({10, 20});
  EXPECT_THROW(ops::fake_quantize(x, torch::ones({1}), std::nullopt, std::nullopt, {10, 3},
                                  DType::kInt8, -128, 127),
               c10::Error);  // 3 does not divide 20
  EXPECT_THROW(ops::fake_quantize(x, torch::ones({2}), std::nullopt, std::nullopt, {10, 20},
                                  DType::kInt8, -128, 127),
               c10::Error);  // wrong number of scales
  EXPECT_THROW(ops::quantize(x, torch::ones({1}), std::nullopt, std::nullopt, {10, 20},
                             DType::kInt8, -128, 127, /*packed=*/true),
               c10::Error);  // int8 does not pack
}

}  // namespace
}  // namespace coreai_opt
