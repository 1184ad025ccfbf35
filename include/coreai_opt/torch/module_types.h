// Module type keys of LibTorch C++ frontend modules, for
// `QuantizerConfig::set_module_type<torch::nn::Linear>(cfg)` and
// `module_type<M>()`. Built-in modules map to their Python fully-qualified
// names (`torch.nn.modules.linear.Linear`); user modules are keyed by their C++
// qualified class name (`mynet::BlockImpl`).
#pragma once

#include <c10/util/Type.h>
#include <torch/nn/module.h>

#include <string>
#include <type_traits>
#include <typeinfo>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/module_types.h"

namespace coreai_opt {
namespace detail {
template <class M, class = void>
struct IsModuleHolder : std::false_type {};
template <class M>
struct IsModuleHolder<M, std::void_t<typename M::ContainedType>> : std::true_type {};
}  // namespace detail

namespace quantization {

/// Module classes (`torch::nn::LinearImpl`, `mynet::BlockImpl`).
template <class M>
struct ModuleTypeKey<M, std::enable_if_t<std::is_base_of_v<torch::nn::Module, M>>> {
  static std::string get() { return module_type_key(c10::demangle(typeid(M).name())); }
};

/// Module holders (`torch::nn::Linear`, a TORCH_MODULE(Block) holder): the key of
/// the module class they hold.
template <class M>
struct ModuleTypeKey<M, std::enable_if_t<!std::is_base_of_v<torch::nn::Module, M> &&
                                         detail::IsModuleHolder<M>::value>> {
  static std::string get() { return ModuleTypeKey<typename M::ContainedType>::get(); }
};

/// The module_type_configs key of a module object (its dynamic type).
inline std::string module_type_key(const torch::nn::Module& module) {
  return module_type_key(c10::demangle(typeid(module).name()));
}

}  // namespace quantization
}  // namespace coreai_opt
