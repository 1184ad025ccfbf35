// The eager backend of the Quantizer (coreai_opt/torch/quantizer.h): model
// surgery on torch::nn::Module trees.
#include "coreai_opt/torch/quantizer.h"

#include <torch/autograd.h>
#include <torch/serialize.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>

#include "coreai_opt/detail/regex.h"
#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/axis_defaults.h"
#include "coreai_opt/quantization/resolution.h"
#include "coreai_opt/quantization/schema.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/io.h"
#include "coreai_opt/torch/module_types.h"
#include "coreai_opt/torch/nn.h"
#include "coreai_opt/warnings.h"
#include "torch/eager/eager_internal.h"
#include "torch/eager/intercept.h"
#include "torch/quantizer_backend.h"

namespace coreai_opt {
namespace quantization {
namespace {

using ModulePtr = std::shared_ptr<torch::nn::Module>;

// ------------------------------------------------------------ module walk

enum class ModuleKind : std::uint8_t {
  kDropIn,    // coreai_opt::nn::Linear, ...: weights and activations
  kStub,      // coreai_opt::nn::QuantStub
  kWeighted,  // torch::nn::Linear, Conv*, ConvTranspose*, Embedding: weights, and
              // activations at the dispatcher (intercept.h)
  kBuiltin,   // any other torch::nn module: nothing
  kCustom,    // user modules: weights with an axis-free spec
};

// Module type key -> op registry key of the eager ops a module runs (reference §7.6).
constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kModuleOps = {{
    {"torch.nn.modules.linear.Linear", "linear"},
    {"torch.nn.modules.conv.Conv1d", "conv1d"},
    {"torch.nn.modules.conv.Conv2d", "conv2d"},
    {"torch.nn.modules.conv.Conv3d", "conv3d"},
    {"torch.nn.modules.conv.ConvTranspose1d", "conv_transpose1d"},
    {"torch.nn.modules.conv.ConvTranspose2d", "conv_transpose2d"},
    {"torch.nn.modules.conv.ConvTranspose3d", "conv_transpose3d"},
    {"torch.nn.modules.sparse.Embedding", "embedding"},
    {"torch.nn.modules.pooling.MaxPool2d", "max_pool2d"},
    {"torch.nn.modules.pooling.AdaptiveAvgPool2d", "adaptive_avg_pool2d"},
}};
constexpr std::size_t kWeightedOps = 8;  // the first entries own weights

std::string module_op_base(const std::string& type, bool* weighted) {
  for (std::size_t i = 0; i < kModuleOps.size(); ++i) {
    if (kModuleOps[i].first == type) {
      if (weighted) *weighted = i < kWeightedOps;
      return std::string(kModuleOps[i].second);
    }
  }
  if (weighted) *weighted = false;
  return {};
}

std::string join(const std::string& path, const std::string& local) {
  return path.empty() ? local : path + "." + local;
}

struct WalkedModule {
  std::string path;  // canonical
  ModulePtr module;
  std::string type;
  ModuleKind kind = ModuleKind::kCustom;
  std::string op_base;  // module ops (drop-ins, weighted, pooling)
  at::Tensor weight;    // kWeighted: the tensor its forward reads (identifies its ops)
  bool has_bias = false;
};

struct Walk {
  std::vector<WalkedModule> modules;  // canonical paths, pre-order
  std::map<const torch::nn::Module*, std::size_t> index;
  ModelDescription description;
  const WalkedModule& at(const torch::nn::Module* m) const { return modules[index.at(m)]; }
};

// The weight member a stock module's forward reads (which need not be its registered
// parameter: weights are tied by assigning the member) and whether it has a bias.
template <class Impl>
bool members_of(torch::nn::Module& m, at::Tensor& weight, bool& has_bias) {
  auto* impl = dynamic_cast<Impl*>(&m);
  if (impl == nullptr) return false;
  weight = impl->weight;
  if constexpr (std::is_same_v<Impl, torch::nn::EmbeddingImpl>) {
    has_bias = false;
  } else {
    has_bias = impl->bias.defined();
  }
  return true;
}

void forward_tensors(torch::nn::Module& m, at::Tensor& weight, bool& has_bias) {
  using namespace torch::nn;  // NOLINT(google-build-using-namespace)
  (void)(members_of<LinearImpl>(m, weight, has_bias) ||
         members_of<Conv1dImpl>(m, weight, has_bias) ||
         members_of<Conv2dImpl>(m, weight, has_bias) ||
         members_of<Conv3dImpl>(m, weight, has_bias) ||
         members_of<ConvTranspose1dImpl>(m, weight, has_bias) ||
         members_of<ConvTranspose2dImpl>(m, weight, has_bias) ||
         members_of<ConvTranspose3dImpl>(m, weight, has_bias) ||
         members_of<EmbeddingImpl>(m, weight, has_bias));
}

bool is_internal(const torch::nn::Module& m) {
  return dynamic_cast<const FakeQuantizeImpl*>(&m) != nullptr;
}

Walk walk_model(const ModulePtr& model) {
  Walk w;
  std::vector<std::string> skipped_prefixes;
  for (const auto& item : model->named_modules("", /*include_self=*/true)) {
    const std::string& path = item.key();
    const ModulePtr& m = item.value();
    bool below_internal = false;
    for (const auto& p : skipped_prefixes) {
      if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '.') {
        below_internal = true;
      }
    }
    if (below_internal) continue;
    if (is_internal(*m)) {
      skipped_prefixes.push_back(path);
      continue;
    }
    std::string type;
    ModuleKind kind;
    if (const auto* d = dynamic_cast<const nn::QuantizedModule*>(m.get())) {
      type = d->type_key();
      kind = ModuleKind::kDropIn;
    } else if (dynamic_cast<const nn::QuantStubImpl*>(m.get()) != nullptr) {
      type = module_type_key(*m);
      kind = ModuleKind::kStub;
    } else {
      type = module_type_key(*m);
      bool weighted = false;
      module_op_base(type, &weighted);
      if (weighted) {
        kind = ModuleKind::kWeighted;
      } else if (type.rfind("torch.", 0) == 0) {
        kind = ModuleKind::kBuiltin;
      } else {
        kind = ModuleKind::kCustom;
      }
    }
    w.description.add_module(path, type, identity_of(m.get()));
    if (w.index.count(m.get()) != 0) continue;  // an alias path of a module seen before
    WalkedModule wm;
    wm.path = path;
    wm.module = m;
    wm.type = type;
    wm.kind = kind;
    wm.op_base = module_op_base(type, nullptr);
    if (kind == ModuleKind::kWeighted) forward_tensors(*m, wm.weight, wm.has_bias);
    w.index[m.get()] = w.modules.size();
    w.modules.push_back(std::move(wm));
  }
  return w;
}

// ------------------------------------------------------------ points

enum class Target : std::uint8_t {
  kWeight,
  kDropInInput,
  kDropInOutput,
  kInterceptInput,  // a stock module's activations (intercept.h)
  kInterceptOutput,
  kStub,
  kFunctionalInput,
  kFunctionalOutput,
};

struct Point {
  PlanPoint plan;
  bool removed = false;  // a block size that did not divide at prepare
  Target target = Target::kWeight;
  // The module the fake-quant point is registered on and belongs to (its
  // qat_schedule and enable/disable scope).
  const torch::nn::Module* host = nullptr;
  std::string host_path;
  std::string child_name;
  std::string what;  // names the point in messages
  // kWeight
  std::vector<std::pair<torch::nn::Module*, std::string>> owners;
  at::Tensor tensor;
  // functional ops
  std::size_t op_index = 0;
  std::size_t input_index = 0;
};

struct FunctionalCall {
  const torch::nn::Module* caller = nullptr;
  std::string caller_path;
  std::string name;
  std::string local_name;  // name without the module prefix (`add_1`)
  detail::TracedCall call;
};

struct Analysis {
  Walk walk;
  std::vector<FunctionalCall> calls;
  std::vector<Point> points;  // every plan point; spec-less ones are not realized
  std::vector<SkippedPoint> skipped;
  std::vector<std::string> warnings;
  std::optional<Resolution> resolution;
};

std::string key_text(const TensorKey& key) {
  return key.is_index() ? std::to_string(key.index()) : "\"" + key.name() + "\"";
}

// The key of `map` that a lookup of index `i` finds (exact, else "*").
std::string matched_index_key(const SpecMap& map, std::int64_t i) {
  return map.contains(TensorKey(i)) ? std::to_string(i) : "\"*\"";
}

constexpr const char* kBoundaryReason =
    "the boundary of a torch::nn module cannot be intercepted in C++; place a "
    "coreai_opt::nn::QuantStub at the tensor (or use a drop-in module) to quantize it";

// The op of a stock module without a weight (MaxPool2d, AdaptiveAvgPool2d): nothing
// identifies its call at the dispatcher.
constexpr const char* kParameterFreeReason =
    "a torch::nn module without a weight cannot be told apart at the dispatcher; place a "
    "coreai_opt::nn::QuantStub at the tensor to quantize it";

detail::InterceptFamily intercept_family(const std::string& op_base) {
  if (op_base == "linear") return detail::InterceptFamily::kLinear;
  if (op_base == "embedding") return detail::InterceptFamily::kEmbedding;
  if (op_base.rfind("conv_transpose", 0) == 0) return detail::InterceptFamily::kConvTranspose;
  return detail::InterceptFamily::kConv;
}

void add_skipped(Analysis& a, PointKind kind, const WalkedModule& m, const std::string& tensor,
                 const std::string& rule, const std::string& reason) {
  SkippedPoint s;
  s.kind = kind;
  s.module = m.path;
  s.module_type = m.type;
  s.tensor = tensor;
  s.rule = rule;
  s.reason = reason;
  a.skipped.push_back(std::move(s));
}

Analysis analyze(const ModulePtr& model, const QuantizerConfig& config,
                 const std::vector<detail::TracedCall>& traced) {
  Analysis a;
  a.walk = walk_model(model);
  Walk& w = a.walk;

  // Module ops and functional ops.
  for (const auto& m : w.modules) {
    if (!m.op_base.empty()) w.description.add_op(join(m.path, m.op_base), m.op_base, m.path);
  }
  std::map<std::pair<const torch::nn::Module*, std::string>, int> counters;
  for (const auto& call : traced) {
    auto it = w.index.find(call.caller);
    if (it == w.index.end()) {
      throw InvalidArgumentError(
          "coreai_opt::nn::functional::" + call.base +
          " was called with a caller module that is not part of the model being quantized; "
          "pass the module whose forward calls it (`*this`)");
    }
    const WalkedModule& m = w.modules[it->second];
    int& k = counters[{call.caller, call.base}];
    FunctionalCall fc;
    fc.caller = call.caller;
    fc.caller_path = m.path;
    fc.local_name = k == 0 ? call.base : call.base + "_" + std::to_string(k);
    fc.name = join(m.path, fc.local_name);
    fc.call = call;
    ++k;
    w.description.add_op(fc.name, call.base, m.path);
    a.calls.push_back(std::move(fc));
  }
  a.resolution.emplace(Resolution::resolve(config, w.description));
  const Resolution& r = *a.resolution;

  // ---- weights
  std::map<const c10::TensorImpl*, std::size_t> weight_index;
  struct WeightCandidate {
    at::Tensor tensor;
    std::vector<std::pair<torch::nn::Module*, std::string>> owners;
    std::vector<std::pair<std::string, std::string>> owner_paths;
    std::vector<const WalkedModule*> owner_modules;
  };
  std::vector<WeightCandidate> candidates;
  for (const auto& m : w.modules) {
    for (const auto& p : m.module->named_parameters(/*recurse=*/false)) {
      const at::Tensor& t = p.value();
      if (!t.defined()) continue;
      auto [it, inserted] = weight_index.emplace(t.unsafeGetTensorImpl(), candidates.size());
      if (inserted) candidates.push_back({t, {}, {}, {}});
      WeightCandidate& c = candidates[it->second];
      c.owners.emplace_back(m.module.get(), p.key());
      c.owner_paths.emplace_back(m.path, p.key());
      c.owner_modules.push_back(&m);
    }
  }
  for (auto& c : candidates) {
    if (!at::isFloatingType(c.tensor.scalar_type()) || c.tensor.numel() <= 1) continue;
    // User modules: only matrices and kernels (what linear / conv / embedding
    // ops consume), not norm scales or biases.
    bool any_op_owner = false;
    for (const auto* om : c.owner_modules) {
      any_op_owner |= om->kind == ModuleKind::kDropIn || om->kind == ModuleKind::kWeighted;
    }
    if (!any_op_owner && c.tensor.dim() < 2) continue;
    // The owner that decides: the first one that runs a supported op, else the first.
    const WalkedModule* primary = c.owner_modules.front();
    std::string local = c.owner_paths.front().second;
    for (std::size_t i = 0; i < c.owner_modules.size(); ++i) {
      const auto k = c.owner_modules[i]->kind;
      if (k == ModuleKind::kDropIn || k == ModuleKind::kWeighted) {
        primary = c.owner_modules[i];
        local = c.owner_paths[i].second;
        break;
      }
    }
    const std::string name = join(primary->path, local);
    Point pt;
    pt.target = Target::kWeight;
    pt.owners = c.owners;
    pt.tensor = c.tensor;
    pt.host = c.owners.front().first;
    pt.host_path = c.owner_paths.front().first;
    pt.child_name = c.owner_paths.front().second + "_fake_quant";
    pt.what = name;
    pt.plan.module = primary->path;
    pt.plan.module_type = primary->type;
    pt.plan.tensor = local;
    const bool runs_op =
        primary->kind == ModuleKind::kDropIn || primary->kind == ModuleKind::kWeighted;
    std::optional<QuantizationSpec> spec;
    bool found = false;
    if (auto ov = r.module_state_spec_for(c.owner_paths)) {
      found = true;
      spec = ov->spec;
      pt.plan.kind = PointKind::kModuleState;
      pt.plan.rule = ov->provenance();
      if (runs_op) {
        pt.plan.op_name = join(primary->path, primary->op_base);
        pt.plan.op_type = primary->op_base;
      }
    } else if (runs_op) {
      const OpResolution& op = r.op(join(primary->path, primary->op_base));
      if (const auto* s = lookup(op.config->op_state_spec, local)) {
        found = true;
        spec = *s;
        pt.plan.kind = PointKind::kOpState;
        pt.plan.op_name = op.name;
        pt.plan.op_type = op.type;
        pt.plan.rule = op.provenance();
      }
    } else if (primary->kind == ModuleKind::kCustom) {
      const ModuleResolution& mr = r.module(primary->path);
      if (const auto* s = lookup(mr.config->op_state_spec, local)) {
        found = true;
        spec = *s;
        pt.plan.kind = PointKind::kOpState;
        pt.plan.rule = mr.rule() + " > op_*_spec";
      }
    }
    if (!found) continue;
    if (spec && (primary->kind == ModuleKind::kBuiltin || primary->kind == ModuleKind::kStub)) {
      add_skipped(a, pt.plan.kind, *primary, local, pt.plan.rule,
                  "eager mode quantizes the weights of Linear, Conv, ConvTranspose and Embedding "
                  "modules and of user modules, not of " +
                      primary->type);
      continue;
    }
    if (primary->kind == ModuleKind::kBuiltin || primary->kind == ModuleKind::kStub) continue;
    if (spec && needs_default_axis(spec->granularity)) {
      std::vector<std::string> consumers;
      bool any_default = false;
      for (const auto* om : c.owner_modules) {
        consumers.push_back(om->type);
        if (default_weight_axis(om->type, spec->granularity.type)) any_default = true;
      }
      if (!any_default) {
        add_skipped(a, pt.plan.kind, *primary, local, pt.plan.rule,
                    std::string(granularity_class_name(spec->granularity.type)) +
                        " without axis: eager mode cannot see which op consumes a parameter of "
                        "a user module, so it has no default axis; give an explicit axis");
        continue;
      }
      spec = apply_weight_axis_default(*spec, consumers, name);
    }
    pt.plan.spec = spec;
    a.points.push_back(std::move(pt));
  }

  // ---- activations of drop-ins, stock modules with a weight (at the dispatcher) and
  // stubs; what other plain modules cannot do
  std::map<std::pair<const c10::TensorImpl*, detail::InterceptFamily>, std::string> claimed;
  for (const auto& m : w.modules) {
    const ModuleResolution& mr = r.module(m.path);
    const ModuleQuantizerConfig& mc = *mr.config;
    if (m.kind == ModuleKind::kDropIn || m.kind == ModuleKind::kWeighted) {
      const bool drop_in = m.kind == ModuleKind::kDropIn;
      const bool float_input =
          drop_in ? dynamic_cast<const nn::QuantizedModule*>(m.module.get())->has_float_input()
                  : m.op_base != "embedding";
      const OpResolution& op = r.op(join(m.path, m.op_base));
      // Ops are told apart by their weight at the dispatcher: a weight shared by two stock
      // modules of one op family names neither.
      std::string shared_with;
      if (!drop_in && m.weight.defined()) {
        auto [it, inserted] = claimed.emplace(
            std::make_pair(static_cast<const c10::TensorImpl*>(m.weight.unsafeGetTensorImpl()),
                           intercept_family(m.op_base)),
            m.path);
        if (!inserted) shared_with = it->second;
      }
      auto add_io = [&](bool input) {
        const SpecMap& module_map = input ? mc.module_input_spec : mc.module_output_spec;
        const SpecMap& op_map = input ? op.config->op_input_spec : op.config->op_output_spec;
        Point pt;
        pt.target = input ? Target::kDropInInput : Target::kDropInOutput;
        pt.host = m.module.get();
        pt.host_path = m.path;
        pt.plan.module = m.path;
        pt.plan.module_type = m.type;
        pt.plan.tensor = "0";
        if (const auto* s = lookup(module_map, 0)) {
          pt.plan.kind = input ? PointKind::kModuleInput : PointKind::kModuleOutput;
          pt.plan.rule = mr.rule() + (input ? " > module_input_spec[" : " > module_output_spec[") +
                         matched_index_key(module_map, 0) + "]";
          pt.plan.spec = *s;
          pt.child_name = input ? "module_input_quantize_0" : "module_output_quantize_0";
        } else if (const auto* s2 = lookup(op_map, 0)) {
          pt.plan.kind = input ? PointKind::kOpInput : PointKind::kOpOutput;
          pt.plan.op_name = op.name;
          pt.plan.op_type = op.type;
          pt.plan.rule = op.provenance();
          pt.plan.spec = *s2;
          pt.child_name = m.op_base + (input ? "_quantize_input" : "_quantize_output_0");
        } else {
          return;
        }
        pt.what = join(m.path, pt.child_name);
        if (!drop_in) {
          pt.target = input ? Target::kInterceptInput : Target::kInterceptOutput;
          if (!m.weight.defined() || !shared_with.empty()) {
            const std::string holder = m.type.substr(m.type.rfind('.') + 1);
            add_skipped(
                a, pt.plan.kind, m, "0", pt.plan.rule,
                m.weight.defined()
                    ? "torch::nn::" + holder + " shares its weight with '" + shared_with +
                          "': eager mode tells stock modules apart by their weight; use "
                          "coreai_opt::nn::" +
                          holder + " for one of them"
                    : "torch::nn::" + holder +
                          " has no weight to recognise its ops by; use coreai_opt::nn::" + holder);
            return;
          }
        }
        a.points.push_back(std::move(pt));
      };
      if (float_input) add_io(true);
      add_io(false);
      continue;
    }
    if (m.kind == ModuleKind::kStub) {
      Point pt;
      pt.target = Target::kStub;
      pt.host = m.module.get();
      pt.host_path = m.path;
      pt.child_name = "quantize";
      pt.what = join(m.path, "quantize");
      pt.plan.module = m.path;
      pt.plan.module_type = m.type;
      pt.plan.tensor = "0";
      if (const auto* s = lookup(mc.module_input_spec, 0)) {
        pt.plan.kind = PointKind::kModuleInput;
        pt.plan.rule =
            mr.rule() + " > module_input_spec[" + matched_index_key(mc.module_input_spec, 0) + "]";
        pt.plan.spec = *s;
      } else if (const auto* s2 = lookup(mc.module_output_spec, 0)) {
        pt.plan.kind = PointKind::kModuleOutput;
        pt.plan.rule = mr.rule() + " > module_output_spec[" +
                       matched_index_key(mc.module_output_spec, 0) + "]";
        pt.plan.spec = *s2;
      } else if (const auto* s3 = lookup(mc.op_input_spec, 0)) {
        pt.plan.kind = PointKind::kOpInput;
        pt.plan.rule = mr.rule() + " > op_*_spec";
        pt.plan.spec = *s3;
      } else {
        continue;
      }
      a.points.push_back(std::move(pt));
      continue;
    }
    // Other plain modules: module-level boundary specs and op-level activation specs of
    // the ops they run cannot be honoured.
    if (mc.has_module_level_specs()) {
      for (const auto& [key, spec] : mc.module_input_spec) {
        if (spec) {
          add_skipped(a, PointKind::kModuleInput, m, key_text(key),
                      mr.rule() + " > module_input_spec[" + key_text(key) + "]", kBoundaryReason);
        }
      }
      for (const auto& [key, spec] : mc.module_output_spec) {
        if (spec) {
          add_skipped(a, PointKind::kModuleOutput, m, key_text(key),
                      mr.rule() + " > module_output_spec[" + key_text(key) + "]", kBoundaryReason);
        }
      }
    }
    if (!m.op_base.empty()) {  // MaxPool2d, AdaptiveAvgPool2d
      const OpResolution& op = r.op(join(m.path, m.op_base));
      const auto* in = lookup(op.config->op_input_spec, 0);
      if (in && *in) {
        add_skipped(a, PointKind::kOpInput, m, "0", op.provenance(), kParameterFreeReason);
      }
      const auto* out = lookup(op.config->op_output_spec, 0);
      if (out && *out)
        add_skipped(a, PointKind::kOpOutput, m, "0", op.provenance(), kParameterFreeReason);
    }
  }

  // ---- functional ops
  for (std::size_t i = 0; i < a.calls.size(); ++i) {
    const FunctionalCall& fc = a.calls[i];
    const WalkedModule& m = w.at(fc.caller);
    const OpResolution& op = r.op(fc.name);
    auto add = [&](bool input, std::size_t index, const std::optional<QuantizationSpec>& spec) {
      Point pt;
      pt.target = input ? Target::kFunctionalInput : Target::kFunctionalOutput;
      pt.host = fc.caller;
      pt.host_path = m.path;
      pt.op_index = i;
      pt.input_index = index;
      pt.child_name = fc.local_name + (input ? "_quantize_" + fc.call.arg_names[index]
                                             : std::string("_quantize_output_0"));
      pt.what = join(m.path, pt.child_name);
      pt.plan.kind = input ? PointKind::kOpInput : PointKind::kOpOutput;
      pt.plan.op_name = op.name;
      pt.plan.op_type = op.type;
      pt.plan.module = m.path;
      pt.plan.module_type = m.type;
      pt.plan.tensor = std::to_string(index);
      pt.plan.spec = spec;
      pt.plan.rule = op.provenance();
      a.points.push_back(std::move(pt));
    };
    for (std::size_t k = 0; k < fc.call.input_quantizable.size(); ++k) {
      if (!fc.call.input_quantizable[k]) continue;
      if (const auto* s = lookup(op.config->op_input_spec, static_cast<std::int64_t>(k))) {
        add(true, k, *s);
      }
    }
    if (fc.call.output_quantizable) {
      if (const auto* s = lookup(op.config->op_output_spec, 0)) add(false, 0, *s);
    }
  }

  // ---- ops a rule declines as a whole (`op_type_config: {linear: null}`, a
  // disabled module): listed as declined points so that the plan shows it.
  std::set<std::string> listed;
  for (const auto& pt : a.points)
    if (pt.plan.op_name) listed.insert(*pt.plan.op_name);
  auto decline = [&](const OpResolution& op, const WalkedModule& m, PointKind kind,
                     const std::string& tensor) {
    Point pt;
    pt.plan.kind = kind;
    pt.plan.op_name = op.name;
    pt.plan.op_type = op.type;
    pt.plan.module = m.path;
    pt.plan.module_type = m.type;
    pt.plan.tensor = tensor;
    pt.plan.rule = op.provenance();
    a.points.push_back(std::move(pt));
  };
  for (const auto& m : w.modules) {
    if (m.op_base.empty()) continue;
    const OpResolution& op = r.op(join(m.path, m.op_base));
    if (listed.count(op.name) > 0 || !op.config->is_disabled()) continue;
    const bool weighted = m.kind == ModuleKind::kDropIn || m.kind == ModuleKind::kWeighted;
    if (weighted) decline(op, m, PointKind::kOpState, "weight");
    if (m.op_base != "embedding") decline(op, m, PointKind::kOpInput, "0");
    decline(op, m, PointKind::kOpOutput, "0");
  }
  for (const FunctionalCall& fc : a.calls) {
    const OpResolution& op = r.op(fc.name);
    if (listed.count(op.name) > 0 || !op.config->is_disabled()) continue;
    for (std::size_t k = 0; k < fc.call.input_quantizable.size(); ++k)
      if (fc.call.input_quantizable[k])
        decline(op, w.at(fc.caller), PointKind::kOpInput, std::to_string(k));
    if (fc.call.output_quantizable) decline(op, w.at(fc.caller), PointKind::kOpOutput, "0");
  }

  for (auto& pt : a.points)
    if (pt.plan.spec) pt.plan.fake_quant = join(pt.host_path, pt.child_name);

  // ---- warnings
  for (const auto& k : r.unmatched_keys()) {
    a.warnings.push_back("config key matches nothing in the model: " + k.rule());
  }
  for (const auto& s : a.skipped) a.warnings.push_back("not quantized: " + s.to_string());
  return a;
}

// ------------------------------------------------------------ the eager backend

QuantizationPlan plan_of(const Analysis& a, const std::vector<SkippedPoint>& skipped) {
  QuantizationPlan plan;
  plan.execution_mode = ExecutionMode::kEager;
  for (const auto& p : a.points) plan.points.push_back(p.plan);
  plan.skipped = skipped;
  plan.warnings = a.warnings;
  for (std::size_t i = a.skipped.size(); i < skipped.size(); ++i) {
    plan.warnings.push_back("not quantized: " + skipped[i].to_string());
  }
  return plan;
}

std::vector<detail::TracedCall> trace_forward(torch::nn::Module& model,
                                              const std::function<void()>& run_example) {
  if (!run_example) return {};
  const bool was_training = model.is_training();
  model.eval();
  detail::FunctionalTrace trace;
  try {
    torch::NoGradGuard no_grad;
    run_example();
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return trace.calls();
}

// Tags of the archive Quantizer::save writes in eager mode.
constexpr const char* kArchiveModel = "coreai_opt_prepared_model";
constexpr const char* kArchiveFormat = "coreai_opt_prepared_format";

// The eager backend: fake-quants registered as child modules of the modules
// whose tensors they quantize, weights split into a float master parameter and
// a fake-quantized view (detail::EagerWeight), activations through drop-ins,
// stubs and functional helpers.
class EagerBackend final : public coreai_opt::detail::QuantizerBackend {
 public:
  EagerBackend(Model h, QuantizerConfig c)
      : handle(std::move(h)), model(handle.module()), config(std::move(c)) {}

  std::function<void()> runner(const Example& example, const char* what) const {
    return coreai_opt::detail::eager_runner(example, handle.forward_fn(), what);
  }

  QuantizationPlan plan(const Example& example) const override {
    const std::function<void()> run = runner(example, "plan()");
    const Analysis a = analyze(model, config, trace_forward(*model, run));
    QuantizationPlan p = plan_of(a, a.skipped);
    if (!run) {
      p.warnings.emplace_back(
          "functional-helper ops (coreai_opt::nn::functional) are discovered by a forward "
          "pass: pass an example to plan() to list them");
    }
    return p;
  }

  std::pair<Model, QuantizationPlan> prepare(const Example& example) override;

  std::vector<coreai_opt::detail::LivePoint> points() const override {
    std::vector<coreai_opt::detail::LivePoint> out;
    out.reserve(live.size());
    for (const auto& l : live) {
      coreai_opt::detail::LivePoint p;
      p.name = join(l.host_path, l.child_name);
      p.module = l.host_path;
      p.weight = l.weight != nullptr;
      p.spec = l.fq->config().spec;
      p.schedule = l.schedule;
      p.state = l.fq->state();
      p.scale = l.fq->scale();
      p.zero_point = l.fq->zero_point();
      p.minval = l.fq->minval();
      out.push_back(std::move(p));
    }
    return out;
  }

  std::vector<std::pair<std::string, std::string>> module_paths() const override {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& item : model->named_modules("", /*include_self=*/true)) {
      auto it = analysis->walk.index.find(item.value().get());
      if (it == analysis->walk.index.end()) continue;  // fake-quants
      out.emplace_back(item.key(), analysis->walk.modules[it->second].path);
    }
    return out;
  }

  void sync() override { refresh(); }

  void before_step() override {
    // A hint for optimizers built before prepare(): they hold the old tensors,
    // which are now fake-quantized views, and never update the float weights.
    bool any_grad = false, any_changed = false;
    for (const auto& w : weights) {
      if (!w->master.requires_grad()) continue;
      if (w->master.grad().defined()) any_grad = true;
      if (w->master_changed()) any_changed = true;
    }
    if (any_grad && !any_changed && !warned_unchanged) {
      warned_unchanged = true;
      warn(
          "step(): no quantized float weight changed since the last refresh although they "
          "have gradients. Build the optimizer from model->parameters() after prepare() "
          "(prepare registers new float weight tensors) and call step() after "
          "optimizer.step().");
    }
  }

  void save(const std::string& path) const override {
    torch::serialize::OutputArchive root;
    torch::serialize::OutputArchive body;
    model->save(body);
    root.write(kArchiveModel, body);
    root.write(kArchiveFormat, at::tensor(std::int64_t{1}));
    root.save_to(path);
  }

  void load(const std::string& path) override {
    torch::serialize::InputArchive root;
    try {
      root.load_from(path);
    } catch (const std::exception& e) {
      throw InvalidArgumentError("load('" + path +
                                 "'): cannot read the file: " + io::error_summary(e));
    }
    at::Tensor format;
    torch::serialize::InputArchive body;
    if (!root.try_read(kArchiveFormat, format) || !root.try_read(kArchiveModel, body)) {
      throw InvalidArgumentError("load('" + path +
                                 "'): not a prepared eager model written by Quantizer::save()");
    }
    try {
      model->load(body);
    } catch (const std::exception& e) {
      throw InvalidArgumentError("load('" + path +
                                 "'): the saved model does not fit this prepared model (another "
                                 "model type or config?): " +
                                 io::error_summary(e));
    }
  }

  FinalizeResult finalize() override;

  void refresh() {
    for (auto& w : weights) w->refresh();
    for (auto& [m, t] : tables) t->cursor = 0;
  }

  Model handle;  // the caller's: it keeps the typed forward
  ModulePtr model;
  QuantizerConfig config;
  bool prepared = false;
  bool warned_unchanged = false;
  std::optional<Analysis> analysis;  // of prepare (points realized)
  std::vector<SkippedPoint> skipped;

  struct Live {
    FakeQuantize fq{nullptr};
    const torch::nn::Module* host = nullptr;
    std::string host_path;
    std::string child_name;
    std::optional<QATSchedule> schedule;
    std::shared_ptr<detail::EagerWeight> weight;  // weight points
    std::size_t point = 0;                        // index into analysis->points
  };
  std::vector<Live> live;
  std::vector<std::shared_ptr<detail::EagerWeight>> weights;
  std::map<const torch::nn::Module*, std::shared_ptr<detail::FunctionalTable>> tables;
};

std::pair<Model, QuantizationPlan> EagerBackend::prepare(const Example& example) {
  EagerBackend& s = *this;
  for (const auto& m : s.model->modules(/*include_self=*/true)) {
    if (is_internal(*m)) {
      throw Error(
          "prepare(): the model already holds fake-quants (prepared by another Quantizer?); "
          "quantize a fresh copy of the float model");
    }
  }
  const std::function<void()> run_example = runner(example, "prepare()");
  if (!run_example) {
    throw InvalidArgumentError(
        "prepare() needs an example: the forward inputs (`q.prepare({x})`) or a function "
        "running one forward pass of the model");
  }
  Analysis a = analyze(s.model, s.config, trace_forward(*s.model, run_example));

  // Validate everything before touching the model.
  std::vector<std::pair<std::string, Granularity>> activations;
  std::vector<FakeQuantizeConfig> configs(a.points.size());
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    const Point& p = a.points[i];
    if (!p.plan.spec || p.target == Target::kWeight) continue;
    activations.emplace_back(p.what, p.plan.spec->granularity);
  }
  check_activation_axes(activations);
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    const Point& p = a.points[i];
    if (!p.plan.spec) continue;
    configs[i] = FakeQuantizeConfig::make(
        *p.plan.spec, p.target == Target::kWeight ? TensorRole::kWeight : TensorRole::kActivation,
        p.what);
  }

