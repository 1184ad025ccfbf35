// Registration of the coreai_opt tensor ops (TORCH_LIBRARY), the autograd rule of
// fake_quantize (straight-through estimator with clipping, reference §2.8), and the C++
// entry points of coreai_opt/torch/ops.h, which call through the dispatcher.
#include "coreai_opt/torch/ops.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <string>

#include "torch/ops_impl.h"

namespace coreai_opt::ops {
namespace {

using at::IntArrayRef;
using at::Tensor;
using detail::OptTensor;

// fake_quantize under autograd: forward computes the in-range mask, backward passes the
// gradient where the mask is set (dx = dy * mask) and none to scale / zero point / minval.
class FakeQuantizeFunction : public torch::autograd::Function<FakeQuantizeFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& input,
                        const Tensor& scale, const OptTensor& zero_point, const OptTensor& minval,
                        IntArrayRef block_size, c10::string_view dtype, int64_t quant_min,
                        int64_t quant_max) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("coreai_opt::fake_quantize_with_mask", "")
                         .typed<std::tuple<Tensor, Tensor>(
                             const Tensor&, const Tensor&, const OptTensor&, const OptTensor&,
                             IntArrayRef, c10::string_view, int64_t, int64_t)>();
    auto [y, mask] =
        op.call(input, scale, zero_point, minval, block_size, dtype, quant_min, quant_max);
    ctx->save_for_backward({mask});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    const Tensor mask = ctx->get_saved_variables()[0];
    const Tensor& dy = grad_outputs[0];
    return {dy * mask.to(dy.scalar_type()),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor()};
  }
};

Tensor fake_quantize_autograd(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                              const OptTensor& minval, IntArrayRef block_size,
                              c10::string_view dtype, int64_t quant_min, int64_t quant_max) {
  // Nothing to differentiate (no grad mode, or an input without requires_grad): the
  // kernel without the in-range mask, which saves writing and keeping a byte per element.
  if (!at::GradMode::is_enabled() || !input.requires_grad()) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("coreai_opt::fake_quantize", "")
                         .typed<Tensor(const Tensor&, const Tensor&, const OptTensor&,
                                       const OptTensor&, IntArrayRef, c10::string_view, int64_t,
                                       int64_t)>();
    return op.call(input, scale, zero_point, minval, block_size, dtype, quant_min, quant_max);
  }
  return FakeQuantizeFunction::apply(input, scale, zero_point, minval, block_size, dtype, quant_min,
                                     quant_max);
}

std::string name_of(DType d) { return std::string(dtype_name(d)); }

const char* calculator_name(kernels::RangeCalculator c) {
  switch (c) {
    case kernels::RangeCalculator::kStatic:
      return "static";
    case kernels::RangeCalculator::kMovingAverage:
      return "moving_average";
    case kernels::RangeCalculator::kGlobalMinMax:
      return "global_minmax";
  }
  return "static";
}

template <class Sig>
c10::TypedOperatorHandle<Sig> find_op(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).typed<Sig>();
}

}  // namespace

TORCH_LIBRARY(coreai_opt, m) {
#define COREAI_OPT_QUANT_ARGS                                                          \
  "Tensor input, Tensor scale, Tensor? zero_point, Tensor? minval, int[] block_size, " \
  "str dtype, int quant_min=0, int quant_max=0"
  m.def("fake_quantize(" COREAI_OPT_QUANT_ARGS ") -> Tensor");
  m.def("fake_quantize.out(" COREAI_OPT_QUANT_ARGS ", *, Tensor(a!) out) -> Tensor(a!)");
  m.def("fake_quantize_with_mask(" COREAI_OPT_QUANT_ARGS ") -> (Tensor, Tensor)");
  m.def("quantize(" COREAI_OPT_QUANT_ARGS ", bool packed=False) -> Tensor");
  m.def("quantize.out(" COREAI_OPT_QUANT_ARGS
        ", bool packed=False, *, Tensor(a!) out) -> Tensor(a!)");
#undef COREAI_OPT_QUANT_ARGS
  m.def(
      "dequantize(Tensor codes, Tensor scale, Tensor? zero_point, Tensor? minval, "
      "int[] block_size, str dtype, int quant_min=0, int quant_max=0, bool packed=False, "
      "ScalarType? output_dtype=None) -> Tensor");
  m.def(
      "dequantize.out(Tensor codes, Tensor scale, Tensor? zero_point, Tensor? minval, "
      "int[] block_size, str dtype, int quant_min=0, int quant_max=0, bool packed=False, *, "
      "Tensor(a!) out) -> Tensor(a!)");
  m.def("mxfp4_quantize(Tensor input, int block_size=32) -> (Tensor, Tensor)");
  m.def(
      "mxfp4_quantize.out(Tensor input, int block_size=32, *, Tensor(a!) packed, "
      "Tensor(b!) scales) -> (Tensor(a!), Tensor(b!))");
  m.def(
      "mxfp4_dequantize(Tensor packed, Tensor scales, int block_size=32, "
      "ScalarType? output_dtype=None) -> Tensor");
  m.def("block_minmax(Tensor input, int[] block_size) -> (Tensor, Tensor)");
  m.def(
      "observe_(Tensor input, Tensor(a!) running_min, Tensor(b!) running_max, "
      "Tensor(c!) initialized, int[] block_size, str calculator, "
      "float averaging_constant=0.01, float? range_min=None, float? range_max=None) -> ()");
  m.def(
      "choose_qparams(Tensor min_val, Tensor max_val, str dtype, str qscheme='symmetric', "
      "str qformulation='zp', str? scale_dtype=None) -> (Tensor, Tensor, Tensor)");
}

