// Eager-mode modules and helpers (coreai_opt/torch/nn.h) and the split weights
// they share with the Quantizer.
#include "coreai_opt/torch/nn.h"

#include <torch/autograd.h>

#include <mutex>
#include <unordered_map>
#include <utility>

#include "coreai_opt/errors.h"
#include "torch/eager/eager_internal.h"

namespace coreai_opt {
namespace detail {

// ------------------------------------------------------------ parameters_of

namespace {
struct ParameterAccess : torch::nn::Module {
  static torch::OrderedDict<std::string, at::Tensor>& of(torch::nn::Module& m) {
    return m.*(&ParameterAccess::parameters_);
  }
};
}  // namespace

torch::OrderedDict<std::string, at::Tensor>& parameters_of(torch::nn::Module& module) {
  return ParameterAccess::of(module);
}

// ------------------------------------------------------------ EagerWeight

void EagerWeight::split_parameter() {
  if (split) return;
  master = view.detach().clone();
  master.set_requires_grad(view.requires_grad());
  for (auto& [module, local] : owners) parameters_of(*module)[local] = master;
  split = true;
  refresh();
}

namespace {
std::string stale_message(const std::string& name) {
  return "coreai_opt: the fake-quantized weight '" + name +
         "' was computed before its float weight last changed (optimizer step, load or "
         "in-place update) and was used in this forward pass. Call Quantizer::step() after "
         "every optimizer.step() inside training_mode(), or Quantizer::refresh_weights() "
         "after changing weights in another way.";
}
std::string reused_message(const std::string& name) {
  return "coreai_opt: the fake-quantized weight '" + name +
         "' was already used by a backward pass. Call Quantizer::step() after every "
         "optimizer.step(), or Quantizer::refresh_weights() between backward passes that "
         "accumulate gradients.";
}
}  // namespace

void EagerWeight::refresh() {
  if (!split) return;
  const bool grad = master.requires_grad();
  at::Tensor values;
  {
    torch::AutoGradMode mode(grad);
    values = fq->forward(master);
    // A disabled point or fake quantization off returns master itself; the view
    // needs its own node for the hook.
    if (grad && values.is_same(master)) values = master.view_as(master);
  }
  ++generation;
  if (grad) {
    std::weak_ptr<EagerWeight> self = weak_from_this();
    const std::uint64_t gen = generation;
    values.register_hook([self, gen](const at::TensorBase&) {
      auto w = self.lock();
      if (!w) return;
      if (w->generation != gen || w->master_changed()) throw Error(stale_message(w->name));
      if (w->consumed_generation == gen) throw Error(reused_message(w->name));
      w->consumed_generation = gen;
    });
  }
  {
    torch::NoGradGuard no_grad;
    view.detach_();
    if (view.sizes() != master.sizes() || view.device() != master.device() ||
        view.scalar_type() != master.scalar_type()) {
      view.set_data(at::empty_like(master));
    }
  }
  {
    torch::AutoGradMode mode(grad);
    view.copy_(values);
  }
  refreshed_version = master._version();
  torch::NoGradGuard no_grad;
  snapshot = master.detach().clone();
}

bool EagerWeight::master_changed() const {
  if (master._version() != refreshed_version || !snapshot.defined()) return true;
  if (snapshot.sizes() != master.sizes() || snapshot.device() != master.device() ||
      snapshot.scalar_type() != master.scalar_type()) {
    return true;
  }
  torch::NoGradGuard no_grad;
  return !at::equal(master.detach(), snapshot);
}

bool EagerWeight::stale() const {
  if (!split) return false;
  return master_changed() || consumed_generation == generation ||
         view.device() != master.device() || view.scalar_type() != master.scalar_type() ||
         view.sizes() != master.sizes();
}

void EagerWeight::unsplit(const at::Tensor& values) {
  if (!split) return;
  const bool requires_grad = master.requires_grad();
  {
    torch::NoGradGuard no_grad;
    view.detach_();
    if (view.sizes() != values.sizes() || view.device() != values.device() ||
        view.scalar_type() != values.scalar_type()) {
      view.set_data(at::empty_like(values));
    }
    view.copy_(values);
  }
  view.set_requires_grad(requires_grad);
  for (auto& [module, local] : owners) parameters_of(*module)[local] = view;
  split = false;
  snapshot = at::Tensor();
  ++generation;
}

// ------------------------------------------------------------ functional tables

namespace {
struct Registry {
  std::mutex mu;
  std::unordered_map<const torch::nn::Module*, std::shared_ptr<FunctionalTable>> tables;
};
Registry& registry() {
  static Registry r;
  return r;
}

std::shared_ptr<FunctionalTable> find_table(const torch::nn::Module& module) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.tables.find(&module);
  if (it == r.tables.end()) return nullptr;
  // A table of a destroyed module whose address was reused is dropped.
  auto owner = it->second->owner.lock();
  if (owner.get() != &module) {
    r.tables.erase(it);
    return nullptr;
  }
  return it->second;
}

thread_local FunctionalTrace* g_active_trace = nullptr;
}  // namespace

void install_functional_table(torch::nn::Module& module, std::shared_ptr<FunctionalTable> table) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.tables[&module] = std::move(table);
}