  // Realize the points.
  const Resolution& r = *a.resolution;
  std::map<const torch::nn::Module*, std::vector<std::shared_ptr<detail::EagerWeight>>> weights_of;
  struct DropInIO {
    FakeQuantize input{nullptr};
    FakeQuantize output{nullptr};
  };
  std::map<const torch::nn::Module*, DropInIO> drop_in_io;
  std::map<const torch::nn::Module*, std::shared_ptr<detail::InterceptSite>> sites;
  const auto site_of = [&](const torch::nn::Module* host) {
    auto& site = sites[host];
    if (!site) {
      const WalkedModule& m = a.walk.at(host);
      site = std::make_shared<detail::InterceptSite>();
      site->name = m.path;
      site->family = intercept_family(m.op_base);
      site->has_bias = m.has_bias;
    }
    return site;
  };
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    Point& p = a.points[i];
    if (!p.plan.spec) continue;
    FakeQuantize fq(configs[i], p.what);
    fq->enable_observer(true);
    fq->enable_fake_quant(false);
    auto* host = const_cast<torch::nn::Module*>(p.host);
    host->register_module(p.child_name, fq);
    Live l;
    l.fq = fq;
    l.host = p.host;
    l.host_path = p.host_path;
    l.child_name = p.child_name;
    l.schedule = r.module(p.host_path).config->qat_schedule;
    l.point = i;
    switch (p.target) {
      case Target::kWeight: {
        auto w = std::make_shared<detail::EagerWeight>();
        w->name = p.what;
        w->owners = p.owners;
        w->view = p.tensor;
        w->fq = fq;
        w->fq_child = p.child_name;
        w->split_parameter();
        l.weight = w;
        s.weights.push_back(w);
        for (const auto& [owner, local] : p.owners) weights_of[owner].push_back(w);
        break;
      }
      case Target::kDropInInput:
        drop_in_io[p.host].input = fq;
        break;
      case Target::kDropInOutput:
        drop_in_io[p.host].output = fq;
        break;
      case Target::kInterceptInput:
        site_of(p.host)->input = fq;
        break;
      case Target::kInterceptOutput:
        site_of(p.host)->output = fq;
        break;
      case Target::kStub:
        dynamic_cast<nn::QuantStubImpl*>(host)->attach_quantizer(fq);
        break;
      case Target::kFunctionalInput:
      case Target::kFunctionalOutput:
        break;
    }
    s.live.push_back(std::move(l));
  }
  for (const auto& m : a.walk.modules) {
    if (m.kind != ModuleKind::kDropIn) continue;
    auto* d = dynamic_cast<nn::QuantizedModule*>(m.module.get());
    const DropInIO& io = drop_in_io[m.module.get()];
    d->attach_quantizers(io.input, io.output, weights_of[m.module.get()]);
  }
  // Functional tables: one per calling module, ops in call order.
  std::vector<std::size_t> slot_of(a.calls.size());
  for (std::size_t i = 0; i < a.calls.size(); ++i) {
    const FunctionalCall& fc = a.calls[i];
    auto& table = s.tables[fc.caller];
    if (!table) {
      table = std::make_shared<detail::FunctionalTable>();
      table->owner = a.walk.at(fc.caller).module;
    }
    detail::FunctionalOp op;
    op.name = fc.name;
    op.base = fc.call.base;
    op.inputs.assign(fc.call.input_quantizable.size(), FakeQuantize(nullptr));
    slot_of[i] = table->ops.size();
    table->ops.push_back(std::move(op));
  }
  for (const auto& l : s.live) {
    const Point& p = a.points[l.point];
    if (p.target == Target::kFunctionalInput) {
      s.tables[p.host]->ops[slot_of[p.op_index]].inputs[p.input_index] = l.fq;
    } else if (p.target == Target::kFunctionalOutput) {
      s.tables[p.host]->ops[slot_of[p.op_index]].output = l.fq;
    }
  }
  for (auto& [m, t] : s.tables) {
    detail::install_functional_table(*a.walk.at(m).module, t);
  }

  // Stock modules' activations: their ops are found by their weights at the dispatcher,
  // on this thread (and the threads LibTorch starts from it) from now on. The
  // registrations last as long as the weights (a finalized model keeps them).
  for (const auto& [host, site] : sites) {
    const at::Tensor& weight = a.walk.at(host).weight;
    if (!detail::register_intercept_site(weight, site)) {
      throw Error("prepare(): the weight of " + site->name +
                  " is already the weight of a module of another prepared model; quantize a "
                  "copy of the model whose weights are its own");
    }
  }
  if (!sites.empty()) detail::enable_interception_on_this_thread();

  // Observe: weights (refresh) and activations (the example forward).
  for (auto& l : s.live) {
    l.fq->enable_observer(true);
    l.fq->enable_fake_quant(false);
  }
  s.refresh();
  {
    const bool was_training = s.model->is_training();
    s.model->eval();
    try {
      torch::NoGradGuard no_grad;
      run_example();
    } catch (...) {
      s.model->train(was_training);
      throw;
    }
    s.model->train(was_training);
  }
  std::vector<std::string> unreached;
  for (const auto& [host, site] : sites) {
    if (site->calls.load() == 0)
      unreached.push_back(site->name + " (" + a.walk.at(host).type + ")");
  }
  if (!unreached.empty()) {
    std::string msg =
        "prepare(): the example forward never reached these modules' ops, so their activation "
        "fake-quants observed nothing (a module the example does not run, or a LibTorch whose "
        "modules call other ops than eager mode recognises; docs/eager_mode.md):";
    for (const auto& u : unreached) msg += "\n  " + u;
    warn(msg);
  }

  // Remove the points a non-dividing block size disabled.
  std::vector<Live> kept;
  for (auto& l : s.live) {
    if (!l.fq->disabled()) {
      kept.push_back(std::move(l));
      continue;
    }
    Point& p = a.points[l.point];
    auto* host = const_cast<torch::nn::Module*>(l.host);
    switch (p.target) {
      case Target::kWeight: {
        l.weight->unsplit(l.weight->master.detach());
        s.weights.erase(std::remove(s.weights.begin(), s.weights.end(), l.weight), s.weights.end());
        break;
      }
      case Target::kDropInInput:
        dynamic_cast<nn::QuantizedModule*>(host)->detach_input_quantizer();
        break;
      case Target::kDropInOutput:
        dynamic_cast<nn::QuantizedModule*>(host)->detach_output_quantizer();
        break;
      case Target::kInterceptInput:
        sites.at(p.host)->input = nullptr;
        break;
      case Target::kInterceptOutput:
        sites.at(p.host)->output = nullptr;
        break;
      case Target::kStub:
        dynamic_cast<nn::QuantStubImpl*>(host)->attach_quantizer(nullptr);
        break;
      case Target::kFunctionalInput:
        s.tables[p.host]->ops[slot_of[p.op_index]].inputs[p.input_index] = nullptr;
        break;
      case Target::kFunctionalOutput:
        s.tables[p.host]->ops[slot_of[p.op_index]].output = nullptr;
        break;
    }
    host->unregister_module(l.child_name);
    SkippedPoint sp;
    sp.kind = p.plan.kind;
    sp.module = p.plan.module;
    sp.module_type = p.plan.module_type;
    sp.tensor = p.plan.tensor;
    sp.rule = p.plan.rule;
    sp.reason = "the block size does not divide the tensor; left unquantized";
    a.skipped.push_back(sp);
    p.removed = true;
  }
  s.live = std::move(kept);
  // Drop the removed points from the plan.
  {
    std::vector<Point> points;
    std::vector<std::size_t> new_index(a.points.size(), 0);
    for (std::size_t i = 0; i < a.points.size(); ++i) {
      if (a.points[i].removed) continue;
      new_index[i] = points.size();
      points.push_back(std::move(a.points[i]));
    }
    for (auto& l : s.live) l.point = new_index[l.point];
    a.points = std::move(points);
  }

  s.skipped = a.skipped;
  if (!a.skipped.empty()) {
    std::string msg = "eager mode left " + std::to_string(a.skipped.size()) +
                      " requested quantization point(s) unquantized (plan().skipped lists "
                      "them):";
    for (const auto& sp : a.skipped) msg += "\n  " + sp.to_string();
    warn(msg);
  }
  for (const auto& k : r.unmatched_keys()) {
    warn("config key matches nothing in the model: " + k.rule());
  }
  s.analysis = std::move(a);
  s.prepared = true;
  return {s.handle, plan_of(*s.analysis, s.skipped)};
}

