// Graph mode before prepare: module types, op discovery and naming (scripted and
// traced alike), the inspector, plans for the precedence cases of reference
// §3.6-§3.8, config errors, and the coreai-opt inspect / plan commands.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/script.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "coreai_opt/errors.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/quantizer.h"
#include "torch/jit/jit_test_util.h"

namespace {

using coreai_opt::testing::fixture;
using coreai_opt::testing::fixture_inputs;
using coreai_opt::testing::load_fixture;
using coreai_opt::testing::yaml_config;
using namespace coreai_opt::quantization;

std::string op_line(const OpInfo& op) {
  return op.op_name + " " + op.op_type.value_or("?") + " " + op.module_name();
}

TEST(JitDiscovery, ModuleTypesAreThePythonNames) {
  for (const char* kind : {"scripted", "traced"}) {
    const ModelInspector insp(load_fixture(std::string("net_") + kind + ".pt"));
    std::ifstream f(fixture("net_modules.txt"));
    std::string line;
    int checked = 0;
    while (std::getline(f, line)) {
      const auto tab = line.find('\t');
      const std::string path = line.substr(0, tab), type = line.substr(tab + 1);
      if (path == "alias") {  // one object under two names: listed once, as `shared`
        EXPECT_THROW(insp.summary().get_submodule(path), coreai_opt::InvalidArgumentError);
        continue;
      }
      EXPECT_EQ(insp.summary().get_submodule(path).module_type, type) << kind << " " << path;
      ++checked;
    }
    EXPECT_EQ(checked, 26) << kind;
  }
}

TEST(JitDiscovery, ScriptedAndTracedNameOpsAlike) {
  const ModelInspector s(load_fixture("net_scripted.pt"));
  const ModelInspector t(load_fixture("net_traced.pt"));
  ASSERT_EQ(s.ops().size(), t.ops().size());
  for (std::size_t i = 0; i < s.ops().size(); ++i) {
    EXPECT_EQ(op_line(s.ops()[i]), op_line(t.ops()[i]));
    EXPECT_EQ(s.ops()[i].inputs, t.ops()[i].inputs) << s.ops()[i].op_name;
    EXPECT_EQ(s.ops()[i].outputs, t.ops()[i].outputs) << s.ops()[i].op_name;
  }
  EXPECT_EQ(s.format_summary(), t.format_summary());
  EXPECT_EQ(s.to_json(), t.to_json());

  // Names count per op type in execution order; modules are full paths (the
  // ModuleList `layers` included) and an alias resolves to its first name.
  std::set<std::string> lines;
  for (const auto& op : s.ops()) lines.insert(op_line(op));
  for (const char* expect : {"embedding embedding emb",
                             "linear linear encoder.layers.0.attn.q",
                             "linear_1 linear encoder.layers.0.attn.k",
                             "linear_2 linear encoder.layers.0.attn.v",
                             "matmul matmul encoder.layers.0.attn",
                             "softmax softmax encoder.layers.0.attn",
                             "add add encoder.layers.0.attn",
                             "cat cat encoder.layers.0.attn",
                             "linear_3 linear encoder.layers.1.attn.q",
                             "matmul_3 matmul encoder.layers.1.attn",
                             "linear_6 linear mlp.0",
                             "relu relu mlp.1",
                             "linear_7 linear mlp.2",
                             "linear_8 linear shared",
                             "linear_9 linear shared",
                             "add_2 add ",
                             "linear_10 linear down",
                             "relu_1 relu ",
                             "linear_11 linear odd",
                             "conv2d conv2d block.conv",
                             "batch_norm batch_norm block.bn",
                             "relu_2 relu block.relu",
                             "conv_transpose2d conv_transpose2d deconv",
                             "mean mean ",
                             "add_3 add "}) {
    EXPECT_EQ(lines.count(expect), 1U) << expect;
  }
}

TEST(JitDiscovery, InspectorQueriesAndBoundaries) {
  const ModelInspector insp(load_fixture("net_scripted.pt"));
  EXPECT_EQ(insp.get_matched_ops_for_op_type("linear").size(), 12U);
  EXPECT_EQ(insp.get_matched_ops_for_op_name("linear_1.*").size(), 3U);  // 1, 10, 11
  EXPECT_EQ(insp.get_matched_ops_for_module_name("encoder\\.layers\\.1").size(), 12U);
  EXPECT_EQ(insp.get_matched_ops_for_module_type("__main__.ConvBlock").size(), 3U);
  EXPECT_THROW(insp.get_matched_ops_for_op_name("("), coreai_opt::InvalidArgumentError);
  const ModuleInfo& attn = insp.summary().get_submodule("encoder.layers.0.attn");
  EXPECT_EQ(attn.input_ops, (std::vector<std::string>{"linear", "linear_1", "linear_2", "add"}));
  EXPECT_EQ(attn.output_ops, (std::vector<std::string>{"slice"}));
  const OpInfo& lin = attn.child_modules.at(0).ops.at(0);
  EXPECT_EQ(lin.inputs, (std::vector<std::string>{"embedding", "encoder_layers_0_attn_q_weight",
                                                  "encoder_layers_0_attn_q_bias"}));
  EXPECT_EQ(lin.outputs, (std::vector<std::string>{"matmul"}));
  ASSERT_EQ(lin.module_stack.size(), 5U);
  EXPECT_EQ(lin.module_stack[1].module_name, "encoder.layers");
  EXPECT_EQ(lin.module_stack[1].module_type, "torch.nn.modules.container.ModuleList");
  const std::string text = insp.format_summary();
  EXPECT_NE(text.find("(__main__.Net)"), std::string::npos);
  EXPECT_NE(text.find("\u25a0 encoder.layers.0.attn.q (torch.nn.modules.linear.Linear)"),
            std::string::npos);
  EXPECT_NE(text.find("\u25c6 conv2d [conv2d]"), std::string::npos);
  const auto j = nlohmann::json::parse(insp.to_json());
  EXPECT_EQ(j["execution_mode"], "graph");
  EXPECT_EQ(j["root"]["module_type"], "__main__.Net");

  const ModelInspector comp(load_fixture("net_scripted.pt"), true);
  for (const auto& op : comp.ops()) EXPECT_NE(op.op_type, "relu") << op.op_name;
  EXPECT_EQ(Quantizer::get_compressible_op_names(load_fixture("net_traced.pt")).size(),
            comp.ops().size());
}

// ---------------------------------------------------------------- plans

const PlanPoint* find_point(const QuantizationPlan& p, PointKind kind, const std::string& who,
                            const std::string& tensor) {
  for (const auto& pt : p.points) {
    const std::string name = pt.op_name ? *pt.op_name : pt.module;
    if (pt.kind == kind && name == who && pt.tensor == tensor) return &pt;
  }
  return nullptr;
}

QuantizationPlan plan_of(const std::string& yaml, const std::string& kind = "scripted") {
  Quantizer q(load_fixture("net_" + kind + ".pt"), yaml_config(yaml));
  return q.plan(fixture_inputs("net"));
}

TEST(JitPlan, LevelsAndLaterEntriesWin) {
  const std::string yaml = R"(
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
  module_type_configs:
    torch.nn.modules.linear.Linear:
      op_input_spec: null
      op_output_spec: null
      op_state_spec: {weight: {dtype: int4, granularity: {type: per_channel}}}
  module_name_configs:
    "encoder\\.layers\\.0\\.attn\\.q":
      op_input_spec: null
      op_output_spec: null
      op_state_spec: {weight: {dtype: uint8, granularity: {type: per_channel}}}
    "encoder":
      op_input_spec: null
      op_output_spec: null
      op_state_spec: {weight: {dtype: int2, granularity: {type: per_channel}}}
    "mlp":
      op_input_spec: null
      op_output_spec: null
      op_type_config:
        linear: {op_input_spec: null, op_output_spec: null}
      op_name_config:
        "linear_7": {op_input_spec: null, op_output_spec: null, op_state_spec: {weight: null}}
)";
  for (const char* kind : {"scripted", "traced"}) {
    const QuantizationPlan p = plan_of(yaml, kind);
    // The later "encoder" entry swallows the earlier, deeper q entry (rule 4).
    const auto* q = find_point(p, PointKind::kOpState, "linear", "weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->spec->dtype, coreai_opt::DType::kInt2);
    EXPECT_EQ(q->rule, "module_name_configs[\"encoder\"] > op_*_spec");
    EXPECT_EQ(q->module, "encoder.layers.0.attn.q");
    // Name beats type; type beats global.
    const auto* shared = find_point(p, PointKind::kOpState, "linear_8", "weight");
    ASSERT_NE(shared, nullptr);
    EXPECT_EQ(shared->spec->dtype, coreai_opt::DType::kInt4);
    EXPECT_EQ(shared->spec->granularity.axis, 0);  // the Linear default axis
    EXPECT_EQ(shared->rule, "module_type_configs[\"torch.nn.modules.linear.Linear\"] > op_*_spec");
    // The alias call shares the weight fake-quant of the first call.
    const auto* alias = find_point(p, PointKind::kOpState, "linear_9", "weight");
    ASSERT_NE(alias, nullptr);
    EXPECT_EQ(alias->fake_quant, shared->fake_quant);
    // op_type_config inside a module config, op_name_config above it.
    const auto* m0 = find_point(p, PointKind::kOpState, "linear_6", "weight");
    ASSERT_NE(m0, nullptr);
    EXPECT_EQ(m0->rule, "module_name_configs[\"mlp\"] > op_type_config[\"linear\"]");
    EXPECT_EQ(m0->spec->dtype, coreai_opt::DType::kInt8);  // OpQuantizerConfig default
    const auto* m2 = find_point(p, PointKind::kOpState, "linear_7", "weight");
    ASSERT_NE(m2, nullptr);  // explicitly disabled: listed with a null spec
    EXPECT_FALSE(m2->spec.has_value());
    EXPECT_TRUE(m2->fake_quant.empty());
    EXPECT_EQ(m2->rule, "module_name_configs[\"mlp\"] > op_name_config[\"linear_7\"]");
    // No activation points anywhere (every op_input/op_output spec is null).
    for (const auto& pt : p.points)
      EXPECT_TRUE(pt.kind == PointKind::kOpState) << pt.op_name.value_or(pt.module);
  }
}

TEST(JitPlan, ModuleLevelSpecsOverrideOpLevel) {
  const QuantizationPlan p = plan_of(R"(
quantization_config:
  global_config: {}
  module_name_configs:
    "encoder\\.layers\\.0":
      module_input_spec: {0: {dtype: uint8, qscheme: asymmetric}}
      module_output_spec: {0: null}
    "down":
      module_state_spec: {weight: {dtype: int4, granularity: {type: per_channel, axis: 0}}}
)");
  // Boundary input 0 of encoder.layers.0 is the embedding output into q.
  const auto* in = find_point(p, PointKind::kModuleInput, "encoder.layers.0", "0");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->spec->dtype, coreai_opt::DType::kUInt8);
  // uint8 is another dtype than the embedding's int8 output fake-quant: called after it.
  EXPECT_EQ(in->rule,
            "module_name_configs[\"encoder\\.layers\\.0\"] > module_input_spec (called after "
            "linear_input_0)");
  EXPECT_EQ(in->fake_quant, "encoder_layers_0_module_input_0");
  EXPECT_EQ(in->module_type, "__main__.Layer");
  const auto* out = find_point(p, PointKind::kModuleOutput, "encoder.layers.0", "0");
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(out->spec.has_value());
  const auto* st = find_point(p, PointKind::kModuleState, "down", "weight");
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->spec->dtype, coreai_opt::DType::kInt4);
  EXPECT_EQ(st->rule, "module_name_configs[\"down\"] > module_state_spec[\"weight\"]");
  const auto* op_st = find_point(p, PointKind::kOpState, "linear_10", "weight");
  ASSERT_NE(op_st, nullptr);
  EXPECT_TRUE(op_st->fake_quant.empty());
  EXPECT_NE(op_st->rule.find("overridden by module_state_spec"), std::string::npos);
}

