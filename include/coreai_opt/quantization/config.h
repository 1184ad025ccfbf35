// The quantization config model: OpQuantizerConfig, ModuleQuantizerConfig,
// QuantizerConfig, QATSchedule, ExecutionMode. Mirrors
// coreai_opt.quantization.config of the Python package (see docs/config.md for
// the few deliberate differences).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "coreai_opt/detail/ordered_map.h"
#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/module_types.h"
#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace quantization {

/// Key of an input/output spec dict: a tensor index or a name; `"*"` means every
/// tensor. Digit-only strings are normalised to indices when a config is validated
/// (`"0"` -> 0), as the reference does.
class TensorKey {
 public:
  TensorKey(std::int64_t index) : value_(index) {}  // NOLINT(google-explicit-constructor)
  TensorKey(int index) : value_(std::int64_t{index}) {}  // NOLINT(google-explicit-constructor)
  TensorKey(std::string name) : value_(std::move(name)) {}  // NOLINT(google-explicit-constructor)
  TensorKey(const char* name) : value_(std::string(name)) {}  // NOLINT(google-explicit-constructor)
  TensorKey(std::nullptr_t) = delete;

  bool is_index() const { return std::holds_alternative<std::int64_t>(value_); }
  std::int64_t index() const { return std::get<std::int64_t>(value_); }
  const std::string& name() const { return std::get<std::string>(value_); }
  bool is_wildcard() const { return !is_index() && name() == "*"; }
  /// `0` or `"weight"` (names quoted), for messages.
  std::string repr() const;

  bool operator==(const TensorKey& o) const { return value_ == o.value_; }
  bool operator!=(const TensorKey& o) const { return !(*this == o); }

 private:
  std::variant<std::int64_t, std::string> value_;
};

/// Tensor key -> spec; a null spec means "found, not quantized".
using SpecMap = detail::OrderedMap<TensorKey, std::optional<QuantizationSpec>>;
/// State (parameter / buffer) local name or "*" -> spec.
using StateSpecMap = detail::OrderedMap<std::string, std::optional<QuantizationSpec>>;

/// Looks a tensor up the way the reference does: the exact key, else `"*"`.
/// Returns nullptr when neither is present, else a pointer to the (possibly
/// null) spec.
const std::optional<QuantizationSpec>* lookup(const SpecMap& map, const TensorKey& key);
const std::optional<QuantizationSpec>* lookup(const StateSpecMap& map, const std::string& key);
/// Looks a state up under every local name it has (a shared parameter has one per owning
/// module; reference 0.3.0 get_last_matching_spec): the last-declared key that is one of
/// `names` wins, else `"*"`. When several keys match, `warning` (if given) receives the
/// reference's text; otherwise it is left alone.
const std::optional<QuantizationSpec>* lookup(const StateSpecMap& map,
                                              const std::vector<std::string>& names,
                                              std::string* warning = nullptr);

/// QAT schedule, in optimizer steps: the observer runs for
/// enable_observer <= step < disable_observer, fake quantization from
/// enable_fake_quant on.
struct QATSchedule {
  std::int64_t enable_observer = 0;
  std::int64_t enable_fake_quant = 0;
  std::optional<std::int64_t> disable_observer;

  bool observer_enabled_at(std::int64_t step) const {
    return step >= enable_observer && (!disable_observer || step < *disable_observer);
  }
  bool fake_quant_enabled_at(std::int64_t step) const { return step >= enable_fake_quant; }
  /// Throws ConfigError (at `path`) unless enable_observer >= 0,
  /// enable_fake_quant >= enable_observer, and disable_observer (if set) >
  /// enable_observer, >= enable_fake_quant and > 0.
  void validate(const std::string& path = "qat_schedule") const;

  bool operator==(const QATSchedule& o) const {
    return enable_observer == o.enable_observer && enable_fake_quant == o.enable_fake_quant &&
           disable_observer == o.disable_observer;
  }
  bool operator!=(const QATSchedule& o) const { return !(*this == o); }
};

/// Graph mode (TorchScript graphs) or eager mode (torch::nn::Module trees).
enum class ExecutionMode : std::uint8_t { kGraph, kEager };
std::string_view to_string(ExecutionMode mode);
/// Parses `"graph"` / `"eager"` (and the deprecated `"pt2e"`, any case, as graph).
/// Throws InvalidArgumentError("'x' is not a valid ExecutionMode").
ExecutionMode execution_mode_from_string(std::string_view s);

