// fp8 kernels: every Highway target bit-exact against the reference; exhaustive codes
// through the kernels; the worked numbers of reference §2.9.
#include "coreai_opt/format/fp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "coreai_opt/kernels/fp8.h"
#include "kernels/test_util.h"

namespace coreai_opt::kernels {
namespace {

using testing::edge_inputs;
using testing::same_bytes;
using testing::same_floats;

const DType kFormats[] = {DType::kFloat8E4M3FN, DType::kFloat8E5M2};

class Fp8Kernels : public testing::PerTarget {};

TEST_P(Fp8Kernels, BitExactWithReference) {
  std::uint32_t seed = 100;
  for (DType fmt : kFormats) {
    for (std::size_t n : {1, 3, 15, 16, 17, 64, 100, 1001, 4099}) {
      for (std::size_t run : {std::size_t{1}, std::size_t{3}, std::size_t{32}, n}) {
        std::mt19937 rng(++seed);
        std::vector<float> scale;
        for (std::size_t b = 0; b <= n / run + 1; ++b) {
          scale.push_back(b % 2 == 0 ? std::ldexp(1.0f, static_cast<int>(rng() % 20) - 12)
                                     : std::uniform_real_distribution<float>(1e-3f, 3.0f)(rng));
        }
        // Values around the format's range and subnormals after scaling.
        const float mag = fmt == DType::kFloat8E4M3FN ? 300.0f : 40000.0f;
        std::vector<float> x = edge_inputs(n, 0.001f, mag * scale[1], seed);
        for (std::size_t i = 0; i < n; i += 5) x[i] *= 1e-4f;  // fp8 subnormal territory
        const FloatQuantParams p{scale.data(), run};
        SCOPED_TRACE(::testing::Message() << dtype_name(fmt) << " n=" << n << " run=" << run);
        std::vector<float> y_ref(n, -1), y(n, -1);
        std::vector<std::uint8_t> m_ref(n, 9), m(n, 9), q_ref(n, 0), q(n, 0);
        reference::fp8_fake_quantize(fmt, x.data(), y_ref.data(), m_ref.data(), 0, n, p);
        fp8_fake_quantize(fmt, x.data(), y.data(), m.data(), 0, n, p);
        ASSERT_TRUE(same_floats(y_ref, y, &x));
        ASSERT_TRUE(same_bytes(m_ref, m));
        reference::fp8_quantize(fmt, x.data(), q_ref.data(), 0, n, p);
        fp8_quantize(fmt, x.data(), q.data(), 0, n, p);
        ASSERT_TRUE(same_bytes(q_ref, q));
        std::vector<float> d_ref(n), d(n);
        reference::fp8_dequantize(fmt, q_ref.data(), d_ref.data(), 0, n, p);
        fp8_dequantize(fmt, q_ref.data(), d.data(), 0, n, p);
        ASSERT_TRUE(same_floats(d_ref, d));
      }
    }
  }
}

TEST_P(Fp8Kernels, AllCodesRoundTripThroughTheKernels) {
  for (DType fmt : kFormats) {
    std::vector<std::uint8_t> codes(256);
    for (int c = 0; c < 256; ++c) codes[c] = static_cast<std::uint8_t>(c);
    const float one = 1.0f;
    const FloatQuantParams p{&one, 256};
    std::vector<float> values(256), ref(256);
    fp8_dequantize(fmt, codes.data(), values.data(), 0, 256, p);
    reference::fp8_dequantize(fmt, codes.data(), ref.data(), 0, 256, p);
    ASSERT_TRUE(same_floats(ref, values));
    std::vector<std::uint8_t> back(256);
    fp8_quantize(fmt, values.data(), back.data(), 0, 256, p);
    for (int c = 0; c < 256; ++c) {
      const int mag = c & 0x7F;
      if (fmt == DType::kFloat8E4M3FN && mag == 0x7F) {
        EXPECT_EQ(back[c], c) << "NaN keeps its sign and code";
      } else if (fmt == DType::kFloat8E5M2 && mag >= 0x7C) {
        // inf saturates to the largest finite value, NaN becomes sign | 0x7F
        EXPECT_EQ(back[c], (c & 0x80) | (mag == 0x7C ? 0x7B : 0x7F)) << c;
      } else {
        EXPECT_EQ(back[c], c) << c;
      }
    }
  }
}

COREAI_OPT_INSTANTIATE_PER_TARGET(Fp8Kernels);

// Reference §2.9: quantize() values of the 4x5 matrix with amax 500, per tensor.
TEST(Fp8Reference, WorkedNumbers) {
  std::vector<float> x = {1,   2,   0,   4,   5,   10,    20,   -30,  40,    50,
                          100, 200, 300, 400, 500, -0.1f, 0.2f, 0.3f, -0.4f, 0.5f};
  const float s4 = 500.0f / 448.0f;
  std::vector<std::uint8_t> q(20);
  reference::fp8_quantize(DType::kFloat8E4M3FN, x.data(), q.data(), 0, 20, {&s4, 20});
  const std::vector<float> e4m3 = {0.875f, 1.75f,       0,         3.5f,     4.5f,      9,      18,
                                   -26,    36,          44,        88,       176,       256,    352,
                                   448,    -0.0859375f, 0.171875f, 0.28125f, -0.34375f, 0.4375f};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(e4m3fn_to_float(q[i]), e4m3[i]) << i;

  for (int i = 15; i < 20; ++i)
    x[i] = std::vector<float>{-0.001f, 0.002f, 0.003f, -0.004f, 0.005f}[i - 15];
  const float s5 = 500.0f / 57344.0f;
  reference::fp8_quantize(DType::kFloat8E5M2, x.data(), q.data(), 0, 20, {&s5, 20});
  const std::vector<float> e5m2 = {112,   224,        0,        448,    512,      1024,  2048,
                                   -3584, 4096,       6144,     12288,  24576,    32768, 49152,
                                   57344, -0.109375f, 0.21875f, 0.375f, -0.4375f, 0.625f};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(e5m2_to_float(q[i]), e5m2[i]) << i;
}

TEST(Fp8Reference, FakeQuantizeMaskAndSaturation) {
  const float s = 1.0f;
  const std::vector<float> x = {448.0f, 449.0f, -1000.0f, std::nanf(""), 0.3f};
  std::vector<float> y(5);
  std::vector<std::uint8_t> m(5);
  reference::fp8_fake_quantize(DType::kFloat8E4M3FN, x.data(), y.data(), m.data(), 0, 5, {&s, 5});
  EXPECT_EQ(y[0], 448.0f);
  EXPECT_EQ(y[1], 448.0f);
  EXPECT_EQ(y[2], -448.0f);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(y[4], 0.3125f);  // 0.3 = 1.2 * 2^-2 -> 1.25 * 2^-2
  EXPECT_EQ(m, (std::vector<std::uint8_t>{1, 0, 0, 0, 1}));
}

}  // namespace
}  // namespace coreai_opt::kernels
