#include "torch/jit/graph.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <functional>
#include <sstream>
#include <utility>

#include "coreai_opt/errors.h"

namespace coreai_opt::jit_detail {

namespace {

void for_each_node(torch::jit::Block* b, const std::function<void(Node*)>& f) {
  for (Node* n : b->nodes()) {
    f(n);
    for (torch::jit::Block* sb : n->blocks()) for_each_node(sb, f);
  }
}

void tag(Node* n, const std::string& path, std::unordered_map<const Node*, std::string>& paths) {
  paths[n] = path;
  for (torch::jit::Block* b : n->blocks())
    for (Node* x : b->nodes()) tag(x, path, paths);
}

// Inlines one call level at a time, top-down, tagging every inlined node with the
// full path of the module whose method it came from (functions inherit the
// caller's path).
std::unordered_map<const Node*, std::string> inline_with_paths(Graph& g) {
  std::unordered_map<const Node*, std::string> paths;
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<Node*> calls;
    for_each_node(g.block(), [&](Node* n) {
      if (n->kind() == c10::prim::CallMethod || n->kind() == c10::prim::CallFunction)
        calls.push_back(n);
    });
    for (Node* n : calls) {
      torch::jit::GraphFunction* fn = torch::jit::tryToGraphFunction(n);
      if (fn == nullptr) continue;  // interface calls stay opaque
      std::string path;
      if (n->kind() == c10::prim::CallMethod) {
        auto p = attr_path(n->input(0));
        if (!p) {
          throw UnsupportedError(
              "graph mode: a method is called on a module that is not an attribute chain of "
              "self (" +
              n->s(c10::attr::name) + "); such models cannot be analysed");
        }
        path = *p;
      } else {
        auto it = paths.find(n);
        if (it != paths.end()) path = it->second;
        n->removeInput(0);  // the function constant, as torch's Inliner drops it
      }
      Node* before = n->prev();
      Node* after = n->next();
      torch::jit::inlineCallTo(n, fn, fn->graph().get());
      for (Node* x = before->next(); x != after; x = x->next()) tag(x, path, paths);
      changed = true;
    }
  }
  return paths;
}

bool is_tensor(const Value* v) { return v->type()->isSubtypeOf(*c10::TensorType::get()); }

bool is_none(const Value* v) { return v->type()->kind() == c10::TypeKind::NoneType; }

bool is_inplace_name(const std::string& s) {
  return s.size() > 1 && s.back() == '_' && s[s.size() - 2] != '_';
}

// The spatial rank of a convolution from its stride list (a list stays a ListConstruct:
// lists are mutable, so constant propagation leaves them alone); 0 when unknown.
std::size_t conv_dims(Node* n, std::size_t stride_input) {
  if (auto stride = torch::jit::toIValue(n->input(stride_input)); stride && stride->isIntList()) {
    return stride->toIntList().size();
  }
  if (n->input(stride_input)->node()->kind() == c10::prim::ListConstruct) {
    return n->input(stride_input)->node()->inputs().size();
  }
  return 0;
}

// `_convolution` and `_convolution_mode` (string padding) of a traced model -> the
// scripted spelling.
std::string canonical_type(Node* n) {
  std::string t = n->kind().toUnqualString();
  if (t == "_convolution" && n->inputs().size() > 6) {
    auto transposed = torch::jit::toIValue(n->input(6));
    const std::size_t dims = conv_dims(n, 3);
    if (transposed && transposed->isBool() && dims >= 1 && dims <= 3) {
      return std::string(transposed->toBool() ? "conv_transpose" : "conv") + std::to_string(dims) +
             "d";
    }
  }
  if (t == "_convolution_mode" && n->inputs().size() > 3) {
    const std::size_t dims = conv_dims(n, 3);
    if (dims >= 1 && dims <= 3) return "conv" + std::to_string(dims) + "d";
  }
  return t;
}

}  // namespace

std::string python_type_name(const std::string& qualified_name) {
  std::stringstream ss(qualified_name);
  std::string atom;
  std::string out;
  int atoms = 0;
  while (std::getline(ss, atom, '.')) {
    if (atom == "__torch__" || atom.rfind("___torch_mangle_", 0) == 0) continue;
    out += (out.empty() ? "" : ".") + atom;
    ++atoms;
  }
  if (atoms == 1) out = "__main__." + out;
  return out;
}

std::string module_type_name(const torch::jit::Module& module) {
  return python_type_name(module.type()->name()->qualifiedName());
}

