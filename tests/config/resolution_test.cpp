#include "coreai_opt/quantization/resolution.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace coreai_opt::quantization {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kNet = "mynet::Net";
constexpr const char* kSequential = "torch.nn.modules.container.Sequential";
constexpr const char* kConv2d = "torch.nn.modules.conv.Conv2d";
constexpr const char* kReLU = "torch.nn.modules.activation.ReLU";
constexpr const char* kLinear = "torch.nn.modules.linear.Linear";
constexpr const char* kOuter = "mynet::OuterImpl";
constexpr const char* kInner = "mynet::InnerImpl";

// A config told apart from the others by its QAT schedule (inherited by
// children, unlike module-level specs).
ModuleQuantizerConfig tagged(std::int64_t tag) {
  ModuleQuantizerConfig c;
  c.qat_schedule = QATSchedule{tag, tag, std::nullopt};
  return c;
}

// tagged() plus module-level specs, which children must not inherit.
ModuleQuantizerConfig tagged_with_module_specs(std::int64_t tag) {
  ModuleQuantizerConfig c = tagged(tag);
  c.module_input_spec = {{0, default_activation_quantization_spec()}};
  c.module_output_spec = {{"*", std::nullopt}};
  c.module_state_spec = {{"weight", QuantizationSpec(DType::kInt4, PerChannelGranularity(0))}};
  return c;
}

// The tag of a module's config; -1 for an untagged one (e.g. the default global).
std::int64_t tag_of(const ModuleResolution& m) {
  return m.config->qat_schedule ? m.config->qat_schedule->enable_observer : -1;
}

std::int64_t tag(const Resolution& r, const std::string& path) { return tag_of(r.module(path)); }

// root
//   features (Sequential): 0 Conv2d, 1 ReLU, 2 Conv2d
//   classifier (Sequential): 0 Linear, 1 ReLU, 2 Linear
ModelDescription vgg() {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("features", kSequential)
      .add_module("features.0", kConv2d)
      .add_module("features.1", kReLU)
      .add_module("features.2", kConv2d)
      .add_module("classifier", kSequential)
      .add_module("classifier.0", kLinear)
      .add_module("classifier.1", kReLU)
      .add_module("classifier.2", kLinear);
  return m;
}

// root: outer (Outer) { inner (Inner) { lin (Linear) } }, inner2 (Inner) { lin (Linear) }
ModelDescription outer_inner() {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("outer", kOuter)
      .add_module("outer.inner", kInner)
      .add_module("outer.inner.lin", kLinear)
      .add_module("inner2", kInner)
      .add_module("inner2.lin", kLinear);
  return m;
}

std::vector<std::string> names(const Resolution& r) {
  std::vector<std::string> out;
  for (const auto& m : r.modules()) out.push_back(m.name);
  return out;
}

// ------------------------------------------------------------ module level

TEST(ResolutionModules, EveryModuleGetsTheGlobalConfigByDefault) {
  const QuantizerConfig cfg;
  const Resolution r = resolve(cfg, vgg());
  EXPECT_THAT(names(r), ElementsAre("", "features", "features.0", "features.1", "features.2",
                                    "classifier", "classifier.0", "classifier.1", "classifier.2"));
  for (const auto& m : r.modules()) {
    EXPECT_EQ(m.level, ModuleConfigLevel::kGlobal) << m.name;
    EXPECT_EQ(m.source, m.name);
    EXPECT_FALSE(m.inherited());
    EXPECT_EQ(*m.config, ModuleQuantizerConfig());
    EXPECT_EQ(m.provenance(), "global_config");
  }
  EXPECT_EQ(r.module("features.0").type, kConv2d);
}

TEST(ResolutionModules, NullGlobalIsTheDisabledConfig) {
  QuantizerConfig cfg;
  cfg.set_global(std::nullopt);
  const Resolution r = resolve(cfg, vgg());
  for (const auto& m : r.modules()) {
    EXPECT_EQ(*m.config, ModuleQuantizerConfig::disabled()) << m.name;
    EXPECT_TRUE(m.config->is_disabled());
    EXPECT_EQ(m.rule(), "global_config");
  }
}

TEST(ResolutionModules, NameRegexIsAFullMatch) {
  QuantizerConfig cfg;
  cfg.set_module_name("features", tagged(1));
  const Resolution r = resolve(cfg, vgg());
  EXPECT_EQ(tag(r, "features"), 1);
  EXPECT_EQ(r.module("features").level, ModuleConfigLevel::kName);
  EXPECT_FALSE(r.module("features").inherited());
  // The children inherit from features, they are not matched themselves.
  for (const char* child : {"features.0", "features.1", "features.2"}) {
    EXPECT_EQ(tag(r, child), 1) << child;
    EXPECT_EQ(r.module(child).source, "features");
    EXPECT_TRUE(r.module(child).inherited());
  }
  EXPECT_EQ(r.module("").level, ModuleConfigLevel::kGlobal);
  EXPECT_EQ(r.module("classifier.0").level, ModuleConfigLevel::kGlobal);

  // A prefix is not a match.
  QuantizerConfig prefix;
  prefix.set_module_name("feature", tagged(1)).set_module_name("features.0.x", tagged(2));
  const Resolution rp = resolve(prefix, vgg());
  for (const auto& m : rp.modules()) EXPECT_EQ(m.level, ModuleConfigLevel::kGlobal) << m.name;
}

TEST(ResolutionModules, ChildPatternDoesNotMatchTheParent) {
  QuantizerConfig cfg;
  cfg.set_module_name(R"(features\.\d+)", tagged(1));
  const Resolution r = resolve(cfg, vgg());
  EXPECT_EQ(r.module("features").level, ModuleConfigLevel::kGlobal);
  for (const char* child : {"features.0", "features.1", "features.2"}) {
    EXPECT_EQ(r.module(child).level, ModuleConfigLevel::kName) << child;
    EXPECT_EQ(r.module(child).source, child);
    EXPECT_EQ(tag(r, child), 1);
  }
  EXPECT_EQ(r.module("classifier.0").level, ModuleConfigLevel::kGlobal);
}

