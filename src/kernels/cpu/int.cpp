// Highway kernels for integer quantization (format/int.h, kernels/int.h).
// Compiled once per SIMD target by foreach_target.h; dispatched at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/int.cpp"
#include "coreai_opt/kernels/int.h"

#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/cpu/common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace kernels {
namespace HWY_NAMESPACE {
namespace {

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;

// The parameters of one vector of elements: broadcast from one block, or one per lane.
struct ParamVecs {
  VF scale, inv_scale, qoff, foff;
};

// Loads the parameters of elements [i, i + count) (run_length 1: one block per element).
template <bool kMinval>
HWY_INLINE ParamVecs ElementParams(DF d, const IntQuantParams& p, std::size_t i,
                                   std::size_t count) {
  const DI di;
  ParamVecs l;
  l.scale = LoadN(d, p.scale + i, count);
  l.inv_scale = l.scale;
  if (kMinval) {
    l.qoff = hn::Set(d, static_cast<float>(p.quant_min));
    l.foff = LoadN(d, p.minval + i, count);
  } else {
    l.qoff = p.zero_point != nullptr ? hn::ConvertTo(d, LoadN(di, p.zero_point + i, count))
                                     : hn::Zero(d);
    l.foff = hn::Zero(d);
  }
  return l;
}

template <bool kMinval>
HWY_INLINE ParamVecs BlockParams(DF d, const IntQuantParams& p, std::size_t b, bool recip) {
  ParamVecs l;
  const float s = p.scale[b];
  l.scale = hn::Set(d, s);
  l.inv_scale = recip ? hn::Set(d, 1.0f / s) : l.scale;
  if (kMinval) {
    l.qoff = hn::Set(d, static_cast<float>(p.quant_min));
    l.foff = hn::Set(d, p.minval[b]);
  } else {
    l.qoff = hn::Set(d, p.zero_point != nullptr ? static_cast<float>(p.zero_point[b]) : 0.0f);
    l.foff = hn::Zero(d);
  }
  return l;
}

// round((x - foff) / s) + qoff. For ZP foff is 0 and x - 0 == x exactly (also for -0 and
// NaN), so the subtraction is skipped. kRecip multiplies by an exact reciprocal instead
// of dividing (HasExactReciprocal), which gives the same bits.
template <bool kMinval, bool kRecip>
HWY_INLINE VF RoundedCode(DF d, VF x, const ParamVecs& l) {
  const VF v = kMinval ? hn::Sub(x, l.foff) : x;
  const VF t = kRecip ? hn::Mul(v, l.inv_scale) : hn::Div(v, l.scale);
  return hn::Add(RoundEven(d, t), l.qoff);
}

// Runs `f(i, count, lanes)` over [begin, end) with the right parameters per vector and
// the reciprocal fast path where it is exact. f is a generic lambda taking kRecip.
template <bool kMinval, class F>
HWY_INLINE void ForEachParamVector(const IntQuantParams& p, std::size_t begin, std::size_t end,
                                   F&& f) {
  const DF d;
  if (p.run_length == 1) {
    ForEachVector(d, begin, end, [&](std::size_t i, std::size_t count) COREAI_OPT_LAMBDA_INLINE {
      f(std::false_type(), i, count, ElementParams<kMinval>(d, p, i, count));
    });
    return;
  }
  // Short runs: the scalar reciprocal and its check cost more than they save.
  const bool try_recip = p.run_length >= 4 * hn::Lanes(d);
  ForEachRun(begin, end, p.run_length,
             [&](std::size_t i0, std::size_t i1, std::size_t b) COREAI_OPT_LAMBDA_INLINE {
               const ParamVecs l = BlockParams<kMinval>(d, p, b, try_recip);
               if (try_recip && HasExactReciprocal(p.scale[b])) {
                 ForEachVector(d, i0, i1,
                               [&](std::size_t i, std::size_t count)
                                   COREAI_OPT_LAMBDA_INLINE { f(std::true_type(), i, count, l); });
               } else {
                 ForEachVector(d, i0, i1,
                               [&](std::size_t i, std::size_t count)
                                   COREAI_OPT_LAMBDA_INLINE { f(std::false_type(), i, count, l); });
               }
             });
}

// Fake-quantize prefetches its input this many floats (8 KiB) ahead when a call covers at
// most kPrefetchMaxCount elements: with one load, one store and a long dependency chain
// per vector, too few loads were in flight to stream a 4 MiB tensor from L3 at the copy's
// speed (0.80x copy without, 0.93-0.97x with). Larger ranges stream from DRAM, where the
// hardware prefetchers keep up and the extra prefetches cost about 5% (64M elements).
constexpr std::size_t kPrefetchAhead = 2048;
constexpr std::size_t kPrefetchMaxCount = std::size_t{1} << 22;

template <bool kMinval>
void FakeQuantizeT(const float* x, float* y, std::uint8_t* mask, std::size_t begin, std::size_t end,
                   const IntQuantParams& p) {
  const DF d;
  const VF qmin = hn::Set(d, static_cast<float>(p.quant_min));
  const VF qmax = hn::Set(d, static_cast<float>(p.quant_max));
  const bool prefetch = end - begin <= kPrefetchMaxCount;
  ForEachParamVector<kMinval>(
      p, begin, end,
      [&](auto recip, std::size_t i, std::size_t count, const ParamVecs& l)
          COREAI_OPT_LAMBDA_INLINE {
            if (prefetch && i + kPrefetchAhead < end) hwy::Prefetch(x + i + kPrefetchAhead);
            const VF r = RoundedCode<kMinval, decltype(recip)::value>(d, LoadN(d, x + i, count), l);
            const VF q = hn::Min(hn::Max(r, qmin), qmax);
            VF out = hn::Add(hn::Mul(hn::Sub(q, l.qoff), l.scale), l.foff);
            out = hn::IfThenElse(hn::IsNaN(r), r, out);
            StoreN(d, out, y + i, count);
            if (mask != nullptr) {
              StoreMask01(d, hn::And(hn::Ge(r, qmin), hn::Le(r, qmax)), mask + i, count);
            }
          });
}

// Element i's code goes to out[i - out_base].
template <bool kMinval>
void QuantizeT(const float* x, std::uint8_t* out, std::size_t out_base, std::size_t begin,
               std::size_t end, const IntQuantParams& p) {
  const DF d;
  const DI di;
  const hn::Rebind<std::int8_t, DF> d8s;
  const hn::Rebind<std::uint8_t, DF> d8u;
  const VF qmin = hn::Set(d, static_cast<float>(p.quant_min));
  const VF qmax = hn::Set(d, static_cast<float>(p.quant_max));
  const bool is_signed = p.quant_min < 0;
  ForEachParamVector<kMinval>(
      p, begin, end,
      [&](auto recip, std::size_t i, std::size_t count, const ParamVecs& l)
          COREAI_OPT_LAMBDA_INLINE {
            const VF r = RoundedCode<kMinval, decltype(recip)::value>(d, LoadN(d, x + i, count), l);
            VF q = hn::Min(hn::Max(r, qmin), qmax);
            q = hn::IfThenElse(hn::IsNaN(r), l.qoff, q);
            const auto qi = hn::ConvertTo(di, q);
            if (is_signed) {
              StoreN(d8u, hn::BitCast(d8u, hn::DemoteTo(d8s, qi)), out + (i - out_base), count);
            } else {
              StoreN(d8u, hn::DemoteTo(d8u, qi), out + (i - out_base), count);
            }
          });
}

// Element i's code is in[i - in_base].
template <bool kMinval>
void DequantizeT(const std::uint8_t* in, std::size_t in_base, float* y, std::size_t begin,
                 std::size_t end, const IntQuantParams& p) {
  const DF d;
  const DI di;
  const hn::Rebind<std::int8_t, DF> d8s;
  const hn::Rebind<std::uint8_t, DF> d8u;
  const bool is_signed = p.quant_min < 0;
  ForEachParamVector<kMinval>(
      p, begin, end,
      [&](auto, std::size_t i, std::size_t count, const ParamVecs& l) COREAI_OPT_LAMBDA_INLINE {
        const auto raw = LoadN(d8u, in + (i - in_base), count);
        const auto qi =
            is_signed ? hn::PromoteTo(di, hn::BitCast(d8s, raw)) : hn::PromoteTo(di, raw);
        const VF q = hn::ConvertTo(d, qi);
        StoreN(d, hn::Add(hn::Mul(hn::Sub(q, l.qoff), l.scale), l.foff), y + i, count);
      });
}

}  // namespace

void IntFakeQuantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                     std::size_t end, const IntQuantParams& p) {
  if (p.minval != nullptr) {
    FakeQuantizeT<true>(x, y, mask, begin, end, p);
  } else {
    FakeQuantizeT<false>(x, y, mask, begin, end, p);
  }
}

