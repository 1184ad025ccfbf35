// The coreai_opt ops on CUDA tensors: every op equals the same op on CPU tensors bit for
// bit (float32 / bfloat16 / float16 inputs, every granularity, packed int4 / fp4, MXFP4,
// NaN and infinities), fake_quantize's gradient, the shared fake-quant point on a module
// moved to CUDA, and a TorchScript graph on CUDA inputs. Without a GPU only the
// registration check runs; every other test skips with a message.
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/cuda/CUDAFunctions.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/qparams.h"
#include "coreai_opt/quantization/spec.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/ops.h"

namespace coreai_opt {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;
namespace k = kernels;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Tests that need a device skip without one.
class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device is present (torch::cuda::is_available() is false)";
    }
  }
};

Tensor cuda(const Tensor& t) { return t.to(torch::Device(torch::kCUDA)); }
OptTensor cuda(const OptTensor& t) { return t ? OptTensor(cuda(*t)) : std::nullopt; }

// Bitwise equality of two float tensors (any devices, any float dtypes of the same kind),
// NaN equal to NaN: the sign of zero counts.
::testing::AssertionResult same_values(const Tensor& a_in, const Tensor& b_in) {
  if (a_in.scalar_type() != b_in.scalar_type()) {
    return ::testing::AssertionFailure()
           << "dtypes differ: " << a_in.scalar_type() << " vs " << b_in.scalar_type();
  }
  const Tensor a = a_in.cpu().contiguous().to(at::kFloat);
  const Tensor b = b_in.cpu().contiguous().to(at::kFloat);
  if (a.sizes() != b.sizes()) {
    return ::testing::AssertionFailure() << "shapes differ: " << a.sizes() << " vs " << b.sizes();
  }
  const Tensor differ = (a.view(at::kInt) != b.view(at::kInt)) & ~(a.isnan() & b.isnan());
  const int64_t n = differ.sum().item<int64_t>();
  if (n == 0) return ::testing::AssertionSuccess();
  const int64_t i = differ.flatten().nonzero()[0].item<int64_t>();
  return ::testing::AssertionFailure()
         << n << " of " << a.numel() << " elements differ, first at " << i << ": "
         << a.flatten()[i].item<float>() << " vs " << b.flatten()[i].item<float>();
}

// Byte equality of two code tensors of the same dtype and shape.
::testing::AssertionResult same_bytes(const Tensor& a_in, const Tensor& b_in) {
  if (a_in.scalar_type() != b_in.scalar_type() || a_in.sizes() != b_in.sizes()) {
    return ::testing::AssertionFailure() << a_in.scalar_type() << " " << a_in.sizes() << " vs "
                                         << b_in.scalar_type() << " " << b_in.sizes();
  }
  const Tensor a = a_in.cpu().contiguous().view(at::kByte);
  const Tensor b = b_in.cpu().contiguous().view(at::kByte);
  const Tensor differ = a != b;
  const int64_t n = differ.sum().item<int64_t>();
  if (n == 0) return ::testing::AssertionSuccess();
  const int64_t i = differ.flatten().nonzero()[0].item<int64_t>();
  return ::testing::AssertionFailure()
         << n << " of " << a.numel() << " bytes differ, first at " << i << ": "
         << a.flatten()[i].item<int>() << " vs " << b.flatten()[i].item<int>();
}

// Random values over many magnitudes plus NaN, +-Inf, -0, a huge value and exact zeros.
Tensor make_input(const std::vector<int64_t>& shape, at::ScalarType st, uint64_t seed) {
  torch::manual_seed(seed);
  Tensor x = torch::randn(shape) * torch::pow(2.0, torch::randint(-4, 4, shape)).to(at::kFloat);
  Tensor flat = x.view({-1});
  const int64_t n = flat.numel();
  const float specials[] = {kNaN, kInf, -kInf, -0.0f, 1e30f, 0.0f, -1e-30f};
  for (int64_t j = 0; j < 7 && j * 7 + 3 < n; ++j) flat[j * 7 + 3] = specials[j];
  return x.to(st);
}

int64_t smallest_divisor(int64_t n) {
  for (int64_t d = 2; d <= n; ++d) {
    if (n % d == 0) return d;
  }
  return n;
}

