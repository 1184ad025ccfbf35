// The Quantizer front door: the mode chosen from the model, and the one state
// machine of both modes (prepared, calibration / training scopes, QAT steps and
// schedules, selectors). Model surgery lives in the backends
// (eager/quantizer.cpp, jit/quantizer.cpp).
#include "coreai_opt/torch/quantizer.h"

#include <torch/serialize.h>

#include <regex>
#include <set>

#include "coreai_opt/detail/regex.h"
#include "coreai_opt/errors.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/warnings.h"
#include "torch/quantizer_backend.h"

namespace coreai_opt {
namespace detail {
void check_tensor_inputs(const std::vector<c10::IValue>& inputs, std::size_t n) {
  bool ok = inputs.size() == n;
  for (const auto& v : inputs) ok = ok && v.isTensor();
  if (!ok) {
    throw InvalidArgumentError("the model's forward takes " + std::to_string(n) +
                               " tensor(s); got " + std::to_string(inputs.size()) + " input(s)" +
                               (inputs.size() == n ? " that are not all tensors" : ""));
  }
}
}  // namespace detail

namespace quantization {

// ------------------------------------------------------------ Model

Model::Model(std::shared_ptr<torch::nn::Module> module) : eager_(std::move(module)) {
  if (!eager_) throw InvalidArgumentError("Model: the torch::nn::Module is null");
}

Model::Model(torch::jit::Module module)
    : graph_(std::make_shared<torch::jit::Module>(std::move(module))) {}

const std::shared_ptr<torch::nn::Module>& Model::module() const {
  if (!eager_) {
    throw InvalidArgumentError(
        "Model::module(): this is a TorchScript model (graph mode); use script_module()");
  }
  return eager_;
}

const torch::jit::Module& Model::script_module() const {
  if (!graph_) {
    throw InvalidArgumentError(
        "Model::script_module(): this is a torch::nn::Module model (eager mode); use module()");
  }
  return *graph_;
}

c10::IValue Model::forward(const std::vector<c10::IValue>& inputs) const {
  if (graph_) return graph_->forward(inputs);
  if (!forward_) {
    throw InvalidArgumentError(
        "Model::forward(): the eager model's type is not known here or its forward does not "
        "take one or two tensors; construct the Model (or Quantizer) from the typed "
        "std::shared_ptr or module holder, or pass a function that runs the forward pass");
  }
  return forward_(inputs);
}

bool Model::is_training() const { return eager_ ? eager_->is_training() : graph_->is_training(); }

void Model::train(bool on) {
  if (eager_) {
    eager_->train(on);
  } else {
    graph_->train(on);
  }
}

std::int64_t Model::state_bytes() const {
  std::set<const c10::TensorImpl*> seen;
  std::int64_t bytes = 0;
  const auto add = [&](const at::Tensor& t) {
    if (!t.defined() || !seen.insert(t.unsafeGetTensorImpl()).second) return;
    bytes += t.numel() * static_cast<std::int64_t>(t.element_size());
  };
  if (eager_) {
    for (const auto& p : eager_->parameters()) add(p);
    for (const auto& b : eager_->buffers()) add(b);
  } else {
    for (const auto& p : graph_->parameters()) add(p);
    for (const auto& b : graph_->buffers()) add(b);
  }
  return bytes;
}

// ------------------------------------------------------------ state machine

struct Quantizer::Impl {
  Model model;
  QuantizerConfig config;
  std::unique_ptr<coreai_opt::detail::QuantizerBackend> backend;
  std::optional<Model> prepared;
  QuantizationPlan prepared_plan;
  std::int64_t bytes_before = 0;  // state bytes of the model as given
  bool finalized = false;         // eager finalize works in place
  bool in_training = false;
  std::int64_t steps = 0;

  explicit Impl(Model m) : model(std::move(m)) {}

  bool eager() const { return model.is_eager(); }

