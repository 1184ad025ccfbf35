#include "torch/jit/annotate.h"

#include <algorithm>
#include <array>
#include <set>
#include <sstream>

#include "coreai_opt/errors.h"
#include "coreai_opt/format/dtype.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/quantization/axis_defaults.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "torch/jit/patterns.h"

namespace coreai_opt::jit_detail {

using quantization::lookup;
using quantization::ModuleConfigLevel;
using quantization::OpConfigLevel;
using quantization::OpQuantizerConfig;
using quantization::PlanPoint;
using quantization::PointKind;
using quantization::QuantizationSpec;
using quantization::Resolution;
using quantization::TensorKey;

namespace {

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_') ? c : '_';
  return out;
}

// Ops whose outputs have a known range (reference 0.3.0, "op intrinsics"): at
// the output of a pattern ending in one of them, the scheme (integer dtypes
// only: float dtypes are symmetric) and float_range are the op's, whatever the
// config says. relu's upper bound stays observed.
struct OpIntrinsic {
  quantization::QuantizationScheme qscheme;
  std::array<std::optional<double>, 2> float_range;
};

std::optional<OpIntrinsic> op_intrinsic(const GraphOp& op) {
  using quantization::QuantizationScheme;
  constexpr auto kAsym = QuantizationScheme::kAsymmetric;
  constexpr auto kSym = QuantizationScheme::kSymmetric;
  const std::string& t = op.type;
  if (t == "relu" || t == "relu_") return OpIntrinsic{kAsym, {0.0, std::nullopt}};
  if (t == "relu6" || t == "relu6_") return OpIntrinsic{kAsym, {0.0, 6.0}};
  if (t == "sigmoid" || t == "sigmoid_" || t == "hardsigmoid" || t == "hardsigmoid_")
    return OpIntrinsic{kAsym, {0.0, 1.0}};
  if (t == "tanh" || t == "tanh_") return OpIntrinsic{kSym, {-1.0, 1.0}};
  if ((t == "hardtanh" || t == "hardtanh_") && op.node->inputs().size() >= 3) {
    // The bounds are the call's arguments; symmetric only when min == -max.
    const auto lo = torch::jit::toIValue(op.node->input(1));
    const auto hi = torch::jit::toIValue(op.node->input(2));
    if (!lo || !hi || !lo->isScalar() || !hi->isScalar()) return std::nullopt;
    const double min_val = lo->toScalar().toDouble();
    const double max_val = hi->toScalar().toDouble();
    return OpIntrinsic{min_val == -max_val ? kSym : kAsym, {min_val, max_val}};
  }
  return std::nullopt;
}

// `spec` with the intrinsic of `op` applied (unchanged for other ops).
QuantizationSpec with_intrinsic(QuantizationSpec spec, const GraphOp& op) {
  if (auto in = op_intrinsic(op)) {
    if (!coreai_opt::is_float(spec.dtype)) spec.qscheme = in->qscheme;
    spec.float_range = in->float_range;
  }
  return spec;
}

// One fake-quant serving a producer's output and a consumer's input observes
// for both: as in the reference, its float_range is the union of the two specs'
// ranges, an unset (observed) bound being wider than any fixed one. So a
// sigmoid's [0, 1] stays fixed only where no consumer's input spec joins it.
std::array<std::optional<double>, 2> range_union(const std::array<std::optional<double>, 2>& a,
                                                 const std::array<std::optional<double>, 2>& b) {
  std::array<std::optional<double>, 2> out;
  if (a[0] && b[0]) out[0] = std::min(*a[0], *b[0]);
  if (a[1] && b[1]) out[1] = std::max(*a[1], *b[1]);
  return out;
}

// Shape-only ops of reference 0.3.0 that change the rank: no fake-quant is
// shared across them, but the scheme and float_range of the data are carried.
bool is_rank_changing(const std::string& t) {
  static const std::set<std::string> k = {"expand",  "reshape",   "select",
                                          "squeeze", "unsqueeze", "view"};
  return k.count(t) > 0;
}

// A pattern: its ops in order, the first being the key.
struct Pattern {
  std::vector<const GraphOp*> ops;
  const quantization::OpResolution* res = nullptr;
  ModuleConfigLevel module_level = ModuleConfigLevel::kGlobal;
  OpConfigLevel op_level = OpConfigLevel::kDefault;
  std::size_t order = 0;
};

// A module-level input or output spec found for one boundary tensor.
struct ModuleRequest {
  std::optional<QuantizationSpec> spec;  // nullopt: a null key
  std::size_t point = 0;                 // its plan point
  std::string base, what, module;        // for the fake-quant it may need
};

class Annotator {
 public:
  Annotator(const torch::jit::Module& root, const AnalyzedGraph& a,
            const quantization::QuantizerConfig& config,
            const std::unordered_map<const Value*, at::Tensor>& probe)
      : root_(root),
        a_(a),
        probe_(probe),
        tree_(module_tree(root)),
        res_(Resolution::resolve(config, describe(tree_, a))) {
    for (const auto& e : tree_) {
      type_of_[e.path] = e.type;
      canonical_[e.path] = e.canonical;
    }
    // Every local name of every state tensor, over all the modules that hold it.
    const auto add = [&](const std::string& path, const at::Tensor& t) {
      if (!t.defined()) return;
      const std::size_t dot = path.rfind('.');
      auto& names = state_names_[t.unsafeGetTensorImpl()];
      const std::string local = dot == std::string::npos ? path : path.substr(dot + 1);
      if (std::find(names.begin(), names.end(), local) == names.end()) names.push_back(local);
    };
    for (const auto& p : root_.named_parameters(/*recurse=*/true)) add(p.name, p.value);
    for (const auto& b : root_.named_buffers(/*recurse=*/true)) add(b.name, b.value);
  }

  Annotation run() {
    for (const auto& k : res_.unmatched_keys()) warn(k.rule() + " matches nothing in the model");
    auto patterns = find_patterns();
    for (const Pattern& p : patterns) {
      for (const GraphOp* o : p.ops) covered_.insert(o);
    }
    for (const Pattern& p : patterns) {
      annotate_pattern(p);
      ++priority_;
    }
    share_across_passthrough();
    inherit_data_facts();
    annotate_module_specs();
    annotate_module_states();
    resolve_axes_and_blocks();
    add_declined_ops();
    finish_points();
    return std::move(ann_);
  }

 private:
  void warn(const std::string& m) { ann_.warnings.push_back(m); }

  std::string canon(const std::string& path) const {
    auto it = canonical_.find(path);
    return it == canonical_.end() ? path : it->second;
  }
  std::string node_module(const Node* n) const {
    auto it = a_.node_path.find(n);
    return canon(it == a_.node_path.end() ? std::string() : it->second);
  }
  std::string type_of(const std::string& path) const {
    auto it = type_of_.find(path);
    return it == type_of_.end() ? std::string() : it->second;
  }

