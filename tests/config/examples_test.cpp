// Every shipped example config equals its C++ twin, and round-trips.
#include <gtest/gtest.h>

#include <string>

#include "coreai_opt/quantization/config.h"

namespace coreai_opt::quantization {
namespace {

std::string example(const std::string& name) {
  return std::string(COREAI_OPT_SOURCE_DIR) + "/configs/examples/" + name;
}

QuantizerConfig load(const std::string& name) { return QuantizerConfig::from_yaml(example(name)); }

TEST(Examples, WMxfp4AFp8) {
  QuantizationSpec fp8_activation(DType::kFloat8E4M3FN);
  QuantizationSpec mxfp4_weight(DType::kFloat4E2M1FNx2, PerBlockGranularity(32));
  mxfp4_weight.scale_dtype = ScaleDType::kFloat8E8M0FNU;

  ModuleQuantizerConfig global;
  global.op_input_spec = {{"*", fp8_activation}};
  global.op_output_spec = {{"*", fp8_activation}};
  global.op_state_spec = {{"weight", mxfp4_weight}};
  QuantizerConfig config(global);

  EXPECT_EQ(load("w_mxfp4_a_fp8.yaml"), config);
}

TEST(Examples, SkipLinearByOpType) {
  ModuleQuantizerConfig global;
  global.op_type_config.set("linear", OpQuantizerConfig::disabled());
  EXPECT_EQ(load("skip_linear_op_type.yaml"), QuantizerConfig(global));
}

TEST(Examples, SkipLinearByModuleType) {
  QuantizerConfig config;
  config.set_module_type("torch.nn.modules.linear.Linear", std::nullopt);
  EXPECT_EQ(load("skip_linear_module_type.yaml"), config);
}

TEST(Examples, SkipSoftmaxInModuleType) {
  ModuleQuantizerConfig attention;
  attention.op_type_config.set("softmax", OpQuantizerConfig::disabled());
  QuantizerConfig config;
  config.set_module_type("mymodelSelfAttention", attention);
  EXPECT_EQ(load("skip_softmax_in_module_type.yaml"), config);
}

TEST(Examples, SkipSoftmaxInModuleName) {
  ModuleQuantizerConfig layer;
  layer.op_type_config.set("softmax", OpQuantizerConfig::disabled());
  QuantizerConfig config;
  config.set_module_name("model.selfattention.layer.0", layer);
  EXPECT_EQ(load("skip_softmax_in_module_name.yaml"), config);
}

TEST(Examples, ConcatOutputUnquantized) {
  OpQuantizerConfig concat;
  concat.op_input_spec = {{"*", QuantizationSpec(DType::kInt8, PerTensorGranularity())}};
  concat.op_output_spec = {};
  ModuleQuantizerConfig global;
  global.op_type_config.set("concat", concat);
  EXPECT_EQ(load("concat_output_unquantized.yaml"), QuantizerConfig(global));
}

TEST(Examples, OnlyLinearLayers) {
  QuantizationSpec int8_activation(DType::kInt8, PerTensorGranularity());
  QuantizationSpec int8_weight(DType::kInt8, PerChannelGranularity());
  ModuleQuantizerConfig linear;
  linear.op_input_spec = {{"*", int8_activation}};
  linear.op_output_spec = {{"*", int8_activation}};
  linear.op_state_spec = {{"weight", int8_weight}};
  QuantizerConfig config(std::nullopt);
  config.set_module_type("torch.nn.modules.linear.Linear", linear);
  EXPECT_EQ(load("only_linear_layers.yaml"), config);
}

TEST(Examples, OnlyOneOpByName) {
  QuantizationSpec int8_activation(DType::kInt8, PerTensorGranularity());
  OpQuantizerConfig op;
  op.op_input_spec = {{"*", int8_activation}};
  op.op_output_spec = {{"*", int8_activation}};
  op.op_state_spec = {{"weight", QuantizationSpec(DType::kInt8, PerChannelGranularity())}};
  ModuleQuantizerConfig global = ModuleQuantizerConfig::disabled();
  global.op_name_config.set("linear_23", op);
  EXPECT_EQ(load("only_one_op_by_name.yaml"), QuantizerConfig(global));
}

TEST(Examples, WeightsByModuleType) {
  ModuleQuantizerConfig linear = ModuleQuantizerConfig::disabled();
  linear.op_state_spec = {{"weight", QuantizationSpec(DType::kInt4, PerBlockGranularity(32))}};
  ModuleQuantizerConfig embedding = ModuleQuantizerConfig::disabled();
  embedding.op_state_spec = {{"weight", QuantizationSpec(DType::kInt8, PerChannelGranularity())}};
  QuantizerConfig config(std::nullopt);
  config.set_module_type("torch.nn.modules.linear.Linear", linear)
      .set_module_type("torch.nn.modules.sparse.Embedding", embedding);
  EXPECT_EQ(load("weights_by_module_type.yaml"), config);
}

TEST(Examples, AttentionBoundaries) {
  QuantizationSpec int8_activation(DType::kInt8, PerTensorGranularity());
  ModuleQuantizerConfig global;
  global.op_input_spec = {{"*", int8_activation}};
  global.op_output_spec = {{"*", int8_activation}};
  ModuleQuantizerConfig mha;
  mha.op_input_spec = {};
  mha.op_output_spec = {};
  mha.module_input_spec = {{0, int8_activation}, {1, int8_activation}, {2, int8_activation}};
  mha.module_output_spec = {{"*", int8_activation}};
  QuantizerConfig config(global);
  config.set_module_type("torch.nn.modules.activation.MultiheadAttention", mha);
  EXPECT_EQ(load("attention_boundaries.yaml"), config);
}

TEST(Examples, OverrideAxis) {
  ModuleQuantizerConfig global;
  global.op_state_spec = {{"weight", QuantizationSpec(DType::kInt4, PerBlockGranularity(32))}};
  ModuleQuantizerConfig deconv;
  deconv.op_state_spec = {{"weight", QuantizationSpec(DType::kInt4, PerBlockGranularity(32, 1))}};
  QuantizerConfig config(global);
  config.set_module_name("decoder.deconv1", deconv);
  EXPECT_EQ(load("override_axis.yaml"), config);
}

TEST(Examples, Mxfp4QatSchedule) {
  QuantizationSpec fp8_act(DType::kFloat8E4M3FN);
  QuantizationSpec fp8_act_static = fp8_act;
  fp8_act_static.qparam_calculator_cls = QParamCalculator::kStatic;
  QuantizationSpec mxfp4_w(DType::kFloat4E2M1FNx2, PerBlockGranularity(32));
  ModuleQuantizerConfig global;
  global.op_input_spec = {{"*", fp8_act}};
  global.op_output_spec = {{"*", fp8_act_static}};
  global.op_state_spec = {{"weight", mxfp4_w}};
  global.qat_schedule = QATSchedule{0, 150, 2000};
  ModuleQuantizerConfig decoder;
  decoder.op_input_spec = {};
  decoder.op_output_spec = {};
  QuantizerConfig config(global);
  config.set_execution_mode(ExecutionMode::kGraph)
      .set_module_type("torch.nn.modules.sparse.Embedding", std::nullopt)
      .set_module_name("model\\.decoder\\..*", decoder);
  EXPECT_EQ(load("mxfp4_qat_schedule.yaml"), config);
}

class ExampleRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(ExampleRoundTrip, YamlAndJsonAreIdentity) {
  const QuantizerConfig c = load(GetParam());
  const QuantizerConfig from_yaml = QuantizerConfig::from_yaml_string(c.to_yaml());
  EXPECT_EQ(from_yaml, c);
  const QuantizerConfig from_json = QuantizerConfig::from_json(c.to_json());
  EXPECT_EQ(from_json, c);
  // Canonical output is a fixed point.
  EXPECT_EQ(from_yaml.to_yaml(), c.to_yaml());
  EXPECT_EQ(from_json.to_json(), c.to_json());
}

INSTANTIATE_TEST_SUITE_P(
    AllExamples, ExampleRoundTrip,
    ::testing::Values("w_mxfp4_a_fp8.yaml", "skip_linear_op_type.yaml",
                      "skip_linear_module_type.yaml", "skip_softmax_in_module_type.yaml",
                      "skip_softmax_in_module_name.yaml", "concat_output_unquantized.yaml",
                      "only_linear_layers.yaml", "only_one_op_by_name.yaml",
                      "weights_by_module_type.yaml", "attention_boundaries.yaml",
                      "override_axis.yaml", "mxfp4_qat_schedule.yaml"));

}  // namespace
}  // namespace coreai_opt::quantization

