// The ModelInspector of both modes: the module tree and ops that a config
// matches, and the queries over them (reference §8).
#include "coreai_opt/torch/inspector.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "coreai_opt/detail/regex.h"
#include "coreai_opt/errors.h"
#include "torch/quantizer_backend.h"

namespace coreai_opt {
namespace quantization {

namespace {

std::regex compile(const std::string& pattern) {
  return coreai_opt::detail::compile_regex(pattern, "the query");
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

}  // namespace

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

ModelInspector::ModelInspector(const Model& model, const Example& example, bool compressible_only)
    : mode_(model.mode()) {
  if (model.is_eager()) {
    coreai_opt::detail::inspect_eager(
        model.module(),
        coreai_opt::detail::eager_runner(example, model.forward_fn(), "ModelInspector"), root_,
        ops_);
  } else {
    if (!example.empty()) {
      throw InvalidArgumentError(
          "ModelInspector: a TorchScript model is inspected from its graph; it takes no example");
    }
    coreai_opt::detail::inspect_graph(model.script_module(), compressible_only, root_, ops_);
  }
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
      if (mode_ != ExecutionMode::kGraph) continue;  // eager mode has no dataflow graph
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
  j["execution_mode"] = std::string(to_string(mode_));
  j["root"] = module_info_json(root_);
  return j.dump(indent);
}

}  // namespace quantization
}  // namespace coreai_opt