TEST(JitPlan, EdgesShareOneFakeQuantAndPatternsFuse) {
  const QuantizationPlan p = plan_of("quantization_config:\n  global_config: {}\n");
  // mlp.0 + relu fuse: linear_6's output point is the relu output, consumed by
  // linear_7 through the same fake-quant.
  const auto* o6 = find_point(p, PointKind::kOpOutput, "linear_6", "0");
  const auto* i7 = find_point(p, PointKind::kOpInput, "linear_7", "0");
  ASSERT_TRUE(o6 != nullptr && i7 != nullptr);
  EXPECT_EQ(o6->fake_quant, i7->fake_quant);
  EXPECT_EQ(find_point(p, PointKind::kOpOutput, "relu", "0"), nullptr);
  // cat inputs share one fake-quant, and so does its output.
  const auto* c0 = find_point(p, PointKind::kOpInput, "cat", "0");
  const auto* c1 = find_point(p, PointKind::kOpInput, "cat", "1");
  const auto* co = find_point(p, PointKind::kOpOutput, "cat", "0");
  ASSERT_TRUE(c0 != nullptr && c1 != nullptr && co != nullptr);
  EXPECT_EQ(c0->fake_quant, c1->fake_quant);
  EXPECT_EQ(c0->fake_quant, co->fake_quant);
  // Embedding indices are integers: no input point; the weight uses axis 0.
  EXPECT_EQ(find_point(p, PointKind::kOpInput, "embedding", "1"), nullptr);
  EXPECT_EQ(find_point(p, PointKind::kOpState, "embedding", "weight")->spec->granularity.axis, 0);
  const auto j = nlohmann::json::parse(p.to_json());
  EXPECT_EQ(j["execution_mode"], "graph");
  for (const auto& pt : j["points"]) {
    for (const char* k :
         {"kind", "op_name", "op_type", "module", "module_type", "tensor", "spec", "rule"})
      EXPECT_TRUE(pt.contains(k)) << k;
  }
  EXPECT_TRUE(j["warnings"].is_array());
  EXPECT_EQ(plan_of("quantization_config:\n  global_config: {}\n", "traced").to_json(),
            p.to_json());
}

