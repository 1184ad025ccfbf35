// Highway kernels for fp8 e4m3fn / e5m2 (format/fp8.h, kernels/fp8.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/fp8.cpp"
#include "coreai_opt/kernels/fp8.h"

#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/cpu/minifloat-inl.h"

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace kernels {
namespace HWY_NAMESPACE {

void Fp8FakeQuantize(DType format, const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                     std::size_t end, const FloatQuantParams& p) {
  if (format == DType::kFloat8E5M2) {
    mf::FakeQuantize<E5M2Traits>(x, y, mask, begin, end, p);
  } else {
    mf::FakeQuantize<E4M3FNTraits>(x, y, mask, begin, end, p);
  }
}

void Fp8Quantize(DType format, const float* x, std::uint8_t* codes, std::size_t begin,
                 std::size_t end, const FloatQuantParams& p) {
  if (format == DType::kFloat8E5M2) {
    mf::Quantize<E5M2Traits>(x, codes, 0, begin, end, p);
  } else {
    mf::Quantize<E4M3FNTraits>(x, codes, 0, begin, end, p);
  }
}

void Fp8Dequantize(DType format, const std::uint8_t* codes, float* y, std::size_t begin,
                   std::size_t end, const FloatQuantParams& p) {
  if (format == DType::kFloat8E5M2) {
    mf::Dequantize<E5M2Traits>(codes, 0, y, begin, end, p);
  } else {
    mf::Dequantize<E4M3FNTraits>(codes, 0, y, begin, end, p);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreai_opt {
namespace kernels {

HWY_EXPORT(Fp8FakeQuantize);
HWY_EXPORT(Fp8Quantize);
HWY_EXPORT(Fp8Dequantize);

void fp8_fake_quantize(DType format, const float* x, float* y, std::uint8_t* mask,
                       std::size_t begin, std::size_t end, const FloatQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(Fp8FakeQuantize)(format, x, y, mask, begin, end, p);
}
void fp8_quantize(DType format, const float* x, std::uint8_t* codes, std::size_t begin,
                  std::size_t end, const FloatQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(Fp8Quantize)(format, x, codes, begin, end, p);
}
void fp8_dequantize(DType format, const std::uint8_t* codes, float* y, std::size_t begin,
                    std::size_t end, const FloatQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(Fp8Dequantize)(format, codes, y, begin, end, p);
}

}  // namespace kernels
}  // namespace coreai_opt
#endif  // HWY_ONCE
