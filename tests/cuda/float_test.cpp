// CUDA fp8 (e4m3fn, e5m2), fp4 e2m1 and MXFP4 kernels bit-exact against reference::fp8_*,
// fp4_* and mxfp4_*: every granularity, float32 / bfloat16 / float16 inputs, all codes,
// ties, NaN / Inf, odd sizes and misaligned pointers. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <random>
#include <tuple>
#include <utility>

#include "coreai_opt/format/fp4.h"
#include "coreai_opt/kernels/fp4.h"
#include "coreai_opt/kernels/fp8.h"
#include "cuda/cuda_test_util.h"

namespace coreai_opt::kernels::cuda {
namespace {

using namespace testing;  // NOLINT: test helpers

float max_of(DType d) { return static_cast<float>(quant_range(d, QuantizationScheme::kSymmetric).qmax); }

class CudaFloat : public ::testing::TestWithParam<std::tuple<ElementType, DType>> {
 protected:
  void SetUp() override { COREAI_OPT_REQUIRE_CUDA_DEVICE(); }
};

std::string float_param_name(const ::testing::TestParamInfo<CudaFloat::ParamType>& info) {
  return std::string(type_name(std::get<0>(info.param))) + "_" +
         std::string(dtype_name(std::get<1>(info.param)));
}

/// One shape and granularity: fake-quantize, quantize and dequantize against the reference.
void check_case(ElementType t, DType dtype, const std::vector<std::int64_t>& shape,
                const std::vector<std::int64_t>& block, std::mt19937& rng, std::size_t offset) {
  const bool fp4 = dtype == DType::kFloat4E2M1FNx2;
  const BlockwiseView view(shape, block);
  const ParamLayout layout = make_param_layout(view);
  const auto n = static_cast<std::size_t>(view.numel());
  const float fmax = max_of(dtype);
  std::vector<float> scale;
  std::uniform_real_distribution<float> log_scale(-20.0f, 10.0f);
  std::uniform_int_distribution<int> coin(0, 2), exponent(-20, 10);
  for (std::int64_t i = 0; i < view.num_params(); ++i) {
    scale.push_back(coin(rng) == 0 ? std::exp2(log_scale(rng)) : std::ldexp(1.0f, exponent(rng)));
  }
  std::vector<float> x0(n);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i) {
    const float s = scale[static_cast<std::size_t>(view.param_index(static_cast<std::int64_t>(i)))];
    // Half the inputs sit on the format's grid neighbourhood: decode a random code and nudge.
    if (coin(rng) == 0) {
      const auto c = static_cast<std::uint8_t>(rng() & (fp4 ? 0xF : 0xFF));
      float v = fp4 ? e2m1_to_float(c)
                    : (dtype == DType::kFloat8E5M2 ? e5m2_to_float(c) : e4m3fn_to_float(c));
      const int nudge = std::uniform_int_distribution<int>(-1, 1)(rng);
      if (nudge != 0 && std::isfinite(v)) v = std::nextafter(v, static_cast<float>(nudge) * 1e30f);
      x0[i] = v * s;
    } else {
      x0[i] = edge_value(rng, s * (fp4 ? 0.5f : 0.125f), fmax * (fp4 ? 2.0f : 8.0f));
    }
  }
  const TypedArray x = make_typed(t, x0);
  std::vector<std::uint8_t> any_codes(n);
  for (auto& c : any_codes) c = static_cast<std::uint8_t>(rng());