TEST(ResolutionModules, DotStarMatchesEveryModuleIncludingTheRoot) {
  QuantizerConfig cfg;
  cfg.set_module_name(".*", tagged_with_module_specs(1));
  const Resolution r = resolve(cfg, vgg());
  for (const auto& m : r.modules()) {
    EXPECT_EQ(m.level, ModuleConfigLevel::kName) << m.name;
    EXPECT_FALSE(m.inherited()) << m.name;  // each matched directly
    EXPECT_TRUE(m.config->has_module_level_specs()) << m.name;
  }
  EXPECT_EQ(r.module("").provenance(), R"(module_name_configs[".*"])");
}

TEST(ResolutionModules, EmptyPatternMatchesTheRootAndEverythingInherits) {
  QuantizerConfig cfg;
  cfg.set_module_name("", tagged(4));
  const Resolution r = resolve(cfg, vgg());
  EXPECT_FALSE(r.module("").inherited());
  EXPECT_EQ(r.module("classifier.2").source, "");
  EXPECT_EQ(tag(r, "classifier.2"), 4);
  EXPECT_EQ(r.module("classifier.2").provenance(),
            R"(module_name_configs[""] (inherited from ""))");
}

TEST(ResolutionModules, ChildrenInheritEverythingButModuleLevelSpecs) {
  ModuleQuantizerConfig parent = tagged_with_module_specs(7);
  parent.op_state_spec = {{"weight", QuantizationSpec(DType::kInt4, PerChannelGranularity(0))}};
  parent.op_input_spec.clear();
  parent.op_type_config.set("conv2d", OpQuantizerConfig::disabled());
  OpQuantizerConfig named;
  named.op_output_spec.clear();
  parent.op_name_config.set("conv2d_1", named);
  QuantizerConfig cfg;
  cfg.set_module_name("features", parent);
  const Resolution r = resolve(cfg, vgg());

  const ModuleQuantizerConfig& own = *r.module("features").config;
  EXPECT_EQ(own.module_input_spec.size(), 1u);
  EXPECT_EQ(own.module_output_spec.size(), 1u);
  EXPECT_EQ(own.module_state_spec.size(), 1u);

  ModuleQuantizerConfig expected_child = *r.module("features").config;
  expected_child.module_input_spec.clear();
  expected_child.module_output_spec.clear();
  expected_child.module_state_spec.clear();
  const ModuleQuantizerConfig& child = *r.module("features.0").config;
  EXPECT_EQ(child, expected_child);
  EXPECT_FALSE(child.has_module_level_specs());
  EXPECT_TRUE(child.op_input_spec.empty());
  EXPECT_EQ(child.op_state_spec.get("weight")->value().dtype, DType::kInt4);
  EXPECT_TRUE(child.op_type_config.contains("conv2d"));
  EXPECT_TRUE(child.op_name_config.contains("conv2d_1"));
  ASSERT_TRUE(child.qat_schedule.has_value());
  EXPECT_EQ(child.qat_schedule->enable_observer, 7);
}

TEST(ResolutionModules, NameLevelBeatsTypeLevelAtAnyDepth) {
  // A name config on the parent beats a type config on the child.
  QuantizerConfig a;
  a.set_module_type(kLinear, tagged(1)).set_module_name("classifier", tagged(2));
  const Resolution ra = resolve(a, vgg());
  EXPECT_EQ(tag(ra, "classifier.0"), 2);
  EXPECT_EQ(ra.module("classifier.0").level, ModuleConfigLevel::kName);
  EXPECT_EQ(ra.module("classifier.0").provenance(),
            R"(module_name_configs["classifier"] (inherited from "classifier"))");

  // A type config on the parent never beats a name config on the child, and
  // the other children inherit the parent's type config.
  QuantizerConfig b;
  b.set_module_name("classifier.0", tagged(3)).set_module_type(kSequential, tagged(4));
  const Resolution rb = resolve(b, vgg());
  EXPECT_EQ(tag(rb, "classifier.0"), 3);
  EXPECT_EQ(rb.module("classifier.0").level, ModuleConfigLevel::kName);
  EXPECT_EQ(tag(rb, "classifier"), 4);
  EXPECT_EQ(rb.module("classifier").level, ModuleConfigLevel::kType);
  EXPECT_EQ(tag(rb, "classifier.1"), 4);
  EXPECT_EQ(rb.module("classifier.1").source, "classifier");
  EXPECT_EQ(rb.module("classifier.1").level, ModuleConfigLevel::kType);
  EXPECT_EQ(
      rb.module("classifier.1").provenance(),
      "module_type_configs[\"" + std::string(kSequential) + "\"] (inherited from \"classifier\")");
  EXPECT_EQ(rb.module("").level, ModuleConfigLevel::kGlobal);
}

// §3.6 rule 4: within one level the later entry wins, also across parent/child.
TEST(ResolutionModules, LaterNameEntryWins_ConvStarThenConv1) {
  ModelDescription m;
  m.add_module("", kNet).add_module("conv1", kConv2d).add_module("conv2", kConv2d);
  QuantizerConfig cfg;
  cfg.set_module_name("conv.*", tagged(1)).set_module_name("conv1", tagged(2));
  const Resolution r = resolve(cfg, m);
  EXPECT_EQ(tag(r, "conv1"), 2);
  EXPECT_EQ(tag(r, "conv2"), 1);
  EXPECT_EQ(r.module("conv1").rule(), R"(module_name_configs["conv1"])");
  EXPECT_EQ(r.module("conv2").rule(), R"(module_name_configs["conv.*"])");
}

TEST(ResolutionModules, LaterNameEntryWins_IndexPatternThenSections) {
  QuantizerConfig cfg;
  cfg.set_module_name(R"(.*\.0)", tagged(1))
      .set_module_name(R"(features\..*)", tagged(2))
      .set_module_name(R"(classifier\..*)", tagged(3));
  const Resolution r = resolve(cfg, vgg());
  EXPECT_EQ(tag(r, "features.0"), 2);
  EXPECT_EQ(tag(r, "classifier.0"), 3);
  EXPECT_EQ(tag(r, "features.2"), 2);
  EXPECT_EQ(tag(r, "classifier.1"), 3);
  EXPECT_EQ(r.module("features").level, ModuleConfigLevel::kGlobal);
}

