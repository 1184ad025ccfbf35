#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/schema.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/jit_quantizer.h"
#include "coreai_opt/warnings.h"
#include "torch/jit/annotate.h"
#include "torch/jit/graph.h"
#include "torch/jit/patterns.h"

namespace coreai_opt {
namespace quantization {

namespace jd = jit_detail;

std::string_view to_string(PointKind kind) {
  switch (kind) {
    case PointKind::kOpInput:
      return "op_input";
    case PointKind::kOpOutput:
      return "op_output";
    case PointKind::kOpState:
      return "op_state";
    case PointKind::kModuleInput:
      return "module_input";
    case PointKind::kModuleOutput:
      return "module_output";
    case PointKind::kModuleState:
      return "module_state";
  }
  return "op_input";
}

namespace {

std::string spec_text(const QuantizationSpec& s) {
  std::string out(dtype_name(s.dtype));
  out += " " + std::string(to_string(s.granularity.type));
  if (s.granularity.axis) out += "(axis " + std::to_string(*s.granularity.axis) + ")";
  if (!s.granularity.block_size.empty()) {
    out += "[";
    for (std::size_t i = 0; i < s.granularity.block_size.size(); ++i)
      out += (i ? "," : "") + std::to_string(s.granularity.block_size[i]);
    out += "]";
  }
  out += " " + std::string(to_string(s.qscheme));
  return out;
}

// The graph-mode key restrictions of reference §3.5 (NotImplementedError there).
void check_keys(const SpecMap& in, const SpecMap& out) {
  auto repr = [](const SpecMap& m) {
    std::string s = "{";
    bool first = true;
    for (const auto& [k, v] : m) {
      s += (first ? "" : ", ") + k.repr() + ": " + (v ? "QuantizationSpec(...)" : "None");
      first = false;
    }
    return s + "}";
  };
  for (const auto& [k, v] : in) {
    (void)v;
    if (!k.is_index() && !k.is_wildcard()) {
      throw UnsupportedError(
          "Only integer indices or '*' are supported for op and module input and output specs "
          "currently. Got " +
          repr(in));
    }
  }
  for (const auto& [k, v] : out) {
    (void)v;
    if (!k.is_wildcard() && !(k.is_index() && k.index() == 0)) {
      throw UnsupportedError(
          "op_output_qspec currently supports setting for '*' or 0 tensor only. Got " + repr(out));
    }
  }
}

void check_module_keys(const ModuleQuantizerConfig& m) {
  check_keys(m.op_input_spec, m.op_output_spec);
  check_keys(m.module_input_spec, {});
  check_keys(m.module_output_spec, {});
  for (const auto& [k, c] : m.op_type_config) check_keys(c.op_input_spec, c.op_output_spec);
  for (const auto& [k, c] : m.op_name_config) check_keys(c.op_input_spec, c.op_output_spec);
}

void set_flag(const at::Tensor& state, std::int64_t i, bool on) {
  if (state.device().is_cpu()) {
    state.data_ptr<std::int64_t>()[i] = on ? 1 : 0;
  } else {
    state[i].fill_(on ? 1 : 0);
  }
}
bool get_flag(const at::Tensor& state, std::int64_t i) {
  return state.device().is_cpu() ? state.data_ptr<std::int64_t>()[i] != 0
                                 : state[i].item<std::int64_t>() != 0;
}

// `self.a.b.c` read at the current insertion point.
torch::jit::Value* attr_chain(torch::jit::Graph& g, const std::string& path) {
  torch::jit::Value* v = g.inputs().at(0);
  std::stringstream ss(path);
  std::string atom;
  while (std::getline(ss, atom, '.')) v = g.insertGetAttr(v, atom);
  return v;
}

torch::jit::Value* unwrap(torch::jit::Graph& g, torch::jit::Value* v) {
  if (v->type()->kind() == c10::TypeKind::OptionalType)
    return g.insertUncheckedCast(v, c10::TensorType::get());
  return v;
}

// `op_input 0 of linear_1`, `module_input 0 of module 'enc'`: a point in an error message.
std::string point_text(const GraphPlanPoint& p) {
  return std::string(to_string(p.kind)) + " " + p.tensor + " of " +
         (p.op_name ? *p.op_name : "module '" + p.module + "'");
}

// Runs only the weight fake-quant calls of `g` (and the nodes they read: state
// attributes, the batch-norm scaling of a fold) with `m` as self, so their
// observers see the weights without a forward pass over example inputs. The
// calls return the slice's outputs, so nothing in it is dead code.
void observe_weights(const torch::jit::Module& m, torch::jit::Graph& g,
                     const std::vector<torch::jit::Node*>& calls) {
  torch::jit::Value* self = g.inputs().at(0);
  auto refuse = [](const std::string& why) {
    throw InvalidArgumentError("prepare() without example inputs: " + why +
                               "; pass example inputs to prepare()");
  };
  std::unordered_set<torch::jit::Node*> needed;
  std::vector<torch::jit::Node*> pending(calls.begin(), calls.end());  // worklist
  while (!pending.empty()) {
    torch::jit::Node* n = pending.back();
    pending.pop_back();
    if (!needed.insert(n).second) continue;
    if (n->owningBlock() != g.block() || !n->blocks().empty())
      refuse("a weight fake-quant depends on control flow");
    for (torch::jit::Value* v : n->inputs()) {
      if (v->node()->kind() != c10::prim::Param) {
        pending.push_back(v->node());
      } else if (v != self) {
        refuse("a weight fake-quant reads the forward input '" + v->debugName() + "'");
      }
    }
  }
  auto slice = std::make_shared<torch::jit::Graph>();
  std::unordered_map<torch::jit::Value*, torch::jit::Value*> env;
  env[self] = slice->addInput("self")->setType(self->type());
  for (torch::jit::Node* n : g.nodes()) {
    if (needed.count(n) == 0) continue;
    torch::jit::Node* c = slice->createClone(n, [&](torch::jit::Value* v) { return env.at(v); });
    slice->appendNode(c);
    for (std::size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = c->output(i);
  }
  std::vector<torch::jit::Value*> outs;
  for (torch::jit::Node* n : calls) outs.push_back(env.at(n->output(0)));
  slice->registerOutput(slice->insertNode(slice->createTuple(outs))->output());
  const torch::jit::Code code(slice, "coreai_opt_observe_weights");
  torch::jit::Stack stack{m._ivalue()};
  torch::jit::InterpreterState(code).run(stack);
}

// Module::clone() copies the tensors of each module object on its own, so a
// tensor held by two module objects (scripting makes a module registered under
// two names two objects over the same tensors) becomes two tensors: the clone
// would train them apart and quantize them with two weight fake-quants. This
// gives `clone` the tensor sharing of `original` (same paths, same layout).
void share_states_like(const torch::jit::Module& original, const torch::jit::Module& clone) {
  const auto from = jd::module_tree(original);
  const auto to = jd::module_tree(clone);
  if (from.size() != to.size()) throw Error("graph mode: the clone's module tree differs");
  std::unordered_map<const c10::TensorImpl*, at::Tensor> first;  // original -> clone tensor
  for (std::size_t k = 0; k < from.size(); ++k) {
    const c10::ClassTypePtr& type = from[k].module.type();
    for (std::size_t i = 0; i < type->numAttributes(); ++i) {
      if (!type->is_parameter(i) && !type->is_buffer(i)) continue;
      const c10::IValue v = from[k].module._ivalue()->getSlot(i);
      if (!v.isTensor()) continue;
      const std::string& name = type->getAttributeName(i);
      const std::size_t slot = to[k].module.type()->getAttributeSlot(name);
      const at::Tensor copy = to[k].module._ivalue()->getSlot(slot).toTensor();
      auto [it, fresh] = first.emplace(v.toTensor().unsafeGetTensorImpl(), copy);
      if (!fresh && !it->second.is_same(copy)) to[k].module._ivalue()->setSlot(slot, it->second);
    }
  }
}

}  // namespace

// ------------------------------------------------------------------ plan I/O

std::string GraphPlan::to_json(int indent) const {
  nlohmann::ordered_json j;
  j["execution_mode"] = "graph";
  j["points"] = nlohmann::ordered_json::array();
  for (const auto& p : points) {
    nlohmann::ordered_json e;
    e["kind"] = std::string(quantization::to_string(p.kind));
    e["op_name"] = p.op_name ? nlohmann::ordered_json(*p.op_name) : nlohmann::ordered_json();
    e["op_type"] = p.op_type ? nlohmann::ordered_json(*p.op_type) : nlohmann::ordered_json();
    e["module"] = p.module;
    e["module_type"] = p.module_type;
    e["tensor"] = p.tensor;
    e["spec"] =
        p.spec ? nlohmann::ordered_json::parse(spec_to_json(*p.spec)) : nlohmann::ordered_json();
    e["rule"] = p.rule;
    e["fake_quant"] =
        p.fake_quant.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(p.fake_quant);
    j["points"].push_back(std::move(e));
  }
  j["warnings"] = warnings;
  return j.dump(indent);
}

std::string GraphPlan::format_table() const {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"kind", "op", "module", "tensor", "spec", "fake_quant", "rule"});
  for (const auto& p : points) {
    std::string op = p.op_name ? *p.op_name + " [" + p.op_type.value_or("?") + "]" : "-";
    rows.push_back({std::string(quantization::to_string(p.kind)), op,
                    (p.module.empty() ? "<root>" : p.module) + " (" + p.module_type + ")", p.tensor,
                    p.spec ? spec_text(*p.spec) : "not quantized",
                    p.fake_quant.empty() ? "-" : p.fake_quant, p.rule});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::ostringstream os;
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      os << r[i];
      if (i + 1 < r.size()) os << std::string(width[i] - r[i].size() + 2, ' ');
    }
    os << "\n";
  }
  os << points.size() << " quantization points\n";
  for (const auto& w : warnings) os << "warning: " << w << "\n";
  return os.str();
}

