#include "coreai_opt/torch/inspector.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "coreai_opt/errors.h"
#include "torch/jit/graph.h"
#include "torch/jit/patterns.h"
#include "torch/module_info_json.h"

namespace coreai_opt {
namespace quantization {

namespace {

using jit_detail::AnalyzedGraph;
using jit_detail::GraphOp;

std::regex compile(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw InvalidArgumentError("Invalid regex pattern '" + pattern + "': " + e.what());
  }
}

void collect(const ModuleInfo& m, std::vector<const ModuleInfo*>& out) {
  out.push_back(&m);
  for (const auto& c : m.child_modules) collect(c, out);
}

void join(std::ostringstream& os, const std::vector<std::string>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
}

nlohmann::ordered_json op_json(const OpInfo& op) {
  nlohmann::ordered_json j;
  j["op_name"] = op.op_name;
  j["op_type"] = op.op_type ? nlohmann::ordered_json(*op.op_type) : nlohmann::ordered_json();
  j["module_stack"] = nlohmann::ordered_json::array();
  for (const auto& c : op.module_stack)
    j["module_stack"].push_back({{"module_name", c.module_name}, {"module_type", c.module_type}});
  j["inputs"] = op.inputs;
  j["outputs"] = op.outputs;
  return j;
}

}  // namespace

namespace inspector_detail {

nlohmann::ordered_json module_info_json(const ModuleInfo& m) {
  nlohmann::ordered_json j;
  j["module_name"] = m.module_name;
  j["module_type"] = m.module_type;
  j["input_ops"] = m.input_ops;
  j["output_ops"] = m.output_ops;
  j["ops"] = nlohmann::ordered_json::array();
  for (const auto& op : m.ops) j["ops"].push_back(op_json(op));
  j["child_modules"] = nlohmann::ordered_json::array();
  for (const auto& c : m.child_modules) j["child_modules"].push_back(module_info_json(c));
  return j;
}

}  // namespace inspector_detail

const ModuleInfo& ModuleInfo::get_submodule(const std::string& name) const {
  std::vector<const ModuleInfo*> all;
  collect(*this, all);
  for (const ModuleInfo* m : all)
    if (m->module_name == name) return *m;
  throw InvalidArgumentError("no module named '" + name + "' in the summary");
}

std::vector<OpInfo> ModuleInfo::all_ops() const {
  std::vector<const ModuleInfo*> all;
  collect(*this, all);
  std::vector<OpInfo> out;
  for (const ModuleInfo* m : all) out.insert(out.end(), m->ops.begin(), m->ops.end());
  return out;
}

ModelInspector::ModelInspector(const torch::jit::Module& module, bool compressible_only) {
  const auto tree = jit_detail::module_tree(module);
  const AnalyzedGraph a = jit_detail::analyze_copy(module);

  // Canonical path of every path (the first path of each object), and types.
  std::map<quantization::ModuleIdentity, std::string> canonical_of_id;
  std::map<std::string, std::string> canonical;
  std::map<std::string, std::string> type_of;
  std::vector<std::string> order;
  for (const auto& e : tree) {
    auto [it, fresh] = canonical_of_id.emplace(e.identity, e.path);
    canonical[e.path] = it->second;
    if (fresh) {
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

std::vector<OpInfo> ModelInspector::get_matched_ops_for_op_type(const std::string& op_type) const {
  std::vector<OpInfo> out;
  for (const auto& op : ops_)
    if (op.op_type && *op.op_type == op_type) out.push_back(op);
  return out;
}

std::vector<OpInfo> ModelInspector::get_matched_ops_for_op_name(const std::string& regex) const {
  const std::regex re = compile(regex);
  std::vector<OpInfo> out;
  for (const auto& op : ops_)
    if (std::regex_match(op.op_name, re)) out.push_back(op);
  return out;
}

std::vector<OpInfo> ModelInspector::get_matched_ops_for_module_name(
    const std::string& regex) const {
  const std::regex re = compile(regex);
  std::vector<OpInfo> out;
  for (const auto& op : ops_) {
    bool hit = std::regex_match(std::string(), re) && op.module_stack.empty();
    for (const auto& c : op.module_stack) hit = hit || std::regex_match(c.module_name, re);
    if (hit) out.push_back(op);
  }
  return out;
}

std::vector<OpInfo> ModelInspector::get_matched_ops_for_module_type(
    const std::string& module_type) const {
  std::vector<OpInfo> out;
  for (const auto& op : ops_) {
    bool hit = false;
    for (const auto& c : op.module_stack) hit = hit || c.module_type == module_type;
    if (hit) out.push_back(op);
  }
  return out;
}

std::string ModelInspector::format_summary(bool colorize) const {
  const std::string mod_on = colorize ? "\033[1;34m" : "";
  const std::string op_on = colorize ? "\033[1;32m" : "";
  const std::string off = colorize ? "\033[0m" : "";
  std::ostringstream os;
  os << "Legend:  \u25a0 module_name (module_type)  \u25c6 op_name [op_type]\n\n";
  if (root_.child_modules.empty() && root_.ops.empty()) {
    os << "(no compressible operations found)\n";
    return os.str();
  }
  auto boundary = [&](const ModuleInfo& m, const std::string& pad) {
    if (!m.input_ops.empty()) {
      os << pad << "module inputs:  ";
      join(os, m.input_ops);
      os << "\n";
    }
    if (!m.output_ops.empty()) {
      os << pad << "module outputs: ";
      join(os, m.output_ops);
      os << "\n";
    }
  };
  std::function<void(const ModuleInfo&, const std::string&)> body = [&](const ModuleInfo& m,
                                                                        const std::string& prefix) {
    const std::size_t n = m.child_modules.size() + m.ops.size();
    std::size_t i = 0;
    for (const auto& c : m.child_modules) {
      const bool last = ++i == n;
      os << prefix << (last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ") << mod_on << "\u25a0 "
         << c.module_name << off << " (" << c.module_type << ")\n";
      const std::string next = prefix + (last ? "    " : "\u2502   ");
      boundary(c, next + "    ");
      body(c, next);
    }
    for (const auto& op : m.ops) {
      const bool last = ++i == n;
      os << prefix << (last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ") << op_on << "\u25c6 "
         << op.op_name << off << " [" << (op.op_type ? *op.op_type : "?") << "]\n";
      const std::string pad = prefix + (last ? "    " : "\u2502   ") + "  ";
      os << pad << "op inputs:  ";
      join(os, op.inputs);
      os << "\n" << pad << "op outputs: ";
      join(os, op.outputs);
      os << "\n";
    }
  };
  os << "(" << root_.module_type << ")\n";
  boundary(root_, "    ");
  body(root_, "");
  return os.str();
}

std::string ModelInspector::to_json(int indent) const {
  nlohmann::ordered_json j;
  j["execution_mode"] = "graph";
  j["root"] = inspector_detail::module_info_json(root_);
  return j.dump(indent);
}

}  // namespace quantization
}  // namespace coreai_opt