void remove_functional_table(const torch::nn::Module* module) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.tables.erase(module);
}

FunctionalTrace::FunctionalTrace() : previous_(g_active_trace) { g_active_trace = this; }
FunctionalTrace::~FunctionalTrace() { g_active_trace = previous_; }
FunctionalTrace* FunctionalTrace::active() { return g_active_trace; }

}  // namespace detail

namespace nn {

// ------------------------------------------------------------ drop-ins

QuantizedModule::~QuantizedModule() = default;

void QuantizedModule::attach_quantizers(quantization::FakeQuantize input,
                                        quantization::FakeQuantize output,
                                        std::vector<std::shared_ptr<detail::EagerWeight>> weights) {
  input_ = std::move(input);
  output_ = std::move(output);
  weights_ = std::move(weights);
}

at::Tensor QuantizedModule::quantize_input(const at::Tensor& x) {
  if (input_.is_empty() || !at::isFloatingType(x.scalar_type()) || x.numel() <= 1) return x;
  return input_->forward(x);
}

at::Tensor QuantizedModule::quantize_output(const at::Tensor& y) {
  if (output_.is_empty() || !at::isFloatingType(y.scalar_type()) || y.numel() <= 1) return y;
  return output_->forward(y);
}

void QuantizedModule::refresh_stale_weights() {
  for (auto& w : weights_) {
    if (w->stale()) w->refresh();
  }
}

at::Tensor LinearImpl::forward(const at::Tensor& input) {
  refresh_stale_weights();
  return quantize_output(torch::nn::LinearImpl::forward(quantize_input(input)));
}

#define COREAI_OPT_DEFINE_CONV(Name)                                               \
  at::Tensor Name##Impl::forward(const at::Tensor& input) {                        \
    refresh_stale_weights();                                                       \
    return quantize_output(torch::nn::Name##Impl::forward(quantize_input(input))); \
  }
COREAI_OPT_DEFINE_CONV(Conv1d)
COREAI_OPT_DEFINE_CONV(Conv2d)
COREAI_OPT_DEFINE_CONV(Conv3d)
#undef COREAI_OPT_DEFINE_CONV

#define COREAI_OPT_DEFINE_CONV_TRANSPOSE(Name)                                                  \
  at::Tensor Name##Impl::forward(const at::Tensor& input,                                       \
                                 const std::optional<at::IntArrayRef>& output_size) {           \
    refresh_stale_weights();                                                                    \
    return quantize_output(torch::nn::Name##Impl::forward(quantize_input(input), output_size)); \
  }
COREAI_OPT_DEFINE_CONV_TRANSPOSE(ConvTranspose1d)
COREAI_OPT_DEFINE_CONV_TRANSPOSE(ConvTranspose2d)
COREAI_OPT_DEFINE_CONV_TRANSPOSE(ConvTranspose3d)
#undef COREAI_OPT_DEFINE_CONV_TRANSPOSE

at::Tensor EmbeddingImpl::forward(const at::Tensor& indices) {
  refresh_stale_weights();
  return quantize_output(torch::nn::EmbeddingImpl::forward(indices));
}

at::Tensor QuantStubImpl::forward(const at::Tensor& x) {
  if (quantizer_.is_empty() || !at::isFloatingType(x.scalar_type()) || x.numel() <= 1) return x;
  return quantizer_->forward(x);
}

// ------------------------------------------------------------ functional helpers

namespace functional {
namespace {

bool quantizable(const at::Tensor& t) {
  return t.defined() && at::isFloatingType(t.scalar_type()) && t.numel() > 1;
}

template <class Compute>
at::Tensor run_op(torch::nn::Module& caller, const char* base, std::vector<std::string> arg_names,
                  std::vector<at::Tensor> inputs, Compute compute) {
  if (auto* trace = detail::FunctionalTrace::active()) {
    at::Tensor out = compute(inputs);
    detail::TracedCall call;
    call.caller = &caller;
    call.base = base;
    call.arg_names = std::move(arg_names);
    for (const auto& t : inputs) call.input_quantizable.push_back(quantizable(t));
    call.output_quantizable = quantizable(out);
    trace->record(std::move(call));
    return out;
  }
  auto table = detail::find_table(caller);
  if (!table || table->ops.empty()) return compute(inputs);
  if (table->cursor >= table->ops.size()) table->cursor = 0;
  detail::FunctionalOp& op = table->ops[table->cursor];
  if (op.base != base || op.inputs.size() != inputs.size()) {
    const std::string expected =
        op.name + " (" + op.base + ", " + std::to_string(op.inputs.size()) + " inputs)";
    table->cursor = 0;
    throw Error("coreai_opt: functional op " + std::string(base) + " with " +
                std::to_string(inputs.size()) + " inputs was called where prepare() recorded " +
                expected +
                ". A module must call its coreai_opt::nn::functional ops in the "
                "same order in every forward pass as in prepare()'s example forward.");
  }
  ++table->cursor;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!op.inputs[i].is_empty() && quantizable(inputs[i])) {
      inputs[i] = op.inputs[i]->forward(inputs[i]);
    }
  }
  at::Tensor out = compute(inputs);
  if (!op.output.is_empty() && quantizable(out)) out = op.output->forward(out);
  return out;
}

}  // namespace

