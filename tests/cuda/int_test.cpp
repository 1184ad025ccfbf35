// CUDA integer kernels bit-exact against reference::int_* on every integer dtype, both
// formulations, every granularity, float32 / bfloat16 / float16 inputs, odd sizes and
// misaligned (element-by-element) pointers. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "coreai_opt/format/int.h"
#include "coreai_opt/kernels/int.h"
#include "cuda/cuda_test_util.h"

namespace coreai_opt::kernels::cuda {
namespace {

using namespace testing;  // NOLINT: test helpers

enum class Form { kSymmetric, kZeroPoint, kMinval };

const char* form_name(Form f) {
  switch (f) {
    case Form::kSymmetric: return "symmetric";
    case Form::kZeroPoint: return "zero_point";
    case Form::kMinval: return "minval";
  }
  return "?";
}

/// Host-side parameters of one case.
struct HostParams {
  std::vector<float> scale;
  std::vector<std::int32_t> zero_point;  // empty: none
  std::vector<float> minval;             // empty: ZP formulation
  std::int32_t qmin = 0, qmax = 0;

  IntQuantParams reference(std::int64_t offset, std::int64_t run) const {
    IntQuantParams p;
    p.scale = scale.data() + offset;
    p.zero_point = zero_point.empty() ? nullptr : zero_point.data() + offset;
    p.minval = minval.empty() ? nullptr : minval.data() + offset;
    p.quant_min = qmin;
    p.quant_max = qmax;
    p.run_length = static_cast<std::size_t>(run);
    return p;
  }
};

HostParams make_params(DType dtype, Form form, std::int64_t count, std::mt19937& rng) {
  HostParams h;
  const QuantRange r = quant_range(dtype, form == Form::kSymmetric
                                              ? QuantizationScheme::kSymmetric
                                              : QuantizationScheme::kAsymmetric);
  h.qmin = static_cast<std::int32_t>(r.qmin);
  h.qmax = static_cast<std::int32_t>(r.qmax);
  std::uniform_real_distribution<float> log_scale(-12.0f, 2.0f);
  std::uniform_int_distribution<int> coin(0, 1), exponent(-10, 3);
  for (std::int64_t i = 0; i < count; ++i) {
    // Half the scales are powers of two, so that k + 0.5 ties are exact.
    h.scale.push_back(coin(rng) ? std::ldexp(1.0f, exponent(rng))
                                : std::exp2(log_scale(rng)));
  }
  if (form == Form::kSymmetric && is_unsigned_int(dtype)) {
    h.zero_point.assign(static_cast<std::size_t>(count), symmetric_zero_point(h.qmin, h.qmax));
  } else if (form == Form::kZeroPoint) {
    std::uniform_int_distribution<std::int32_t> zp(h.qmin, h.qmax);
    for (std::int64_t i = 0; i < count; ++i) h.zero_point.push_back(zp(rng));
  } else if (form == Form::kMinval) {
    std::uniform_real_distribution<float> mv(-3.0f, 0.0f);
    for (std::int64_t i = 0; i < count; ++i) h.minval.push_back(mv(rng));
  }
  return h;
}

class CudaInt : public ::testing::TestWithParam<std::tuple<ElementType, DType>> {
 protected:
  void SetUp() override { COREAI_OPT_REQUIRE_CUDA_DEVICE(); }
};

std::string int_param_name(const ::testing::TestParamInfo<CudaInt::ParamType>& info) {
  return std::string(type_name(std::get<0>(info.param))) + "_" +
         std::string(dtype_name(std::get<1>(info.param)));
}

/// One shape, granularity and formulation: every integer kernel against the reference.
void check_case(ElementType t, DType dtype, Form form, const std::vector<std::int64_t>& shape,
                const std::vector<std::int64_t>& block, std::mt19937& rng, std::size_t offset) {
  const BlockwiseView view(shape, block);
  const ParamLayout layout = make_param_layout(view);
  const auto n = static_cast<std::size_t>(view.numel());
  const HostParams hp = make_params(dtype, form, view.num_params(), rng);
  std::vector<float> x0(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto p = static_cast<std::size_t>(view.param_index(static_cast<std::int64_t>(i)));
    x0[i] = edge_value(rng, hp.scale[p], static_cast<float>(hp.qmax - hp.qmin));
    if (!hp.minval.empty()) x0[i] += hp.minval[p];
  }
  const TypedArray x = make_typed(t, x0);
  std::vector<std::uint8_t> any_codes(n);
  for (auto& c : any_codes) c = static_cast<std::uint8_t>(rng());

  // Reference, segment by segment with BlockwiseView's own mapping.
  std::vector<float> y_ref(n), deq_ref(n), deq4_ref(n);
  std::vector<std::uint8_t> mask_ref(n), codes_ref(n), packed_ref((n + 1) / 2, 0);
  std::vector<std::uint8_t> packed_in(packed_ref.size());
  for (auto& c : packed_in) c = static_cast<std::uint8_t>(rng());
  if (n % 2 == 1) packed_in.back() &= 0x0F;
  for_each_segment(view, [&](std::int64_t, std::int64_t e0, std::int64_t p0, std::int64_t run,
                             std::int64_t seg) {
    const auto e = static_cast<std::size_t>(e0);
    const IntQuantParams rp = hp.reference(p0, run);
    const auto len = static_cast<std::size_t>(seg);
    reference::int_fake_quantize(x.value.data() + e, y_ref.data() + e, mask_ref.data() + e, 0,
                                 len, rp);
    reference::int_quantize(x.value.data() + e, codes_ref.data() + e, 0, len, rp);
    reference::int_dequantize(any_codes.data() + e, deq_ref.data() + e, 0, len, rp);
  });
  const bool packs = packs_two_per_byte(dtype);
  if (packs) {
    // Packed bytes of the whole tensor: element i in byte i / 2 (low nibble when i is even).
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t c = codes_ref[i] & 0x0F;
      packed_ref[i / 2] = static_cast<std::uint8_t>(packed_ref[i / 2] | (i % 2 ? c << 4 : c));
    }
    if (view.num_segments() == 1) {  // the reference's own packer agrees
      std::vector<std::uint8_t> direct(packed_ref.size());
      reference::int_quantize_packed4(x.value.data(), direct.data(), 0, n, hp.reference(0, view.run_length()));
      ASSERT_TRUE(same_bytes(direct, packed_ref));
    }
    for_each_segment(view, [&](std::int64_t, std::int64_t e0, std::int64_t p0, std::int64_t run,
                               std::int64_t seg) {
      // The reference dequantizer takes an even begin; go element by element instead.
      for (std::int64_t j = 0; j < seg; ++j) {
        const auto i = static_cast<std::size_t>(e0 + j);
        const std::uint8_t b = packed_in[i / 2];
        const std::uint8_t one = i % 2 == 0 ? low_nibble(b) : high_nibble(b);
        reference::int_dequantize_packed4(&one, deq4_ref.data() + i, 0, 1,
                                          hp.reference(p0 + j / run, 1));
      }
    });
  }

