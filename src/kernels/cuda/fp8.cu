// fp8 (float8_e4m3fn, float8_e5m2) fake-quantize / quantize / dequantize on CUDA
// (kernels/cuda.h), bit-identical to reference::fp8_* (src/kernels/reference/fp8.cpp).
// Encoding uses the sm_89+ conversion instruction where it is compiled in (minifloat.cuh).
#include "minifloat_ops.cuh"

namespace coreai_opt::kernels::cuda {
namespace {

using detail::aligned;

/// Calls f(Format{}) for e4m3fn / e5m2; any other dtype is an invalid argument.
template <class Fn>
CudaError dispatch_fp8(DType format, Fn&& f) {
  switch (format) {
    case DType::kFloat8E4M3FN: return f(detail::E4M3{});
    case DType::kFloat8E5M2: return f(detail::E5M2{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

CudaError fp8_fake_quantize(DType format, ElementType t, const void* x, void* y,
                            std::uint8_t* mask, const ParamLayout& layout, const float* scale,
                            CudaStream stream) {
  if (scale == nullptr) return cudaErrorInvalidValue;
  return dispatch_fp8(format, [&](auto f) {
    return detail::dispatch_type(t, [&](auto tag) {
      using T = decltype(tag);
      const bool vec = aligned(x, 16) && aligned(y, 16) && aligned(mask, detail::kVecOf<T>);
      const detail::MiniFakeQuantOp<T, decltype(f)> op{
          static_cast<const T*>(x), static_cast<T*>(y), mask, scale,
          layout.run_length % detail::kVecOf<T> == 0};
      return detail::launch_map(op, layout, vec, stream);
    });
  });
}

CudaError fp8_quantize(DType format, ElementType t, const void* x, std::uint8_t* codes,
                       const ParamLayout& layout, const float* scale, CudaStream stream) {
  if (scale == nullptr) return cudaErrorInvalidValue;
  return dispatch_fp8(format, [&](auto f) {
    return detail::dispatch_type(t, [&](auto tag) {
      using T = decltype(tag);
      const bool vec = aligned(x, 16) && aligned(codes, detail::kVecOf<T>);
      const detail::MiniQuantizeOp<T, decltype(f)> op{static_cast<const T*>(x), codes, scale,
                                                      layout.run_length % detail::kVecOf<T> == 0};
      return detail::launch_map(op, layout, vec, stream);
    });
  });
}

CudaError fp8_dequantize(DType format, ElementType t, const std::uint8_t* codes, void* y,
                         const ParamLayout& layout, const float* scale, CudaStream stream) {
  if (scale == nullptr) return cudaErrorInvalidValue;
  return dispatch_fp8(format, [&](auto f) {
    return detail::dispatch_type(t, [&](auto tag) {
      using T = decltype(tag);
      const bool vec = aligned(codes, detail::kVecOf<T>) && aligned(y, 16);
      const detail::MiniDequantizeOp<T, decltype(f)> op{codes, static_cast<T*>(y), scale,
                                                        layout.run_length % detail::kVecOf<T> == 0};
      return detail::launch_map(op, layout, vec, stream);
    });
  });
}

}  // namespace coreai_opt::kernels::cuda