namespace detail {

void register_kernels(torch::Library& m) {
  m.impl("fake_quantize", &fake_quantize_impl);
  m.impl("fake_quantize.out", &fake_quantize_out_impl);
  m.impl("fake_quantize_with_mask", &fake_quantize_with_mask_impl);
  m.impl("quantize", &quantize_impl);
  m.impl("quantize.out", &quantize_out_impl);
  m.impl("dequantize", &dequantize_impl);
  m.impl("dequantize.out", &dequantize_out_impl);
  m.impl("mxfp4_quantize", &mxfp4_quantize_impl);
  m.impl("mxfp4_quantize.out", &mxfp4_quantize_out_impl);
  m.impl("mxfp4_dequantize", &mxfp4_dequantize_impl);
  m.impl("block_minmax", &block_minmax_impl);
  m.impl("observe_", &observe_impl);
  m.impl("choose_qparams", &choose_qparams_impl);
}

}  // namespace detail

// The same functions serve CPU and CUDA tensors (ops_cuda.cpp registers them for the CUDA
// key); they pick the device's kernels themselves (detail::backend_for).
TORCH_LIBRARY_IMPL(coreai_opt, CPU, m) { detail::register_kernels(m); }

TORCH_LIBRARY_IMPL(coreai_opt, Autograd, m) { m.impl("fake_quantize", &fake_quantize_autograd); }

// ------------------------------------------------------------ C++ entry points

at::Tensor fake_quantize(const at::Tensor& input, const at::Tensor& scale,
                         const std::optional<at::Tensor>& zero_point,
                         const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                         DType dtype, std::int64_t quant_min, std::int64_t quant_max) {
  static auto op =
      find_op<Tensor(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&, IntArrayRef,
                     c10::string_view, int64_t, int64_t)>("coreai_opt::fake_quantize");
  return op.call(input, scale, zero_point, minval, block_size, name_of(dtype), quant_min,
                 quant_max);
}

at::Tensor& fake_quantize_out(const at::Tensor& input, const at::Tensor& scale,
                              const std::optional<at::Tensor>& zero_point,
                              const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                              DType dtype, std::int64_t quant_min, std::int64_t quant_max,
                              at::Tensor& out) {
  static auto op = find_op<Tensor&(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&,
                                   IntArrayRef, c10::string_view, int64_t, int64_t, Tensor&)>(
      "coreai_opt::fake_quantize", "out");
  return op.call(input, scale, zero_point, minval, block_size, name_of(dtype), quant_min, quant_max,
                 out);
}

std::tuple<at::Tensor, at::Tensor> fake_quantize_with_mask(
    const at::Tensor& input, const at::Tensor& scale, const std::optional<at::Tensor>& zero_point,
    const std::optional<at::Tensor>& minval, at::IntArrayRef block_size, DType dtype,
    std::int64_t quant_min, std::int64_t quant_max) {
  static auto op = find_op<std::tuple<Tensor, Tensor>(
      const Tensor&, const Tensor&, const OptTensor&, const OptTensor&, IntArrayRef,
      c10::string_view, int64_t, int64_t)>("coreai_opt::fake_quantize_with_mask");
  return op.call(input, scale, zero_point, minval, block_size, name_of(dtype), quant_min,
                 quant_max);
}

at::Tensor quantize(const at::Tensor& input, const at::Tensor& scale,
                    const std::optional<at::Tensor>& zero_point,
                    const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                    DType dtype, std::int64_t quant_min, std::int64_t quant_max, bool packed) {
  static auto op =
      find_op<Tensor(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&, IntArrayRef,
                     c10::string_view, int64_t, int64_t, bool)>("coreai_opt::quantize");
  return op.call(input, scale, zero_point, minval, block_size, name_of(dtype), quant_min, quant_max,
                 packed);
}

