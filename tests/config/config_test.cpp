#include <gtest/gtest.h>

#include <string>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/warnings.h"

namespace coreai_opt::quantization {
namespace {

// The ConfigError thrown by `fn`, or a failure.
template <class F>
ConfigError config_error(F&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no ConfigError thrown";
  return ConfigError("", "");
}

QuantizerConfig yaml(const std::string& text) {
  return QuantizerConfig::from_yaml_string(text, "test.yaml");
}

// ------------------------------------------------------------ quant ranges

struct RangeCase {
  DType dtype;
  QuantizationScheme scheme;
  double qmin, qmax;
  int n_bits;
  const char* target;
};

class QuantRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(QuantRangeTest, MatchesReference) {
  const RangeCase& c = GetParam();
  QuantizationSpec s(c.dtype, PerTensorGranularity(), c.scheme);
  EXPECT_EQ(s.quant_min(), c.qmin);
  EXPECT_EQ(s.quant_max(), c.qmax);
  EXPECT_EQ(s.n_bits(), c.n_bits);
  EXPECT_EQ(s.target_dtype(), c.target);
}

using QS = QuantizationScheme;
INSTANTIATE_TEST_SUITE_P(
    AllDTypes, QuantRangeTest,
    ::testing::Values(RangeCase{DType::kInt8, QS::kSymmetric, -128, 127, 8, "int8"},
                      RangeCase{DType::kInt8, QS::kAsymmetric, -128, 127, 8, "int8"},
                      RangeCase{DType::kInt8, QS::kSymmetricWithClipping, -127, 127, 8, "int8"},
                      RangeCase{DType::kInt4, QS::kSymmetric, -8, 7, 4, "int8"},
                      RangeCase{DType::kInt4, QS::kSymmetricWithClipping, -7, 7, 4, "int8"},
                      RangeCase{DType::kInt2, QS::kSymmetric, -2, 1, 2, "int8"},
                      RangeCase{DType::kInt2, QS::kSymmetricWithClipping, -1, 1, 2, "int8"},
                      RangeCase{DType::kUInt8, QS::kSymmetric, 0, 255, 8, "uint8"},
                      RangeCase{DType::kUInt8, QS::kSymmetricWithClipping, 0, 255, 8, "uint8"},
                      RangeCase{DType::kUInt4, QS::kAsymmetric, 0, 15, 4, "uint8"},
                      RangeCase{DType::kUInt2, QS::kSymmetric, 0, 3, 2, "uint8"},
                      RangeCase{DType::kFloat8E4M3FN, QS::kSymmetric, -448, 448, 8,
                                "float8_e4m3fn"},
                      RangeCase{DType::kFloat8E5M2, QS::kSymmetric, -57344, 57344, 8,
                                "float8_e5m2"},
                      RangeCase{DType::kFloat4E2M1FNx2, QS::kSymmetric, -6, 6, 4,
                                "float8_e4m3fn"}));

TEST(QuantizationSpec, DTypeAliasesResolve) {
  EXPECT_EQ(dtype_from_name("float8_e4m3"), DType::kFloat8E4M3FN);
  EXPECT_EQ(dtype_from_name("float4_e2m1fn"), DType::kFloat4E2M1FNx2);
  EXPECT_EQ(dtype_from_name("Int8"), std::nullopt);  // case-sensitive
  EXPECT_EQ(dtype_from_name("float16"), std::nullopt);
  const QuantizerConfig c = yaml(
      "quantization_config:\n  global_config:\n    op_state_spec:\n      weight: {dtype: "
      "float8_e4m3}\n");
  EXPECT_EQ(c.global_config->op_state_spec.get("weight")->value().dtype, DType::kFloat8E4M3FN);
}

TEST(QuantizationSpec, Fp4GetsE8M0ScaleAutomatically) {
  QuantizationSpec fp4(DType::kFloat4E2M1FNx2, PerBlockGranularity(32));
  EXPECT_EQ(fp4.effective_scale_dtype(), ScaleDType::kFloat8E8M0FNU);
  EXPECT_EQ(fp4.validated().scale_dtype, ScaleDType::kFloat8E8M0FNU);
  QuantizationSpec explicit_scale = fp4;
  explicit_scale.scale_dtype = ScaleDType::kFloat8E8M0FNU;
  EXPECT_EQ(fp4, explicit_scale);
  // fp8 keeps plain float scales unless asked.
  EXPECT_FALSE(QuantizationSpec(DType::kFloat8E4M3FN).effective_scale_dtype().has_value());
}

// 0.3.0's stateless calculator: loads from YAML, prints back, refuses clipping at config
// time (the role and float_range rules come when a point is built, at prepare).
TEST(QuantizationSpec, DynamicCalculator) {
  const QuantizerConfig c = QuantizerConfig::from_yaml_string(
      "quantization_config:\n"
      "  global_config:\n"
      "    op_input_spec: {\"*\": {dtype: int8, qparam_calculator_cls: dynamic,\n"
      "                    granularity: {type: per_block, block_size: 32, axis: -1}}}\n",
      "dyn.yaml");
  const auto& in = c.global_config->op_input_spec.begin()->second;
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->qparam_calculator_cls, QParamCalculator::kDynamic);
  EXPECT_EQ(in->granularity, PerBlockGranularity(32, -1));
  EXPECT_NE(c.to_yaml().find("qparam_calculator_cls: dynamic"), std::string::npos);
  EXPECT_EQ(QuantizerConfig::from_yaml_string(c.to_yaml()), c);

