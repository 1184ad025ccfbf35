// fp4 e2m1 and MXFP4 kernels: every Highway target bit-exact against the reference, the
// worked numbers of reference §2.9, NaN / infinity / zero blocks.
#include "coreai_opt/format/fp4.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/kernels/fp4.h"
#include "kernels/test_util.h"

namespace coreai_opt::kernels {
namespace {

using testing::edge_inputs;
using testing::same_bytes;
using testing::same_floats;

class Fp4Kernels : public testing::PerTarget {};

TEST_P(Fp4Kernels, FloatScaleBitExactWithReference) {
  std::uint32_t seed = 500;
  for (std::size_t n : {1, 2, 5, 16, 17, 33, 64, 255, 1024, 4097}) {
    for (std::size_t run : {std::size_t{1}, std::size_t{3}, std::size_t{32}, n}) {
      std::mt19937 rng(++seed);
      std::vector<float> scale;
      for (std::size_t b = 0; b <= n / run + 1; ++b) {
        scale.push_back(b % 2 == 0 ? std::ldexp(1.0f, static_cast<int>(rng() % 10) - 5)
                                   : std::uniform_real_distribution<float>(0.05f, 2.0f)(rng));
      }
      const std::vector<float> x = edge_inputs(n, 0.25f * scale[0], 4.0f * scale[1], seed);
      const FloatQuantParams p{scale.data(), run};
      SCOPED_TRACE(::testing::Message() << "n=" << n << " run=" << run);
      std::vector<float> y_ref(n, -1), y(n, -1);
      std::vector<std::uint8_t> m_ref(n, 9), m(n, 9);
      reference::fp4_fake_quantize(x.data(), y_ref.data(), m_ref.data(), 0, n, p);
      fp4_fake_quantize(x.data(), y.data(), m.data(), 0, n, p);
      ASSERT_TRUE(same_floats(y_ref, y, &x));
      ASSERT_TRUE(same_bytes(m_ref, m));
      for (std::size_t b : {std::size_t{0}, std::size_t{2}}) {
        if (b > n) continue;
        std::vector<std::uint8_t> q_ref(n / 2 + 1, 0xAA), q(n / 2 + 1, 0xAA);
        reference::fp4_quantize_packed(x.data(), q_ref.data(), b, n, p);
        fp4_quantize_packed(x.data(), q.data(), b, n, p);
        ASSERT_TRUE(same_bytes(q_ref, q));
        std::vector<float> d_ref(n, -1), d(n, -1);
        reference::fp4_dequantize_packed(q_ref.data(), d_ref.data(), b, n, p);
        fp4_dequantize_packed(q_ref.data(), d.data(), b, n, p);
        ASSERT_TRUE(same_floats(d_ref, d));
      }
    }
  }
}

TEST_P(Fp4Kernels, Mxfp4BitExactWithReference) {
  std::uint32_t seed = 900;
  for (std::size_t block : {std::size_t{32}, std::size_t{2}, std::size_t{48}, std::size_t{4096}}) {
    for (std::size_t blocks : {1, 2, 3, 31, 70}) {
      const std::size_t n = block * blocks;
      std::mt19937 rng(++seed);
      std::vector<float> x = edge_inputs(n, 0.125f, 3.0f, seed);
      // Blocks of every magnitude: scale each block by a random power of two, including
      // ones that push amax to the float extremes.
      for (std::size_t b = 0; b < blocks; ++b) {
        const int e = static_cast<int>(rng() % 250) - 125;
        for (std::size_t i = 0; i < block; ++i) x[b * block + i] = std::ldexp(x[b * block + i], e);
        if (b % 7 == 3) std::fill(x.begin() + b * block, x.begin() + (b + 1) * block, 0.0f);
      }
      SCOPED_TRACE(::testing::Message() << "block=" << block << " blocks=" << blocks);
      std::vector<std::uint8_t> q_ref(n / 2, 0xAA), q(n / 2, 0xAA), s_ref(blocks, 7), s(blocks, 7);
      reference::mxfp4_quantize(x.data(), q_ref.data(), s_ref.data(), 0, n, block);
      mxfp4_quantize(x.data(), q.data(), s.data(), 0, n, block);
      ASSERT_TRUE(same_bytes(s_ref, s));
      ASSERT_TRUE(same_bytes(q_ref, q));
      std::vector<float> d_ref(n), d(n);
      reference::mxfp4_dequantize(q_ref.data(), s_ref.data(), d_ref.data(), 0, n, block);
      mxfp4_dequantize(q_ref.data(), s_ref.data(), d.data(), 0, n, block);
      ASSERT_TRUE(same_floats(d_ref, d));
      if (blocks >= 3) {  // a range of whole blocks in the middle
        std::vector<std::uint8_t> q2(n / 2, 0xAA), s2(blocks, 7);
        mxfp4_quantize(x.data(), q2.data(), s2.data(), block, 2 * block, block);
        for (std::size_t i = block / 2; i < block; ++i) ASSERT_EQ(q2[i], q_ref[i]);
        ASSERT_EQ(s2[1], s_ref[1]);
        ASSERT_EQ(s2[0], 7);
      }
    }
  }
}

TEST_P(Fp4Kernels, Mxfp4DecodesEveryScaleCode) {
  // All 256 scale codes (including 0 = 2^-127 and the NaN code) times all 16 element codes.
  std::vector<std::uint8_t> packed(256 * 16), scales(256);
  for (int s = 0; s < 256; ++s) {
    scales[s] = static_cast<std::uint8_t>(s);
    for (int j = 0; j < 16; ++j) {
      packed[s * 16 + j] =
          pack_nibbles(static_cast<std::uint8_t>(j), static_cast<std::uint8_t>(15 - j));
    }
  }
  std::vector<float> ref(256 * 32), y(256 * 32);
  reference::mxfp4_dequantize(packed.data(), scales.data(), ref.data(), 0, ref.size(), 32);
  mxfp4_dequantize(packed.data(), scales.data(), y.data(), 0, y.size(), 32);
  ASSERT_TRUE(same_floats(ref, y));
  EXPECT_EQ(ref[127 * 32 + 1], -6.0f);  // scale 1: element 1 = high nibble of byte 0 = 0xF
  EXPECT_EQ(ref[127 * 32 + 2], 0.5f);   // element 2 = low nibble of byte 1 = code 1
  EXPECT_TRUE(std::isnan(ref[255 * 32]));
}

COREAI_OPT_INSTANTIATE_PER_TARGET(Fp4Kernels);

TEST(Mxfp4Reference, WorkedNumbers) {
  // Reference §2.9: the 4x5 matrix has amax 500 -> scale 64 for one block of 20.
  const std::vector<float> x = {1,   2,   0,   4,   5,   10,    20,   -30,  40,    50,
                                100, 200, 300, 400, 500, -0.1f, 0.2f, 0.3f, -0.4f, 0.5f};
  std::vector<std::uint8_t> q(10), s(1);
  reference::mxfp4_quantize(x.data(), q.data(), s.data(), 0, 20, 20);
  EXPECT_EQ(e8m0_to_float(s[0]), 64.0f);
  const std::vector<float> expected = {0,    0, 0, 0, 0, 0, 0.5f, -0.5f, 0.5f, 1,
                                       1.5f, 3, 4, 6, 6, 0, 0,    0,     0,    0};
  for (int i = 0; i < 20; ++i) {
    const std::uint8_t b = q[i / 2];
    EXPECT_EQ(e2m1_to_float(i % 2 == 0 ? low_nibble(b) : high_nibble(b)), expected[i]) << i;
  }
  std::vector<float> y(20);
  reference::mxfp4_dequantize(q.data(), s.data(), y.data(), 0, 20, 20);
  EXPECT_EQ(y[14], 384.0f);  // 500 saturates to 6 * 64
  // [-3, 0, 3] -> scale 2^(1-2) = 0.5, 3 / 0.5 = 6.
  const std::vector<float> small = {-3, 0, 3, 0};
  reference::mxfp4_quantize(small.data(), q.data(), s.data(), 0, 4, 4);
  EXPECT_EQ(e8m0_to_float(s[0]), 0.5f);
  EXPECT_EQ(q[0], pack_nibbles(0xF, 0x0));
  EXPECT_EQ(q[1], pack_nibbles(0x7, 0x0));
}

TEST(Mxfp4Reference, NonFiniteBlocksGetTheNaNScale) {
  std::vector<float> x(64, 1.0f);
  x[5] = std::numeric_limits<float>::infinity();
  x[40] = std::nanf("");
  std::vector<std::uint8_t> q(32), s(2);
  reference::mxfp4_quantize(x.data(), q.data(), s.data(), 0, 64, 32);
  EXPECT_EQ(s[0], kE8M0NaN);
  EXPECT_EQ(s[1], kE8M0NaN);
  std::vector<float> y(64);
  reference::mxfp4_dequantize(q.data(), s.data(), y.data(), 0, 64, 32);
  EXPECT_TRUE(std::isnan(y[0]));
  std::vector<float> zeros(32, 0.0f);
  reference::mxfp4_quantize(zeros.data(), q.data(), s.data(), 0, 32, 32);
  EXPECT_EQ(s[0], 1);  // the 2^-126 floor
}

}  // namespace
}  // namespace coreai_opt::kernels
