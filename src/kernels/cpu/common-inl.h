// Helpers shared by the Highway kernel translation units. Included once per target
// (foreach_target.h), hence the toggling include guard instead of #pragma once.
#if defined(COREAI_OPT_KERNELS_CPU_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREAI_OPT_KERNELS_CPU_COMMON_INL_H_
#undef COREAI_OPT_KERNELS_CPU_COMMON_INL_H_
#else
#define COREAI_OPT_KERNELS_CPU_COMMON_INL_H_
#endif

#include <hwy/highway.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Forces a lambda to be inlined into its caller: the per-run and per-vector bodies are
// tiny, and a call per 32-element block would cost more than the block's arithmetic.
#ifndef COREAI_OPT_LAMBDA_INLINE
#define COREAI_OPT_LAMBDA_INLINE __attribute__((always_inline))
#endif

// Largest vector in floats (and bytes) of any target; sizes the tail buffers.
constexpr std::size_t kMaxFloatLanes = HWY_MAX_BYTES / sizeof(float);

// Round to nearest integer, ties to even, exactly like std::nearbyint in the default
// rounding mode (including the sign of zero). Highway 1.0.3's EMU128 Round adds 0.5 and
// truncates, which is wrong just below .5, so the portable targets use the classic
// "add and subtract 2^23" form, which is exact for |v| < 2^23 (larger floats are integers).
template <class D, class V>
HWY_INLINE V RoundEven(D d, V v) {
#if HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_SSSE3
  const V big = hn::Set(d, 8388608.0f);
  const V large = hn::CopySignToAbs(big, v);
  const V r = hn::CopySign(hn::Sub(hn::Add(v, large), large), v);
  return hn::IfThenElse(hn::Lt(hn::Abs(v), big), r, v);
#else
  (void)d;
  return hn::Round(v);
#endif
}

// Loads `count` (< Lanes) elements, the rest zero.
template <class D, typename T>
HWY_INLINE hn::Vec<D> LoadTail(D d, const T* p, std::size_t count) {
  HWY_ALIGN T buf[HWY_MAX_BYTES / sizeof(T)] = {};
  std::memcpy(buf, p, count * sizeof(T));
  return hn::Load(d, buf);
}

// Stores the first `count` (< Lanes) elements of v.
template <class D, typename T>
HWY_INLINE void StoreTail(D d, hn::Vec<D> v, T* p, std::size_t count) {
  HWY_ALIGN T buf[HWY_MAX_BYTES / sizeof(T)];
  hn::Store(v, d, buf);
  std::memcpy(p, buf, count * sizeof(T));
}

template <class D, typename T>
HWY_INLINE hn::Vec<D> LoadN(D d, const T* p, std::size_t count) {
  return count == hn::Lanes(d) ? hn::LoadU(d, p) : LoadTail(d, p, count);
}

template <class D, typename T>
HWY_INLINE void StoreN(D d, hn::Vec<D> v, T* p, std::size_t count) {
  if (count == hn::Lanes(d)) {
    hn::StoreU(v, d, p);
  } else {
    StoreTail(d, v, p, count);
  }
}

// Writes 1 for lanes of `m` that are true, else 0, one byte per lane.
template <class D>
HWY_INLINE void StoreMask01(D d, hn::Mask<D> m, std::uint8_t* p, std::size_t count) {
  const hn::RebindToUnsigned<D> du;
  const hn::Rebind<std::uint8_t, D> d8;
  const auto bits =
      hn::ShiftRight<sizeof(hn::TFromD<D>) * 8 - 1>(hn::BitCast(du, hn::VecFromMask(d, m)));
  const auto bytes = hn::DemoteTo(d8, hn::BitCast(hn::RebindToSigned<D>(), bits));
  StoreN(d8, bytes, p, count);
}

// Calls body(i0, i1, block) for every maximal piece [i0, i1) of [begin, end) whose
// elements all use parameter block `block` = i / run_length.
template <class Body>
HWY_INLINE void ForEachRun(std::size_t begin, std::size_t end, std::size_t run_length,
                           Body&& body) {
  if (begin >= end) return;
  std::size_t b = begin / run_length;  // one division; later runs just step
  std::size_t stop = std::min(end, (b + 1) * run_length);
  body(begin, stop, b);
  for (std::size_t i = stop; i < end; i = stop) {
    ++b;
    stop = std::min(end, i + run_length);
    body(i, stop, b);
  }
}