  // nullopt: unknown (no example inputs).
  // A float tensor of more than one element (reference nightly: tensors of at most one
  // element are never quantized, as in eager mode); unknown without an example value.
  std::optional<bool> quantizable_value(const Value* v) const {
    auto it = probe_.find(v);
    if (it == probe_.end()) return std::nullopt;
    return at::isFloatingType(it->second.scalar_type()) && it->second.numel() > 1;
  }
  bool quantizable(const GraphOp& op, std::size_t i) const {
    const TensorInput& in = op.inputs[i];
    if (auto f = quantizable_value(in.value)) return *f;
    // Without example values: embedding indices are the one integer input we know.
    return !(op.type == "embedding" && in.input_index == 1);
  }

  // The one op that consumes op's output as its first input, ignoring shape
  // queries (scripted BatchNorm checks input.size() in its training branch).
  const GraphOp* single_op_consumer(const GraphOp& op) const {
    const Value* out = op.node->output(0);
    const torch::jit::Use* data_use = nullptr;
    for (const auto& u : out->uses()) {
      bool tensor_out =
          u.user->kind() == c10::prim::ListConstruct || u.user->kind() == c10::prim::TupleConstruct;
      for (const Value* o : u.user->outputs())
        tensor_out = tensor_out || o->type()->isSubtypeOf(*c10::TensorType::get());
      const bool shape_query =
          a_.op_of(u.user) == nullptr && u.user != a_.graph->return_node() && !tensor_out;
      if (shape_query) continue;
      if (data_use != nullptr) return nullptr;
      data_use = &u;
    }
    if (data_use == nullptr || data_use->offset != 0) return nullptr;
    const GraphOp* next = a_.op_of(data_use->user);
    if (next == nullptr || !next->top_level) return nullptr;
    return next;
  }

  std::vector<Pattern> find_patterns() {
    std::vector<Pattern> out;
    std::set<const GraphOp*> used;
    std::size_t order = 0;
    std::vector<std::string> in_blocks;  // quantizable ops graph mode cannot reach
    for (const auto& op : a_.ops) {
      ++order;
      if (!op.top_level) {
        if ((is_weighted(op.type) || is_compressible(op)) &&
            !res_.op(op.name).config->is_disabled()) {
          in_blocks.push_back(op.name + " [" + op.type + "]");
        }
        continue;
      }
      Pattern p;
      p.ops.push_back(&op);
      const bool weighted = is_weighted(op.type);
      if (weighted) {
        if (const GraphOp* bn = single_op_consumer(op);
            bn != nullptr && bn->type == "batch_norm") {
          p.ops.push_back(bn);
        }
      }
      if (weighted || (is_nary(op.type) && op.type.rfind("sub", 0) != 0)) {
        if (const GraphOp* act = single_op_consumer(*p.ops.back());
            act != nullptr && is_fusable_activation(act->type)) {
          p.ops.push_back(act);
        }
      }
      if (!weighted && !is_compressible(op)) continue;
      p.res = &res_.op(op.name);
      p.module_level = p.res->module_level;
      p.op_level = p.res->level;
      p.order = order;
      out.push_back(std::move(p));
    }
    std::stable_sort(out.begin(), out.end(), [](const Pattern& x, const Pattern& y) {
      if (x.module_level != y.module_level) return x.module_level < y.module_level;
      if (x.op_level != y.op_level) return x.op_level < y.op_level;
      if (x.ops.size() != y.ops.size()) return x.ops.size() > y.ops.size();
      return x.order < y.order;
    });
    if (!in_blocks.empty()) {
      std::string list;
      for (const auto& n : in_blocks) list += (list.empty() ? "" : ", ") + n;
      warn("ops inside if/loop blocks are not quantized in graph mode, although the config asks "
           "for it: " + list);
    }
    // A pattern is annotated only when none of its ops is already taken.
    std::vector<Pattern> kept;
    for (auto& p : out) {
      bool free = true;
      for (const GraphOp* o : p.ops) free = free && used.count(o) == 0;
      if (!free) continue;
      for (const GraphOp* o : p.ops) used.insert(o);
      kept.push_back(std::move(p));
    }
    return kept;
  }

  std::size_t new_fq(const std::string& base, const QuantizationSpec& spec, bool weight,
                     const std::string& what, const std::string& module) {
    FqDef f;
    std::string name = sanitize(base);
    for (int k = 1; names_.count(name) > 0; ++k) name = sanitize(base) + "_" + std::to_string(k);
    names_.insert(name);
    f.name = name;
    f.prefix = "_fq_" + name + "_";
    f.spec = spec;
    f.weight = weight;
    f.what = what;
    f.module = module;
    if (auto s = res_.module(module).config->qat_schedule) f.schedule = s;
    ann_.fqs.push_back(std::move(f));
    fq_priority_.push_back(priority_);
    intrinsic_scheme_.push_back(false);
    return ann_.fqs.size() - 1;
  }

  std::size_t add_point(PlanPoint p, std::optional<std::size_t> fq) {
    ann_.points.push_back(std::move(p));
    ann_.point_fq.push_back(fq);
    return ann_.points.size() - 1;
  }

  PlanPoint op_point(PointKind kind, const GraphOp& op, std::string tensor,
                     std::string rule) const {
    PlanPoint p;
    p.kind = kind;
    p.op_name = op.name;
    p.op_type = op.type;
    p.module = canon(op.module);
    p.module_type = type_of(p.module);
    p.tensor = std::move(tensor);
    p.rule = std::move(rule);
    return p;
  }

  static UseKey use_of(const GraphOp& op, const TensorInput& in) {
    return UseKey{op.node, in.input_index, in.list_index ? *in.list_index + 1 : 0};
  }

  // An input FQ on value v with `spec`, shared with other uses of v that have an
  // equal spec ("one fake-quant per edge").
  std::size_t input_fq_for(const Value* v, const QuantizationSpec& spec, const GraphOp& op,
                           std::size_t index) {
    for (const auto& [use, fq] : ann_.input_fq)
      if (ann_.use_value[use] == v && ann_.fqs[fq].spec == spec) return fq;
    return new_fq(op.name + "_input_" + std::to_string(index), spec, false,
                  "input " + std::to_string(index) + " of " + op.name, canon(op.module));
  }