// Nightly N4 and N5: a traced string-padded conv (aten::_convolution_mode) is a conv2d,
// named as in the scripted form; a tensor of one element (y.sum()) is never quantized.
TEST(JitPlan, StringPaddedConvAndOneElementTensors) {
  for (const std::string kind : {"scripted", "traced"}) {
    SCOPED_TRACE(kind);
    Quantizer q(load_fixture("samepad_" + kind + ".pt"), QuantizerConfig());
    const QuantizationPlan p = q.plan(fixture_inputs("samepad"));
    for (const char* conv : {"conv2d", "conv2d_1"}) {
      const PlanPoint* w = find_point(p, PointKind::kOpState, conv, "weight");
      ASSERT_NE(w, nullptr) << conv;
      EXPECT_EQ(w->op_type, "conv2d");
      EXPECT_FALSE(w->fake_quant.empty()) << conv;
    }
    const PlanPoint* x = find_point(p, PointKind::kOpInput, "mul", "0");
    ASSERT_NE(x, nullptr);
    EXPECT_FALSE(x->fake_quant.empty());
    const PlanPoint* s = find_point(p, PointKind::kOpInput, "mul", "1");
    EXPECT_TRUE(s == nullptr || s->fake_quant.empty());
    const PlanPoint* sum = find_point(p, PointKind::kOpOutput, "sum", "0");
    EXPECT_TRUE(sum == nullptr || sum->fake_quant.empty());
  }
}

