// The graph-mode half of the ModelInspector: modules and ops of a TorchScript
// model as graph mode sees them (the queries live in torch/inspector.cpp).
#include "coreai_opt/torch/inspector.h"

#include <map>
#include <sstream>

#include "torch/jit/graph.h"
#include "torch/jit/patterns.h"
#include "torch/quantizer_backend.h"

namespace coreai_opt {
namespace detail {

using jit_detail::AnalyzedGraph;
using jit_detail::GraphOp;
using quantization::ModuleInfo;
using quantization::OpInfo;

void inspect_graph(const torch::jit::Module& module, bool compressible_only, ModuleInfo& root_,
                   std::vector<OpInfo>& ops_) {
  const auto tree = jit_detail::module_tree(module);
  const AnalyzedGraph a = jit_detail::analyze_copy(module);

  // Canonical path of every path (the first path of each object), and types.
  std::map<std::string, std::string> canonical;
  std::map<std::string, std::string> type_of;
  std::vector<std::string> order;
  for (const auto& e : tree) {
    canonical[e.path] = e.canonical;
    if (e.path == e.canonical) {
      order.push_back(e.path);
      type_of[e.path] = e.type;
    }
  }
  auto canon = [&](const std::string& path) {
    auto it = canonical.find(path);
    return it == canonical.end() ? path : it->second;
  };

  std::map<const GraphOp*, std::string> owner;
  for (const auto& op : a.ops) {
    if (compressible_only && !jit_detail::is_compressible(op)) continue;
    const std::string path = canon(op.module);
    owner[&op] = path;
    OpInfo info;
    info.op_name = op.name;
    info.op_type = op.type;
    if (!path.empty()) {
      std::string prefix;
      std::stringstream ss(path);
      std::string atom;
      while (std::getline(ss, atom, '.')) {
        prefix += (prefix.empty() ? "" : ".") + atom;
        const std::string c = canon(prefix);
        info.module_stack.push_back({c, type_of[c]});
      }
    }
    for (const auto& in : op.inputs)
      if (auto p = jit_detail::producer_name(a, in.value)) info.inputs.push_back(*p);
    info.outputs = jit_detail::consumer_names(a, op.node->output(0));
    ops_.push_back(std::move(info));
  }

  // Build the tree of canonical modules.
  std::map<std::string, ModuleInfo> infos;
  for (const auto& p : order) infos[p] = ModuleInfo{p, type_of[p], {}, {}, {}, {}};
  std::size_t k = 0;
  for (const auto& op : a.ops) {
    if (owner.count(&op) == 0) continue;
    infos[owner[&op]].ops.push_back(ops_[k++]);
  }
  // Boundary ops per module (over the listed ops).
  std::map<std::string, const GraphOp*> op_by_name;
  for (const auto& [op, path] : owner) op_by_name[op->name] = op;
  for (const auto& p : order) {
    ModuleInfo& mi = infos[p];
    for (const auto& op : a.ops) {
      auto it = owner.find(&op);
      if (it == owner.end() || !jit_detail::path_within(it->second, p)) continue;
      bool in_from_outside = false;
      for (const auto& in : op.inputs) {
        if (in.state) continue;
        const GraphOp* prod = a.op_of(in.value->node());
        const bool inside =
            prod != nullptr && owner.count(prod) > 0 && jit_detail::path_within(owner[prod], p);
        if (!inside && jit_detail::producer_name(a, in.value)) in_from_outside = true;
      }
      if (in_from_outside) mi.input_ops.push_back(op.name);
      const auto consumers = jit_detail::consumer_names(a, op.node->output(0));
      bool out_leaves = consumers.empty();
      for (const auto& c : consumers) {
        auto cit = op_by_name.find(c);
        if (cit == op_by_name.end() || !jit_detail::path_within(owner[cit->second], p))
          out_leaves = true;
      }
      if (out_leaves) mi.output_ops.push_back(op.name);
    }
  }
  // Assemble children bottom-up (reverse pre-order), each under its parent.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (it->empty()) continue;
    const auto dot = it->rfind('.');
    const std::string parent = canon(dot == std::string::npos ? "" : it->substr(0, dot));
    auto& siblings = infos[parent].child_modules;
    siblings.insert(siblings.begin(), std::move(infos[*it]));
  }
  root_ = std::move(infos[""]);
}

}  // namespace detail
}  // namespace coreai_opt