std::vector<ModuleEntry> module_tree(const torch::jit::Module& root) {
  std::vector<ModuleEntry> out;
  std::function<void(const torch::jit::Module&, const std::string&)> walk =
      [&](const torch::jit::Module& m, const std::string& path) {
        out.push_back({path, module_type_name(m), m, quantization::identity_of(m._ivalue().get()),
                       std::string()});
        for (const auto& child : m.named_children())
          walk(child.value, path.empty() ? child.name : path + "." + child.name);
      };
  walk(root, "");
  // torch.jit.script turns a module registered under two names into two objects
  // holding the same tensors (tracing keeps one object). A module whose type and
  // tensors (its subtree's parameters and buffers, at least one) equal those of an
  // earlier module is that module under another name, and so are its descendants.
  std::map<std::string, std::string> first_by_signature;
  std::map<std::string, quantization::ModuleIdentity> id_of_path;
  std::vector<std::pair<std::string, std::string>> aliased;  // alias path -> original path
  for (auto& e : out) {
    for (const auto& [alias, orig] : aliased) {
      if (path_within(e.path, alias) && e.path != alias) {
        auto it = id_of_path.find(orig + e.path.substr(alias.size()));
        if (it != id_of_path.end()) e.identity = it->second;
      }
    }
    std::string sig;
    for (const auto& p : e.module.named_parameters(true))
      sig += p.name + "@" +
             std::to_string(reinterpret_cast<std::uintptr_t>(p.value.unsafeGetTensorImpl())) + ";";
    for (const auto& b : e.module.named_buffers(true))
      sig += b.name + "@" +
             std::to_string(reinterpret_cast<std::uintptr_t>(b.value.unsafeGetTensorImpl())) + ";";
    if (!sig.empty()) {
      sig = e.type + "|" + sig;
      auto [it, fresh] = first_by_signature.emplace(sig, e.path);
      if (!fresh && !path_within(e.path, it->second)) {
        e.identity = id_of_path.at(it->second);
        aliased.emplace_back(e.path, it->second);
      }
    }
    id_of_path[e.path] = e.identity;
  }
  // The canonical path of each object: its first path in pre-order.
  std::map<quantization::ModuleIdentity, std::string> first;
  for (auto& e : out) e.canonical = first.emplace(e.identity, e.path).first->second;
  return out;
}

void detach_states(torch::jit::Module& m) {
  std::unordered_map<const void*, at::Tensor> fresh;
  for (const auto& e : module_tree(m)) {
    const c10::ClassTypePtr& type = e.module.type();
    for (std::size_t i = 0; i < type->numAttributes(); ++i) {
      if (!type->is_parameter(i) && !type->is_buffer(i)) continue;
      const c10::IValue v = e.module._ivalue()->getSlot(i);
      if (!v.isTensor()) continue;
      const at::Tensor t = v.toTensor();
      auto it = fresh.find(t.unsafeGetTensorImpl());
      if (it == fresh.end()) {
        at::Tensor d = t.detach();
        if (t.requires_grad()) d.requires_grad_(true);
        it = fresh.emplace(t.unsafeGetTensorImpl(), d).first;
      }
      e.module._ivalue()->setSlot(i, it->second);
    }
  }
}

torch::jit::Module submodule(const torch::jit::Module& root, const std::string& path) {
  torch::jit::Module m = root;
  if (path.empty()) return m;
  std::stringstream ss(path);
  std::string atom;
  while (std::getline(ss, atom, '.')) {
    if (!m.hasattr(atom) || !m.attr(atom).isModule())
      throw InvalidArgumentError("no submodule '" + path + "' in the model");
    m = m.attr(atom).toModule();
  }
  return m;
}

