#include "coreai_opt/torch/quantizer.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/csrc/jit/serialization/import.h>

#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/schema.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/warnings.h"
#include "torch/jit/annotate.h"
#include "torch/jit/graph.h"
#include "torch/jit/patterns.h"
#include "torch/quantizer_backend.h"

namespace coreai_opt {
namespace quantization {

namespace jd = jit_detail;

namespace {

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
std::string point_text(const PlanPoint& p) {
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

QuantizationPlan plan_of(const jd::Annotation& ann) {
  QuantizationPlan p;
  p.execution_mode = ExecutionMode::kGraph;
  p.points = ann.points;
  p.skipped = ann.skipped;
  p.warnings = ann.warnings;
  return p;
}

// Graph mode takes the forward inputs: the prepared model is a copy, which a
// function of the caller's could not reach.
std::vector<c10::IValue> inputs_of(const Example& example, const char* what) {
  if (example.run()) {
    throw InvalidArgumentError(std::string(what) +
                               ": graph mode runs a prepared copy of the TorchScript module, so "
                               "a function cannot serve as the example; pass the forward inputs "
                               "(e.g. `{x}`)");
  }
  return example.inputs();
}

// The graph-mode backend: prepares a clone of the TorchScript module by
// inserting coreai_opt::fake_quant_forward calls into its inlined forward graph,
// with the state buffers on the root.
class GraphBackend final : public coreai_opt::detail::QuantizerBackend {
 public:
  GraphBackend(torch::jit::Module model, QuantizerConfig config)
      : original_(std::move(model)), config_(std::move(config)) {}

  QuantizationPlan plan(const Example& example) const override {
    const std::vector<c10::IValue> inputs = inputs_of(example, "plan()");
    const jd::AnalyzedGraph a = jd::analyze_copy(original_);
    std::unordered_map<const jd::Value*, at::Tensor> probe;
    if (!inputs.empty()) probe = jd::probe_values(original_, a, inputs);
    return plan_of(jd::annotate(original_, a, config_, probe));
  }

  std::pair<Model, QuantizationPlan> prepare(const Example& example) override;

  std::vector<coreai_opt::detail::LivePoint> points() const override {
    std::vector<coreai_opt::detail::LivePoint> out;
    if (!prepared_) return out;
    out.reserve(fqs_.size());
    for (const auto& f : fqs_) {
      coreai_opt::detail::LivePoint p;
      p.name = f.name;
      p.module = f.module;
      p.weight = f.weight;
      p.spec = f.spec;
      p.schedule = f.schedule;
      p.state = prepared_->attr(f.prefix + "state").toTensor();
      p.scale = prepared_->attr(f.prefix + "scale").toTensor();
      p.zero_point = prepared_->attr(f.prefix + "zero_point").toTensor();
      p.minval = prepared_->attr(f.prefix + "minval").toTensor();
      out.push_back(std::move(p));
    }
    return out;
  }

  std::vector<std::pair<std::string, std::string>> module_paths() const override {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : jd::module_tree(*prepared_)) out.emplace_back(e.path, e.canonical);
    return out;
  }

  void save(const std::string& path) const override { prepared_->save(path); }

  void load(const std::string& path) override {
    const torch::jit::Module saved = torch::jit::load(path);
    copy_state(saved, *prepared_, path);
  }

  FinalizeResult finalize() override {
    torch::jit::Module m = prepared_->clone();
    share_states_like(*prepared_, m);
    jd::detach_states(m);
    jd::finalize_module(m, fqs_);
    FinalizeResult r{Model(m), {}};
    for (const auto& f : fqs_) {
      if (!f.weight) continue;
      FinalizeReport::Weight w;
      w.name = f.weight_path;
      w.dtype = std::string(dtype_name(f.spec.dtype));
      w.numel = f.weight_tensor.numel();
      w.float_bytes = w.numel * static_cast<std::int64_t>(f.weight_tensor.element_size());
      w.quantized_bytes =
          quantized_bytes(f.spec, w.numel, prepared_->attr(f.prefix + "scale").toTensor().numel());
      r.report.weights.push_back(std::move(w));
    }
    r.report.parameter_bytes_after = Model(m).state_bytes();
    return r;
  }

 private:
  // Copies every parameter and buffer of `from` into the same-named tensor of
  // `to`; the two must hold the same names and shapes.
  static void copy_state(const torch::jit::Module& from, torch::jit::Module& to,
                         const std::string& path) {
    const auto state_of = [](const torch::jit::Module& m) {
      std::map<std::string, at::Tensor> out;
      for (const auto& p : m.named_parameters()) out[p.name] = p.value;
      for (const auto& b : m.named_buffers()) out[b.name] = b.value;
      return out;
    };
    const std::map<std::string, at::Tensor> src = state_of(from);
    std::map<std::string, at::Tensor> dst = state_of(to);
    for (const auto& [name, t] : dst) {
      if (src.count(name) == 0) {
        throw InvalidArgumentError("load('" + path + "'): the file has no tensor '" + name +
                                   "'; it was not saved from this prepared model");
      }
    }
    for (const auto& [name, t] : src) {
      if (dst.count(name) == 0) {
        throw InvalidArgumentError("load('" + path + "'): the file has tensor '" + name +
                                   "' that the prepared model lacks; it was not saved from "
                                   "this prepared model");
      }
    }
    at::NoGradGuard no_grad;
    for (auto& [name, t] : dst) {
      const at::Tensor& v = src.at(name);
      if (t.sizes() != v.sizes()) {
        if (t.numel() != 0 && v.numel() != 0) {
          throw InvalidArgumentError("load('" + path + "'): tensor '" + name + "' has shape " +
                                     c10::str(v.sizes()) + " in the file and " +
                                     c10::str(t.sizes()) + " in the prepared model");
        }
        t.resize_(v.sizes());
      }
      t.copy_(v);
    }
  }

  torch::jit::Module original_;
  QuantizerConfig config_;
  std::optional<torch::jit::Module> prepared_;
  std::vector<jd::FqDef> fqs_;
};

std::pair<Model, QuantizationPlan> GraphBackend::prepare(const Example& example) {
  const std::vector<c10::IValue> example_inputs = inputs_of(example, "prepare()");
  // A clone: fresh class types for the root and fresh methods never run (the
  // executor caches its graph at the first run, so edits must come first).
  torch::jit::Module m = original_.clone();
  share_states_like(original_, m);
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
  jd::Annotation ann = jd::annotate(m, a, config_, probe);
  if (example_inputs.empty()) {
    // Weights take their scales from their own values; activations need data.
    std::vector<const PlanPoint*> activations;
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
  if (config_.preserved_attributes) {
    // TorchScript clones keep every attribute; a name the model lacks is a typo.
    for (const auto& name : *config_.preserved_attributes)
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

  prepared_ = m;
  for (const auto& f : ann.fqs)
    if (!f.skipped) fqs_.push_back(f);

  // One observed pass in eval mode sets every scale; without example inputs
  // (weights only, checked above) the weight calls alone run.
  const bool was_training = m.is_training();
  for (const auto& p : points()) {
    set_fake_quant_flag(p.state, kObserverEnabled, true);
    set_fake_quant_flag(p.state, kFakeQuantEnabled, false);
  }
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
  return {Model(m), plan_of(ann)};
}

}  // namespace

}  // namespace quantization

namespace detail {

std::unique_ptr<QuantizerBackend> make_graph_backend(const torch::jit::Module& model,
                                                     const QuantizerConfig& config) {
  return std::make_unique<quantization::GraphBackend>(model, config);
}

std::vector<std::string> graph_compressible_op_names(const torch::jit::Module& module) {
  const jit_detail::AnalyzedGraph a = jit_detail::analyze_copy(module);
  std::vector<std::string> out;
  for (const auto& op : a.ops)
    if (op.top_level && jit_detail::is_compressible(op)) out.push_back(op.name);
  return out;
}

}  // namespace detail
}  // namespace coreai_opt
