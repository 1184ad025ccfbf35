#include <gtest/gtest.h>

#include "coreai_opt/quantization/config.h"

namespace coreai_opt::quantization {
namespace {

TEST(QuantizationSpec, DefaultsAreInt8SymmetricPerTensor) {
  QuantizationSpec s;
  EXPECT_EQ(s.dtype, DType::kInt8);
  EXPECT_EQ(s.qscheme, QuantizationScheme::kSymmetric);
  EXPECT_EQ(s.qformulation, QuantizationFormulation::kZp);
  EXPECT_EQ(s.granularity.type, GranularityType::kPerTensor);
  EXPECT_EQ(s.qparam_calculator_cls, QParamCalculator::kDefault);
  EXPECT_EQ(s.n_bits(), 8);
  EXPECT_EQ(s.target_dtype(), "int8");
  EXPECT_EQ(s.quant_min(), -128);
  EXPECT_EQ(s.quant_max(), 127);
  EXPECT_FALSE(s.effective_scale_dtype().has_value());
}

}  // namespace
}  // namespace coreai_opt::quantization