  QuantizationSpec s(DType::kInt8);
  s.qparam_calculator_cls = QParamCalculator::kDynamic;
  s.qscheme = QuantizationScheme::kAsymmetric;
  EXPECT_NO_THROW((void)s.validated("a"));
  s.qscheme = QuantizationScheme::kSymmetricWithClipping;
  const auto e = config_error([&] { (void)s.validated("a"); });
  EXPECT_EQ(e.path(), "a.qscheme");
  EXPECT_EQ(e.message(),
            "SYMMETRIC_WITH_CLIPPING is not supported with a dynamic qparam_calculator_cls. Use "
            "qscheme=SYMMETRIC or ASYMMETRIC.");
  s.qparam_calculator_cls = QParamCalculator::kDefault;  // clipping with "default" stays valid
  EXPECT_NO_THROW((void)s.validated("a"));
}

TEST(QuantizationSpec, ValidationMessages) {
  QuantizationSpec s(DType::kFloat8E5M2);
  s.qscheme = QuantizationScheme::kAsymmetric;
  auto e = config_error([&] { (void)s.validated("w"); });
  EXPECT_EQ(e.path(), "w.qscheme");
  EXPECT_EQ(e.message(),
            "FP quantization (dtype=float8_e5m2) requires symmetric quantization scheme, got "
            "qscheme=asymmetric. Valid option: 'symmetric'");

  s = QuantizationSpec(DType::kFloat4E2M1FNx2);
  s.qformulation = QuantizationFormulation::kMinval;
  e = config_error([&] { (void)s.validated("w"); });
  EXPECT_EQ(e.path(), "w.qformulation");

  s = QuantizationSpec(DType::kInt4);
  s.scale_dtype = ScaleDType::kFloat8E8M0FNU;
  e = config_error([&] { (void)s.validated(""); });
  EXPECT_EQ(e.path(), "scale_dtype");
  EXPECT_EQ(e.message(),
            "scale_dtype must be None for dtype=int4, got scale_dtype=float8_e8m0fnu. No e8m0 "
            "target exponent is defined for it; supported dtypes are [float4_e2m1fn_x2, "
            "float8_e4m3fn, float8_e5m2].");
}

TEST(QuantizationSpec, FloatRangeRules) {
  auto with_range = [](std::optional<double> lo, std::optional<double> hi) {
    QuantizationSpec s;
    s.float_range = {lo, hi};
    return s;
  };
  EXPECT_NO_THROW((void)with_range(std::nullopt, std::nullopt).validated());
  EXPECT_NO_THROW((void)with_range(0.0, 5.0).validated());
  EXPECT_NO_THROW((void)with_range(-5.0, 0.0).validated());
  EXPECT_NO_THROW((void)with_range(-5.0, 5.0).validated());
  EXPECT_EQ(config_error([&] { (void)with_range(0.0, 0.0).validated(); }).message(),
            "float_range min must be < max, got [0.0, 0.0]");
  EXPECT_EQ(config_error([&] { (void)with_range(1.0, 5.0).validated(); }).message(),
            "float_range min must be <= 0 (the range always contains 0), got 1.0");
  EXPECT_EQ(config_error([&] { (void)with_range(-3.0, -1.0).validated(); }).message(),
            "float_range max must be >= 0 (the range always contains 0), got -1.0");
}

TEST(QuantizationSpec, GranularityRules) {
  // 0.3.0: a single-axis per_block axis is any int; its range is the tensor's business.
  QuantizationSpec s(DType::kInt4, PerBlockGranularity(32, 2));
  EXPECT_NO_THROW((void)s.validated("w"));
  s.granularity = PerBlockGranularity(32, -1);
  EXPECT_NO_THROW((void)s.validated("w"));

  s.granularity = PerBlockGranularity({4, 0, -1});
  auto e = config_error([&] { (void)s.validated("w"); });
  EXPECT_EQ(e.path(), "w.granularity.block_size[1]");

  s.granularity = PerBlockGranularity({4, -1, 2});
  EXPECT_NO_THROW((void)s.validated());
  s.granularity.axis = 0;
  EXPECT_EQ(config_error([&] { (void)s.validated(); }).message(),
            "axis must be null when block_size is a list, got 0");

  s.granularity = PerChannelGranularity(-1);  // negative axes are Python-style
  EXPECT_NO_THROW((void)s.validated());
}

TEST(QuantizationSpec, HelperSpecs) {
  const QuantizationSpec w = default_weight_quantization_spec();
  EXPECT_EQ(w.dtype, DType::kInt8);
  EXPECT_EQ(w.granularity, PerChannelGranularity(0));
  EXPECT_EQ(w.qparam_calculator_cls, QParamCalculator::kStatic);
  const QuantizationSpec a = default_activation_quantization_spec();
  EXPECT_EQ(a.granularity, PerTensorGranularity());
  EXPECT_EQ(a.qparam_calculator_cls, QParamCalculator::kMovingAverage);
  EXPECT_EQ(a.averaging_constant, 0.01);
}

// ------------------------------------------------- omitted / null / empty

TEST(ConfigDefaults, DefaultConstructedIsW8A8) {
  const ModuleQuantizerConfig m;
  ASSERT_EQ(m.op_input_spec.size(), 1u);
  EXPECT_EQ(*m.op_input_spec.get("*"), default_activation_quantization_spec());
  EXPECT_EQ(*m.op_output_spec.get("*"), default_activation_quantization_spec());
  EXPECT_EQ(*m.op_state_spec.get("weight"), default_weight_quantization_spec());
  EXPECT_TRUE(m.module_input_spec.empty());
  EXPECT_FALSE(m.qat_schedule.has_value());
  EXPECT_EQ(QuantizerConfig().global_config, ModuleQuantizerConfig());
  EXPECT_EQ(yaml("quantization_config: {}\n"), QuantizerConfig());
}

TEST(ConfigDefaults, OmittedNullAndEmpty) {
  const QuantizerConfig c = yaml(
      "quantization_config:\n"
      "  global_config:\n"
      "    op_input_spec: null\n"
      "    op_output_spec:\n"        // empty value = null
      "    op_type_config:\n"
      "      linear: null\n"          // disabled op
      "      conv2d: {}\n");          // default op config, not inherited
  const ModuleQuantizerConfig& g = *c.global_config;
  EXPECT_TRUE(g.op_input_spec.empty());
  EXPECT_TRUE(g.op_output_spec.empty());
  EXPECT_EQ(*g.op_state_spec.get("weight"), default_weight_quantization_spec());  // omitted
  EXPECT_TRUE(g.op_type_config.get("linear")->is_disabled());
  EXPECT_EQ(*g.op_type_config.get("conv2d"), OpQuantizerConfig());
}

TEST(ConfigDefaults, NullGlobalIsDisabledAndKeptAsNull) {
  const QuantizerConfig c = yaml("quantization_config:\n  global_config:\n");
  EXPECT_FALSE(c.global_config.has_value());
  EXPECT_NE(c.to_yaml().find("global_config: null"), std::string::npos);
  const QuantizerConfig d = yaml("quantization_config:\n  module_type_configs:\n    a.B: null\n");
  EXPECT_TRUE(d.module_type_configs.get("a.B")->is_disabled());
  EXPECT_EQ(*d.module_type_configs.get("a.B"), ModuleQuantizerConfig::disabled());
}

TEST(ConfigDefaults, NullTensorEntryIsFoundNotQuantized) {
  const QuantizerConfig c = yaml(
      "quantization_config:\n  module_name_configs:\n    enc:\n      module_output_spec:\n"
      "        \"*\": null\n");
  const SpecMap& out = c.module_name_configs.get("enc")->module_output_spec;
  const auto* found = lookup(out, TensorKey(3));
  ASSERT_NE(found, nullptr);
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(lookup(SpecMap{}, TensorKey(0)), nullptr);
}

// ---------------------------------------------------------- key handling

TEST(KeyNormalisation, DigitStringsBecomeIndices) {
  const QuantizerConfig c = yaml(
      "quantization_config:\n  module_type_configs:\n    torch.nn.modules.activation.MultiheadAttention:\n"
      "      module_input_spec:\n        \"0\": {dtype: int8}\n        1: {dtype: uint8}\n");
  const SpecMap& in =
      c.module_type_configs.get("torch.nn.modules.activation.MultiheadAttention")->module_input_spec;
  ASSERT_NE(in.get(TensorKey(0)), nullptr);
  EXPECT_EQ(in.get(TensorKey(0))->value().dtype, DType::kInt8);
  EXPECT_EQ(in.get(TensorKey(1))->value().dtype, DType::kUInt8);
  EXPECT_EQ(in.get(TensorKey("0")), nullptr);
}

TEST(KeyNormalisation, CollisionIsAnError) {
  auto e = config_error([] {
    yaml("quantization_config:\n  global_config:\n    op_input_spec:\n      0: {dtype: int8}\n"
         "      \"0\": {dtype: int4}\n");
  });
  // Reported at the second spelling.
  EXPECT_EQ(e.path(), "quantization_config.global_config.op_input_spec[\"0\"]");
  EXPECT_EQ(e.message(), "Key collision detected: keys 0 and '0' both convert to 0");
  EXPECT_EQ(e.location().line, 5);

  ModuleQuantizerConfig m;
  m.op_output_spec = {{"1", std::nullopt}, {1, std::nullopt}};
  e = config_error([&] { m.validate("m"); });
  EXPECT_EQ(e.message(), "Key collision detected: keys '1' and 1 both convert to 1");
}

TEST(KeyNormalisation, StateKeysStayStrings) {
  auto e = config_error(
      [] { yaml("quantization_config:\n  global_config:\n    op_state_spec:\n      0: null\n"); });
  EXPECT_EQ(e.path(), "quantization_config.global_config.op_state_spec");
  EXPECT_EQ(e.message(),
            "state keys must be parameter or buffer names ('*' for all), got an integer (0)");
}

TEST(GlobalRestriction, NoModuleLevelSpecsInGlobal) {
  auto e = config_error([] {
    yaml("quantization_config:\n  global_config:\n    module_input_spec:\n      0: null\n");
  });
  EXPECT_EQ(e.path(), "quantization_config.global_config.module_input_spec");
  // Locations point at the offending value: here the mapping under the key.
  EXPECT_EQ(e.location().line, 4);
  EXPECT_EQ(e.location().column, 7);
  ModuleQuantizerConfig g;
  g.module_state_spec = {{"weight", std::nullopt}};
  QuantizerConfig c;
  EXPECT_THROW(c.set_global(g), ConfigError);
  EXPECT_EQ(c.global_config, ModuleQuantizerConfig());  // atomic: unchanged
}

// ------------------------------------------------------------------ YAML

TEST(YamlLoading, AnchorsAliasesAndMergeKeys) {
  const QuantizerConfig c = yaml(
      "quantization_spec:\n"
      "  base: &base {dtype: int4, granularity: {type: per_block, block_size: 16}}\n"
      "  asym: &asym\n    <<: *base\n    qscheme: asymmetric\n    dtype: uint4\n"
      "quantization_config:\n"
      "  global_config:\n    op_state_spec: {weight: *asym, bias: *base}\n");
  const auto& st = c.global_config->op_state_spec;
  const QuantizationSpec& w = st.get("weight")->value();
  EXPECT_EQ(w.dtype, DType::kUInt4);  // explicit key beats the merged one
  EXPECT_EQ(w.qscheme, QuantizationScheme::kAsymmetric);
  EXPECT_EQ(w.granularity, PerBlockGranularity(16));
  EXPECT_EQ(st.get("bias")->value(), QuantizationSpec(DType::kInt4, PerBlockGranularity(16)));
}

TEST(YamlLoading, Yaml11ScalarTyping) {
  // `yes` is a boolean in YAML 1.1 (PyYAML), so it is not a valid module name key.
  auto e = config_error(
      [] { yaml("quantization_config:\n  module_name_configs:\n    yes: null\n"); });
  EXPECT_EQ(e.message(), "module name keys must be strings, got a boolean (yes) (quote it in YAML)");
  // Octal and hex integers, as PyYAML reads them.
  const QuantizerConfig c = yaml(
      "quantization_config:\n  global_config:\n    qat_schedule: {enable_observer: 010, "
      "enable_fake_quant: 0x10}\n");
  EXPECT_EQ(c.global_config->qat_schedule->enable_observer, 8);
  EXPECT_EQ(c.global_config->qat_schedule->enable_fake_quant, 16);
}

TEST(YamlLoading, ErrorsCarryFileLineColumnAndPath) {
  auto e = config_error([] {
    yaml("quantization_config:\n  module_name_configs:\n    \"enc.*\":\n      op_state_spec:\n"
         "        weight:\n          granularity: {type: per_block, block_size: 0}\n");
  });
  EXPECT_EQ(std::string(e.what()),
            "test.yaml:6:54: error: quantization_config.module_name_configs[\"enc.*\"]"
            ".op_state_spec.weight.granularity.block_size: block_size must be > 0, got 0");
}

TEST(YamlLoading, TopLevelKeys) {
  EXPECT_EQ(config_error([] { yaml("quantization_spec: {}\n"); }).message(),
            "missing top-level key 'quantization_config' (expected keys: 'quantization_config', "
            "'quantization_spec')");
  EXPECT_EQ(config_error([] { yaml("quantization_config: {}\nextra: 1\n"); }).message(),
            "unexpected top-level key 'extra'. Allowed: 'quantization_config', "
            "'quantization_spec'.");
  EXPECT_EQ(config_error([] { yaml(""); }).message(),
            "empty document: expected a mapping with a 'quantization_config' key");
}

TEST(JsonLoading, SameMeaningAsYaml) {
  const QuantizerConfig j = QuantizerConfig::from_json(
      R"({"quantization_config": {"global_config": {"op_input_spec": null,
          "op_state_spec": {"weight": {"dtype": "int4", "granularity": {"type": "per_channel"}}}},
          "execution_mode": "eager"}})");
  const QuantizerConfig y = yaml(
      "quantization_config:\n  global_config:\n    op_input_spec: null\n    op_state_spec:\n"
      "      weight: {dtype: int4, granularity: {type: per_channel}}\n  execution_mode: eager\n");
  EXPECT_EQ(j, y);
  auto e = config_error([] { QuantizerConfig::from_json("{\"quantization_config\": [}", "x.json"); });
  EXPECT_EQ(e.location().file, "x.json");
  EXPECT_EQ(e.location().line, 1);
}

