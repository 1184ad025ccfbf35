// The CUDA kernels' element codecs (src/kernels/cuda/minifloat.cuh) compiled for the host
// and compared with the scalar specification (format/fp8.h, fp4.h, e8m0.h). No device
// needed; the device side (native conversions == these codecs for all 2^32 floats) is in
// exhaustive_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/format/fp4.h"
#include "coreai_opt/format/fp8.h"
#include "cuda/cuda_test_util.h"
#include "kernels/cuda/minifloat.cuh"

namespace coreai_opt::kernels::cuda {
namespace {

using testing::bits_of;
using testing::float_of;

/// Every sign and exponent with all values of the top 12 mantissa bits, each with the low 11
/// bits 0, 1, all ones and random: every tie and every neighbour of a tie or of a binade edge
/// of these formats (whose decisions depend on at most the top 4 mantissa bits below the
/// kept ones, or on exact powers of two). 8M inputs per format.
template <class F, bool kKernelEncoder = false>
void expect_encode_matches(const MiniFloatFormat& spec) {
  std::mt19937 rng(3);
  std::size_t checked = 0;
  for (std::uint32_t se = 0; se < 512; ++se) {
    for (std::uint32_t top = 0; top < 4096; ++top) {
      const std::uint32_t lows[] = {0u, 1u, 0x7FFu, static_cast<std::uint32_t>(rng()) & 0x7FFu};
      for (std::uint32_t low : lows) {
        const std::uint32_t u = (se << 23) | (top << 11) | low;
        const float x = float_of(u);
        const std::uint8_t want = minifloat_encode(x, spec);
        const std::uint8_t got =
            kKernelEncoder ? detail::encode<F>(x) : detail::soft_encode<F>(x);
        ASSERT_EQ(int{got}, int{want}) << "input " << x << " (0x" << std::hex << u << ")";
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, std::size_t{512} * 4096 * 4);
}

TEST(CudaCodec, E4M3EncodeEqualsSpecification) {
  expect_encode_matches<detail::E4M3>(kE4M3FNFormat);
}
TEST(CudaCodec, E5M2EncodeEqualsSpecification) {
  expect_encode_matches<detail::E5M2>(kE5M2Format);
}
TEST(CudaCodec, E2M1EncodeEqualsSpecification) {
  expect_encode_matches<detail::E2M1>(kE2M1Format);
}
// The kernels' e2m1 encoder (comparisons with the grid's midpoints; the host and the device
// compile the same code) against the specification.
TEST(CudaCodec, E2M1KernelEncoderEqualsSpecification) {
  expect_encode_matches<detail::E2M1, true>(kE2M1Format);
}

template <class F>
void expect_decode_matches(const MiniFloatFormat& spec, int codes) {
  for (int c = 0; c < codes; ++c) {
    const float want = minifloat_decode(static_cast<std::uint8_t>(c), spec);
    const float got = detail::soft_decode<F>(static_cast<std::uint32_t>(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "code " << c;
    } else {
      EXPECT_EQ(bits_of(got), bits_of(want)) << "code " << c;
    }
  }
}

TEST(CudaCodec, DecodeEqualsSpecificationForEveryCode) {
  expect_decode_matches<detail::E4M3>(kE4M3FNFormat, 256);
  expect_decode_matches<detail::E5M2>(kE5M2Format, 256);
  expect_decode_matches<detail::E2M1>(kE2M1Format, 16);
}

TEST(CudaCodec, NaNCodesKeepTheSign) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(detail::soft_encode<detail::E4M3>(nan), 0x7F);
  EXPECT_EQ(detail::soft_encode<detail::E4M3>(-nan), 0xFF);
  EXPECT_EQ(detail::soft_encode<detail::E5M2>(-nan), 0xFF);
  EXPECT_EQ(detail::soft_encode<detail::E2M1>(-nan), 0x0);
}

TEST(CudaCodec, E8M0ScaleCodeEqualsSpecification) {
  // Every exponent field with a few mantissas, both signs of zero, infinities and NaN.
  for (std::uint32_t e = 0; e < 256; ++e) {
    for (std::uint32_t m : {0u, 1u, 0x400000u, 0x7FFFFFu}) {
      const float amax = float_of((e << 23) | m);
      for (int emax : {2, 8, 15}) {
        ASSERT_EQ(int{detail::e8m0_code(amax, emax)}, int{e8m0_scale_code(amax, emax)})
            << amax << " emax " << emax;
      }
    }
  }
}

TEST(CudaCodec, E8M0ValueAndReciprocal) {
  for (std::uint32_t c = 0; c < 256; ++c) {
    const float want = e8m0_to_float(static_cast<std::uint8_t>(c));
    const float got = detail::e8m0_value(c);
    if (c == 0xFF) {
      EXPECT_TRUE(std::isnan(got));
      EXPECT_TRUE(std::isnan(detail::e8m0_reciprocal(c)));
    } else {
      EXPECT_EQ(bits_of(got), bits_of(want)) << "code " << c;
    }
    if (c >= 1 && c <= 252) {
      EXPECT_EQ(detail::e8m0_reciprocal(c) * want, 1.0f) << "code " << c;
    }
  }
  // The codes e8m0_code produces for finite amax are within 1..252.
  EXPECT_EQ(detail::e8m0_code(std::numeric_limits<float>::max(), 2), 252);
  EXPECT_EQ(detail::e8m0_code(0.0f, 2), 1);
}

}  // namespace
}  // namespace coreai_opt::kernels::cuda
