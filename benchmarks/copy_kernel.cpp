// Highway load/store copy: the same instruction set as the kernels, so the baseline is a
// fair "as fast as memory allows" reference (glibc memcpy is slower on this machine).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "copy_kernel.cpp"
#include "copy_kernel.h"

#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void Copy(const float* src, float* dst, std::size_t begin, std::size_t end) {
  const hn::ScalableTag<float> d;
  const std::size_t n = hn::Lanes(d);
  std::size_t i = begin;
  for (; i + 4 * n <= end; i += 4 * n) {
    const auto a = hn::LoadU(d, src + i);
    const auto b = hn::LoadU(d, src + i + n);
    const auto c = hn::LoadU(d, src + i + 2 * n);
    const auto e = hn::LoadU(d, src + i + 3 * n);
    hn::StoreU(a, d, dst + i);
    hn::StoreU(b, d, dst + i + n);
    hn::StoreU(c, d, dst + i + 2 * n);
    hn::StoreU(e, d, dst + i + 3 * n);
  }
  for (; i < end; ++i) dst[i] = src[i];
}

}  // namespace HWY_NAMESPACE
}  // namespace bench
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreai_opt::bench {
HWY_EXPORT(Copy);
void simd_copy(const float* src, float* dst, std::size_t begin, std::size_t end) {
  HWY_DYNAMIC_DISPATCH(Copy)(src, dst, begin, end);
}
}  // namespace coreai_opt::bench
#endif
