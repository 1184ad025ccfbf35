// ParamLayout (the CUDA kernels' element -> parameter mapping) equals BlockwiseView's
// mapping for every element: no device needed.
#include <gtest/gtest.h>

#include <random>

#include "coreai_opt/errors.h"
#include "cuda/cuda_test_util.h"

namespace coreai_opt::kernels::cuda {
namespace {

using testing::granularities;
using testing::shape_string;

void expect_same_mapping(const std::vector<std::int64_t>& shape,
                         const std::vector<std::int64_t>& block) {
  const BlockwiseView view(shape, block);
  const ParamLayout l = make_param_layout(view);
  ASSERT_EQ(l.numel, view.numel());
  ASSERT_EQ(l.num_params, view.num_params());
  if (view.numel() == 0) return;
  EXPECT_EQ(l.run_length, view.run_length());
  EXPECT_EQ(l.segment_length, view.segment_length());
  for (std::int64_t k = 0; k < view.num_segments(); ++k) {
    ASSERT_EQ(l.segment_offset(k), view.segment_param_offset(k)) << "segment " << k;
  }
  for (std::int64_t i = 0; i < view.numel(); ++i) {
    ASSERT_EQ(l.index(i), view.param_index(i)) << "element " << i;
  }
}

TEST(CudaParamLayout, EqualsBlockwiseViewOnEveryGranularity) {
  std::mt19937 rng(7);
  for (const auto& shape : testing::test_shapes()) {
    for (const auto& [name, block] : granularities(shape, rng)) {
      SCOPED_TRACE(name + " of " + shape_string(shape) + " blocks " + shape_string(block));
      expect_same_mapping(shape, block);
    }
  }
}

TEST(CudaParamLayout, RandomBlockListsUpToRankSix) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const int rank = std::uniform_int_distribution<int>(1, 6)(rng);
    std::vector<std::int64_t> shape(static_cast<std::size_t>(rank)), block(shape.size());
    for (std::size_t d = 0; d < shape.size(); ++d) {
      const std::int64_t divisors[] = {1, 2, 3, 4, 6};
      const std::int64_t b = divisors[std::uniform_int_distribution<int>(0, 4)(rng)];
      shape[d] = b * std::uniform_int_distribution<std::int64_t>(1, 4)(rng);
      block[d] = b;
    }
    SCOPED_TRACE(shape_string(shape) + " blocks " + shape_string(block));
    expect_same_mapping(shape, block);
  }
}

TEST(CudaParamLayout, PerChannelLastAxisNeedsNoLevels) {
  const ParamLayout l = make_param_layout({64, 3, 96}, per_channel_block_size({64, 3, 96}, -1));
  EXPECT_EQ(l.run_length, 1);
  EXPECT_EQ(l.segment_length, 96);
  EXPECT_EQ(l.num_levels, 0);
}

TEST(CudaParamLayout, RunsLayout) {
  const ParamLayout l = runs_layout(100, 32);
  EXPECT_EQ(l.num_params, 4);
  for (std::int64_t i = 0; i < 100; ++i) EXPECT_EQ(l.index(i), i / 32);
  EXPECT_EQ(runs_layout(0, 1).numel, 0);
  EXPECT_THROW(runs_layout(10, 0), InvalidArgumentError);
}

TEST(CudaParamLayout, EmptyTensor) {
  const ParamLayout l = make_param_layout({0, 4}, {0 + 1, 4});
  EXPECT_EQ(l.numel, 0);
}

TEST(CudaParamLayout, ValidatesLikeBlockwiseView) {
  EXPECT_THROW(make_param_layout({10, 4}, {3, 4}), BlockSizeMismatchError);
  EXPECT_THROW(make_param_layout({10, 4}, {10}), InvalidArgumentError);
}

}  // namespace
}  // namespace coreai_opt::kernels::cuda