at::Tensor& quantize_out(const at::Tensor& input, const at::Tensor& scale,
                         const std::optional<at::Tensor>& zero_point,
                         const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                         DType dtype, std::int64_t quant_min, std::int64_t quant_max, bool packed,
                         at::Tensor& out) {
  static auto op = find_op<Tensor&(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&,
                                   IntArrayRef, c10::string_view, int64_t, int64_t, bool, Tensor&)>(
      "coreai_opt::quantize", "out");
  return op.call(input, scale, zero_point, minval, block_size, name_of(dtype), quant_min, quant_max,
                 packed, out);
}

at::Tensor dequantize(const at::Tensor& codes, const at::Tensor& scale,
                      const std::optional<at::Tensor>& zero_point,
                      const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                      DType dtype, std::int64_t quant_min, std::int64_t quant_max, bool packed,
                      at::ScalarType output_dtype) {
  static auto op =
      find_op<Tensor(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&, IntArrayRef,
                     c10::string_view, int64_t, int64_t, bool, std::optional<at::ScalarType>)>(
          "coreai_opt::dequantize");
  return op.call(codes, scale, zero_point, minval, block_size, name_of(dtype), quant_min, quant_max,
                 packed, output_dtype);
}

at::Tensor& dequantize_out(const at::Tensor& codes, const at::Tensor& scale,
                           const std::optional<at::Tensor>& zero_point,
                           const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                           DType dtype, std::int64_t quant_min, std::int64_t quant_max, bool packed,
                           at::Tensor& out) {
  static auto op = find_op<Tensor&(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&,
                                   IntArrayRef, c10::string_view, int64_t, int64_t, bool, Tensor&)>(
      "coreai_opt::dequantize", "out");
  return op.call(codes, scale, zero_point, minval, block_size, name_of(dtype), quant_min, quant_max,
                 packed, out);
}

std::tuple<at::Tensor, at::Tensor> mxfp4_quantize(const at::Tensor& input,
                                                  std::int64_t block_size) {
  static auto op =
      find_op<std::tuple<Tensor, Tensor>(const Tensor&, int64_t)>("coreai_opt::mxfp4_quantize");
  return op.call(input, block_size);
}

void mxfp4_quantize_out(const at::Tensor& input, std::int64_t block_size, at::Tensor& packed,
                        at::Tensor& scales) {
  static auto op = find_op<std::tuple<Tensor&, Tensor&>(const Tensor&, int64_t, Tensor&, Tensor&)>(
      "coreai_opt::mxfp4_quantize", "out");
  op.call(input, block_size, packed, scales);
}

at::Tensor mxfp4_dequantize(const at::Tensor& packed, const at::Tensor& scales,
                            std::int64_t block_size, at::ScalarType output_dtype) {
  static auto op =
      find_op<Tensor(const Tensor&, const Tensor&, int64_t, std::optional<at::ScalarType>)>(
          "coreai_opt::mxfp4_dequantize");
  return op.call(packed, scales, block_size, output_dtype);
}

std::tuple<at::Tensor, at::Tensor> block_minmax(const at::Tensor& input,
                                                at::IntArrayRef block_size) {
  static auto op =
      find_op<std::tuple<Tensor, Tensor>(const Tensor&, IntArrayRef)>("coreai_opt::block_minmax");
  return op.call(input, block_size);
}

void observe_(const at::Tensor& input, at::Tensor& running_min, at::Tensor& running_max,
              at::Tensor& initialized, at::IntArrayRef block_size,
              kernels::RangeCalculator calculator, double averaging_constant,
              std::optional<double> range_min, std::optional<double> range_max) {
  static auto op =
      find_op<void(const Tensor&, Tensor&, Tensor&, Tensor&, IntArrayRef, c10::string_view, double,
                   std::optional<double>, std::optional<double>)>("coreai_opt::observe_");
  op.call(input, running_min, running_max, initialized, block_size, calculator_name(calculator),
          averaging_constant, range_min, range_max);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> choose_qparams(
    const at::Tensor& min_val, const at::Tensor& max_val, const kernels::QParamsConfig& config) {
  static auto op = find_op<std::tuple<Tensor, Tensor, Tensor>(
      const Tensor&, const Tensor&, c10::string_view, c10::string_view, c10::string_view,
      std::optional<c10::string_view>)>("coreai_opt::choose_qparams");
  const std::optional<c10::string_view> sd = config.scale_kind == kernels::ScaleKind::kE8M0
                                                 ? std::optional<c10::string_view>("float8_e8m0fnu")
                                                 : std::nullopt;
  return op.call(min_val, max_val, name_of(config.dtype), std::string(scheme_name(config.scheme)),
                 config.formulation == QuantizationFormulation::kZp ? "zp" : "minval", sd);
}

}  // namespace coreai_opt::ops
