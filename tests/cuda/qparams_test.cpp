// The CUDA observer step against kernels::observe_step on the host: every calculator,
// precision and qparams family, first and later calls (the flag from the host and from
// device memory), float_range bounds, and ranges with NaN, infinities and signed zeros.
// Bit for bit. Skipped without a device.
#include "coreai_opt/kernels/qparams.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "cuda/cuda_test_util.h"

namespace coreai_opt::kernels::cuda {
namespace {

using namespace testing;  // NOLINT: test helpers

class CudaObserveStep : public ::testing::Test {
 protected:
  void SetUp() override { COREAI_OPT_REQUIRE_CUDA_DEVICE(); }
};

std::vector<std::optional<QParamsConfig>> qparams_cases() {
  std::vector<std::optional<QParamsConfig>> out{std::nullopt};
  const auto add = [&](DType d, QuantizationScheme s, QuantizationFormulation f, ScaleKind k) {
    QParamsConfig c;
    c.dtype = d;
    c.scheme = s;
    c.formulation = f;
    c.scale_kind = k;
    out.emplace_back(c);
  };
  using S = QuantizationScheme;
  using F = QuantizationFormulation;
  add(DType::kInt8, S::kSymmetric, F::kZp, ScaleKind::kFloat);
  add(DType::kInt8, S::kAsymmetric, F::kZp, ScaleKind::kFloat);
  add(DType::kUInt8, S::kAsymmetric, F::kMinval, ScaleKind::kFloat);
  add(DType::kInt4, S::kSymmetric, F::kMinval, ScaleKind::kFloat);
  add(DType::kUInt4, S::kSymmetric, F::kZp, ScaleKind::kFloat);
  add(DType::kFloat8E4M3FN, S::kSymmetric, F::kZp, ScaleKind::kFloat);
  add(DType::kFloat8E5M2, S::kSymmetric, F::kZp, ScaleKind::kE8M0);
  add(DType::kFloat4E2M1FNx2, S::kSymmetric, F::kZp, ScaleKind::kE8M0);
  return out;
}

/// A block minimum or maximum: mostly ordinary values, some specials.
float bound(std::mt19937& rng, float sign) {
  std::uniform_int_distribution<int> pick(0, 29);
  std::uniform_real_distribution<float> u(0.0f, 50.0f);
  switch (pick(rng)) {
    case 0:
      return std::numeric_limits<float>::quiet_NaN();
    case 1:
      return sign * std::numeric_limits<float>::infinity();
    case 2:
      return sign > 0 ? 0.0f : -0.0f;
    case 3:
      return -sign * u(rng);  // the wrong side of zero
    case 4:
      return sign * 1e-41f;  // subnormal
    case 5:
      return sign * 3e38f;
    default:
      return sign * u(rng);
  }
}

TEST_F(CudaObserveStep, MatchesTheHostStep) {
  std::mt19937 rng(5u);
  constexpr std::size_t n = 777;  // more than one block of threads, not a multiple of it
  const RangeCalculator calculators[] = {RangeCalculator::kStatic, RangeCalculator::kMovingAverage,
                                         RangeCalculator::kGlobalMinMax};
  const ParamPrecision precisions[] = {ParamPrecision::kFloat32, ParamPrecision::kBFloat16,
                                       ParamPrecision::kFloat16};
  int cases = 0;
  for (const auto& qp : qparams_cases()) {
    for (RangeCalculator calc : calculators) {
      for (ParamPrecision prec : precisions) {
        for (int variant = 0; variant < 4; ++variant) {
          ObserveStep step;
          step.calculator = calc;
          step.averaging_constant = variant == 1 ? 0.3f : kDefaultAveragingConstant;
          step.precision = prec;
          if (variant == 2) step.range.min = -1.2345678f;
          if (variant == 3) step.range.max = 7.654321f;
          step.qparams = qp;
          if (qp) step.qparams->precision = prec;
          const bool initialized = variant % 2 == 1;
          const bool flag_on_device = variant >= 2;
          SCOPED_TRACE("case " + std::to_string(cases));
          ++cases;
          std::vector<float> amin(n), amax(n), rmin(n), rmax(n);
          for (std::size_t i = 0; i < n; ++i) {
            amin[i] = bound(rng, -1.0f);
            amax[i] = bound(rng, 1.0f);
            rmin[i] = bound(rng, -1.0f);
            rmax[i] = bound(rng, 1.0f);
          }
          std::vector<float> want_rmin = rmin, want_rmax = rmax;
          std::vector<float> want_scale(n, 0.0f), want_minval(n, 0.0f);
          std::vector<std::int32_t> want_zp(n, 0);
          observe_step(step, initialized, amin.data(), amax.data(), n, want_rmin.data(),
                       want_rmax.data(), want_scale.data(), want_zp.data(), want_minval.data());

          const Staged damin(amin), damax(amax), drmin(rmin), drmax(rmax);
          const Staged dscale(std::vector<float>(n, 0.0f)), dminval(std::vector<float>(n, 0.0f));
          const Staged dzp(std::vector<std::int32_t>(n, 0));
          const Staged dflag(std::vector<std::uint8_t>{static_cast<std::uint8_t>(initialized)});
          ASSERT_TRUE(damin.ok() && damax.ok() && drmin.ok() && drmax.ok() && dscale.ok() &&
                      dminval.ok() && dzp.ok() && dflag.ok());
          COREAI_OPT_CUDA_OK(observe_step(
              step, flag_on_device ? dflag.as<std::uint8_t>() : nullptr,
              flag_on_device ? !initialized : initialized, damin.as<float>(), damax.as<float>(),
              static_cast<std::int64_t>(n), drmin.as<float>(), drmax.as<float>(),
              dscale.as<float>(), dzp.as<std::int32_t>(), dminval.as<float>(), nullptr));
          COREAI_OPT_CUDA_OK(sync());
          EXPECT_TRUE(same_floats(want_rmin, drmin.get_floats())) << "running_min";
          EXPECT_TRUE(same_floats(want_rmax, drmax.get_floats())) << "running_max";
          EXPECT_TRUE(same_floats(want_scale, dscale.get_floats())) << "scale";
          EXPECT_TRUE(same_floats(want_minval, dminval.get_floats())) << "minval";
          const std::vector<std::uint8_t> zp_bytes = dzp.get();
          std::vector<std::int32_t> got_zp(n);
          ASSERT_EQ(zp_bytes.size(), n * 4);
          std::memcpy(got_zp.data(), zp_bytes.data(), n * 4);
          EXPECT_EQ(want_zp, got_zp) << "zero_point";
        }
      }
    }
  }
  EXPECT_EQ(cases, 9 * 3 * 3 * 4);
}

}  // namespace
}  // namespace coreai_opt::kernels::cuda
