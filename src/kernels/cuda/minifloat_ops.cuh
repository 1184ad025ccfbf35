// Elementwise fp8 / fp4 operations with one float scale per parameter, shared by fp8.cu
// and fp4.cu. The math is the reference's (reference/fp8.cpp, reference/fp4.cpp):
//   r = x / s; mask = (-max <= r <= max); y = NaN if r is NaN, else decode(encode(clamp(r))) * s
//   code = encode(x / s);  y = decode(code) * s
#pragma once

#include "common.cuh"
#include "minifloat.cuh"

namespace coreai_opt::kernels::cuda::detail {

/// Scales of the 8 elements (loaded once when they share one).
__device__ __forceinline__ void scales8(const float* scale, const std::int64_t (&p)[kVec],
                                        bool uniform, float (&s)[kVec]) {
  if (uniform) {
    const float s0 = __ldg(scale + p[0]);
#pragma unroll
    for (int j = 0; j < kVec; ++j) s[j] = s0;
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) s[j] = __ldg(scale + p[j]);
}

template <typename T, class F>
struct MiniFakeQuantOp {
  const T* x;
  T* y;
  std::uint8_t* mask;
  const float* scale;
  bool uniform;

  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kVec]) const {
    const float max = bits_float(F::kMaxBits);
    float v[kVec], s[kVec];
    load_x(x, i0, full, n, v);
    scales8(scale, p, uniform, s);
    std::uint8_t m[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
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
  const T* x;
  std::uint8_t* codes;
  const float* scale;
  bool uniform;

  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kVec]) const {
    float v[kVec], s[kVec];
    load_x(x, i0, full, n, v);
    scales8(scale, p, uniform, s);
    std::uint8_t c[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) c[j] = encode<F>(__fdiv_rn(v[j], s[j]));
    store_bytes(codes, i0, full, n, c);
  }
};

template <typename T, class F>
struct MiniDequantizeOp {
  const std::uint8_t* codes;
  T* y;
  const float* scale;
  bool uniform;

  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kVec]) const {
    float v[kVec], s[kVec];
    std::uint8_t c[kVec];
    load_bytes(codes, i0, full, n, c);
    scales8(scale, p, uniform, s);
#pragma unroll
    for (int j = 0; j < kVec; ++j) v[j] = __fmul_rn(soft_decode<F>(c[j]), s[j]);
    store_y(y, i0, full, n, v);
  }
};

/// 4-bit codes two per byte (fp4).
template <typename T, class F>
struct MiniQuantizePackedOp {
  const T* x;
  std::uint8_t* packed;
  const float* scale;
  bool uniform;

  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kVec]) const {
    float v[kVec], s[kVec];
    load_x(x, i0, full, n, v);
    scales8(scale, p, uniform, s);
    std::uint8_t c[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) c[j] = encode<F>(__fdiv_rn(v[j], s[j]));
    store_nibbles(packed, i0, full, n, c);
  }
};

template <typename T, class F>
struct MiniDequantizePackedOp {
  const std::uint8_t* packed;
  T* y;
  const float* scale;
  bool uniform;

  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const std::int64_t (&p)[kVec]) const {
    float v[kVec], s[kVec];
    std::uint8_t c[kVec];
    load_nibbles(packed, i0, full, n, c);
    scales8(scale, p, uniform, s);
#pragma unroll
    for (int j = 0; j < kVec; ++j) v[j] = __fmul_rn(soft_decode<F>(c[j]), s[j]);
    store_y(y, i0, full, n, v);
  }
};

}  // namespace coreai_opt::kernels::cuda::detail