  void annotate_pattern(const Pattern& p) {
    const GraphOp& key = *p.ops.front();
    const OpQuantizerConfig& c = *p.res->config;
    const std::string rule = p.res->provenance();
    // An explicit input index that lands on a state is a config error.
    for (const auto& [k, spec] : c.op_input_spec) {
      (void)spec;
      if (!k.is_index()) continue;
      const auto i = static_cast<std::size_t>(k.index());
      if (i < key.inputs.size() && key.inputs[i].state) {
        throw Error("Config is attempting to set op_input_spec idx " + std::to_string(i) +
                    ", but the input is a state tensor (node: " + key.name +
                    "). Use op_state_spec to configure state tensors.");
      }
    }

    const bool shared_observer = is_shared_observer(key.type);
    std::optional<std::size_t> group;
    for (std::size_t i = 0; i < key.inputs.size(); ++i) {
      const TensorInput& in = key.inputs[i];
      if (in.state) continue;
      const auto* found = lookup(c.op_input_spec, TensorKey(static_cast<std::int64_t>(i)));
      const bool explicit_key = c.op_input_spec.contains(TensorKey(static_cast<std::int64_t>(i)));
      if (!quantizable(key, i)) {
        if (explicit_key) {
          warn("Config is attempting to set op_input_spec idx " + std::to_string(i) + " of " +
               key.name + " but the tensor is not a quantizable floating point tensor");
        }
        continue;
      }
      const UseKey use = use_of(key, in);
      ann_.use_value[use] = in.value;
      auto vf = ann_.value_fq.find(in.value);
      if (vf != ann_.value_fq.end()) {  // the producer's output fake-quant serves this edge
        if (found != nullptr && found->has_value() && !ann_.fqs[vf->second].weight) {
          QuantizationSpec& spec = ann_.fqs[vf->second].spec;
          spec.float_range = range_union(spec.float_range, (**found).float_range);
        }
        add_point(op_point(PointKind::kOpInput, key, std::to_string(i),
                           rule + " (shares " + ann_.fqs[vf->second].name + ")"),
                  vf->second);
        if (shared_observer && i == 0) group = vf->second;
        continue;
      }
      if (shared_observer && i > 0) {
        if (group) {
          ann_.input_fq[use] = *group;
          add_point(op_point(PointKind::kOpInput, key, std::to_string(i),
                             rule + " (shares " + ann_.fqs[*group].name + ")"),
                    *group);
        }
        continue;
      }
      if (found == nullptr) continue;
      if (!found->has_value()) {
        declined_inputs_[use] =
            add_point(op_point(PointKind::kOpInput, key, std::to_string(i), rule), std::nullopt);
        continue;
      }
      const std::size_t fq = input_fq_for(in.value, **found, key, i);
      ann_.input_fq[use] = fq;
      if (shared_observer) group = fq;
      add_point(op_point(PointKind::kOpInput, key, std::to_string(i), rule), fq);
    }

    // Output of the last op of the pattern.
    const GraphOp& last = *p.ops.back();
    const Value* out = last.node->output(0);
    if (quantizable_value(out).value_or(true)) {
      std::optional<std::size_t> consumer_fq;
      for (const auto& [use, fq] : ann_.input_fq) {
        if (ann_.use_value[use] == out) {
          consumer_fq = fq;
          break;
        }
      }
      const auto* found = lookup(c.op_output_spec, TensorKey(std::int64_t{0}));
      // flatten and mean change the rank: their output joins the input's
      // per-tensor fake-quant through a view of the input's rank.
      std::optional<std::int64_t> in_rank, out_rank;
      if (auto it = probe_.find(key.inputs.front().value); it != probe_.end())
        in_rank = it->second.dim();
      if (auto it = probe_.find(out); it != probe_.end()) out_rank = it->second.dim();
      const bool rank_changes = in_rank && out_rank && *in_rank != *out_rank;
      // As in the reference, a fake-quant shared across a channel-altering op is
      // per-tensor.
      if (shared_observer && group && rank_changes && !ann_.fqs[*group].weight)
        ann_.fqs[*group].spec.granularity = quantization::PerTensorGranularity();
      if (shared_observer && group &&
          (!rank_changes ||
           ann_.fqs[*group].spec.granularity.type == quantization::GranularityType::kPerTensor)) {
        if (ann_.value_fq.count(out) == 0) {
          ann_.value_fq[out] = *group;
          if (rank_changes) ann_.adapt_rank[out] = *in_rank;
        }
        add_point(op_point(PointKind::kOpOutput, key, "0",
                           rule + " (shares " + ann_.fqs[*group].name + ")"),
                  *group);
      } else if (shared_observer && group) {
        warn("the output of " + key.name +
             " has another rank than its input, so it cannot share "
             "the input's " +
             std::string(quantization::to_string(ann_.fqs[*group].spec.granularity.type)) +
             " fake-quant " + ann_.fqs[*group].name + "; it is left unquantized");
      } else if (consumer_fq && !c.is_disabled() && (found == nullptr || found->has_value())) {
        // The edge shares the consumer's fake-quant unless this op declines its
        // output (a null key) or is disabled: then, as in the reference, the
        // consumer's input fake-quant serves that consumer alone. The op's
        // intrinsic outranks the consumer's spec, as it outranks its own.
        ann_.value_fq[out] = *consumer_fq;
        if (found != nullptr) {
          QuantizationSpec& spec = ann_.fqs[*consumer_fq].spec;
          const QuantizationSpec own = with_intrinsic(**found, last);
          if (op_intrinsic(last) && !coreai_opt::is_float(spec.dtype)) {
            spec.qscheme = own.qscheme;
            intrinsic_scheme_[*consumer_fq] = true;
          }
          spec.float_range = range_union(spec.float_range, own.float_range);
        }
        add_point(op_point(PointKind::kOpOutput, key, "0",
                           rule + " (shares " + ann_.fqs[*consumer_fq].name + ")"),
                  *consumer_fq);
      } else if (found != nullptr) {
        if (found->has_value()) {
          std::string module = canon(last.module);
          for (const auto& u : out->uses())
            if (const GraphOp* cons = a_.op_of(u.user)) {
              module = canon(cons->module);
              break;
            }
          const std::size_t fq = new_fq(key.name + "_output", with_intrinsic(**found, last), false,
                                        "output of " + key.name, module);
          ann_.value_fq[out] = fq;
          intrinsic_scheme_[fq] =
              op_intrinsic(last) && !coreai_opt::is_float(ann_.fqs[fq].spec.dtype);
          add_point(op_point(PointKind::kOpOutput, key, "0", rule), fq);
        } else {
          declined_outputs_[out] =
              add_point(op_point(PointKind::kOpOutput, key, "0", rule), std::nullopt);
        }
      }
    }

    // States of the key op (weighted ops and embedding).
    if (!is_weighted(key.type) && key.type != "embedding") return;
    std::size_t weight_fq = SIZE_MAX;
    for (const StateInput& s : key.states) {
      const at::Tensor t = submodule(root_, s.owner).attr(s.local_name).toTensor();
      // A shared state is matched under every local name it has (reference 0.3.0).
      std::vector<std::string> names{s.local_name};
      if (auto it = state_names_.find(t.unsafeGetTensorImpl()); it != state_names_.end()) {
        for (const auto& n : it->second)
          if (n != s.local_name) names.push_back(n);
      }
      std::string several;
      const auto* found = lookup(c.op_state_spec, names, &several);
      if (!several.empty()) warn(several);
      if (found == nullptr) continue;
      if (!at::isFloatingType(t.scalar_type())) continue;
      if (!found->has_value()) {
        add_point(op_point(PointKind::kOpState, key, s.local_name, rule), std::nullopt);
        continue;
      }
      std::optional<std::size_t> fq;
      for (std::size_t k = 0; k < ann_.fqs.size(); ++k)
        if (ann_.fqs[k].weight && ann_.fqs[k].weight_tensor.is_same(t)) fq = k;
      if (fq) {  // the first annotated consumer decided the spec
        add_point(op_point(PointKind::kOpState, key, s.local_name,
                           rule + " (shares " + ann_.fqs[*fq].name + ")"),
                  *fq);
      } else {
        fq = new_fq(key.name + "_" + s.local_name, **found, true,
                    s.local_name + " of " + (s.owner.empty() ? "<root>" : canon(s.owner)) + " (" +
                        key.name + ")",
                    canon(key.module));
        ann_.fqs[*fq].weight_tensor = t;
        ann_.fqs[*fq].weight_path = s.path;
        add_point(op_point(PointKind::kOpState, key, s.local_name, rule), *fq);
      }
      ann_.fqs[*fq].consumer_types.push_back(key.type);
      ann_.state_uses[*fq].emplace_back(key.node, s.input_index);
      if (s.argument == "weight") weight_fq = *fq;
    }
    // conv/linear + batch_norm: BN scaling folded in front of the weight fake-quant.
    if (p.ops.size() >= 2 && p.ops[1]->type == "batch_norm" && weight_fq != SIZE_MAX &&
        ann_.fqs[weight_fq].consumer_types.size() == 1) {
      const GraphOp& bn = *p.ops[1];
      BnFold f;
      f.conv_op = key.name;
      f.bn_op = bn.name;
      f.bn_module = canon(bn.module);
      f.transposed = key.type.rfind("conv_transpose", 0) == 0;
      f.linear = key.type == "linear";
      for (const StateInput& s : key.states)
        if (s.argument == "bias") f.conv_bias = s.path;
      for (const StateInput& s : bn.states) {
        if (s.argument == "weight") f.bn_weight = s.path;
        if (s.argument == "bias") f.bn_bias = s.path;
        if (s.argument == "running_mean") f.bn_mean = s.path;
        if (s.argument == "running_var") f.bn_var = s.path;
      }
      auto eps =
          bn.node->inputs().size() > 7 ? torch::jit::toIValue(bn.node->input(7)) : std::nullopt;
      if (eps && eps->isDouble()) f.eps = eps->toDouble();
      // Folding needs the running statistics and a constant eps.
      if (!f.bn_mean.empty() && !f.bn_var.empty() && eps && eps->isDouble())
        ann_.fqs[weight_fq].fold = f;
    }
  }

