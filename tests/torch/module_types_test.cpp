#include "coreai_opt/torch/module_types.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mynet {
struct BlockImpl : torch::nn::Module {
  BlockImpl() : fc(register_module("fc", torch::nn::Linear(4, 4))) {}
  torch::nn::Linear fc;
};
TORCH_MODULE(Block);
}  // namespace mynet

struct GlobalNet : torch::nn::Module {};

namespace coreai_opt::quantization {
namespace {

TEST(ModuleTypes, BuiltinsMapToPythonNames) {
  EXPECT_EQ(ModuleTypeKey<torch::nn::Linear>::get(), "torch.nn.modules.linear.Linear");
  EXPECT_EQ(ModuleTypeKey<torch::nn::LinearImpl>::get(), "torch.nn.modules.linear.Linear");
  EXPECT_EQ(ModuleTypeKey<torch::nn::Conv2d>::get(), "torch.nn.modules.conv.Conv2d");
  EXPECT_EQ(ModuleTypeKey<torch::nn::ConvTranspose1d>::get(),
            "torch.nn.modules.conv.ConvTranspose1d");
  EXPECT_EQ(ModuleTypeKey<torch::nn::Embedding>::get(), "torch.nn.modules.sparse.Embedding");
  EXPECT_EQ(ModuleTypeKey<torch::nn::LayerNorm>::get(), "torch.nn.modules.normalization.LayerNorm");
  EXPECT_EQ(ModuleTypeKey<torch::nn::BatchNorm2d>::get(), "torch.nn.modules.batchnorm.BatchNorm2d");
  EXPECT_EQ(ModuleTypeKey<torch::nn::MultiheadAttention>::get(),
            "torch.nn.modules.activation.MultiheadAttention");
  EXPECT_EQ(ModuleTypeKey<torch::nn::ReLU>::get(), "torch.nn.modules.activation.ReLU");
  EXPECT_EQ(ModuleTypeKey<torch::nn::Sequential>::get(), "torch.nn.modules.container.Sequential");
  EXPECT_EQ(ModuleTypeKey<torch::nn::ModuleList>::get(), "torch.nn.modules.container.ModuleList");
}

TEST(ModuleTypes, UserModulesUseTheirCppName) {
  EXPECT_EQ(ModuleTypeKey<mynet::Block>::get(), "mynet::BlockImpl");
  EXPECT_EQ(ModuleTypeKey<mynet::BlockImpl>::get(), "mynet::BlockImpl");
  EXPECT_EQ(ModuleTypeKey<GlobalNet>::get(), "GlobalNet");  // no dot, still a valid key
}

TEST(ModuleTypes, InstancesUseTheirDynamicType) {
  mynet::Block block;
  const torch::nn::Module& as_base = *block;
  EXPECT_EQ(module_type_key(as_base), "mynet::BlockImpl");
  EXPECT_EQ(module_type_key(*block->fc), "torch.nn.modules.linear.Linear");
  for (const auto& item : block->named_modules()) {
    EXPECT_FALSE(module_type_key(*item.value()).empty()) << item.key();
  }
}

TEST(ModuleTypes, TypedSetters) {
  QuantizerConfig c = QuantizerConfig::presets.w4();
  c.set_module_type<torch::nn::Embedding>(ModuleQuantizerConfig::presets.w8())
      .set_module_type<mynet::Block>(std::nullopt);
  EXPECT_EQ(*c.module_type_configs.get("torch.nn.modules.sparse.Embedding"),
            ModuleQuantizerConfig::presets.w8());
  EXPECT_TRUE(c.module_type_configs.get("mynet::BlockImpl")->is_disabled());

  QuantizerConfig d = QuantizerConfig::presets.w4();
  d.only_for({module_type<torch::nn::Linear>(), module_type<torch::nn::Conv2d>()});
  EXPECT_FALSE(d.global_config.has_value());
  EXPECT_EQ(d.module_type_configs.size(), 2u);
  EXPECT_TRUE(d.module_type_configs.contains("torch.nn.modules.conv.Conv2d"));
}

TEST(ModuleTypes, PythonNamesOnlyForBuiltins) {
  EXPECT_EQ(python_module_type("torch::nn::GELUImpl"), "torch.nn.modules.activation.GELU");
  EXPECT_EQ(python_module_type("torch::nn::FooImpl"), std::nullopt);
  EXPECT_EQ(python_module_type("mynet::Linear"), std::nullopt);
  EXPECT_EQ(module_type_key("mynet::Linear"), "mynet::Linear");
}

}  // namespace
}  // namespace coreai_opt::quantization
