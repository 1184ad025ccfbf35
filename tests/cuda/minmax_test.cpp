// CUDA min/max reduction against reference::minmax_update on every granularity and input
// type, with NaN, infinities, signed zeros and NaN already stored. Skipped without a device.
#include <gtest/gtest.h>

#include <random>

#include "coreai_opt/kernels/minmax.h"
#include "cuda/cuda_test_util.h"

namespace coreai_opt::kernels::cuda {
namespace {

using namespace testing;  // NOLINT: test helpers

class CudaMinMax : public ::testing::TestWithParam<ElementType> {
 protected:
  void SetUp() override { COREAI_OPT_REQUIRE_CUDA_DEVICE(); }
};

/// kind 0: plain values; 1: a few NaN; 2: only signed zeros and tiny values; 3: NaN stored.
void check_case(ElementType t, const std::vector<std::int64_t>& shape,
                const std::vector<std::int64_t>& block, int kind, std::mt19937& rng,
                std::size_t offset) {
  const BlockwiseView view(shape, block);
  const ParamLayout layout = make_param_layout(view);
  const auto n = static_cast<std::size_t>(view.numel());
  const auto np = static_cast<std::size_t>(view.num_params());
  std::vector<float> x0(n);
  std::uniform_real_distribution<float> u(-100.0f, 100.0f);
  std::uniform_int_distribution<int> pick(0, 999);
  for (auto& v : x0) {
    v = u(rng);
    if (kind == 1 && pick(rng) < 3) v = std::numeric_limits<float>::quiet_NaN();
    if (kind == 2) v = pick(rng) % 3 == 0 ? -0.0f : (pick(rng) % 3 == 1 ? 0.0f : u(rng) * 1e-40f);
    if (pick(rng) == 0) v = std::numeric_limits<float>::infinity() * (pick(rng) % 2 ? 1.0f : -1.0f);
  }
  const TypedArray x = make_typed(t, x0);
  std::vector<float> mins(np, std::numeric_limits<float>::infinity());
  std::vector<float> maxs(np, -std::numeric_limits<float>::infinity());
  for (std::size_t p = 0; p < np; ++p) {
    if (kind == 2 && p % 2 == 0) mins[p] = maxs[p] = -0.0f;
    if (kind == 3 && p % 3 == 0) mins[p] = std::numeric_limits<float>::quiet_NaN();
    if (kind == 3 && p % 3 == 1) {
      mins[p] = -5.0f;
      maxs[p] = 5.0f;
    }
  }
  std::vector<float> want_min = mins, want_max = maxs;
  for_each_segment(view, [&](std::int64_t, std::int64_t e0, std::int64_t p0, std::int64_t run,
                             std::int64_t seg) {
    reference::minmax_update(x.value.data() + e0, 0, static_cast<std::size_t>(seg),
                             static_cast<std::size_t>(run), want_min.data() + p0,
                             want_max.data() + p0);
  });
  const Staged dx(x.bits, offset * element_size(t));
  const Staged dmin(mins), dmax(maxs);
  ASSERT_TRUE(dx.ok() && dmin.ok() && dmax.ok());
  COREAI_OPT_CUDA_OK(minmax_update(t, dx.ptr(), layout, dmin.as<float>(), dmax.as<float>(), nullptr));
  COREAI_OPT_CUDA_OK(sync());
  EXPECT_TRUE(same_floats(want_min, dmin.get_floats())) << "mins";
  EXPECT_TRUE(same_floats(want_max, dmax.get_floats())) << "maxs";
}

TEST_P(CudaMinMax, EveryGranularity) {
  std::mt19937 rng(31u + static_cast<unsigned>(GetParam()));
  auto shapes = test_shapes();
  shapes.push_back({3, 70000});   // long rows split into several blocks
  shapes.push_back({1 << 20});    // one long row
  shapes.push_back({2048, 40});   // many short rows, per-channel along the last axis
  for (int kind = 0; kind < 4; ++kind) {
    for (const auto& shape : shapes) {
      for (const auto& [name, block] : granularities(shape, rng)) {
        SCOPED_TRACE("kind " + std::to_string(kind) + ", " + name + " of " + shape_string(shape) +
                     " blocks " + shape_string(block));
        ASSERT_NO_FATAL_FAILURE(check_case(GetParam(), shape, block, kind, rng, 0));
      }
    }
  }
}

TEST_P(CudaMinMax, Misaligned) {
  std::mt19937 rng(8u);
  for (const auto& shape : std::vector<std::vector<std::int64_t>>{{64, 96}, {4099}, {3, 5000}}) {
    for (const auto& [name, block] : granularities(shape, rng)) {
      SCOPED_TRACE(name + " of " + shape_string(shape) + " at offset 1");
      ASSERT_NO_FATAL_FAILURE(check_case(GetParam(), shape, block, 1, rng, 1));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CudaMinMax, ::testing::ValuesIn(kAllElementTypes),
                         element_type_param_name);

}  // namespace
}  // namespace coreai_opt::kernels::cuda
