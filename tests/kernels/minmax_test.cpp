// Per-block min/max: every Highway target bit-exact against the reference, NaN
// propagation, signed zeros, accumulation across calls.
#include "coreai_opt/kernels/minmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/test_util.h"

namespace coreai_opt::kernels {
namespace {

using testing::same_floats;
constexpr float kInf = std::numeric_limits<float>::infinity();

class MinMaxKernels : public testing::PerTarget {};

TEST_P(MinMaxKernels, BitExactWithReference) {
  std::uint32_t seed = 7000;
  for (std::size_t n : {1, 2, 7, 16, 17, 63, 64, 65, 130, 1000, 4099}) {
    for (std::size_t run : {std::size_t{1}, std::size_t{3}, std::size_t{32}, std::size_t{33}, n}) {
      for (int variant = 0; variant < 3; ++variant) {
        std::mt19937 rng(++seed);
        std::vector<float> x(n);
        std::normal_distribution<float> g(0.0f, 5.0f);
        for (auto& v : x) v = g(rng);
        if (variant >= 1) {  // signed zeros and occasional NaN / inf
          for (std::size_t i = 0; i < n; i += 3) x[i] = (i % 2) ? -0.0f : 0.0f;
        }
        if (variant == 2) {
          x[rng() % n] = std::nanf("");
          x[rng() % n] = -kInf;
        }
        const std::size_t blocks = (n + run - 1) / run;
        for (const auto& [b, e] : {std::pair<std::size_t, std::size_t>{0, n}, {n / 3, n}}) {
          std::vector<float> mn_ref(blocks, kInf), mx_ref(blocks, -kInf);
          std::vector<float> mn(blocks, kInf), mx(blocks, -kInf);
          reference::minmax_update(x.data(), b, e, run, mn_ref.data(), mx_ref.data());
          minmax_update(x.data(), b, e, run, mn.data(), mx.data());
          SCOPED_TRACE(::testing::Message() << "n=" << n << " run=" << run << " variant=" << variant
                                            << " [" << b << "," << e << ")");
          ASSERT_TRUE(same_floats(mn_ref, mn));
          ASSERT_TRUE(same_floats(mx_ref, mx));
          // A second call accumulates into the same arrays.
          reference::minmax_update(x.data(), b, e, run, mn_ref.data(), mx_ref.data());
          minmax_update(x.data(), b, e, run, mn.data(), mx.data());
          ASSERT_TRUE(same_floats(mn_ref, mn));
          ASSERT_TRUE(same_floats(mx_ref, mx));
        }
      }
    }
  }
}

COREAI_OPT_INSTANTIATE_PER_TARGET(MinMaxKernels);

TEST(MinMaxReference, ValuesNaNAndZeros) {
  const std::vector<float> x = {3, -1, 2, 5, -0.0f, 0.0f, -0.0f, 1, 4, std::nanf(""), 0, 0};
  std::vector<float> mn(3, kInf), mx(3, -kInf);
  reference::minmax_update(x.data(), 0, 12, 4, mn.data(), mx.data());
  EXPECT_EQ(mn[0], -1.0f);
  EXPECT_EQ(mx[0], 5.0f);
  EXPECT_EQ(testing::bits_of(mn[1]), 0u);  // +0
  EXPECT_EQ(mx[1], 1.0f);
  EXPECT_TRUE(std::isnan(mn[2]));
  EXPECT_TRUE(std::isnan(mx[2]));
}

}  // namespace
}  // namespace coreai_opt::kernels