  // Module-level input / output specs: TYPE-level modules first, then NAME-level.
  // As in reference 0.3.0 they are not part of the sharing decisions above: they
  // overwrite the annotation of the boundary node's side of an edge only (a
  // later module config overwriting an earlier one), and the fake-quants follow
  // from torchao's rules for such an annotation (resolve_module_specs).
  // The request of module `m`'s boundary input or output `idx`, with its plan
  // point added; `found` is the config entry (nullopt: the key says null).
  template <class Module>
  ModuleRequest module_request(const Module& m, const std::string& rule, PointKind kind,
                               std::int64_t idx, const std::optional<QuantizationSpec>& found,
                               const Value* value) {
    const bool input = kind == PointKind::kModuleInput;
    PlanPoint p;
    p.kind = kind;
    p.module = m.name;
    p.module_type = m.type;
    p.tensor = std::to_string(idx);
    p.rule = rule + (input ? " > module_input_spec" : " > module_output_spec");
    ModuleRequest r;
    if (found.has_value() && quantizable_value(value).value_or(true)) r.spec = *found;
    r.point = add_point(p, std::nullopt);
    r.base = m.name + (input ? "_module_input_" : "_module_output_") + std::to_string(idx);
    r.what = (input ? "input " : "output ") + std::to_string(idx) + " of module " + m.name;
    r.module = m.name;
    return r;
  }

  void annotate_module_specs() {
    std::map<UseKey, ModuleRequest> inputs;
    std::vector<UseKey> input_order;
    std::map<const Value*, ModuleRequest> outputs;
    std::vector<const Value*> output_order;
    auto request = [&](auto& table, auto& order, const auto& key, ModuleRequest r) {
      auto [it, fresh] = table.emplace(key, r);
      if (fresh) {
        order.push_back(key);
        return;
      }
      ann_.points[it->second.point].rule += " (overwritten by " + ann_.points[r.point].rule + ")";
      it->second = std::move(r);
    };
    for (ModuleConfigLevel level : {ModuleConfigLevel::kType, ModuleConfigLevel::kName}) {
      for (const auto& m : res_.modules()) {
        if (m.level != level || m.inherited() || !m.config->has_module_level_specs()) continue;
        const std::string rule = m.rule();
        // Boundary inputs, in graph order.
        std::int64_t k = 0;
        for (const auto& op : a_.ops) {
          if (!op.top_level || !path_within(canon(op.module), m.name)) continue;
          for (const TensorInput& in : op.inputs) {
            if (in.state) continue;
            const Node* prod = in.value->node();
            if (prod->kind() == c10::prim::Constant) continue;
            // Nodes of the root forward itself have no path entry: module "".
            const bool inside =
                prod->kind() != c10::prim::Param && path_within(node_module(prod), m.name);
            if (inside) continue;
            const std::int64_t idx = k++;
            const auto* found = lookup(m.config->module_input_spec, TensorKey(idx));
            if (found == nullptr) continue;
            const UseKey use = use_of(op, in);
            ann_.use_value[use] = in.value;
            request(inputs, input_order, use,
                    module_request(m, rule, PointKind::kModuleInput, idx, *found, in.value));
          }
        }
        // Boundary outputs: module ops with a user outside.
        k = 0;
        for (const auto& op : a_.ops) {
          if (!op.top_level || !path_within(canon(op.module), m.name)) continue;
          const Value* out = op.node->output(0);
          bool leaves = false;
          for (const auto& u : out->uses()) {
            const Node* user = u.user;
            if (user == a_.graph->return_node() || !path_within(node_module(user), m.name)) {
              leaves = true;
            }
          }
          if (!leaves) continue;
          const std::int64_t idx = k++;
          const auto* found = lookup(m.config->module_output_spec, TensorKey(idx));
          if (found == nullptr) continue;
          request(outputs, output_order, out,
                  module_request(m, rule, PointKind::kModuleOutput, idx, *found, out));
        }
      }
    }
    // Outputs first: an input request compares its spec with the producer's
    // output annotation as it stands after the output requests.
    for (const Value* out : output_order) resolve_module_output(out, outputs.at(out));
    for (const UseKey& use : input_order) resolve_module_input(use, inputs.at(use));
  }

  // torchao gives an edge and another edge or the output of the same tensor one
  // observer when the two annotations agree on the dtype and the integer range
  // (its implicit sharing); calculators, granularity and float ranges are not
  // compared, and the spec of the first annotation in graph order builds it.
  static bool same_observer_kind(const QuantizationSpec& a, const QuantizationSpec& b) {
    return a.dtype == b.dtype && a.quant_min() == b.quant_min() && a.quant_max() == b.quant_max();
  }

  static bool node_before(const Node* a, const Node* b) {
    if (a == b || b->kind() == c10::prim::Param) return false;
    return a->kind() == c10::prim::Param || a->isBefore(b);
  }

