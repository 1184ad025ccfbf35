// The checked-in generated files must match what the schema tables produce.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/schema.h"

namespace coreai_opt::quantization {
namespace {

std::string read(const std::string& relative) {
  std::ifstream in(std::string(COREAI_OPT_SOURCE_DIR) + "/" + relative);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(GeneratedFiles, JsonSchemaIsCurrent) {
  EXPECT_EQ(read("configs/schema.json"), config_json_schema())
      << "configs/schema.json is stale: run `build/bin/coreai-opt schema > configs/schema.json`";
}

TEST(GeneratedFiles, KeyReferenceIsCurrent) {
  EXPECT_EQ(read("docs/config_keys.md"), config_key_reference_markdown())
      << "docs/config_keys.md is stale: run `build/bin/coreai-opt schema --markdown > "
         "docs/config_keys.md`";
}

TEST(GeneratedFiles, SchemaNamesEveryType) {
  const std::string s = config_json_schema();
  for (const char* def : {"QuantizerConfig", "ModuleQuantizerConfig", "OpQuantizerConfig",
                          "QATSchedule", "QuantizationSpec", "Granularity"}) {
    EXPECT_NE(s.find(std::string("\"") + def + "\": {"), std::string::npos) << def;
  }
}

}  // namespace
}  // namespace coreai_opt::quantization

namespace coreai_opt::quantization {
namespace {

TEST(SpecJson, RoundTripsEveryDType) {
  for (DType d : kAllDTypes) {
    QuantizationSpec s(d, is_float(d) ? PerBlockGranularity(32) : PerChannelGranularity(1));
    if (!is_float(d)) s.qscheme = QuantizationScheme::kAsymmetric;
    s.float_range = {-2.5, std::nullopt};
    s.averaging_constant = 0.25;
    const std::string json = spec_to_json(s);
    EXPECT_EQ(spec_from_json(json), s.validated()) << json;
  }
  EXPECT_EQ(spec_to_json(QuantizationSpec(DType::kInt4, PerBlockGranularity(32))),
            R"({"dtype":"int4","qscheme":"symmetric","qformulation":"zp",)"
            R"("granularity":{"type":"per_block","axis":null,"block_size":32},)"
            R"("fake_quantize_cls":"default","qparam_calculator_cls":"default",)"
            R"("range_calculator_cls":"minmax","float_range":[null,null],"scale_dtype":null,)"
            R"("averaging_constant":0.01,"n_bits":4,"target_dtype":"int8","quant_min":-8,)"
            R"("quant_max":7})");
}

TEST(SpecJson, ErrorsNameThePath) {
  try {
    spec_from_json(R"({"dtype": "int3"})");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "spec.dtype");
  }
}

}  // namespace
}  // namespace coreai_opt::quantization