  // Device.
  const Staged dx(x.bits, offset * element_size(t));
  const Staged dscale(hp.scale);
  const Staged dzp(hp.zero_point.empty() ? std::vector<std::int32_t>{0} : hp.zero_point);
  const Staged dminval(hp.minval.empty() ? std::vector<float>{0.0f} : hp.minval);
  const Staged dy = Staged::output(n * element_size(t), offset * element_size(t));
  const Staged dmask = Staged::output(n, offset);
  const Staged dcodes = Staged::output(n, offset);
  const Staged dany(any_codes, offset);
  const Staged ddeq = Staged::output(n * element_size(t), offset * element_size(t));
  ASSERT_TRUE(dx.ok() && dscale.ok() && dzp.ok() && dminval.ok() && dy.ok() && dmask.ok() &&
              dcodes.ok() && dany.ok() && ddeq.ok());
  IntParams p;
  p.scale = dscale.as<float>();
  p.zero_point = hp.zero_point.empty() ? nullptr : dzp.as<std::int32_t>();
  p.minval = hp.minval.empty() ? nullptr : dminval.as<float>();
  p.quant_min = hp.qmin;
  p.quant_max = hp.qmax;
  COREAI_OPT_CUDA_OK(int_fake_quantize(t, dx.ptr(), dy.ptr(), dmask.as<std::uint8_t>(), layout, p, nullptr));
  COREAI_OPT_CUDA_OK(int_quantize(t, dx.ptr(), dcodes.as<std::uint8_t>(), layout, p, nullptr));
  COREAI_OPT_CUDA_OK(int_dequantize(t, dany.as<std::uint8_t>(), ddeq.ptr(), layout, p, nullptr));
  COREAI_OPT_CUDA_OK(sync());
  EXPECT_TRUE(same_typed(t, y_ref, dy.get(), &x.value)) << "fake_quantize";
  EXPECT_TRUE(same_bytes(mask_ref, dmask.get())) << "fake_quantize mask";
  EXPECT_TRUE(same_bytes(codes_ref, dcodes.get())) << "quantize";
  EXPECT_TRUE(same_typed(t, deq_ref, ddeq.get())) << "dequantize";