// --------------------------------------------------------------- presets

TEST(Presets, WeightOnlyPresets) {
  const ModuleQuantizerConfig w8 = ModuleQuantizerConfig::presets.w8();
  EXPECT_TRUE(w8.op_input_spec.empty());
  EXPECT_TRUE(w8.op_output_spec.empty());
  EXPECT_EQ(w8.op_state_spec.get("weight")->value(),
            QuantizationSpec(DType::kInt8, PerChannelGranularity()));
  EXPECT_EQ(ModuleQuantizerConfig::presets.w4(0).op_state_spec.get("weight")->value(),
            QuantizationSpec(DType::kInt4, PerChannelGranularity(0)));
  EXPECT_EQ(ModuleQuantizerConfig::presets.w4_per_block().op_state_spec.get("weight")->value(),
            QuantizationSpec(DType::kInt4, PerBlockGranularity(32)));
  EXPECT_EQ(ModuleQuantizerConfig::presets.w4_per_block(64, 1).op_state_spec.get("weight")->value(),
            QuantizationSpec(DType::kInt4, PerBlockGranularity(64, 1)));
  const QuantizerConfig q = QuantizerConfig::presets.w4(std::nullopt, ExecutionMode::kEager);
  EXPECT_EQ(q.global_config, ModuleQuantizerConfig::presets.w4());
  EXPECT_EQ(q.execution_mode, ExecutionMode::kEager);
  EXPECT_TRUE(q.module_type_configs.empty());
}