FinalizeResult EagerBackend::finalize() {
  EagerBackend& s = *this;
  FinalizeReport report;
  std::int64_t saved = 0;
  for (auto& l : s.live) {
    if (!l.weight) continue;
    detail::EagerWeight& w = *l.weight;
    at::Tensor values;
    {
      torch::NoGradGuard no_grad;
      values = w.fq->forward(w.master).detach().clone();
    }
    const QuantizationSpec& spec = w.fq->config().spec;
    FinalizeReport::Weight r;
    r.name = w.name;
    r.dtype = std::string(dtype_name(spec.dtype));
    r.numel = w.master.numel();
    r.float_bytes = r.numel * static_cast<std::int64_t>(w.master.element_size());
    r.quantized_bytes = quantized_bytes(spec, r.numel, w.fq->scale().numel());
    saved += r.float_bytes - r.quantized_bytes;
    w.unsplit(values);
    const_cast<torch::nn::Module*>(l.host)->unregister_module(l.child_name);
    report.weights.push_back(std::move(r));
  }
  for (const auto& m : s.analysis->walk.modules) {
    if (auto* d = dynamic_cast<nn::QuantizedModule*>(m.module.get())) d->detach_weights();
  }
  std::vector<Live> activations;
  for (auto& l : s.live) {
    if (!l.weight) activations.push_back(std::move(l));
  }
  s.live = std::move(activations);
  s.weights.clear();
  report.parameter_bytes_after = s.handle.state_bytes() - saved;
  return {s.handle, std::move(report)};
}

}  // namespace

}  // namespace quantization

