#include "coreai_opt/quantization/axis_defaults.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "coreai_opt/errors.h"

namespace coreai_opt::quantization {
namespace {

// (consumer type, per-channel default, per-block default)
using AxisCase = std::tuple<std::string, std::int64_t, std::int64_t>;

class DefaultWeightAxis : public ::testing::TestWithParam<AxisCase> {};

TEST_P(DefaultWeightAxis, MatchesTheTable) {
  const auto& [type, per_channel, per_block] = GetParam();
  EXPECT_EQ(default_weight_axis(type, GranularityType::kPerChannel),
            std::optional<std::int64_t>(per_channel));
  EXPECT_EQ(default_weight_axis(type, GranularityType::kPerBlock),
            std::optional<std::int64_t>(per_block));
  EXPECT_EQ(default_weight_axis(type, GranularityType::kPerTensor), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(ModuleTypes, DefaultWeightAxis,
                         ::testing::Values(AxisCase{"torch.nn.modules.conv.Conv1d", 0, 1},
                                           AxisCase{"torch.nn.modules.conv.Conv2d", 0, 1},
                                           AxisCase{"torch.nn.modules.conv.Conv3d", 0, 1},
                                           AxisCase{"torch.nn.modules.conv.ConvTranspose1d", 1, 0},
                                           AxisCase{"torch.nn.modules.conv.ConvTranspose2d", 1, 0},
                                           AxisCase{"torch.nn.modules.conv.ConvTranspose3d", 1, 0},
                                           AxisCase{"torch.nn.modules.linear.Linear", 0, 1},
                                           AxisCase{"torch.nn.modules.sparse.Embedding", 0, 1}));

INSTANTIATE_TEST_SUITE_P(GraphOpTypes, DefaultWeightAxis,
                         ::testing::Values(AxisCase{"conv1d", 0, 1}, AxisCase{"conv2d", 0, 1},
                                           AxisCase{"conv3d", 0, 1},
                                           AxisCase{"conv_transpose1d", 1, 0},
                                           AxisCase{"conv_transpose2d", 1, 0},
                                           AxisCase{"conv_transpose3d", 1, 0},
                                           AxisCase{"linear", 0, 1}, AxisCase{"embedding", 0, 1}));

TEST(DefaultWeightAxisOther, NoDefaultOutsideTheTable) {
  for (const char* type :
       {"torch.nn.Linear",                                          // short form
        "torch.nn.modules.linear.NonDynamicallyQuantizableLinear",  // subclass: exact match only
        "torch.nn.modules.linear.Bilinear", "torch.nn.modules.activation.MultiheadAttention",
        "mynet::BlockImpl", "aten.linear.default", "matmul", "Linear", ""}) {
    EXPECT_EQ(default_weight_axis(type, GranularityType::kPerChannel), std::nullopt) << type;
    EXPECT_EQ(default_weight_axis(type, GranularityType::kPerBlock), std::nullopt) << type;
  }
}

TEST(NeedsDefaultAxis, OnlyAxislessPerChannelAndSingleAxisPerBlock) {
  EXPECT_TRUE(needs_default_axis(PerChannelGranularity()));
  EXPECT_TRUE(needs_default_axis(PerBlockGranularity(32)));
  EXPECT_FALSE(needs_default_axis(PerChannelGranularity(0)));
  EXPECT_FALSE(needs_default_axis(PerChannelGranularity(-1)));
  EXPECT_FALSE(needs_default_axis(PerBlockGranularity(32, 1)));
  EXPECT_FALSE(needs_default_axis(PerBlockGranularity(std::vector<std::int64_t>{1, 32})));
  EXPECT_FALSE(needs_default_axis(PerTensorGranularity()));
}

TEST(ApplyWeightAxisDefaults, FillsTheConsumerDefault) {
  const std::vector<WeightAxisRequest> requests = {
      {"linear.weight_fq", PerChannelGranularity(), {"torch.nn.modules.linear.Linear"}},
      {"linear.weight_fq2", PerBlockGranularity(32), {"linear"}},
      {"deconv.weight_fq", PerChannelGranularity(), {"torch.nn.modules.conv.ConvTranspose2d"}},
      {"deconv.weight_fq2", PerBlockGranularity(16), {"conv_transpose2d"}},
      {"conv.weight_fq", PerBlockGranularity(8), {"torch.nn.modules.conv.Conv3d"}},
  };
  const std::vector<Granularity> out = apply_weight_axis_defaults(requests);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0], PerChannelGranularity(0));
  EXPECT_EQ(out[1], PerBlockGranularity(32, 1));
  EXPECT_EQ(out[2], PerChannelGranularity(1));
  EXPECT_EQ(out[3], PerBlockGranularity(16, 0));
  EXPECT_EQ(out[4], PerBlockGranularity(8, 1));
}

TEST(ApplyWeightAxisDefaults, LeavesExplicitAndTupleAndPerTensorAlone) {
  const std::vector<WeightAxisRequest> requests = {
      {"a", PerChannelGranularity(1), {"linear"}},
      {"b", PerBlockGranularity(std::vector<std::int64_t>{1, 32}), {"linear"}},
      {"c", PerTensorGranularity(), {"conv_transpose2d"}},
      {"d", PerBlockGranularity(32, 0), {"matmul"}},  // no default needed, none available
  };
  const std::vector<Granularity> out = apply_weight_axis_defaults(requests);
  for (std::size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(out[i], requests[i].granularity);
}

TEST(ApplyWeightAxisDefaults, SharedWeights) {
  // Agreeing consumers, and consumers without a default that do not vote.
  const std::vector<WeightAxisRequest> requests = {
      {"tied", PerChannelGranularity(), {"embedding", "linear"}},
      {"mixed", PerChannelGranularity(), {"matmul", "torch.nn.modules.conv.Conv2d", "add"}},
  };
  const std::vector<Granularity> out = apply_weight_axis_defaults(requests);
  EXPECT_EQ(out[0], PerChannelGranularity(0));
  EXPECT_EQ(out[1], PerChannelGranularity(0));
}

std::string error_of(const std::vector<WeightAxisRequest>& requests) {
  try {
    apply_weight_axis_defaults(requests);
  } catch (const InvalidArgumentError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ApplyWeightAxisDefaults, UnresolvedAxisError) {
  EXPECT_EQ(error_of({{"mm.weight_fq", PerChannelGranularity(), {"matmul"}},
                      {"ok", PerChannelGranularity(), {"linear"}},
                      {"orphan", PerBlockGranularity(32), {}}}),
            "Weight fake-quantize modules with unresolved axis=None remain after applying "
            "defaults: mm.weight_fq, orphan. The ops consuming these modules do not have "
            "defaults. Provide an explicit axis value in the granularity configuration (e.g., "
            "PerChannelGranularity(axis=0)).");
}

TEST(ApplyWeightAxisDefaults, ConflictingAxesError) {
  // Linear wants 0 for per-channel, ConvTranspose wants 1.
  EXPECT_EQ(error_of({{"shared", PerChannelGranularity(), {"linear", "conv_transpose2d"}}}),
            "Conflicting default axes for shared weight fake-quantize modules: shared. All "
            "consumers of a shared weight must resolve to the same default axis. Provide an "
            "explicit axis.");
}

TEST(ApplyWeightAxisDefaults, BothErrorsJoinedByNewline) {
  EXPECT_EQ(error_of({{"x",
                       PerBlockGranularity(32),
                       {"torch.nn.modules.conv.ConvTranspose1d", "torch.nn.modules.conv.Conv1d"}},
                      {"y", PerChannelGranularity(), {"mynet::BlockImpl"}},
                      {"z", PerChannelGranularity(), {"conv1d", "conv_transpose1d"}}}),
            "Weight fake-quantize modules with unresolved axis=None remain after applying "
            "defaults: y. The ops consuming these modules do not have defaults. Provide an "
            "explicit axis value in the granularity configuration (e.g., "
            "PerChannelGranularity(axis=0)).\n"
            "Conflicting default axes for shared weight fake-quantize modules: x, z. All "
            "consumers of a shared weight must resolve to the same default axis. Provide an "
            "explicit axis.");
}

TEST(ApplyWeightAxisDefault, SpecOverloadChangesOnlyTheAxis) {
  QuantizationSpec spec(DType::kInt4, PerBlockGranularity(32));
  spec.qparam_calculator_cls = QParamCalculator::kGlobalMinMax;
  const QuantizationSpec out =
      apply_weight_axis_default(spec, {"torch.nn.modules.sparse.Embedding"}, "emb.weight_fq");
  QuantizationSpec expected = spec;
  expected.granularity.axis = 1;
  EXPECT_EQ(out, expected);
  EXPECT_THROW(apply_weight_axis_default(spec, {"relu"}, "r"), InvalidArgumentError);
}

TEST(CheckActivationAxes, ActivationsNeverGetDefaults) {
  EXPECT_NO_THROW(
      check_activation_axes({{"a", PerTensorGranularity()},
                             {"b", PerChannelGranularity(1)},
                             {"c", PerBlockGranularity(32, 1)},
                             {"d", PerBlockGranularity(std::vector<std::int64_t>{1, 32})}}));
  try {
    check_activation_axes({{"x_fq", PerChannelGranularity()},
                           {"ok", PerTensorGranularity()},
                           {"y_fq", PerBlockGranularity(32)}});
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(),
                 "Activation fake-quantize modules with unresolved axis=None: x_fq "
                 "(PerChannelGranularity), y_fq (PerBlockGranularity). Activation quantization "
                 "does not support axis=None. Provide an explicit axis in the granularity "
                 "configuration.");
  }
}

}  // namespace
}  // namespace coreai_opt::quantization