// --------------------------------------------------------------- setters

TEST(Setters, ChainAndKeepPosition) {
  QuantizerConfig c = QuantizerConfig::presets.w4();
  c.set_module_name("a", std::nullopt)
      .set_module_name("b", ModuleQuantizerConfig::presets.w8())
      .set_module_name("a", ModuleQuantizerConfig::presets.w8());
  ASSERT_EQ(c.module_name_configs.size(), 2u);
  EXPECT_EQ(c.module_name_configs.begin()->first, "a");  // re-set keeps first position
  EXPECT_EQ(c.module_name_configs.begin()->second, ModuleQuantizerConfig::presets.w8());
  c.set_execution_mode("eager");
  EXPECT_EQ(c.execution_mode, ExecutionMode::kEager);
  {
    WarningCollector warnings;
    c.set_execution_mode("PT2E");  // deprecated alias of graph
    ASSERT_EQ(warnings.messages().size(), 1u);
    EXPECT_EQ(warnings.messages()[0], "execution_mode 'PT2E' is deprecated; use 'graph'");
  }
  EXPECT_EQ(c.execution_mode, ExecutionMode::kGraph);
  EXPECT_THROW(c.set_execution_mode("fast"), InvalidArgumentError);
}

TEST(Setters, OnlyForMovesGlobal) {
  QuantizerConfig c = QuantizerConfig::presets.w4();
  c.set_module_type("torch.nn.modules.linear.Linear", std::nullopt);
  c.only_for({module_type("torch.nn.modules.linear.Linear"),
              module_type("torch.nn.modules.conv.Conv2d"), "model.head"});
  EXPECT_FALSE(c.global_config.has_value());
  EXPECT_EQ(*c.module_type_configs.get("torch.nn.modules.linear.Linear"),
            ModuleQuantizerConfig::presets.w4());
  EXPECT_EQ(*c.module_type_configs.get("torch.nn.modules.conv.Conv2d"),
            ModuleQuantizerConfig::presets.w4());
  EXPECT_EQ(*c.module_name_configs.get("model.head"), ModuleQuantizerConfig::presets.w4());
  try {
    c.only_for({"x"});
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("non-disabled global_config"), std::string::npos);
  }
  EXPECT_THROW(QuantizerConfig().only_for({}), InvalidArgumentError);
}