// Every granularity kind: per-tensor, per-channel (first and last axis), per-block along
// axis 1, and a multi-axis block list.
std::vector<std::pair<std::string, std::vector<int64_t>>> granularities(
    const std::vector<int64_t>& shape) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  out.emplace_back("per_tensor", k::per_tensor_block_size(shape));
  out.emplace_back("per_channel_0", k::per_channel_block_size(shape, 0));
  out.emplace_back("per_channel_last", k::per_channel_block_size(shape, -1));
  out.emplace_back("per_block_axis1",
                   k::per_block_block_size(shape, smallest_divisor(shape[1]), 1));
  std::vector<int64_t> list;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    list.push_back(d % 2 == 0 || d + 1 == shape.size() ? smallest_divisor(shape[d]) : -1);
  }
  out.emplace_back("block_list", k::per_block_block_size(shape, list));
  return out;
}

// Last dimensions are even so that every case can be packed.
const std::vector<std::vector<int64_t>> kShapes = {{37, 50}, {4, 6, 34}, {3, 5, 8, 12}, {96, 1040}};

enum class Form { kNone, kZp, kMinval };

struct QCase {
  DType dtype;
  int64_t quant_min, quant_max;
  Form form;
  float scale_lo, scale_hi;  // scales are drawn from [lo, hi)
};

std::string case_name(const QCase& c, at::ScalarType st) {
  const char* form = c.form == Form::kZp ? "_zp" : c.form == Form::kMinval ? "_minval" : "";
  const char* sts = st == at::kFloat ? "f32" : st == at::kBFloat16 ? "bf16" : "f16";
  return std::string(dtype_name(c.dtype)) + form + "_" + sts;
}

const QCase kCases[] = {
    {DType::kInt8, -128, 127, Form::kZp, 0.005f, 0.05f},
    {DType::kInt8, -127, 127, Form::kNone, 0.005f, 0.05f},
    {DType::kUInt8, 0, 255, Form::kZp, 0.005f, 0.05f},
    {DType::kUInt8, 0, 255, Form::kMinval, 0.005f, 0.05f},
    {DType::kInt4, -8, 7, Form::kZp, 0.1f, 0.9f},
    {DType::kUInt4, 0, 15, Form::kMinval, 0.1f, 0.9f},
    {DType::kInt2, -2, 1, Form::kNone, 0.3f, 1.5f},
    {DType::kUInt2, 0, 3, Form::kZp, 0.3f, 1.5f},
    {DType::kFloat8E4M3FN, 0, 0, Form::kNone, 0.001f, 0.02f},
    {DType::kFloat8E5M2, 0, 0, Form::kNone, 0.0001f, 0.01f},
    {DType::kFloat4E2M1FNx2, 0, 0, Form::kNone, 0.2f, 1.0f},
};

struct Params {
  Tensor scale;
  OptTensor zero_point, minval;
};

Params make_params(const QCase& c, const std::vector<int64_t>& pshape) {
  Params p;
  p.scale = torch::rand(pshape) * (c.scale_hi - c.scale_lo) + c.scale_lo;
  if (c.form == Form::kZp) {
    const int64_t mid = (c.quant_min + c.quant_max) / 2;
    const int64_t spread = std::max<int64_t>(1, (c.quant_max - c.quant_min) / 8);
    p.zero_point = torch::randint(mid - spread, mid + spread + 1, pshape, at::kInt);
  } else if (c.form == Form::kMinval) {
    p.minval = -torch::rand(pshape) * 2.0f;
  }
  return p;
}

bool packable(DType d) { return d == DType::kInt4 || d == DType::kUInt4; }

class CudaQuantOps : public ::testing::TestWithParam<std::tuple<QCase, at::ScalarType>> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device is present (torch::cuda::is_available() is false)";
    }
  }
};