TEST(ResolutionModules, LaterNameEntryWins_ParentThenChild) {
  QuantizerConfig cfg;
  cfg.set_module_name("features", tagged(1)).set_module_name("features.0", tagged(2));
  const Resolution r = resolve(cfg, vgg());
  EXPECT_EQ(tag(r, "features.0"), 2);
  EXPECT_FALSE(r.module("features.0").inherited());
  EXPECT_EQ(tag(r, "features"), 1);
  EXPECT_EQ(tag(r, "features.1"), 1);
  EXPECT_EQ(tag(r, "features.2"), 1);
  EXPECT_EQ(r.module("features.2").source, "features");
}

TEST(ResolutionModules, LaterParentEntrySwallowsEarlierChildEntry) {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("inner_model", kInner)
      .add_module("inner_model.linear1", kLinear)
      .add_module("inner_model.linear2", kLinear)
      .add_module("linear", kLinear);
  QuantizerConfig cfg;
  cfg.set_module_name("inner_model.linear2", tagged(1)).set_module_name("inner_model", tagged(2));
  const Resolution r = resolve(cfg, m);
  EXPECT_EQ(tag(r, "inner_model.linear1"), 2);
  EXPECT_EQ(tag(r, "inner_model.linear2"), 2);
  EXPECT_EQ(r.module("inner_model.linear2").provenance(),
            R"(module_name_configs["inner_model"] (inherited from "inner_model"))");
  EXPECT_EQ(r.module("linear").level, ModuleConfigLevel::kGlobal);
}

TEST(ResolutionModules, LaterTypeEntryWins_OuterThenInner) {
  QuantizerConfig cfg;
  cfg.set_module_type(kOuter, tagged_with_module_specs(1))
      .set_module_type(kInner, tagged_with_module_specs(2));
  const Resolution r = resolve(cfg, outer_inner());
  EXPECT_EQ(tag(r, "outer"), 1);
  EXPECT_EQ(tag(r, "outer.inner"), 2);
  EXPECT_FALSE(r.module("outer.inner").inherited());
  EXPECT_TRUE(r.module("outer.inner").config->has_module_level_specs());
  EXPECT_EQ(tag(r, "inner2"), 2);
  EXPECT_EQ(tag(r, "outer.inner.lin"), 2);
  EXPECT_EQ(r.module("outer.inner.lin").source, "outer.inner");
  EXPECT_FALSE(r.module("outer.inner.lin").config->has_module_level_specs());
  EXPECT_EQ(r.module("").level, ModuleConfigLevel::kGlobal);
}

TEST(ResolutionModules, LaterTypeEntryWins_InnerThenOuter) {
  QuantizerConfig cfg;
  cfg.set_module_type(kInner, tagged_with_module_specs(2))
      .set_module_type(kOuter, tagged_with_module_specs(1));
  const Resolution r = resolve(cfg, outer_inner());
  EXPECT_EQ(tag(r, "outer"), 1);
  EXPECT_TRUE(r.module("outer").config->has_module_level_specs());
  // Inner inside Outer gets Outer's config without its module-level specs;
  // its own type entry is lost for it.
  const ModuleResolution& inner = r.module("outer.inner");
  EXPECT_EQ(tag_of(inner), 1);
  EXPECT_EQ(inner.level, ModuleConfigLevel::kType);
  EXPECT_EQ(inner.key, kOuter);
  EXPECT_EQ(inner.source, "outer");
  EXPECT_FALSE(inner.config->has_module_level_specs());
  EXPECT_EQ(tag(r, "outer.inner.lin"), 1);
  // An Inner elsewhere keeps its own entry.
  EXPECT_EQ(tag(r, "inner2"), 2);
  EXPECT_TRUE(r.module("inner2").config->has_module_level_specs());
}

TEST(ResolutionModules, OneIdentifierMatchingModuleAndAncestor_ModuleKeepsItsOwnSpecs) {
  QuantizerConfig cfg;
  cfg.set_module_name(R"(features(\.0)?)", tagged_with_module_specs(1));
  const Resolution r = resolve(cfg, vgg());
  EXPECT_FALSE(r.module("features.0").inherited());
  EXPECT_TRUE(r.module("features.0").config->has_module_level_specs());
  EXPECT_TRUE(r.module("features").config->has_module_level_specs());
  EXPECT_TRUE(r.module("features.1").inherited());
  EXPECT_FALSE(r.module("features.1").config->has_module_level_specs());
}

TEST(ResolutionModules, ResettingAKeyKeepsItsPosition) {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("inner", kInner)
      .add_module("inner.lin", kLinear)
      .add_module("inner.other", kLinear);
  QuantizerConfig cfg;
  cfg.set_module_name("inner.lin", tagged(1))
      .set_module_name("inner", tagged(2))
      .set_module_name("inner.lin", tagged(3));  // updated in place: still before "inner"
  const Resolution r = resolve(cfg, m);
  EXPECT_EQ(tag(r, "inner.lin"), 2);
  EXPECT_EQ(tag(r, "inner"), 2);

  QuantizerConfig moved;  // the same entries defined child last
  moved.set_module_name("inner", tagged(2)).set_module_name("inner.lin", tagged(3));
  EXPECT_EQ(tag(resolve(moved, m), "inner.lin"), 3);
}

// ---------------------------------------------------------------- aliases

// root: a { x = X { lin } }, b { y = X }: one object X under two names.
ModelDescription shared_model() {
  ModelDescription m;
  m.add_module("", kNet, 1)
      .add_module("a", kSequential, 2)
      .add_module("a.x", kInner, 3)
      .add_module("a.x.lin", kLinear, 4)
      .add_module("b", kSequential, 5)
      .add_module("b.y", kInner, 3);
  return m;
}

TEST(ResolutionAliases, SharedModuleIsOneModuleWithAliases) {
  const Resolution r = resolve(QuantizerConfig(), shared_model());
  EXPECT_THAT(names(r), ElementsAre("", "a", "a.x", "a.x.lin", "b"));
  EXPECT_THAT(r.module("a.x").aliases, ElementsAre("b.y"));
  // Paths below an alias are aliases too, registered or not.
  EXPECT_THAT(r.module("a.x.lin").aliases, ElementsAre("b.y.lin"));
  EXPECT_EQ(&r.module("b.y"), &r.module("a.x"));
  EXPECT_EQ(&r.module("b.y.lin"), &r.module("a.x.lin"));
  EXPECT_EQ(r.find_module("b.z"), nullptr);
  EXPECT_THROW(r.module("b.z"), InvalidArgumentError);
}

