// Integer quantize / dequantize / fake-quantize on CUDA (kernels/cuda.h), bit-identical to
// reference::int_* (src/kernels/reference/int.cpp). The element math is the reference's,
// written with explicitly rounded intrinsics so that nvcc cannot contract a multiply and an
// add into one fused operation:
//   r  = rint((x - float_offset) / scale) + code_offset        (ties to even)
//   x' = (clamp(r, qmin, qmax) - code_offset) * scale + float_offset
// with (code_offset, float_offset) = (zero point, 0) or (quant_min, minval).
#include "common.cuh"

namespace coreai_opt::kernels::cuda {
namespace detail {
namespace {

struct IntArgs {
  const float* scale;
  const std::int32_t* zero_point;
  const float* minval;
  float qmin;
  float qmax;
  bool signed_codes;

  explicit IntArgs(const IntParams& p)
      : scale(p.scale),
        zero_point(p.zero_point),
        minval(p.minval),
        qmin(static_cast<float>(p.quant_min)),
        qmax(static_cast<float>(p.quant_max)),
        signed_codes(p.quant_min < 0) {}

  /// scale, code offset and float offset of one parameter.
  struct Param {
    float s;
    float co;
    float fo;
  };
  __device__ __forceinline__ Param param(std::int64_t p) const {
    if (minval != nullptr) return {__ldg(scale + p), qmin, __ldg(minval + p)};
    return {__ldg(scale + p),
            zero_point != nullptr ? static_cast<float>(__ldg(zero_point + p)) : 0.0f, 0.0f};
  }

  __device__ __forceinline__ float rounded_code(float x, const Param& q) const {
    return __fadd_rn(rintf(__fdiv_rn(__fsub_rn(x, q.fo), q.s)), q.co);
  }
  /// clamp(r, qmin, qmax) for a non-NaN r (a NaN gives qmin; callers select it away).
  /// r is never -0 (it is a sum with +0 or a nonzero offset), so fminf / fmaxf, free of
  /// branches, equal the reference's comparisons.
  __device__ __forceinline__ float clamp_code(float r) const {
    return fminf(fmaxf(r, qmin), qmax);
  }
  __device__ __forceinline__ float dequantize_code(float c, const Param& q) const {
    return __fadd_rn(__fmul_rn(__fsub_rn(c, q.co), q.s), q.fo);
  }
  /// The stored bits of x's code; NaN has no code and stores the code offset.
  __device__ __forceinline__ std::uint8_t code_byte(float x, const Param& q) const {
    const float r = rounded_code(x, q);
    const float k = clamp_code(r);
    const float c = isnan(r) ? q.co : k;
    return static_cast<std::uint8_t>(static_cast<std::int32_t>(c) & 0xFF);
  }
  /// Value of a stored code of kBits bits (sign-extended when the range is signed).
  template <int kBits>
  __device__ __forceinline__ float code_value(std::uint8_t b) const {
    constexpr unsigned kMask = (1u << kBits) - 1u;
    constexpr unsigned kSign = 1u << (kBits - 1);
    const unsigned u = b & kMask;
    return signed_codes ? static_cast<float>(static_cast<int>(u ^ kSign) - static_cast<int>(kSign))
                        : static_cast<float>(u);
  }
};

template <typename T>
struct FakeQuantOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  T* y;
  std::uint8_t* mask;
  IntArgs a;

  using Input = Raw<T>;
  using Param = IntArgs::Param;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_raw(x, i0, full, n, in);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const { return a.param(p); }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&prm)[kN], const Input& in) const {
    float v[kN];
    unpack(in, v);
    std::uint8_t m[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float r = a.rounded_code(v[j], prm[j]);
      m[j] = (r >= a.qmin && r <= a.qmax) ? 1 : 0;
      const float d = a.dequantize_code(a.clamp_code(r), prm[j]);
      v[j] = isnan(r) ? r : d;
    }
    store_y(y, i0, full, n, v);
    if (mask != nullptr) store_bytes(mask, i0, full, n, m);
  }
};

/// Codes of x, stored by Codes (ByteCodes or NibbleCodes).
template <typename T, class Codes>
struct QuantizeOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  std::uint8_t* codes;
  IntArgs a;

  using Input = Raw<T>;
  using Param = IntArgs::Param;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_raw(x, i0, full, n, in);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const { return a.param(p); }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&prm)[kN], const Input& in) const {
    float v[kN];
    unpack(in, v);
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = a.code_byte(v[j], prm[j]);
    Codes::store(codes, i0, full, n, c);
  }
};

/// Values of codes stored by Codes (ByteCodes or NibbleCodes).
template <typename T, class Codes>
struct DequantizeOp {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* codes;
  T* y;
  IntArgs a;

  using Input = typename Codes::template Group<kN>;
  using Param = IntArgs::Param;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    in.load(codes, i0, full, n);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const { return a.param(p); }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&prm)[kN], const Input& in) const {
    float v[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      v[j] = a.dequantize_code(a.code_value<Codes::kBits>(in[j]), prm[j]);
    }
    store_y(y, i0, full, n, v);
  }
};

/// Quantize to codes stored by Codes.
template <class Codes>
CudaError quantize_codes(ElementType t, const void* x, std::uint8_t* codes,
                         const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(x, 16) && aligned(codes, Codes::alignment(kVecOf<T>));
    return launch_map(QuantizeOp<T, Codes>{static_cast<const T*>(x), codes, IntArgs(p)}, layout,
                      vec, stream);
  });
}

/// Dequantize codes stored by Codes.
template <class Codes>
CudaError dequantize_codes(ElementType t, const std::uint8_t* codes, void* y,
                           const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(codes, Codes::alignment(kVecOf<T>)) && aligned(y, 16);
    return launch_map(DequantizeOp<T, Codes>{codes, static_cast<T*>(y), IntArgs(p)}, layout,
                      vec, stream);
  });
}

}  // namespace
}  // namespace detail

using detail::aligned;
using detail::ByteCodes;
using detail::NibbleCodes;

CudaError int_fake_quantize(ElementType t, const void* x, void* y, std::uint8_t* mask,
                            const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(x, 16) && aligned(y, 16) && aligned(mask, detail::kVecOf<T>);
    const detail::FakeQuantOp<T> op{static_cast<const T*>(x), static_cast<T*>(y), mask,
                                    detail::IntArgs(p)};
    return detail::launch_map(op, layout, vec, stream);
  });
}

CudaError int_quantize(ElementType t, const void* x, std::uint8_t* codes,
                       const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  return detail::quantize_codes<ByteCodes>(t, x, codes, layout, p, stream);
}

CudaError int_dequantize(ElementType t, const std::uint8_t* codes, void* y,
                         const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  return detail::dequantize_codes<ByteCodes>(t, codes, y, layout, p, stream);
}

CudaError int_quantize_packed4(ElementType t, const void* x, std::uint8_t* packed,
                               const ParamLayout& layout, const IntParams& p,
                               CudaStream stream) {
  return detail::quantize_codes<NibbleCodes>(t, x, packed, layout, p, stream);
}

CudaError int_dequantize_packed4(ElementType t, const std::uint8_t* packed, void* y,
                                 const ParamLayout& layout, const IntParams& p,
                                 CudaStream stream) {
  return detail::dequantize_codes<NibbleCodes>(t, packed, y, layout, p, stream);
}

}  // namespace coreai_opt::kernels::cuda
