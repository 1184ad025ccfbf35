// Integer kernels: every Highway target bit-exact against the scalar reference, over
// formulations, ranges, block run lengths, unaligned ranges and tails; worked numbers.
#include "coreai_opt/kernels/int.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/test_util.h"

namespace coreai_opt::kernels {
namespace {

using testing::edge_inputs;
using testing::same_bytes;
using testing::same_floats;

struct Range {
  std::int32_t qmin, qmax;
};
// int8, int8 clipped, uint8, int4, int4 clipped, uint4, int2, uint2.
const Range kRanges[] = {{-128, 127}, {-127, 127}, {0, 255}, {-8, 7},
                         {-7, 7},     {0, 15},     {-2, 1},  {0, 3}};

struct Case {
  std::vector<float> x, scale, minval;
  std::vector<std::int32_t> zp;
  IntQuantParams p;
};

// Parameters for n elements in blocks of run_length; every other block gets a power-of-two
// scale (exercising the exact-reciprocal path) and pow2 blocks see exact ties.
Case make_case(std::size_t n, std::size_t run_length, Range r, bool minval, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Case c;
  const std::size_t blocks = (n + run_length - 1) / run_length + 1;
  std::uniform_real_distribution<float> u(0.01f, 2.0f);
  std::uniform_int_distribution<std::int32_t> zp(r.qmin, r.qmax);
  std::uniform_int_distribution<int> e(-8, 2);
  for (std::size_t b = 0; b < blocks; ++b) {
    c.scale.push_back(b % 2 == 0 ? std::ldexp(1.0f, e(rng)) : u(rng));
    c.zp.push_back(zp(rng));
    c.minval.push_back(-u(rng) * 10.0f);
  }
  c.x = edge_inputs(n, c.scale[0], 20.0f * c.scale[1], seed + 1);
  c.p.scale = c.scale.data();
  c.p.zero_point = minval ? nullptr : c.zp.data();
  c.p.minval = minval ? c.minval.data() : nullptr;
  c.p.quant_min = r.qmin;
  c.p.quant_max = r.qmax;
  c.p.run_length = run_length;
  return c;
}

class IntKernels : public testing::PerTarget {};

TEST_P(IntKernels, BitExactWithReference) {
  const std::size_t sizes[] = {1, 2, 3, 7, 16, 17, 31, 33, 64, 65, 100, 257, 1000, 4099, 5000};
  std::uint32_t seed = 1;
  for (std::size_t n : sizes) {
    for (std::size_t run : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                            std::size_t{32}, std::size_t{33}, n}) {
      for (const Range& r : kRanges) {
        for (bool minval : {false, true}) {
          const Case c = make_case(n, run, r, minval, ++seed);
          // A sub-range starting at an even offset, and the whole array.
          for (const auto& [b, e] : {std::pair<std::size_t, std::size_t>{0, n},
                                     {std::min<std::size_t>(2, n), n - (n > 5 ? 1 : 0)}}) {
            SCOPED_TRACE(::testing::Message()
                         << "n=" << n << " run=" << run << " range=[" << r.qmin << "," << r.qmax
                         << "] minval=" << minval << " [" << b << "," << e << ")");
            std::vector<float> y_ref(n, -7.0f), y(n, -7.0f);
            std::vector<std::uint8_t> m_ref(n, 9), m(n, 9);
            reference::int_fake_quantize(c.x.data(), y_ref.data(), m_ref.data(), b, e, c.p);
            int_fake_quantize(c.x.data(), y.data(), m.data(), b, e, c.p);
            ASSERT_TRUE(same_floats(y_ref, y, &c.x));
            ASSERT_TRUE(same_bytes(m_ref, m));

            std::vector<std::uint8_t> q_ref(n, 0xAA), q(n, 0xAA);
            reference::int_quantize(c.x.data(), q_ref.data(), b, e, c.p);
            int_quantize(c.x.data(), q.data(), b, e, c.p);
            ASSERT_TRUE(same_bytes(q_ref, q));

            std::vector<float> d_ref(n, -7.0f), d(n, -7.0f);
            reference::int_dequantize(q_ref.data(), d_ref.data(), b, e, c.p);
            int_dequantize(q_ref.data(), d.data(), b, e, c.p);
            ASSERT_TRUE(same_floats(d_ref, d));

            if (r.qmax - r.qmin <= 15) {
              std::vector<std::uint8_t> pk_ref(n / 2 + 1, 0xAA), pk(n / 2 + 1, 0xAA);
              reference::int_quantize_packed4(c.x.data(), pk_ref.data(), b, e, c.p);
              int_quantize_packed4(c.x.data(), pk.data(), b, e, c.p);
              ASSERT_TRUE(same_bytes(pk_ref, pk));
              std::vector<float> u_ref(n, -7.0f), u(n, -7.0f);
              reference::int_dequantize_packed4(pk_ref.data(), u_ref.data(), b, e, c.p);
              int_dequantize_packed4(pk_ref.data(), u.data(), b, e, c.p);
              ASSERT_TRUE(same_floats(u_ref, u));
            }
          }
        }
      }
    }
  }
}

TEST_P(IntKernels, FakeQuantizeMatchesTheDequantizedCodes) {
  // fake_quantize == dequantize(quantize) wherever the input is not NaN.
  const Case c = make_case(3001, 32, {-8, 7}, false, 99);
  std::vector<float> y(c.x.size()), d(c.x.size());
  std::vector<std::uint8_t> q(c.x.size());
  int_fake_quantize(c.x.data(), y.data(), nullptr, 0, c.x.size(), c.p);
  int_quantize(c.x.data(), q.data(), 0, c.x.size(), c.p);
  int_dequantize(q.data(), d.data(), 0, c.x.size(), c.p);
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    if (!std::isnan(c.x[i])) {
      ASSERT_TRUE(testing::same_float(y[i], d[i])) << i;
    }
  }
}