  // Whether the output slot of `out` is the first slot (graph order, a node's
  // inputs before its output) that fake-quant `k` serves: the reference puts
  // the concrete spec there and a shared spec pointing at it everywhere else.
  bool first_slot_of(std::size_t k, const Value* out) const {
    const Node* p = out->node();
    for (const auto& [v, f] : ann_.value_fq)
      if (f == k && v != out && node_before(v->node(), p)) return false;
    for (const auto& [use, f] : ann_.input_fq) {
      const Node* n = std::get<0>(use);
      if (f == k && (n == p || node_before(n, p))) return false;
    }
    return true;
  }

  // Every reference to fake-quant `from` now names `to`.
  void redirect(std::size_t from, std::size_t to, const std::string& note) {
    for (auto& [v, f] : ann_.value_fq)
      if (f == from) f = to;
    for (auto& [u, f] : ann_.input_fq)
      if (f == from) f = to;
    for (auto& [u, f] : ann_.input_after)
      if (f == from) f = to;
    for (std::size_t i = 0; i < ann_.points.size(); ++i) {
      if (ann_.point_fq[i] != from) continue;
      ann_.point_fq[i] = to;
      ann_.points[i].rule += note;
    }
  }

  // module_output_spec on `out`: the reference overwrites the producer's output
  // annotation.
  void resolve_module_output(const Value* out, const ModuleRequest& r) {
    std::string& rule = ann_.points[r.point].rule;
    auto vf = ann_.value_fq.find(out);
    if (vf != ann_.value_fq.end()) {
      const std::size_t f = vf->second;
      const std::string name = ann_.fqs[f].name;
      if (first_slot_of(f, out)) {
        // The output carried the group's concrete spec, which every other slot
        // of the group points at: the module's spec replaces it for all of them.
        // A null leaves the others pointing at nothing, which the reference
        // rejects (KeyError in torchao's prepare) unless the output is alone.
        if (!r.spec) {
          ann_.value_fq.erase(vf);
          return;
        }
        ann_.fqs[f].spec = *r.spec;
        intrinsic_scheme_[f] = false;
        ann_.point_fq[r.point] = f;
        rule += " (sets the spec of " + name + ")";
        return;
      }
      // The group's spec sits on an earlier slot (the input of a shape-only or
      // shared-observer op): the consumers keep reading the group's instance.
      if (!r.spec) {
        rule += " (" + name + " still serves the consumers: shared from an earlier slot)";
      } else if (same_observer_kind(*r.spec, ann_.fqs[f].spec)) {
        ann_.point_fq[r.point] = f;
        rule += " (joins " + name + ": same dtype and range)";
      } else {
        const std::size_t k = new_fq(r.base, *r.spec, false, r.what, r.module);
        ann_.output_before[out] = k;
        ann_.point_fq[r.point] = k;
        rule += " (called before " + name + ")";
      }
      return;
    }
    if (!r.spec) return;  // nothing observed the output: the consumers' inputs stay
    const std::size_t k = new_fq(r.base, *r.spec, false, r.what, r.module);
    ann_.value_fq[out] = k;
    ann_.point_fq[r.point] = k;
    // The consumers' own input fake-quants: one that agrees joins the output's
    // (built from the module's spec, the first annotation in graph order);
    // another is called after it.
    std::vector<bool> gone(ann_.fqs.size(), false);
    std::vector<UseKey> after;
    for (const auto& [use, y] : ann_.input_fq) {
      if (ann_.use_value[use] != out || y == k) continue;
      if (same_observer_kind(ann_.fqs[y].spec, *r.spec)) {
        gone[y] = true;
        redirect(y, k, " (joins " + ann_.fqs[k].name + ", the module's output)");
      } else {
        after.push_back(use);
      }
    }
    for (const UseKey& use : after) {
      ann_.input_after[use] = ann_.input_fq.at(use);
      ann_.input_fq.erase(use);
    }
    compact(gone);
  }

  // module_input_spec on one use: the reference overwrites the consumer's side
  // of the edge; the producer's output annotation stays.
  void resolve_module_input(const UseKey& use, const ModuleRequest& r) {
    std::string& rule = ann_.points[r.point].rule;
    const Value* v = ann_.use_value.at(use);
    ann_.input_fq.erase(use);
    ann_.input_after.erase(use);
    auto vf = ann_.value_fq.find(v);
    const bool produced = vf != ann_.value_fq.end();
    if (!r.spec) {
      if (produced)
        rule += " (declines the consumer's side only: " + ann_.fqs[vf->second].name +
                ", the producer's output fake-quant, still serves the edge)";
      return;
    }
    if (produced && same_observer_kind(*r.spec, ann_.fqs[vf->second].spec)) {
      ann_.point_fq[r.point] = vf->second;
      rule += " (joins " + ann_.fqs[vf->second].name + ": same dtype and range)";
      return;
    }
    // torchao looks at the other consumers' edges of the tensor first.
    auto& table = produced ? ann_.input_after : ann_.input_fq;
    std::optional<std::size_t> other;
    bool first = true;
    for (const auto& [u, k] : table) {
      if (ann_.use_value[u] != v || !same_observer_kind(*r.spec, ann_.fqs[k].spec)) continue;
      if (!other) other = k;
      if (k == *other && !node_before(std::get<0>(use), std::get<0>(u))) first = false;
    }
    if (other) {
      if (first) ann_.fqs[*other].spec = *r.spec;
      table[use] = *other;
      ann_.point_fq[r.point] = *other;
      rule += " (joins " + ann_.fqs[*other].name + ", another consumer's: same dtype and range)";
      return;
    }
    const std::size_t k = new_fq(r.base, *r.spec, false, r.what, r.module);
    table[use] = k;
    ann_.point_fq[r.point] = k;
    if (produced) rule += " (called after " + ann_.fqs[vf->second].name + ")";
  }

