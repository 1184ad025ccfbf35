// Formats: exhaustive code tables, ties, saturation, NaN, subnormals, packing, E8M0.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/format/fp4.h"
#include "coreai_opt/format/fp8.h"
#include "coreai_opt/format/int.h"
#include "kernels/test_util.h"

namespace coreai_opt {
namespace {

using kernels::testing::bits_of;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Independent oracle: the finite code nearest to x by exhaustive search (in double), ties
// to the code with an even mantissa, magnitudes past the largest finite value saturate.
std::uint8_t nearest_code(float x, const MiniFloatFormat& f) {
  const int width = f.sign_shift();
  const double a = std::fabs(static_cast<double>(x));
  int best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (int c = 0; c <= f.max_code; ++c) {
    const double v = minifloat_decode(static_cast<std::uint8_t>(c), f);
    const double err = std::fabs(v - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  if (a >= f.max_finite) best = f.max_code;
  return static_cast<std::uint8_t>(best | (std::signbit(x) ? 1 << width : 0));
}

TEST(Fp8Format, E4M3FNDecodesEveryCode) {
  EXPECT_EQ(e4m3fn_to_float(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(e4m3fn_to_float(0x80)));
  EXPECT_EQ(e4m3fn_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3fn_to_float(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3fn_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(e4m3fn_to_float(0x38), 1.0f);
  EXPECT_EQ(e4m3fn_to_float(0x7E), 448.0f);
  EXPECT_EQ(e4m3fn_to_float(0xFE), -448.0f);
  EXPECT_TRUE(std::isnan(e4m3fn_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3fn_to_float(0xFF)));
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    const float v = e4m3fn_to_float(code);
    if ((c & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(v)) << c;
      EXPECT_EQ(float_to_e4m3fn(v) & 0x7F, 0x7F);
      continue;
    }
    EXPECT_EQ(float_to_e4m3fn(v), code) << "code " << c << " value " << v;
    // Exactly between v and the next code up: the even code wins.
    if ((c & 0x7F) < 0x7E) {
      const float next = e4m3fn_to_float(static_cast<std::uint8_t>(c + 1));
      const float mid = (v + next) / 2;  // exact: both fit in far fewer than 24 bits
      EXPECT_EQ(float_to_e4m3fn(mid), (c & 1) == 0 ? code : c + 1) << "tie above code " << c;
    }
  }
}

TEST(Fp8Format, E5M2DecodesEveryCode) {
  EXPECT_EQ(e5m2_to_float(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(e5m2_to_float(0x04), std::ldexp(1.0f, -14));
  EXPECT_EQ(e5m2_to_float(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_float(0x7B), 57344.0f);
  EXPECT_EQ(e5m2_to_float(0x7C), kInf);
  EXPECT_EQ(e5m2_to_float(0xFC), -kInf);
  for (int c : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
    EXPECT_TRUE(std::isnan(e5m2_to_float(static_cast<std::uint8_t>(c)))) << c;
  }
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    const int mag = c & 0x7F;
    const float v = e5m2_to_float(code);
    if (mag >= 0x7C) continue;
    EXPECT_EQ(float_to_e5m2(v), code) << "code " << c;
    if (mag < 0x7B) {
      const float mid = (v + e5m2_to_float(static_cast<std::uint8_t>(c + 1))) / 2;
      EXPECT_EQ(float_to_e5m2(mid), (c & 1) == 0 ? code : c + 1) << "tie above code " << c;
    }
  }
}

TEST(Fp8Format, SaturatesAndKeepsNaN) {
  EXPECT_EQ(float_to_e4m3fn(448.0f), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(464.0f), 0x7E);  // PyTorch's non-saturating cast also gives 448
  EXPECT_EQ(float_to_e4m3fn(479.0f), 0x7E);  // ... but NaN here
  EXPECT_EQ(float_to_e4m3fn(1e30f), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(kInf), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(-kInf), 0xFE);
  EXPECT_EQ(float_to_e4m3fn(kNaN), 0x7F);
  EXPECT_EQ(float_to_e4m3fn(-kNaN), 0xFF);
  EXPECT_EQ(float_to_e5m2(61440.0f), 0x7B);  // the non-saturating cast would give inf
  EXPECT_EQ(float_to_e5m2(kInf), 0x7B);
  EXPECT_EQ(float_to_e5m2(-kInf), 0xFB);
  EXPECT_EQ(float_to_e5m2(kNaN), 0x7F);
  EXPECT_EQ(float_to_e4m3fn(-0.0f), 0x80);
  // Subnormal ties: 2^-10 lies between 0 and 2^-9 -> 0; 3 * 2^-10 between codes 1 and 2 -> 2.
  EXPECT_EQ(float_to_e4m3fn(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(float_to_e4m3fn(3 * std::ldexp(1.0f, -10)), 0x02);
  EXPECT_EQ(float_to_e4m3fn(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(float_to_e4m3fn(1e-40f), 0x00);  // float subnormal input
  // Rounding up across a binade: 15.5 is a tie between 15 (odd) and 16 -> 16.
  EXPECT_EQ(e4m3fn_to_float(float_to_e4m3fn(15.5f)), 16.0f);
}

TEST(Fp8Format, MatchesExhaustiveSearchOnRandomFloats) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  for (int i = 0; i < 200000; ++i) {
    // Random sign and exponent near the formats' ranges, random mantissa.
    const int e = std::uniform_int_distribution<int>(-20, 17)(rng);
    const float x = std::ldexp(1.0f + static_cast<float>(any_bits(rng) >> 9) * 0x1p-23f, e) *
                    ((any_bits(rng) & 1) ? -1.0f : 1.0f);
    ASSERT_EQ(float_to_e4m3fn(x), nearest_code(x, kE4M3FNFormat)) << x;
    ASSERT_EQ(float_to_e5m2(x), nearest_code(x, kE5M2Format)) << x;
    ASSERT_EQ(float_to_e2m1(x), nearest_code(x, kE2M1Format)) << x;
  }
}

TEST(Fp4Format, DecodesAllSixteenCodes) {
  const float expected[16] = {0,     0.5f,  1,  1.5f,  2,  3,  4,  6,
                              -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) {
    const float v = e2m1_to_float(static_cast<std::uint8_t>(c));
    EXPECT_EQ(bits_of(v), bits_of(expected[c])) << c;
    EXPECT_EQ(float_to_e2m1(v), c) << c;
  }
}

TEST(Fp4Format, TiesGoToEvenAndSaturateAtSix) {
  // (input, expected magnitude) at every tie point and around it.
  const std::pair<float, float> cases[] = {
      {0.25f, 0.0f},      {0.2500001f, 0.5f}, {0.75f, 1.0f},      {0.7499999f, 0.5f}, {1.25f, 1.0f},
      {1.75f, 2.0f},      {2.5f, 2.0f},       {2.5000002f, 3.0f}, {3.5f, 4.0f},       {5.0f, 4.0f},
      {5.0000005f, 6.0f}, {7.9f, 6.0f},       {1e9f, 6.0f},       {kInf, 6.0f}};
  for (const auto& [x, m] : cases) {
    EXPECT_EQ(e2m1_to_float(float_to_e2m1(x)), m) << x;
    EXPECT_EQ(e2m1_to_float(float_to_e2m1(-x)), -m) << -x;
  }
  EXPECT_EQ(float_to_e2m1(kNaN), 0);
  EXPECT_EQ(float_to_e2m1(-0.0f), 0x8);
}

TEST(Fp4Format, PacksElementTwoIInTheLowNibble) {
  EXPECT_EQ(pack_nibbles(float_to_e2m1(1.0f), float_to_e2m1(-6.0f)), 0xF2);
  EXPECT_EQ(low_nibble(0xF2), 0x2);
  EXPECT_EQ(high_nibble(0xF2), 0xF);
  EXPECT_EQ(sign_extend_nibble(0x8), -8);
  EXPECT_EQ(sign_extend_nibble(0xF), -1);
  EXPECT_EQ(sign_extend_nibble(0x7), 7);
  EXPECT_EQ(packed_nibble_bytes(7), 4u);
}

TEST(IntFormat, SymmetricZeroPoints) {
  EXPECT_EQ(symmetric_zero_point(-128, 127), 0);
  EXPECT_EQ(symmetric_zero_point(-127, 127), 0);
  EXPECT_EQ(symmetric_zero_point(0, 255), 128);
  EXPECT_EQ(symmetric_zero_point(0, 15), 8);
  EXPECT_EQ(symmetric_zero_point(0, 3), 2);
  EXPECT_EQ(symmetric_zero_point(-2, 1), 0);
}

TEST(E8M0Format, CodesAndTheFloorRule) {
  EXPECT_EQ(e8m0_to_float(127), 1.0f);
  EXPECT_EQ(e8m0_to_float(0), std::ldexp(1.0f, -127));
  EXPECT_EQ(e8m0_to_float(254), std::ldexp(1.0f, 127));
  EXPECT_TRUE(std::isnan(e8m0_to_float(kE8M0NaN)));
  // fp4 (T = 2): amax 500 -> 2^(8-2) = 64 (reference §2.5); amax 3 -> 2^(1-2) = 0.5.
  EXPECT_EQ(e8m0_scale(500.0f, 2), 64.0f);
  EXPECT_EQ(e8m0_scale(3.0f, 2), 0.5f);
  EXPECT_EQ(e8m0_scale(4.0f, 2), 1.0f);
  EXPECT_EQ(e8m0_scale(std::nextafter(4.0f, 0.0f), 2), 0.5f);  // no log2f rounding up
  // fp8: e4m3 T = 8, e5m2 T = 15.
  EXPECT_EQ(e8m0_scale(500.0f, 8), 1.0f);
  EXPECT_EQ(e8m0_scale(500.0f, 15), std::ldexp(1.0f, -7));
  // Zero or subnormal amax: the 2^-126 floor (code 1).
  EXPECT_EQ(e8m0_scale_code(0.0f, 2), 1);
  EXPECT_EQ(e8m0_scale_code(1e-40f, 2), 1);
  EXPECT_EQ(e8m0_scale(0.0f, 2), std::ldexp(1.0f, -126));
  EXPECT_EQ(e8m0_scale_code(std::numeric_limits<float>::max(), 2), 252);
  EXPECT_EQ(e8m0_scale_code(kInf, 2), kE8M0NaN);
  EXPECT_EQ(e8m0_scale_code(kNaN, 2), kE8M0NaN);
  EXPECT_EQ(e8m0_element_emax(DType::kFloat4E2M1FNx2), 2);
  EXPECT_EQ(e8m0_element_emax(DType::kFloat8E4M3FN), 8);
  EXPECT_EQ(e8m0_element_emax(DType::kFloat8E5M2), 15);
}

}  // namespace
}  // namespace coreai_opt
