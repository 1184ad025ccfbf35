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

  /// scale, code offset and float offset of parameter p.
  __device__ __forceinline__ void at(std::int64_t p, float& s, float& co, float& fo) const {
    s = __ldg(scale + p);
    if (minval != nullptr) {
      co = qmin;
      fo = __ldg(minval + p);
    } else {
      co = zero_point != nullptr ? static_cast<float>(__ldg(zero_point + p)) : 0.0f;
      fo = 0.0f;
    }
  }

  /// Parameters of a thread's N elements (loaded once when they share one).
  template <int N>
  __device__ __forceinline__ void at_all(const std::int64_t (&p)[N], bool uniform,
                                         float (&s)[N], float (&co)[N], float (&fo)[N]) const {
    if (uniform) {
      float s0, c0, f0;
      at(p[0], s0, c0, f0);
#pragma unroll
      for (int j = 0; j < N; ++j) s[j] = s0, co[j] = c0, fo[j] = f0;
      return;
    }
#pragma unroll
    for (int j = 0; j < N; ++j) at(p[j], s[j], co[j], fo[j]);
  }

  __device__ __forceinline__ float rounded_code(float x, float s, float co, float fo) const {
    return __fadd_rn(rintf(__fdiv_rn(__fsub_rn(x, fo), s)), co);
  }
  __device__ __forceinline__ float clamp_code(float r) const {
    return r < qmin ? qmin : (r > qmax ? qmax : r);
  }
  __device__ __forceinline__ float dequantize_code(float q, float s, float co,
                                                   float fo) const {
    return __fadd_rn(__fmul_rn(__fsub_rn(q, co), s), fo);
  }
  /// The stored byte of x's code; NaN has no code and stores the code offset.
  __device__ __forceinline__ std::uint8_t code_byte(float x, float s, float co,
                                                    float fo) const {
    const float r = rounded_code(x, s, co, fo);
    const float q = isnan(r) ? co : clamp_code(r);
    return static_cast<std::uint8_t>(static_cast<std::int32_t>(q) & 0xFF);
  }
  /// Value of a stored code byte (two's complement when the range is signed).
  __device__ __forceinline__ float code_value(std::uint8_t b) const {
    return signed_codes ? static_cast<float>(static_cast<std::int8_t>(b)) : static_cast<float>(b);
  }
  /// Value of a 4-bit code (sign-extended when the range is signed).
  __device__ __forceinline__ float nibble_value(std::uint8_t nib) const {
    return signed_codes ? static_cast<float>(((nib & 0xF) ^ 0x8) - 0x8) : static_cast<float>(nib);
  }
};

template <typename T>
struct FakeQuantOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  T* y;
  std::uint8_t* mask;
  IntArgs a;
  bool uniform;

  using Input = Floats<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_x(x, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN], co[kN], fo[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = in.v[j];
    a.at_all(p, uniform, s, co, fo);
    std::uint8_t m[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float r = a.rounded_code(v[j], s[j], co[j], fo[j]);
      m[j] = (r >= a.qmin && r <= a.qmax) ? 1 : 0;
      v[j] = isnan(r) ? r : a.dequantize_code(a.clamp_code(r), s[j], co[j], fo[j]);
    }
    store_y(y, i0, full, n, v);
    if (mask != nullptr) store_bytes(mask, i0, full, n, m);
  }
};

template <typename T>
struct QuantizeOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  std::uint8_t* codes;
  IntArgs a;
  bool uniform;

  using Input = Floats<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_x(x, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN], co[kN], fo[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = in.v[j];
    a.at_all(p, uniform, s, co, fo);
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = a.code_byte(v[j], s[j], co[j], fo[j]);
    store_bytes(codes, i0, full, n, c);
  }
};

template <typename T>
struct QuantizePacked4Op {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  std::uint8_t* packed;
  IntArgs a;
  bool uniform;

  using Input = Floats<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_x(x, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN], co[kN], fo[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = in.v[j];
    a.at_all(p, uniform, s, co, fo);
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = a.code_byte(v[j], s[j], co[j], fo[j]);
    store_nibbles(packed, i0, full, n, c);
  }
};

template <typename T>
struct DequantizeOp {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* codes;
  T* y;
  IntArgs a;
  bool uniform;

  using Input = Bytes<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_bytes(codes, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN], co[kN], fo[kN];
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = in.v[j];
    a.at_all(p, uniform, s, co, fo);
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = a.dequantize_code(a.code_value(c[j]), s[j], co[j], fo[j]);
    store_y(y, i0, full, n, v);
  }
};

template <typename T>
struct DequantizePacked4Op {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* packed;
  T* y;
  IntArgs a;
  bool uniform;

  using Input = Bytes<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_nibbles(packed, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN], co[kN], fo[kN];
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = in.v[j];
    a.at_all(p, uniform, s, co, fo);
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      v[j] = a.dequantize_code(a.nibble_value(c[j]), s[j], co[j], fo[j]);
    }
    store_y(y, i0, full, n, v);
  }
};


}  // namespace
}  // namespace detail

using detail::aligned;

CudaError int_fake_quantize(ElementType t, const void* x, void* y, std::uint8_t* mask,
                            const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(x, 16) && aligned(y, 16) && aligned(mask, detail::kVecOf<T>);
    const detail::FakeQuantOp<T> op{static_cast<const T*>(x), static_cast<T*>(y), mask,
                                    detail::IntArgs(p), layout.run_length % detail::kVecOf<T> == 0};
    return detail::launch_map(op, layout, vec, stream);
  });
}

CudaError int_quantize(ElementType t, const void* x, std::uint8_t* codes,
                       const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(x, 16) && aligned(codes, detail::kVecOf<T>);
    const detail::QuantizeOp<T> op{static_cast<const T*>(x), codes, detail::IntArgs(p),
                                   layout.run_length % detail::kVecOf<T> == 0};
    return detail::launch_map(op, layout, vec, stream);
  });
}

CudaError int_dequantize(ElementType t, const std::uint8_t* codes, void* y,
                         const ParamLayout& layout, const IntParams& p, CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(codes, detail::kVecOf<T>) && aligned(y, 16);
    const detail::DequantizeOp<T> op{codes, static_cast<T*>(y), detail::IntArgs(p),
                                     layout.run_length % detail::kVecOf<T> == 0};
    return detail::launch_map(op, layout, vec, stream);
  });
}

CudaError int_quantize_packed4(ElementType t, const void* x, std::uint8_t* packed,
                               const ParamLayout& layout, const IntParams& p,
                               CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(x, 16) && aligned(packed, detail::kVecOf<T> / 2);
    const detail::QuantizePacked4Op<T> op{static_cast<const T*>(x), packed, detail::IntArgs(p),
                                          layout.run_length % detail::kVecOf<T> == 0};
    return detail::launch_map(op, layout, vec, stream);
  });
}

CudaError int_dequantize_packed4(ElementType t, const std::uint8_t* packed, void* y,
                                 const ParamLayout& layout, const IntParams& p,
                                 CudaStream stream) {
  if (p.scale == nullptr) return cudaErrorInvalidValue;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(packed, detail::kVecOf<T> / 2) && aligned(y, 16);
    const detail::DequantizePacked4Op<T> op{packed, static_cast<T*>(y), detail::IntArgs(p),
                                            layout.run_length % detail::kVecOf<T> == 0};
    return detail::launch_map(op, layout, vec, stream);
  });
}

}  // namespace coreai_opt::kernels::cuda
