// The fake-quantization point shared by the eager and graph quantizers: observer,
// qparams and quantize-dequantize (reference §2.1 - §2.8), with all state in tensors.
#include "coreai_opt/torch/fake_quantize.h"

#include <torch/custom_class.h>
#include <torch/library.h>

#include <tuple>

#include "config/path.h"
#include "coreai_opt/errors.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/qparams.h"
#include "coreai_opt/quantization/axis_defaults.h"
#include "coreai_opt/quantization/plan.h"
#include "coreai_opt/quantization/schema.h"
#include "coreai_opt/torch/ops.h"
#include "coreai_opt/warnings.h"
#include "torch/ops_impl.h"

namespace coreai_opt {
namespace quantization {

namespace {

const char* role_name(TensorRole r) { return r == TensorRole::kWeight ? "weight" : "activation"; }

kernels::RangeCalculator calculator_for(const FakeQuantizeConfig& c) {
  switch (c.spec.qparam_calculator_cls) {
    case QParamCalculator::kStatic:
    case QParamCalculator::kDynamic:  // the static formulas, on every forward
      return kernels::RangeCalculator::kStatic;
    case QParamCalculator::kMovingAverage: return kernels::RangeCalculator::kMovingAverage;
    case QParamCalculator::kGlobalMinMax: return kernels::RangeCalculator::kGlobalMinMax;
    case QParamCalculator::kDefault: break;
  }
  return c.role == TensorRole::kWeight ? kernels::RangeCalculator::kStatic
                                       : kernels::RangeCalculator::kMovingAverage;
}

kernels::ParamPrecision precision_of(at::ScalarType t) {
  if (t == at::kBFloat16) return kernels::ParamPrecision::kBFloat16;
  if (t == at::kHalf) return kernels::ParamPrecision::kFloat16;
  return kernels::ParamPrecision::kFloat32;
}

std::int64_t flag(const at::Tensor& state, FakeQuantizeStateIndex i) {
  if (state.device().is_cpu()) return state.data_ptr<std::int64_t>()[i];
  return state[i].item<std::int64_t>();
}

void set_flag(at::Tensor& state, FakeQuantizeStateIndex i, std::int64_t v) {
  if (state.device().is_cpu()) {
    state.data_ptr<std::int64_t>()[i] = v;
  } else {
    state[i].fill_(v);
  }
}

// Where a point's tensors live, whatever Module::to or jit::Module::to did to them: the
// flags in host memory (the step branches on them on every call, so reading them must not
// wait for a device), the qparam tensors on the observed tensor's device in their own
// dtypes (a model moved to bfloat16 keeps float32 / int32 qparams; their values are
// already rounded to the observed dtype). A moved tensor is moved back once, in place, so
// that the module's buffer and the graph's attribute follow.
void place(FakeQuantizeTensors& t, const at::Device& device) {
  const auto put = [](at::Tensor& v, const at::Device& d, at::ScalarType type) {
    if (v.device() != d || v.scalar_type() != type) v.set_data(v.to(d, type));
  };
  put(t.state, at::kCPU, at::kLong);
  put(t.running_min, device, at::kFloat);
  put(t.running_max, device, at::kFloat);
  put(t.scale, device, at::kFloat);
  put(t.zero_point, device, at::kInt);
  put(t.minval, device, at::kFloat);
}

// One observer step over x into t's tensors (parameter-shaped, on x's device), with no
// gradient: the observed range, the running-range update and the qparams.
void observe_into(const at::Tensor& x, FakeQuantizeTensors& t, const FakeQuantizeConfig& c,
                  const std::vector<std::int64_t>& block, bool initialized) {
  at::NoGradGuard no_grad;
  kernels::ObserveStep step;
  step.calculator = calculator_for(c);
  step.averaging_constant = static_cast<float>(c.spec.averaging_constant);
  if (c.spec.float_range[0]) step.range.min = static_cast<float>(*c.spec.float_range[0]);
  if (c.spec.float_range[1]) step.range.max = static_cast<float>(*c.spec.float_range[1]);
  // The observed bounds, the running range and the qparams in x's dtype, as the reference
  // computes them when at least one bound comes from the data; with both bounds fixed by
  // float_range they stay float32 (reference 0.3.0).
  step.precision = step.range.min && step.range.max ? kernels::ParamPrecision::kFloat32
                                                    : precision_of(x.scalar_type());
  kernels::QParamsConfig qc;
  qc.dtype = c.spec.dtype;
  qc.scheme = c.spec.qscheme;
  qc.formulation = c.spec.qformulation;
  qc.scale_kind =
      c.spec.effective_scale_dtype() ? kernels::ScaleKind::kE8M0 : kernels::ScaleKind::kFloat;
  qc.precision = step.precision;
  step.qparams = qc;
  ops::detail::ObserveTensors ot{t.running_min, t.running_max, t.scale, t.zero_point, t.minval};
  ops::detail::observe_step("coreai_opt::fake_quant_forward", x.detach(), block, step, initialized,
                            nullptr, ot);
}

// Observes x into the point's own tensors and marks its qparams valid.
void observe(const at::Tensor& x, FakeQuantizeTensors& t, const FakeQuantizeConfig& c,
             const std::vector<std::int64_t>& block) {
  const auto param_shape = kernels::param_shape(x.sizes().vec(), block);
  const bool initialized = flag(t.state, kInitialized) != 0;
  if (initialized && t.running_min.sizes().vec() != param_shape) {
    throw InvalidArgumentError("fake quantization observed a tensor whose parameter shape " +
                               c10::str(at::IntArrayRef(param_shape)) + " differs from the " +
                               "one it was initialised with " + c10::str(t.running_min.sizes()));
  }
  if (!initialized) {
    for (at::Tensor* p : {&t.running_min, &t.running_max, &t.scale, &t.zero_point, &t.minval}) {
      p->resize_(param_shape);
    }
    t.zero_point.zero_();  // fp dtypes have neither; they stay 0
    t.minval.zero_();
  }
  observe_into(x, t, c, block, initialized);
  set_flag(t.state, kInitialized, 1);
}

// The qparams of x alone (the dynamic calculator), in temporaries of its parameter shape.
FakeQuantizeTensors observe_stateless(const at::Tensor& x, const FakeQuantizeConfig& c,
                                      const std::vector<std::int64_t>& block) {
  const auto param_shape = kernels::param_shape(x.sizes().vec(), block);
  const auto f32 = x.options().dtype(at::kFloat);
  FakeQuantizeTensors now;
  now.running_min = at::empty(param_shape, f32);
  now.running_max = at::empty(param_shape, f32);
  now.scale = at::empty(param_shape, f32);
  now.zero_point = at::empty(param_shape, x.options().dtype(at::kInt));
  now.minval = at::empty(param_shape, f32);
  observe_into(x, now, c, block, /*initialized=*/false);
  return now;
}

// The differentiable quantize-dequantize of x with the qparams in t.
at::Tensor fake_quantize_with(const at::Tensor& x, const FakeQuantizeTensors& t,
                              const FakeQuantizeConfig& c, const std::vector<std::int64_t>& block) {
  const bool is_int = !is_float(c.spec.dtype);
  const bool minval_form = is_int && c.spec.qformulation == QuantizationFormulation::kMinval;
  std::optional<at::Tensor> zp, mv;
  if (is_int && !minval_form) zp = t.zero_point;
  if (minval_form) mv = t.minval;
  return ops::fake_quantize(x, t.scale, zp, mv, block, c.spec.dtype,
                            static_cast<std::int64_t>(c.spec.quant_min()),
                            static_cast<std::int64_t>(c.spec.quant_max()));
}

at::Tensor fake_quant_forward_op(const at::Tensor& x, at::Tensor& running_min,
                                 at::Tensor& running_max, at::Tensor& scale, at::Tensor& zero_point,
                                 at::Tensor& minval, at::Tensor& state,
                                 c10::intrusive_ptr<FakeQuantizeSpec> spec) {
  FakeQuantizeTensors t{running_min, running_max, scale, zero_point, minval, state};
  return fake_quant_forward(x, t, spec->config(), spec->what());
}

// The pickled form of a FakeQuantizeSpec: (format version, role, canonical spec
// JSON, what). The spec goes through the config schema's own writer and strict
// reader, so a saved model carries no second spelling of the spec's fields.
using PickledSpec = std::tuple<std::int64_t, std::string, std::string, std::string>;
constexpr std::int64_t kPickledSpecVersion = 1;

PickledSpec pickle_spec(const c10::intrusive_ptr<FakeQuantizeSpec>& s) {
  return {kPickledSpecVersion, role_name(s->config().role), spec_to_json(s->config().spec),
          s->what()};
}

// Runs once per constant when a saved model is loaded: the spec is validated here,
// not by the calls.
c10::intrusive_ptr<FakeQuantizeSpec> unpickle_spec(PickledSpec state) {
  const auto& [version, role, spec_json, what] = state;
  const std::string where = "loading the fake-quant spec of " + what;
  if (version != kPickledSpecVersion) {
    throw InvalidArgumentError(where + ": format version " + std::to_string(version) +
                               " (this build reads version " + std::to_string(kPickledSpecVersion) +
                               ")");
  }
  if (role != "weight" && role != "activation") {
    throw InvalidArgumentError(where + ": role '" + role + "' (allowed: weight, activation)");
  }
  QuantizationSpec spec;
  try {
    spec = spec_from_json(spec_json);
  } catch (const ConfigError& e) {
    throw InvalidArgumentError(where + ": " + e.what());
  }
  const TensorRole r = role == "weight" ? TensorRole::kWeight : TensorRole::kActivation;
  return c10::make_intrusive<FakeQuantizeSpec>(FakeQuantizeConfig::make(spec, r, where), what);
}

}  // namespace

// ------------------------------------------------------------ FakeQuantizeConfig

FakeQuantizeConfig FakeQuantizeConfig::make(const QuantizationSpec& spec, TensorRole role,
                                            const std::string& what) {
  FakeQuantizeConfig c;
  try {
    c.spec = spec.validated();
  } catch (const ConfigError& e) {
    throw InvalidArgumentError(what + ": invalid quantization spec: " + e.what());
  }
  c.role = role;
  if (c.spec.qparam_calculator_cls == QParamCalculator::kDynamic) {
    // The reference's factory rules, checked when the point is built (prepare).
    if (role == TensorRole::kWeight) {
      throw InvalidArgumentError(what +
                                 ": DynamicQParamsCalculator is only supported for activation "
                                 "quantization, got "
                                 "quantization_target=CompressionTargetTensor.WEIGHT.");
    }
    if (c.spec.float_range[0] || c.spec.float_range[1]) {
      const auto bound = [](const std::optional<double>& b) {
        return b ? coreai_opt::detail::format_number(*b) : std::string("None");
      };
      throw InvalidArgumentError(
          what + ": StatelessQParamsCalculatorBase requires float_range=[None, None]; got [" +
          bound(c.spec.float_range[0]) + ", " + bound(c.spec.float_range[1]) +
          "]. Bounded ranges contradict the per-forward recompute contract.");
    }
  }
  if (needs_default_axis(c.spec.granularity)) {
    throw InvalidArgumentError(what + ": " + std::string(to_string(c.spec.granularity.type)) +
                               " granularity has no axis; resolve the default axis of the "
                               "consuming module first or give an explicit axis");
  }
  return c;
}

bool fake_quant_flag(const at::Tensor& state, FakeQuantizeStateIndex i) {
  return flag(state, i) != 0;
}
void set_fake_quant_flag(const at::Tensor& state, FakeQuantizeStateIndex i, bool on) {
  at::Tensor s = state;
  set_flag(s, i, on ? 1 : 0);
}

// ------------------------------------------------------------ FakeQuantizeTensors

FakeQuantizeTensors FakeQuantizeTensors::fresh() {
  FakeQuantizeTensors t;
  t.running_min = at::empty({0}, at::kFloat);
  t.running_max = at::empty({0}, at::kFloat);
  t.scale = at::empty({0}, at::kFloat);
  t.zero_point = at::empty({0}, at::kInt);
  t.minval = at::empty({0}, at::kFloat);
  t.state = at::zeros({4}, at::kLong);
  t.state[kObserverEnabled] = 1;
  t.state[kFakeQuantEnabled] = 1;
  return t;
}

// ------------------------------------------------------------ the step

at::Tensor fake_quant_forward(const at::Tensor& x, FakeQuantizeTensors& t,
                              const FakeQuantizeConfig& config, const std::string& what) {
  TORCH_CHECK(t.state.defined() && t.state.numel() == 4, "fake quantization of ", what,
              ": state must be a tensor of 4 flags");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "fake quantization of ", what, " needs a floating-point tensor, got ",
              x.scalar_type());
  place(t, x.device());
  if (flag(t.state, kDisabled) != 0) return x;
  std::vector<std::int64_t> block;
  try {
    block = block_size_for(config.spec.granularity, x.sizes().vec(), config.role);
  } catch (const BlockSizeMismatchError& e) {
    warn(block_mismatch_warning(what, config.role, x.sizes().vec(), e.what()));
    set_flag(t.state, kDisabled, 1);
    return x;
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError("fake quantization of " + what + ": " + e.what());
  }
  if (config.spec.qparam_calculator_cls == QParamCalculator::kDynamic) {
    // Stateless: qparams of this tensor only, in temporaries; the point's tensors stay
    // empty, so the parameter shape may change from call to call (per-token scales of a
    // variable sequence length). The observer is always on.
    if (flag(t.state, kFakeQuantEnabled) == 0) return x;
    return fake_quantize_with(x, observe_stateless(x, config, block), config, block);
  }
  if (flag(t.state, kObserverEnabled) != 0) observe(x, t, config, block);
  if (flag(t.state, kFakeQuantEnabled) == 0) return x;
  if (flag(t.state, kInitialized) == 0) {
    throw InvalidArgumentError("fake quantization of " + what +
                               " has no qparams yet: run a forward pass with its observer "
                               "enabled (calibration) before enabling fake quantization");
  }
  return fake_quantize_with(x, t, config, block);
}

// ------------------------------------------------------------ FakeQuantizeImpl

FakeQuantizeImpl::FakeQuantizeImpl(FakeQuantizeConfig config, std::string what)
    : config_(std::move(config)), what_(std::move(what)), t_(FakeQuantizeTensors::fresh()) {
  register_all();
}

void FakeQuantizeImpl::register_all() {
  t_.running_min = register_buffer("running_min", t_.running_min);
  t_.running_max = register_buffer("running_max", t_.running_max);
  t_.scale = register_buffer("scale", t_.scale);
  t_.zero_point = register_buffer("zero_point", t_.zero_point);
  t_.minval = register_buffer("minval", t_.minval);
  t_.state = register_buffer("state", t_.state);
}

at::Tensor FakeQuantizeImpl::forward(const at::Tensor& x) {
  return fake_quant_forward(x, t_, config_, what_);
}

void FakeQuantizeImpl::enable_observer(bool on) { set_flag(t_.state, kObserverEnabled, on ? 1 : 0); }
void FakeQuantizeImpl::enable_fake_quant(bool on) {
  set_flag(t_.state, kFakeQuantEnabled, on ? 1 : 0);
}
bool FakeQuantizeImpl::observer_enabled() const { return flag(t_.state, kObserverEnabled) != 0; }
bool FakeQuantizeImpl::fake_quant_enabled() const {
  return flag(t_.state, kFakeQuantEnabled) != 0;
}
bool FakeQuantizeImpl::disabled() const { return flag(t_.state, kDisabled) != 0; }
bool FakeQuantizeImpl::initialized() const { return flag(t_.state, kInitialized) != 0; }

}  // namespace quantization
}  // namespace coreai_opt

TORCH_LIBRARY_FRAGMENT(coreai_opt, m) {
  // The class first: the op's schema names it.
  m.class_<coreai_opt::quantization::FakeQuantizeSpec>("FakeQuantizeSpec")
      .def_pickle(
          [](const c10::intrusive_ptr<coreai_opt::quantization::FakeQuantizeSpec>& self) {
            return coreai_opt::quantization::pickle_spec(self);
          },
          [](coreai_opt::quantization::PickledSpec state) {
            return coreai_opt::quantization::unpickle_spec(std::move(state));
          });
  m.def(
      "fake_quant_forward(Tensor x, Tensor(a!) running_min, Tensor(b!) running_max, "
      "Tensor(c!) scale, Tensor(d!) zero_point, Tensor(e!) minval, Tensor(f!) state, "
      "__torch__.torch.classes.coreai_opt.FakeQuantizeSpec spec) -> Tensor",
      &coreai_opt::quantization::fake_quant_forward_op);
}
