// Module type keys: the mapping from LibTorch C++ frontend module classes to the
// Python fully-qualified names that module_type_configs use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace coreai_opt {
namespace quantization {

/// The Python fully-qualified name of a built-in C++ frontend module class
/// (`torch::nn::LinearImpl` -> `torch.nn.modules.linear.Linear`; the holder name
/// `torch::nn::Linear` is accepted too), or nullopt for any other class.
std::optional<std::string> python_module_type(std::string_view cpp_class_name);

/// The key a module type has in module_type_configs: the Python name for
/// built-in modules, else the C++ qualified class name (`mynet::BlockImpl`).
std::string module_type_key(std::string_view cpp_class_name);

/// Specialised by `coreai_opt/torch/module_types.h` for torch::nn modules; gives
/// the key of a C++ module class for `QuantizerConfig::set_module_type<M>()`.
template <class M, class Enable = void>
struct ModuleTypeKey;

}  // namespace quantization
}  // namespace coreai_opt