// Calls f(i, count) over [i0, i1) in steps of Lanes(d); the last call may be partial.
template <class D, class F>
HWY_INLINE void ForEachVector(D d, std::size_t i0, std::size_t i1, F&& f) {
  const std::size_t n = hn::Lanes(d);
  std::size_t i = i0;
  for (; i + n <= i1; i += n) f(i, n);
  if (i < i1) f(i, i1 - i);
}

// True when x / s == x * (1 / s) for every x: s is a power of two whose reciprocal is a
// normal float, so both sides are the correctly rounded value of the same real number.
HWY_INLINE bool HasExactReciprocal(float s) {
  std::uint32_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  const std::uint32_t exp_field = (bits >> 23) & 0xFF;
  return (bits & 0x807FFFFFu) == 0 && exp_field >= 1 && exp_field <= 253;
}

// ---------------------------------------------------------------- small floats
// A sign-exponent-mantissa format with E exponent bits, M mantissa bits and bias B
// (fp8 e4m3fn: 4,3,7; e5m2: 5,2,15; fp4 e2m1: 2,1,1). Inputs are magnitudes a with
// 0 <= a <= max finite (callers clamp and handle NaN separately).

// Float value of `a` rounded to the format (ties to even).
template <int M, int B, class D, class V = hn::Vec<D>>
HWY_INLINE V RoundToMiniFloat(D d, V a) {
  const hn::RebindToUnsigned<D> du;
  auto u = hn::BitCast(du, a);
  const auto lsb = hn::And(hn::ShiftRight<23 - M>(u), hn::Set(du, 1u));
  u = hn::Add(u, hn::Add(hn::Set(du, (1u << (22 - M)) - 1u), lsb));
  u = hn::And(u, hn::Set(du, ~((1u << (23 - M)) - 1u)));
  // Below the smallest normal the quantum is fixed: adding C with ulp(C) = quantum rounds.
  const V c = hn::Set(d, static_cast<float>(1u << (24 - B - M)));
  const V sub = hn::Sub(hn::Add(a, c), c);
  const V min_normal = hn::Set(d, B == 1 ? 1.0f : 1.0f / static_cast<float>(1u << (B - 1)));
  return hn::IfThenElse(hn::Lt(a, min_normal), sub, hn::BitCast(d, u));
}

// Magnitude code (exponent and mantissa fields) of `a` rounded to the format.
template <int M, int B, class D, class V = hn::Vec<D>>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> EncodeMiniFloat(D d, V a) {
  const hn::RebindToSigned<D> di;
  auto u = hn::BitCast(di, a);
  const auto lsb = hn::And(hn::ShiftRight<23 - M>(u), hn::Set(di, 1));
  u = hn::Add(u, hn::Add(hn::Set(di, (1 << (22 - M)) - 1), lsb));
  const auto normal = hn::Sub(hn::ShiftRight<23 - M>(u), hn::Set(di, (127 - B) << M));
  const V c = hn::Set(d, static_cast<float>(1u << (24 - B - M)));
  const auto sub = hn::Sub(hn::BitCast(di, hn::Add(a, c)), hn::BitCast(di, c));
  const V min_normal = hn::Set(d, B == 1 ? 1.0f : 1.0f / static_cast<float>(1u << (B - 1)));
  return hn::IfThenElse(hn::RebindMask(di, hn::Lt(a, min_normal)), sub, normal);
}

// Value of magnitude codes `mag` (exponent and mantissa fields, no sign), finite codes
// only; specials are patched by the callers.
template <int M, int B, class D>
HWY_INLINE hn::Vec<D> DecodeMiniFloatMagnitude(D d, hn::Vec<hn::RebindToSigned<D>> mag) {
  const hn::RebindToSigned<D> di;
  const auto normal = hn::Add(hn::ShiftLeft<23 - M>(mag), hn::Set(di, (127 - B) << 23));
  const auto sub =
      hn::Mul(hn::ConvertTo(d, mag), hn::Set(d, 1.0f / static_cast<float>(1u << (B + M - 1))));
  const auto is_sub = hn::RebindMask(d, hn::Lt(mag, hn::Set(di, 1 << M)));
  return hn::IfThenElse(is_sub, sub, hn::BitCast(d, normal));
}