// ------------------------------------------------------------------ JitQuantizer

struct JitQuantizer::Impl {
  torch::jit::Module original;
  QuantizerConfig config;
  std::optional<torch::jit::Module> prepared;
  std::vector<jd::FqDef> fqs;  // the inserted ones
  GraphPlan plan;
  std::int64_t steps = 0;
  bool in_training = false;
  bool warned_no_schedule = false;
  std::int64_t bytes_before = 0;
  std::int64_t bytes_after = 0;

  void require_prepared(const std::string& what) const {
    if (!prepared) throw Error(what);
  }
  at::Tensor state_of(const jd::FqDef& f) const {
    return prepared->attr(f.prefix + "state").toTensor();
  }
  bool any_schedule() const {
    for (const auto& f : fqs)
      if (f.schedule) return true;
    return false;
  }
  void set_all(bool observer, bool fake_quant) const {
    for (const auto& f : fqs) {
      const at::Tensor s = state_of(f);
      set_flag(s, kObserverEnabled, observer);
      set_flag(s, kFakeQuantEnabled, fake_quant);
    }
  }
  // calibration_mode(): every observer on; weight fake quantization on, so the
  // activation observers see the quantized weights; activation fake
  // quantization off (the reference's rule).
  void set_calibration() const {
    for (const auto& f : fqs) {
      const at::Tensor s = state_of(f);
      set_flag(s, kObserverEnabled, true);
      set_flag(s, kFakeQuantEnabled, f.weight);
    }
  }
  void apply_schedule() const {
    for (const auto& f : fqs) {
      if (!f.schedule) continue;
      const at::Tensor s = state_of(f);
      set_flag(s, kObserverEnabled, f.schedule->observer_enabled_at(steps));
      set_flag(s, kFakeQuantEnabled, f.schedule->fake_quant_enabled_at(steps));
    }
  }
  void switch_flag(const std::optional<std::string>& module, std::int64_t index, bool on,
                   const char* name) const {
    require_prepared(std::string("Model must be prepared before calling ") + name +
                     "(). Call prepare() first.");
    if (any_schedule()) {
      throw Error(std::string(name) +
                  "() cannot be used with a qat_schedule configured; the schedule controls "
                  "observers and fake quantization (call step() inside training_mode())");
    }
    std::string path;
    if (module) {
      bool found = false;
      std::string canonical;
      std::map<ModuleIdentity, std::string> first;
      for (const auto& e : jd::module_tree(*prepared)) {
        auto [it, fresh] = first.emplace(e.identity, e.path);
        (void)fresh;
        if (e.path == *module) {
          found = true;
          canonical = it->second;
        }
      }
      if (!found)
        throw InvalidArgumentError("Module '" + *module + "' is not part of the prepared model");
      path = canonical;
    }
    for (const auto& f : fqs)
      if (!module || jd::path_within(f.module, path)) set_flag(state_of(f), index, on);
  }
};

