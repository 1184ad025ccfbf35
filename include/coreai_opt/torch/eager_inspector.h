// EagerModelInspector: the modules of a torch::nn::Module model and the ops eager
// mode names inside them, in the shapes of the graph-mode ModelInspector
// (inspector.h): module tree with type keys, ops with names, types and module
// stacks. The names are the ones op_name_config, op_type_config and
// module_name_configs match in eager mode.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coreai_opt/torch/inspector.h"

namespace coreai_opt {
namespace quantization {

/// Inspects a torch::nn::Module model (not modified). Ops are the ones eager
/// mode can name: the op of each Linear / Conv / ConvTranspose / Embedding /
/// MaxPool2d / AdaptiveAvgPool2d module (`enc.0.linear`), and, when
/// `run_example` is given, the coreai_opt::nn::functional calls of one forward
/// pass (`block.add_1`). Eager mode has no dataflow graph: OpInfo::inputs /
/// outputs and the boundary op lists are empty.
class EagerModelInspector {
 public:
  explicit EagerModelInspector(const std::shared_ptr<torch::nn::Module>& model,
                               const std::function<void()>& run_example = {});

  /// The root module.
  const ModuleInfo& summary() const { return root_; }
  /// Every op: module ops in module pre-order, then functional ops in call order.
  const std::vector<OpInfo>& ops() const { return ops_; }

  /// Ops whose type equals `op_type`.
  std::vector<OpInfo> get_matched_ops_for_op_type(const std::string& op_type) const;
  /// Ops whose name fully matches `regex` (InvalidArgumentError for a bad regex).
  std::vector<OpInfo> get_matched_ops_for_op_name(const std::string& regex) const;
  /// Ops with any module on their stack whose name fully matches `regex`.
  std::vector<OpInfo> get_matched_ops_for_module_name(const std::string& regex) const;
  /// Ops with any module on their stack of type `module_type` (exact key).
  std::vector<OpInfo> get_matched_ops_for_module_type(const std::string& module_type) const;

  /// The module tree with each module's ops (reference §8 layout, no colours).
  std::string format_summary() const;
  /// `{"execution_mode": "eager", "root": MODULE}`, MODULE and ops as in
  /// ModelInspector::to_json.
  std::string to_json(int indent = 2) const;

 private:
  ModuleInfo root_;
  std::vector<OpInfo> ops_;
};

}  // namespace quantization
}  // namespace coreai_opt