  std::vector<float> y_ref(n), deq_ref(n);
  std::vector<std::uint8_t> mask_ref(n), codes_ref(n), packed_ref((n + 1) / 2, 0);
  std::vector<std::uint8_t> packed_in(packed_ref.size());
  for (auto& c : packed_in) c = static_cast<std::uint8_t>(rng());
  if (n % 2 == 1) packed_in.back() &= 0x0F;
  for_each_segment(view, [&](std::int64_t, std::int64_t e0, std::int64_t p0, std::int64_t run,
                             std::int64_t seg) {
    const auto e = static_cast<std::size_t>(e0);
    const auto len = static_cast<std::size_t>(seg);
    const FloatQuantParams fp{scale.data() + p0, static_cast<std::size_t>(run)};
    if (fp4) {
      reference::fp4_fake_quantize(x.value.data() + e, y_ref.data() + e, mask_ref.data() + e, 0,
                                   len, fp);
      // Codes element by element (the packer needs an even begin), then packed globally.
      for (std::size_t j = 0; j < len; ++j) {
        std::uint8_t one = 0;
        const FloatQuantParams f1{scale.data() + p0 + static_cast<std::int64_t>(j) / run, 1};
        reference::fp4_quantize_packed(x.value.data() + e + j, &one, 0, 1, f1);
        codes_ref[e + j] = one;
        const std::uint8_t b = packed_in[(e + j) / 2];
        const std::uint8_t nib = (e + j) % 2 == 0 ? low_nibble(b) : high_nibble(b);
        reference::fp4_dequantize_packed(&nib, deq_ref.data() + e + j, 0, 1, f1);
      }
    } else {
      reference::fp8_fake_quantize(dtype, x.value.data() + e, y_ref.data() + e,
                                   mask_ref.data() + e, 0, len, fp);
      reference::fp8_quantize(dtype, x.value.data() + e, codes_ref.data() + e, 0, len, fp);
      reference::fp8_dequantize(dtype, any_codes.data() + e, deq_ref.data() + e, 0, len, fp);
    }
  });
  if (fp4) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t c = codes_ref[i] & 0x0F;
      packed_ref[i / 2] = static_cast<std::uint8_t>(packed_ref[i / 2] | (i % 2 ? c << 4 : c));
    }
    if (view.num_segments() == 1) {
      std::vector<std::uint8_t> direct(packed_ref.size());
      reference::fp4_quantize_packed(x.value.data(), direct.data(), 0, n,
                                     {scale.data(), static_cast<std::size_t>(view.run_length())});
      ASSERT_TRUE(same_bytes(direct, packed_ref));
    }
  }

  const std::size_t es = element_size(t);
  const Staged dx(x.bits, offset * es);
  const Staged dscale(scale);
  const Staged dy = Staged::output(n * es, offset * es);
  const Staged dmask = Staged::output(n, offset);
  ASSERT_TRUE(dx.ok() && dscale.ok() && dy.ok() && dmask.ok());
  const float* s = dscale.as<float>();
  if (fp4) {
    const Staged dpacked = Staged::output(packed_ref.size(), offset);
    const Staged dpin(packed_in, offset);
    const Staged ddeq = Staged::output(n * es, offset * es);
    COREAI_OPT_CUDA_OK(fp4_fake_quantize(t, dx.ptr(), dy.ptr(), dmask.as<std::uint8_t>(), layout, s, nullptr));
    COREAI_OPT_CUDA_OK(fp4_quantize_packed(t, dx.ptr(), dpacked.as<std::uint8_t>(), layout, s, nullptr));
    COREAI_OPT_CUDA_OK(fp4_dequantize_packed(t, dpin.as<std::uint8_t>(), ddeq.ptr(), layout, s, nullptr));
    COREAI_OPT_CUDA_OK(sync());
    EXPECT_TRUE(same_bytes(packed_ref, dpacked.get())) << "fp4_quantize_packed";
    EXPECT_TRUE(same_typed(t, deq_ref, ddeq.get())) << "fp4_dequantize_packed";
  } else {
    const Staged dcodes = Staged::output(n, offset);
    const Staged dany(any_codes, offset);
    const Staged ddeq = Staged::output(n * es, offset * es);
    COREAI_OPT_CUDA_OK(fp8_fake_quantize(dtype, t, dx.ptr(), dy.ptr(), dmask.as<std::uint8_t>(), layout, s, nullptr));
    COREAI_OPT_CUDA_OK(fp8_quantize(dtype, t, dx.ptr(), dcodes.as<std::uint8_t>(), layout, s, nullptr));
    COREAI_OPT_CUDA_OK(fp8_dequantize(dtype, t, dany.as<std::uint8_t>(), ddeq.ptr(), layout, s, nullptr));
    COREAI_OPT_CUDA_OK(sync());
    EXPECT_TRUE(same_bytes(codes_ref, dcodes.get())) << "fp8_quantize";
    EXPECT_TRUE(same_typed(t, deq_ref, ddeq.get())) << "fp8_dequantize";
  }
  EXPECT_TRUE(same_typed(t, y_ref, dy.get(), &x.value)) << "fake_quantize";
  EXPECT_TRUE(same_bytes(mask_ref, dmask.get())) << "fake_quantize mask";
}