  // Without a mask the values are the same.
  const Staged dy2 = Staged::output(n * element_size(t), offset * element_size(t));
  COREAI_OPT_CUDA_OK(int_fake_quantize(t, dx.ptr(), dy2.ptr(), nullptr, layout, p, nullptr));
  COREAI_OPT_CUDA_OK(sync());
  EXPECT_TRUE(same_typed(t, y_ref, dy2.get())) << "fake_quantize without mask";

  if (packs) {
    const Staged dpacked = Staged::output(packed_ref.size(), offset);
    const Staged dpin(packed_in, offset);
    const Staged ddeq4 = Staged::output(n * element_size(t), offset * element_size(t));
    COREAI_OPT_CUDA_OK(int_quantize_packed4(t, dx.ptr(), dpacked.as<std::uint8_t>(), layout, p, nullptr));
    COREAI_OPT_CUDA_OK(int_dequantize_packed4(t, dpin.as<std::uint8_t>(), ddeq4.ptr(), layout, p, nullptr));
    COREAI_OPT_CUDA_OK(sync());
    EXPECT_TRUE(same_bytes(packed_ref, dpacked.get())) << "quantize_packed4";
    EXPECT_TRUE(same_typed(t, deq4_ref, ddeq4.get())) << "dequantize_packed4";
  }
}

TEST_P(CudaInt, EveryKernelBitExactOnEveryGranularity) {
  const auto [t, dtype] = GetParam();
  std::mt19937 rng(1234u + static_cast<unsigned>(dtype) * 17u + static_cast<unsigned>(t));
  for (Form form : {Form::kSymmetric, Form::kZeroPoint, Form::kMinval}) {
    for (const auto& shape : test_shapes()) {
      for (const auto& [name, block] : granularities(shape, rng)) {
        SCOPED_TRACE(std::string(form_name(form)) + ", " + name + " of " + shape_string(shape) +
                     " blocks " + shape_string(block));
        ASSERT_NO_FATAL_FAILURE(check_case(t, dtype, form, shape, block, rng, 0));
      }
    }
  }
}

TEST_P(CudaInt, MisalignedPointersTakeTheElementPath) {
  const auto [t, dtype] = GetParam();
  std::mt19937 rng(99u + static_cast<unsigned>(dtype));
  for (const auto& shape : std::vector<std::vector<std::int64_t>>{{64, 96}, {4099}}) {
    for (const auto& [name, block] : granularities(shape, rng)) {
      SCOPED_TRACE(name + " of " + shape_string(shape) + " at offset 1");
      ASSERT_NO_FATAL_FAILURE(check_case(t, dtype, Form::kZeroPoint, shape, block, rng, 1));
    }
  }
}

TEST_P(CudaInt, LargeTensorPerChannel) {
  const auto [t, dtype] = GetParam();
  std::mt19937 rng(5u);
  const std::vector<std::int64_t> shape = {512, 1032};
  ASSERT_NO_FATAL_FAILURE(check_case(t, dtype, Form::kSymmetric, shape,
                                     per_channel_block_size(shape, 0), rng, 0));
  ASSERT_NO_FATAL_FAILURE(check_case(t, dtype, Form::kZeroPoint, shape,
                                     per_channel_block_size(shape, -1), rng, 0));
}

INSTANTIATE_TEST_SUITE_P(
    All, CudaInt,
    ::testing::Combine(::testing::ValuesIn(kAllElementTypes),
                       ::testing::Values(DType::kInt8, DType::kInt4, DType::kInt2, DType::kUInt8,
                                         DType::kUInt4, DType::kUInt2)),
    int_param_name);

TEST(CudaIntArguments, EmptyTensorAndMissingScale) {
  COREAI_OPT_REQUIRE_CUDA_DEVICE();
  IntParams p;
  float dummy = 0;
  p.scale = &dummy;  // never dereferenced: nothing to do
  EXPECT_EQ(int_fake_quantize(ElementType::kFloat32, nullptr, nullptr, nullptr,
                              runs_layout(0, 1), p, nullptr), 0);
  p.scale = nullptr;
  EXPECT_NE(int_quantize(ElementType::kFloat32, nullptr, nullptr, runs_layout(8, 8), p, nullptr), 0);
}

}  // namespace
}  // namespace coreai_opt::kernels::cuda