TEST(ResolutionAliases, PatternOnAnAliasConfiguresTheObject) {
  QuantizerConfig cfg;
  cfg.set_module_name(R"(b\.y)", tagged(1));
  const Resolution r = resolve(cfg, shared_model());
  EXPECT_EQ(tag(r, "a.x"), 1);
  EXPECT_FALSE(r.module("a.x").inherited());
  EXPECT_EQ(tag(r, "a.x.lin"), 1);
  EXPECT_EQ(r.module("a.x.lin").source, "a.x");  // canonical names throughout
  EXPECT_EQ(r.module("b").level, ModuleConfigLevel::kGlobal);

  QuantizerConfig deep;
  deep.set_module_name(R"(b\.y\.lin)", tagged(2));
  const Resolution rd = resolve(deep, shared_model());
  EXPECT_EQ(tag(rd, "a.x.lin"), 2);
  EXPECT_EQ(rd.module("a.x").level, ModuleConfigLevel::kGlobal);
}

TEST(ResolutionAliases, SharedModuleIsConfiguredOnce_VisitedAcrossParents) {
  // Entries are processed last-defined first: "a" claims X through a.x before
  // "b" gets to it.
  QuantizerConfig ab;
  ab.set_module_name("b", tagged(2)).set_module_name("a", tagged(1));
  const Resolution r1 = resolve(ab, shared_model());
  EXPECT_EQ(tag(r1, "a.x"), 1);
  EXPECT_EQ(r1.module("a.x").source, "a");

  QuantizerConfig ba;
  ba.set_module_name("a", tagged(1)).set_module_name("b", tagged(2));
  const Resolution r2 = resolve(ba, shared_model());
  EXPECT_EQ(tag(r2, "a.x"), 2);
  EXPECT_EQ(r2.module("a.x").source, "b");
  EXPECT_EQ(r2.module("b.y.lin").provenance(), R"(module_name_configs["b"] (inherited from "b"))");
}

TEST(ResolutionAliases, SharedModuleCountsOnceForItsTypeKey) {
  QuantizerConfig cfg;
  cfg.set_module_type(kInner, tagged(1));
  const Resolution r = resolve(cfg, shared_model());
  ASSERT_EQ(r.key_usage().size(), 1u);
  EXPECT_EQ(r.key_usage()[0].matched, 1u);
  EXPECT_EQ(r.key_usage()[0].decided, 2u);  // a.x and a.x.lin
}

TEST(ResolutionAliases, ExplicitAliasPathsMustNameTheSameObject) {
  ModelDescription m = shared_model();
  m.add_module("b.y.lin", kLinear, 4);  // consistent: accepted
  EXPECT_EQ(resolve(QuantizerConfig(), m).modules().size(), 5u);

  ModelDescription bad = shared_model();
  try {
    bad.add_module("b.y.lin", kLinear);  // no identity: a different object
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("module 'b.y.lin' is not the object registered as child "
                                    "'lin' of the same (shared) parent"));
  }
  // The failed call changed nothing.
  EXPECT_EQ(bad.num_modules(), 5u);
}

// ------------------------------------------------------------ description

TEST(ModelDescriptionTest, RejectsMalformedDescriptions) {
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const InvalidArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] { ModelDescription().add_module("a", kLinear); }),
            "module 'a' is registered before the root module ''; register '' first");
  EXPECT_EQ(message([] { ModelDescription().add_module("", kNet).add_module("", kNet); }),
            "module '' is registered twice");
  EXPECT_EQ(message([] { ModelDescription().add_module("", kNet).add_module("a.b", kLinear); }),
            "the parent 'a' of module 'a.b' is not registered; register parents first");
  EXPECT_EQ(message([] { ModelDescription().add_module("", kNet).add_module(".a", kLinear); }),
            "module path '.a' is malformed: expected dot-separated non-empty names");
  EXPECT_EQ(message([] {
              ModelDescription()
                  .add_module("", kNet)
                  .add_module("a", kSequential)
                  .add_module("a.", kLinear);
            }),
            "module path 'a.' is malformed: expected dot-separated non-empty names");
  EXPECT_EQ(message([] { ModelDescription().add_module("", ""); }),
            "module '' has an empty type key; expected a fully-qualified type name such as "
            "'torch.nn.modules.linear.Linear'");
  EXPECT_EQ(message([] {
              ModelDescription()
                  .add_module("", kNet)
                  .add_module("a", kLinear, 7)
                  .add_module("b", kConv2d, 7);
            }),
            "module 'b' has type 'torch.nn.modules.conv.Conv2d' but the same object was "
            "registered with type 'torch.nn.modules.linear.Linear'");
  EXPECT_EQ(message([] {
              ModelDescription()
                  .add_module("", kNet, 1)
                  .add_module("a", kSequential, 2)
                  .add_module("a.self", kSequential, 2);
            }),
            "module 'a.self' would contain itself: its object is an ancestor of its parent");
  EXPECT_EQ(message([] {
              ModelDescription()
                  .add_module("", kNet, 1)
                  .add_module("a", kSequential, 2)
                  .add_module("a.b", kSequential, 3)
                  .add_module("c", kSequential, 3)
                  .add_module("c.a", kSequential, 2);  // a -> b -> a through the alias c
            }),
            "module 'c.a' would contain itself: its object is an ancestor of its parent");
  EXPECT_EQ(message([] { ModelDescription().add_op("", "add", std::nullopt); }),
            "an op has an empty name");
  EXPECT_EQ(message([] {
              ModelDescription().add_op("add", "add", std::nullopt).add_op("add", "add", "");
            }),
            "op 'add' is registered twice");
  EXPECT_EQ(message([] { resolve(QuantizerConfig(), ModelDescription()); }),
            "the model description has no modules; register the root '' first");
}

TEST(ModelDescriptionTest, SiblingOrderIsRegistrationOrder) {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("z", kLinear)
      .add_module("a", kSequential)
      .add_module("a.k", kLinear);
  m.add_module("b", kLinear);
  EXPECT_THAT(names(resolve(QuantizerConfig(), m)), ElementsAre("", "z", "a", "a.k", "b"));

  // The canonical name of a shared module is its first path in pre-order, not
  // the first path registered.
  ModelDescription shared;
  shared.add_module("", kNet)
      .add_module("b", kSequential)
      .add_module("a", kSequential)
      .add_module("a.x", kLinear, 9)
      .add_module("b.x", kLinear, 9);
  const Resolution r = resolve(QuantizerConfig(), shared);
  EXPECT_THAT(names(r), ElementsAre("", "b", "b.x", "a"));
  EXPECT_THAT(r.module("a.x").aliases, ElementsAre("a.x"));
  EXPECT_EQ(r.module("a.x").name, "b.x");
}

