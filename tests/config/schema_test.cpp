// The checked-in generated files must match what the schema tables produce.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

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
