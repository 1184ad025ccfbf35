// The dispatcher interception of stock torch::nn modules (intercept.h).
#include "torch/eager/intercept.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/autograd/graph_task.h>
#include <torch/library.h>

#include <map>
#include <mutex>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "coreai_opt/torch/quantizer.h"

namespace coreai_opt::detail {
namespace {

constexpr c10::DispatchKey kKey = c10::DispatchKey::DeferredInit;

// ------------------------------------------------------------------ the site registry

// Sites by (weight, family). Each entry holds a weak reference to its weight: while the
// entry exists the address cannot be reused by another tensor, and an entry whose weight
// died (its model is gone) is dropped at the next registration.
struct Entry {
  c10::weak_intrusive_ptr<c10::TensorImpl> weight{c10::intrusive_ptr<c10::TensorImpl>()};
  std::shared_ptr<InterceptSite> site;
};

struct Registry {
  std::shared_mutex mu;
  std::map<std::pair<const c10::TensorImpl*, InterceptFamily>, Entry> sites;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: kernels may run at exit
  return *r;
}

std::shared_ptr<InterceptSite> find_site(const at::Tensor& weight, InterceptFamily family) {
  if (!weight.defined()) return nullptr;
  Registry& r = registry();
  std::shared_lock<std::shared_mutex> lock(r.mu);
  auto it = r.sites.find({weight.unsafeGetTensorImpl(), family});
  return it == r.sites.end() || it->second.weight.expired() ? nullptr : it->second.site;
}

// ------------------------------------------------------------------ pending results
//
// Linear is two or three ops: t(weight) returns a new tensor that addmm / matmul then
// consume, and matmul's result takes the bias in place. The results in between are kept,
// per thread, as weak references (an entry can never match a later tensor that reuses
// the address) in a short list, newest last.

struct Pending {
  c10::weak_intrusive_ptr<c10::TensorImpl> tensor{c10::intrusive_ptr<c10::TensorImpl>()};
  std::shared_ptr<InterceptSite> site;
};

constexpr std::size_t kMaxPending = 8;

struct PendingList {
  std::vector<Pending> items;

  void add(const at::Tensor& t, std::shared_ptr<InterceptSite> site) {
    if (items.size() == kMaxPending) items.erase(items.begin());
    items.push_back(
        {c10::weak_intrusive_ptr<c10::TensorImpl>(t.getIntrusivePtr()), std::move(site)});
  }

