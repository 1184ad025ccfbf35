// The observer step on CUDA (kernels/cuda.h): kernels::observe_step on device memory, one
// thread per parameter, through the per-parameter functions of ../qparams-inl.h that the
// host loop runs too. Parameter arrays are small (one entry per block), so one plain
// element per thread is enough; what matters is that the step never leaves the device.
#include "common.cuh"
// clang-format off: the shared per-parameter math needs common.cuh's CUDA headers first
#include "../qparams-inl.h"
// clang-format on

namespace coreai_opt::kernels::cuda {
namespace detail {
namespace {

namespace kd = ::coreai_opt::kernels::detail;

__global__ void __launch_bounds__(kThreads)
    observe_step_kernel(kd::ObserveConstants k, const std::uint8_t* initialized_flag,
                        bool initialized_host, const float* amin, const float* amax, std::int64_t n,
                        float* running_min, float* running_max, float* scale,
                        std::int32_t* zero_point, float* minval) {
  const std::int64_t i =
      static_cast<std::int64_t>(blockIdx.x) * static_cast<std::int64_t>(blockDim.x) +
      static_cast<std::int64_t>(threadIdx.x);
  if (i >= n) return;
  const bool initialized = initialized_flag != nullptr ? *initialized_flag != 0 : initialized_host;
  float lo = initialized ? running_min[i] : 0.0f;
  float hi = initialized ? running_max[i] : 0.0f;
  float s = 0.0f, mv = 0.0f;
  std::int32_t zp = 0;
  std::uint8_t code = 0;
  kd::observe_one(k, initialized, amin != nullptr ? amin[i] : 0.0f,
                  amax != nullptr ? amax[i] : 0.0f, lo, hi, s, zp, mv, code);
  running_min[i] = lo;
  running_max[i] = hi;
  if (!k.choose) return;
  scale[i] = s;
  if (!k.qparams.is_float) {
    zero_point[i] = zp;
    minval[i] = mv;
  }
}

}  // namespace
}  // namespace detail

CudaError observe_step(const ObserveStep& step, const std::uint8_t* initialized_flag,
                       bool initialized, const float* amin, const float* amax, std::int64_t n,
                       float* running_min, float* running_max, float* scale,
                       std::int32_t* zero_point, float* minval, CudaStream stream) {
  if (n <= 0) return 0;
  const auto grid = static_cast<unsigned>((n + detail::kThreads - 1) / detail::kThreads);
  COREAI_OPT_LAUNCH(grid, stream, detail::observe_step_kernel)
  (kernels::detail::observe_constants(step), initialized_flag, initialized, amin, amax, n,
   running_min, running_max, scale, zero_point, minval);
  return detail::launch_status();
}

}  // namespace coreai_opt::kernels::cuda