JitQuantizer::JitQuantizer(torch::jit::Module module, QuantizerConfig config)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  if (config.execution_mode != ExecutionMode::kGraph) {
    throw InvalidArgumentError(
        "JitQuantizer quantizes TorchScript modules in graph mode; the config asks for "
        "execution_mode 'eager' (use the eager Quantizer on a torch::nn::Module)");
  }
  if (config.global_config) check_module_keys(*config.global_config);
  for (const auto& [k, m] : config.module_type_configs) check_module_keys(m);
  for (const auto& [k, m] : config.module_name_configs) check_module_keys(m);
  impl_->original = std::move(module);
  impl_->config = std::move(config);
  impl_->bytes_before = jd::state_bytes(impl_->original);
}

JitQuantizer::~JitQuantizer() = default;
JitQuantizer::JitQuantizer(JitQuantizer&&) noexcept = default;
JitQuantizer& JitQuantizer::operator=(JitQuantizer&&) noexcept = default;

namespace {
GraphPlan plan_of(const jd::Annotation& ann) {
  GraphPlan p;
  p.points = ann.points;
  p.warnings = ann.warnings;
  return p;
}
}  // namespace

GraphPlan JitQuantizer::plan(const std::vector<c10::IValue>& example_inputs) const {
  torch::jit::Module m = impl_->original;
  const jd::AnalyzedGraph a = jd::analyze_copy(m);
  std::unordered_map<const jd::Value*, at::Tensor> probe;
  if (!example_inputs.empty()) probe = jd::probe_values(m, a, example_inputs);
  return plan_of(jd::annotate(m, a, impl_->config, probe));
}

