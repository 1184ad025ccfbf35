// Our side of the conformance suite: graph-mode quantization of one traced model
// under one config, written as the JSON that run_reference.py writes for the
// Python reference (see there for the fields).
//
//   coreai_opt_conformance_runner MODEL.pt INPUTS.pt CONFIG.yaml OUT.json
//
// INPUTS.pt holds buffers input0..inputN: input0 is the example input of
// prepare(), then the calibration batches, the evaluation batch last. A config
// that we reject is written as {"error": "..."}.
//
// Which fake-quant each use reads is taken from the annotation prepare() follows
// (torch/jit/annotate.h) with the insertion rules of prepare(): an output
// fake-quant serves every use of its value, an input fake-quant a use whose value
// has none, a module_input_spec override replaces either. Scales, zero points and
// flags come from Quantizer::fake_quants() of the prepared model.
#include <torch/script.h>

#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/quantization/config.h"
#include "coreai_opt/torch/quantizer.h"
#include "torch/jit/annotate.h"
#include "torch/jit/graph.h"

namespace {

namespace jd = coreai_opt::jit_detail;
namespace q = coreai_opt::quantization;
using json = nlohmann::ordered_json;

json floats(const at::Tensor& t) {
  json out = json::array();
  const at::Tensor c = t.detach().to(at::kFloat).contiguous().reshape({-1});
  const float* p = c.data_ptr<float>();
  for (std::int64_t i = 0; i < c.numel(); ++i) out.push_back(static_cast<double>(p[i]));
  return out;
}

json spec_json(const q::QuantizationSpec& s, bool weight) {
  json g;
  g["type"] = std::string(q::to_string(s.granularity.type));
  if (s.granularity.axis) g["axis"] = *s.granularity.axis;
  if (!s.granularity.block_size.empty()) g["block_size"] = s.granularity.block_size;
  q::QParamCalculator calc = s.qparam_calculator_cls;
  if (calc == q::QParamCalculator::kDefault)
    calc = weight ? q::QParamCalculator::kStatic : q::QParamCalculator::kMovingAverage;
  json j;
  j["dtype"] = std::string(coreai_opt::dtype_name(s.dtype));
  j["qscheme"] = std::string(q::to_string(s.qscheme));
  j["qformulation"] = std::string(q::to_string(s.qformulation));
  j["granularity"] = g;
  j["qparam_calculator"] = std::string(q::to_string(calc));
  const auto sd = s.effective_scale_dtype();
  j["scale_dtype"] = sd ? json(std::string(q::to_string(*sd))) : json();
  return j;
}

json fake_quant_json(const q::FakeQuantState& f) {
  json j;
  j["spec"] = spec_json(f.spec, f.weight);
  j["disabled"] = f.disabled;
  j["scale"] = floats(f.scale);
  j["scale_shape"] = f.scale.sizes().vec();
  const bool is_float = coreai_opt::is_float(f.spec.dtype);
  if (!is_float && f.zero_point.defined() && f.zero_point.numel() > 0) {
    json zp = json::array();
    const at::Tensor z = f.zero_point.to(at::kLong).contiguous().reshape({-1});
    for (std::int64_t i = 0; i < z.numel(); ++i) zp.push_back(z.data_ptr<std::int64_t>()[i]);
    j["zero_point"] = zp;
  }
  if (!is_float && f.minval.defined() && f.minval.numel() > 0) j["minval"] = floats(f.minval);
  return j;
}

// `op:<name>`, `input:<index>` or `state:<path>` of the value an op reads.
std::string source_of(const jd::AnalyzedGraph& a, const jd::Value* v) {
  if (const jd::GraphOp* op = a.op_of(v->node())) return "op:" + op->name;
  if (v->node()->kind() == c10::prim::Param) return "input:" + std::to_string(v->offset() - 1);
  if (auto sp = a.state_path.find(v); sp != a.state_path.end()) return "state:" + sp->second;
  if (auto p = jd::attr_path(v)) return "state:" + *p;
  if (v->node()->kind() == c10::prim::TupleIndex || v->node()->kind() == c10::prim::TupleUnpack ||
      v->node()->kind() == c10::prim::ListUnpack)
    return source_of(a, v->node()->input(0));
  return "other:" + std::string(v->node()->kind().toQualString());
}

json run(const std::string& model_path, const std::string& inputs_path,
         const std::string& config_path) {
  torch::jit::Module model = torch::jit::load(model_path);
  model.eval();
  torch::jit::Module holder = torch::jit::load(inputs_path);
  std::vector<at::Tensor> batches;
  for (int i = 0; holder.hasattr("input" + std::to_string(i)); ++i)
    batches.push_back(holder.attr("input" + std::to_string(i)).toTensor());
  if (batches.size() < 2) throw std::runtime_error(inputs_path + ": fewer than 2 input batches");

  std::optional<q::Quantizer> quantizer;
  q::QuantizerConfig config;
  torch::jit::Module prepared;
  try {
    config = q::QuantizerConfig::from_yaml(config_path);
    quantizer.emplace(model, config);
    prepared = quantizer->prepare(batches[0]).script_module();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return json{{"error", msg.substr(0, msg.find('\n'))}};
  }
  at::Tensor output;
  {
    at::NoGradGuard no_grad;
    {
      auto calib = quantizer->calibration_mode();
      for (std::size_t i = 1; i + 1 < batches.size(); ++i) prepared.forward({batches[i]});
    }
    c10::IValue out = prepared.forward({batches.back()});
    output = out.isTuple() ? out.toTupleRef().elements().at(0).toTensor() : out.toTensor();
  }

  // The fake-quants that exist after prepare (not skipped, not disabled at run time).
  json fqs = json::object();
  std::map<std::string, bool> live;
  for (const auto& f : quantizer->fake_quants()) {
    fqs[f.name] = fake_quant_json(f);
    live[f.name] = !f.disabled;
  }

  // The annotation prepare() inserted, recomputed on a copy of the same graph.
  const jd::AnalyzedGraph a = jd::analyze_copy(model);
  const auto probe = jd::probe_values(model, a, {batches[0]});
  const jd::Annotation ann = jd::annotate(model, a, config, probe);
  auto fq_name = [&](std::size_t k) -> std::optional<std::string> {
    const jd::FqDef& f = ann.fqs.at(k);
    if (f.skipped) return std::nullopt;
    return f.name;
  };
  std::map<std::pair<const jd::Node*, std::size_t>, std::size_t> state_fq;
  for (const auto& [k, uses] : ann.state_uses)
    for (const auto& [node, index] : uses) state_fq[{node, index}] = k;
  // The fake-quants a use reads through, the one nearest to the reader first
  // (as run_reference.py lists them).
  auto reads = [&](const std::vector<std::optional<std::string>>& names) {
    json list = json::array();
    for (const auto& name : names)
      if (name && live.count(*name) && live[*name]) list.push_back(*name);
    return list;
  };
  // A value's output fake-quants: the group's, then a module output's called before it.
  auto output_chain = [&](const jd::Value* v) {
    std::vector<std::optional<std::string>> chain;
    auto it = ann.value_fq.find(v);
    if (it == ann.value_fq.end() || !fq_name(it->second)) return chain;
    chain.push_back(fq_name(it->second));
    if (auto b = ann.output_before.find(v); b != ann.output_before.end())
      chain.push_back(fq_name(b->second));
    return chain;
  };

  json uses = json::array();
  for (const jd::GraphOp& op : a.ops) {
    if (!op.top_level) continue;
    for (std::size_t i = 0; i < op.inputs.size(); ++i) {
      const jd::TensorInput& ti = op.inputs[i];
      std::vector<std::optional<std::string>> fq;
      std::string source;
      if (ti.state) {
        source = "state:" + op.states.at(*ti.state).path;
        if (auto it = state_fq.find({op.node, ti.input_index}); it != state_fq.end())
          fq.push_back(fq_name(it->second));
      } else {
        source = source_of(a, ti.value);
        const jd::UseKey key{op.node, ti.input_index, ti.list_index ? *ti.list_index + 1 : 0};
        const jd::Value* raw = ti.value;
        if (auto u = ann.use_value.find(key); u != ann.use_value.end()) raw = u->second;
        if (auto af = ann.input_after.find(key); af != ann.input_after.end())
          fq.push_back(fq_name(af->second));
        auto chain = output_chain(raw);
        if (!chain.empty()) {
          fq.insert(fq.end(), chain.begin(), chain.end());
        } else if (auto in = ann.input_fq.find(key); in != ann.input_fq.end()) {
          fq.push_back(fq_name(in->second));
        }
      }
      uses.push_back({{"op", op.name},
                      {"index", i},
                      {"source", source},
                      {"fake_quants", reads(fq)},
                      {"op_type", op.type}});
    }
  }
  // The graph outputs (the elements of a returned tuple).
  std::vector<const jd::Value*> outs;
  for (const jd::Value* v : a.graph->outputs()) {
    if (v->node()->kind() == c10::prim::TupleConstruct) {
      for (const jd::Value* e : v->node()->inputs()) outs.push_back(e);
    } else {
      outs.push_back(v);
    }
  }
  for (std::size_t i = 0; i < outs.size(); ++i) {
    uses.push_back({{"op", "output"},
                    {"index", i},
                    {"source", source_of(a, outs[i])},
                    {"fake_quants", reads(output_chain(outs[i]))},
                    {"op_type", "output"}});
  }

  json j;
  j["uses"] = uses;
  j["fake_quants"] = fqs;
  j["output"] = floats(output);
  j["output_shape"] = output.sizes().vec();
  j["warnings"] = quantizer->plan().warnings;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " MODEL.pt INPUTS.pt CONFIG.yaml OUT.json\n";
    return 2;
  }
  try {
    const json j = run(argv[1], argv[2], argv[3]);
    std::ofstream(argv[4]) << j.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::string msg = e.what();
    std::cerr << "conformance runner: " << msg.substr(0, msg.find('\n')) << "\n";
    return 1;
  }
  return 0;
}