TEST(Setters, AtomicOnError) {
  QuantizerConfig c;
  // The bad regex comes last: nothing may change.
  EXPECT_THROW(c.only_for({module_type("a.B"), "bad(["}), InvalidArgumentError);
  EXPECT_TRUE(c.module_type_configs.empty());
  EXPECT_TRUE(c.global_config.has_value());
  EXPECT_THROW(c.without({"ok", "bad(["}), InvalidArgumentError);
  EXPECT_TRUE(c.module_name_configs.empty());
  ModuleQuantizerConfig bad;
  bad.op_state_spec = {{"weight", QuantizationSpec(DType::kInt4, PerBlockGranularity(0))}};
  EXPECT_THROW(c.set_module_type("a.B", bad), ConfigError);
  EXPECT_TRUE(c.module_type_configs.empty());
}

TEST(Setters, WithoutDisablesTargets) {
  QuantizerConfig c = QuantizerConfig::presets.w4();
  c.without({module_type("torch.nn.modules.normalization.LayerNorm"), "model.lm_head"});
  EXPECT_TRUE(c.module_type_configs.get("torch.nn.modules.normalization.LayerNorm")->is_disabled());
  EXPECT_TRUE(c.module_name_configs.get("model.lm_head")->is_disabled());
  EXPECT_EQ(c.global_config, ModuleQuantizerConfig::presets.w4());
  c.without({});  // no-op
  EXPECT_EQ(c.module_name_configs.size(), 1u);
}