  void require_prepared(const std::string& what) const {
    if (!prepared) throw Error("Model must be prepared before " + what + ". Call prepare() first.");
    if (finalized) throw Error("Model was finalized in place; " + what + " is no longer possible.");
  }
  // A dynamic point's observer cannot be switched off (reference 0.3.0): modes, schedules
  // and disable_observer() leave it on.
  static void set(const coreai_opt::detail::LivePoint& p, FakeQuantizeStateIndex i, bool on) {
    if (i == kObserverEnabled && p.spec.qparam_calculator_cls == QParamCalculator::kDynamic) {
      on = true;
    }
    set_fake_quant_flag(p.state, i, on);
  }
  bool any_schedule() const {
    for (const auto& p : backend->points())
      if (p.schedule) return true;
    return false;
  }
  void set_all(bool observer, bool fake_quant) const {
    for (const auto& p : backend->points()) {
      set(p, kObserverEnabled, observer);
      set(p, kFakeQuantEnabled, fake_quant);
    }
  }
  // Calibration: every observer on; weight fake quantization on, so activation
  // observers see the quantized weights; activation fake quantization off (the
  // reference's rule).
  void set_calibration() const {
    for (const auto& p : backend->points()) {
      set(p, kObserverEnabled, true);
      set(p, kFakeQuantEnabled, p.weight);
    }
  }
  void apply_schedule() const {
    for (const auto& p : backend->points()) {
      if (!p.schedule) continue;
      set(p, kObserverEnabled, p.schedule->observer_enabled_at(steps));
      set(p, kFakeQuantEnabled, p.schedule->fake_quant_enabled_at(steps));
    }
  }
  // Leaving calibration restores the training flag; leaving training keeps
  // train mode, as the reference does.
  void exit_mode(bool training, bool was_training) {
    set_all(/*observer=*/false, /*fake_quant=*/true);
    if (training) {
      in_training = false;
    } else {
      prepared->train(was_training);
    }
    backend->sync();
  }
  // The canonical module paths `which` selects; empty optional = everything.
  std::optional<std::vector<std::string>> scope(const Selector& which, const char* what) const {
    if (which.kind() == Selector::Kind::kAll) return std::nullopt;
    std::vector<std::string> out;
    const auto paths = backend->module_paths();
    if (which.kind() == Selector::Kind::kPath) {
      for (const auto& [path, canonical] : paths)
        if (path == which.text()) out.push_back(canonical);
      if (out.empty()) {
        throw InvalidArgumentError(std::string(what) + "(): module '" + which.text() +
                                   "' is not part of the prepared model");
      }
      return out;
    }
    const std::regex re = coreai_opt::detail::compile_regex(which.text(), "the selector");
    for (const auto& [path, canonical] : paths)
      if (coreai_opt::detail::full_match(path, re, which.text())) out.push_back(canonical);
    if (out.empty()) {
      throw InvalidArgumentError(std::string(what) + "(): the regex '" + which.text() +
                                 "' matches no module of the prepared model");
    }
    return out;
  }
  static bool within(const std::string& path, const std::string& root) {
    return root.empty() || path == root ||
           (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
            path[root.size()] == '.');
  }
  void switch_flag(const Selector& which, FakeQuantizeStateIndex index, bool on, const char* what) {
    require_prepared(std::string("calling ") + what + "()");
    if (any_schedule()) {
      throw Error(std::string(what) +
                  "() cannot be used with a qat_schedule configured; the schedule controls "
                  "observers and fake quantization (call step() inside training_mode())");
    }
    const auto roots = scope(which, what);
    for (const auto& p : backend->points()) {
      bool hit = !roots;
      if (roots)
        for (const auto& r : *roots) hit = hit || within(p.module, r);
      if (hit) set(p, index, on);
    }
    backend->sync();
  }
};

namespace {

// The key checks of the mode and the execution_mode rule: a written mode that
// contradicts the model warns once and the model's mode is used.
QuantizerConfig config_for(const Model& model, QuantizerConfig config) {
  const ExecutionMode mode = model.mode();
  config.validate_for(mode);
  if (config.execution_mode && *config.execution_mode != mode) {
    warn(std::string("quantization_config.execution_mode is '") +
         std::string(to_string(*config.execution_mode)) + "' but the model is a " +
         (mode == ExecutionMode::kEager ? "torch::nn::Module" : "TorchScript module") +
         "; using execution_mode '" + std::string(to_string(mode)) + "'");
  }
  config.execution_mode = mode;
  return config;
}

}  // namespace

Quantizer::Quantizer(Model model, QuantizerConfig config)
    : impl_(std::make_unique<Impl>(std::move(model))) {
  Impl& s = *impl_;
  s.config = config_for(s.model, std::move(config));
  s.bytes_before = s.model.state_bytes();
  s.backend = s.eager() ? coreai_opt::detail::make_eager_backend(s.model, s.config)
                        : coreai_opt::detail::make_graph_backend(s.model.script_module(), s.config);
}

Quantizer::~Quantizer() = default;
Quantizer::Quantizer(Quantizer&&) noexcept = default;
Quantizer& Quantizer::operator=(Quantizer&&) noexcept = default;

ExecutionMode Quantizer::execution_mode() const { return impl_->model.mode(); }
const QuantizerConfig& Quantizer::config() const { return impl_->config; }

QuantizationPlan Quantizer::plan(const Example& example) const {
  if (impl_->prepared) return impl_->prepared_plan;
  return impl_->backend->plan(example);
}

Model Quantizer::prepare(const Example& example) {
  Impl& s = *impl_;
  if (s.prepared) {
    if (s.eager()) {
      warn("Model has already been prepared; prepare() does nothing.");
      return *s.prepared;
    }
    throw Error("Model has already been prepared. Cannot re-prepare a prepared model.");
  }
  auto [model, plan] = s.backend->prepare(example);
  s.prepared = std::move(model);
  s.prepared_plan = std::move(plan);
  s.set_all(/*observer=*/false, /*fake_quant=*/true);
  s.backend->sync();
  return *s.prepared;
}

bool Quantizer::is_prepared() const { return impl_->prepared.has_value(); }
Model Quantizer::model() const { return impl_->prepared ? *impl_->prepared : impl_->model; }

// ------------------------------------------------------------ modes

Quantizer::ModeGuard::ModeGuard(ModeGuard&& o) noexcept
    : impl_(o.impl_), training_(o.training_), was_training_(o.was_training_) {
  o.impl_ = nullptr;
}

void Quantizer::ModeGuard::exit() {
  if (!impl_) return;
  Impl* impl = impl_;
  impl_ = nullptr;
  impl->exit_mode(training_, was_training_);
}

Quantizer::ModeGuard::~ModeGuard() {
  try {
    exit();
  } catch (const std::exception& e) {
    warn(std::string("leaving a quantization mode failed: ") + e.what());
  }
}

Quantizer::ModeGuard Quantizer::calibration_mode() {
  Impl& s = *impl_;
  s.require_prepared("entering calibration mode");
  const bool was_training = s.prepared->is_training();
  s.prepared->train(false);
  s.set_calibration();
  s.backend->sync();
  return ModeGuard(impl_.get(), /*training=*/false, was_training);
}

Quantizer::ModeGuard Quantizer::training_mode() {
  Impl& s = *impl_;
  s.require_prepared("entering training mode");
  if (s.in_training) throw Error("Nested training_mode() calls are not supported");
  const bool was_training = s.prepared->is_training();
  s.prepared->train(true);
  s.set_all(/*observer=*/true, /*fake_quant=*/true);
  s.apply_schedule();
  s.in_training = true;
  s.backend->sync();
  return ModeGuard(impl_.get(), /*training=*/true, was_training);
}

void Quantizer::step() {
  Impl& s = *impl_;
  if (!s.in_training) {
    throw Error(
        "step() can only be called inside training_mode() (after optimizer.step()); enter it "
        "with `auto guard = quantizer.training_mode();`");
  }
  s.backend->before_step();
  ++s.steps;
  // Without a schedule step() only counts (and refreshes eager weights): the
  // normal QAT loop, so no warning (docs/config.md, deliberate differences).
  s.apply_schedule();
  s.backend->sync();
}

std::int64_t Quantizer::step_count() const { return impl_->steps; }

void Quantizer::refresh_weights() {
  impl_->require_prepared("refresh_weights()");
  impl_->backend->sync();
}

void Quantizer::enable_observer(const Selector& which) {
  impl_->switch_flag(which, kObserverEnabled, true, "enable_observer");
}
void Quantizer::disable_observer(const Selector& which) {
  impl_->switch_flag(which, kObserverEnabled, false, "disable_observer");
}
void Quantizer::enable_fake_quant(const Selector& which) {
  impl_->switch_flag(which, kFakeQuantEnabled, true, "enable_fake_quant");
}
void Quantizer::disable_fake_quant(const Selector& which) {
  impl_->switch_flag(which, kFakeQuantEnabled, false, "disable_fake_quant");
}

std::vector<FakeQuantState> Quantizer::fake_quants() const {
  std::vector<FakeQuantState> out;
  if (!impl_->prepared) return out;
  for (auto& p : impl_->backend->points()) {
    FakeQuantState s;
    s.name = std::move(p.name);
    s.module = std::move(p.module);
    s.weight = p.weight;
    s.spec = std::move(p.spec);
    s.schedule = std::move(p.schedule);
    s.observer_enabled = fake_quant_flag(p.state, kObserverEnabled);
    s.fake_quant_enabled = fake_quant_flag(p.state, kFakeQuantEnabled);
    s.disabled = fake_quant_flag(p.state, kDisabled);
    s.scale = p.scale;
    s.zero_point = p.zero_point;
    s.minval = p.minval;
    out.push_back(std::move(s));
  }
  return out;
}

void Quantizer::save(const std::string& path) const {
  impl_->require_prepared("save()");
  impl_->backend->save(path);
}

void Quantizer::load(const std::string& path) {
  impl_->require_prepared("load()");
  impl_->backend->load(path);
  impl_->backend->sync();
}

FinalizeResult Quantizer::finalize() {
  Impl& s = *impl_;
  s.require_prepared("finalize()");
  if (s.in_training) throw Error("finalize() cannot be called inside training_mode()");
  s.set_all(/*observer=*/false, /*fake_quant=*/true);
  FinalizeResult r = s.backend->finalize();
  r.report.parameter_bytes_before = s.bytes_before;
  if (s.eager()) s.finalized = true;
  return r;
}

std::vector<std::string> Quantizer::get_compressible_op_names(const Model& model) {
  if (model.is_eager()) return {};
  return coreai_opt::detail::graph_compressible_op_names(model.script_module());
}

}  // namespace quantization
}  // namespace coreai_opt
