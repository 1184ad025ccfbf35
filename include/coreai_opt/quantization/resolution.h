// The resolution engine: which ModuleQuantizerConfig governs each module of a
// model, which OpQuantizerConfig governs each op, and which config entry decided
// it. Torch-free: the eager and graph quantizers describe their model with a
// ModelDescription (from named_modules() / a TorchScript module tree) and read
// the answer from a Resolution. docs/resolution.md has the algorithm and the
// provenance format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coreai_opt/quantization/config.h"

namespace coreai_opt {
namespace quantization {

// ------------------------------------------------------------ the model side

/// Identity of a module object. Two paths registered with the same identity are
/// one module reachable under several names (aliases), as when one
/// `torch::nn::Module` is registered in two places. Any value unique per object
/// works; `identity_of(module.get())` is the usual choice.
using ModuleIdentity = std::uintptr_t;

/// The identity of the object at `object`.
inline ModuleIdentity identity_of(const void* object) {
  return reinterpret_cast<ModuleIdentity>(object);
}

/// One op of the model, as the quantizer names it.
struct OpDescription {
  /// Graph: the node name (`linear_1`); eager: the module-qualified call name
  /// (`enc.0.add_1`).
  std::string name;
  /// Graph: the torch function (`linear`, `add`); eager: the registry key.
  std::string type;
  /// Dotted path of the owning module (graph: the innermost module of the scope;
  /// eager: the module whose forward is running); an alias path is fine, `""` is
  /// the root. Unset when the quantizer has no scope for the op: the op is then
  /// governed by global_config.
  std::optional<std::string> module;
};

/// A module tree (a DAG when module objects are shared), described without
/// LibTorch. Fill it in pre-order from `named_modules()` (every path, duplicates
/// included) or a TorchScript walk: the root `""` first, each parent before its
/// children; siblings keep the order in which they are added, which must be
/// the registration order of the real model (it decides "later entry wins" ties
/// between siblings).
class ModelDescription {
 public:
  /// Registers the module at dotted path `name` (`""` is the root; the local name
  /// is the part after the last dot) with its type key: the Python
  /// fully-qualified name (`torch.nn.modules.linear.Linear`) or the C++ qualified
  /// name of a user module (`mynet::BlockImpl`). Without `identity` the path is a
  /// module object of its own. Throws InvalidArgumentError for a duplicate or
  /// malformed path, a missing parent, an identity seen with another type, a
  /// path that contradicts an earlier registration of the parent's children, or
  /// a module that would contain itself.
  ModelDescription& add_module(const std::string& name, std::string type,
                               std::optional<ModuleIdentity> identity = std::nullopt);
  /// Registers an op. Op names must be unique; the owning module is checked by
  /// resolve(). Throws InvalidArgumentError for an empty or repeated name.
  ModelDescription& add_op(OpDescription op);
  /// Shorthand for add_op({name, type, module}).
  ModelDescription& add_op(std::string name, std::string type, std::optional<std::string> module);

  /// Number of distinct module objects.
  std::size_t num_modules() const { return objects_.size(); }
  const std::vector<OpDescription>& ops() const { return ops_; }

 private:
  friend class Resolution;
  struct Object {
    std::string type;
    /// Children in registration order: local name -> object index.
    std::vector<std::pair<std::string, std::size_t>> children;
  };
  bool reaches(std::size_t from, std::size_t to) const;