void QuantizeTo(const float* x, std::uint8_t* out, std::size_t out_base, std::size_t begin,
                std::size_t end, const IntQuantParams& p) {
  if (p.minval != nullptr) {
    QuantizeT<true>(x, out, out_base, begin, end, p);
  } else {
    QuantizeT<false>(x, out, out_base, begin, end, p);
  }
}

void DequantizeFrom(const std::uint8_t* in, std::size_t in_base, float* y, std::size_t begin,
                    std::size_t end, const IntQuantParams& p) {
  if (p.minval != nullptr) {
    DequantizeT<true>(in, in_base, y, begin, end, p);
  } else {
    DequantizeT<false>(in, in_base, y, begin, end, p);
  }
}

void IntQuantize(const float* x, std::uint8_t* codes, std::size_t begin, std::size_t end,
                 const IntQuantParams& p) {
  QuantizeTo(x, codes, 0, begin, end, p);
}

void IntDequantize(const std::uint8_t* codes, float* y, std::size_t begin, std::size_t end,
                   const IntQuantParams& p) {
  DequantizeFrom(codes, 0, y, begin, end, p);
}

// Packed variants: codes of a chunk go to an L1-resident buffer, then are packed.
constexpr std::size_t kChunk = 2048;

void IntQuantizePacked4(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                        const IntQuantParams& p) {
  HWY_ALIGN std::uint8_t buf[kChunk];
  for (std::size_t c = begin; c < end; c += kChunk) {
    const std::size_t n = std::min(kChunk, end - c);
    QuantizeTo(x, buf, c, c, c + n, p);  // buf[j] holds element c + j
    PackNibbles(buf, packed + c / 2, n / 2);
    if (n % 2 != 0) packed[(c + n) / 2] = static_cast<std::uint8_t>(buf[n - 1] & 0x0F);
  }
}

