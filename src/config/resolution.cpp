#include "coreai_opt/quantization/resolution.h"

#include <algorithm>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "config/path.h"
#include "coreai_opt/detail/regex.h"
#include "coreai_opt/errors.h"

namespace coreai_opt {
namespace quantization {

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// `base["key"]` with the key verbatim: provenance strings show regexes exactly
// as written, so they can be copied back into a config.
std::string verbatim_key(const std::string& base, const std::string& key) {
  return base + "[\"" + key + "\"]";
}

}  // namespace

// ---------------------------------------------------------- ModelDescription

bool ModelDescription::reaches(std::size_t from, std::size_t to) const {
  std::vector<std::size_t> stack{from};
  std::vector<bool> seen(objects_.size(), false);
  while (!stack.empty()) {
    const std::size_t o = stack.back();
    stack.pop_back();
    if (o == to) return true;
    if (seen[o]) continue;
    seen[o] = true;
    for (const auto& child : objects_[o].children) stack.push_back(child.second);
  }
  return false;
}

ModelDescription& ModelDescription::add_module(const std::string& name, std::string type,
                                               std::optional<ModuleIdentity> identity) {
  if (path_to_object_.count(name) != 0) {
    throw InvalidArgumentError("module " + quoted(name) + " is registered twice");
  }
  if (type.empty()) {
    throw InvalidArgumentError("module " + quoted(name) +
                               " has an empty type key; expected a fully-qualified type name "
                               "such as 'torch.nn.modules.linear.Linear'");
  }

  // Where the path hangs in the tree.
  std::size_t parent = kNone;
  std::string local;
  if (!name.empty()) {
    if (objects_.empty()) {
      throw InvalidArgumentError("module " + quoted(name) +
                                 " is registered before the root module ''; register '' first");
    }
    const std::size_t dot = name.rfind('.');
    local = dot == std::string::npos ? name : name.substr(dot + 1);
    if (local.empty() || dot == 0) {
      throw InvalidArgumentError("module path " + quoted(name) +
                                 " is malformed: expected dot-separated non-empty names");
    }
    const std::string parent_path = dot == std::string::npos ? "" : name.substr(0, dot);
    auto it = path_to_object_.find(parent_path);
    if (it == path_to_object_.end()) {
      throw InvalidArgumentError("the parent " + quoted(parent_path) + " of module " +
                                 quoted(name) + " is not registered; register parents first");
    }
    parent = it->second;
  } else if (!objects_.empty()) {
    throw InvalidArgumentError("the root module '' must be registered first");
  }

  // Which object the path names: a known identity, or a new object.
  std::size_t object = kNone;
  if (identity) {
    auto it = identity_to_object_.find(*identity);
    if (it != identity_to_object_.end()) {
      object = it->second;
      if (objects_[object].type != type) {
        throw InvalidArgumentError("module " + quoted(name) + " has type " + quoted(type) +
                                   " but the same object was registered with type " +
                                   quoted(objects_[object].type));
      }
    }
  }

  // Check against what the parent object already holds (it may be a shared
  // module whose children were registered under another path).
  bool slot_taken = false;
  if (parent != kNone) {
    for (const auto& [child_name, child] : objects_[parent].children) {
      if (child_name != local) continue;
      if (child != object) {
        throw InvalidArgumentError(
            "module " + quoted(name) + " is not the object registered as child " + quoted(local) +
            " of the same (shared) parent under another path; pass the same identity for "
            "every path of one object");
      }
      slot_taken = true;
    }
    if (!slot_taken && object != kNone && reaches(object, parent)) {
      throw InvalidArgumentError("module " + quoted(name) +
                                 " would contain itself: its object is an ancestor of its parent");
    }
  }

  // All checks passed: mutate.
  if (object == kNone) {
    object = objects_.size();
    objects_.push_back(Object{std::move(type), {}});
    if (identity) identity_to_object_.emplace(*identity, object);
  }
  if (parent != kNone && !slot_taken) objects_[parent].children.emplace_back(local, object);
  path_to_object_.emplace(name, object);
  return *this;
}

ModelDescription& ModelDescription::add_op(OpDescription op) {
  if (op.name.empty()) throw InvalidArgumentError("an op has an empty name");
  if (op.type.empty()) throw InvalidArgumentError("op " + quoted(op.name) + " has an empty type");
  if (op_index_.count(op.name) != 0) {
    throw InvalidArgumentError("op " + quoted(op.name) + " is registered twice");
  }
  op_index_.emplace(op.name, ops_.size());
  ops_.push_back(std::move(op));
  return *this;
}

ModelDescription& ModelDescription::add_op(std::string name, std::string type,
                                           std::optional<std::string> module) {
  return add_op(OpDescription{std::move(name), std::move(type), std::move(module)});
}

// ------------------------------------------------------------------ strings

std::string_view to_string(ModuleConfigLevel level) {
  switch (level) {
    case ModuleConfigLevel::kName:
      return "name";
    case ModuleConfigLevel::kType:
      return "type";
    case ModuleConfigLevel::kGlobal:
      break;
  }
  return "global";
}

std::string_view to_string(OpConfigLevel level) {
  switch (level) {
    case OpConfigLevel::kName:
      return "op_name";
    case OpConfigLevel::kType:
      return "op_type";
    case OpConfigLevel::kDefault:
      break;
  }
  return "default";
}

std::string module_rule_string(ModuleConfigLevel level, const std::string& key) {
  switch (level) {
    case ModuleConfigLevel::kName:
      return verbatim_key("module_name_configs", key);
    case ModuleConfigLevel::kType:
      return verbatim_key("module_type_configs", key);
    case ModuleConfigLevel::kGlobal:
      break;
  }
  return "global_config";
}

std::string op_rule_string(OpConfigLevel level, const std::string& key) {
  switch (level) {
    case OpConfigLevel::kName:
      return verbatim_key("op_name_config", key);
    case OpConfigLevel::kType:
      return verbatim_key("op_type_config", key);
    case OpConfigLevel::kDefault:
      break;
  }
  return "op_*_spec";
}

std::string ModuleResolution::provenance() const {
  std::string out = rule();
  if (inherited()) out += " (inherited from \"" + source + "\")";
  return out;
}

std::string KeyUsage::rule() const {
  switch (kind) {
    case ConfigKeyKind::kModuleType:
      return module_rule_string(ModuleConfigLevel::kType, key);
    case ConfigKeyKind::kModuleName:
      return module_rule_string(ModuleConfigLevel::kName, key);
    case ConfigKeyKind::kOpType:
      return module_rule_string(scope_level, scope_key) + " > " +
             op_rule_string(OpConfigLevel::kType, key);
    case ConfigKeyKind::kOpName:
      break;
  }
  return module_rule_string(scope_level, scope_key) + " > " +
         op_rule_string(OpConfigLevel::kName, key);
}

std::string StateSpecOverride::provenance() const {
  return module_rule_string(level, key) + " > " + verbatim_key("module_state_spec", matched_key);
}

// ---------------------------------------------------------------- Resolution

// One module config entry of the QuantizerConfig, prepared for matching.
struct Resolution::Entry {
  struct OpRule {
    std::string key;
    std::regex pattern;  // op_name rules only
    std::shared_ptr<const OpQuantizerConfig> config;
    std::size_t usage = kNone;  // index into key_usage_
  };