torch::jit::Module JitQuantizer::prepare(const std::vector<c10::IValue>& example_inputs) {
  if (impl_->prepared) {
    throw Error("Model has already been prepared. Cannot re-prepare a prepared model.");
  }
  // A clone: fresh class types for the root and fresh methods never run (the
  // executor caches its graph at the first run, so edits must come first).
  torch::jit::Module m = impl_->original.clone();
  share_states_like(impl_->original, m);
  jd::detach_states(m);
  for (const auto& e : jd::module_tree(m)) {
    if (!e.path.empty() && e.module.type() == m.type())
      throw UnsupportedError("graph mode: the root module's class is shared with submodule '" +
                             e.path + "'; its state cannot be given to the root alone");
  }
  auto& fn = torch::jit::toGraphFunction(m.get_method("forward").function());
  jd::AnalyzedGraph a = jd::analyze(m, fn.graph());
  std::unordered_map<const jd::Value*, at::Tensor> probe;
  if (!example_inputs.empty()) probe = jd::probe_values(m, a, example_inputs);
  jd::Annotation ann = jd::annotate(m, a, impl_->config, probe);
  if (example_inputs.empty()) {
    // Weights take their scales from their own values; activations need data.
    std::vector<const GraphPlanPoint*> activations;
    for (const auto& p : ann.points) {
      if (p.kind != PointKind::kOpState && p.kind != PointKind::kModuleState &&
          !p.fake_quant.empty())
        activations.push_back(&p);
    }
    if (!activations.empty()) {
      throw InvalidArgumentError(
          "prepare() without example inputs: the config quantizes activations (" +
          std::to_string(activations.size()) + " points, e.g. " + point_text(*activations[0]) +
          "); example inputs are required to calibrate them");
    }
  }
  if (impl_->config.preserved_attributes) {
    // TorchScript clones keep every attribute; a name the model lacks is a typo.
    for (const auto& name : *impl_->config.preserved_attributes)
      if (!m.hasattr(name))
        ann.warnings.push_back("preserved attribute '" + name + "' not found on the model");
  }
  for (const auto& w : ann.warnings) warn(w);

  torch::jit::Graph& g = *a.graph;
  c10::Device device = at::kCPU;
  for (const auto& p : m.named_parameters()) {
    device = p.value.device();
    break;
  }
  // State buffers on the root (its type belongs to this module alone).
  for (const auto& f : ann.fqs) {
    if (f.skipped) continue;
    FakeQuantizeTensors t = FakeQuantizeTensors::fresh();
    m.register_buffer(f.prefix + "running_min", t.running_min.to(device));
    m.register_buffer(f.prefix + "running_max", t.running_max.to(device));
    m.register_buffer(f.prefix + "scale", t.scale.to(device));
    m.register_buffer(f.prefix + "zero_point", t.zero_point.to(device));
    m.register_buffer(f.prefix + "minval", t.minval.to(device));
    m.register_buffer(f.prefix + "state", t.state);
  }

  // Weights (and the conv/linear + batch_norm QAT form).
  std::vector<torch::jit::Node*> weight_calls;
  for (const auto& [k, uses] : ann.state_uses) {
    const jd::FqDef& f = ann.fqs[k];
    if (f.skipped) continue;
    for (const auto& [node, idx] : uses) {
      const jd::GraphOp* conv = a.op_of(node);
      if (f.fold && conv != nullptr && conv->name == f.fold->conv_op) {
        const bool has_bias = !f.fold->conv_bias.empty();
        const std::int64_t rank = f.weight_tensor.dim();
        std::vector<std::int64_t> wshape(static_cast<std::size_t>(rank), 1);
        std::vector<std::int64_t> oshape;
        if (f.fold->linear) {
          wshape = {-1, 1};
          oshape = {-1};
        } else {
          wshape[f.fold->transposed ? 1 : 0] = -1;
          oshape.assign(static_cast<std::size_t>(rank), 1);
          oshape[1] = -1;
        }
        torch::jit::Value* k_val = nullptr;
        torch::jit::Value* wq = nullptr;
        {
          // The BN's own reads come after the conv: read its tensors afresh here.
          torch::jit::WithInsertPoint ip(node);
          torch::jit::Value* var = unwrap(g, attr_chain(g, f.fold->bn_var));
          torch::jit::Value* var_eps = g.insert(c10::aten::add, {var, c10::IValue(f.fold->eps)});
          torch::jit::Value* std_v = g.insert(c10::aten::sqrt, {var_eps});
          if (f.fold->bn_weight.empty()) {
            k_val = g.insert(c10::aten::reciprocal, {std_v});
          } else {
            k_val = g.insert(c10::aten::div, {unwrap(g, attr_chain(g, f.fold->bn_weight)), std_v});
          }
          torch::jit::Value* kw = g.insert(c10::aten::reshape, {k_val, c10::IValue(wshape)});
          torch::jit::Value* wk = g.insert(c10::aten::mul, {node->input(idx), kw});
          wq = jd::insert_fake_quant(g, wk, f);
          weight_calls.push_back(wq->node());
          node->replaceInput(idx, wq);
        }
        torch::jit::Value* bias = node->input(2);
        {
          torch::jit::WithInsertPoint ip(node);
          node->replaceInput(2, g.insertConstant(c10::IValue()));
        }
        torch::jit::Value* out = node->output(0);
        torch::jit::Value* y = nullptr;
        {
          torch::jit::WithInsertPoint ip(node->next());
          torch::jit::Value* ko = g.insert(c10::aten::reshape, {k_val, c10::IValue(oshape)});
          y = g.insert(c10::aten::div, {out, ko});
          if (has_bias) {
            torch::jit::Value* bo =
                g.insert(c10::aten::reshape, {unwrap(g, bias), c10::IValue(oshape)});
            y = g.insert(c10::aten::add, {y, bo});
          }
        }
        out->replaceAllUsesAfterNodeWith(y->node(), y);
        continue;
      }
      torch::jit::WithInsertPoint ip(node);
      torch::jit::Value* wq = jd::insert_fake_quant(g, node->input(idx), f);
      weight_calls.push_back(wq->node());
      node->replaceInput(idx, wq);
    }
  }

  auto insert_after_producer = [&](const jd::Value* cv, const jd::FqDef& f) {
    auto* v = const_cast<torch::jit::Value*>(cv);
    torch::jit::Node* at =
        v->node()->kind() == c10::prim::Param ? *g.nodes().begin() : v->node()->next();
    torch::jit::WithInsertPoint ip(at);
    return jd::insert_fake_quant(g, v, f);
  };
  // The node and input index a use reads through: the consumer itself, or the
  // prim::ListConstruct feeding it for an element of a tensor list (list > 0).
  auto use_slot = [](const jd::UseKey& use) {
    auto* node = const_cast<torch::jit::Node*>(std::get<0>(use));
    const std::size_t list = std::get<2>(use);
    if (list == 0) return std::make_pair(node, std::get<1>(use));
    return std::make_pair(node->input(std::get<1>(use))->node(), list - 1);
  };
  auto set_use = [&](const jd::UseKey& use, torch::jit::Value* v) {
    const auto [node, i] = use_slot(use);
    node->replaceInput(i, v);
  };
  auto use_input = [&](const jd::UseKey& use) {
    const auto [node, i] = use_slot(use);
    return node->input(i);
  };
  // Output fake-quants serve every use of the value; a module_output_spec that
  // did not join a group's instance is called on the raw output before it.
  std::set<const jd::Value*> quantized_values;
  for (const auto& [v, k] : ann.value_fq) {
    if (ann.fqs[k].skipped) continue;
    auto* raw = const_cast<torch::jit::Value*>(v);
    torch::jit::Value* src = raw;
    if (auto b = ann.output_before.find(v);
        b != ann.output_before.end() && !ann.fqs[b->second].skipped) {
      src = insert_after_producer(v, ann.fqs[b->second]);
    }
    torch::jit::Value* fqv = nullptr;
    if (auto ar = ann.adapt_rank.find(v); ar != ann.adapt_rank.end()) {
      // View with the shared fake-quant's rank, quantize, view back.
      const std::int64_t rank = probe.at(v).dim();
      torch::jit::WithInsertPoint ip(src->node()->next());
      torch::jit::Value* x = src;
      for (std::int64_t i = rank; i < ar->second; ++i)
        x = g.insert(c10::aten::unsqueeze, {x, c10::IValue(std::int64_t{0})});
      if (rank > ar->second)
        x = g.insert(c10::aten::flatten,
                     {x, c10::IValue(std::int64_t{0}), c10::IValue(rank - ar->second)});
      fqv = g.insert(c10::aten::reshape_as, {jd::insert_fake_quant(g, x, ann.fqs[k]), raw});
    } else {
      fqv = insert_after_producer(src, ann.fqs[k]);
    }
    raw->replaceAllUsesAfterNodeWith(fqv->node(), fqv);
    quantized_values.insert(v);
  }
  // Input fake-quants: one call per (value, fake-quant), shared by its uses.
  std::map<std::pair<const jd::Value*, std::size_t>, torch::jit::Value*> made;
  for (const auto& [use, k] : ann.input_fq) {
    const jd::Value* v = ann.use_value.at(use);
    if (ann.fqs[k].skipped || quantized_values.count(v) > 0) continue;
    auto key = std::make_pair(v, k);
    if (made.count(key) == 0) made[key] = insert_after_producer(v, ann.fqs[k]);
    set_use(use, made[key]);
  }
  // module_input_spec fake-quants called on what the use reads now (the
  // producer's output fake-quant): two on one edge, one call per (value, fake-quant).
  std::map<std::pair<const torch::jit::Value*, std::size_t>, torch::jit::Value*> after;
  for (const auto& [use, k] : ann.input_after) {
    if (ann.fqs[k].skipped) continue;
    torch::jit::Value* cur = use_input(use);
    auto key = std::make_pair(cur, k);
    if (after.count(key) == 0) after[key] = insert_after_producer(cur, ann.fqs[k]);
    set_use(use, after[key]);
  }
  g.lint();

  impl_->prepared = m;
  for (const auto& f : ann.fqs)
    if (!f.skipped) impl_->fqs.push_back(f);
  impl_->plan = plan_of(ann);

  // One observed pass in eval mode sets every scale; without example inputs
  // (weights only, checked above) the weight calls alone run.
  const bool was_training = m.is_training();
  impl_->set_all(true, false);
  m.eval();
  {
    at::NoGradGuard no_grad;
    if (example_inputs.empty()) {
      if (!weight_calls.empty()) observe_weights(m, g, weight_calls);
    } else {
      m.forward(example_inputs);
    }
  }
  m.train(was_training);
  impl_->set_all(false, true);
  return m;
}

