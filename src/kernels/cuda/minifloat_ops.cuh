// Elementwise fp8 / fp4 operations with one float scale per parameter, shared by fp8.cu
// and fp4.cu. The math is the reference's (reference/fp8.cpp, reference/fp4.cpp):
//   r = x / s; mask = (-max <= r <= max); y = NaN if r is NaN, else decode(encode(clamp(r))) * s
//   code = encode(x / s);  y = decode(code) * s
#pragma once

#include "common.cuh"
#include "minifloat.cuh"

namespace coreai_opt::kernels::cuda::detail {

/// Scales of a thread's N elements (loaded once when they share one).
template <int N>
__device__ __forceinline__ void scales_of(const float* scale, const std::int64_t (&p)[N],
                                          bool uniform, float (&s)[N]) {
  if (uniform) {
    const float s0 = __ldg(scale + p[0]);
#pragma unroll
    for (int j = 0; j < N; ++j) s[j] = s0;
    return;
  }
#pragma unroll
  for (int j = 0; j < N; ++j) s[j] = __ldg(scale + p[j]);
}

template <typename T, class F>
struct MiniFakeQuantOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  T* y;
  std::uint8_t* mask;
  const float* scale;
  bool uniform;

  using Input = Floats<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_x(x, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    const float max = bits_float(F::kMaxBits);
    float v[kN], s[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = in.v[j];
    scales_of(scale, p, uniform, s);
    std::uint8_t m[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float r = __fdiv_rn(v[j], s[j]);
      m[j] = (r >= -max && r <= max) ? 1 : 0;
      const float c = r < -max ? -max : (r > max ? max : r);
      v[j] = isnan(r) ? r : __fmul_rn(round_trip<F>(c), s[j]);
    }
    store_y(y, i0, full, n, v);
    if (mask != nullptr) store_bytes(mask, i0, full, n, m);
  }
};

/// One code byte per element (fp8).
template <typename T, class F>
struct MiniQuantizeOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  std::uint8_t* codes;
  const float* scale;
  bool uniform;

  using Input = Floats<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_x(x, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = in.v[j];
    scales_of(scale, p, uniform, s);
    std::uint8_t c[kN];
    // A NaN input keeps its sign in the code (sign | 0x7F), as in the reference, where x / s
    // propagates x's NaN; the GPU's division returns a NaN without it, so encode x itself.
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      c[j] = encode<F>(isnan(v[j]) ? v[j] : __fdiv_rn(v[j], s[j]));
    }
    store_bytes(codes, i0, full, n, c);
  }
};

template <typename T, class F>
struct MiniDequantizeOp {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* codes;
  T* y;
  const float* scale;
  bool uniform;

  using Input = Bytes<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_bytes(codes, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN];
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = in.v[j];
    scales_of(scale, p, uniform, s);
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = __fmul_rn(soft_decode<F>(c[j]), s[j]);
    store_y(y, i0, full, n, v);
  }
};

/// 4-bit codes two per byte (fp4).
template <typename T, class F>
struct MiniQuantizePackedOp {
  static constexpr int kN = kVecOf<T>;
  const T* x;
  std::uint8_t* packed;
  const float* scale;
  bool uniform;

  using Input = Floats<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_x(x, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = in.v[j];
    scales_of(scale, p, uniform, s);
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = encode<F>(__fdiv_rn(v[j], s[j]));
    store_nibbles(packed, i0, full, n, c);
  }
};

template <typename T, class F>
struct MiniDequantizePackedOp {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* packed;
  T* y;
  const float* scale;
  bool uniform;

  using Input = Bytes<kN>;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    load_nibbles(packed, i0, full, n, in.v);
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kN], const Input& in) const {
    float v[kN], s[kN];
    std::uint8_t c[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) c[j] = in.v[j];
    scales_of(scale, p, uniform, s);
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = __fmul_rn(soft_decode<F>(c[j]), s[j]);
    store_y(y, i0, full, n, v);
  }
};

}  // namespace coreai_opt::kernels::cuda::detail