  // module_state_spec: overrides op_state_spec for every consumer of a parameter.
  void annotate_module_states() {
    // Owners of each parameter tensor, in module-tree order.
    std::vector<std::pair<at::Tensor, std::vector<std::pair<std::string, std::string>>>> owners;
    for (const auto& e : tree_) {
      for (const auto& p : e.module.named_parameters(false)) {
        auto it = std::find_if(owners.begin(), owners.end(),
                               [&](const auto& o) { return o.first.is_same(p.value); });
        if (it == owners.end()) {
          owners.emplace_back(p.value, std::vector<std::pair<std::string, std::string>>{});
          it = owners.end() - 1;
        }
        it->second.emplace_back(e.path, p.name);
      }
    }
    bool any = false;
    for (const auto& m : res_.modules()) any = any || !m.config->module_state_spec.empty();
    if (!any) return;
    for (const auto& [tensor, who] : owners) {
      auto ov = res_.module_state_spec_for(who);
      if (!ov) continue;
      // Every use of the parameter by a top-level op.
      std::vector<std::pair<Node*, std::size_t>> uses;
      std::vector<std::string> types;
      std::string first_module;
      for (const auto& op : a_.ops) {
        if (!op.top_level) continue;
        for (const StateInput& s : op.states) {
          if (!submodule(root_, s.owner).attr(s.local_name).toTensor().is_same(tensor)) continue;
          uses.emplace_back(op.node, s.input_index);
          types.push_back(op.type);
          if (first_module.empty()) first_module = canon(op.module);
        }
      }
      if (uses.empty()) continue;
      // Drop op-level fake-quants of this parameter.
      for (std::size_t k = 0; k < ann_.fqs.size(); ++k) {
        if (ann_.fqs[k].weight && ann_.fqs[k].weight_tensor.is_same(tensor)) {
          ann_.state_uses.erase(k);
          ann_.fqs[k].skipped = true;
          ann_.fqs[k].fold.reset();
          for (std::size_t i = 0; i < ann_.points.size(); ++i) {
            if (ann_.point_fq[i] != k) continue;
            ann_.point_fq[i].reset();
            ann_.points[i].rule += " (overridden by module_state_spec)";
          }
        }
      }
      PlanPoint p;
      p.kind = PointKind::kModuleState;
      p.module = ov->module;
      p.module_type = type_of(ov->module);
      p.tensor = ov->local_name;
      p.rule = ov->provenance();
      if (!ov->spec || !at::isFloatingType(tensor.scalar_type())) {
        add_point(p, std::nullopt);
        continue;
      }
      const std::string path =
          ov->module.empty() ? ov->local_name : ov->module + "." + ov->local_name;
      const std::size_t fq = new_fq(
          path, *ov->spec, true,
          ov->local_name + " of " + (ov->module.empty() ? "<root>" : ov->module), first_module);
      ann_.fqs[fq].weight_tensor = tensor;
      ann_.fqs[fq].weight_path = path;
      ann_.fqs[fq].consumer_types = types;
      ann_.state_uses[fq] = uses;
      add_point(p, fq);
    }
  }

  void resolve_axes_and_blocks() {
    std::vector<quantization::WeightAxisRequest> reqs;
    std::vector<std::size_t> idx;
    std::vector<std::pair<std::string, quantization::Granularity>> acts;
    for (std::size_t k = 0; k < ann_.fqs.size(); ++k) {
      const FqDef& f = ann_.fqs[k];
      if (f.skipped) continue;
      if (f.weight) {
        reqs.push_back({f.name, f.spec.granularity, f.consumer_types});
        idx.push_back(k);
      } else {
        acts.emplace_back(f.name, f.spec.granularity);
      }
    }
    const auto gs = quantization::apply_weight_axis_defaults(reqs);
    for (std::size_t i = 0; i < idx.size(); ++i) ann_.fqs[idx[i]].spec.granularity = gs[i];
    quantization::check_activation_axes(acts);

    // Blocks that do not divide: the point is skipped with a warning.
    for (std::size_t k = 0; k < ann_.fqs.size(); ++k) {
      FqDef& f = ann_.fqs[k];
      if (f.skipped) continue;
      std::vector<std::vector<std::int64_t>> shapes;
      if (f.weight) {
        shapes.push_back(f.weight_tensor.sizes().vec());
      } else {
        for (const auto& [v, fq] : ann_.value_fq)
          if (fq == k && probe_.count(v)) shapes.push_back(probe_.at(v).sizes().vec());
        for (const auto& [use, fq] : ann_.input_fq)
          if (fq == k && probe_.count(ann_.use_value[use]))
            shapes.push_back(probe_.at(ann_.use_value[use]).sizes().vec());
      }
      const TensorRole role = f.weight ? TensorRole::kWeight : TensorRole::kActivation;
      for (const auto& shape : shapes) {
        try {
          (void)block_size_for(f.spec.granularity, shape, role);
        } catch (const BlockSizeMismatchError& e) {
          warn(block_mismatch_warning(f.what, role, shape, e.what()));
          f.skipped = true;
          f.fold.reset();
          break;
        }
      }
    }
  }

  // Shape-only ops that keep the rank (reference 0.3.0: clone, dropout,
  // feature_dropout, permute, slice, t, transpose). TorchScript spells `.mT` as
  // mT and `.T` as numpy_T (transpose and permute in torch.export); contiguous
  // is a clone there only when its input is not contiguous (otherwise it
  // vanishes, so it is not treated as one). In-place forms are left out.
  bool is_rank_preserving(const GraphOp& op) const {
    static const std::set<std::string> k = {"clone",     "dropout", "feature_dropout",
                                            "permute",   "slice",   "t",
                                            "transpose", "mT",      "numpy_T"};
    if (!op.top_level || op.inputs.empty() || op.inputs[0].input_index != 0 || op.inputs[0].state ||
        op.node->outputs().size() != 1 ||
        !op.node->output(0)->type()->isSubtypeOf(*c10::TensorType::get()))
      return false;
    if (op.type == "contiguous") {
      auto it = probe_.find(op.inputs[0].value);
      return it != probe_.end() && !it->second.is_contiguous();
    }
    return k.count(op.type) > 0;
  }
  // Ops that keep every value where it was (a per-channel or per-block group
  // may cross them).
  static bool keeps_layout(const std::string& t) {
    return t == "clone" || t == "contiguous" || t == "dropout" || t == "feature_dropout";
  }