// ------------------------------------------------------------------- ops

// root { enc (Sequential) { 0 Linear, 1 Linear }, head Linear }, with graph-style ops.
ModelDescription encoder_model() {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("enc", kSequential)
      .add_module("enc.0", kLinear)
      .add_module("enc.1", kLinear)
      .add_module("head", kLinear);
  m.add_op("linear", "linear", "enc.0")
      .add_op("relu", "relu", "enc")
      .add_op("linear_1", "linear", "enc.1")
      .add_op("add", "add", "")
      .add_op("linear_2", "linear", "head")
      .add_op("getitem", "getitem", std::nullopt);
  return m;
}

OpQuantizerConfig op_tagged(DType weight_dtype) {
  OpQuantizerConfig c;
  c.op_state_spec = {{"weight", QuantizationSpec(weight_dtype, PerChannelGranularity(0))}};
  return c;
}

TEST(ResolutionOps, DefaultIsTheModuleOpSpecs) {
  ModuleQuantizerConfig global = ModuleQuantizerConfig::presets.w4();
  const QuantizerConfig cfg(global);
  const Resolution r = resolve(cfg, encoder_model());
  ASSERT_EQ(r.ops().size(), 6u);
  const OpResolution& op = r.op("linear");
  EXPECT_EQ(op.level, OpConfigLevel::kDefault);
  EXPECT_EQ(op.module, std::optional<std::string>("enc.0"));
  EXPECT_TRUE(op.config->op_input_spec.empty());
  EXPECT_TRUE(op.config->op_output_spec.empty());
  EXPECT_EQ(op.config->op_state_spec, global.op_state_spec);
  EXPECT_EQ(op.provenance(), "global_config > op_*_spec");
  EXPECT_EQ(r.op("add").module, std::optional<std::string>(""));
}

TEST(ResolutionOps, OpNameBeatsOpTypeBeatsDefault) {
  ModuleQuantizerConfig global;
  global.op_type_config.set("linear", op_tagged(DType::kInt4));
  global.op_name_config.set("linear_1", op_tagged(DType::kUInt8));
  const Resolution r = resolve(QuantizerConfig(global), encoder_model());
  EXPECT_EQ(r.op("linear_1").level, OpConfigLevel::kName);
  EXPECT_EQ(r.op("linear_1").config->op_state_spec.get("weight")->value().dtype, DType::kUInt8);
  EXPECT_EQ(r.op("linear_1").provenance(), R"(global_config > op_name_config["linear_1"])");
  EXPECT_EQ(r.op("linear").level, OpConfigLevel::kType);
  EXPECT_EQ(r.op("linear").config->op_state_spec.get("weight")->value().dtype, DType::kInt4);
  EXPECT_EQ(r.op("linear").provenance(), R"(global_config > op_type_config["linear"])");
  EXPECT_EQ(r.op("relu").level, OpConfigLevel::kDefault);
  EXPECT_EQ(*r.op("relu").config, OpQuantizerConfig());
}

TEST(ResolutionOps, OpNameRegexIsAFullMatchLastDefinedFirst) {
  ModuleQuantizerConfig a;
  a.op_name_config.set("linear", op_tagged(DType::kInt4));  // not linear_1
  const Resolution ra = resolve(QuantizerConfig(a), encoder_model());
  EXPECT_EQ(ra.op("linear").level, OpConfigLevel::kName);
  EXPECT_EQ(ra.op("linear_1").level, OpConfigLevel::kDefault);

  ModuleQuantizerConfig b;
  b.op_name_config.set("linear.*", op_tagged(DType::kInt4));
  b.op_name_config.set("linear_1", op_tagged(DType::kUInt8));
  const Resolution rb = resolve(QuantizerConfig(b), encoder_model());
  EXPECT_EQ(rb.op("linear_1").key, "linear_1");
  EXPECT_EQ(rb.op("linear").key, "linear.*");
  EXPECT_EQ(rb.op("linear_2").key, "linear.*");

  ModuleQuantizerConfig c;  // reversed definition order: the catch-all wins
  c.op_name_config.set("linear_1", op_tagged(DType::kUInt8));
  c.op_name_config.set("linear.*", op_tagged(DType::kInt4));
  const Resolution rc = resolve(QuantizerConfig(c), encoder_model());
  EXPECT_EQ(rc.op("linear_1").key, "linear.*");
}

TEST(ResolutionOps, OpTypeIsExactStringEquality) {
  ModuleQuantizerConfig global;
  global.op_type_config.set("aten.linear.default", OpQuantizerConfig::disabled());
  global.op_type_config.set("Linear", OpQuantizerConfig::disabled());
  const Resolution r = resolve(QuantizerConfig(global), encoder_model());
  EXPECT_EQ(r.op("linear").level, OpConfigLevel::kDefault);
}

TEST(ResolutionOps, OpConfigsDoNotInheritFromTheirModuleConfig) {
  // The module quantizes weights only; an explicit OpQuantizerConfig() for
  // `linear` is the library default (W8A8), not the module's weight-only specs.
  ModuleQuantizerConfig global = ModuleQuantizerConfig::presets.w4();
  global.op_type_config.set("linear", OpQuantizerConfig());
  const Resolution r = resolve(QuantizerConfig(global), encoder_model());
  const OpQuantizerConfig& op = *r.op("linear").config;
  EXPECT_EQ(op, OpQuantizerConfig());
  EXPECT_EQ(op.op_input_spec.get("*")->value(), default_activation_quantization_spec());
  EXPECT_EQ(op.op_state_spec.get("weight")->value().dtype, DType::kInt8);
  EXPECT_TRUE(r.op("relu").config->op_input_spec.empty());  // the module's own op_*_spec
}