/// Quantization of one op type or op name: specs for its inputs, outputs and
/// state. A default-constructed OpQuantizerConfig is the library default
/// (int8 activations and per-channel int8 `weight`); it never inherits from the
/// module config it sits in.
struct OpQuantizerConfig {
  SpecMap op_input_spec = {{"*", default_activation_quantization_spec()}};
  SpecMap op_output_spec = {{"*", default_activation_quantization_spec()}};
  StateSpecMap op_state_spec = {{"weight", default_weight_quantization_spec()}};

  /// All three spec dicts empty: nothing of this op is quantized (the meaning of
  /// a null entry in op_type_config / op_name_config).
  static OpQuantizerConfig disabled();
  bool is_disabled() const {
    return op_input_spec.empty() && op_output_spec.empty() && op_state_spec.empty();
  }
  /// Validates every spec and normalises digit keys; throws ConfigError at `path`.
  void validate(const std::string& path = "");

  bool operator==(const OpQuantizerConfig& o) const {
    return op_input_spec == o.op_input_spec && op_output_spec == o.op_output_spec &&
           op_state_spec == o.op_state_spec;
  }
  bool operator!=(const OpQuantizerConfig& o) const { return !(*this == o); }
};

class ModuleQuantizerConfig;

/// Named constructors of common module configs (`ModuleQuantizerConfig::presets.w4()`).
struct ModuleQuantizerConfigPresets {
  /// int8 symmetric per-channel weights only.
  ModuleQuantizerConfig w8(std::optional<std::int64_t> axis = std::nullopt) const;
  /// int4 symmetric per-channel weights only.
  ModuleQuantizerConfig w4(std::optional<std::int64_t> axis = std::nullopt) const;
  /// int4 symmetric per-block weights only.
  ModuleQuantizerConfig w4_per_block(std::int64_t block_size = 32,
                                     std::optional<std::int64_t> axis = std::nullopt) const;
};

/// Quantization of everything inside a module's scope: default specs for op
/// inputs, outputs and state, per-op overrides by type and by name (regex), and
/// specs for the tensors crossing the module's own boundary.
class ModuleQuantizerConfig {
 public:
  SpecMap op_input_spec = {{"*", default_activation_quantization_spec()}};
  SpecMap op_output_spec = {{"*", default_activation_quantization_spec()}};
  StateSpecMap op_state_spec = {{"weight", default_weight_quantization_spec()}};
  /// Op type (`linear`, `add`, ...) -> config; later entries win.
  detail::OrderedMap<std::string, OpQuantizerConfig> op_type_config;
  /// Op name regex (full match) -> config; later entries win.
  detail::OrderedMap<std::string, OpQuantizerConfig> op_name_config;
  SpecMap module_input_spec;
  SpecMap module_output_spec;
  StateSpecMap module_state_spec;
  std::optional<QATSchedule> qat_schedule;

  static constexpr ModuleQuantizerConfigPresets presets{};

  /// Nothing quantized: the meaning of a null module config.
  static ModuleQuantizerConfig disabled();
  bool is_disabled() const;
  bool has_module_level_specs() const {
    return !module_input_spec.empty() || !module_output_spec.empty() ||
           !module_state_spec.empty();
  }
  /// Validates every spec, op config and the schedule; normalises digit keys and
  /// checks op_name_config regexes. Throws ConfigError at `path`.
  void validate(const std::string& path = "");

  bool operator==(const ModuleQuantizerConfig& o) const;
  bool operator!=(const ModuleQuantizerConfig& o) const { return !(*this == o); }
};

class QuantizerConfig;

/// A target of only_for / without: a module type (fully-qualified name) or a
/// module name regex. A plain string is a name; use `module_type("...")` for types.
struct ModuleTarget {
  enum class Kind : std::uint8_t { kName, kType };
  Kind kind = Kind::kName;
  std::string key;

  ModuleTarget(std::string name) : kind(Kind::kName), key(std::move(name)) {}  // NOLINT
  ModuleTarget(const char* name) : kind(Kind::kName), key(name) {}  // NOLINT
  ModuleTarget(Kind k, std::string key_) : kind(k), key(std::move(key_)) {}
};
/// A module-type target: `only_for({module_type("torch.nn.modules.linear.Linear")})`.
inline ModuleTarget module_type(std::string fqn) {
  return ModuleTarget(ModuleTarget::Kind::kType, std::move(fqn));
}
/// Typed form: `module_type<torch::nn::Linear>()` (see set_module_type<M>).
template <class M>
ModuleTarget module_type() {
  return ModuleTarget(ModuleTarget::Kind::kType, ModuleTypeKey<M>::get());
}