  // Reference 0.3.0 gives the slots around a rank-preserving pass-through op,
  // its producer's output (when the producer is annotated or itself shape-only)
  // and its consumers' inputs (annotated or shape-only consumers), one
  // fake-quant, across chains of such ops; it is called at every output in the
  // group, so a moving average is updated once per call. A decline in the group
  // counts only if every member declines or has no spec: otherwise the merged
  // spec quantizes the declined sides too, and a producer output observed that
  // way is shared with its other consumers' input specs (the adjacent-edge
  // rule). Fields merge by priority (the highest-priority pattern's spec, an op
  // intrinsic's qscheme first), float ranges by union.
  void share_across_passthrough() {
    struct Slot {
      const Value* value = nullptr;  // the tensor
      std::optional<UseKey> use;     // an input slot; an output slot without
    };
    std::vector<Slot> slots;
    std::vector<std::size_t> parent;
    std::map<const Value*, std::size_t> out_id;
    std::map<UseKey, std::size_t> in_id;
    auto out_slot = [&](const Value* v) {
      auto [it, fresh] = out_id.emplace(v, slots.size());
      if (fresh) {
        slots.push_back({v, std::nullopt});
        parent.push_back(it->second);
      }
      return it->second;
    };
    auto in_slot = [&](const UseKey& u, const Value* v) {
      auto [it, fresh] = in_id.emplace(u, slots.size());
      if (fresh) {
        slots.push_back({v, u});
        parent.push_back(it->second);
      }
      return it->second;
    };
    auto find = [&](std::size_t x) {
      while (parent[x] != x) x = parent[x] = parent[parent[x]];
      return x;
    };
    auto unite = [&](std::size_t x, std::size_t y) { parent[find(x)] = find(y); };
    auto shape_only = [&](const GraphOp* op) {
      return op != nullptr && op->top_level &&
             (is_rank_preserving(*op) || is_rank_changing(op->type));
    };
    // The first input of `op` reading `v` (the reference's input slot of an edge).
    auto input_reading = [](const GraphOp& op, const Value* v) -> const TensorInput* {
      for (const TensorInput& in : op.inputs)
        if (in.value == v && !in.state) return &in;
      return nullptr;
    };

    std::vector<const GraphOp*> chain_ops;
    for (const GraphOp& op : a_.ops) {
      if (!is_rank_preserving(op)) continue;
      chain_ops.push_back(&op);
      const Value* u = op.inputs[0].value;
      const Value* w = op.node->output(0);
      const std::size_t self = in_slot(use_of(op, op.inputs[0]), u);
      unite(self, out_slot(w));
      const GraphOp* prod = a_.op_of(u->node());
      if (prod != nullptr && (covered_.count(prod) > 0 || shape_only(prod)))
        unite(self, out_slot(u));
      for (const GraphOp& cons : a_.ops) {
        if (!cons.top_level) continue;
        const TensorInput* in = input_reading(cons, w);
        if (in == nullptr) continue;
        if (covered_.count(&cons) > 0) {
          unite(self, in_slot(use_of(cons, *in), w));
        } else if (shape_only(&cons) && cons.inputs[0].value == w) {
          unite(self, in_slot(use_of(cons, cons.inputs[0]), w));
        }
      }
    }
    if (chain_ops.empty()) return;

    std::map<std::size_t, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < slots.size(); ++i) groups[find(i)].push_back(i);
    std::vector<bool> absorbed(ann_.fqs.size(), false);
    for (const auto& [root, members] : groups) {
      (void)root;
      // The fake-quants the members hold now.
      std::vector<std::size_t> fqs;
      auto hold = [&](std::size_t k) {
        if (std::find(fqs.begin(), fqs.end(), k) == fqs.end()) fqs.push_back(k);
      };
      std::vector<UseKey> adjacent;  // input specs that join a newly observed output
      for (std::size_t i : members) {
        const Slot& sl = slots[i];
        if (sl.use) {
          if (auto it = ann_.input_fq.find(*sl.use); it != ann_.input_fq.end()) hold(it->second);
          continue;
        }
        if (auto it = ann_.value_fq.find(sl.value); it != ann_.value_fq.end()) {
          hold(it->second);
          continue;
        }
        const GraphOp* prod = a_.op_of(sl.value->node());
        if (prod == nullptr || covered_.count(prod) == 0) continue;
        for (const GraphOp& cons : a_.ops) {
          const TensorInput* in =
              cons.top_level && covered_.count(&cons) > 0 ? input_reading(cons, sl.value) : nullptr;
          if (in == nullptr) continue;
          const UseKey key = use_of(cons, *in);
          if (in_id.count(key) == 0 && ann_.input_fq.count(key) > 0) adjacent.push_back(key);
        }
      }
      if (fqs.empty()) continue;  // every member declined or has no spec
      for (const UseKey& key : adjacent) hold(ann_.input_fq.at(key));

      bool layout_kept = true;
      for (std::size_t i : members) {
        if (!slots[i].use) continue;
        const GraphOp* user = a_.op_of(std::get<0>(*slots[i].use));
        if (user != nullptr && is_rank_preserving(*user) && !keeps_layout(user->type))
          layout_kept = false;
      }
      bool per_tensor = true;
      bool any_weight = false;
      for (std::size_t k : fqs) {
        per_tensor = per_tensor &&
                     ann_.fqs[k].spec.granularity.type == quantization::GranularityType::kPerTensor;
        any_weight = any_weight || ann_.fqs[k].weight;
      }
      if (any_weight) continue;
      if (!per_tensor && !layout_kept) {
        std::string names;
        for (std::size_t k : fqs) names += (names.empty() ? "" : ", ") + ann_.fqs[k].name;
        warn("fake-quants " + names +
             " are not per-tensor, so they stay separate across the shape-only ops between "
             "them (one shared fake-quant would see its channels or blocks on another axis)");
        continue;
      }

      const std::size_t win = *std::min_element(fqs.begin(), fqs.end(), [&](auto x, auto y) {
        return std::make_pair(fq_priority_[x], x) < std::make_pair(fq_priority_[y], y);
      });
      QuantizationSpec& spec = ann_.fqs[win].spec;
      std::optional<quantization::QuantizationScheme> intrinsic;
      for (std::size_t k : fqs) {
        spec.float_range = range_union(spec.float_range, ann_.fqs[k].spec.float_range);
        if (!intrinsic_scheme_[k]) continue;
        // Equal priorities: the reference breaks the tie on the name, asymmetric first.
        if (!intrinsic || ann_.fqs[k].spec.qscheme == quantization::QuantizationScheme::kAsymmetric)
          intrinsic = ann_.fqs[k].spec.qscheme;
      }
      if (intrinsic && !coreai_opt::is_float(spec.dtype)) {
        spec.qscheme = *intrinsic;
        intrinsic_scheme_[win] = true;
      }
      for (std::size_t k : fqs) {
        if (k == win) continue;
        absorbed[k] = true;
        redirect(k, win, " (joins " + ann_.fqs[win].name + " across shape-only ops)");
      }
      // Call sites: every output in the group, and an input whose value has no
      // output fake-quant (a producer that is neither annotated nor shape-only).
      const std::string note = " (quantized by " + ann_.fqs[win].name + " across shape-only ops)";
      for (std::size_t i : members) {
        const Slot& sl = slots[i];
        if (sl.use) continue;
        const bool had = ann_.value_fq.count(sl.value) > 0;
        ann_.value_fq[sl.value] = win;
        if (auto d = declined_outputs_.find(sl.value); d != declined_outputs_.end()) {
          ann_.point_fq[d->second] = win;
          ann_.points[d->second].rule += note;
        } else if (const GraphOp* prod = a_.op_of(sl.value->node());
                   !had && prod != nullptr && covered_.count(prod) > 0) {
          // A disabled op has no output point yet.
          add_point(
              op_point(PointKind::kOpOutput, *prod, "0", res_.op(prod->name).provenance() + note),
              win);
        }
      }
      for (std::size_t i : members) {
        const Slot& sl = slots[i];
        if (!sl.use) continue;
        if (auto d = declined_inputs_.find(*sl.use); d != declined_inputs_.end()) {
          ann_.point_fq[d->second] = win;
          ann_.points[d->second].rule += note;
        }
        if (ann_.value_fq.count(sl.value) > 0) continue;
        ann_.input_fq[*sl.use] = win;
        ann_.use_value[*sl.use] = sl.value;
      }
    }
    compact(absorbed);
  }