TEST(ResolutionOps, OpsUseTheConfigOfTheirModule_NameLevel) {
  ModuleQuantizerConfig enc;
  enc.op_type_config.set("linear", op_tagged(DType::kInt4));
  QuantizerConfig cfg;
  cfg.set_module_name(R"(enc\..*)", enc);
  const Resolution r = resolve(cfg, encoder_model());
  EXPECT_EQ(r.op("linear").provenance(),
            R"(module_name_configs["enc\..*"] > op_type_config["linear"])");
  EXPECT_EQ(r.op("linear").module_level, ModuleConfigLevel::kName);
  EXPECT_EQ(r.op("linear").module_key, R"(enc\..*)");
  EXPECT_EQ(r.op("linear_1").provenance(),
            R"(module_name_configs["enc\..*"] > op_type_config["linear"])");
  // relu sits in `enc` itself, which the pattern does not match.
  EXPECT_EQ(r.op("relu").provenance(), "global_config > op_*_spec");
  EXPECT_EQ(r.op("linear_2").provenance(), "global_config > op_*_spec");
}

TEST(ResolutionOps, OpsUseTheConfigOfTheirModule_TypeLevelAndInherited) {
  ModuleQuantizerConfig lin;
  lin.op_name_config.set("linear_1", op_tagged(DType::kInt4));
  ModuleQuantizerConfig seq;
  seq.op_type_config.set("relu", OpQuantizerConfig::disabled());
  QuantizerConfig cfg;
  cfg.set_module_type(kLinear, lin).set_module_type(kSequential, seq);
  const Resolution r = resolve(cfg, encoder_model());
  // enc (Sequential, later entry) claims enc.0 and enc.1 before the Linear entry.
  EXPECT_EQ(r.op("linear_1").provenance(),
            R"(module_type_configs["torch.nn.modules.container.Sequential"] > op_*_spec)");
  EXPECT_EQ(
      r.op("relu").provenance(),
      R"(module_type_configs["torch.nn.modules.container.Sequential"] > op_type_config["relu"])");
  EXPECT_TRUE(r.op("relu").config->is_disabled());
  EXPECT_EQ(r.op("linear_2").provenance(),
            R"(module_type_configs["torch.nn.modules.linear.Linear"] > op_*_spec)");

  QuantizerConfig swapped;
  swapped.set_module_type(kSequential, seq).set_module_type(kLinear, lin);
  const Resolution rs = resolve(swapped, encoder_model());
  EXPECT_EQ(
      rs.op("linear_1").provenance(),
      R"(module_type_configs["torch.nn.modules.linear.Linear"] > op_name_config["linear_1"])");
  EXPECT_EQ(rs.op("linear_1").config->op_state_spec.get("weight")->value().dtype, DType::kInt4);
}

TEST(ResolutionOps, OpWithoutScopeUsesGlobalConfig) {
  QuantizerConfig cfg;
  cfg.set_module_name(".*", ModuleQuantizerConfig::disabled());
  const Resolution r = resolve(cfg, encoder_model());
  const OpResolution& op = r.op("getitem");
  EXPECT_FALSE(op.module.has_value());
  EXPECT_EQ(op.module_level, ModuleConfigLevel::kGlobal);
  EXPECT_EQ(*op.config, OpQuantizerConfig());
  EXPECT_TRUE(r.op("add").config->is_disabled());  // root "" matched by .*
}

TEST(ResolutionOps, AliasModulePathResolvesToTheCanonicalModule) {
  ModelDescription m = shared_model();
  m.add_op("linear", "linear", "b.y.lin");
  QuantizerConfig cfg;
  cfg.set_module_name("a", ModuleQuantizerConfig::disabled());
  const Resolution r = resolve(cfg, m);
  EXPECT_EQ(r.op("linear").module, std::optional<std::string>("a.x.lin"));
  EXPECT_TRUE(r.op("linear").config->is_disabled());
  EXPECT_EQ(r.op("linear").provenance(), R"(module_name_configs["a"] > op_*_spec)");
}

TEST(ResolutionOps, UnknownModuleIsAnError) {
  ModelDescription m = vgg();
  m.add_op("linear", "linear", "classifier.9");
  try {
    resolve(QuantizerConfig(), m);
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(),
                 "op 'linear' belongs to module 'classifier.9', which is not in the model");
  }
  const Resolution r = resolve(QuantizerConfig(), vgg());
  EXPECT_THROW(r.op("nope"), InvalidArgumentError);
  EXPECT_EQ(r.find_op("nope"), nullptr);
  EXPECT_THROW(r.resolve_op({"x", "add", std::string("zzz")}), InvalidArgumentError);
}

TEST(ResolutionOps, ResolveOpOnDemandMatchesAndLeavesKeyUsageAlone) {
  ModuleQuantizerConfig global;
  global.op_type_config.set("add", OpQuantizerConfig::disabled());
  const Resolution r = resolve(QuantizerConfig(global), vgg());  // no ops listed
  EXPECT_TRUE(r.ops().empty());
  const OpResolution op = r.resolve_op({"features.1.add_", "add", std::string("features.1")});
  EXPECT_EQ(op.provenance(), R"(global_config > op_type_config["add"])");
  EXPECT_EQ(op.module, std::optional<std::string>("features.1"));
  EXPECT_EQ(r.key_usage()[0].matched, 0u);
  // Without listed ops, op keys are not reported as unmatched.
  EXPECT_TRUE(r.unmatched_keys().empty());

  const Resolution full = resolve(QuantizerConfig(global), encoder_model());
  EXPECT_EQ(full.resolve_op({"add", "add", std::string("")}).provenance(),
            full.op("add").provenance());
}

TEST(ResolutionErrors, InvalidOpNameRegex) {
  QuantizerConfig cfg;
  cfg.global_config->op_name_config.set("linear(", OpQuantizerConfig());  // not validated
  try {
    resolve(cfg, encoder_model());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), R"(quantization_config.global_config.op_name_config["linear("])");
    EXPECT_THAT(e.message(), StartsWith("Invalid regex pattern 'linear(' in op_name_config: "));
  }

  QuantizerConfig nested;
  ModuleQuantizerConfig enc;
  enc.op_name_config.set("[", OpQuantizerConfig());
  nested.module_name_configs.set("enc", enc);
  try {
    resolve(nested, encoder_model());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), R"(quantization_config.module_name_configs["enc"].op_name_config["["])");
    EXPECT_THAT(e.message(), StartsWith("Invalid regex pattern '[' in op_name_config: "));
  }
}