  ModuleConfigLevel level = ModuleConfigLevel::kGlobal;
  std::string key;
  std::shared_ptr<const ModuleQuantizerConfig> full;
  // `full` without module-level specs: what descendants inherit.
  std::shared_ptr<const ModuleQuantizerConfig> stripped;
  std::shared_ptr<const OpQuantizerConfig> op_default;
  std::vector<OpRule> op_names;  // config order
  std::vector<OpRule> op_types;  // config order
  std::size_t usage = kNone;     // the module key's usage; none for global
};

namespace {

constexpr const char* kRoot = "quantization_config";

std::regex compile(const std::string& pattern, const std::string& path, const char* where) {
  try {
    return coreai_opt::detail::compile_regex(pattern, where);
  } catch (const InvalidArgumentError& e) {
    throw ConfigError(path, e.what());
  }
}

using coreai_opt::detail::full_match;

}  // namespace

Resolution Resolution::resolve(const QuantizerConfig& raw_config, const ModelDescription& model) {
  if (model.objects_.empty()) {
    throw InvalidArgumentError("the model description has no modules; register the root '' first");
  }
  // Public fields may have been set without validation: check and normalise
  // (digit keys, regexes, the global_config rule) on a copy.
  QuantizerConfig config = raw_config;
  config.validate();
  Resolution r;

  // ---- 1. Modules in pre-order. Walking every path (duplicates included) in
  // pre-order, an object's first path is its canonical name and the order of
  // first sightings is named_modules() order; later paths are aliases.
  const std::size_t num_objects = model.objects_.size();
  std::vector<std::size_t> module_of_object(num_objects, kNone);
  {
    struct Frame {
      std::size_t object;
      std::string path;
      std::size_t next_child;
    };
    std::vector<Frame> stack;
    auto visit = [&](std::size_t object, std::string path) {
      std::size_t& m = module_of_object[object];
      if (m == kNone) {
        m = r.modules_.size();
        ModuleResolution mr;
        mr.name = path;
        mr.type = model.objects_[object].type;
        r.modules_.push_back(std::move(mr));
      } else {
        r.modules_[m].aliases.push_back(path);
      }
      r.path_to_module_.emplace(path, m);
      stack.push_back(Frame{object, std::move(path), 0});
    };
    visit(0, "");  // object 0 is the root: it must be registered first
    while (!stack.empty()) {
      Frame& f = stack.back();
      const auto& children = model.objects_[f.object].children;
      if (f.next_child == children.size()) {
        stack.pop_back();
        continue;
      }
      const auto& [local, child] = children[f.next_child++];
      std::string child_path = f.path.empty() ? local : f.path + "." + local;
      visit(child, std::move(child_path));  // may reallocate: `f` is not used after
    }
  }
  const std::size_t num_modules = r.modules_.size();
  // Child modules of each module (distinct objects, registration order).
  std::vector<std::vector<std::size_t>> children(num_modules);
  for (std::size_t o = 0; o < num_objects; ++o) {
    auto& list = children[module_of_object[o]];
    for (const auto& child : model.objects_[o].children) {
      const std::size_t c = module_of_object[child.second];
      if (std::find(list.begin(), list.end(), c) == list.end()) list.push_back(c);
    }
  }

  // ---- 2. Config entries: global, then type entries, then name entries, with
  // their key usage records in config order.
  auto add_usage = [&](ConfigKeyKind kind, const Entry& scope, const std::string& key) {
    KeyUsage u;
    u.kind = kind;
    u.scope_level = scope.level;
    u.scope_key = scope.key;
    u.key = key;
    if (kind == ConfigKeyKind::kModuleType || kind == ConfigKeyKind::kModuleName) {
      u.scope_level = ModuleConfigLevel::kGlobal;
      u.scope_key.clear();
    }
    r.key_usage_.push_back(std::move(u));
    return r.key_usage_.size() - 1;
  };
  auto make_entry = [&](ModuleConfigLevel level, const std::string& key,
                        const ModuleQuantizerConfig& cfg, const std::string& path) {
    auto e = std::make_shared<Entry>();
    e->level = level;
    e->key = key;
    if (level == ModuleConfigLevel::kType)
      e->usage = add_usage(ConfigKeyKind::kModuleType, *e, key);
    if (level == ModuleConfigLevel::kName)
      e->usage = add_usage(ConfigKeyKind::kModuleName, *e, key);
    e->full = std::make_shared<const ModuleQuantizerConfig>(cfg);
    if (cfg.has_module_level_specs()) {
      ModuleQuantizerConfig s = cfg;
      s.module_input_spec.clear();
      s.module_output_spec.clear();
      s.module_state_spec.clear();
      e->stripped = std::make_shared<const ModuleQuantizerConfig>(std::move(s));
    } else {
      e->stripped = e->full;
    }
    OpQuantizerConfig d;
    d.op_input_spec = cfg.op_input_spec;
    d.op_output_spec = cfg.op_output_spec;
    d.op_state_spec = cfg.op_state_spec;
    e->op_default = std::make_shared<const OpQuantizerConfig>(std::move(d));
    for (const auto& [type, op_cfg] : cfg.op_type_config) {
      Entry::OpRule rule;
      rule.key = type;
      rule.config = std::make_shared<const OpQuantizerConfig>(op_cfg);
      rule.usage = add_usage(ConfigKeyKind::kOpType, *e, type);
      e->op_types.push_back(std::move(rule));
    }
    for (const auto& [pattern, op_cfg] : cfg.op_name_config) {
      Entry::OpRule rule;
      rule.key = pattern;
      rule.pattern =
          compile(pattern, detail::path_key(detail::path_field(path, "op_name_config"), pattern),
                  "op_name_config");
      rule.config = std::make_shared<const OpQuantizerConfig>(op_cfg);
      rule.usage = add_usage(ConfigKeyKind::kOpName, *e, pattern);
      e->op_names.push_back(std::move(rule));
    }
    r.entries_.push_back(std::move(e));
  };

  {
    const std::string path = detail::path_field(kRoot, "global_config");
    const ModuleQuantizerConfig global =
        config.global_config ? *config.global_config : ModuleQuantizerConfig::disabled();
    make_entry(ModuleConfigLevel::kGlobal, "", global, path);
  }
  const std::size_t first_type = r.entries_.size();
  for (const auto& [key, cfg] : config.module_type_configs) {
    make_entry(ModuleConfigLevel::kType, key, cfg,
               detail::path_key(detail::path_field(kRoot, "module_type_configs"), key));
  }
  const std::size_t first_name = r.entries_.size();
  std::vector<std::regex> name_patterns;
  for (const auto& [key, cfg] : config.module_name_configs) {
    const std::string path =
        detail::path_key(detail::path_field(kRoot, "module_name_configs"), key);
    name_patterns.push_back(compile(key, path, "module_name_configs"));
    make_entry(ModuleConfigLevel::kName, key, cfg, path);
  }
  const std::size_t num_entries = r.entries_.size();

  // ---- 3. Module-level assignment (reference build_module_config_dict).
  std::vector<bool> visited(num_modules, false);
  std::vector<std::size_t> source(num_modules, kNone);
  r.module_entry_.assign(num_modules, kNone);
  auto assign = [&](std::size_t m, std::size_t entry) {
    if (visited[m]) return;
    visited[m] = true;
    r.module_entry_[m] = entry;
    source[m] = m;
    // Descendants not yet configured inherit the entry, module-level specs
    // stripped; the order does not matter, all get the same.
    std::vector<std::size_t> work(children[m].begin(), children[m].end());
    while (!work.empty()) {
      const std::size_t c = work.back();
      work.pop_back();
      if (visited[c]) continue;
      visited[c] = true;
      r.module_entry_[c] = entry;
      source[c] = m;
      work.insert(work.end(), children[c].begin(), children[c].end());
    }
  };
  // Name entries, last-defined first; modules in reverse pre-order so a module
  // is reached before its ancestors.
  for (std::size_t e = num_entries; e-- > first_name;) {
    const std::regex& re = name_patterns[e - first_name];
    const std::string& pattern = r.entries_[e]->key;
    for (std::size_t m = num_modules; m-- > 0;) {
      const ModuleResolution& mod = r.modules_[m];
      bool hit = full_match(mod.name, re, pattern);
      for (std::size_t a = 0; !hit && a < mod.aliases.size(); ++a) {
        hit = full_match(mod.aliases[a], re, pattern);
      }
      if (!hit) continue;
      ++r.key_usage_[r.entries_[e]->usage].matched;
      assign(m, e);
    }
  }
  for (std::size_t e = first_name; e-- > first_type;) {
    const std::string& type = r.entries_[e]->key;
    for (std::size_t m = num_modules; m-- > 0;) {
      if (r.modules_[m].type != type) continue;
      ++r.key_usage_[r.entries_[e]->usage].matched;
      assign(m, e);
    }
  }
  for (std::size_t m = num_modules; m-- > 0;) assign(m, 0);

  for (std::size_t m = 0; m < num_modules; ++m) {
    const Entry& e = *r.entries_[r.module_entry_[m]];
    ModuleResolution& mod = r.modules_[m];
    mod.level = e.level;
    mod.key = e.key;
    mod.source = r.modules_[source[m]].name;
    mod.config = source[m] == m ? e.full : e.stripped;
    if (e.usage != kNone) ++r.key_usage_[e.usage].decided;
  }

  // ---- 4. Ops.
  r.ops_known_ = !model.ops_.empty();
  r.ops_.reserve(model.ops_.size());
  for (const OpDescription& op : model.ops_) {
    std::size_t module_index = kNone;
    const Entry& e = r.entry_of(op, &module_index);
    for (const auto& rule : e.op_names) {
      if (full_match(op.name, rule.pattern, rule.key)) ++r.key_usage_[rule.usage].matched;
    }
    for (const auto& rule : e.op_types) {
      if (rule.key == op.type) ++r.key_usage_[rule.usage].matched;
    }
    OpResolution res = r.resolve_op(op);
    const auto& rules = res.level == OpConfigLevel::kName ? e.op_names : e.op_types;
    if (res.level != OpConfigLevel::kDefault) {
      for (const auto& rule : rules) {
        if (rule.key == res.key) ++r.key_usage_[rule.usage].decided;
      }
    }
    r.op_index_.emplace(op.name, r.ops_.size());
    r.ops_.push_back(std::move(res));
  }
  return r;
}

const Resolution::Entry& Resolution::entry_of(const OpDescription& op,
                                              std::size_t* module_index) const {
  *module_index = kNone;
  if (!op.module) return *entries_.front();  // no scope: global_config
  auto it = path_to_module_.find(*op.module);
  if (it == path_to_module_.end()) {
    throw InvalidArgumentError("op " + quoted(op.name) + " belongs to module " +
                               quoted(*op.module) + ", which is not in the model");
  }
  *module_index = it->second;
  return *entries_[module_entry_[it->second]];
}

OpResolution Resolution::resolve_op(const OpDescription& op) const {
  std::size_t module_index = kNone;
  const Entry& e = entry_of(op, &module_index);
  OpResolution res;
  res.name = op.name;
  res.type = op.type;
  if (module_index != kNone) res.module = modules_[module_index].name;
  res.module_level = e.level;
  res.module_key = e.key;
  // op_name_config, last-defined first; then op_type_config, last-defined
  // first; then the module's own op_*_spec.
  for (auto it = e.op_names.rbegin(); it != e.op_names.rend(); ++it) {
    if (full_match(op.name, it->pattern, it->key)) {
      res.level = OpConfigLevel::kName;
      res.key = it->key;
      res.config = it->config;
      return res;
    }
  }
  for (auto it = e.op_types.rbegin(); it != e.op_types.rend(); ++it) {
    if (it->key == op.type) {
      res.level = OpConfigLevel::kType;
      res.key = it->key;
      res.config = it->config;
      return res;
    }
  }
  res.level = OpConfigLevel::kDefault;
  res.config = e.op_default;
  return res;
}

const ModuleResolution* Resolution::find_module(std::string_view path) const {
  auto it = path_to_module_.find(path);
  return it == path_to_module_.end() ? nullptr : &modules_[it->second];
}

const ModuleResolution& Resolution::module(std::string_view path) const {
  if (const ModuleResolution* m = find_module(path)) return *m;
  throw InvalidArgumentError("module " + quoted(std::string(path)) + " is not in the model");
}

const OpResolution* Resolution::find_op(std::string_view name) const {
  auto it = op_index_.find(name);
  return it == op_index_.end() ? nullptr : &ops_[it->second];
}

const OpResolution& Resolution::op(std::string_view name) const {
  if (const OpResolution* o = find_op(name)) return *o;
  throw InvalidArgumentError("op " + quoted(std::string(name)) + " is not in the model");
}

std::vector<KeyUsage> Resolution::unmatched_keys() const {
  std::vector<KeyUsage> out;
  for (const KeyUsage& u : key_usage_) {
    const bool op_key = u.kind == ConfigKeyKind::kOpType || u.kind == ConfigKeyKind::kOpName;
    if (u.matched == 0 && (!op_key || ops_known_)) out.push_back(u);
  }
  return out;
}

std::optional<StateSpecOverride> Resolution::module_state_spec_for(
    const std::vector<std::pair<std::string, std::string>>& owners) const {
  for (ModuleConfigLevel level :
       {ModuleConfigLevel::kName, ModuleConfigLevel::kType, ModuleConfigLevel::kGlobal}) {
    for (const auto& [path, local_name] : owners) {
      const ModuleResolution& m = module(path);
      if (m.level != level) continue;
      const StateSpecMap& specs = m.config->module_state_spec;
      const std::optional<QuantizationSpec>* found = lookup(specs, local_name);
      if (found == nullptr) continue;
      StateSpecOverride o;
      o.module = m.name;
      o.level = m.level;
      o.key = m.key;
      o.local_name = local_name;
      o.matched_key = specs.contains(local_name) ? local_name : "*";
      o.spec = *found;
      return o;
    }
  }
  return std::nullopt;
}

}  // namespace quantization
}  // namespace coreai_opt