bool JitQuantizer::is_prepared() const { return impl_->prepared.has_value(); }

torch::jit::Module JitQuantizer::prepared_module() const {
  impl_->require_prepared("Model must be prepared first. Call prepare() first.");
  return *impl_->prepared;
}

const GraphPlan& JitQuantizer::prepared_plan() const { return impl_->plan; }

JitQuantizer::ModeGuard::ModeGuard(JitQuantizer* q, bool training, bool was_training)
    : q_(q), training_(training), was_training_(was_training) {}

JitQuantizer::ModeGuard::ModeGuard(ModeGuard&& o) noexcept
    : q_(o.q_), training_(o.training_), was_training_(o.was_training_) {
  o.q_ = nullptr;
}

JitQuantizer::ModeGuard::~ModeGuard() {
  if (q_ == nullptr) return;
  Impl& impl = *q_->impl_;
  impl.set_all(false, true);
  impl.prepared->train(was_training_);
  if (training_) impl.in_training = false;
}

JitQuantizer::ModeGuard JitQuantizer::calibration_mode() {
  impl_->require_prepared(
      "Model must be prepared before entering calibration mode. Call prepare() first.");
  const bool was = impl_->prepared->is_training();
  impl_->set_calibration();
  impl_->prepared->eval();
  return ModeGuard(this, false, was);
}