namespace coreai_opt::quantization {
namespace {

QuantizerConfig shipped(const std::string& name) {
  return QuantizerConfig::from_yaml(std::string(COREAI_OPT_SOURCE_DIR) + "/configs/" + name);
}

TEST(ShippedConfigs, W8A8IsTheDefaultSpelledOut) {
  const QuantizerConfig c = shipped("w8a8.yaml");
  ModuleQuantizerConfig g;
  g.op_input_spec = {{"*", default_activation_quantization_spec()}};
  g.op_output_spec = {{"*", default_activation_quantization_spec()}};
  QuantizationSpec w = default_weight_quantization_spec();
  w.granularity = PerChannelGranularity();  // axis from the layer type
  g.op_state_spec = {{"weight", w}};
  EXPECT_EQ(c, QuantizerConfig(g));
}

TEST(ShippedConfigs, WeightOnlyConfigsEqualThePresets) {
  EXPECT_EQ(shipped("w8.yaml"), QuantizerConfig::presets.w8());
  EXPECT_EQ(shipped("w4_per_block32.yaml"), QuantizerConfig::presets.w4_per_block(32));
}

TEST(ShippedConfigs, FloatFormats) {
  const QuantizerConfig mx = shipped("w_mxfp4_a_fp8.yaml");
  EXPECT_EQ(mx, load("w_mxfp4_a_fp8.yaml"));  // the documentation example
  const QuantizerConfig fp8 = shipped("fp8.yaml");
  EXPECT_EQ(fp8.global_config->op_state_spec.get("weight")->value(),
            QuantizationSpec(DType::kFloat8E4M3FN, PerChannelGranularity()));
  EXPECT_EQ(fp8.global_config->op_input_spec.get("*")->value(),
            QuantizationSpec(DType::kFloat8E4M3FN));
}

}  // namespace
}  // namespace coreai_opt::quantization