at::Tensor add(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other,
               const at::Scalar& alpha) {
  return run_op(caller, "add", {"input", "other"}, {input, other},
                [&](const std::vector<at::Tensor>& t) { return at::add(t[0], t[1], alpha); });
}

at::Tensor sub(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other,
               const at::Scalar& alpha) {
  return run_op(caller, "sub", {"input", "other"}, {input, other},
                [&](const std::vector<at::Tensor>& t) { return at::sub(t[0], t[1], alpha); });
}

at::Tensor mul(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other) {
  return run_op(caller, "mul", {"input", "other"}, {input, other},
                [](const std::vector<at::Tensor>& t) { return at::mul(t[0], t[1]); });
}

at::Tensor matmul(torch::nn::Module& caller, const at::Tensor& input, const at::Tensor& other) {
  return run_op(caller, "matmul", {"input", "other"}, {input, other},
                [](const std::vector<at::Tensor>& t) { return at::matmul(t[0], t[1]); });
}

at::Tensor cat(torch::nn::Module& caller, at::TensorList tensors, std::int64_t dim) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < tensors.size(); ++i) names.push_back("tensors_" + std::to_string(i));
  return run_op(caller, "cat", std::move(names), tensors.vec(),
                [dim](const std::vector<at::Tensor>& t) { return at::cat(t, dim); });
}

}  // namespace functional
}  // namespace nn
}  // namespace coreai_opt