JitQuantizer::ModeGuard JitQuantizer::training_mode() {
  impl_->require_prepared(
      "Model must be prepared before entering training mode. Call prepare() first.");
  if (impl_->in_training) throw Error("Nested training_mode() calls are not supported");
  const bool was = impl_->prepared->is_training();
  impl_->prepared->train(true);
  impl_->set_all(true, true);
  impl_->apply_schedule();
  impl_->in_training = true;
  return ModeGuard(this, true, was);
}

void JitQuantizer::step() {
  if (!impl_->in_training) {
    throw Error(
        "step() can only be called inside training_mode(); enter it with "
        "`auto guard = quantizer.training_mode();`");
  }
  ++impl_->steps;
  if (!impl_->any_schedule()) {
    // Once per quantizer, as Python shows a repeated UserWarning once.
    if (impl_->warned_no_schedule) return;
    impl_->warned_no_schedule = true;
    warn(
        "step() was called but no qat_schedule is configured; observer and fake-quant states "
        "are unchanged");
    return;
  }
  impl_->apply_schedule();
}

std::int64_t JitQuantizer::step_count() const { return impl_->steps; }

void JitQuantizer::enable_observer(const std::optional<std::string>& module) {
  impl_->switch_flag(module, kObserverEnabled, true, "enable_observer");
}
void JitQuantizer::disable_observer(const std::optional<std::string>& module) {
  impl_->switch_flag(module, kObserverEnabled, false, "disable_observer");
}
void JitQuantizer::enable_fake_quant(const std::optional<std::string>& module) {
  impl_->switch_flag(module, kFakeQuantEnabled, true, "enable_fake_quant");
}
void JitQuantizer::disable_fake_quant(const std::optional<std::string>& module) {
  impl_->switch_flag(module, kFakeQuantEnabled, false, "disable_fake_quant");
}

