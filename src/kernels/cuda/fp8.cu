// fp8 (float8_e4m3fn, float8_e5m2) fake-quantize / quantize / dequantize on CUDA
// (kernels/cuda.h), bit-identical to reference::fp8_* (src/kernels/reference/fp8.cpp).
// Encoding uses the sm_89+ conversion instruction where it is compiled in (minifloat.cuh).
#include "minifloat_ops.cuh"

namespace coreai_opt::kernels::cuda {
namespace {

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
  return dispatch_fp8(format, [&](auto f) {
    return detail::MiniLaunch<decltype(f), detail::ByteCodes>::fake_quantize(t, x, y, mask,
                                                                             layout, scale, stream);
  });
}

CudaError fp8_quantize(DType format, ElementType t, const void* x, std::uint8_t* codes,
                       const ParamLayout& layout, const float* scale, CudaStream stream) {
  return dispatch_fp8(format, [&](auto f) {
    return detail::MiniLaunch<decltype(f), detail::ByteCodes>::quantize(t, x, codes, layout,
                                                                        scale, stream);
  });
}

CudaError fp8_dequantize(DType format, ElementType t, const std::uint8_t* codes, void* y,
                         const ParamLayout& layout, const float* scale, CudaStream stream) {
  return dispatch_fp8(format, [&](auto f) {
    return detail::MiniLaunch<decltype(f), detail::ByteCodes>::dequantize(t, codes, y, layout,
                                                                          scale, stream);
  });
}

}  // namespace coreai_opt::kernels::cuda