// Row 25 of the 0.3.0 parity table: a state is matched under every local name it has.
// fc.weight is also holder.w; both keys match, the last declared wins, with the
// reference's warning, for both ops that read the tensor.
TEST(JitPlan, StateSpecsMatchEveryLocalNameOfASharedState) {
  for (const std::string kind : {"scripted", "traced"}) {
    SCOPED_TRACE(kind);
    Quantizer q(load_fixture("aliased_" + kind + ".pt"), yaml_config(R"(
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
    op_state_spec:
      weight: {dtype: int8, granularity: {type: per_channel}}
      w: {dtype: int4, granularity: {type: per_channel}}
)"));
    const QuantizationPlan p = q.plan(fixture_inputs("aliased"));
    for (const char* op : {"linear", "linear_1"}) {
      const PlanPoint* pt = nullptr;
      for (const auto& x : p.points)
        if (x.kind == PointKind::kOpState && x.op_name == op) pt = &x;
      ASSERT_NE(pt, nullptr) << op;
      ASSERT_TRUE(pt->spec.has_value()) << op;
      EXPECT_EQ(pt->spec->dtype, DType::kInt4) << op;
    }
    bool warned = false;  // plan() reports its warnings in the plan
    for (const auto& w : p.warnings) {
      warned |= w ==
                "Multiple spec keys matched for identifiers ['w', 'weight'] against spec keys "
                "['weight', 'w']: ['weight', 'w']. Using the last matching key 'w'.";
    }
    EXPECT_TRUE(warned);
  }
}

TEST(JitPlan, WarningsForUnmatchedKeysAndNonDividingBlocks) {
  const QuantizationPlan p = plan_of(R"(
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
    op_state_spec: {weight: {dtype: int4, granularity: {type: per_block, block_size: 16}}}
    op_type_config:
      aten.linear.default: {}
  module_type_configs:
    torch.nn.Linear: {}
)");
  auto has = [&](const std::string& text) {
    for (const auto& w : p.warnings)
      if (w.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("module_type_configs[\"torch.nn.Linear\"] matches nothing in the model"));
  EXPECT_TRUE(has("global_config > op_type_config[\"aten.linear.default\"] matches nothing"));
  // odd has 6 input features: a block of 16 along axis 1 does not divide them.
  EXPECT_TRUE(
      has("Tensor 'weight of odd (linear_11)' (target: CompressionTargetTensor.WEIGHT, shape: "
          "(16, 6)) incompatible with block size configuration: Tensor size 6 along axis 1 is not "
          "divisible by block size 16. Skipping quantization."));
  EXPECT_TRUE(find_point(p, PointKind::kOpState, "linear_11", "weight")->fake_quant.empty());
  EXPECT_FALSE(find_point(p, PointKind::kOpState, "linear_10", "weight")->fake_quant.empty());
}

// ---------------------------------------------------------------- errors

template <class E, class F>
void expect_error(F&& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << text;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(GraphQuantizerErrors, ConfigRestrictionsOfGraphMode) {
  torch::jit::Module m = load_fixture("net_scripted.pt");
  expect_error<coreai_opt::UnsupportedError>(
      [&] {
        Quantizer(m, yaml_config("quantization_config:\n  global_config:\n    op_input_spec: "
                                 "{x: {dtype: int8}}\n"));
      },
      "Only integer indices or '*' are supported for op and module input and output specs "
      "currently. Got {'x': QuantizationSpec(...)}");
  expect_error<coreai_opt::UnsupportedError>(
      [&] {
        Quantizer(m, yaml_config("quantization_config:\n  global_config: {}\n  "
                                 "module_name_configs:\n    mlp:\n      op_type_config:\n"
                                 "        linear: {op_output_spec: {1: {dtype: int8}}}\n"));
      },
      "op_output_qspec currently supports setting for '*' or 0 tensor only. Got {1: "
      "QuantizationSpec(...)}");
  expect_error<coreai_opt::Error>(
      [&] {
        Quantizer q(m, yaml_config("quantization_config:\n  global_config:\n    "
                                   "op_type_config:\n      linear: {op_input_spec: {1: "
                                   "{dtype: int8}}}\n"));
        q.plan();
      },
      "Config is attempting to set op_input_spec idx 1, but the input is a state tensor (node: "
      "linear_6). Use op_state_spec to configure state tensors.");
  expect_error<coreai_opt::InvalidArgumentError>(
      [&] {
        Quantizer q(m, yaml_config("quantization_config:\n  global_config:\n    "
                                   "op_input_spec: {'*': {dtype: int8, granularity: {type: "
                                   "per_channel}}}\n"));
        q.plan();
      },
      "Activation fake-quantize modules with unresolved axis=None: ");
  expect_error<coreai_opt::InvalidArgumentError>(
      [&] {
        Quantizer q(m, yaml_config("quantization_config:\n  global_config: {}\n  "
                                   "module_name_configs:\n    block\\.bn:\n      "
                                   "module_state_spec: {'*': {dtype: int8, granularity: "
                                   "{type: per_channel}}}\n"));
        q.plan();
      },
      "Weight fake-quantize modules with unresolved axis=None remain after applying defaults: ");
}

// ---------------------------------------------------------------- CLI

std::string run(const std::string& cmd, int* rc) {
  std::array<char, 4096> buf{};
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  while (fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
  *rc = WEXITSTATUS(pclose(p));
  return out;
}

TEST(JitCli, InspectAndPlan) {
#ifndef COREAI_OPT_CLI
  GTEST_SKIP() << "built without the coreai-opt tool";
#else
  const std::string cli = COREAI_OPT_CLI;
  int rc = -1;
  const std::string s = run(cli + " inspect " + fixture("net_scripted.pt"), &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(s, ModelInspector(load_fixture("net_scripted.pt")).format_summary());
  const std::string t = run(cli + " inspect " + fixture("net_traced.pt"), &rc);
  EXPECT_EQ(s, t);

  const std::string cfg = ::testing::TempDir() + "/jit_cli_plan.yaml";
  {
    std::ofstream f(cfg);
    f << "quantization_config:\n  global_config: {}\n  module_type_configs:\n    "
         "torch.nn.Linear: {}\n";
  }
  const std::string table =
      run(cli + " plan " + fixture("net_scripted.pt") + " --config " + cfg, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("op_state   linear_6 [linear]"), std::string::npos) << table;
  EXPECT_NE(table.find("warning: module_type_configs[\"torch.nn.Linear\"] matches nothing"),
            std::string::npos);
  const std::string json = run(cli + " plan " + fixture("net_traced.pt") + " --config " + cfg +
                                   " --inputs " + fixture("net_inputs.pt") + " --json",
                               &rc);
  EXPECT_EQ(rc, 0);
  const auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["execution_mode"], "graph");
  EXPECT_GT(j["points"].size(), 50U);
  EXPECT_NE(
      run(cli + " plan " + fixture("net_traced.pt"), &rc).find("expected MODEL.pt and --config"),
      std::string::npos);
  EXPECT_EQ(rc, 2);
  std::remove(cfg.c_str());
#endif
}

}  // namespace

namespace {

TEST(JitPlan, TypeEntriesLaterFirstAndNameOverType) {
  const std::string x =
      "{op_input_spec: null, op_output_spec: null, op_state_spec: {weight: "
      "{dtype: int2, granularity: {type: per_channel}}}}";
  const std::string y =
      "{op_input_spec: null, op_output_spec: null, op_state_spec: {weight: "
      "{dtype: int4, granularity: {type: per_channel}}}}";
  auto dtype_of = [](const QuantizationPlan& p, const std::string& op) {
    const auto* pt = find_point(p, PointKind::kOpState, op, "weight");
    return pt != nullptr && pt->spec ? pt->spec->dtype : coreai_opt::DType::kInt8;
  };
  // {Outer: X, Inner: Y}: Inner modules keep Y.
  QuantizationPlan p = plan_of(
      "quantization_config:\n  global_config: null\n  module_type_configs:\n"
      "    __main__.SelfAttention: " +
      x + "\n    torch.nn.modules.linear.Linear: " + y + "\n");
  EXPECT_EQ(dtype_of(p, "linear"), coreai_opt::DType::kInt4);
  EXPECT_EQ(find_point(p, PointKind::kOpState, "linear", "weight")->rule,
            "module_type_configs[\"torch.nn.modules.linear.Linear\"] > op_*_spec");
  // {Inner: Y, Outer: X}: an Inner inside an Outer gets X; the others keep Y.
  p = plan_of(
      "quantization_config:\n  global_config: null\n  module_type_configs:\n"
      "    torch.nn.modules.linear.Linear: " +
      y + "\n    __main__.SelfAttention: " + x + "\n");
  EXPECT_EQ(dtype_of(p, "linear"), coreai_opt::DType::kInt2);
  EXPECT_EQ(dtype_of(p, "linear_6"), coreai_opt::DType::kInt4);
  // A name entry on a parent beats a type entry on the child; ".*" reaches the root.
  p = plan_of(
      "quantization_config:\n  global_config: null\n  module_type_configs:\n"
      "    torch.nn.modules.linear.Linear: " +
      y + "\n  module_name_configs:\n    mlp: " + x +
      "\n    \".*\": {op_state_spec: null, op_output_spec: null}\n");
  // ".*" is the later entry: it claims every module, mlp included.
  EXPECT_EQ(find_point(p, PointKind::kOpState, "linear_6", "weight"), nullptr);
  const auto* add = find_point(p, PointKind::kOpInput, "add_2", "0");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->rule.substr(0, add->rule.find(" (")), "module_name_configs[\".*\"] > op_*_spec");
  p = plan_of(
      "quantization_config:\n  global_config: null\n  module_type_configs:\n"
      "    torch.nn.modules.linear.Linear: " +
      y + "\n  module_name_configs:\n    mlp: " + x + "\n");
  EXPECT_EQ(dtype_of(p, "linear_6"), coreai_opt::DType::kInt2);
  EXPECT_EQ(find_point(p, PointKind::kOpState, "linear_6", "weight")->rule,
            "module_name_configs[\"mlp\"] > op_*_spec");
  EXPECT_EQ(dtype_of(p, "linear_8"), coreai_opt::DType::kInt4);  // type, not the name entry
}

// The output fake-quant of a conv pattern reads its last op. As in the reference
// (checked by the conformance suite), the pattern's key op decides: a type or
// name config on the ReLU's own module does not stop conv + bn + relu fusing.
TEST(JitPrepareGraph, ConfigOnActivationModuleKeepsFusion) {
  auto producers = [](const std::string& yaml) {
    Quantizer q(load_fixture("convbn_scripted.pt"), yaml_config(yaml));
    torch::jit::Module prepared = q.prepare(fixture_inputs("convbn")).script_module();
    std::multiset<std::string> kinds;
    const auto fq = c10::Symbol::fromQualString("coreai_opt::fake_quant_forward");
    for (const auto* n : prepared.get_method("forward").graph()->nodes())
      if (n->kind() == fq) kinds.insert(n->input(0)->node()->kind().toUnqualString());
    return kinds;
  };
  const auto fused = producers("quantization_config:\n  global_config: {}\n");
  EXPECT_EQ(fused.count("relu"), 1U);
  EXPECT_EQ(fused.count("batch_norm"), 1U);  // conv2 + bn2 has no activation
  for (const char* yaml : {"quantization_config:\n  global_config: {}\n  module_type_configs:\n"
                           "    torch.nn.modules.activation.ReLU: {}\n",
                           "quantization_config:\n  global_config: {}\n  module_name_configs:\n"
                           "    relu: {op_input_spec: null}\n"}) {
    const auto same = producers(yaml);
    EXPECT_EQ(same.count("relu"), 1U) << yaml;
    EXPECT_EQ(same.count("batch_norm"), 1U) << yaml;  // only conv2 + bn2's output
  }
}

}  // namespace

namespace {

// op_state_spec keys are the parameters' local names, found through the
// attribute chains: `bias` and `"*"` reach biases, the embedding's weight too.
TEST(JitPlan, StateKeysAreLocalParameterNames) {
  const QuantizationPlan p = plan_of(R"(
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
    op_state_spec: {bias: {dtype: int8}}
  module_name_configs:
    emb:
      op_input_spec: null
      op_output_spec: null
      op_state_spec: {"*": {dtype: uint8, qscheme: asymmetric}}
)");
  const auto* b = find_point(p, PointKind::kOpState, "linear_6", "bias");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->spec->dtype, coreai_opt::DType::kInt8);
  EXPECT_EQ(find_point(p, PointKind::kOpState, "linear_6", "weight"), nullptr);
  const auto* e = find_point(p, PointKind::kOpState, "embedding", "weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->spec->dtype, coreai_opt::DType::kUInt8);
  EXPECT_EQ(e->rule, "module_name_configs[\"emb\"] > op_*_spec");
  // conv_transpose2d's bias: [2] channels, quantized per tensor by the spec.
  EXPECT_NE(find_point(p, PointKind::kOpState, "conv_transpose2d", "bias"), nullptr);
}

}  // namespace

namespace {

// n-ary patterns: add + relu fuse (one fake-quant after the relu, none on the
// add output); sub takes no activation, so the relu after it stays unquantized.
TEST(JitPrepareGraph, NaryPatternsFuseTheirActivation) {
  for (const char* kind : {"scripted", "traced"}) {
    Quantizer q(load_fixture(std::string("resid_") + kind + ".pt"), QuantizerConfig());
    torch::jit::Module prepared = q.prepare(fixture_inputs("resid")).script_module();
    std::multiset<std::string> producers;
    const auto fq = c10::Symbol::fromQualString("coreai_opt::fake_quant_forward");
    const auto graph = prepared.get_method("forward").graph();
    for (const auto* n : graph->nodes())
      if (n->kind() == fq) producers.insert(n->input(0)->node()->kind().toUnqualString());
    EXPECT_EQ(producers.count("add"), 0U) << kind;
    EXPECT_EQ(producers.count("relu"), 1U) << kind;  // after the fused add + relu
    EXPECT_EQ(producers.count("sub"), 1U) << kind;
    EXPECT_EQ(producers.count("linear"), 1U) << kind;
    EXPECT_EQ(std::string(graph->outputs()[0]->node()->kind().toUnqualString()), "relu") << kind;
  }
}

}  // namespace

namespace {

// Module-level specs on the root (matched by type): its boundary is the graph's
// inputs and outputs.
TEST(JitPlan, RootModuleBoundary) {
  Quantizer q(load_fixture("tiny_traced.pt"), yaml_config(R"(
quantization_config:
  global_config: null
  module_type_configs:
    __main__.Tiny:
      op_input_spec: null
      op_output_spec: null
      op_state_spec: null
      module_input_spec: {0: {dtype: int8}}
      module_output_spec: {"*": {dtype: uint8, qscheme: asymmetric}}
)"));
  const QuantizationPlan p = q.plan(fixture_inputs("tiny"));
  // The two boundary points; the ops inside, declined by op_*_spec: null, are listed as such.
  std::size_t quantized = 0;
  for (const auto& pt : p.points) {
    if (pt.declined()) {
      EXPECT_TRUE(pt.op_name.has_value());
      EXPECT_EQ(pt.rule, "module_type_configs[\"__main__.Tiny\"] > op_*_spec") << *pt.op_name;
    } else {
      ++quantized;
    }
  }
  ASSERT_EQ(quantized, 2U);
  const auto* in = find_point(p, PointKind::kModuleInput, "", "0");
  const auto* out = find_point(p, PointKind::kModuleOutput, "", "0");
  ASSERT_TRUE(in != nullptr && out != nullptr);
  EXPECT_EQ(in->module_type, "__main__.Tiny");
  EXPECT_EQ(in->rule, "module_type_configs[\"__main__.Tiny\"] > module_input_spec");
  EXPECT_EQ(out->spec->dtype, coreai_opt::DType::kUInt8);
}

}  // namespace