TEST(ResolutionErrors, InvalidModuleNameRegexAndGlobalModuleSpecs) {
  QuantizerConfig cfg;
  cfg.module_name_configs.set("enc(", ModuleQuantizerConfig());  // not validated
  try {
    resolve(cfg, encoder_model());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), R"(quantization_config.module_name_configs["enc("])");
    EXPECT_THAT(e.message(), StartsWith("Invalid regex pattern 'enc(' in module_name_configs: "));
  }

  QuantizerConfig global;
  global.global_config->module_state_spec.set("weight", std::nullopt);
  try {
    resolve(global, encoder_model());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "quantization_config.global_config.module_state_spec");
    EXPECT_THAT(e.message(), StartsWith("global_config cannot have module_input_spec, "
                                        "module_output_spec, or module_state_spec"));
  }
}

// ------------------------------------------------------------- key usage

TEST(ResolutionKeys, ReportsKeysThatMatchNothing) {
  ModuleQuantizerConfig global;
  global.op_type_config.set("linear", OpQuantizerConfig());
  global.op_type_config.set("aten.linear.default", OpQuantizerConfig());
  ModuleQuantizerConfig enc;
  enc.op_name_config.set("linear_2", OpQuantizerConfig());  // linear_2 is in head, not enc
  enc.op_name_config.set("linear(_1)?", OpQuantizerConfig());
  QuantizerConfig cfg(global);
  cfg.set_module_type("torch.nn.Linear", tagged(1))  // short form: never matches
      .set_module_type(kLinear, tagged(2))
      .set_module_name("enc", enc)
      .set_module_name("decoder", tagged(3));
  const Resolution r = resolve(cfg, encoder_model());

  std::vector<std::string> rules;
  for (const KeyUsage& u : r.key_usage()) {
    rules.push_back(u.rule() + " " + std::to_string(u.matched) + "/" + std::to_string(u.decided));
  }
  EXPECT_THAT(rules,
              ElementsAre(R"(global_config > op_type_config["linear"] 0/0)",
                          R"(global_config > op_type_config["aten.linear.default"] 0/0)",
                          R"(module_type_configs["torch.nn.Linear"] 0/0)",
                          R"(module_type_configs["torch.nn.modules.linear.Linear"] 3/1)",
                          R"(module_name_configs["enc"] 1/3)",
                          R"(module_name_configs["enc"] > op_name_config["linear_2"] 0/0)",
                          R"(module_name_configs["enc"] > op_name_config["linear(_1)?"] 2/2)",
                          R"(module_name_configs["decoder"] 0/0)"));
  // Global governs only root-level ops here (add, getitem): its linear key
  // matches nothing in its scope.
  std::vector<std::string> unmatched;
  for (const KeyUsage& u : r.unmatched_keys()) unmatched.push_back(u.rule());
  EXPECT_THAT(unmatched, ElementsAre(R"(global_config > op_type_config["linear"])",
                                     R"(global_config > op_type_config["aten.linear.default"])",
                                     R"(module_type_configs["torch.nn.Linear"])",
                                     R"(module_name_configs["enc"] > op_name_config["linear_2"])",
                                     R"(module_name_configs["decoder"])"));
  const KeyUsage& type_key = r.key_usage()[2];
  EXPECT_EQ(type_key.kind, ConfigKeyKind::kModuleType);
  EXPECT_EQ(type_key.key, "torch.nn.Linear");
  const KeyUsage& op_key = r.key_usage()[5];
  EXPECT_EQ(op_key.kind, ConfigKeyKind::kOpName);
  EXPECT_EQ(op_key.scope_level, ModuleConfigLevel::kName);
  EXPECT_EQ(op_key.scope_key, "enc");
}

TEST(ResolutionKeys, ShadowedKeysMatchButDecideNothing) {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("inner_model", kInner)
      .add_module("inner_model.linear1", kLinear)
      .add_module("inner_model.linear2", kLinear);
  QuantizerConfig cfg;
  cfg.set_module_name("inner_model.linear2", tagged(1)).set_module_name("inner_model", tagged(2));
  const Resolution r = resolve(cfg, m);
  ASSERT_EQ(r.key_usage().size(), 2u);
  EXPECT_EQ(r.key_usage()[0].key, "inner_model.linear2");
  EXPECT_EQ(r.key_usage()[0].matched, 1u);
  EXPECT_EQ(r.key_usage()[0].decided, 0u);
  EXPECT_EQ(r.key_usage()[1].decided, 3u);
  EXPECT_TRUE(r.unmatched_keys().empty());
}

// ------------------------------------------------------- module_state_spec

TEST(ResolutionStateSpec, OwnersAreSearchedNameThenTypeThenGlobal) {
  // A weight tied between enc.0 (Linear) and head (Linear).
  const QuantizationSpec int4(DType::kInt4, PerChannelGranularity(0));
  ModuleQuantizerConfig lin;
  lin.module_state_spec = {{"weight", int4}};
  ModuleQuantizerConfig head;
  head.module_state_spec = {{"*", std::nullopt}};
  QuantizerConfig cfg;
  cfg.set_module_type(kLinear, lin);
  const std::vector<std::pair<std::string, std::string>> owners = {{"enc.0", "weight"},
                                                                   {"head", "weight"}};

  const auto by_type = resolve(cfg, encoder_model()).module_state_spec_for(owners);
  ASSERT_TRUE(by_type.has_value());
  EXPECT_EQ(by_type->module, "enc.0");
  EXPECT_EQ(by_type->level, ModuleConfigLevel::kType);
  EXPECT_EQ(by_type->spec, std::optional<QuantizationSpec>(int4));
  EXPECT_EQ(
      by_type->provenance(),
      R"(module_type_configs["torch.nn.modules.linear.Linear"] > module_state_spec["weight"])");

  cfg.set_module_name("head", head);  // name level beats the earlier type-level owner
  const auto by_name = resolve(cfg, encoder_model()).module_state_spec_for(owners);
  ASSERT_TRUE(by_name.has_value());
  EXPECT_EQ(by_name->module, "head");
  EXPECT_EQ(by_name->key, "head");
  EXPECT_EQ(by_name->matched_key, "*");
  EXPECT_EQ(by_name->local_name, "weight");
  EXPECT_FALSE(by_name->spec.has_value());  // found: do not quantize
  EXPECT_EQ(by_name->provenance(), R"(module_name_configs["head"] > module_state_spec["*"])");

  // Inherited configs carry no module_state_spec; a bias key does not match.
  QuantizerConfig parent;
  parent.set_module_name("enc", lin);
  const Resolution rp = resolve(parent, encoder_model());
  EXPECT_FALSE(rp.module_state_spec_for({{"enc.0", "weight"}}).has_value());
  EXPECT_FALSE(
      resolve(cfg, encoder_model()).module_state_spec_for({{"enc.0", "bias"}}).has_value());
  EXPECT_THROW(rp.module_state_spec_for({{"nope", "weight"}}), InvalidArgumentError);
}

