// Granularity block-size lists (reference §1.4 examples and messages) and the blockwise
// view's element -> parameter mapping.
#include "coreai_opt/kernels/blockwise.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "coreai_opt/errors.h"

namespace coreai_opt::kernels {
namespace {

using V = std::vector<std::int64_t>;

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Blockwise, ReferenceExamples) {
  EXPECT_EQ(per_tensor_block_size({4, 6}), (V{4, 6}));
  EXPECT_EQ(per_channel_block_size({10, 20, 30}, -1), (V{10, 20, 1}));
  EXPECT_EQ(per_channel_block_size({10, 20, 30}, 0), (V{1, 20, 30}));
  EXPECT_EQ(per_block_block_size({10, 20}, 5, 0), (V{5, 1}));
  EXPECT_EQ(per_block_block_size({10, 20}, 4, 1), (V{1, 4}));
  EXPECT_EQ(per_block_block_size({8, 16, 3}, 4, 0), (V{4, 1, 3}));
  EXPECT_EQ(per_block_block_size({7, 16, 3, 3}, 8, 1), (V{1, 8, 3, 3}));
  EXPECT_EQ(per_block_block_size({10}, V{2}), (V{2}));
  EXPECT_EQ(per_block_block_size({8, 16, 3, 3}, V{4, 2, -1, 1}), (V{4, 2, 3, 1}));
  EXPECT_EQ(param_shape({8, 16, 3, 3}, {4, 2, 3, 1}), (V{2, 8, 1, 3}));
  EXPECT_EQ(param_shape({16, 64}, per_block_block_size({16, 64}, 32, 1)), (V{16, 2}));
}

// 0.3.0: any axis, negative included; the other dims follow the tensor's role.
TEST(Blockwise, SingleAxisBlocksByRole) {
  const auto W = TensorRole::kWeight;
  const auto A = TensorRole::kActivation;
  // The reference's examples: [B, S, D] and [B, C, H, W] activations, an [E, O, I] weight.
  EXPECT_EQ(per_block_block_size({2, 8, 32}, 16, -1, A), (V{1, 1, 16}));
  EXPECT_EQ(per_block_block_size({2, 32, 5, 5}, 16, 1, A), (V{1, 16, 1, 1}));
  EXPECT_EQ(per_block_block_size({4, 64, 128}, 32, -1, W), (V{1, 1, 32}));
  EXPECT_EQ(per_block_block_size({4, 8, 3, 32}, 16, -1, W), (V{1, 1, 3, 16}));
  EXPECT_EQ(per_block_block_size({4, 8, 3, 32}, 16, -1, A), (V{1, 1, 1, 16}));
  // On [2, 8, 32] with block 4 along axis 1 (the parity table's example).
  EXPECT_EQ(per_block_block_size({2, 8, 32}, 4, 1, W), (V{1, 4, 32}));
  EXPECT_EQ(per_block_block_size({2, 8, 32}, 4, 1, A), (V{1, 4, 1}));
  // Axis 0 and a negative alias of it.
  EXPECT_EQ(per_block_block_size({8, 16, 3}, 4, -3, W), (V{4, 1, 3}));
  EXPECT_EQ(per_block_block_size({8, 16, 3}, 4, 0, A), (V{4, 1, 1}));
  // Two dimensions: both roles agree.
  EXPECT_EQ(per_block_block_size({10, 20}, 4, -1, A), per_block_block_size({10, 20}, 4, 1, W));
}

TEST(Blockwise, ReferenceErrors) {
  EXPECT_EQ(error_of([] {
              per_channel_block_size({2, 3}, std::nullopt);
            }),
            "PerChannelGranularity axis is None and was not resolved to a default. Please "
            "specify axis explicitly.");
  EXPECT_EQ(error_of([] {
              per_channel_block_size({2, 3}, 2);
            }),
            "axis 2 is out of bounds for tensor of rank 2. Allowed axis range is [-2, 2)");
  EXPECT_EQ(error_of([] { per_block_block_size({8}, 4, std::nullopt); }),
            "axis must be specified when block_size is an int");
  EXPECT_EQ(error_of([] { per_block_block_size({8}, 4, 1); }),
            "axis 1 is out of bounds for tensor of rank 1. Allowed axis range is [-1, 1)");
  EXPECT_EQ(error_of([] {
              per_block_block_size({8, 16, 4}, 4, -4);
            }),
            "axis -4 is out of bounds for tensor of rank 3. Allowed axis range is [-3, 3)");
  EXPECT_EQ(error_of([] {
              per_block_block_size({10, 20}, 3, 1);
            }),
            "Tensor size 20 along axis 1 is not divisible by block size 3");
  EXPECT_EQ(error_of([] {
              per_block_block_size({8, 16}, V{4});
            }),
            "Rank of block_size (1) must match rank of tensor (2)");
  EXPECT_EQ(error_of([] {
              per_block_block_size({8, 16}, V{3, -1});
            }),
            "Tensor size 8 along axis 0 is not divisible by block size 3. Full tensor size: [8, "
            "16], block_size tuple: (3, -1)");
  EXPECT_EQ(error_of([] { per_block_block_size({9}, V{2}); }),
            "Tensor size 9 along axis 0 is not divisible by block size 2. Full tensor size: [9], "
            "block_size tuple: (2,)");
  EXPECT_THROW(per_block_block_size({10, 20}, 3, 1), BlockSizeMismatchError);
  EXPECT_THROW(per_block_block_size({8, 16}, V{3, -1}), BlockSizeMismatchError);
  EXPECT_THROW(per_block_block_size({8, 16}, V{0, -1}), InvalidArgumentError);
}

TEST(Blockwise, CommonLayoutsAreFewSegments) {
  BlockwiseView per_tensor({64, 128}, {64, 128});
  EXPECT_EQ(per_tensor.num_segments(), 1);
  EXPECT_EQ(per_tensor.run_length(), 64 * 128);
  BlockwiseView block32({64, 128}, {1, 32});
  EXPECT_EQ(block32.num_segments(), 1);
  EXPECT_EQ(block32.run_length(), 32);
  EXPECT_EQ(block32.num_params(), 64 * 4);
  BlockwiseView rows({64, 128}, {1, 128});
  EXPECT_EQ(rows.num_segments(), 1);
  EXPECT_EQ(rows.run_length(), 128);
  BlockwiseView cols({64, 128}, {64, 1});
  EXPECT_EQ(cols.run_length(), 1);
  EXPECT_EQ(cols.segment_length(), 128);
  EXPECT_EQ(cols.num_segments(), 64);
  EXPECT_EQ(cols.segment_param_offset(5), 0);
}

TEST(Blockwise, SegmentsMapEveryElementToItsParameter) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    V shape, block;
    for (int d = 0; d < rank; ++d) {
      const std::int64_t divisors[] = {1, 2, 3, 4, 6, 12};
      const std::int64_t size = divisors[rng() % 6] * (1 + static_cast<std::int64_t>(rng() % 2));
      shape.push_back(size);
      std::int64_t b = 1 + static_cast<std::int64_t>(rng() % static_cast<unsigned>(size));
      while (size % b != 0) --b;
      block.push_back(b);
    }
    const BlockwiseView v(shape, block);
    ASSERT_EQ(v.num_segments() * v.segment_length(), v.numel());
    for (std::int64_t k = 0; k < v.num_segments(); ++k) {
      for (std::int64_t j = 0; j < v.segment_length(); ++j) {
        const std::int64_t i = k * v.segment_length() + j;
        ASSERT_EQ(v.segment_param_offset(k) + j / v.run_length(), v.param_index(i))
            << "trial " << trial << " element " << i;
      }
    }
  }
}

}  // namespace
}  // namespace coreai_opt::kernels
