// The CUDA backend of the coreai_opt tensor ops and their registration for the CUDA
// dispatch key. The registered functions are the CPU ones (ops_impl.cpp): they validate,
// allocate and route; this file only launches the coreai_opt::cuda kernels
// (kernels/cuda.h) on the tensors' device and its current stream. Plain C++ with the CUDA
// runtime headers that LibTorch's CUDA headers include; no .cu in the torch layer.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstdint>
#include <limits>

#include "coreai_opt/errors.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/cuda.h"
#include "torch/ops_impl.h"

namespace coreai_opt::ops::detail {
namespace {

namespace k = coreai_opt::kernels;
namespace kc = coreai_opt::kernels::cuda;

kc::ElementType element_type(const Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return kc::ElementType::kFloat32;
    case at::kBFloat16:
      return kc::ElementType::kBFloat16;
    case at::kHalf:
      return kc::ElementType::kFloat16;
    default:
      break;
  }
  TORCH_CHECK(false, op, ": the CUDA kernels take float32, bfloat16 or float16, got ",
              t.scalar_type());
}

kc::ParamLayout layout_of(const k::BlockwiseView& v, const char* op) {
  try {
    return kc::make_param_layout(v);
  } catch (const coreai_opt::Error& e) {
    TORCH_CHECK(false, op, ": ", e.what());
  }
}

kc::IntParams int_params(const QuantParams& p) {
  kc::IntParams ip;
  ip.scale = p.scale.data_ptr<float>();
  if (p.zero_point.defined()) ip.zero_point = p.zero_point.data_ptr<std::int32_t>();
  if (p.minval.defined()) ip.minval = p.minval.data_ptr<float>();
  ip.quant_min = static_cast<std::int32_t>(p.quant_min);
  ip.quant_max = static_cast<std::int32_t>(p.quant_max);
  return ip;
}

std::uint8_t* bytes(Tensor& t) { return static_cast<std::uint8_t*>(t.data_ptr()); }
const std::uint8_t* bytes(const Tensor& t) {
  return static_cast<const std::uint8_t*>(t.data_ptr());
}

// A launch on the device of `t` (made current for the call) and that device's current
// stream, the one ATen's own kernels on these tensors use.
class Launch {
 public:
  Launch(const Tensor& t, const char* op)
      : guard_(t.device()),
        stream_(at::cuda::getCurrentCUDAStream(t.get_device()).stream()),
        op_(op) {}
  kc::CudaStream stream() const { return stream_; }
  // Launch errors surface here; faults inside a kernel at the next synchronising call.
  void check(kc::CudaError err, const char* kernel) const {
    TORCH_CHECK(err == 0, op_, ": CUDA kernel ", kernel,
                " failed to launch: ", kc::error_string(err));
  }

