// ModelInspector: the modules of a model and the ops inside them, as its mode
// sees them (reference §8). Op names, op types and module paths are the
// ones that op_name_config, op_type_config and module_name_configs match.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <optional>
#include <string>
#include <vector>

#include "coreai_opt/torch/quantizer.h"

namespace coreai_opt {
namespace quantization {

/// One module on an op's module stack.
struct ModuleContext {
  std::string module_name;
  std::string module_type;
};

/// One op of the inlined forward graph.
struct OpInfo {
  /// Global name: the op type with a per-type counter in execution order
  /// (`linear`, `linear_1`, ...).
  std::string op_name;
  /// `linear`, `conv2d`, `add`, ... (traced `_convolution` is spelled like the
  /// scripted op).
  std::optional<std::string> op_type;
  /// Modules from the outermost (below the root) to the innermost, which owns the op.
  std::vector<ModuleContext> module_stack;
  /// Producers of the tensor inputs: op names, graph input names, or state paths
  /// with `_` for `.` (`mlp_0_weight`).
  std::vector<std::string> inputs;
  /// Consuming op names, and `output` for the model output.
  std::vector<std::string> outputs;

  /// Path of the owning module (`""` for the root).
  std::string module_name() const {
    return module_stack.empty() ? std::string() : module_stack.back().module_name;
  }
  bool operator==(const OpInfo& o) const { return op_name == o.op_name; }
};

/// One module and what runs inside it.
struct ModuleInfo {
  std::string module_name;  ///< full dotted path; `""` for the root
  std::string module_type;  ///< Python fully-qualified name
  std::vector<ModuleInfo> child_modules;
  /// Ops owned by this module itself (not its children), in execution order.
  std::vector<OpInfo> ops;
  /// Names of subtree ops that take a non-state input from outside the subtree.
  std::vector<std::string> input_ops;
  /// Names of subtree ops whose output leaves the subtree (or the model).
  std::vector<std::string> output_ops;

  /// The module at full path `name` in this subtree; throws InvalidArgumentError.
  const ModuleInfo& get_submodule(const std::string& name) const;
  /// Ops of the whole subtree in execution order.
  std::vector<OpInfo> all_ops() const;
};

/// Inspects a model (not modified). Graph mode: every op of the inlined
/// forward graph with its dataflow (inputs, outputs, module boundary ops).
/// Eager mode: the ops eager mode can name: the op of each Linear / Conv /
/// ConvTranspose / Embedding / MaxPool2d / AdaptiveAvgPool2d module
/// (`enc.0.linear`), and, with an example, the coreai_opt::nn::functional calls
/// of one forward pass (`block.add_1`); eager mode has no dataflow graph, so
/// inputs, outputs and boundary lists are empty.
class ModelInspector {
 public:
  /// `compressible_only` (graph mode): list only the ops a quantization pattern
  /// can match (the key ops of reference §7.5); the module tree is listed in full.
  explicit ModelInspector(const Model& model, bool compressible_only = false)
      : ModelInspector(model, Example(), compressible_only) {}
  /// With an example (eager mode: runs it once to find functional ops; graph
  /// mode takes none: InvalidArgumentError).
  ModelInspector(const Model& model, const Example& example, bool compressible_only = false);
  /// The mode the model was inspected in.
  ExecutionMode execution_mode() const { return mode_; }
  /// The root module.
  const ModuleInfo& summary() const { return root_; }
  /// Every op in execution order.
  const std::vector<OpInfo>& ops() const { return ops_; }

  /// Ops whose type equals `op_type`.
  std::vector<OpInfo> get_matched_ops_for_op_type(const std::string& op_type) const;
  /// Ops whose name fully matches `regex` (InvalidArgumentError for a bad regex).
  std::vector<OpInfo> get_matched_ops_for_op_name(const std::string& regex) const;
  /// Ops with any module on their stack whose name fully matches `regex`.
  std::vector<OpInfo> get_matched_ops_for_module_name(const std::string& regex) const;
  /// Ops with any module on their stack of type `module_type` (exact name).
  std::vector<OpInfo> get_matched_ops_for_module_type(const std::string& module_type) const;

  /// The tree of reference §8: modules with their types and boundary ops, and
  /// under each module its ops with name, type, inputs and outputs. ANSI colours
  /// when `colorize`.
  std::string format_summary(bool colorize = false) const;
  /// The same content as JSON: `{"execution_mode": MODE, "root": MODULE}` with
  /// MODULE = `{"module_name", "module_type", "input_ops", "output_ops", "ops",
  /// "child_modules"}` and each op `{"op_name", "op_type", "module_stack",
  /// "inputs", "outputs"}`.
  std::string to_json(int indent = 2) const;

 private:
  ExecutionMode mode_ = ExecutionMode::kGraph;
  ModuleInfo root_;
  std::vector<OpInfo> ops_;
};

}  // namespace quantization
}  // namespace coreai_opt