void IntDequantizePacked4(const std::uint8_t* packed, float* y, std::size_t begin, std::size_t end,
                          const IntQuantParams& p) {
  HWY_ALIGN std::uint8_t buf[kChunk + 2];
  for (std::size_t c = begin; c < end; c += kChunk) {
    const std::size_t n = std::min(kChunk, end - c);
    if (p.quant_min < 0) {
      UnpackNibbles<true>(packed + c / 2, buf, (n + 1) / 2);
    } else {
      UnpackNibbles<false>(packed + c / 2, buf, (n + 1) / 2);
    }
    DequantizeFrom(buf, c, y, c, c + n, p);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreai_opt {
namespace kernels {

HWY_EXPORT(IntFakeQuantize);
HWY_EXPORT(IntQuantize);
HWY_EXPORT(IntDequantize);
HWY_EXPORT(IntQuantizePacked4);
HWY_EXPORT(IntDequantizePacked4);

void int_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const IntQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(IntFakeQuantize)(x, y, mask, begin, end, p);
}
void int_quantize(const float* x, std::uint8_t* codes, std::size_t begin, std::size_t end,
                  const IntQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(IntQuantize)(x, codes, begin, end, p);
}
void int_dequantize(const std::uint8_t* codes, float* y, std::size_t begin, std::size_t end,
                    const IntQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(IntDequantize)(codes, y, begin, end, p);
}
void int_quantize_packed4(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                          const IntQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(IntQuantizePacked4)(x, packed, begin, end, p);
}
void int_dequantize_packed4(const std::uint8_t* packed, float* y, std::size_t begin,
                            std::size_t end, const IntQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(IntDequantizePacked4)(packed, y, begin, end, p);
}

}  // namespace kernels
}  // namespace coreai_opt
#endif  // HWY_ONCE
