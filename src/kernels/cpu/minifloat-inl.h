// Highway bodies shared by the fp8 and fp4 translation units: fake-quantize, quantize to
// codes and dequantize for a small float format with one float scale per block.
// Included once per target (toggling include guard).
#if defined(COREAI_OPT_KERNELS_CPU_MINIFLOAT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREAI_OPT_KERNELS_CPU_MINIFLOAT_INL_H_
#undef COREAI_OPT_KERNELS_CPU_MINIFLOAT_INL_H_
#else
#define COREAI_OPT_KERNELS_CPU_MINIFLOAT_INL_H_
#endif

#include <type_traits>

#include "coreai_opt/kernels/fp8.h"
#include "kernels/cpu/common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace kernels {
namespace HWY_NAMESPACE {

// Compile-time description of a format (mirrors MiniFloatFormat in format/fp8.h).
template <int kE, int kM, int kB, int kMaxNum, int kMaxDen, int kNanMag, bool kIeee>
struct MiniFloatTraits {
  static constexpr int E = kE;
  static constexpr int M = kM;
  static constexpr int B = kB;
  static constexpr float kMax = static_cast<float>(kMaxNum) / static_cast<float>(kMaxDen);
  static constexpr int kSignShift = kE + kM;
  static constexpr int kMagMask = (1 << (kE + kM)) - 1;
  static constexpr int kNan = kNanMag;  // -1: the format has no NaN (NaN encodes as +0)
  static constexpr bool kHasIeeeSpecials = kIeee;
};
using E4M3FNTraits = MiniFloatTraits<4, 3, 7, 448, 1, 0x7F, false>;
using E5M2Traits = MiniFloatTraits<5, 2, 15, 57344, 1, 0x7F, true>;
using E2M1Traits = MiniFloatTraits<2, 1, 1, 6, 1, -1, false>;

namespace mf {

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;

struct ScaleVecs {
  VF scale, inv_scale;
};

// Calls f(recip, i, count, scales) over [begin, end) (see int.cpp ForEachParamVector).
template <class F>
HWY_INLINE void ForEachScaleVector(const FloatQuantParams& p, std::size_t begin, std::size_t end,
                                   F&& f) {
  const DF d;
  if (p.run_length == 1) {
    ForEachVector(d, begin, end, [&](std::size_t i, std::size_t count) COREAI_OPT_LAMBDA_INLINE {
      const VF s = LoadN(d, p.scale + i, count);
      f(std::false_type(), i, count, ScaleVecs{s, s});
    });
    return;
  }
  const bool try_recip = p.run_length >= 4 * hn::Lanes(d);  // see int.cpp
  ForEachRun(begin, end, p.run_length,
             [&](std::size_t i0, std::size_t i1, std::size_t b) COREAI_OPT_LAMBDA_INLINE {
               const float s = p.scale[b];
               const ScaleVecs sv{hn::Set(d, s), hn::Set(d, try_recip ? 1.0f / s : s)};
               if (try_recip && HasExactReciprocal(s)) {
                 ForEachVector(d, i0, i1,
                               [&](std::size_t i, std::size_t n)
                                   COREAI_OPT_LAMBDA_INLINE { f(std::true_type(), i, n, sv); });
               } else {
                 ForEachVector(d, i0, i1,
                               [&](std::size_t i, std::size_t n)
                                   COREAI_OPT_LAMBDA_INLINE { f(std::false_type(), i, n, sv); });
               }
             });
}

template <bool kRecip>
HWY_INLINE VF Scaled(VF x, const ScaleVecs& s) {
  return kRecip ? hn::Mul(x, s.inv_scale) : hn::Div(x, s.scale);
}

// Signed codes (sign at bit kSignShift) of r, saturating, NaN per the format.
template <class T>
HWY_INLINE hn::Vec<DI> Encode(DF d, VF r) {
  const DI di;
  const VF a = hn::Min(hn::Abs(r), hn::Set(d, T::kMax));
  auto code = EncodeMiniFloat<T::M, T::B>(d, a);
  const auto sign = hn::And(hn::ShiftRight<31 - T::kSignShift>(hn::BitCast(di, r)),
                            hn::Set(di, 1 << T::kSignShift));
  code = hn::Or(code, sign);
  const auto nan = hn::RebindMask(di, hn::IsNaN(r));
  if (T::kNan >= 0) {
    return hn::IfThenElse(nan, hn::Or(sign, hn::Set(di, T::kNan)), code);
  }
  return hn::IfThenZeroElse(nan, code);
}

// Values of signed codes (low kSignShift + 1 bits of each lane).
template <class T>
HWY_INLINE VF Decode(DF d, hn::Vec<DI> code) {
  const DI di;
  const auto mag = hn::And(code, hn::Set(di, T::kMagMask));
  VF v = DecodeMiniFloatMagnitude<T::M, T::B>(d, mag);
  if (T::kHasIeeeSpecials) {
    const auto inf_mag = hn::Set(di, ((1 << T::E) - 1) << T::M);
    const auto special = hn::RebindMask(d, hn::Gt(mag, hn::Sub(inf_mag, hn::Set(di, 1))));
    const auto is_inf = hn::RebindMask(d, hn::Eq(mag, inf_mag));
    v = hn::IfThenElse(special, hn::IfThenElse(is_inf, hn::Set(d, HUGE_VALF), hn::Set(d, NAN)), v);
  } else if (T::kNan >= 0) {
    v = hn::IfThenElse(hn::RebindMask(d, hn::Eq(mag, hn::Set(di, T::kNan))), hn::Set(d, NAN), v);
  }
  const auto sign =
      hn::ShiftLeft<31 - T::kSignShift>(hn::And(code, hn::Set(di, 1 << T::kSignShift)));
  return hn::Or(v, hn::BitCast(d, sign));
}

template <class T>
void FakeQuantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin, std::size_t end,
                  const FloatQuantParams& p) {
  const DF d;
  const VF hi = hn::Set(d, T::kMax);
  const VF lo = hn::Neg(hi);
  ForEachScaleVector(p, begin, end,
                     [&](auto recip, std::size_t i, std::size_t count, const ScaleVecs& s)
                         COREAI_OPT_LAMBDA_INLINE {
                           const VF r = Scaled<decltype(recip)::value>(LoadN(d, x + i, count), s);
                           const VF a = hn::Min(hn::Abs(r), hi);
                           const VF q = hn::CopySign(RoundToMiniFloat<T::M, T::B>(d, a), r);
                           const VF out = hn::IfThenElse(hn::IsNaN(r), r, hn::Mul(q, s.scale));
                           StoreN(d, out, y + i, count);
                           if (mask != nullptr)
                             StoreMask01(d, hn::And(hn::Ge(r, lo), hn::Le(r, hi)), mask + i, count);
                         });
}

// Element i's code byte goes to out[i - out_base].
template <class T>
void Quantize(const float* x, std::uint8_t* out, std::size_t out_base, std::size_t begin,
              std::size_t end, const FloatQuantParams& p) {
  const DF d;
  const hn::Rebind<std::uint8_t, DF> d8;
  ForEachScaleVector(p, begin, end,
                     [&](auto recip, std::size_t i, std::size_t count,
                         const ScaleVecs& s) COREAI_OPT_LAMBDA_INLINE {
                       const VF r = Scaled<decltype(recip)::value>(LoadN(d, x + i, count), s);
                       StoreN(d8, hn::DemoteTo(d8, Encode<T>(d, r)), out + (i - out_base), count);
                     });
}

// Element i's code byte is in[i - in_base].
template <class T>
void Dequantize(const std::uint8_t* in, std::size_t in_base, float* y, std::size_t begin,
                std::size_t end, const FloatQuantParams& p) {
  const DF d;
  const DI di;
  const hn::Rebind<std::uint8_t, DF> d8;
  ForEachScaleVector(
      p, begin, end,
      [&](auto, std::size_t i, std::size_t count, const ScaleVecs& s) COREAI_OPT_LAMBDA_INLINE {
        const auto code = hn::PromoteTo(di, LoadN(d8, in + (i - in_base), count));
        StoreN(d, hn::Mul(Decode<T>(d, code), s.scale), y + i, count);
      });
}

}  // namespace mf
}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#endif  // COREAI_OPT_KERNELS_CPU_MINIFLOAT_INL_H_
