// Highway kernels for fp4 e2m1 and MXFP4 (format/fp4.h, format/e8m0.h, kernels/fp4.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/fp4.cpp"
#include "coreai_opt/kernels/fp4.h"

#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/cpu/minifloat-inl.h"

HWY_BEFORE_NAMESPACE();
namespace coreai_opt {
namespace kernels {
namespace HWY_NAMESPACE {
namespace {

using mf::DF;
using mf::DI;
using mf::VF;

// Codes of a chunk are produced into an L1-resident buffer and then packed.
constexpr std::size_t kChunk = 2048;

// Encodes x[0, count) against one E8M0 scale code into out[0, count) (one code per byte).
void EncodeMxPiece(const float* x, std::uint8_t* out, std::size_t count, std::uint32_t code) {
  const DF d;
  const hn::Rebind<std::uint8_t, DF> d8;
  if (code == 0xFF) {  // NaN scale: r = x / NaN is NaN, and NaN encodes as 0
    std::memset(out, 0, count);
    return;
  }
  // scale = 2^(code - 127). For code <= 253 its reciprocal is a normal float, so the
  // multiplication gives the bits of the division; code 254 divides.
  float scale, inv;
  const std::uint32_t sbits = code << 23, ibits = (254u - code) << 23;
  std::memcpy(&scale, &sbits, 4);
  std::memcpy(&inv, &ibits, 4);
  const mf::ScaleVecs s{hn::Set(d, scale), hn::Set(d, inv)};
  ForEachVector(d, 0, count, [&](std::size_t i, std::size_t n) {
    const VF xv = LoadN(d, x + i, n);
    const VF r = code <= 253 ? mf::Scaled<true>(xv, s) : mf::Scaled<false>(xv, s);
    StoreN(d8, hn::DemoteTo(d8, mf::Encode<E2M1Traits>(d, r)), out + i, n);
  });
}

// E8M0 code of a block from the largest |x| bit pattern: integer max of the magnitude bits
// orders NaN above infinity above every finite value, so a non-finite block shows up as
// exponent field 255 and everything else follows the floor rule: max(e_field - 2, 1).
std::uint32_t MxScaleCode(const float* x, std::size_t count) {
  const DF d;
  const DI di;
  const auto magmask = hn::Set(di, 0x7FFFFFFF);
  auto acc = hn::Zero(di);
  ForEachVector(d, 0, count, [&](std::size_t i, std::size_t n) {
    acc = hn::Max(acc, hn::And(hn::BitCast(di, LoadN(d, x + i, n)), magmask));
  });
  const auto bits = static_cast<std::uint32_t>(hn::GetLane(hn::MaxOfLanes(di, acc)));
  const std::uint32_t e_field = bits >> 23;
  if (e_field == 0xFF) return 0xFF;
  return e_field > 3 ? e_field - 2 : 1;
}

#if HWY_TARGET != HWY_SCALAR
// MXFP4 with 32-element blocks, whole vectors per block: codes are packed in registers
// (N int32 codes -> N/2 bytes) instead of going through a byte buffer.
using DU16 = hn::Rebind<std::uint16_t, DF>;          // N lanes, half width
using DU32H = hn::Repartition<std::uint32_t, DU16>;  // N/2 lanes
using DI32H = hn::RebindToSigned<DU32H>;
using DU8H = hn::Rebind<std::uint8_t, DU32H>;  // N/2 lanes

void Mxfp4Quantize32(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                     std::size_t begin, std::size_t end) {
  const DF d;
  const DI di;
  const DU16 du16;
  const DU32H du32h;
  const DI32H di32h;
  const DU8H du8h;
  const std::size_t n = hn::Lanes(d);
  const auto magmask = hn::Set(di, 0x7FFFFFFF);
  const auto lo4 = hn::Set(du32h, 0x0Fu);
  const auto hi4 = hn::Set(du32h, 0xF0u);
  for (std::size_t b0 = begin; b0 < end; b0 += 32) {
    auto acc = hn::Zero(di);
    for (std::size_t j = 0; j < 32; j += n) {
      acc = hn::Max(acc, hn::And(hn::BitCast(di, hn::LoadU(d, x + b0 + j)), magmask));
    }
    const auto bits = static_cast<std::uint32_t>(hn::GetLane(hn::MaxOfLanes(di, acc)));
    const std::uint32_t e_field = bits >> 23;  // see MxScaleCode
    const std::uint32_t code = e_field == 0xFF ? 0xFFu : (e_field > 3 ? e_field - 2 : 1u);
    scale_codes[b0 / 32] = static_cast<std::uint8_t>(code);
    if (code == 0xFF) {
      std::memset(packed + b0 / 2, 0, 16);
      continue;
    }
    // Finite blocks have code <= 252, so 2^(127 - code) is a normal float and the product
    // equals the division by the scale.
    const std::uint32_t ibits = (254u - code) << 23;
    float inv;
    std::memcpy(&inv, &ibits, 4);
    const auto vinv = hn::Set(d, inv);
    for (std::size_t j = 0; j < 32; j += n) {
      const auto codes = mf::Encode<E2M1Traits>(d, hn::Mul(hn::LoadU(d, x + b0 + j), vinv));
      const auto w = hn::BitCast(du32h, hn::DemoteTo(du16, codes));
      const auto pk = hn::Or(hn::And(w, lo4), hn::And(hn::ShiftRight<12>(w), hi4));
      hn::StoreU(hn::DemoteTo(du8h, hn::BitCast(di32h, pk)), du8h, packed + (b0 + j) / 2);
    }
  }
}

// ---- MXFP4, 32-element blocks, in groups of G = Lanes(DF) blocks (Mxfp4Quantize32 above
// does the last < G blocks). Each block's magnitude maximum is reduced per lane first
// (m[k]), then the G vectors are transposed and reduced together, so lane k of the result
// is block k's amax bits: one shuffle tree per group instead of one horizontal reduction
// per block. The group's scale codes and encoder constants are computed as vectors, and
// non-finite blocks (code 0xFF) are encoded like the others and zeroed afterwards.

// Max of the 128-bit blocks' per-lane maxima: m[k] (k < Lanes(di)) holds block k's
// per-lane maxima; returns r with r[k] = max over the lanes of m[k]. Clobbers m.
HWY_INLINE hn::Vec<DI> TransposeMax(DI di, hn::Vec<DI>* m) {
  const std::size_t n = hn::Lanes(di);
  const hn::Repartition<std::uint64_t, DI> du64;
  if (n >= 16) {  // 256-bit halves: vector k holds block k (lower half) and k + 8 (upper)
    for (std::size_t k = 0; k < 8; ++k) {
      m[k] = hn::Max(hn::ConcatUpperLower(di, m[k + 8], m[k]),
                     hn::ConcatLowerUpper(di, m[k + 8], m[k]));
    }
  }
  if (n >= 8) {  // adjacent 128-bit blocks: vector k, block p holds block k + 4p
    for (std::size_t k = 0; k < 4; ++k) {
      const auto x = hn::OddEvenBlocks(m[k + 4], m[k]);
      const auto y = hn::SwapAdjacentBlocks(hn::OddEvenBlocks(m[k], m[k + 4]));
      m[k] = hn::Max(x, y);
    }
  }
  // Within 128-bit blocks: lanes, then pairs of lanes; lane i of block p = block 4p + i.
  const auto t01 =
      hn::Max(hn::InterleaveLower(di, m[0], m[1]), hn::InterleaveUpper(di, m[0], m[1]));
  const auto t23 =
      hn::Max(hn::InterleaveLower(di, m[2], m[3]), hn::InterleaveUpper(di, m[2], m[3]));
  const auto a = hn::BitCast(du64, t01), b = hn::BitCast(du64, t23);
  return hn::Max(hn::BitCast(di, hn::InterleaveLower(du64, a, b)),
                 hn::BitCast(di, hn::InterleaveUpper(du64, a, b)));
}

// Per-block constants of the encoder below, for E8M0 code c of a finite block (c <= 252).
struct Mxfp4BlockConsts {
  hn::Vec<DI> c23;  // c << 23: the exponent field of the scale
  VF lim;           // 6 * scale: larger magnitudes saturate to code 7
  VF magic;         // 2^23 + ((-2c) mod 16)
};

// e2m1 codes of x / 2^(c - 127) for the block's finite x, in the low nibble of each lane
// (sign at bit 3; the bits above are garbage). With a = |x| / scale and t = max(exponent(a),
// 0) (0 below 2, 1 in [2, 4), 2 in [4, 8)), the e2m1 grid near a has spacing 2^(t-1), so
// the magnitude code is RNE(a / 2^(t-1)) + 2t. The quotient is a power-of-two multiple of
// |x|, exact (or, far below 0.25, rounded to 0 either way), and adding 2^23 + m in the same
// FMA rounds it to an integer, ties to even, in the low mantissa bits. The multiplier
// 2^(1-t) / scale = 2^(128 - max(e_x, c)), with e_x the exponent field of x, and 2t =
// 2 max(e_x, c) - 2c, whose -2c is the m of the magic constant (mod 16).
HWY_INLINE hn::Vec<DI> EncodeMxfp4(DF d, VF x, const Mxfp4BlockConsts& k) {
  const DI di;
  const auto xb = hn::BitCast(di, x);
  const auto s = hn::Max(hn::And(xb, hn::Set(di, 0x7F800000)), k.c23);  // max(e_x, c) << 23
  const VF mult = hn::BitCast(d, hn::Sub(hn::Set(di, 255 << 23), s));
  const VF f = hn::MulAdd(hn::Min(hn::Abs(x), k.lim), mult, k.magic);
  const auto mag = hn::Add(hn::BitCast(di, f), hn::ShiftRight<22>(s));  // low 3 bits
  return hn::OrAnd(mag, hn::ShiftRight<28>(xb), hn::Set(di, 8));
}

// Packs the low nibbles of 2 * Lanes(DI) codes (c0 then c1, element 2i in the low nibble)
// into Lanes(DI) bytes.
HWY_INLINE void PackCodeNibbles(hn::Vec<DI> c0, hn::Vec<DI> c1, std::uint8_t* out) {
  const DI di;
  const hn::Repartition<std::uint64_t, DI> du64;
  const hn::RebindToUnsigned<DI> du32;
  const hn::Rebind<std::uint8_t, decltype(du32)> du8;
  // Element pairs -> one byte in the low bits of each 64-bit lane (garbage above).
  const auto lo = hn::Set(du64, 0x0Fu);
  const auto w0 = hn::BitCast(du64, c0), w1 = hn::BitCast(du64, c1);
#if HWY_TARGET <= HWY_AVX3  // bitwise select (vpternlog); SSE4/AVX2 blend by byte sign
  const auto p0 = hn::IfVecThenElse(lo, w0, hn::ShiftRight<28>(w0));
  const auto p1 = hn::IfVecThenElse(lo, w1, hn::ShiftRight<28>(w1));
#else
  const auto p0 = hn::Or(hn::And(w0, lo), hn::AndNot(lo, hn::ShiftRight<28>(w0)));
  const auto p1 = hn::Or(hn::And(w1, lo), hn::AndNot(lo, hn::ShiftRight<28>(w1)));
#endif
  const auto bytes = hn::ConcatEven(du32, hn::BitCast(du32, p1), hn::BitCast(du32, p0));
  hn::StoreU(hn::TruncateTo(du8, bytes), du8, out);
}

// Input is prefetched this many floats (16 KiB) ahead, one 64-byte line per call: the
// group's max pass reads 2 KiB (AVX-512) in a burst and then computes for a while, which
// left the hardware prefetchers behind on large tensors (0.67x the copy's bandwidth).
constexpr std::size_t kPrefetchAhead = 4096;

// Whole groups of Lanes(DF) blocks from `begin`; returns where it stopped.
std::size_t Mxfp4Quantize32Groups(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                                  std::size_t begin, std::size_t end) {
  const DF d;
  const DI di;
  const hn::RebindToUnsigned<DI> du32;
  const hn::Rebind<std::uint8_t, decltype(du32)> du8;
  const std::size_t n = hn::Lanes(d);
  const std::size_t group = 32 * n;
  const auto magmask = hn::Set(di, 0x7FFFFFFF);
  std::size_t g0 = begin;
  for (; g0 + group <= end; g0 += group) {
    hn::Vec<DI> m[kMaxFloatLanes];
    if (g0 + kPrefetchAhead + group <= end) {
      const float* ahead = x + g0 + kPrefetchAhead;
#pragma GCC unroll 32
      for (std::size_t i = 0; i < 32 * kMaxFloatLanes; i += 16) {
        if (i < group) hwy::Prefetch(ahead + i);
      }
    }
    for (std::size_t k = 0; k < n; ++k) {
      const float* xb = x + g0 + 32 * k;
      auto acc = hn::And(hn::BitCast(di, hn::LoadU(d, xb)), magmask);
      for (std::size_t j = n; j < 32; j += n) {
        acc = hn::Max(acc, hn::And(hn::BitCast(di, hn::LoadU(d, xb + j)), magmask));
      }
      m[k] = acc;
    }
    const auto e_field = hn::ShiftRight<23>(TransposeMax(di, m));  // see MxScaleCode
    const auto is_nan = hn::Eq(e_field, hn::Set(di, 0xFF));
    const auto codes =
        hn::IfThenElse(is_nan, e_field, hn::Max(hn::Sub(e_field, hn::Set(di, 2)), hn::Set(di, 1)));
    hn::StoreU(hn::TruncateTo(du8, hn::BitCast(du32, codes)), du8, scale_codes + g0 / 32);
    // Per-block encoder constants (garbage for NaN blocks, which are zeroed below).
    HWY_ALIGN std::int32_t c23[kMaxFloatLanes], lim[kMaxFloatLanes], magic[kMaxFloatLanes];
    hn::Store(hn::ShiftLeft<23>(codes), di, c23);
    hn::Store(hn::Or(hn::ShiftLeft<23>(hn::Add(codes, hn::Set(di, 2))), hn::Set(di, 0x400000)), di,
              lim);
    hn::Store(
        hn::Or(hn::And(hn::Neg(hn::Add(codes, codes)), hn::Set(di, 15)), hn::Set(di, 0x4B000000)),
        di, magic);
    for (std::size_t k = 0; k < n; k += 2) {  // n is even
      for (std::size_t kk = k; kk < k + 2; ++kk) {
        const float* xb = x + g0 + 32 * kk;
        std::uint8_t* out = packed + (g0 + 32 * kk) / 2;
        const Mxfp4BlockConsts bk{hn::Set(di, c23[kk]), hn::BitCast(d, hn::Set(di, lim[kk])),
                                  hn::BitCast(d, hn::Set(di, magic[kk]))};
        for (std::size_t j = 0; j < 32; j += 2 * n) {
          PackCodeNibbles(EncodeMxfp4(d, hn::LoadU(d, xb + j), bk),
                          EncodeMxfp4(d, hn::LoadU(d, xb + j + n), bk), out + j / 2);
        }
      }
    }
    if (HWY_UNLIKELY(!hn::AllFalse(di, is_nan))) {  // NaN scale: the block encodes as 0
      for (std::size_t k = 0; k < n; ++k) {
        if (scale_codes[(g0 + 32 * k) / 32] == 0xFF) std::memset(packed + (g0 + 32 * k) / 2, 0, 16);
      }
    }
  }
  return g0;
}

void Mxfp4Dequantize32(const std::uint8_t* packed, const std::uint8_t* scale_codes, float* y,
                       std::size_t begin, std::size_t end) {
  const DF d;
  const DI di;
  const DU16 du16;
  const DU32H du32h;
  const DU8H du8h;
  const std::size_t n = hn::Lanes(d);
  const auto lo4 = hn::Set(du32h, 0x0Fu);
  for (std::size_t b0 = begin; b0 < end; b0 += 32) {
    const std::uint8_t code = scale_codes[b0 / 32];
    const std::uint32_t sbits =
        code == 0xFF ? 0x7FC00000u : (code == 0 ? 0x00400000u : std::uint32_t{code} << 23);
    float scale;
    std::memcpy(&scale, &sbits, 4);
    const auto s = hn::Set(d, scale);
    for (std::size_t j = 0; j < 32; j += n) {
      const auto w = hn::PromoteTo(du32h, hn::LoadU(du8h, packed + (b0 + j) / 2));
      const auto pair =
          hn::Or(hn::And(w, lo4), hn::ShiftLeft<16>(hn::And(hn::ShiftRight<4>(w), lo4)));
      const auto c = hn::PromoteTo(di, hn::BitCast(du16, pair));
      hn::StoreU(hn::Mul(mf::Decode<E2M1Traits>(d, c), s), d, y + b0 + j);
    }
  }
}
#endif  // HWY_TARGET != HWY_SCALAR

}  // namespace

void Fp4FakeQuantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                     std::size_t end, const FloatQuantParams& p) {
  mf::FakeQuantize<E2M1Traits>(x, y, mask, begin, end, p);
}

void Fp4QuantizePacked(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                       const FloatQuantParams& p) {
  HWY_ALIGN std::uint8_t buf[kChunk];
  for (std::size_t c = begin; c < end; c += kChunk) {
    const std::size_t n = std::min(kChunk, end - c);
    mf::Quantize<E2M1Traits>(x, buf, c, c, c + n, p);
    PackNibbles(buf, packed + c / 2, n / 2);
    if (n % 2 != 0) packed[(c + n) / 2] = static_cast<std::uint8_t>(buf[n - 1] & 0x0F);
  }
}

void Fp4DequantizePacked(const std::uint8_t* packed, float* y, std::size_t begin, std::size_t end,
                         const FloatQuantParams& p) {
  HWY_ALIGN std::uint8_t buf[kChunk + 2];
  for (std::size_t c = begin; c < end; c += kChunk) {
    const std::size_t n = std::min(kChunk, end - c);
    UnpackNibbles<false>(packed + c / 2, buf, (n + 1) / 2);
    mf::Dequantize<E2M1Traits>(buf, c, y, c, c + n, p);
  }
}

void Mxfp4Quantize(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                   std::size_t begin, std::size_t end, std::size_t block_size) {
#if HWY_TARGET != HWY_SCALAR
  if (block_size == 32 && 32 % hn::Lanes(DF()) == 0) {
    const std::size_t done = Mxfp4Quantize32Groups(x, packed, scale_codes, begin, end);
    Mxfp4Quantize32(x, packed, scale_codes, done, end);
    return;
  }
#endif
  HWY_ALIGN std::uint8_t buf[kChunk];
  if (block_size <= kChunk) {
    const std::size_t chunk = kChunk / block_size * block_size;
    for (std::size_t c = begin; c < end; c += chunk) {
      const std::size_t n = std::min(chunk, end - c);
      for (std::size_t j = 0; j < n; j += block_size) {
        const std::uint32_t code = MxScaleCode(x + c + j, block_size);
        scale_codes[(c + j) / block_size] = static_cast<std::uint8_t>(code);
        EncodeMxPiece(x + c + j, buf + j, block_size, code);
      }
      PackNibbles(buf, packed + c / 2, n / 2);
    }
    return;
  }
  for (std::size_t b0 = begin; b0 < end; b0 += block_size) {
    const std::uint32_t code = MxScaleCode(x + b0, block_size);
    scale_codes[b0 / block_size] = static_cast<std::uint8_t>(code);
    for (std::size_t j = 0; j < block_size; j += kChunk) {
      const std::size_t n = std::min(kChunk, block_size - j);
      EncodeMxPiece(x + b0 + j, buf, n, code);
      PackNibbles(buf, packed + (b0 + j) / 2, n / 2);
    }
  }
}

void Mxfp4Dequantize(const std::uint8_t* packed, const std::uint8_t* scale_codes, float* y,
                     std::size_t begin, std::size_t end, std::size_t block_size) {
#if HWY_TARGET != HWY_SCALAR
  if (block_size == 32 && 32 % hn::Lanes(DF()) == 0) {
    Mxfp4Dequantize32(packed, scale_codes, y, begin, end);
    return;
  }
#endif
  const DF d;
  const DI di;
  const hn::Rebind<std::uint8_t, DF> d8;
  HWY_ALIGN std::uint8_t buf[kChunk];
  for (std::size_t b0 = begin; b0 < end; b0 += block_size) {
    const std::uint8_t code = scale_codes[b0 / block_size];
    // 2^(code - 127): code 0 is the float subnormal 2^-127, 0xFF NaN.
    const std::uint32_t sbits =
        code == 0xFF ? 0x7FC00000u : (code == 0 ? 0x00400000u : std::uint32_t{code} << 23);
    float scale;
    std::memcpy(&scale, &sbits, 4);
    const VF s = hn::Set(d, scale);
    for (std::size_t j = 0; j < block_size; j += kChunk) {
      const std::size_t n = std::min(kChunk, block_size - j);
      UnpackNibbles<false>(packed + (b0 + j) / 2, buf, n / 2);
      ForEachVector(d, 0, n, [&](std::size_t i, std::size_t count) {
        const auto c = hn::PromoteTo(di, LoadN(d8, buf + i, count));
        StoreN(d, hn::Mul(mf::Decode<E2M1Traits>(d, c), s), y + b0 + j + i, count);
      });
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace coreai_opt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreai_opt {
namespace kernels {

HWY_EXPORT(Fp4FakeQuantize);
HWY_EXPORT(Fp4QuantizePacked);
HWY_EXPORT(Fp4DequantizePacked);
HWY_EXPORT(Mxfp4Quantize);
HWY_EXPORT(Mxfp4Dequantize);

void fp4_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const FloatQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(Fp4FakeQuantize)(x, y, mask, begin, end, p);
}
void fp4_quantize_packed(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                         const FloatQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(Fp4QuantizePacked)(x, packed, begin, end, p);
}
void fp4_dequantize_packed(const std::uint8_t* packed, float* y, std::size_t begin, std::size_t end,
                           const FloatQuantParams& p) {
  HWY_DYNAMIC_DISPATCH(Fp4DequantizePacked)(packed, y, begin, end, p);
}
void mxfp4_quantize(const float* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                    std::size_t begin, std::size_t end, std::size_t block_size) {
  HWY_DYNAMIC_DISPATCH(Mxfp4Quantize)(x, packed, scale_codes, begin, end, block_size);
}
void mxfp4_dequantize(const std::uint8_t* packed, const std::uint8_t* scale_codes, float* y,
                      std::size_t begin, std::size_t end, std::size_t block_size) {
  HWY_DYNAMIC_DISPATCH(Mxfp4Dequantize)(packed, scale_codes, y, begin, end, block_size);
}

}  // namespace kernels
}  // namespace coreai_opt
#endif  // HWY_ONCE
