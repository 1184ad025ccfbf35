// finalize(): weights stored quantized and dequantized by coreai_opt::dequantize,
// conv/linear + batch norm folded, activation fake-quants frozen.
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <functional>
#include <map>
#include <set>

#include "coreai_opt/errors.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/ops.h"
#include "torch/jit/annotate.h"

namespace coreai_opt::jit_detail {

namespace {

at::Tensor tensor_at(const torch::jit::Module& m, const std::string& path) {
  const auto dot = path.rfind('.');
  torch::jit::Module owner = submodule(m, dot == std::string::npos ? "" : path.substr(0, dot));
  return owner.attr(dot == std::string::npos ? path : path.substr(dot + 1)).toTensor();
}

void empty_state(const torch::jit::Module& m, const std::string& path) {
  const auto dot = path.rfind('.');
  torch::jit::Module owner = submodule(m, dot == std::string::npos ? "" : path.substr(0, dot));
  const std::string local = dot == std::string::npos ? path : path.substr(dot + 1);
  const at::Tensor t = owner.attr(local).toTensor();
  owner.setattr(local, at::empty({0}, t.options()).set_requires_grad(false));
}

// The one user of `v` that computes with it, when it is of `kind`. Shape queries
// (scripted BatchNorm checks input.size() in its training branch) do not count.
Node* single_user(Value* v, c10::Symbol kind) {
  Node* found = nullptr;
  for (const auto& u : v->uses()) {
    bool computes = u.user == v->owningGraph()->return_node();
    for (const Value* o : u.user->outputs())
      computes = computes || o->type()->isSubtypeOf(*c10::TensorType::get());
    if (!computes) continue;
    if (found != nullptr || u.user->kind() != kind) return nullptr;
    found = u.user;
  }
  return found;
}

// Every tensor the graph still reads through an attribute chain.
std::set<const void*> used_tensors(const torch::jit::Module& m, Graph& g) {
  std::set<const void*> out;
  std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* b) {
    for (Node* n : b->nodes()) {
      if (n->kind() == c10::prim::GetAttr) {
        auto p = attr_path(n->output());
        if (p && !p->empty()) {
          const auto dot = p->rfind('.');
          torch::jit::Module owner =
              submodule(m, dot == std::string::npos ? "" : p->substr(0, dot));
          const c10::IValue v = owner.attr(dot == std::string::npos ? *p : p->substr(dot + 1));
          if (v.isTensor()) out.insert(v.toTensor().unsafeGetTensorImpl());
        }
      }
      for (torch::jit::Block* sb : n->blocks()) walk(sb);
    }
  };
  walk(g.block());
  return out;
}

// An embedding table read only by aten::embedding, with one scale (zero point,
// minval) row per table row, is dequantized row by row after the lookup:
//   dequantize(codes)[ids]  ->  dequantize(codes[ids], scale[ids], ...)
// The same values (each row uses only its own qparams), without materialising the
// float table on every forward. `deq` is the coreai_opt::dequantize of the table.
void gather_embedding_rows(Graph& g, Value* deq, const std::vector<std::int64_t>& block,
                           std::int64_t dim) {
  Node* d = deq->node();
  if (block.size() != 2 || block[0] != 1 || deq->uses().empty()) return;
  for (const auto& u : deq->uses())
    if (u.user->kind() != c10::aten::embedding || u.offset != 0) return;
  std::vector<Node*> lookups;  // copied: the loop below rewrites deq's uses
  for (const auto& u : deq->uses()) lookups.push_back(u.user);
  for (Node* emb : lookups) {
    torch::jit::WithInsertPoint ip(emb);
    Value* ids = g.insert(c10::aten::reshape, {emb->input(1), std::vector<std::int64_t>{-1}});
    auto rows = [&](Value* table) -> Value* {
      if (table->type()->kind() == c10::TypeKind::NoneType) return table;
      return g.insert(c10::aten::embedding, {table, ids});
    };
    std::vector<torch::jit::NamedValue> args;
    for (std::size_t i = 0; i < d->inputs().size(); ++i)
      args.emplace_back(i < 4 ? rows(d->input(i)) : d->input(i));
    Value* picked = g.insert(d->kind(), args);
    Value* shape = g.insert(c10::aten::add, {g.insert(c10::aten::size, {emb->input(1)}),
                                              std::vector<std::int64_t>{dim}});
    emb->output()->replaceAllUsesWith(g.insert(c10::aten::reshape, {picked, shape}));
    emb->destroy();
  }
}

}  // namespace