COREAI_OPT_INSTANTIATE_PER_TARGET(IntKernels);

TEST(IntReference, Int8SymmetricWorkedNumbers) {
  // Reference §2.9: int8 symmetric over [-1, 0, 3] -> s = 3 / 127.5, zp 0. +amax lands on
  // 127.5, rounds (half to even) to 128 and clips to 127 with mask 0; -1 -> -42.5 -> -42.
  const float s = 3.0f / 127.5f;
  const std::vector<float> x = {-1.0f, 0.0f, 3.0f, -3.0f};
  IntQuantParams p;
  p.scale = &s;
  p.run_length = x.size();
  std::vector<float> y(4);
  std::vector<std::uint8_t> m(4), q(4);
  reference::int_fake_quantize(x.data(), y.data(), m.data(), 0, 4, p);
  reference::int_quantize(x.data(), q.data(), 0, 4, p);
  EXPECT_EQ(static_cast<std::int8_t>(q[0]), -42);
  EXPECT_EQ(static_cast<std::int8_t>(q[1]), 0);
  EXPECT_EQ(static_cast<std::int8_t>(q[2]), 127);
  EXPECT_EQ(static_cast<std::int8_t>(q[3]), -128);
  EXPECT_EQ(y[0], -42.0f * s);
  EXPECT_EQ(y[2], 127.0f * s);
  EXPECT_EQ(y[3], -128.0f * s);
  EXPECT_EQ(m, (std::vector<std::uint8_t>{1, 1, 0, 1}));
}

TEST(IntReference, MinvalCoversTheSymmetricRangeExactly) {
  // Symmetric MINVAL over [-3, 3] with int8: minval -3, s = 3 / 127.5; codes -128..127
  // map back to [-3, 3]; +3 -> (3 + 3) / s - 128 = 127.
  const float s = 3.0f / 127.5f, mv = -3.0f;
  IntQuantParams p;
  p.scale = &s;
  p.minval = &mv;
  p.run_length = 2;
  const std::vector<float> x = {-3.0f, 3.0f};
  std::vector<std::uint8_t> q(2), m(2);
  std::vector<float> y(2);
  reference::int_quantize(x.data(), q.data(), 0, 2, p);
  reference::int_fake_quantize(x.data(), y.data(), m.data(), 0, 2, p);
  EXPECT_EQ(static_cast<std::int8_t>(q[0]), -128);
  EXPECT_EQ(static_cast<std::int8_t>(q[1]), 127);
  EXPECT_EQ(y[0], -3.0f);
  EXPECT_EQ(y[1], 255.0f * s + mv);
  EXPECT_EQ(m, (std::vector<std::uint8_t>{1, 1}));
}

TEST(IntReference, NaNKeepsNaNAndQuantizesToTheOffset) {
  const float s = 0.5f;
  const std::int32_t zp = 3;
  IntQuantParams p;
  p.scale = &s;
  p.zero_point = &zp;
  p.quant_min = 0;
  p.quant_max = 15;
  p.run_length = 1;
  const float x = std::nanf("");
  float y = 0;
  std::uint8_t m = 7, q = 0;
  reference::int_fake_quantize(&x, &y, &m, 0, 1, p);
  reference::int_quantize(&x, &q, 0, 1, p);
  EXPECT_TRUE(std::isnan(y));
  EXPECT_EQ(m, 0);
  EXPECT_EQ(q, 3);
}

TEST(IntReference, PacksInt4LowNibbleFirst) {
  const float s = 1.0f;
  IntQuantParams p;
  p.scale = &s;
  p.quant_min = -8;
  p.quant_max = 7;
  p.run_length = 5;
  const std::vector<float> x = {1.0f, -1.0f, -8.0f, 7.0f, 2.0f};
  std::vector<std::uint8_t> packed(3, 0xAA);
  reference::int_quantize_packed4(x.data(), packed.data(), 0, 5, p);
  EXPECT_EQ(packed, (std::vector<std::uint8_t>{0xF1, 0x78, 0x02}));
  std::vector<float> y(5);
  reference::int_dequantize_packed4(packed.data(), y.data(), 0, 5, p);
  EXPECT_EQ(y, x);
}

}  // namespace
}  // namespace coreai_opt::kernels