 private:
  c10::cuda::CUDAGuard guard_;
  kc::CudaStream stream_;
  const char* op_;
};

void cuda_fake_quantize(const char* op, const Tensor& x, Tensor& y, Tensor* mask,
                        const k::BlockwiseView& v, DType dtype, const QuantParams& p) {
  const Launch launch(x, op);
  const kc::ElementType t = element_type(x, op);
  const kc::ParamLayout layout = layout_of(v, op);
  std::uint8_t* m =
      mask != nullptr ? reinterpret_cast<std::uint8_t*>(mask->data_ptr<bool>()) : nullptr;
  const float* scale = p.scale.data_ptr<float>();
  if (dtype == DType::kFloat4E2M1FNx2) {
    launch.check(
        kc::fp4_fake_quantize(t, x.data_ptr(), y.data_ptr(), m, layout, scale, launch.stream()),
        "fp4_fake_quantize");
  } else if (is_float(dtype)) {
    launch.check(kc::fp8_fake_quantize(dtype, t, x.data_ptr(), y.data_ptr(), m, layout, scale,
                                       launch.stream()),
                 "fp8_fake_quantize");
  } else {
    launch.check(kc::int_fake_quantize(t, x.data_ptr(), y.data_ptr(), m, layout, int_params(p),
                                       launch.stream()),
                 "int_fake_quantize");
  }
}

void cuda_quantize(const char* op, const Tensor& x, Tensor& codes, const k::BlockwiseView& v,
                   DType dtype, const QuantParams& p, bool packed) {
  const Launch launch(x, op);
  const kc::ElementType t = element_type(x, op);
  const kc::ParamLayout layout = layout_of(v, op);
  const float* scale = p.scale.data_ptr<float>();
  if (dtype == DType::kFloat4E2M1FNx2) {
    launch.check(
        kc::fp4_quantize_packed(t, x.data_ptr(), bytes(codes), layout, scale, launch.stream()),
        "fp4_quantize_packed");
  } else if (is_float(dtype)) {
    launch.check(
        kc::fp8_quantize(dtype, t, x.data_ptr(), bytes(codes), layout, scale, launch.stream()),
        "fp8_quantize");
  } else if (packed) {
    launch.check(kc::int_quantize_packed4(t, x.data_ptr(), bytes(codes), layout, int_params(p),
                                          launch.stream()),
                 "int_quantize_packed4");
  } else {
    launch.check(
        kc::int_quantize(t, x.data_ptr(), bytes(codes), layout, int_params(p), launch.stream()),
        "int_quantize");
  }
}

void cuda_dequantize(const char* op, const Tensor& codes, Tensor& y, const k::BlockwiseView& v,
                     DType dtype, const QuantParams& p, bool packed) {
  const Launch launch(codes, op);
  const kc::ElementType t = element_type(y, op);
  const kc::ParamLayout layout = layout_of(v, op);
  const float* scale = p.scale.data_ptr<float>();
  if (dtype == DType::kFloat4E2M1FNx2) {
    launch.check(
        kc::fp4_dequantize_packed(t, bytes(codes), y.data_ptr(), layout, scale, launch.stream()),
        "fp4_dequantize_packed");
  } else if (is_float(dtype)) {
    launch.check(
        kc::fp8_dequantize(dtype, t, bytes(codes), y.data_ptr(), layout, scale, launch.stream()),
        "fp8_dequantize");
  } else if (packed) {
    launch.check(kc::int_dequantize_packed4(t, bytes(codes), y.data_ptr(), layout, int_params(p),
                                            launch.stream()),
                 "int_dequantize_packed4");
  } else {
    launch.check(
        kc::int_dequantize(t, bytes(codes), y.data_ptr(), layout, int_params(p), launch.stream()),
        "int_dequantize");
  }
}

void cuda_mxfp4_quantize(const char* op, const Tensor& x, Tensor& packed, Tensor& scales,
                         int64_t block_size) {
  const Launch launch(x, op);
  launch.check(kc::mxfp4_quantize(element_type(x, op), x.data_ptr(), bytes(packed), bytes(scales),
                                  x.numel(), block_size, launch.stream()),
               "mxfp4_quantize");
}

void cuda_mxfp4_dequantize(const char* op, const Tensor& packed, const Tensor& scales, Tensor& y,
                           int64_t block_size) {
  const Launch launch(packed, op);
  launch.check(kc::mxfp4_dequantize(element_type(y, op), bytes(packed), bytes(scales), y.data_ptr(),
                                    y.numel(), block_size, launch.stream()),
               "mxfp4_dequantize");
}

void cuda_block_minmax(const char* op, const Tensor& x, const k::BlockwiseView& v, Tensor& mins,
                       Tensor& maxs) {
  const Launch launch(x, op);
  // minmax_update folds into the stored values: start from the empty range.
  mins.fill_(std::numeric_limits<float>::infinity());
  maxs.fill_(-std::numeric_limits<float>::infinity());
  if (x.numel() == 0) return;
  launch.check(kc::minmax_update(element_type(x, op), x.data_ptr(), layout_of(v, op),
                                 mins.data_ptr<float>(), maxs.data_ptr<float>(), launch.stream()),
               "minmax_update");
}

void cuda_observe_step(const char* op, const Tensor& mins, const Tensor& maxs,
                       const k::ObserveStep& step, bool initialized, const Tensor* initialized_flag,
                       ObserveTensors& t) {
  const Launch launch(t.running_min, op);
  const auto ptr = [](const Tensor& v) { return v.defined() ? v.data_ptr<float>() : nullptr; };
  const std::uint8_t* flag = initialized_flag != nullptr ? bytes(*initialized_flag) : nullptr;
  launch.check(kc::observe_step(
                   step, flag, initialized, ptr(mins), ptr(maxs), t.running_min.numel(),
                   t.running_min.data_ptr<float>(), t.running_max.data_ptr<float>(), ptr(t.scale),
                   t.zero_point.defined() ? t.zero_point.data_ptr<std::int32_t>() : nullptr,
                   ptr(t.minval), launch.stream()),
               "observe_step");
}

}  // namespace

const Backend& cuda_backend() {
  static const Backend backend{&cuda_fake_quantize,  &cuda_quantize,         &cuda_dequantize,
                               &cuda_mxfp4_quantize, &cuda_mxfp4_dequantize, &cuda_block_minmax,
                               &cuda_observe_step};
  return backend;
}

}  // namespace coreai_opt::ops::detail

TORCH_LIBRARY_IMPL(coreai_opt, CUDA, m) { coreai_opt::ops::detail::register_kernels(m); }
