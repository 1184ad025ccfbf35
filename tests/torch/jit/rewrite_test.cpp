// The graph rewrites of prepare() and finalize(), read with FileCheck, and the
// FakeQuantizeSpec constants the fake-quant calls carry: their contents, their
// pickled form and its validation when a saved model is loaded.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>
#include <torch/custom_class.h>
#include <torch/script.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/schema.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/quantizer.h"
#include "jit_test_util.h"

namespace {

using coreai_opt::InvalidArgumentError;
using coreai_opt::quantization::FakeQuantizeSpec;
using coreai_opt::quantization::PointKind;
using coreai_opt::quantization::QuantizationPlan;
using coreai_opt::quantization::QuantizationSpec;
using coreai_opt::quantization::Quantizer;
using coreai_opt::quantization::QuantizerConfig;
using coreai_opt::quantization::TensorRole;
using coreai_opt::testing::fixture_inputs;
using coreai_opt::testing::load_fixture;
using coreai_opt::testing::out_tensor;
using coreai_opt::testing::yaml_config;
using torch::jit::testing::FileCheck;

const c10::Symbol kFakeQuant = c10::Symbol::fromQualString("coreai_opt::fake_quant_forward");

std::string graph_text(const torch::jit::Module& m) {
  return m.get_method("forward").graph()->toString();
}

// The fake-quant a call belongs to, from the name of its running_min buffer.
std::string fake_quant_name(const torch::jit::Node* call) {
  const std::string field = call->input(1)->node()->s(c10::attr::name);
  return field.substr(4, field.size() - 4 - std::string("_running_min").size());
}

// The spec constant a fake-quant call reads (its last input).
c10::intrusive_ptr<FakeQuantizeSpec> spec_of(const torch::jit::Node* call) {
  const torch::jit::Node* c = call->inputs().back()->node();
  EXPECT_EQ(c->kind(), c10::prim::Constant);
  return c->ival(c10::attr::value).toCustomClass<FakeQuantizeSpec>();
}

std::vector<const torch::jit::Node*> fake_quant_calls(const torch::jit::Module& m) {
  std::vector<const torch::jit::Node*> out;
  for (const torch::jit::Node* n : m.get_method("forward").graph()->nodes())
    if (n->kind() == kFakeQuant) out.push_back(n);
  return out;
}

// Per fake-quant name, the spec the plan gives it and whether it quantizes a state.
struct Planned {
  QuantizationSpec spec;
  bool weight = false;
};
std::map<std::string, Planned> planned(const QuantizationPlan& p) {
  std::map<std::string, Planned> out;
  for (const auto& pt : p.points) {
    if (pt.fake_quant.empty() || !pt.spec) continue;
    out[pt.fake_quant] = {*pt.spec,
                          pt.kind == PointKind::kOpState || pt.kind == PointKind::kModuleState};
  }
  return out;
}

// tiny is fc1 -> relu -> fc2. Under the default config (W8A8) prepare() puts
// the input's fake-quant before fc1, each weight's between its read and its
// linear, and one fake-quant after the relu (the fc1 + relu pattern's output,
// shared by fc2's input) and one after fc2.
TEST(JitRewrite, PreparedGraphPassesSpecConstants) {
  for (const char* kind : {"scripted", "traced"}) {
    SCOPED_TRACE(kind);
    Quantizer q(load_fixture(std::string("tiny_") + kind + ".pt"), QuantizerConfig());
    const torch::jit::Module prepared = q.prepare(fixture_inputs("tiny")).script_module();
    const std::string g = graph_text(prepared);
    const std::string spec_constant =
        "__torch__.torch.classes.coreai_opt.FakeQuantizeSpec = prim::Constant[value=object(";
    FileCheck()
        .check("prim::GetAttr[name=\"_fq_linear_input_0_state\"]")
        ->check_next(spec_constant)
        ->check_next("coreai_opt::fake_quant_forward(%x")
        ->check("prim::GetAttr[name=\"_fq_linear_weight_state\"]")
        ->check_next(spec_constant)
        ->check_next("coreai_opt::fake_quant_forward(")
        ->check("aten::linear(")
        ->check("aten::relu(")
        ->check("prim::GetAttr[name=\"_fq_linear_output_state\"]")
        ->check_next(spec_constant)
        ->check_next("coreai_opt::fake_quant_forward(")
        ->check("prim::GetAttr[name=\"_fq_linear_1_weight_state\"]")
        ->check_next(spec_constant)
        ->check_next("coreai_opt::fake_quant_forward(")
        ->check("aten::linear(")
        ->check("prim::GetAttr[name=\"_fq_linear_1_output_state\"]")
        ->check_next(spec_constant)
        ->check_next("coreai_opt::fake_quant_forward(")
        ->check("return")
        ->run(g);
    FileCheck().check_count("coreai_opt::fake_quant_forward(", 5, /*exactly=*/true)->run(g);
    // No spec text in the graph: no string constant holds a JSON object or a field.
    FileCheck().check_not("prim::Constant[value=\"{")->run(g);
    FileCheck().check_not("qscheme")->run(g);
    FileCheck().check_not("symmetric")->run(g);

    // Each constant holds the validated spec of its point, with its role.
    const auto want = planned(q.plan());
    const auto calls = fake_quant_calls(prepared);
    ASSERT_EQ(calls.size(), 5U);
    for (const torch::jit::Node* call : calls) {
      const std::string name = fake_quant_name(call);
      SCOPED_TRACE(name);
      ASSERT_EQ(want.count(name), 1U);
      const auto spec = spec_of(call);
      EXPECT_EQ(spec->config().spec, want.at(name).spec.validated());
      EXPECT_EQ(spec->config().role,
                want.at(name).weight ? TensorRole::kWeight : TensorRole::kActivation);
    }
    const auto w = spec_of(calls[1]);
    EXPECT_EQ(w->what(), "weight of fc1 (linear)");
    EXPECT_EQ(w->config().spec.dtype, coreai_opt::DType::kInt8);
    EXPECT_EQ(w->config().spec.granularity.type,
              coreai_opt::quantization::GranularityType::kPerChannel);
    EXPECT_EQ(w->config().spec.granularity.axis, 0);
  }
}

// finalize() replaces each weight fake-quant by coreai_opt::dequantize of the
// stored codes, with typed arguments, and keeps the activation fake-quants (and
// their spec constants) frozen.
TEST(JitRewrite, FinalizedGraphDequantizesWeightsWithTypedArguments) {
  for (const char* kind : {"scripted", "traced"}) {
    SCOPED_TRACE(kind);
    Quantizer q(load_fixture(std::string("tiny_") + kind + ".pt"), yaml_config(R"(
quantization_config:
  global_config:
    op_state_spec: {weight: {dtype: int4, granularity: {type: per_block, block_size: 4}}}
)"));
    q.prepare(fixture_inputs("tiny"));
    const torch::jit::Module fin = q.finalize().model.script_module();
    const std::string g = graph_text(fin);
    // fc1.weight is [8, 4]: blocks of 4 along axis 1 -> block_size [1, 4]; int4
    // codes packed two per byte; the weight dtype (6 = float) restored.
    FileCheck()
        .check("prim::GetAttr[name=\"_fq_linear_input_0_state\"]")
        ->check_next("FakeQuantizeSpec = prim::Constant")
        ->check_next("coreai_opt::fake_quant_forward(%x")
        ->check("prim::GetAttr[name=\"_fq_linear_weight_codes\"]")
        ->check("coreai_opt::dequantize(")
        ->check("aten::linear(")
        ->check("prim::GetAttr[name=\"_fq_linear_1_weight_codes\"]")
        ->check("coreai_opt::dequantize(")
        ->check("aten::linear(")
        ->run(g);
    FileCheck().check_count("coreai_opt::fake_quant_forward(", 3, /*exactly=*/true)->run(g);
    FileCheck().check_count("coreai_opt::dequantize(", 2, /*exactly=*/true)->run(g);
    FileCheck().check_not("_fq_linear_weight_running_min")->run(g);
    FileCheck().check_not("_fq_linear_1_weight_state")->run(g);

    // The dequantize arguments are the final values: block size, dtype name,
    // code range, packed flag and the weight's dtype.
    const torch::jit::Node* deq = nullptr;
    for (const torch::jit::Node* n : fin.get_method("forward").graph()->nodes())
      if (n->kind() == c10::Symbol::fromQualString("coreai_opt::dequantize")) {
        deq = n;
        break;
      }
    ASSERT_NE(deq, nullptr);
    EXPECT_EQ(torch::jit::toIValue(deq->input(4))->toIntVector(), (std::vector<int64_t>{1, 4}));
    EXPECT_EQ(torch::jit::toIValue(deq->input(5))->toStringRef(), "int4");
    EXPECT_EQ(torch::jit::toIValue(deq->input(6))->toInt(), -8);
    EXPECT_EQ(torch::jit::toIValue(deq->input(7))->toInt(), 7);
    EXPECT_TRUE(torch::jit::toIValue(deq->input(8))->toBool());
    for (const torch::jit::Node* call : fake_quant_calls(fin))
      EXPECT_EQ(spec_of(call)->config().role, TensorRole::kActivation);
  }
}

// Saving and loading (here, in one process; the ctest loaders do it in a fresh
// one) keeps every spec constant and the outputs.
TEST(JitRewrite, SpecConstantsSurviveSaveAndLoad) {
  for (const char* kind : {"scripted", "traced"}) {
    SCOPED_TRACE(kind);
    const auto in = fixture_inputs("net");
    Quantizer q(load_fixture(std::string("net_") + kind + ".pt"), QuantizerConfig());
    const torch::jit::Module prepared = q.prepare(in).script_module();
    const torch::jit::Module fin = q.finalize().model.script_module();
    for (torch::jit::Module m : {prepared, fin}) {
      std::stringstream buf;
      m.save(buf);
      torch::jit::Module loaded = torch::jit::load(buf);
      const auto before = fake_quant_calls(m);
      const auto after = fake_quant_calls(loaded);
      ASSERT_EQ(after.size(), before.size());
      ASSERT_GT(after.size(), 10U);
      for (std::size_t i = 0; i < before.size(); ++i) {
        EXPECT_EQ(fake_quant_name(after[i]), fake_quant_name(before[i]));
        EXPECT_EQ(spec_of(after[i])->config(), spec_of(before[i])->config());
        EXPECT_EQ(spec_of(after[i])->what(), spec_of(before[i])->what());
      }
      at::NoGradGuard ng;
      EXPECT_TRUE(at::equal(out_tensor(loaded.forward(in)), out_tensor(m.forward(in))));
    }
  }
}

// __setstate__ of a FakeQuantizeSpec, as torch::jit::load calls it on each
// constant of a saved model.
c10::intrusive_ptr<FakeQuantizeSpec> unpickle(c10::IValue state) {
  const auto cls = c10::getCustomClassType<c10::intrusive_ptr<FakeQuantizeSpec>>();
  auto obj = c10::ivalue::Object::create(c10::StrongTypePtr(nullptr, cls), 1);
  torch::jit::Stack stack{c10::IValue(obj), std::move(state)};
  cls->getMethod("__setstate__").run(stack);
  return c10::IValue(obj).toCustomClass<FakeQuantizeSpec>();
}

c10::IValue pickled(std::int64_t version, const std::string& role, const std::string& spec,
                    const std::string& what) {
  return c10::ivalue::Tuple::create({version, role, spec, what});
}

std::string unpickle_error(const c10::IValue& state) {
  try {
    unpickle(state);
  } catch (const InvalidArgumentError& e) {
    return e.what();
  }
  return "no error";
}

// The pickled state is (version, role, canonical spec JSON, what); loading it
// validates once, with errors that name the point.
TEST(JitRewrite, SpecConstantIsValidatedWhenLoaded) {
  QuantizationSpec s(coreai_opt::DType::kUInt4,
                     coreai_opt::quantization::PerBlockGranularity(32, 1),
                     coreai_opt::QuantizationScheme::kAsymmetric);
  s.float_range = {-1.0, 2.0};
  s.averaging_constant = 0.25;
  const auto original = c10::make_intrusive<FakeQuantizeSpec>(
      coreai_opt::quantization::FakeQuantizeConfig::make(s, TensorRole::kActivation, "x"),
      "input 0 of linear_2");
  const auto cls = c10::getCustomClassType<c10::intrusive_ptr<FakeQuantizeSpec>>();
  torch::jit::Stack stack{c10::IValue(original)};
  cls->getMethod("__getstate__").run(stack);
  const auto state = stack.back().toTupleRef().elements();
  ASSERT_EQ(state.size(), 4U);
  EXPECT_EQ(state[0].toInt(), 1);
  EXPECT_EQ(state[1].toStringRef(), "activation");
  EXPECT_EQ(state[2].toStringRef(), coreai_opt::quantization::spec_to_json(s.validated()));
  EXPECT_EQ(state[3].toStringRef(), "input 0 of linear_2");
  const auto back = unpickle(stack.back());
  EXPECT_EQ(back->config(), original->config());
  EXPECT_EQ(back->what(), original->what());

  const std::string json = state[2].toStringRef();
  EXPECT_EQ(unpickle_error(pickled(2, "activation", json, "w")),
            "loading the fake-quant spec of w: format version 2 (this build reads version 1)");
  EXPECT_EQ(unpickle_error(pickled(1, "bias", json, "w")),
            "loading the fake-quant spec of w: role 'bias' (allowed: weight, activation)");
  std::string bad_dtype = json;
  bad_dtype.replace(bad_dtype.find("\"uint4\""), 7, "\"uint9\"");
  EXPECT_EQ(unpickle_error(pickled(1, "weight", bad_dtype, "w")),
            "loading the fake-quant spec of w: spec.dtype: Unsupported dtype: 'uint9'. Allowed "
            "dtypes: float4_e2m1fn_x2, float8_e4m3fn, float8_e5m2, int2, int4, int8, uint2, "
            "uint4, uint8");
  // An unresolved axis is refused as at prepare().
  const std::string no_axis = coreai_opt::quantization::spec_to_json(
      QuantizationSpec(coreai_opt::DType::kInt8, coreai_opt::quantization::PerChannelGranularity())
          .validated());
  EXPECT_EQ(unpickle_error(pickled(1, "weight", no_axis, "weight of fc")),
            "loading the fake-quant spec of weight of fc: per_channel granularity has no axis; "
            "resolve the default axis of the consuming module first or give an explicit axis");
}

// A saved model whose spec constant was altered fails in torch::jit::load,
// naming the point, not in a forward.
TEST(JitRewrite, DamagedSpecFailsAtLoad) {
  Quantizer q(load_fixture("tiny_scripted.pt"), QuantizerConfig());
  torch::jit::Module prepared = q.prepare(fixture_inputs("tiny")).script_module();
  std::stringstream saved;
  prepared.save(saved);
  // Rewrite the archive with one spec's dtype changed to a name that does not exist.
  caffe2::serialize::PyTorchStreamReader reader(&saved);
  std::stringstream damaged;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, std::size_t n) {
    damaged.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    return n;
  });
  bool changed = false;
  for (const std::string& name : reader.getAllRecords()) {
    if (name == ".data/version" || name == ".data/serialization_id") continue;  // the writer's own
    auto [data, size] = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(data.get()), size);
    if (name == "constants.pkl") {
      const std::size_t at = bytes.find("\"int8\"");
      ASSERT_NE(at, std::string::npos);
      bytes.replace(at, 6, "\"int9\"");
      changed = true;
    }
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
  ASSERT_TRUE(changed);
  try {
    torch::jit::load(damaged);
    FAIL() << "expected an error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_EQ(std::string(e.what()),
              "loading the fake-quant spec of input 0 of linear: spec.dtype: Unsupported dtype: "
              "'int9'. Allowed dtypes: float4_e2m1fn_x2, float8_e4m3fn, float8_e5m2, int2, int4, "
              "int8, uint2, uint4, uint8");
  }
}

// Prepared models leave the process: the ctest loaders (a plain LibTorch program
// and Python) load them in a fresh process and compare the output bit for bit.
TEST(JitExport, WritePreparedModels) {
  const auto in = fixture_inputs("net");
  const char* env = std::getenv("COREAI_OPT_JIT_EXPORT_DIR");
  const std::string dir = env != nullptr ? env : ::testing::TempDir() + "/jit_export";
  std::filesystem::create_directories(dir);
  for (const char* kind : {"scripted", "traced"}) {
    Quantizer q(load_fixture(std::string("net_") + kind + ".pt"), QuantizerConfig());
    torch::jit::Module prepared = q.prepare(in).script_module();
    at::NoGradGuard ng;
    const at::Tensor h = out_tensor(prepared.forward(in));
    EXPECT_GT(fake_quant_calls(prepared).size(), 10U);
    prepared.save(dir + "/net_" + kind + "_prepared.pt");
    torch::jit::Module expected(c10::QualifiedName("__torch__.Expected"));
    expected.register_buffer("output", h);
    expected.save(dir + "/net_" + kind + "_prepared_expected.pt");
  }
}

}  // namespace