std::vector<JitQuantizer::FakeQuantState> JitQuantizer::fake_quants() const {
  std::vector<FakeQuantState> out;
  if (!impl_->prepared) return out;
  for (const auto& f : impl_->fqs) {
    FakeQuantState s;
    s.name = f.name;
    s.module = f.module;
    s.weight = f.weight;
    s.spec = f.spec;
    s.schedule = f.schedule;
    const at::Tensor st = impl_->state_of(f);
    s.observer_enabled = get_flag(st, kObserverEnabled);
    s.fake_quant_enabled = get_flag(st, kFakeQuantEnabled);
    s.disabled = get_flag(st, kDisabled);
    s.scale = impl_->prepared->attr(f.prefix + "scale").toTensor();
    s.zero_point = impl_->prepared->attr(f.prefix + "zero_point").toTensor();
    s.minval = impl_->prepared->attr(f.prefix + "minval").toTensor();
    out.push_back(std::move(s));
  }
  return out;
}

torch::jit::Module JitQuantizer::finalize() {
  impl_->require_prepared("Model must be prepared before finalize(). Call prepare() first.");
  torch::jit::Module m = impl_->prepared->clone();
  share_states_like(*impl_->prepared, m);
  jd::detach_states(m);
  jd::finalize_module(m, impl_->fqs);
  impl_->bytes_after = jd::state_bytes(m);
  return m;
}

std::int64_t JitQuantizer::parameter_bytes_before() const { return impl_->bytes_before; }
std::int64_t JitQuantizer::parameter_bytes_after() const { return impl_->bytes_after; }
std::int64_t JitQuantizer::parameter_bytes_prepared() const {
  return impl_->prepared ? jd::state_bytes(*impl_->prepared) : 0;
}

std::vector<std::string> JitQuantizer::get_compressible_op_names(const torch::jit::Module& module) {
  const jd::AnalyzedGraph a = jd::analyze_copy(module);
  std::vector<std::string> out;
  for (const auto& op : a.ops)
    if (op.top_level && jd::is_compressible(op)) out.push_back(op.name);
  return out;
}

}  // namespace quantization
}  // namespace coreai_opt