namespace detail {

std::function<void()> eager_runner(const Example& example, const ForwardFn& forward,
                                   const char* what) {
  if (example.run()) return example.run();
  if (!example.has_inputs()) return {};
  if (!forward) {
    throw InvalidArgumentError(
        std::string(what) +
        ": the model's forward cannot be called with positional inputs here (its type is not "
        "known, or its forward does not take one or two tensors); pass a function that runs "
        "the forward pass instead, e.g. `q.prepare([&] { model->forward(x, mask); })`");
  }
  std::vector<c10::IValue> inputs = example.inputs();
  return [forward, inputs] { (void)forward(inputs); };
}

std::unique_ptr<QuantizerBackend> make_eager_backend(const Model& model,
                                                     const QuantizerConfig& config) {
  return std::make_unique<quantization::EagerBackend>(model, config);
}
}  // namespace detail
}  // namespace coreai_opt

// ------------------------------------------------------------ the eager half of the ModelInspector

namespace coreai_opt {
namespace quantization {
namespace {

std::vector<ModuleContext> module_stack_of(const std::string& path,
                                           const std::map<std::string, std::string>& types) {
  std::vector<ModuleContext> stack;
  if (path.empty()) return stack;
  std::size_t pos = 0;
  while (true) {
    const std::size_t dot = path.find('.', pos);
    const std::string prefix = path.substr(0, dot);
    auto it = types.find(prefix);
    stack.push_back({prefix, it == types.end() ? std::string() : it->second});
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return stack;
}

ModuleInfo build_module_info(const std::string& path,
                             const std::map<std::string, std::string>& types,
                             const std::map<std::string, std::vector<std::string>>& children,
                             const std::map<std::string, std::vector<OpInfo>>& ops) {
  ModuleInfo info;
  info.module_name = path;
  info.module_type = types.at(path);
  if (auto it = ops.find(path); it != ops.end()) info.ops = it->second;
  if (auto it = children.find(path); it != children.end()) {
    for (const auto& c : it->second)
      info.child_modules.push_back(build_module_info(c, types, children, ops));
  }
  return info;
}

}  // namespace

}  // namespace quantization

namespace detail {

void inspect_eager(const std::shared_ptr<torch::nn::Module>& model,
                   const std::function<void()>& run_example, quantization::ModuleInfo& root_,
                   std::vector<quantization::OpInfo>& ops_) {
  using namespace quantization;  // NOLINT(google-build-using-namespace)
  const std::vector<TracedCall> traced = trace_forward(*model, run_example);
  const Walk w = walk_model(model);
  std::map<std::string, std::string> types;
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& m : w.modules) {
    types[m.path] = m.type;
    if (m.path.empty()) continue;
    const std::size_t dot = m.path.rfind('.');
    children[dot == std::string::npos ? std::string() : m.path.substr(0, dot)].push_back(m.path);
  }
  std::map<std::string, std::vector<OpInfo>> ops_by_module;
  auto add_op = [&](const std::string& module, const std::string& name, const std::string& type) {
    OpInfo op;
    op.op_name = name;
    op.op_type = type;
    op.module_stack = module_stack_of(module, types);
    ops_by_module[module].push_back(op);
    ops_.push_back(op);
  };
  for (const auto& m : w.modules) {
    if (!m.op_base.empty()) add_op(m.path, join(m.path, m.op_base), m.op_base);
  }
  std::map<std::pair<const torch::nn::Module*, std::string>, int> counters;
  for (const auto& call : traced) {
    auto it = w.index.find(call.caller);
    if (it == w.index.end()) {
      throw InvalidArgumentError("coreai_opt::nn::functional::" + call.base +
                                 " was called with a caller module that is not part of the "
                                 "inspected model");
    }
    const std::string& path = w.modules[it->second].path;
    int& k = counters[{call.caller, call.base}];
    const std::string local = k == 0 ? call.base : call.base + "_" + std::to_string(k);
    ++k;
    add_op(path, join(path, local), call.base);
  }
  root_ = build_module_info("", types, children, ops_by_module);
}

}  // namespace detail
}  // namespace coreai_opt