void finalize_module(torch::jit::Module& m, const std::vector<FqDef>& fqs) {
  auto& fn = torch::jit::toGraphFunction(m.get_method("forward").function());
  std::shared_ptr<Graph> graph = fn.graph();
  Graph& g = *graph;
  Value* self = g.inputs().at(0);
  std::map<std::string, const FqDef*> by_prefix;
  for (const auto& f : fqs) by_prefix[f.prefix] = &f;

  const auto fq_kind = c10::Symbol::fromQualString("coreai_opt::fake_quant_forward");
  std::vector<Node*> fq_nodes;
  for (Node* n : g.nodes())
    if (n->kind() == fq_kind) fq_nodes.push_back(n);

  std::set<std::string> emptied;  // float states replaced by codes
  // Observer and qparam buffers of the weight fake-quants replaced by codes: the
  // ones dequantize does not read are emptied (a finalized model carries codes and
  // the qparams it needs, not calibration state).
  std::set<std::string> weight_fq_buffers;
  for (Node* n : fq_nodes) {
    const std::string attr = n->input(1)->node()->s(c10::attr::name);
    const std::string prefix = attr.substr(0, attr.size() - std::string("running_min").size());
    const FqDef& f = *by_prefix.at(prefix);
    const at::Tensor state = m.attr(prefix + "state").toTensor();
    const bool disabled = state[quantization::kDisabled].item<std::int64_t>() != 0;
    const bool initialized = state[quantization::kInitialized].item<std::int64_t>() != 0;
    if (!f.weight || disabled || !initialized) {
      // Activations stay as frozen fake-quants: observer off, fake quant on.
      state[quantization::kObserverEnabled] = 0;
      state[quantization::kFakeQuantEnabled] = 1;
      continue;
    }
    // The effective weight: the parameter, times the BN scale when folded.
    at::Tensor w = tensor_at(m, f.weight_path).detach();
    at::Tensor k;
    if (f.fold) {
      const at::Tensor var = tensor_at(m, f.fold->bn_var).detach();
      k = at::rsqrt(var + f.fold->eps);
      if (!f.fold->bn_weight.empty()) k = k * tensor_at(m, f.fold->bn_weight).detach();
      std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
      if (f.fold->linear) {
        shape = {-1, 1};
      } else {
        shape[f.fold->transposed ? 1 : 0] = -1;
      }
      w = w * k.reshape(shape);
    }
    const quantization::QuantizationSpec& spec = f.spec;
    const auto block = block_size_for(spec.granularity, w.sizes().vec(), TensorRole::kWeight);
    const bool four_bit = quantization::QuantizationSpec(spec).n_bits() == 4;
    const bool packed = four_bit && w.dim() >= 1 && w.size(-1) % 2 == 0;
    if (spec.dtype == DType::kFloat4E2M1FNx2 && !packed) {
      // fp4 codes are stored packed only; an odd last dimension keeps the fake-quant.
      state[quantization::kObserverEnabled] = 0;
      continue;
    }
    const bool is_int = !is_float(spec.dtype);
    const bool minval_form = is_int && spec.qformulation == QuantizationFormulation::kMinval;
    const at::Tensor scale = m.attr(prefix + "scale").toTensor();
    std::optional<at::Tensor> zp, mv;
    // An all-zero zero point (symmetric signed codes) is not stored: dequantize
    // without one is the same computation.
    if (is_int && !minval_form) {
      const at::Tensor z = m.attr(prefix + "zero_point").toTensor();
      if (z.numel() > 0 && z.ne(0).any().item<bool>()) zp = z;
    }
    if (minval_form) mv = m.attr(prefix + "minval").toTensor();
    const auto qmin = static_cast<std::int64_t>(spec.quant_min());
    const auto qmax = static_cast<std::int64_t>(spec.quant_max());
    if (!m.hasattr(prefix + "codes")) {
      at::Tensor codes =
          ops::quantize(w.to(at::kFloat), scale, zp, mv, block, spec.dtype, qmin, qmax, packed);
      m.register_buffer(prefix + "codes", codes);
      // MX scales are powers of two: stored as E8M0 (one byte each).
      if (spec.effective_scale_dtype()) {
        m.register_buffer(prefix + "scale_e8m0", scale.to(at::kFloat8_e8m0fnu));
      }
    }
    Value* deq = nullptr;
    {
      torch::jit::WithInsertPoint ip(n);
      Value* codes_v = g.insertGetAttr(self, prefix + "codes");
      Value* scale_v = nullptr;
      if (spec.effective_scale_dtype()) {
        scale_v = g.insert(c10::aten::to,
                           {g.insertGetAttr(self, prefix + "scale_e8m0"), c10::IValue(at::kFloat)});
      } else {
        scale_v = g.insertGetAttr(self, prefix + "scale");
      }
      Value* zp_v =
          zp ? g.insertGetAttr(self, prefix + "zero_point") : g.insertConstant(c10::IValue());
      Value* mv_v = mv ? g.insertGetAttr(self, prefix + "minval") : g.insertConstant(c10::IValue());
      deq = g.insert(c10::Symbol::fromQualString("coreai_opt::dequantize"),
                     {codes_v, scale_v, zp_v, mv_v, c10::IValue(block),
                      c10::IValue(std::string(dtype_name(spec.dtype))), c10::IValue(qmin),
                      c10::IValue(qmax), c10::IValue(packed), c10::IValue(w.scalar_type())});
    }
    Value* wk = n->input(0);
    n->output()->replaceAllUsesWith(deq);
    n->destroy();
    if (!f.fold) gather_embedding_rows(g, deq, block, w.size(1));

    if (f.fold) {
      // conv -> div(k) -> [add(bias)] -> batch_norm  becomes  conv(bias = b').
      if (wk->node()->kind() != c10::aten::mul || deq->uses().size() != 1)
        throw Error("finalize: the folded conv/batch_norm pattern of " + f.name + " was altered");
      Node* conv = deq->uses()[0].user;
      Node* div = single_user(conv->output(0), c10::aten::div);
      Node* tail = div;
      if (div != nullptr && !f.fold->conv_bias.empty())
        tail = single_user(div->output(), c10::aten::add);
      Node* bn = tail != nullptr ? single_user(tail->output(), c10::aten::batch_norm) : nullptr;
      if (bn == nullptr)
        throw Error("finalize: the folded conv/batch_norm pattern of " + f.name + " was altered");
      const at::Tensor mean = tensor_at(m, f.fold->bn_mean).detach();
      at::Tensor b = f.fold->conv_bias.empty() ? at::zeros_like(mean)
                                               : tensor_at(m, f.fold->conv_bias).detach();
      at::Tensor folded = (b - mean) * k;
      if (!f.fold->bn_bias.empty()) folded = folded + tensor_at(m, f.fold->bn_bias).detach();
      m.register_buffer(prefix + "folded_bias", folded.contiguous());
      {
        torch::jit::WithInsertPoint ip(conv);
        conv->replaceInput(2, g.insertGetAttr(self, prefix + "folded_bias"));
      }
      // Every reader of the BN input (its shape check too) and of its output now
      // reads the conv output; the div / add / batch_norm nodes die.
      tail->output()->replaceAllUsesWith(conv->output(0));
      bn->output()->replaceAllUsesWith(conv->output(0));
      // Dead now, but alias analysis counts a batch_norm whose `training` is not a
      // constant as a writer of the running statistics, so DCE would keep it.
      bn->destroy();
      for (const std::string* p : {&f.fold->conv_bias, &f.fold->bn_weight, &f.fold->bn_bias,
                                   &f.fold->bn_mean, &f.fold->bn_var})
        if (!p->empty()) emptied.insert(*p);
    }
    emptied.insert(f.weight_path);
    for (const char* b : {"running_min", "running_max", "scale", "zero_point", "minval", "state"})
      weight_fq_buffers.insert(prefix + b);
  }
  torch::jit::EliminateDeadCode(graph);
  g.lint();
  // Float states that no longer feed the graph keep their slot with no data.
  const std::set<const void*> used = used_tensors(m, g);
  for (const auto& p : emptied)
    if (used.count(tensor_at(m, p).unsafeGetTensorImpl()) == 0) empty_state(m, p);
  for (const auto& p : weight_fq_buffers)
    if (m.hasattr(p) && used.count(tensor_at(m, p).unsafeGetTensorImpl()) == 0) empty_state(m, p);
}

}  // namespace coreai_opt::jit_detail
