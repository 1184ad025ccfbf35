// Elementwise fp8 / fp4 operations with one float scale per parameter, shared by fp8.cu
// and fp4.cu. The math is the reference's (reference/fp8.cpp, reference/fp4.cpp):
//   r = x / s; mask = (-max <= r <= max); y = NaN if r is NaN, else decode(encode(clamp(r))) * s
//   code = encode(x / s);  y = decode(code) * s
#pragma once

#include "common.cuh"
#include "minifloat.cuh"

namespace coreai_opt::kernels::cuda::detail {

template <typename T, class F>
struct MiniFakeQuantOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  T* y;
  std::uint8_t* mask;
  const float* scale;

  using Input = Raw<T>;
  using Param = float;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_raw(x, i0, full, n, in);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const { return __ldg(scale + p); }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&s)[kN], const Input& in) const {
    const float max = bits_float(F::kMaxBits);
    float v[kN], r[kN], c[kN];
    unpack(in, v);
    std::uint8_t m[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      r[j] = __fdiv_rn(v[j], s[j]);
      m[j] = (r[j] >= -max && r[j] <= max) ? 1 : 0;
      // The bounds are nonzero, so fminf / fmaxf equal the reference's comparisons (a NaN
      // gives -max here and is selected away below).
      c[j] = fminf(fmaxf(r[j], -max), max);
    }
#pragma unroll
    for (int j = 0; j < kN; j += 2) round_trip2<F>(c[j], c[j + 1], c[j], c[j + 1]);
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float d = __fmul_rn(c[j], s[j]);
      v[j] = isnan(r[j]) ? r[j] : d;
    }
    store_y(y, i0, full, n, v);
    if (mask != nullptr) store_bytes(mask, i0, full, n, m);
  }
};

/// Codes of x, stored by Codes (ByteCodes for fp8, NibbleCodes for fp4).
template <typename T, class F, class Codes>
struct MiniQuantizeOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  std::uint8_t* codes;
  const float* scale;

  using Input = Raw<T>;
  using Param = float;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_raw(x, i0, full, n, in);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const { return __ldg(scale + p); }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&s)[kN], const Input& in) const {
    float v[kN];
    unpack(in, v);
    std::uint8_t c[kN];
    // A NaN input keeps its sign in the fp8 code (sign | 0x7F), as in the reference, where
    // x / s propagates x's NaN; the GPU's division returns a NaN without it, so encode x
    // itself (e2m1 encodes every NaN as 0 either way).
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float q = __fdiv_rn(v[j], s[j]);
      c[j] = encode<F>(isnan(v[j]) ? v[j] : q);
    }
    Codes::store(codes, i0, full, n, c);
  }
};

/// Values of codes stored by Codes.
template <typename T, class F, class Codes>
struct MiniDequantizeOp {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* codes;
  T* y;
  const float* scale;

  using Input = typename Codes::template Group<kN>;
  using Param = float;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    in.load(codes, i0, full, n);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const { return __ldg(scale + p); }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&s)[kN], const Input& in) const {
    float v[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = __fmul_rn(decode<F>(in[j]), s[j]);
    store_y(y, i0, full, n, v);
  }
};

/// The launchers of the three ops for format F, codes stored by Codes.
template <class F, class Codes>
struct MiniLaunch {
  static CudaError fake_quantize(ElementType t, const void* x, void* y, std::uint8_t* mask,
                                 const ParamLayout& layout, const float* scale,
                                 CudaStream stream) {
    if (scale == nullptr) return cudaErrorInvalidValue;
    return dispatch_type(t, [&](auto tag) {
      using T = decltype(tag);
      const bool vec = aligned(x, 16) && aligned(y, 16) && aligned(mask, kVecOf<T>);
      return launch_map(
          MiniFakeQuantOp<T, F>{static_cast<const T*>(x), static_cast<T*>(y), mask, scale},
          layout, vec, stream);
    });
  }

  static CudaError quantize(ElementType t, const void* x, std::uint8_t* codes,
                            const ParamLayout& layout, const float* scale, CudaStream stream) {
    if (scale == nullptr) return cudaErrorInvalidValue;
    return dispatch_type(t, [&](auto tag) {
      using T = decltype(tag);
      const bool vec = aligned(x, 16) && aligned(codes, Codes::alignment(kVecOf<T>));
      return launch_map(MiniQuantizeOp<T, F, Codes>{static_cast<const T*>(x), codes, scale},
                        layout, vec, stream);
    });
  }

  static CudaError dequantize(ElementType t, const std::uint8_t* codes, void* y,
                              const ParamLayout& layout, const float* scale,
                              CudaStream stream) {
    if (scale == nullptr) return cudaErrorInvalidValue;
    return dispatch_type(t, [&](auto tag) {
      using T = decltype(tag);
      const bool vec = aligned(codes, Codes::alignment(kVecOf<T>)) && aligned(y, 16);
      return launch_map(MiniDequantizeOp<T, F, Codes>{codes, static_cast<T*>(y), scale},
                        layout, vec, stream);
    });
  }
};

}  // namespace coreai_opt::kernels::cuda::detail