TEST(QATSchedule, StatesAndRules) {
  QATSchedule s{10, 20, 30};
  EXPECT_FALSE(s.observer_enabled_at(9));
  EXPECT_TRUE(s.observer_enabled_at(10));
  EXPECT_TRUE(s.observer_enabled_at(29));
  EXPECT_FALSE(s.observer_enabled_at(30));
  EXPECT_FALSE(s.fake_quant_enabled_at(19));
  EXPECT_TRUE(s.fake_quant_enabled_at(20));
  EXPECT_NO_THROW((QATSchedule{0, 5, 5}.validate()));  // disable == enable_fake_quant is allowed
  EXPECT_EQ(config_error([] { QATSchedule{5, 3, std::nullopt}.validate(); }).message(),
            "enable_fake_quant (3) must be >= enable_observer (5)");
  EXPECT_EQ(config_error([] { QATSchedule{5, 5, 5}.validate(); }).message(),
            "disable_observer (5) must be > enable_observer (5)");
  EXPECT_EQ(config_error([] { QATSchedule{0, 10, 5}.validate(); }).message(),
            "disable_observer (5) must be >= enable_fake_quant (10)");
}

TEST(Serialisation, CanonicalJsonFillsEveryDefault) {
  const std::string json = QuantizerConfig().to_json(-1);
  EXPECT_NE(json.find(R"("granularity":{"type":"per_channel","axis":0,"block_size":null})"),
            std::string::npos);
  EXPECT_NE(json.find(R"("n_bits":8,"target_dtype":"int8","quant_min":-128,"quant_max":127)"),
            std::string::npos);
  // Unset: the mode follows the model given to the Quantizer.
  EXPECT_NE(json.find(R"("execution_mode":null)"), std::string::npos);
  EXPECT_NE(json.find(R"("averaging_constant":0.01)"), std::string::npos);
  EXPECT_NE(
      QuantizerConfig().set_execution_mode("eager").to_json(-1).find(R"("execution_mode":"eager")"),
      std::string::npos);
  // Written and unset modes are different configs (one warns on a mismatched model).
  EXPECT_EQ(QuantizerConfig::from_json(QuantizerConfig().to_json()), QuantizerConfig());
  EXPECT_NE(QuantizerConfig().set_execution_mode("graph"), QuantizerConfig());
}

TEST(Serialisation, ComputedFieldsMustMatch) {
  auto e = config_error([] {
    yaml("quantization_config:\n  global_config:\n    op_state_spec:\n      weight: {dtype: "
         "int4, n_bits: 8}\n");
  });
  EXPECT_EQ(e.message(),
            "n_bits is computed from dtype (4 here), got an integer (8); remove it or correct it");
}

}  // namespace
}  // namespace coreai_opt::quantization