  std::vector<Object> objects_;
  std::map<std::string, std::size_t, std::less<>> path_to_object_;
  std::map<ModuleIdentity, std::size_t> identity_to_object_;
  std::vector<OpDescription> ops_;
  std::map<std::string, std::size_t, std::less<>> op_index_;
};

// ------------------------------------------------------------- the answers

/// Which part of a QuantizerConfig decided a module's config, in the order of
/// precedence (the graph quantizer sorts by it).
enum class ModuleConfigLevel : std::uint8_t { kName, kType, kGlobal };
/// Which part of a ModuleQuantizerConfig decided an op's config, in the order of
/// precedence.
enum class OpConfigLevel : std::uint8_t { kName, kType, kDefault };

/// `"name"`, `"type"`, `"global"`.
std::string_view to_string(ModuleConfigLevel level);
/// `"op_name"`, `"op_type"`, `"default"`.
std::string_view to_string(OpConfigLevel level);

/// The config entry a level and key denote: `global_config`,
/// `module_type_configs["torch.nn.modules.linear.Linear"]`,
/// `module_name_configs["enc\..*"]` (the key verbatim, not escaped).
std::string module_rule_string(ModuleConfigLevel level, const std::string& key);
/// `op_name_config["linear_1"]`, `op_type_config["linear"]`, `op_*_spec`.
std::string op_rule_string(OpConfigLevel level, const std::string& key);

/// The config of one module object.
struct ModuleResolution {
  /// Canonical path: the first path of the object in pre-order.
  std::string name;
  std::string type;
  /// The object's other paths, in pre-order.
  std::vector<std::string> aliases;
  ModuleConfigLevel level = ModuleConfigLevel::kGlobal;
  /// The module_type_configs / module_name_configs key; empty for global.
  std::string key;
  /// Canonical path of the module the entry matched: `name` itself, or the
  /// ancestor this module inherited from.
  std::string source;
  /// The config in force. An inherited config has its module_input_spec,
  /// module_output_spec and module_state_spec emptied.
  std::shared_ptr<const ModuleQuantizerConfig> config;

  bool inherited() const { return source != name; }
  /// The deciding entry, as module_rule_string() writes it.
  std::string rule() const { return module_rule_string(level, key); }
  /// rule(), followed by ` (inherited from "enc")` when inherited.
  std::string provenance() const;
};

/// The config of one op.
struct OpResolution {
  std::string name;
  std::string type;
  /// Canonical path of the owning module; unset for an op without scope.
  std::optional<std::string> module;
  /// The entry that decided the owning module's config.
  ModuleConfigLevel module_level = ModuleConfigLevel::kGlobal;
  std::string module_key;
  OpConfigLevel level = OpConfigLevel::kDefault;
  /// The op_name_config / op_type_config key; empty for the default.
  std::string key;
  /// The op config in force (for kDefault: the module's op_*_spec).
  std::shared_ptr<const OpQuantizerConfig> config;

  std::string module_rule() const { return module_rule_string(module_level, module_key); }
  std::string rule() const { return op_rule_string(level, key); }
  /// `module_rule() > rule()`, e.g.
  /// `module_name_configs["enc\..*"] > op_type_config["linear"]`.
  std::string provenance() const { return module_rule() + " > " + rule(); }
};

/// The four kinds of keys that are matched against a model.
enum class ConfigKeyKind : std::uint8_t { kModuleType, kModuleName, kOpType, kOpName };

/// How one config key fared against the model.
struct KeyUsage {
  ConfigKeyKind kind = ConfigKeyKind::kModuleType;
  /// For op keys: the module config entry holding them. Unused for module keys.
  ModuleConfigLevel scope_level = ModuleConfigLevel::kGlobal;
  std::string scope_key;
  std::string key;
  /// Module objects / ops the key matches. For op keys, only ops governed by the
  /// scope entry count.
  std::size_t matched = 0;
  /// Module objects / ops whose config this entry decided (for module keys,
  /// inherited ones included). matched > 0 with decided == 0 means later or
  /// higher entries shadow the key everywhere.
  std::size_t decided = 0;