TEST_P(CudaQuantOps, FakeQuantizeQuantizeDequantizeEqualCpu) {
  const auto [c, st] = GetParam();
  uint64_t seed = 1;
  for (const auto& shape : kShapes) {
    for (const auto& [gname, block] : granularities(shape)) {
      SCOPED_TRACE(c10::str(gname, " ", at::IntArrayRef(shape)));
      const Tensor x = make_input(shape, st, seed++);
      const Params p = make_params(c, k::param_shape(shape, block));
      const Tensor xg = cuda(x), sg = cuda(p.scale);
      const OptTensor zg = cuda(p.zero_point), mg = cuda(p.minval);

      // fake_quantize (+ mask), the plain op and .out into a strided buffer.
      auto [yc, maskc] = ops::fake_quantize_with_mask(x, p.scale, p.zero_point, p.minval, block,
                                                      c.dtype, c.quant_min, c.quant_max);
      auto [yg, maskg] =
          ops::fake_quantize_with_mask(xg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max);
      ASSERT_TRUE(yg.is_cuda() && maskg.is_cuda());
      ASSERT_EQ(maskg.scalar_type(), at::kBool);
      ASSERT_TRUE(same_values(yc, yg));
      ASSERT_TRUE(torch::equal(maskc, maskg.cpu()));
      ASSERT_TRUE(same_values(
          yc, ops::fake_quantize(xg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max)));
      Tensor strided =
          torch::empty({shape.back(), x.numel() / shape.back()}, xg.options()).t().view(x.sizes());
      ASSERT_FALSE(strided.is_contiguous());
      ops::fake_quantize_out(xg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max, strided);
      ASSERT_TRUE(same_values(yc, strided));

      // quantize / dequantize, packed where the format packs.
      std::vector<bool> packings = {c.dtype == DType::kFloat4E2M1FNx2};
      if (packable(c.dtype)) packings.push_back(true);
      for (const bool packed : packings) {
        SCOPED_TRACE(packed ? "packed" : "unpacked");
        const Tensor cc = ops::quantize(x, p.scale, p.zero_point, p.minval, block, c.dtype,
                                        c.quant_min, c.quant_max, packed);
        const Tensor cg =
            ops::quantize(xg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max, packed);
        ASSERT_TRUE(cg.is_cuda());
        ASSERT_TRUE(same_bytes(cc, cg));
        Tensor cg_out = torch::empty_like(cg);
        ops::quantize_out(xg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max, packed, cg_out);
        ASSERT_TRUE(same_bytes(cc, cg_out));
        for (const auto od : {at::kFloat, at::kBFloat16, at::kHalf}) {
          SCOPED_TRACE(c10::toString(od));
          const Tensor dc = ops::dequantize(cc, p.scale, p.zero_point, p.minval, block, c.dtype,
                                            c.quant_min, c.quant_max, packed, od);
          const Tensor dg =
              ops::dequantize(cg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max, packed, od);
          ASSERT_TRUE(dg.is_cuda());
          ASSERT_TRUE(same_values(dc, dg));
          Tensor dg_out =
              torch::empty({shape.back(), x.numel() / shape.back()}, xg.options().dtype(od))
                  .t()
                  .view(x.sizes());
          ops::dequantize_out(cg, sg, zg, mg, block, c.dtype, c.quant_min, c.quant_max, packed,
                              dg_out);
          ASSERT_TRUE(same_values(dc, dg_out));
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CudaQuantOps,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(at::kFloat, at::kBFloat16,
                                                              at::kHalf)),
                         [](const ::testing::TestParamInfo<CudaQuantOps::ParamType>& tp) {
                           return case_name(std::get<0>(tp.param), std::get<1>(tp.param));
                         });

// ---------------------------------------------------------------- registration

TEST(CudaOpsRegistration, EveryOpHasACpuAndACudaKernel) {
  // Runs without a GPU: the registration is what routes CUDA tensors at all.
  const std::pair<const char*, const char*> ops_list[] = {
      {"coreai_opt::fake_quantize", ""},
      {"coreai_opt::fake_quantize", "out"},
      {"coreai_opt::fake_quantize_with_mask", ""},
      {"coreai_opt::quantize", ""},
      {"coreai_opt::quantize", "out"},
      {"coreai_opt::dequantize", ""},
      {"coreai_opt::dequantize", "out"},
      {"coreai_opt::mxfp4_quantize", ""},
      {"coreai_opt::mxfp4_quantize", "out"},
      {"coreai_opt::mxfp4_dequantize", ""},
      {"coreai_opt::block_minmax", ""},
      {"coreai_opt::observe_", ""},
      {"coreai_opt::choose_qparams", ""}};
  for (const auto& [name, overload] : ops_list) {
    const auto op = c10::Dispatcher::singleton().findSchema({name, overload});
    ASSERT_TRUE(op.has_value()) << name << "." << overload;
    EXPECT_TRUE(op->hasKernelForDispatchKey(c10::DispatchKey::CPU)) << name << "." << overload;
    EXPECT_TRUE(op->hasKernelForDispatchKey(c10::DispatchKey::CUDA)) << name << "." << overload;
  }
}

// ------------------------------------------------------------------------ MXFP4

TEST_F(CudaOps, Mxfp4EqualsCpu) {
  uint64_t seed = 100;
  for (const auto& [shape, block] : std::vector<std::pair<std::vector<int64_t>, int64_t>>{
           {{6, 64}, 32}, {{5, 4, 96}, 32}, {{3, 96}, 6}, {{7, 10}, 2}, {{64, 4096}, 32}}) {
    for (const auto st : {at::kFloat, at::kBFloat16, at::kHalf}) {
      SCOPED_TRACE(c10::str(at::IntArrayRef(shape), " block ", block, " ", st));
      Tensor x = make_input(shape, st, seed++);
      x.view({-1}).narrow(0, 0, block).zero_();  // an all-zero block
      const Tensor xg = cuda(x);
      auto [pc, sc] = ops::mxfp4_quantize(x, block);
      auto [pg, sg] = ops::mxfp4_quantize(xg, block);
      ASSERT_TRUE(pg.is_cuda() && sg.is_cuda());
      ASSERT_TRUE(same_bytes(pc, pg));
      ASSERT_TRUE(same_bytes(sc, sg));
      Tensor pg_out = torch::empty_like(pg), sg_out = torch::empty_like(sg);
      ops::mxfp4_quantize_out(xg, block, pg_out, sg_out);
      ASSERT_TRUE(same_bytes(pc, pg_out));
      ASSERT_TRUE(same_bytes(sc, sg_out));
      for (const auto od : {at::kFloat, at::kBFloat16, at::kHalf, at::kDouble}) {
        const Tensor dc = ops::mxfp4_dequantize(pc, sc, block, od);
        const Tensor dg = ops::mxfp4_dequantize(pg, sg, block, od);
        ASSERT_TRUE(dg.is_cuda());
        ASSERT_EQ(dg.scalar_type(), od);
        ASSERT_TRUE(same_values(dc.to(at::kFloat), dg.to(at::kFloat))) << od;
      }
    }
  }
}

// --------------------------------------------------------- min/max and observers

TEST_F(CudaOps, BlockMinMaxEqualsCpuWithNaNAndSignedZeros) {
  uint64_t seed = 200;
  for (const auto& shape : kShapes) {
    for (const auto st : {at::kFloat, at::kBFloat16, at::kHalf}) {
      for (const auto& [gname, block] : granularities(shape)) {
        SCOPED_TRACE(c10::str(gname, " ", at::IntArrayRef(shape), " ", st));
        Tensor x = make_input(shape, st, seed++);
        // A row of -0 and +0 only: its min and max are +0, as in the reference.
        x.view({-1}).narrow(0, x.numel() - shape.back(), shape.back()).fill_(-0.0f);
        x.view({-1})[x.numel() - 1] = 0.0f;
        auto [mc, xc] = ops::block_minmax(x, block);
        auto [mg, xgmax] = ops::block_minmax(cuda(x), block);
        ASSERT_TRUE(mg.is_cuda());
        ASSERT_TRUE(same_values(mc, mg));
        ASSERT_TRUE(same_values(xc, xgmax));
        EXPECT_TRUE(mg.isnan().any().item<bool>()) << "the NaN input must reach some block";
      }
    }
  }
}

TEST_F(CudaOps, ObserveAndChooseQParamsEqualCpuAndStayOnTheDevice) {
  const std::vector<int64_t> shape = {24, 128};
  for (const auto& [gname, block] : granularities(shape)) {
    for (const auto calc : {k::RangeCalculator::kStatic, k::RangeCalculator::kMovingAverage,
                            k::RangeCalculator::kGlobalMinMax}) {
      for (const auto st : {at::kFloat, at::kBFloat16}) {
        SCOPED_TRACE(c10::str(gname, " calculator ", static_cast<int>(calc), " ", st));
        const auto pshape = k::param_shape(shape, block);
        Tensor rmin_c = torch::zeros(pshape, st), rmax_c = torch::zeros(pshape, st);
        Tensor init_c = torch::zeros({}, at::kBool);
        Tensor rmin_g = cuda(rmin_c), rmax_g = cuda(rmax_c), init_g = cuda(init_c);
        for (int step = 0; step < 3; ++step) {
          torch::manual_seed(static_cast<uint64_t>(300 + step));
          const Tensor x = (torch::randn(shape) * (step + 1)).to(st);
          ops::observe_(x, rmin_c, rmax_c, init_c, block, calc, 0.25);
          ops::observe_(cuda(x), rmin_g, rmax_g, init_g, block, calc, 0.25);
        }
        // float_range overrides part of the observation.
        const Tensor x = torch::randn(shape).to(st);
        ops::observe_(x, rmin_c, rmax_c, init_c, block, calc, 0.25, -1.5, std::nullopt);
        ops::observe_(cuda(x), rmin_g, rmax_g, init_g, block, calc, 0.25, -1.5, std::nullopt);
        ASSERT_TRUE(rmin_g.is_cuda() && rmax_g.is_cuda() && init_g.is_cuda());
        ASSERT_TRUE(init_g.item<bool>());
        ASSERT_TRUE(same_values(rmin_c, rmin_g));
        ASSERT_TRUE(same_values(rmax_c, rmax_g));

        for (const k::QParamsConfig& qc :
             {k::QParamsConfig{DType::kInt8, QuantizationScheme::kSymmetric,
                               QuantizationFormulation::kZp},
              k::QParamsConfig{DType::kUInt8, QuantizationScheme::kAsymmetric,
                               QuantizationFormulation::kZp},
              k::QParamsConfig{DType::kInt4, QuantizationScheme::kAsymmetric,
                               QuantizationFormulation::kMinval},
              k::QParamsConfig{DType::kFloat8E4M3FN, QuantizationScheme::kSymmetric,
                               QuantizationFormulation::kZp},
              k::QParamsConfig{DType::kFloat4E2M1FNx2, QuantizationScheme::kSymmetric,
                               QuantizationFormulation::kZp, k::ScaleKind::kE8M0}}) {
          auto [sc, zc, mc] = ops::choose_qparams(rmin_c, rmax_c, qc);
          auto [sg, zg, mg] = ops::choose_qparams(rmin_g, rmax_g, qc);
          ASSERT_TRUE(sg.is_cuda() && zg.is_cuda() && mg.is_cuda());
          ASSERT_TRUE(same_values(sc, sg)) << dtype_name(qc.dtype);
          ASSERT_TRUE(torch::equal(zc, zg.cpu())) << dtype_name(qc.dtype);
          ASSERT_TRUE(same_values(mc, mg)) << dtype_name(qc.dtype);
        }
      }
    }
  }
}

// --------------------------------------------------------------------- autograd

TEST_F(CudaOps, FakeQuantizeGradientEqualsCpu) {
  const std::vector<int64_t> shape = {32, 96};
  struct G {
    DType dtype;
    std::vector<int64_t> block;
    int64_t qmin, qmax;
  };
  const G cases[] = {{DType::kInt8, k::per_channel_block_size(shape, 0), -128, 127},
                     {DType::kUInt4, k::per_block_block_size(shape, 32, 1), 0, 15},
                     {DType::kFloat8E4M3FN, k::per_tensor_block_size(shape), 0, 0},
                     {DType::kFloat4E2M1FNx2, k::per_block_block_size(shape, 32, 1), 0, 0}};
  for (const auto& c : cases) {
    for (const auto st : {at::kFloat, at::kBFloat16, at::kHalf}) {
      SCOPED_TRACE(c10::str(dtype_name(c.dtype), " ", st));
      const Tensor x0 = make_input(shape, st, 400);
      const auto pshape = k::param_shape(shape, c.block);
      const Tensor s = torch::rand(pshape) * 0.05f + (is_float(c.dtype) ? 0.1f : 0.01f);
      OptTensor zp;
      if (!is_float(c.dtype)) zp = torch::full(pshape, c.qmin == 0 ? 8 : 0, at::kInt);
      Tensor xc = x0.clone().requires_grad_(true);
      Tensor xg = cuda(x0).requires_grad_(true);
      Tensor yc = ops::fake_quantize(xc, s, zp, std::nullopt, c.block, c.dtype, c.qmin, c.qmax);
      Tensor yg =
          ops::fake_quantize(xg, cuda(s), cuda(zp), std::nullopt, c.block, c.dtype, c.qmin, c.qmax);
      ASSERT_TRUE(same_values(yc, yg));
      const Tensor g = torch::randn(shape).to(st);
      yc.backward(g);
      yg.backward(cuda(g));
      ASSERT_TRUE(xg.grad().is_cuda());
      ASSERT_TRUE(same_values(xc.grad(), xg.grad()));
      EXPECT_GT((xc.grad() == 0).sum().item<int64_t>(), 0) << "some elements must clip";
    }
  }
}

// ------------------------------------------------------- the shared fake-quant point

TEST_F(CudaOps, FakeQuantizeModuleMovedToCudaGivesTheCpuResult) {
  using quantization::FakeQuantize;
  using quantization::FakeQuantizeConfig;
  using quantization::QuantizationSpec;
  using quantization::TensorRole;
  QuantizationSpec asym(DType::kUInt8, quantization::PerTensorGranularity(),
                        QuantizationScheme::kAsymmetric);
  const std::pair<QuantizationSpec, TensorRole> specs[] = {
      {QuantizationSpec(DType::kInt8, quantization::PerChannelGranularity(0)), TensorRole::kWeight},
      {asym, TensorRole::kActivation},
      {QuantizationSpec(DType::kInt4, quantization::PerBlockGranularity(32, 1)),
       TensorRole::kWeight},
      {QuantizationSpec(DType::kFloat8E4M3FN), TensorRole::kActivation},
      {QuantizationSpec(DType::kFloat4E2M1FNx2, quantization::PerBlockGranularity(32, 1)),
       TensorRole::kWeight}};
  for (const auto& [spec, role] : specs) {
    for (const auto st : {at::kFloat, at::kBFloat16}) {
      SCOPED_TRACE(c10::str(dtype_name(spec.dtype), " ", st));
      const FakeQuantizeConfig config = FakeQuantizeConfig::make(spec, role, "t");
      FakeQuantize fq_cpu(config, "t");
      FakeQuantize fq_gpu(config, "t");
      fq_gpu->to(torch::Device(torch::kCUDA));
      for (int step = 0; step < 3; ++step) {
        torch::manual_seed(static_cast<uint64_t>(500 + step));
        const Tensor x = (torch::randn({16, 64}) * (step + 1)).to(st);
        Tensor xc = x.clone().requires_grad_(true);
        Tensor xg = cuda(x).requires_grad_(true);
        Tensor yc = fq_cpu->forward(xc);
        Tensor yg = fq_gpu->forward(xg);
        ASSERT_TRUE(yg.is_cuda());
        ASSERT_TRUE(same_values(yc, yg)) << "step " << step;
        yc.sum().backward();
        yg.sum().backward();
        ASSERT_TRUE(same_values(xc.grad(), xg.grad())) << "step " << step;
      }
      ASSERT_TRUE(fq_gpu->scale().is_cuda());
      ASSERT_TRUE(same_values(fq_cpu->scale(), fq_gpu->scale()));
      ASSERT_TRUE(torch::equal(fq_cpu->zero_point(), fq_gpu->zero_point().cpu()));
      ASSERT_TRUE(same_values(fq_cpu->minval(), fq_gpu->minval()));
    }
  }
}

// Observing on the device never waits for it: with torch's sync debug mode set to error, any
// host read of device memory (.item(), a copy to the CPU) would throw. The first forward
// after the move takes the flags back to host memory (one copy); the later ones, observer
// and fake quant on, run without a synchronisation, and give the CPU result.
TEST_F(CudaOps, FakeQuantizeObserverNeverSynchronises) {
  using quantization::FakeQuantize;
  using quantization::FakeQuantizeConfig;
  using quantization::QuantizationSpec;
  using quantization::TensorRole;
  const QuantizationSpec spec(DType::kInt8, quantization::PerChannelGranularity(0),
                              QuantizationScheme::kAsymmetric);
  const FakeQuantizeConfig config = FakeQuantizeConfig::make(spec, TensorRole::kActivation, "t");
  FakeQuantize fq_cpu(config, "t");
  FakeQuantize fq_gpu(config, "t");
  fq_gpu->to(torch::Device(torch::kCUDA));
  ASSERT_TRUE(fq_gpu->state().is_cuda());
  const auto x0 = make_input({16, 64}, at::kFloat, 600);
  fq_cpu->forward(x0);
  fq_gpu->forward(cuda(x0));
  ASSERT_TRUE(fq_gpu->state().is_cpu());
  ASSERT_TRUE(fq_gpu->scale().is_cuda());
  Tensor last_c, last_g;
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
  try {
    for (int step = 1; step < 4; ++step) {
      const auto x = make_input({16, 64}, at::kFloat, 600 + step) * static_cast<float>(step);
      last_c = fq_cpu->forward(x);
      last_g = fq_gpu->forward(cuda(x));
    }
  } catch (...) {
    c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
    throw;
  }
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
  ASSERT_TRUE(same_values(last_c, last_g));
  ASSERT_TRUE(same_values(fq_cpu->scale(), fq_gpu->scale()));
  ASSERT_TRUE(torch::equal(fq_cpu->zero_point(), fq_gpu->zero_point().cpu()));
}

// ---------------------------------------------------------------- TorchScript

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

TEST_F(CudaOps, TorchScriptGraphRunsOnCudaInputs) {
  torch::jit::CompilationUnit cu;
  cu.define(std::nullopt, R"JIT(
def fq(x, s, zp):
    y = coreai_opt.fake_quantize(x, s, zp, None, [1, 64], "int8", -128, 127)
    codes = coreai_opt.quantize(y, s, zp, None, [1, 64], "int8", -128, 127)
    return coreai_opt.dequantize(codes, s, zp, None, [1, 64], "int8", -128, 127)
)JIT",
            std::make_shared<OpsResolver>(), nullptr);
  const Tensor x = make_input({16, 64}, at::kFloat, 600);
  const Tensor s = torch::rand({16, 1}) * 0.05f + 0.01f;
  const Tensor zp = torch::randint(-5, 5, {16, 1}, at::kInt);
  const Tensor yc = cu.get_function("fq")({x, s, zp}).toTensor();
  const Tensor yg = cu.get_function("fq")({cuda(x), cuda(s), cuda(zp)}).toTensor();
  ASSERT_TRUE(yg.is_cuda());
  ASSERT_TRUE(same_values(yc, yg));
}

// ---------------------------------------------------------------------- errors

TEST_F(CudaOps, MixedDevicesAreTorchChecksNamingTheOp) {
  const Tensor xg = cuda(torch::randn({4, 8}));
  const auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(
      [&] {
        ops::fake_quantize(xg, torch::ones({1, 1}), std::nullopt, std::nullopt, {4, 8},
                           DType::kInt8, -128, 127);
      },
      "scale is on cpu but the input is on cuda");
  expect_error(
      [&] {
        ops::fake_quantize(xg, cuda(torch::ones({1, 1})), torch::zeros({1, 1}, at::kInt),
                           std::nullopt, {4, 8}, DType::kInt8, -128, 127);
      },
      "zero_point is on cpu");
  expect_error(
      [&] {
        Tensor out = torch::empty({4, 8});
        ops::fake_quantize_out(xg, cuda(torch::ones({1, 1})), std::nullopt, std::nullopt, {4, 8},
                               DType::kInt8, -128, 127, out);
      },
      "out is on cpu");
  expect_error(
      [&] {
        Tensor rmin = torch::zeros({1}), rmax = torch::zeros({1});
        Tensor init = torch::zeros({}, at::kBool);
        ops::observe_(xg, rmin, rmax, init, {4, 8}, k::RangeCalculator::kStatic);
      },
      "coreai_opt::observe_: running_min is on cpu");
  expect_error(
      [&] {
        ops::mxfp4_dequantize(cuda(torch::zeros({1, 16}, at::kByte)),
                              torch::zeros({1, 1}, at::kByte), 32);
      },
      "coreai_opt::mxfp4_dequantize: scales is on cpu");
}

TEST_F(CudaOps, TensorsOnASecondDeviceRunThere) {
  if (torch::cuda::device_count() < 2) GTEST_SKIP() << "needs two CUDA devices";
  const torch::Device d1(torch::kCUDA, 1);
  const Tensor x = make_input({64, 256}, at::kFloat, 700);
  const Tensor s = torch::rand({64, 1}) * 0.05f + 0.01f;
  const auto block = k::per_channel_block_size({64, 256}, 0);
  const Tensor yc =
      ops::fake_quantize(x, s, std::nullopt, std::nullopt, block, DType::kInt8, -127, 127);
  const Tensor yg = ops::fake_quantize(x.to(d1), s.to(d1), std::nullopt, std::nullopt, block,
                                       DType::kInt8, -127, 127);
  ASSERT_EQ(yg.device(), d1);
  ASSERT_TRUE(same_values(yc, yg));
  auto [mn, mx] = ops::block_minmax(x.to(d1), block);
  ASSERT_EQ(mn.device(), d1);
  ASSERT_TRUE(same_values(std::get<0>(ops::block_minmax(x, block)), mn));
}

}  // namespace
}  // namespace coreai_opt