// ------------------------------------------------------------- docs

// The worked example of docs/resolution.md.
constexpr const char* kWorkedExampleYaml = R"(
quantization_config:
  global_config:
    op_type_config:
      add:
  module_type_configs:
    torch.nn.modules.linear.Linear:
      op_input_spec:
      op_output_spec:
  module_name_configs:
    "enc\\..*":
      op_name_config:
        linear_1:
    "enc":
      module_input_spec:
        0: {dtype: int8}
)";

ModelDescription worked_example_model() {
  ModelDescription m;
  m.add_module("", kNet)
      .add_module("enc", kSequential)
      .add_module("enc.0", kLinear)
      .add_module("enc.1", kLinear)
      .add_module("head", kLinear);
  m.add_op("add", "add", "")
      .add_op("linear", "linear", "enc.0")
      .add_op("linear_1", "linear", "enc.1")
      .add_op("linear_2", "linear", "head");
  return m;
}

TEST(ResolutionDocs, WorkedExample) {
  const QuantizerConfig cfg = QuantizerConfig::from_yaml_string(kWorkedExampleYaml);
  const Resolution r = resolve(cfg, worked_example_model());
  EXPECT_EQ(r.module("").provenance(), "global_config");
  EXPECT_EQ(r.module("enc").provenance(), R"(module_name_configs["enc"])");
  EXPECT_TRUE(r.module("enc").config->has_module_level_specs());
  EXPECT_EQ(r.module("enc.0").provenance(), R"(module_name_configs["enc"] (inherited from "enc"))");
  EXPECT_EQ(r.module("enc.1").provenance(), R"(module_name_configs["enc"] (inherited from "enc"))");
  EXPECT_FALSE(r.module("enc.1").config->has_module_level_specs());
  EXPECT_EQ(r.module("head").provenance(),
            R"(module_type_configs["torch.nn.modules.linear.Linear"])");
  EXPECT_EQ(r.op("add").provenance(), R"(global_config > op_type_config["add"])");
  EXPECT_TRUE(r.op("add").config->is_disabled());
  EXPECT_EQ(r.op("linear").provenance(), R"(module_name_configs["enc"] > op_*_spec)");
  EXPECT_EQ(r.op("linear_1").provenance(), R"(module_name_configs["enc"] > op_*_spec)");
  EXPECT_EQ(*r.op("linear_1").config, OpQuantizerConfig());  // quantized after all
  EXPECT_EQ(r.op("linear_2").provenance(),
            R"(module_type_configs["torch.nn.modules.linear.Linear"] > op_*_spec)");
  EXPECT_TRUE(r.op("linear_2").config->op_input_spec.empty());

  std::vector<std::string> unmatched;
  for (const KeyUsage& u : r.unmatched_keys()) unmatched.push_back(u.rule());
  EXPECT_THAT(unmatched,
              ElementsAre(R"(module_name_configs["enc\..*"] > op_name_config["linear_1"])"));
  const auto shadowed = std::find_if(r.key_usage().begin(), r.key_usage().end(),
                                     [](const KeyUsage& u) { return u.key == R"(enc\..*)"; });
  ASSERT_NE(shadowed, r.key_usage().end());
  EXPECT_EQ(shadowed->matched, 2u);
  EXPECT_EQ(shadowed->decided, 0u);

  // The intended order: the child pattern after the parent.
  QuantizerConfig fixed = cfg;
  fixed.module_name_configs.clear();
  fixed.set_module_name("enc", *cfg.module_name_configs.get("enc"))
      .set_module_name(R"(enc\..*)", *cfg.module_name_configs.get(R"(enc\..*)"));
  const Resolution rf = resolve(fixed, worked_example_model());
  EXPECT_EQ(rf.op("linear_1").provenance(),
            R"(module_name_configs["enc\..*"] > op_name_config["linear_1"])");
  EXPECT_TRUE(rf.op("linear_1").config->is_disabled());
  EXPECT_EQ(rf.op("linear").provenance(), R"(module_name_configs["enc\..*"] > op_*_spec)");
  EXPECT_TRUE(rf.unmatched_keys().empty());
}

// ------------------------------------------------------------ provenance

TEST(ResolutionProvenance, StringFormats) {
  EXPECT_EQ(to_string(ModuleConfigLevel::kName), "name");
  EXPECT_EQ(to_string(ModuleConfigLevel::kType), "type");
  EXPECT_EQ(to_string(ModuleConfigLevel::kGlobal), "global");
  EXPECT_EQ(to_string(OpConfigLevel::kName), "op_name");
  EXPECT_EQ(to_string(OpConfigLevel::kType), "op_type");
  EXPECT_EQ(to_string(OpConfigLevel::kDefault), "default");
  EXPECT_EQ(module_rule_string(ModuleConfigLevel::kGlobal, "ignored"), "global_config");
  EXPECT_EQ(module_rule_string(ModuleConfigLevel::kType, "mynet::BlockImpl"),
            R"(module_type_configs["mynet::BlockImpl"])");
  // Keys are written verbatim (no escaping), so a regex reads as in the config.
  EXPECT_EQ(module_rule_string(ModuleConfigLevel::kName, R"(enc\.\d+)"),
            R"(module_name_configs["enc\.\d+"])");
  EXPECT_EQ(op_rule_string(OpConfigLevel::kName, "linear_1"), R"(op_name_config["linear_1"])");
  EXPECT_EQ(op_rule_string(OpConfigLevel::kType, "linear"), R"(op_type_config["linear"])");
  EXPECT_EQ(op_rule_string(OpConfigLevel::kDefault, ""), "op_*_spec");
}

}  // namespace
}  // namespace coreai_opt::quantization