  // Removes and returns the site recorded for t.
  std::shared_ptr<InterceptSite> take(const at::Tensor& t) {
    if (!t.defined()) return nullptr;
    for (auto it = items.begin(); it != items.end(); ++it) {
      if (!it->tensor.expired() && it->tensor._unsafe_get_target() == t.unsafeGetTensorImpl()) {
        auto site = std::move(it->site);
        items.erase(it);
        return site;
      }
    }
    return nullptr;
  }
};

thread_local PendingList transposed;  // t(weight) results -> site
thread_local PendingList unbiased;    // matmul results waiting for the bias -> site

// ------------------------------------------------------------------ the kernel

at::Tensor quantize(quantization::FakeQuantize fq, const at::Tensor& t) {
  return fq ? fq->forward(t) : t;
}

// Runs the op itself (the caller excludes this key).
void call(const c10::OperatorHandle& op, torch::jit::Stack* stack) { op.callBoxed(stack); }

// Replaces stack argument `i` (from the bottom of the op's arguments) by `v`.
void set_arg(torch::jit::Stack* stack, std::size_t nargs, std::size_t i, at::Tensor v) {
  (*stack)[stack->size() - nargs + i] = c10::IValue(std::move(v));
}
const c10::IValue& arg(const torch::jit::Stack* stack, std::size_t nargs, std::size_t i) {
  return (*stack)[stack->size() - nargs + i];
}
at::Tensor tensor_arg(const torch::jit::Stack* stack, std::size_t nargs, std::size_t i) {
  const c10::IValue& v = arg(stack, nargs, i);
  return v.isTensor() ? v.toTensor() : at::Tensor();
}

// What an intercepted op is; each registered op gets the kernel of its kind (no name
// matching per call).
enum class Kind : std::uint8_t { kT, kAddmm, kMatmul, kAdd, kConv, kConvTranspose, kEmbedding };

void intercept(Kind kind, const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  // Everything below (the op, the fake-quants) runs without this key.
  c10::impl::ExcludeDispatchKeyGuard below(kKey);
  const std::size_t nargs = op.schema().arguments().size();
  // Backward passes replay ops on gradients: never quantize there.
  if (torch::autograd::get_current_graph_task_id() != -1) {
    call(op, stack);
    return;
  }
  std::shared_ptr<InterceptSite> site;
  std::size_t x_index = 0;
  switch (kind) {
    case Kind::kT: {
      site = find_site(tensor_arg(stack, nargs, 0), InterceptFamily::kLinear);
      call(op, stack);
      if (site) transposed.add(stack->back().toTensor(), std::move(site));
      return;
    }
    case Kind::kAddmm:
      site = transposed.take(tensor_arg(stack, nargs, 2));
      x_index = 1;
      break;
    case Kind::kMatmul:
      site = transposed.take(tensor_arg(stack, nargs, 1));
      x_index = 0;
      break;
    case Kind::kAdd: {
      site = unbiased.take(tensor_arg(stack, nargs, 0));
      call(op, stack);
      if (site && site->output) {
        // The bias is in: quantize the output in place (F::linear returns this tensor).
        at::Tensor out = stack->back().toTensor();
        at::Tensor q = quantize(site->output, out);
        if (!q.is_same(out)) out.copy_(q);
      }
      return;
    }
    case Kind::kConv:
      site = find_site(tensor_arg(stack, nargs, 1), InterceptFamily::kConv);
      x_index = 0;
      break;
    case Kind::kConvTranspose:
      site = find_site(tensor_arg(stack, nargs, 1), InterceptFamily::kConvTranspose);
      x_index = 0;
      break;
    case Kind::kEmbedding:
      site = find_site(tensor_arg(stack, nargs, 0), InterceptFamily::kEmbedding);
      x_index = 1;
      break;
  }
  if (!site) {
    call(op, stack);
    return;
  }
  site->calls.fetch_add(1, std::memory_order_relaxed);
  if (kind != Kind::kEmbedding && site->input) {
    set_arg(stack, nargs, x_index, quantize(site->input, tensor_arg(stack, nargs, x_index)));
  }
  call(op, stack);
  const bool bias_follows = kind == Kind::kMatmul && site->has_bias;
  if (bias_follows) {
    unbiased.add(stack->back().toTensor(), std::move(site));
    return;
  }
  if (site->output) stack->back() = c10::IValue(quantize(site->output, stack->back().toTensor()));
}

template <Kind K>
void intercept_boxed(const c10::OperatorHandle& op, c10::DispatchKeySet, torch::jit::Stack* stack) {
  intercept(K, op, stack);
}

}  // namespace

bool register_intercept_site(const at::Tensor& weight, std::shared_ptr<InterceptSite> site) {
  Registry& r = registry();
  std::unique_lock<std::shared_mutex> lock(r.mu);
  for (auto it = r.sites.begin(); it != r.sites.end();) {
    it = it->second.weight.expired() ? r.sites.erase(it) : std::next(it);
  }
  const auto key = std::make_pair(static_cast<const c10::TensorImpl*>(weight.unsafeGetTensorImpl()),
                                  site->family);
  Entry e{c10::weak_intrusive_ptr<c10::TensorImpl>(weight.getIntrusivePtr()), std::move(site)};
  return r.sites.emplace(key, std::move(e)).second;
}

void enable_interception_on_this_thread() { c10::impl::tls_set_dispatch_key_included(kKey, true); }

}  // namespace coreai_opt::detail

namespace coreai_opt::quantization {
void enable_stock_module_quantization_on_this_thread() {
  detail::enable_interception_on_this_thread();
}
}  // namespace coreai_opt::quantization

TORCH_LIBRARY_IMPL(_, DeferredInit, m) { m.fallback(torch::CppFunction::makeFallthrough()); }

TORCH_LIBRARY_IMPL(aten, DeferredInit, m) {
  using coreai_opt::detail::intercept_boxed;
  using K = coreai_opt::detail::Kind;
  m.impl("t", torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kT>>());
  m.impl("addmm", torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kAddmm>>());
  m.impl("matmul", torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kMatmul>>());
  m.impl("add_.Tensor", torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kAdd>>());
  for (const char* name :
       {"conv1d", "conv2d", "conv3d", "conv1d.padding", "conv2d.padding", "conv3d.padding"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kConv>>());
  }
  for (const char* name :
       {"conv_transpose1d", "conv_transpose2d.input", "conv_transpose3d.input"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kConvTranspose>>());
  }
  m.impl("embedding", torch::CppFunction::makeFromBoxedFunction<&intercept_boxed<K::kEmbedding>>());
}
