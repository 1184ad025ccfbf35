// TorchScript graph analysis shared by the inspector and the graph quantizer:
// the module tree with Python type names, top-down inlining of the root forward
// graph that keeps the exact module path of every node, and op discovery (names,
// canonical op types, tensor inputs, state inputs).
//
// Why top-down inlining with a side map instead of torch::jit::Inline() and the
// nodes' inlined call stacks: the call stack records only the last attribute name
// at each call site (a ModuleList or a Sequential that is never called itself
// disappears from the path) and nodes inside prim::If / prim::Loop blocks of an
// inlined callee get no call stack at all. Just before a prim::CallMethod is
// inlined its `self` is a prim::GetAttr chain rooted at the root graph's `self`,
// which spells the full path.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coreai_opt/quantization/resolution.h"

namespace coreai_opt::jit_detail {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// `__torch__.torch.nn.modules.linear.___torch_mangle_3.Linear` ->
/// `torch.nn.modules.linear.Linear`; a class without module path (defined in a
/// Python script run as `__main__`) gets `__main__.`, as Python names it.
std::string python_type_name(const std::string& qualified_name);
/// python_type_name() of a module's class.
std::string module_type_name(const torch::jit::Module& module);

/// One path of the module tree (an object registered twice has two entries).
struct ModuleEntry {
  std::string path;
  std::string type;
  torch::jit::Module module;
  quantization::ModuleIdentity identity = 0;
  /// The first path of the same module object in pre-order (== path for the
  /// first; an alias names its original).
  std::string canonical;
};

/// Every module path in pre-order (root `""` first, children in registration
/// order), aliases included.
std::vector<ModuleEntry> module_tree(const torch::jit::Module& root);

/// Module::clone() deep-copies tensors with Tensor::clone(), which leaves
/// parameters as non-leaf tensors of the original's autograd graph. This makes
/// every parameter and buffer of `m` a leaf again (requires_grad kept), with
/// tensors shared between modules still shared.
void detach_states(torch::jit::Module& m);

/// The submodule at dotted `path` (`""` is the root).
torch::jit::Module submodule(const torch::jit::Module& root, const std::string& path);

/// Dotted attribute path of `v` when it is a prim::GetAttr chain rooted at the
/// graph's `self` input, else nullopt (`""` is `self` itself).
std::optional<std::string> attr_path(const Value* v);

/// A state (parameter or buffer) input of an op.
struct StateInput {
  std::size_t input_index = 0;  ///< node input position
  std::string argument;         ///< schema argument name (`weight`, `bias`)
  std::string path;             ///< full dotted path (`mlp.0.weight`)
  std::string owner;            ///< module path holding it (`mlp.0`)
  std::string local_name;       ///< name inside the owner (`weight`)
  bool is_parameter = false;
};

/// A tensor input of an op, in the order the reference's graph mode indexes them:
/// every Tensor argument that is not a None constant, the elements of a tensor
/// list argument spliced in place.
struct TensorInput {
  Value* value = nullptr;
  std::size_t input_index = 0;  ///< node input position
  std::optional<std::size_t> list_index;
  std::optional<std::size_t> state;  ///< index into GraphOp::states
};

/// One op of the inlined graph.
struct GraphOp {
  Node* node = nullptr;
  std::string name;
  std::string type;
  /// The module path the op was called through (may be an alias path).
  std::string module;
  /// False for ops inside prim::If / prim::Loop blocks.
  bool top_level = true;
  std::vector<TensorInput> inputs;
  std::vector<StateInput> states;
};

/// The forward graph of a module, inlined in place, with its ops.
struct AnalyzedGraph {
  std::shared_ptr<Graph> graph;
  std::vector<GraphOp> ops;
  std::unordered_map<const Node*, std::size_t> op_of_node;
  std::unordered_map<const Node*, std::string> node_path;
  /// Canonical state path of each state value read by an op.
  std::unordered_map<const Value*, std::string> state_path;

  const GraphOp* op_of(const Node* n) const {
    auto it = op_of_node.find(n);
    return it == op_of_node.end() ? nullptr : &ops[it->second];
  }
};

/// Inlines `graph` (the forward graph of `root`, or a copy of it) in place,
/// constant-propagates, removes dead code and discovers the ops. Op names count
/// per op type in program order (`linear`, `linear_1`, ...), blocks included;
/// only aten ops producing a tensor count, except shape arithmetic on traced
/// sizes and in-place updates of module buffers (BatchNorm's batch counter),
/// so scripted and traced models of one network get the same names.
AnalyzedGraph analyze(const torch::jit::Module& root, std::shared_ptr<Graph> graph);

/// analyze() on a copy of the root forward graph; `root` is not modified.
AnalyzedGraph analyze_copy(const torch::jit::Module& root);

/// Runs the analyzed graph on `inputs` (with `root` as self, in eval mode, no
/// gradients) on a copy that returns every top-level tensor value, and returns
/// the value -> example tensor map. `root` is not modified (its training flags
/// are restored).
std::unordered_map<const Value*, at::Tensor> probe_values(const torch::jit::Module& root,
                                                          const AnalyzedGraph& analyzed,
                                                          const std::vector<c10::IValue>& inputs);

/// The ModelDescription of `root` for the resolution engine (every path; module
/// objects identified by their object) with the ops of `analyzed`.
quantization::ModelDescription describe(const std::vector<ModuleEntry>& tree,
                                        const AnalyzedGraph& analyzed);

/// Producer name of a tensor value as the inspector prints it: the op name, the
/// graph input name, or the state path with `_` for `.`; nullopt for constants.
std::optional<std::string> producer_name(const AnalyzedGraph& analyzed, const Value* v);

/// Ops (or `output`) that consume `v`, following tuples and lists.
std::vector<std::string> consumer_names(const AnalyzedGraph& analyzed, const Value* v);

/// True for a node whose path is `module` or inside it.
bool path_within(const std::string& path, const std::string& module);

}  // namespace coreai_opt::jit_detail