  /// `module_type_configs["X"]`, `module_name_configs["enc"]`, or for op keys
  /// `<scope> > op_type_config["linear"]`.
  std::string rule() const;
};

/// A module_state_spec entry that overrides op_state_spec for a parameter
/// (reference §3.8), found by Resolution::module_state_spec_for().
struct StateSpecOverride {
  /// Canonical path of the owning module whose module_state_spec matched, and
  /// the entry that gave that module its config.
  std::string module;
  ModuleConfigLevel level = ModuleConfigLevel::kGlobal;
  std::string key;
  /// The local state name that was looked up and the key that matched it
  /// (the same name, or `"*"`).
  std::string local_name;
  std::string matched_key;
  /// The spec; nullopt means "found: do not quantize".
  std::optional<QuantizationSpec> spec;

  /// `module_name_configs["enc"] > module_state_spec["weight"]`.
  std::string provenance() const;
};

/// The outcome of resolving a QuantizerConfig against a model.
class Resolution {
 public:
  /// Resolves every module and op of `model` under `config`, following the
  /// reference precedence exactly (docs/resolution.md). A global_config of
  /// nullopt is the disabled config. Regexes (ECMAScript, whole-string match)
  /// are compiled once here. Throws ConfigError for an invalid module_name or
  /// op_name regex or a global_config with module-level specs, and
  /// InvalidArgumentError for a model without root or an op whose module is
  /// not in the model.
  static Resolution resolve(const QuantizerConfig& config, const ModelDescription& model);

  /// Every module object, canonical names in pre-order (root first).
  const std::vector<ModuleResolution>& modules() const { return modules_; }
  /// The module at `path` (canonical or alias), or nullptr.
  const ModuleResolution* find_module(std::string_view path) const;
  /// The module at `path`; throws InvalidArgumentError when there is none.
  const ModuleResolution& module(std::string_view path) const;

  /// The ops of the description, in its order.
  const std::vector<OpResolution>& ops() const { return ops_; }
  /// The op named `name`, or nullptr.
  const OpResolution* find_op(std::string_view name) const;
  /// The op named `name`; throws InvalidArgumentError when there is none.
  const OpResolution& op(std::string_view name) const;
  /// Resolves an op that is not in the description (eager mode discovers ops
  /// while tracing). Does not change key_usage(). Throws InvalidArgumentError
  /// when its module is not in the model.
  OpResolution resolve_op(const OpDescription& op) const;

  /// Every key in config order: the op_type_config then op_name_config keys of
  /// global_config; then each module_type_configs key followed by its entry's
  /// op keys; then each module_name_configs key followed by its entry's op keys.
  const std::vector<KeyUsage>& key_usage() const { return key_usage_; }
  /// The keys that match nothing (matched == 0): the warnings of plan /
  /// prepare. Op keys are included only when the description lists ops.
  std::vector<KeyUsage> unmatched_keys() const;

  /// The module_state_spec override of a parameter owned by the modules in
  /// `owners` (module path and the parameter's local name there, in
  /// named_modules order): levels are searched name, then type, then global,
  /// and within a level the first owner whose module_state_spec has the local
  /// name or `"*"` wins. nullopt when none has (op_state_spec then applies).
  std::optional<StateSpecOverride> module_state_spec_for(
      const std::vector<std::pair<std::string, std::string>>& owners) const;

 private:
  struct Entry;
  const Entry& entry_of(const OpDescription& op, std::size_t* module_index) const;

  std::vector<ModuleResolution> modules_;
  std::vector<std::size_t> module_entry_;  // module index -> entry index
  std::map<std::string, std::size_t, std::less<>> path_to_module_;
  std::vector<OpResolution> ops_;
  std::map<std::string, std::size_t, std::less<>> op_index_;
  std::vector<std::shared_ptr<const Entry>> entries_;  // global, type entries, name entries
  std::vector<KeyUsage> key_usage_;
  bool ops_known_ = false;
};

/// Shorthand for Resolution::resolve().
inline Resolution resolve(const QuantizerConfig& config, const ModelDescription& model) {
  return Resolution::resolve(config, model);
}

}  // namespace quantization
}  // namespace coreai_opt
