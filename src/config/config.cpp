#include "coreai_opt/quantization/config.h"

#include <regex>
#include <set>
#include <string>

#include "config/path.h"
#include "coreai_opt/detail/regex.h"
#include "coreai_opt/errors.h"
#include "coreai_opt/warnings.h"

namespace coreai_opt {
namespace quantization {

using detail::path_field;
using detail::path_key;

// ------------------------------------------------------------------ TensorKey

std::string TensorKey::repr() const {
  return is_index() ? std::to_string(index()) : "'" + name() + "'";
}

const std::optional<QuantizationSpec>* lookup(const SpecMap& map, const TensorKey& key) {
  if (const auto* v = map.get(key)) return v;
  return map.get(TensorKey("*"));
}

const std::optional<QuantizationSpec>* lookup(const StateSpecMap& map, const std::string& key) {
  if (const auto* v = map.get(key)) return v;
  return map.get("*");
}

const std::optional<QuantizationSpec>* lookup(const StateSpecMap& map,
                                              const std::vector<std::string>& names,
                                              std::string* warning) {
  const std::set<std::string> ids(names.begin(), names.end());
  std::vector<std::string> matching;
  const std::optional<QuantizationSpec>* last = nullptr;
  for (const auto& [key, value] : map) {
    if (ids.count(key) == 0) continue;
    matching.push_back(key);
    last = &value;
  }
  if (last == nullptr) return map.get("*");
  if (matching.size() > 1 && warning != nullptr) {
    // Python's list spelling: ['a', 'b'].
    const auto list = [](const auto& items) {
      std::string out = "[";
      for (const auto& i : items) out += (out.size() > 1 ? ", '" : "'") + i + "'";
      return out + "]";
    };
    std::vector<std::string> keys;
    for (const auto& [key, value] : map) keys.push_back(key);
    *warning = "Multiple spec keys matched for identifiers " + list(ids) + " against spec keys " +
               list(keys) + ": " + list(matching) + ". Using the last matching key '" +
               matching.back() + "'.";
  }
  return last;
}

namespace {

bool is_ascii_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string spec_key_path(const std::string& base, const TensorKey& key) {
  return key.is_index() ? detail::path_index(base, key.index())
                        : detail::path_spec_key(base, key.name());
}

// Converts digit-only string keys to indices (reference behaviour), rejecting
// collisions, and validates every spec.
void normalize_spec_map(SpecMap& map, const std::string& path) {
  SpecMap out;
  for (auto& [key, spec] : map) {
    TensorKey k = key;
    if (!key.is_index() && is_ascii_digits(key.name())) {
      if (key.name().size() > 18) {
        throw ConfigError(path, "index key '" + key.name() + "' is too large");
      }
      k = TensorKey(static_cast<std::int64_t>(std::stoll(key.name())));
    } else if (!key.is_index() && key.name().empty()) {
      throw ConfigError(spec_key_path(path, key), "empty tensor key; allowed: an index, a name or '*'");
    } else if (key.is_index() && key.index() < 0) {
      throw ConfigError(spec_key_path(path, key),
                        "tensor index must be >= 0, got " + std::to_string(key.index()));
    }
    if (out.contains(k)) {
      // Name the two original spellings, as the reference does.
      std::string first;
      for (const auto& [other, unused] : map) {
        (void)unused;
        TensorKey ok = other;
        if (!other.is_index() && is_ascii_digits(other.name())) {
          ok = TensorKey(static_cast<std::int64_t>(std::stoll(other.name())));
        }
        if (ok == k) {
          first = other.repr();
          break;
        }
      }
      // Reported at the second spelling, where the collision happens.
      throw ConfigError(spec_key_path(path, key),
                        "Key collision detected: keys " + first + " and " + key.repr() +
                                  " both convert to " + std::to_string(k.index()));
    }
    std::optional<QuantizationSpec> s = spec;
    if (s) s = s->validated(spec_key_path(path, k));
    out.set(k, std::move(s));
  }
  map = std::move(out);
}

void normalize_state_map(StateSpecMap& map, const std::string& path) {
  for (auto& [key, spec] : map) {
    if (key.empty()) {
      throw ConfigError(path, "empty state name; allowed: a parameter or buffer name, or '*'");
    }
    if (spec) spec = spec->validated(detail::path_spec_key(path, key));
  }
}

void check_regex(const std::string& pattern, const std::string& path, const char* where) {
  try {
    (void)coreai_opt::detail::compile_regex(pattern, where);
  } catch (const InvalidArgumentError& e) {
    throw ConfigError(path, e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------- QATSchedule

void QATSchedule::validate(const std::string& path) const {
  if (enable_observer < 0) {
    throw ConfigError(path_field(path, "enable_observer"),
                      "enable_observer must be >= 0, got " + std::to_string(enable_observer));
  }
  if (enable_fake_quant < 0) {
    throw ConfigError(path_field(path, "enable_fake_quant"),
                      "enable_fake_quant must be >= 0, got " + std::to_string(enable_fake_quant));
  }
  if (enable_fake_quant < enable_observer) {
    throw ConfigError(path_field(path, "enable_fake_quant"),
                      "enable_fake_quant (" + std::to_string(enable_fake_quant) +
                          ") must be >= enable_observer (" + std::to_string(enable_observer) + ")");
  }
  if (disable_observer) {
    const std::string p = path_field(path, "disable_observer");
    const std::int64_t d = *disable_observer;
    if (d <= 0) throw ConfigError(p, "disable_observer must be > 0 or null, got " + std::to_string(d));
    if (d <= enable_observer) {
      throw ConfigError(p, "disable_observer (" + std::to_string(d) +
                               ") must be > enable_observer (" + std::to_string(enable_observer) +
                               ")");
    }
    if (d < enable_fake_quant) {
      throw ConfigError(p, "disable_observer (" + std::to_string(d) +
                               ") must be >= enable_fake_quant (" +
                               std::to_string(enable_fake_quant) + ")");
    }
  }
}

// -------------------------------------------------------------- ExecutionMode

std::string_view to_string(ExecutionMode mode) {
  return mode == ExecutionMode::kGraph ? "graph" : "eager";
}

ExecutionMode execution_mode_from_string(std::string_view s) {
  if (s == "graph") return ExecutionMode::kGraph;
  if (s == "eager") return ExecutionMode::kEager;
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "pt2e") {
    warn("execution_mode '" + std::string(s) + "' is deprecated; use 'graph'");
    return ExecutionMode::kGraph;
  }
  throw InvalidArgumentError("'" + std::string(s) +
                             "' is not a valid ExecutionMode; allowed: 'graph', 'eager'");
}

// ---------------------------------------------------------- OpQuantizerConfig

OpQuantizerConfig OpQuantizerConfig::disabled() {
  OpQuantizerConfig c;
  c.op_input_spec.clear();
  c.op_output_spec.clear();
  c.op_state_spec.clear();
  return c;
}

void OpQuantizerConfig::validate(const std::string& path) {
  normalize_spec_map(op_input_spec, path_field(path, "op_input_spec"));
  normalize_spec_map(op_output_spec, path_field(path, "op_output_spec"));
  normalize_state_map(op_state_spec, path_field(path, "op_state_spec"));
}

// ------------------------------------------------------ ModuleQuantizerConfig

ModuleQuantizerConfig ModuleQuantizerConfig::disabled() {
  ModuleQuantizerConfig c;
  c.op_input_spec.clear();
  c.op_output_spec.clear();
  c.op_state_spec.clear();
  return c;
}

bool ModuleQuantizerConfig::is_disabled() const {
  return op_input_spec.empty() && op_output_spec.empty() && op_state_spec.empty() &&
         op_type_config.empty() && op_name_config.empty() && !has_module_level_specs() &&
         !qat_schedule;
}

void ModuleQuantizerConfig::validate(const std::string& path) {
  normalize_spec_map(op_input_spec, path_field(path, "op_input_spec"));
  normalize_spec_map(op_output_spec, path_field(path, "op_output_spec"));
  normalize_state_map(op_state_spec, path_field(path, "op_state_spec"));
  for (auto& [type, cfg] : op_type_config) {
    const std::string p = path_key(path_field(path, "op_type_config"), type);
    if (type.empty()) throw ConfigError(p, "empty op type; allowed: an op type such as 'linear'");
    cfg.validate(p);
  }
  for (auto& [pattern, cfg] : op_name_config) {
    const std::string p = path_key(path_field(path, "op_name_config"), pattern);
    check_regex(pattern, p, "op_name_config");
    cfg.validate(p);
  }
  normalize_spec_map(module_input_spec, path_field(path, "module_input_spec"));
  normalize_spec_map(module_output_spec, path_field(path, "module_output_spec"));
  normalize_state_map(module_state_spec, path_field(path, "module_state_spec"));
  if (qat_schedule) qat_schedule->validate(path_field(path, "qat_schedule"));
}

bool ModuleQuantizerConfig::operator==(const ModuleQuantizerConfig& o) const {
  return op_input_spec == o.op_input_spec && op_output_spec == o.op_output_spec &&
         op_state_spec == o.op_state_spec && op_type_config == o.op_type_config &&
         op_name_config == o.op_name_config && module_input_spec == o.module_input_spec &&
         module_output_spec == o.module_output_spec &&
         module_state_spec == o.module_state_spec && qat_schedule == o.qat_schedule;
}

// -------------------------------------------------------------------- presets

namespace {

ModuleQuantizerConfig weight_only(QuantizationSpec weight) {
  ModuleQuantizerConfig c;
  c.op_input_spec.clear();
  c.op_output_spec.clear();
  c.op_state_spec = {{"weight", std::move(weight)}};
  c.validate();
  return c;
}

QuantizerConfig whole_model(ModuleQuantizerConfig global, std::optional<ExecutionMode> mode) {
  QuantizerConfig c(std::move(global));
  c.execution_mode = mode;
  return c;
}

}  // namespace

ModuleQuantizerConfig ModuleQuantizerConfigPresets::w8(std::optional<std::int64_t> axis) const {
  return weight_only(QuantizationSpec(DType::kInt8, PerChannelGranularity(axis)));
}
ModuleQuantizerConfig ModuleQuantizerConfigPresets::w4(std::optional<std::int64_t> axis) const {
  return weight_only(QuantizationSpec(DType::kInt4, PerChannelGranularity(axis)));
}
ModuleQuantizerConfig ModuleQuantizerConfigPresets::w4_per_block(
    std::int64_t block_size, std::optional<std::int64_t> axis) const {
  return weight_only(QuantizationSpec(DType::kInt4, PerBlockGranularity(block_size, axis)));
}
QuantizerConfig QuantizerConfigPresets::w8(std::optional<std::int64_t> axis,
                                           std::optional<ExecutionMode> mode) const {
  return whole_model(ModuleQuantizerConfig::presets.w8(axis), mode);
}
QuantizerConfig QuantizerConfigPresets::w4(std::optional<std::int64_t> axis,
                                           std::optional<ExecutionMode> mode) const {
  return whole_model(ModuleQuantizerConfig::presets.w4(axis), mode);
}
QuantizerConfig QuantizerConfigPresets::w4_per_block(std::int64_t block_size,
                                                     std::optional<std::int64_t> axis,
                                                     std::optional<ExecutionMode> mode) const {
  return whole_model(ModuleQuantizerConfig::presets.w4_per_block(block_size, axis), mode);
}

// ------------------------------------------------------------ QuantizerConfig

namespace {

constexpr const char* kRoot = "quantization_config";

void check_global(const ModuleQuantizerConfig& g, const std::string& path) {
  const char* field = !g.module_input_spec.empty()    ? "module_input_spec"
                      : !g.module_output_spec.empty() ? "module_output_spec"
                      : !g.module_state_spec.empty()  ? "module_state_spec"
                                                      : nullptr;
  if (field) {
    throw ConfigError(path_field(path, field),
                      "global_config cannot have module_input_spec, module_output_spec, or "
                      "module_state_spec; they are only allowed in module_type_configs and "
                      "module_name_configs");
  }
}

ModuleQuantizerConfig prepared_module_config(std::optional<ModuleQuantizerConfig> cfg,
                                             const std::string& path) {
  ModuleQuantizerConfig c = cfg ? std::move(*cfg) : ModuleQuantizerConfig::disabled();
  c.validate(path);
  return c;
}

void check_type_key(const std::string& key, const std::string& path) {
  if (key.empty()) {
    throw ConfigError(path, "empty module type; allowed: a fully-qualified type name such as "
                            "'torch.nn.modules.linear.Linear'");
  }
}

}  // namespace

QuantizerConfig& QuantizerConfig::set_global(std::optional<ModuleQuantizerConfig> config) {
  if (config) {
    const std::string p = path_field(kRoot, "global_config");
    config->validate(p);
    check_global(*config, p);
  }
  global_config = std::move(config);
  return *this;
}

QuantizerConfig& QuantizerConfig::set_module_type(const std::string& type_name,
                                                  std::optional<ModuleQuantizerConfig> config) {
  const std::string p = path_key(path_field(kRoot, "module_type_configs"), type_name);
  check_type_key(type_name, p);
  module_type_configs.set(type_name, prepared_module_config(std::move(config), p));
  return *this;
}

QuantizerConfig& QuantizerConfig::set_module_name(const std::string& name_regex,
                                                  std::optional<ModuleQuantizerConfig> config) {
  const std::string p = path_key(path_field(kRoot, "module_name_configs"), name_regex);
  check_regex(name_regex, p, "module_name_configs");
  module_name_configs.set(name_regex, prepared_module_config(std::move(config), p));
  return *this;
}

QuantizerConfig& QuantizerConfig::set_execution_mode(ExecutionMode mode) {
  execution_mode = mode;
  return *this;
}

QuantizerConfig& QuantizerConfig::set_execution_mode(std::string_view mode) {
  execution_mode = execution_mode_from_string(mode);
  return *this;
}

namespace {

void check_targets(const std::vector<ModuleTarget>& targets, const char* method) {
  for (const ModuleTarget& t : targets) {
    if (t.key.empty()) {
      throw InvalidArgumentError(std::string(method) +
                                 ": targets must be module types or name regexes, got an empty "
                                 "string");
    }
    if (t.kind == ModuleTarget::Kind::kName) (void)coreai_opt::detail::compile_regex(t.key, method);
  }
}

}  // namespace

QuantizerConfig& QuantizerConfig::only_for(const std::vector<ModuleTarget>& targets) {
  if (targets.empty()) throw InvalidArgumentError("only_for requires at least one target");
  check_targets(targets, "only_for");
  if (!global_config) {
    throw InvalidArgumentError(
        "only_for requires a non-disabled global_config to distribute; global_config is "
        "disabled (set_global(nullopt), global_config: null, or an earlier only_for)");
  }
  const ModuleQuantizerConfig g = *global_config;
  for (const ModuleTarget& t : targets) {
    if (t.kind == ModuleTarget::Kind::kType) {
      module_type_configs.set(t.key, g);
    } else {
      module_name_configs.set(t.key, g);
    }
  }
  global_config.reset();
  return *this;
}

QuantizerConfig& QuantizerConfig::without(const std::vector<ModuleTarget>& targets) {
  check_targets(targets, "without");
  for (const ModuleTarget& t : targets) {
    if (t.kind == ModuleTarget::Kind::kType) {
      module_type_configs.set(t.key, ModuleQuantizerConfig::disabled());
    } else {
      module_name_configs.set(t.key, ModuleQuantizerConfig::disabled());
    }
  }
  return *this;
}

void QuantizerConfig::validate() {
  if (global_config) {
    const std::string p = path_field(kRoot, "global_config");
    global_config->validate(p);
    check_global(*global_config, p);
  }
  for (auto& [key, cfg] : module_type_configs) {
    const std::string p = path_key(path_field(kRoot, "module_type_configs"), key);
    check_type_key(key, p);
    cfg.validate(p);
  }
  for (auto& [key, cfg] : module_name_configs) {
    const std::string p = path_key(path_field(kRoot, "module_name_configs"), key);
    check_regex(key, p, "module_name_configs");
    cfg.validate(p);
  }
}

namespace {

// Reference §3.5 (NotImplementedError there): eager op_input_spec /
// op_output_spec keys are indices or "*".
void check_eager_keys(const SpecMap& in, const SpecMap& out) {
  for (const SpecMap* map : {&in, &out}) {
    std::string bad;
    for (const auto& [key, spec] : *map) {
      if (!key.is_index() && !key.is_wildcard()) bad += (bad.empty() ? "" : ", ") + key.repr();
    }
    if (!bad.empty()) {
      throw UnsupportedError(
          "Only integer indices or '*' are supported for op_input_spec and op_output_spec "
          "currently. Got {" +
          bad + "}");
    }
  }
}

// Reference §3.5: graph input keys (op and module) are indices or "*", output
// keys "*" or 0.
void check_graph_keys(const SpecMap& in, const SpecMap& out) {
  auto repr = [](const SpecMap& m) {
    std::string s = "{";
    bool first = true;
    for (const auto& [k, v] : m) {
      s += (first ? "" : ", ") + k.repr() + ": " + (v ? "QuantizationSpec(...)" : "None");
      first = false;
    }
    return s + "}";
  };
  for (const auto& [k, v] : in) {
    if (!k.is_index() && !k.is_wildcard()) {
      throw UnsupportedError(
          "Only integer indices or '*' are supported for op and module input and output specs "
          "currently. Got " +
          repr(in));
    }
  }
  for (const auto& [k, v] : out) {
    if (!k.is_wildcard() && !(k.is_index() && k.index() == 0)) {
      throw UnsupportedError(
          "op_output_qspec currently supports setting for '*' or 0 tensor only. Got " + repr(out));
    }
  }
}

void check_mode_keys(const ModuleQuantizerConfig& m, ExecutionMode mode) {
  if (mode == ExecutionMode::kEager) {
    check_eager_keys(m.op_input_spec, m.op_output_spec);
    for (const auto& [k, op] : m.op_type_config)
      check_eager_keys(op.op_input_spec, op.op_output_spec);
    for (const auto& [k, op] : m.op_name_config)
      check_eager_keys(op.op_input_spec, op.op_output_spec);
    return;
  }
  check_graph_keys(m.op_input_spec, m.op_output_spec);
  check_graph_keys(m.module_input_spec, {});
  check_graph_keys(m.module_output_spec, {});
  for (const auto& [k, op] : m.op_type_config)
    check_graph_keys(op.op_input_spec, op.op_output_spec);
  for (const auto& [k, op] : m.op_name_config)
    check_graph_keys(op.op_input_spec, op.op_output_spec);
}

}  // namespace

void QuantizerConfig::validate_for(ExecutionMode mode) {
  validate();
  if (global_config) check_mode_keys(*global_config, mode);
  for (const auto& [k, m] : module_type_configs) check_mode_keys(m, mode);
  for (const auto& [k, m] : module_name_configs) check_mode_keys(m, mode);
  if (mode == ExecutionMode::kEager && preserved_attributes) {
    warn("preserved_attributes is only used in graph mode; eager mode ignores it");
  }
}

bool QuantizerConfig::operator==(const QuantizerConfig& o) const {
  return global_config == o.global_config && module_type_configs == o.module_type_configs &&
         module_name_configs == o.module_name_configs &&
         preserved_attributes == o.preserved_attributes && execution_mode == o.execution_mode;
}

}  // namespace quantization
}  // namespace coreai_opt
