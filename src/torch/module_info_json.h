// JSON of an inspector's module tree (ModuleInfo), shared by the graph-mode
// ModelInspector and the EagerModelInspector so both print the same layout.
#pragma once

#include <nlohmann/json.hpp>

#include "coreai_opt/torch/inspector.h"

namespace coreai_opt::quantization::inspector_detail {

/// `{"module_name", "module_type", "input_ops", "output_ops", "ops": [...],
/// "child_modules": [...]}`; an op is `{"op_name", "op_type", "module_stack",
/// "inputs", "outputs"}`.
nlohmann::ordered_json module_info_json(const ModuleInfo& m);

}  // namespace coreai_opt::quantization::inspector_detail