  // Drops the fake-quants flagged in `gone` (no longer referenced).
  void compact(const std::vector<bool>& gone) {
    std::vector<std::size_t> to(ann_.fqs.size(), SIZE_MAX);
    std::vector<FqDef> kept;
    std::vector<std::size_t> prio;
    std::vector<bool> intr;
    for (std::size_t k = 0; k < ann_.fqs.size(); ++k) {
      if (gone[k]) continue;
      to[k] = kept.size();
      kept.push_back(std::move(ann_.fqs[k]));
      prio.push_back(fq_priority_[k]);
      intr.push_back(intrinsic_scheme_[k]);
    }
    if (kept.size() == ann_.fqs.size()) {
      ann_.fqs = std::move(kept);
      return;
    }
    ann_.fqs = std::move(kept);
    fq_priority_ = std::move(prio);
    intrinsic_scheme_ = std::move(intr);
    for (auto& [v, f] : ann_.value_fq) f = to[f];
    for (auto& [u, f] : ann_.input_fq) f = to[f];
    for (auto& [u, f] : ann_.input_after) f = to[f];
    for (auto& [v, f] : ann_.output_before) f = to[f];
    for (auto& f : ann_.point_fq)
      if (f) f = to[*f];
    std::map<std::size_t, std::vector<std::pair<Node*, std::size_t>>> uses;
    for (auto& [k, u] : ann_.state_uses) uses[to[k]] = std::move(u);
    ann_.state_uses = std::move(uses);
  }

  // Reference 0.3.0 carries the scheme and float_range of a quantized output
  // (facts about its values, not config choices) down chains of rank-changing
  // shape-only ops to the consumer inputs that quantize the result: those cannot
  // share the output's fake-quant (another rank), so they copy the two fields.
  // Float dtypes take only the range (they are symmetric only).
  // A fake-quant shared across rank-preserving pass-through ops may also serve
  // the output of a rank-changing op (the first op of the chain), which the
  // reference treats as the chain's end: it inherits too.
  void inherit_data_facts() {
    std::vector<std::pair<const Value*, std::size_t>> targets;
    for (const auto& [use, k] : ann_.input_fq) targets.emplace_back(ann_.use_value[use], k);
    for (const auto& [v, k] : ann_.value_fq) {
      const GraphOp* op = a_.op_of(v->node());
      if (op != nullptr && is_rank_changing(op->type)) targets.emplace_back(v, k);
    }
    for (const auto& [start, k] : targets) {
      FqDef& target = ann_.fqs[k];
      if (target.weight) continue;
      const Value* v = start;
      std::optional<std::size_t> source;
      std::set<const Value*> seen;
      while (!source && seen.insert(v).second) {
        const GraphOp* op = a_.op_of(v->node());
        if (op == nullptr || !is_rank_changing(op->type) || op->inputs.empty() ||
            op->inputs[0].input_index != 0 || op->inputs[0].state)
          break;
        v = op->inputs[0].value;
        if (auto it = ann_.value_fq.find(v); it != ann_.value_fq.end()) source = it->second;
      }
      if (!source || ann_.fqs[*source].weight) continue;
      const QuantizationSpec& from = ann_.fqs[*source].spec;
      if (!coreai_opt::is_float(target.spec.dtype) && !coreai_opt::is_float(from.dtype))
        target.spec.qscheme = from.qscheme;
      target.spec.float_range = from.float_range;
    }
  }

  // An op that a rule declines as a whole (`op_type_config: {add: null}`, a
  // disabled module) inserts nothing; its tensors are listed as declined points
  // so that the plan shows the decision and the rule that made it.
  void add_declined_ops() {
    std::set<std::string> listed;
    for (const auto& p : ann_.points)
      if (p.op_name) listed.insert(*p.op_name);
    for (const auto& op : a_.ops) {
      if (!op.top_level || listed.count(op.name) > 0 ||
          !(is_weighted(op.type) || is_compressible(op)))
        continue;
      const quantization::OpResolution& r = res_.op(op.name);
      if (!r.config->is_disabled()) continue;
      const std::string rule = r.provenance();
      for (std::size_t i = 0; i < op.inputs.size(); ++i) {
        if (op.inputs[i].state || !quantizable(op, i)) continue;
        add_point(op_point(PointKind::kOpInput, op, std::to_string(i), rule), std::nullopt);
      }
      add_point(op_point(PointKind::kOpOutput, op, "0", rule), std::nullopt);
      for (const auto& st : op.states)
        add_point(op_point(PointKind::kOpState, op, st.local_name, rule), std::nullopt);
    }
  }

  void finish_points() {
    for (std::size_t i = 0; i < ann_.points.size(); ++i) {
      if (!ann_.point_fq[i]) continue;
      const FqDef& f = ann_.fqs[*ann_.point_fq[i]];
      PlanPoint& p = ann_.points[i];
      p.spec = f.spec;
      if (!f.skipped) {
        p.fake_quant = f.name;
        continue;
      }
      quantization::SkippedPoint s;
      s.kind = p.kind;
      s.module = p.module;
      s.module_type = p.module_type;
      s.tensor = p.tensor;
      s.rule = p.rule;
      s.reason = "the block size does not divide the tensor; left unquantized";
      ann_.skipped.push_back(std::move(s));
    }
  }

  const torch::jit::Module& root_;
  std::unordered_map<const c10::TensorImpl*, std::vector<std::string>> state_names_;
  const AnalyzedGraph& a_;
  const std::unordered_map<const Value*, at::Tensor>& probe_;
  std::vector<ModuleEntry> tree_;
  Resolution res_;
  std::map<std::string, std::string> type_of_;
  std::map<std::string, std::string> canonical_;
  std::set<std::string> names_;
  Annotation ann_;
  // Ops of the annotated patterns (the reference's "covered" nodes).
  std::set<const GraphOp*> covered_;
  // Position of the pattern being annotated in priority order; per fake-quant,
  // that of the pattern that created it (the highest-priority contributor).
  std::size_t priority_ = 0;
  std::vector<std::size_t> fq_priority_;
  // Per fake-quant: its qscheme is an op intrinsic (outranks every config).
  std::vector<bool> intrinsic_scheme_;
  // Slots a config declined, with their plan points.
  std::map<const Value*, std::size_t> declined_outputs_;
  std::map<UseKey, std::size_t> declined_inputs_;
};

}  // namespace

Annotation annotate(const torch::jit::Module& root, const AnalyzedGraph& a,
                    const quantization::QuantizerConfig& config,
                    const std::unordered_map<const Value*, at::Tensor>& probe) {
  return Annotator(root, a, config, probe).run();
}

Value* insert_fake_quant(Graph& g, Value* x, const FqDef& fq) {
  Value* self = g.inputs().at(0);
  std::vector<torch::jit::NamedValue> args{x};
  for (const char* field : {"running_min", "running_max", "scale", "zero_point", "minval", "state"})
    args.emplace_back(g.insertGetAttr(self, fq.prefix + field));
  // The spec travels as a constant object, validated here once; the op reads it
  // without decoding anything.
  auto spec = c10::make_intrusive<quantization::FakeQuantizeSpec>(
      quantization::FakeQuantizeConfig::make(
          fq.spec,
          fq.weight ? quantization::TensorRole::kWeight : quantization::TensorRole::kActivation,
          fq.what),
      fq.what);
  args.emplace_back(g.insertConstant(c10::IValue(std::move(spec))));
  return g.insert(c10::Symbol::fromQualString("coreai_opt::fake_quant_forward"), args);
}

}  // namespace coreai_opt::jit_detail