/// `QuantizerConfig::presets.w4()` etc.: weight-only configs for the whole model.
struct QuantizerConfigPresets {
  QuantizerConfig w8(std::optional<std::int64_t> axis = std::nullopt,
                     std::optional<ExecutionMode> mode = std::nullopt) const;
  QuantizerConfig w4(std::optional<std::int64_t> axis = std::nullopt,
                     std::optional<ExecutionMode> mode = std::nullopt) const;
  QuantizerConfig w4_per_block(std::int64_t block_size = 32,
                               std::optional<std::int64_t> axis = std::nullopt,
                               std::optional<ExecutionMode> mode = std::nullopt) const;
};

/// The top-level config of a model. Precedence: module_name_configs >
/// module_type_configs > global_config (docs/config.md has the full algorithm).
class QuantizerConfig {
 public:
  /// nullopt = disabled (`global_config: null`): only modules matched by a type or
  /// name entry are quantized.
  std::optional<ModuleQuantizerConfig> global_config = ModuleQuantizerConfig();
  /// Module type key (Python fully-qualified name, or C++ qualified name for
  /// user modules) -> config.
  detail::OrderedMap<std::string, ModuleQuantizerConfig> module_type_configs;
  /// Module name regex (full match) -> config.
  detail::OrderedMap<std::string, ModuleQuantizerConfig> module_name_configs;
  std::optional<std::vector<std::string>> preserved_attributes;
  /// nullopt (the default): the mode follows the model given to the Quantizer
  /// (eager for a torch::nn::Module, graph for a TorchScript module). A mode
  /// written here that contradicts the model warns and is not used.
  std::optional<ExecutionMode> execution_mode;

  static constexpr QuantizerConfigPresets presets{};

  QuantizerConfig() = default;
  explicit QuantizerConfig(std::optional<ModuleQuantizerConfig> global)
      : global_config(std::move(global)) {}

  // ---- setters: each validates first (atomic on error) and returns *this.
  /// Replaces the global config; nullopt disables it.
  QuantizerConfig& set_global(std::optional<ModuleQuantizerConfig> config);
  /// Sets the config of a module type (nullopt = disabled); an existing key keeps
  /// its position.
  QuantizerConfig& set_module_type(const std::string& type_name,
                                   std::optional<ModuleQuantizerConfig> config);
  /// Typed form: `set_module_type<torch::nn::Linear>(cfg)`. Needs
  /// `coreai_opt/torch/module_types.h` (or another ModuleTypeKey specialisation).
  template <class M>
  QuantizerConfig& set_module_type(std::optional<ModuleQuantizerConfig> config) {
    return set_module_type(ModuleTypeKey<M>::get(), std::move(config));
  }
  /// Sets the config of a module name regex (nullopt = disabled).
  QuantizerConfig& set_module_name(const std::string& name_regex,
                                   std::optional<ModuleQuantizerConfig> config);
  QuantizerConfig& set_execution_mode(ExecutionMode mode);
  /// Accepts `"graph"` / `"eager"`; throws InvalidArgumentError otherwise.
  QuantizerConfig& set_execution_mode(std::string_view mode);
  /// Moves the global config to each target (a copy each) and disables global.
  /// Throws InvalidArgumentError for no targets or an already disabled global.
  QuantizerConfig& only_for(const std::vector<ModuleTarget>& targets);
  /// Gives each target a disabled config; global untouched. No targets: no-op.
  QuantizerConfig& without(const std::vector<ModuleTarget>& targets);

  /// Checks everything, including the global restriction on module-level specs;
  /// normalises keys. Throws ConfigError with the config path.
  void validate();
  /// validate(), then the key restrictions of `mode` (reference §3.5):
  /// op_input_spec / op_output_spec / module_*_spec keys must be indices or
  /// "*", and graph-mode output keys "*" or 0 (UnsupportedError).
  void validate_for(ExecutionMode mode);

  // ---- I/O (YAML / JSON in the reference library's file format).
  /// Loads the `quantization_config` section of a YAML file. Errors carry
  /// `file:line:col` and the config path.
  static QuantizerConfig from_yaml(const std::string& path);
  /// Same from YAML text; `source_name` names it in error messages.
  static QuantizerConfig from_yaml_string(const std::string& text,
                                          const std::string& source_name = "<string>");
  /// Loads a JSON document of the same shape (`{"quantization_config": {...}}`).
  static QuantizerConfig from_json(const std::string& text,
                                   const std::string& source_name = "<json>");
  /// YAML document `quantization_config: ...` that loads back to an equal config.
  std::string to_yaml() const;
  /// Canonical JSON: every default filled in, dtypes as strings, granularity as
  /// `{type, axis, block_size}`, computed spec fields included.
  std::string to_json(int indent = 2) const;

  bool operator==(const QuantizerConfig& o) const;
  bool operator!=(const QuantizerConfig& o) const { return !(*this == o); }
};

}  // namespace quantization
}  // namespace coreai_opt