TEST_P(CudaFloat, EveryKernelBitExactOnEveryGranularity) {
  const auto [t, dtype] = GetParam();
  std::mt19937 rng(777u + static_cast<unsigned>(dtype) * 31u + static_cast<unsigned>(t));
  for (const auto& shape : test_shapes()) {
    for (const auto& [name, block] : granularities(shape, rng)) {
      SCOPED_TRACE(name + " of " + shape_string(shape) + " blocks " + shape_string(block));
      ASSERT_NO_FATAL_FAILURE(check_case(t, dtype, shape, block, rng, 0));
    }
  }
}

TEST_P(CudaFloat, MisalignedPointersTakeTheElementPath) {
  const auto [t, dtype] = GetParam();
  std::mt19937 rng(5u + static_cast<unsigned>(dtype));
  for (const auto& shape : std::vector<std::vector<std::int64_t>>{{64, 96}, {4099}}) {
    for (const auto& [name, block] : granularities(shape, rng)) {
      SCOPED_TRACE(name + " of " + shape_string(shape) + " at offset 1");
      ASSERT_NO_FATAL_FAILURE(check_case(t, dtype, shape, block, rng, 1));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CudaFloat,
                         ::testing::Combine(::testing::ValuesIn(kAllElementTypes),
                                            ::testing::Values(DType::kFloat8E4M3FN,
                                                              DType::kFloat8E5M2,
                                                              DType::kFloat4E2M1FNx2)),
                         float_param_name);

/// Every code of both fp8 formats through the dequantizer and back through the quantizer,
/// with scale 1: decode is exact and encode(decode(c)) == c for every non-NaN code.
TEST(CudaFp8Codes, AllCodesRoundTrip) {
  COREAI_OPT_REQUIRE_CUDA_DEVICE();
  for (DType d : {DType::kFloat8E4M3FN, DType::kFloat8E5M2}) {
    std::vector<std::uint8_t> codes(256);
    for (int c = 0; c < 256; ++c) codes[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c);
    const std::vector<float> one = {1.0f};
    std::vector<float> want(256);
    std::vector<std::uint8_t> want_back(256);
    reference::fp8_dequantize(d, codes.data(), want.data(), 0, 256, {one.data(), 256});
    reference::fp8_quantize(d, want.data(), want_back.data(), 0, 256, {one.data(), 256});
    // The quantizer reads the reference's decoded values (NaNs with their signs).
    const Staged dcodes(codes), dscale(one), dvalues(want);
    const Staged dy = Staged::output(256 * 4), dback = Staged::output(256);
    const ParamLayout l = runs_layout(256, 256);
    COREAI_OPT_CUDA_OK(fp8_dequantize(d, ElementType::kFloat32, dcodes.as<std::uint8_t>(), dy.ptr(), l, dscale.as<float>(), nullptr));
    COREAI_OPT_CUDA_OK(fp8_quantize(d, ElementType::kFloat32, dvalues.ptr(), dback.as<std::uint8_t>(), l, dscale.as<float>(), nullptr));
    COREAI_OPT_CUDA_OK(sync());
    EXPECT_TRUE(same_floats(want, dy.get_floats())) << dtype_name(d);
    EXPECT_TRUE(same_bytes(want_back, dback.get())) << dtype_name(d);
  }
}

// ------------------------------------------------------------------------------ MXFP4

class CudaMxfp4 : public ::testing::TestWithParam<ElementType> {
 protected:
  void SetUp() override { COREAI_OPT_REQUIRE_CUDA_DEVICE(); }
};

std::vector<float> mx_inputs(std::size_t n, std::size_t block, std::mt19937& rng) {
  std::vector<float> x(n);
  std::uniform_int_distribution<int> exponent(-140, 125), kind(0, 9);
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const float unit = std::ldexp(1.0f, exponent(rng));
    const int k = kind(rng);
    for (std::size_t i = b0; i < b0 + block; ++i) {
      x[i] = k == 0 ? 0.0f : edge_value(rng, unit * 0.5f, 12.0f);
    }
    if (k == 1) x[b0 + block / 2] = std::numeric_limits<float>::quiet_NaN();
    if (k == 2) x[b0] = -std::numeric_limits<float>::infinity();
    if (k == 3) x[b0 + 1] = std::numeric_limits<float>::max();
  }
  return x;
}

void check_mx(ElementType t, std::size_t n, std::size_t block, std::mt19937& rng,
              std::size_t offset) {
  const TypedArray x = make_typed(t, mx_inputs(n, block, rng));
  std::vector<std::uint8_t> packed_ref(n / 2), scales_ref(n / block);
  reference::mxfp4_quantize(x.value.data(), packed_ref.data(), scales_ref.data(), 0, n, block);
  std::vector<std::uint8_t> packed_in(n / 2), scales_in(n / block);
  for (auto& b : packed_in) b = static_cast<std::uint8_t>(rng());
  for (auto& b : scales_in) {
    const std::uint8_t specials[] = {0, 1, 127, 254, 255};
    b = rng() % 4 == 0 ? specials[rng() % 5] : static_cast<std::uint8_t>(rng());
  }
  std::vector<float> deq_ref(n);
  reference::mxfp4_dequantize(packed_in.data(), scales_in.data(), deq_ref.data(), 0, n, block);

  const std::size_t es = element_size(t);
  const Staged dx(x.bits, offset * es);
  const Staged dpacked = Staged::output(n / 2, offset), dscales = Staged::output(n / block);
  const Staged dpin(packed_in, offset), dsin(scales_in);
  const Staged dy = Staged::output(n * es, offset * es);
  ASSERT_TRUE(dx.ok() && dpacked.ok() && dscales.ok() && dpin.ok() && dsin.ok() && dy.ok());
  const auto nn = static_cast<std::int64_t>(n), bb = static_cast<std::int64_t>(block);
  COREAI_OPT_CUDA_OK(mxfp4_quantize(t, dx.ptr(), dpacked.as<std::uint8_t>(), dscales.as<std::uint8_t>(), nn, bb, nullptr));
  COREAI_OPT_CUDA_OK(mxfp4_dequantize(t, dpin.as<std::uint8_t>(), dsin.as<std::uint8_t>(), dy.ptr(), nn, bb, nullptr));
  COREAI_OPT_CUDA_OK(sync());
  EXPECT_TRUE(same_bytes(scales_ref, dscales.get())) << "mxfp4 scale codes";
  EXPECT_TRUE(same_bytes(packed_ref, dpacked.get())) << "mxfp4 packed codes";
  EXPECT_TRUE(same_typed(t, deq_ref, dy.get())) << "mxfp4_dequantize";
}

TEST_P(CudaMxfp4, Block32BitExact) {
  std::mt19937 rng(2024u + static_cast<unsigned>(GetParam()));
  for (std::size_t n : {std::size_t{32}, std::size_t{64}, std::size_t{32 * 33}, std::size_t{32 * 1001},
                        std::size_t{1} << 18}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    ASSERT_NO_FATAL_FAILURE(check_mx(GetParam(), n, 32, rng, 0));
  }
}

TEST_P(CudaMxfp4, OtherBlockSizes) {
  std::mt19937 rng(77u + static_cast<unsigned>(GetParam()));
  for (std::size_t block : {2, 4, 6, 16, 64, 96}) {
    SCOPED_TRACE("block " + std::to_string(block));
    ASSERT_NO_FATAL_FAILURE(check_mx(GetParam(), block * 37, block, rng, 0));
  }
}

TEST_P(CudaMxfp4, Block32Misaligned) {
  std::mt19937 rng(78u + static_cast<unsigned>(GetParam()));
  ASSERT_NO_FATAL_FAILURE(check_mx(GetParam(), 32 * 65, 32, rng, 1));
}

INSTANTIATE_TEST_SUITE_P(All, CudaMxfp4, ::testing::ValuesIn(kAllElementTypes),
                         element_type_param_name);

TEST(CudaMxfp4Arguments, RejectsBadBlockSizes) {
  // The checks come before any device work, so this runs with or without a GPU.
  constexpr int kInvalid = cudaErrorInvalidValue;
  const auto f32 = ElementType::kFloat32;
  for (auto [numel, block] : {std::pair<std::int64_t, std::int64_t>{64, 3}, {40, 32}, {64, 0},
                              {64, -2}, {-32, 32}}) {
    SCOPED_TRACE("numel " + std::to_string(numel) + ", block " + std::to_string(block));
    EXPECT_EQ(mxfp4_quantize(f32, nullptr, nullptr, nullptr, numel, block, nullptr), kInvalid);
    EXPECT_EQ(mxfp4_dequantize(f32, nullptr, nullptr, nullptr, numel, block, nullptr), kInvalid);
  }
  EXPECT_EQ(mxfp4_quantize(f32, nullptr, nullptr, nullptr, 0, 32, nullptr), 0);
  EXPECT_EQ(mxfp4_dequantize(f32, nullptr, nullptr, nullptr, 0, 32, nullptr), 0);
}

}  // namespace
}  // namespace coreai_opt::kernels::cuda
