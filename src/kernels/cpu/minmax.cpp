// Highway per-block min/max reduction (kernels/minmax.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/minmax.cpp"
#include "coreai_opt/kernels/minmax.h"

#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace kernels {
namespace HWY_NAMESPACE {
namespace {

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Folds x[i0, i1) into one block's min/max. Min/Max of a NaN lane differ between
// targets, so NaN is tracked separately and wins at the end.
void ReduceRun(const float* x, std::size_t i0, std::size_t i1, float* mn, float* mx) {
  const DF d;
  const std::size_t n = hn::Lanes(d);
  VF vmin = hn::Set(d, std::numeric_limits<float>::infinity());
  VF vmax = hn::Neg(vmin);
  auto nan = hn::Zero(d);
  std::size_t i = i0;
  // Two accumulators hide the latency of Min/Max.
  if (i1 - i0 >= 2 * n) {
    VF vmin2 = vmin, vmax2 = vmax;
    auto nan2 = nan;
    for (; i + 2 * n <= i1; i += 2 * n) {
      const VF a = hn::LoadU(d, x + i);
      const VF b = hn::LoadU(d, x + i + n);
      vmin = hn::Min(vmin, a);
      vmax = hn::Max(vmax, a);
      vmin2 = hn::Min(vmin2, b);
      vmax2 = hn::Max(vmax2, b);
      nan = hn::Or(nan, hn::VecFromMask(d, hn::IsNaN(a)));
      nan2 = hn::Or(nan2, hn::VecFromMask(d, hn::IsNaN(b)));
    }
    vmin = hn::Min(vmin, vmin2);
    vmax = hn::Max(vmax, vmax2);
    nan = hn::Or(nan, nan2);
  }
  for (; i < i1; i += n) {
    const std::size_t count = std::min(n, i1 - i);
    VF a;
    if (count == n) {
      a = hn::LoadU(d, x + i);
    } else {  // pad with the first element of the piece, which is neutral for min/max
      HWY_ALIGN float buf[kMaxFloatLanes];
      for (std::size_t k = 0; k < n; ++k) buf[k] = x[i + (k < count ? k : 0)];
      a = hn::Load(d, buf);
    }
    vmin = hn::Min(vmin, a);
    vmax = hn::Max(vmax, a);
    nan = hn::Or(nan, hn::VecFromMask(d, hn::IsNaN(a)));
  }
  if (!hn::AllFalse(d, hn::MaskFromVec(nan)) || std::isnan(*mn) || std::isnan(*mx)) {
    *mn = *mx = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  // "+ 0.0f": a zero result is +0, as in the reference, whichever zero Min/Max picked.
  *mn = std::min(*mn, hn::GetLane(hn::MinOfLanes(d, vmin))) + 0.0f;
  *mx = std::max(*mx, hn::GetLane(hn::MaxOfLanes(d, vmax))) + 0.0f;
}

// run_length 1: element-wise into the block arrays.
void UpdateElementwise(const float* x, std::size_t begin, std::size_t end, float* mins,
                       float* maxs) {
  const DF d;
  ForEachVector(d, begin, end, [&](std::size_t i, std::size_t count) {
    const VF a = LoadN(d, x + i, count);
    const VF lo = LoadN(d, mins + i, count);
    const VF hi = LoadN(d, maxs + i, count);
    const auto any_nan = hn::Or(hn::Or(hn::IsNaN(a), hn::IsNaN(lo)), hn::IsNaN(hi));
    const VF qnan = hn::Set(d, std::numeric_limits<float>::quiet_NaN());
    const VF zero = hn::Zero(d);  // adding +0 turns a -0 result into +0, as the reference
    StoreN(d, hn::IfThenElse(any_nan, qnan, hn::Add(hn::Min(lo, a), zero)), mins + i, count);
    StoreN(d, hn::IfThenElse(any_nan, qnan, hn::Add(hn::Max(hi, a), zero)), maxs + i, count);
  });
}

}  // namespace

void MinMaxUpdate(const float* x, std::size_t begin, std::size_t end, std::size_t run_length,
                  float* mins, float* maxs) {
  if (run_length == 1) {
    UpdateElementwise(x, begin, end, mins, maxs);
    return;
  }
  ForEachRun(begin, end, run_length, [&](std::size_t i0, std::size_t i1, std::size_t b) {
    ReduceRun(x, i0, i1, mins + b, maxs + b);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreai_opt {
namespace kernels {

HWY_EXPORT(MinMaxUpdate);

void minmax_update(const float* x, std::size_t begin, std::size_t end, std::size_t run_length,
                   float* mins, float* maxs) {
  HWY_DYNAMIC_DISPATCH(MinMaxUpdate)(x, begin, end, run_length, mins, maxs);
}

}  // namespace kernels
}  // namespace coreai_opt
#endif  // HWY_ONCE