std::optional<std::string> attr_path(const Value* v) {
  std::vector<std::string> names;
  while (v->node()->kind() == c10::prim::GetAttr) {
    names.push_back(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  const Graph* g = v->owningGraph();
  if (g->inputs().empty() || v != g->inputs()[0]) return std::nullopt;
  std::string p;
  for (auto it = names.rbegin(); it != names.rend(); ++it) p += (p.empty() ? "" : ".") + *it;
  return p;
}

bool path_within(const std::string& path, const std::string& module) {
  if (module.empty()) return true;
  return path == module ||
         (path.size() > module.size() && path.compare(0, module.size(), module) == 0 &&
          path[module.size()] == '.');
}

AnalyzedGraph analyze(const torch::jit::Module& root, std::shared_ptr<Graph> graph) {
  AnalyzedGraph a;
  a.node_path = inline_with_paths(*graph);
  // Paths are canonical: the first path of each module object in pre-order.
  std::map<std::string, std::string> canonical;
  {
    for (const auto& e : module_tree(root)) canonical[e.path] = e.canonical;
    for (auto& [n, p] : a.node_path) {
      auto it = canonical.find(p);
      if (it != canonical.end()) p = it->second;
    }
  }
  torch::jit::ConstantPropagationImmutableTypes(graph);
  torch::jit::EliminateDeadCode(graph);
  a.graph = graph;

  std::unordered_set<const Value*> shape_values;
  std::map<std::string, int> counters;
  for_each_node(graph->block(), [&](Node* n) {
    if (n->kind() == c10::prim::NumToTensor) {
      shape_values.insert(n->output());
      return;
    }
    if (!n->kind().is_aten() || n->outputs().empty() || !is_tensor(n->output(0))) return;
    const std::string kind = n->kind().toUnqualString();
    // Shape arithmetic of traced models (sizes as 0-dim tensors) is not an op.
    bool any_tensor = false;
    bool all_shape = true;
    for (const Value* in : n->inputs()) {
      if (!is_tensor(in)) continue;
      any_tensor = true;
      all_shape = all_shape && shape_values.count(in) > 0;
    }
    if (any_tensor && all_shape) {
      for (const Value* o : n->outputs()) shape_values.insert(o);
      return;
    }
    // In-place updates of module state (BatchNorm's num_batches_tracked += 1)
    // are bookkeeping that only scripted models carry.
    if (is_inplace_name(kind) && !n->inputs().empty() && attr_path(n->input(0))) return;

    GraphOp op;
    op.node = n;
    op.type = canonical_type(n);
    const int k = counters[op.type]++;
    op.name = k == 0 ? op.type : op.type + "_" + std::to_string(k);
    auto pit = a.node_path.find(n);
    op.module = pit == a.node_path.end() ? std::string() : pit->second;
    op.top_level = n->owningBlock() == graph->block();

    const c10::FunctionSchema* schema = n->maybeSchema();
    for (std::size_t i = 0; i < n->inputs().size(); ++i) {
      Value* in = n->input(i);
      std::string arg = schema != nullptr && i < schema->arguments().size()
                            ? schema->arguments()[i].name()
                            : "input" + std::to_string(i);
      auto add_input = [&](Value* v, std::optional<std::size_t> list_index) {
        TensorInput ti;
        ti.value = v;
        ti.input_index = i;
        ti.list_index = list_index;
        if (auto p = attr_path(v); p && !p->empty()) {
          const auto dot = p->rfind('.');
          StateInput s;
          s.input_index = i;
          s.argument = arg;
          s.owner = dot == std::string::npos ? "" : p->substr(0, dot);
          s.local_name = dot == std::string::npos ? *p : p->substr(dot + 1);
          // The owner's canonical path: the GetAttr chain of an alias names the alias.
          if (auto it = canonical.find(s.owner); it != canonical.end()) s.owner = it->second;
          s.path = s.owner.empty() ? s.local_name : s.owner + "." + s.local_name;
          a.state_path[v] = s.path;
          torch::jit::Module owner = submodule(root, s.owner);
          if (auto slot = owner.type()->findAttributeSlot(s.local_name)) {
            s.is_parameter = owner.type()->is_parameter(*slot);
            if (!owner._ivalue()->getSlot(*slot).isTensor()) return;  // an absent optional bias
          }
          ti.state = op.states.size();
          op.states.push_back(std::move(s));
        }
        op.inputs.push_back(ti);
      };
      // None, and constant tensors (a traced model bakes Python scalars such as
      // `x * self.scale` into 0-dim tensor constants; scripted ones pass a Scalar).
      if (is_none(in) || in->node()->kind() == c10::prim::Constant) continue;
      if (is_tensor(in) || in->type()->kind() == c10::TypeKind::OptionalType) {
        if (in->type()->kind() == c10::TypeKind::OptionalType && !attr_path(in)) continue;
        add_input(in, std::nullopt);
      } else if (in->node()->kind() == c10::prim::ListConstruct &&
                 in->type()->isSubtypeOf(*c10::ListType::ofTensors())) {
        for (std::size_t j = 0; j < in->node()->inputs().size(); ++j)
          add_input(in->node()->input(j), j);
      }
    }
    a.op_of_node[n] = a.ops.size();
    a.ops.push_back(std::move(op));
  });
  return a;
}

AnalyzedGraph analyze_copy(const torch::jit::Module& root) {
  auto& fn = torch::jit::toGraphFunction(root.get_method("forward").function());
  return analyze(root, fn.graph()->copy());
}

std::unordered_map<const Value*, at::Tensor> probe_values(const torch::jit::Module& root,
                                                          const AnalyzedGraph& analyzed,
                                                          const std::vector<c10::IValue>& inputs) {
  std::shared_ptr<Graph> g = analyzed.graph->copy();
  std::vector<const Value*> originals;
  std::vector<Value*> copies;
  for (std::size_t i = 1; i < analyzed.graph->inputs().size(); ++i) {
    if (!is_tensor(analyzed.graph->inputs()[i])) continue;
    originals.push_back(analyzed.graph->inputs()[i]);
    copies.push_back(g->inputs()[i]);
  }
  auto it = g->nodes().begin();
  for (Node* n : analyzed.graph->nodes()) {
    Node* c = *it;
    ++it;
    for (std::size_t j = 0; j < n->outputs().size(); ++j) {
      if (!is_tensor(n->output(j))) continue;
      originals.push_back(n->output(j));
      copies.push_back(c->output(j));
    }
  }
  while (!g->outputs().empty()) g->eraseOutput(0);
  Node* tuple = g->createTuple(copies);
  g->appendNode(tuple);
  g->registerOutput(tuple->output());

  // Eval mode and no gradients, restoring each module's flag afterwards.
  std::vector<std::pair<torch::jit::Module, bool>> flags;
  for (const auto& e : module_tree(root)) flags.emplace_back(e.module, e.module.is_training());
  torch::jit::Module(root).eval();
  std::vector<c10::IValue> stack;
  stack.emplace_back(root._ivalue());
  stack.insert(stack.end(), inputs.begin(), inputs.end());
  try {
    at::NoGradGuard no_grad;
    torch::jit::GraphFunction fn("coreai_opt_probe", g, nullptr);
    fn.run(stack);
  } catch (...) {
    for (auto& [m, t] : flags) m._ivalue()->setAttr("training", t);
    throw;
  }
  for (auto& [m, t] : flags) m._ivalue()->setAttr("training", t);
  std::unordered_map<const Value*, at::Tensor> out;
  const auto& elems = stack.at(0).toTupleRef().elements();
  for (std::size_t i = 0; i < originals.size(); ++i) out[originals[i]] = elems[i].toTensor();
  return out;
}

quantization::ModelDescription describe(const std::vector<ModuleEntry>& tree,
                                        const AnalyzedGraph& analyzed) {
  quantization::ModelDescription d;
  for (const auto& e : tree) d.add_module(e.path, e.type, e.identity);
  for (const auto& op : analyzed.ops) d.add_op(op.name, op.type, op.module);
  return d;
}

std::optional<std::string> producer_name(const AnalyzedGraph& analyzed, const Value* v) {
  if (const GraphOp* op = analyzed.op_of(v->node())) return op->name;
  if (v->node()->kind() == c10::prim::Param) return v->debugNameBase();
  auto sp = analyzed.state_path.find(v);
  if (auto p = attr_path(v); p && !p->empty()) {
    std::string s = sp != analyzed.state_path.end() ? sp->second : *p;
    for (char& c : s)
      if (c == '.') c = '_';
    return s;
  }
  return std::nullopt;
}

std::vector<std::string> consumer_names(const AnalyzedGraph& analyzed, const Value* v) {
  std::vector<std::string> out;
  auto add = [&](const std::string& s) {
    for (const auto& o : out)
      if (o == s) return;
    out.push_back(s);
  };
  std::function<void(const Value*)> walk = [&](const Value* x) {
    for (const torch::jit::Use& u : x->uses()) {
      const Node* user = u.user;
      if (const GraphOp* op = analyzed.op_of(user)) {
        add(op->name);
      } else if (user == analyzed.graph->return_node()) {
        add("output");
      } else if (user->kind() == c10::prim::TupleConstruct ||
                 user->kind() == c10::prim::ListConstruct) {
        walk(user->output());
      }
    }
  };
  walk(v);
  return out;
}

}  // namespace coreai_opt::jit_detail