// ---------------------------------------------------------------- nibbles
// Packs bytes (each holding a code in its low nibble) pairwise: out[j] = in[2j] & 0xF |
// in[2j+1] << 4, for `pairs` output bytes.
HWY_INLINE void PackNibbles(const std::uint8_t* in, std::uint8_t* out, std::size_t pairs) {
#if HWY_TARGET == HWY_SCALAR  // one lane per vector: no byte pairs to reinterpret
  for (std::size_t j = 0; j < pairs; ++j) {
    out[j] = static_cast<std::uint8_t>((in[2 * j] & 0x0F) | ((in[2 * j + 1] & 0x0F) << 4));
  }
#else
  const hn::ScalableTag<std::int16_t> d16;
  const hn::Rebind<std::uint8_t, decltype(d16)> d8;
  const auto lo_mask = hn::Set(d16, 0x000F);
  const auto hi_mask = hn::Set(d16, 0x00F0);
  ForEachVector(d16, 0, pairs, [&](std::size_t j, std::size_t count) {
    const hn::Repartition<std::uint8_t, decltype(d16)> dbytes;
    hn::Vec<decltype(d16)> v;
    if (count == hn::Lanes(d16)) {
      v = hn::BitCast(d16, hn::LoadU(dbytes, in + 2 * j));
    } else {
      v = hn::BitCast(d16, LoadTail(dbytes, in + 2 * j, 2 * count));
    }
    const auto packed = hn::Or(hn::And(v, lo_mask), hn::And(hn::ShiftRight<4>(v), hi_mask));
    StoreN(d8, hn::DemoteTo(d8, packed), out + j, count);
  });
#endif
}

// Unpacks `pairs` bytes into 2 * pairs code bytes (low nibble first). With kSigned the
// nibbles are sign-extended to int8 (two's complement bytes).
template <bool kSigned>
HWY_INLINE void UnpackNibbles(const std::uint8_t* in, std::uint8_t* out, std::size_t pairs) {
#if HWY_TARGET == HWY_SCALAR
  for (std::size_t j = 0; j < pairs; ++j) {
    int lo = in[j] & 0x0F, hi = in[j] >> 4;
    if (kSigned) {
      lo = (lo ^ 8) - 8;
      hi = (hi ^ 8) - 8;
    }
    out[2 * j] = static_cast<std::uint8_t>(lo & 0xFF);
    out[2 * j + 1] = static_cast<std::uint8_t>(hi & 0xFF);
  }
#else
  const hn::ScalableTag<std::uint16_t> d16;
  const hn::Rebind<std::uint8_t, decltype(d16)> d8;
  const hn::Repartition<std::uint8_t, decltype(d16)> dbytes;
  const auto nib = hn::Set(d16, 0x000F);
  ForEachVector(d16, 0, pairs, [&](std::size_t j, std::size_t count) {
    const auto w = hn::PromoteTo(d16, LoadN(d8, in + j, count));
    auto lo = hn::And(w, nib);
    auto hi = hn::ShiftRight<4>(w);
    if (kSigned) {
      const auto eight = hn::Set(d16, 8);
      const auto ff = hn::Set(d16, 0x00FF);
      lo = hn::And(hn::Sub(hn::Xor(lo, eight), eight), ff);
      hi = hn::And(hn::Sub(hn::Xor(hi, eight), eight), ff);
    }
    const auto both = hn::BitCast(dbytes, hn::Or(lo, hn::ShiftLeft<8>(hi)));
    if (count == hn::Lanes(d16)) {
      hn::StoreU(both, dbytes, out + 2 * j);
    } else {
      StoreTail(dbytes, both, out + 2 * j, 2 * count);
    }
  });
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#endif  // COREAI_OPT_KERNELS_CPU_COMMON_INL_H_
