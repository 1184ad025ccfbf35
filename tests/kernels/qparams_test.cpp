// Qparam math: the worked numbers of reference §2.9, calculators, float_range, precision.
#include "coreai_opt/kernels/qparams.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "coreai_opt/errors.h"

namespace coreai_opt::kernels {
namespace {

using S = QuantizationScheme;
using F = QuantizationFormulation;

struct Result {
  float scale;
  std::int32_t zp;
  float minval;
};

// Qparams of a per-tensor observation of x (static calculator, no float_range).
Result qparams_of(DType d, S scheme, const std::vector<float>& x,
                  ScaleKind kind = ScaleKind::kFloat) {
  float amin = x[0], amax = x[0];
  for (float v : x) {
    amin = std::min(amin, v);
    amax = std::max(amax, v);
  }
  float mn, mx;
  observed_range(&amin, &amax, 1, {}, &mn, &mx);
  QParamsConfig c{d, scheme, F::kZp, kind, ParamPrecision::kFloat32};
  validate_qparams_config(c);
  Result r{0.0f, 12345, 12345.0f};
  choose_qparams(c, &mn, &mx, 1, &r.scale, &r.zp, &r.minval);
  return r;
}

TEST(QParams, WorkedNumbers) {
  Result r = qparams_of(DType::kInt8, S::kAsymmetric, {-1, 0, 7});
  EXPECT_EQ(r.scale, 8.0f / 255.0f);
  EXPECT_EQ(r.zp, -96);
  EXPECT_EQ(r.minval, -1.0f);
  r = qparams_of(DType::kUInt8, S::kAsymmetric, {-1, 0, 5});
  EXPECT_EQ(r.scale, 6.0f / 255.0f);
  EXPECT_EQ(r.zp, 42);  // -round(-42.5) = 42: half to even
  EXPECT_EQ(r.minval, -1.0f);
  r = qparams_of(DType::kInt8, S::kSymmetric, {-1, 0, 3});
  EXPECT_EQ(r.scale, 3.0f / 127.5f);
  EXPECT_EQ(r.zp, 0);
  EXPECT_EQ(r.minval, -3.0f);
  r = qparams_of(DType::kUInt8, S::kSymmetric, {-3, 0, 1});
  EXPECT_EQ(r.scale, 3.0f / 127.5f);
  EXPECT_EQ(r.zp, 128);
  EXPECT_EQ(r.minval, -3.0f);
  r = qparams_of(DType::kInt8, S::kSymmetricWithClipping, {-3, 0, 3});
  EXPECT_EQ(r.scale, 3.0f / 127.0f);
  EXPECT_EQ(r.zp, 0);
  r = qparams_of(DType::kInt4, S::kSymmetricWithClipping, {-1.5f, 0, 1.5f});
  EXPECT_EQ(r.scale, 1.5f / 7.0f);
  EXPECT_EQ(r.zp, 0);
  EXPECT_EQ(r.minval, -1.5f);
  r = qparams_of(DType::kUInt8, S::kSymmetricWithClipping, {-3, 0, 3});
  EXPECT_EQ(r.scale, 3.0f / 127.5f);
  EXPECT_EQ(r.zp, 128);
  r = qparams_of(DType::kInt4, S::kSymmetric, {-1.5f, 0, 1.5f});
  EXPECT_EQ(r.scale, 1.5f / 7.5f);
  r = qparams_of(DType::kInt2, S::kSymmetric, {-3, 0, 3});
  EXPECT_EQ(r.scale, 3.0f / 1.5f);

  // fp dtypes have neither zero point nor minval: the outputs stay untouched.
  r = qparams_of(DType::kFloat8E4M3FN, S::kSymmetric, {-3, 0, 3});
  EXPECT_EQ(r.scale, 3.0f / 448.0f);
  EXPECT_EQ(r.zp, 12345);
  r = qparams_of(DType::kFloat8E5M2, S::kSymmetric, {-3, 0, 3});
  EXPECT_EQ(r.scale, 3.0f / 57344.0f);
  r = qparams_of(DType::kFloat4E2M1FNx2, S::kSymmetric, {-3, 0, 3}, ScaleKind::kE8M0);
  EXPECT_EQ(r.scale, 0.5f);
  r = qparams_of(DType::kFloat8E4M3FN, S::kSymmetric, {-3, 0, 500}, ScaleKind::kE8M0);
  EXPECT_EQ(r.scale, 1.0f);  // 2^(8 - 8)
}

TEST(QParams, ScaleFloorAndAllZeroInput) {
  Result r = qparams_of(DType::kInt8, S::kSymmetric, {0, 0});
  EXPECT_EQ(r.scale, std::ldexp(1.0f, -23));
  r = qparams_of(DType::kFloat4E2M1FNx2, S::kSymmetric, {0, 0}, ScaleKind::kE8M0);
  EXPECT_EQ(r.scale, std::ldexp(1.0f, -126));
  r = qparams_of(DType::kInt8, S::kAsymmetric, {1, 2});  // range widened to contain 0
  EXPECT_EQ(r.scale, 2.0f / 255.0f);
  EXPECT_EQ(r.zp, -128);
}

TEST(QParams, E8M0CodesAreReported) {
  const float mn = -3.0f, mx = 500.0f;
  float s;
  std::uint8_t code = 0;
  choose_qparams({DType::kFloat4E2M1FNx2, S::kSymmetric, F::kZp, ScaleKind::kE8M0}, &mn, &mx, 1, &s,
                 nullptr, nullptr, &code);
  EXPECT_EQ(code, 127 + 6);
  EXPECT_EQ(s, 64.0f);
}

TEST(QParams, FloatRangeReplacesObservedBounds) {
  const float amin = -4.0f, amax = 9.0f;
  float mn, mx;
  observed_range(&amin, &amax, 1, {std::nullopt, 5.0f}, &mn, &mx);
  EXPECT_EQ(mn, -4.0f);
  EXPECT_EQ(mx, 5.0f);
  observed_range(nullptr, nullptr, 1, {-2.0f, 3.0f}, &mn, &mx);
  EXPECT_EQ(mn, -2.0f);
  EXPECT_EQ(mx, 3.0f);
  const float pos = 2.0f;
  observed_range(&pos, &pos, 1, {}, &mn, &mx);
  EXPECT_EQ(mn, 0.0f);  // the range always contains 0
  EXPECT_EQ(mx, 2.0f);
}

TEST(QParams, FloatRangeValidation) {
  EXPECT_NO_THROW(validate_float_range({}));
  EXPECT_NO_THROW(validate_float_range({0.0f, 5.0f}));
  EXPECT_NO_THROW(validate_float_range({-5.0f, 0.0f}));
  auto message = [](FloatRange r) {
    try {
      validate_float_range(r);
    } catch (const InvalidArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({1.0f, 5.0f}), "float_range min must be <= 0, got 1");
  EXPECT_EQ(message({-3.0f, -1.0f}), "float_range max must be >= 0, got -1");
  EXPECT_EQ(message({0.0f, 0.0f}), "float_range min must be < max, got [0, 0]");
}

TEST(QParams, ConfigValidationMessages) {
  auto message = [](QParamsConfig c) {
    try {
      validate_qparams_config(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({DType::kFloat8E4M3FN, S::kAsymmetric}),
            "FP quantization (dtype=float8_e4m3fn) requires symmetric quantization scheme, got "
            "qscheme=asymmetric. Valid option: 'symmetric'");
  EXPECT_EQ(message({DType::kFloat8E5M2, S::kSymmetric, F::kMinval}),
            "FP quantization (dtype=float8_e5m2) requires zero-point quantization formulation, "
            "got qformulation=minval. Valid option: 'zp'");
  EXPECT_EQ(message({DType::kInt8, S::kSymmetric, F::kZp, ScaleKind::kE8M0}),
            "scale_dtype must be None for dtype=int8, got scale_dtype=float8_e8m0fnu. No e8m0 "
            "target exponent is defined for it; supported dtypes are [float4_e2m1fn_x2, "
            "float8_e4m3fn, float8_e5m2].");
  EXPECT_NE(message({DType::kFloat4E2M1FNx2, S::kSymmetric, F::kZp, ScaleKind::kFloat}),
            "no error");
  EXPECT_EQ(message({DType::kFloat8E4M3FN, S::kSymmetric, F::kZp, ScaleKind::kE8M0}), "no error");
}

TEST(QParams, Calculators) {
  float rmin = 0, rmax = 0;
  const float a_min = -2.0f, a_max = 4.0f, b_min = -4.0f, b_max = 2.0f;
  // First call initialises for every calculator.
  update_running_range(RangeCalculator::kMovingAverage, 0.25f, ParamPrecision::kFloat32, false,
                       &a_min, &a_max, 1, &rmin, &rmax);
  EXPECT_EQ(rmin, -2.0f);
  EXPECT_EQ(rmax, 4.0f);
  update_running_range(RangeCalculator::kMovingAverage, 0.25f, ParamPrecision::kFloat32, true,
                       &b_min, &b_max, 1, &rmin, &rmax);
  EXPECT_EQ(rmin, -2.5f);  // 0.25 * -4 + 0.75 * -2
  EXPECT_EQ(rmax, 3.5f);
  // The default constant moves the range by 1 %.
  rmin = -1.0f;
  rmax = 1.0f;
  const float c_min = -101.0f, c_max = 1.0f;
  update_running_range(RangeCalculator::kMovingAverage, kDefaultAveragingConstant,
                       ParamPrecision::kFloat32, true, &c_min, &c_max, 1, &rmin, &rmax);
  EXPECT_NEAR(rmin, -2.0f, 1e-6f);
  EXPECT_EQ(kDefaultAveragingConstant, 0.01f);
  // Global min-max never contracts.
  rmin = -2.0f;
  rmax = 4.0f;
  update_running_range(RangeCalculator::kGlobalMinMax, 0.0f, ParamPrecision::kFloat32, true, &b_min,
                       &b_max, 1, &rmin, &rmax);
  EXPECT_EQ(rmin, -4.0f);
  EXPECT_EQ(rmax, 4.0f);
  // Static replaces.
  update_running_range(RangeCalculator::kStatic, 0.0f, ParamPrecision::kFloat32, true, &a_min,
                       &a_max, 1, &rmin, &rmax);
  EXPECT_EQ(rmin, -2.0f);
  EXPECT_EQ(rmax, 4.0f);
}

TEST(QParams, PrecisionRounding) {
  EXPECT_EQ(round_to_bfloat16(1.0f + 0x1p-8f), 1.0f);                // tie -> even
  EXPECT_EQ(round_to_bfloat16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);  // tie -> even
  EXPECT_EQ(round_to_bfloat16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  EXPECT_TRUE(std::isinf(round_to_bfloat16(3.4e38f)));
  EXPECT_EQ(round_to_float16(1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(round_to_float16(65519.0f), 65504.0f);
  EXPECT_TRUE(std::isinf(round_to_float16(65520.0f)));
  EXPECT_EQ(round_to_float16(0x1p-25f), 0.0f);          // subnormal tie -> 0
  EXPECT_EQ(round_to_float16(3 * 0x1p-25f), 0x1p-23f);  // -> even subnormal
  // bf16 qparams: 3 / 127.5 rounded to bf16.
  const float mn = -1.0f, mx = 3.0f;
  float s;
  choose_qparams(
      {DType::kInt8, S::kSymmetric, F::kZp, ScaleKind::kFloat, ParamPrecision::kBFloat16}, &mn, &mx,
      1, &s, nullptr, nullptr);
  EXPECT_EQ(s, round_to_bfloat16(3.0f / 127.5f));
  EXPECT_NE(s, 3.0f / 127.5f);
}

// The compiler's _Float16 conversion (round to nearest even, overflow to infinity) is an
// independent oracle for round_to_float16, over a stride through every float bit pattern.
TEST(QParams, Float16RoundingMatchesTheCompiler) {
  std::uint64_t checked = 0;
  for (std::uint64_t b = 0; b <= 0xFFFFFFFFull; b += 509) {
    const auto bits = static_cast<std::uint32_t>(b);
    float x;
    std::memcpy(&x, &bits, 4);
    const float got = round_to_float16(x);
    const auto want = static_cast<float>(static_cast<_Float16>(x));
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
    } else {
      ASSERT_EQ(std::memcmp(&got, &want, 4), 0)
          << std::hex << bits << ": " << got << " vs " << want;
    }
    ++checked;
  }
  EXPECT_GT(checked, 8000000u);
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// observe_step is the four steps it names, applied in turn.
TEST(QParams, ObserveStepIsTheComposition) {
  std::mt19937 rng(3u);
  std::uniform_real_distribution<float> u(-30.0f, 30.0f);
  std::vector<std::optional<QParamsConfig>> configs{std::nullopt};
  configs.push_back(QParamsConfig{DType::kInt8, S::kAsymmetric, F::kZp, ScaleKind::kFloat, {}});
  configs.push_back(QParamsConfig{DType::kInt4, S::kSymmetric, F::kMinval, ScaleKind::kFloat, {}});
  configs.push_back(
      QParamsConfig{DType::kFloat8E4M3FN, S::kSymmetric, F::kZp, ScaleKind::kFloat, {}});
  configs.push_back(
      QParamsConfig{DType::kFloat4E2M1FNx2, S::kSymmetric, F::kZp, ScaleKind::kE8M0, {}});
  constexpr std::size_t n = 64;
  for (const auto& qp : configs) {
    for (auto calc : {RangeCalculator::kStatic, RangeCalculator::kMovingAverage,
                      RangeCalculator::kGlobalMinMax}) {
      for (auto prec :
           {ParamPrecision::kFloat32, ParamPrecision::kBFloat16, ParamPrecision::kFloat16}) {
        for (int variant = 0; variant < 3; ++variant) {
          ObserveStep step{calc, 0.125f, FloatRange{}, prec, qp};
          if (step.qparams) step.qparams->precision = prec;
          if (variant == 1) step.range.max = 2.3456789f;  // not exact in bf16 / fp16
          const bool init = variant != 2;
          std::vector<float> amin(n), amax(n), rmin(n), rmax(n);
          for (std::size_t i = 0; i < n; ++i) {
            amin[i] = round_to_precision(u(rng), prec);
            amax[i] = round_to_precision(u(rng), prec);
            rmin[i] = round_to_precision(-std::fabs(u(rng)), prec);
            rmax[i] = round_to_precision(std::fabs(u(rng)), prec);
          }
          amin[3] = std::numeric_limits<float>::quiet_NaN();
          // The steps one by one.
          std::vector<float> wmin(n), wmax(n), wrmin = rmin, wrmax = rmax;
          observed_range(amin.data(), amax.data(), n, step.range, wmin.data(), wmax.data());
          for (std::size_t i = 0; i < n; ++i) {
            wmin[i] = round_to_precision(wmin[i], prec);
            wmax[i] = round_to_precision(wmax[i], prec);
          }
          update_running_range(calc, 0.125f, prec, init, wmin.data(), wmax.data(), n, wrmin.data(),
                               wrmax.data());
          std::vector<float> wscale(n, 0.0f), wminval(n, 0.0f);
          std::vector<std::int32_t> wzp(n, 0);
          if (qp) {
            choose_qparams(*step.qparams, wrmin.data(), wrmax.data(), n, wscale.data(), wzp.data(),
                           wminval.data());
          }
          // The one step.
          std::vector<float> scale(n, 0.0f), minval(n, 0.0f);
          std::vector<std::int32_t> zp(n, 0);
          observe_step(step, init, amin.data(), amax.data(), n, rmin.data(), rmax.data(),
                       scale.data(), zp.data(), minval.data());
          for (std::size_t i = 0; i < n; ++i) {
            ASSERT_TRUE(same_bits(rmin[i], wrmin[i]) && same_bits(rmax[i], wrmax[i]) &&
                        same_bits(scale[i], wscale[i]) && same_bits(minval[i], wminval[i]) &&
                        zp[i] == wzp[i])
                << "element " << i << " variant " << variant;
          }
        }
      }
    }
  }
  // A worked moving-average value: 0.125 * -8 + 0.875 * -1 = -1.875, scale 3 / 127.5.
  ObserveStep step{RangeCalculator::kMovingAverage, 0.125f, FloatRange{}, ParamPrecision::kFloat32,
                   QParamsConfig{DType::kInt8, S::kSymmetric, F::kZp, ScaleKind::kFloat, {}}};
  const float amin = -8.0f, amax = 3.0f;
  float rmin = -1.0f, rmax = 3.0f, scale = 0.0f, minval = 0.0f;
  std::int32_t zp = 7;
  observe_step(step, true, &amin, &amax, 1, &rmin, &rmax, &scale, &zp, &minval);
  EXPECT_EQ(rmin, -1.875f);
  EXPECT_EQ(rmax, 3.0f);
  EXPECT_EQ(scale, 3.0f / 127.5f);
  EXPECT_EQ(zp, 0);
  EXPECT_EQ(minval, -3.0f);
}

}  // namespace
}  // namespace coreai_opt::kernels
