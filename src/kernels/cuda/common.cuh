// Device-side plumbing shared by the CUDA kernels: element types, 16-byte vector loads and
// stores, division by run-time constants without a divide instruction, the per-element
// parameter index of a ParamLayout, and the launch shape. Only CUDA headers; no LibTorch,
// no Highway.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "coreai_opt/kernels/cuda.h"

namespace coreai_opt::kernels::cuda::detail {

/// Elements per thread: one 16-byte access of 16-bit inputs, two of float32.
inline constexpr int kVec = 8;
/// Threads per block of the elementwise kernels.
inline constexpr int kThreads = 256;

// --------------------------------------------------------------------- element types

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }

/// float -> T, round to nearest even (the rounding of at::Tensor::to).
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

/// Eight consecutive elements of x starting at i0 (i0 a multiple of 8, x 16-byte aligned).
template <typename T>
__device__ __forceinline__ void load8(const T* x, std::int64_t i0, float (&v)[kVec]) {
  if constexpr (sizeof(T) == 4) {
    const float4* p = reinterpret_cast<const float4*>(x + i0);
    const float4 a = __ldg(p);
    const float4 b = __ldg(p + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(x + i0));
    const T* h = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int j = 0; j < kVec; ++j) v[j] = to_float<T>(h[j]);
  }
}

/// Stores eight elements (rounded to T) at y + i0 with 16-byte stores.
template <typename T>
__device__ __forceinline__ void store8(T* y, std::int64_t i0, const float (&v)[kVec]) {
  if constexpr (sizeof(T) == 4) {
    float4* p = reinterpret_cast<float4*>(y + i0);
    p[0] = make_float4(v[0], v[1], v[2], v[3]);
    p[1] = make_float4(v[4], v[5], v[6], v[7]);
  } else {
    uint4 raw;
    T* h = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int j = 0; j < kVec; ++j) h[j] = from_float<T>(v[j]);
    *reinterpret_cast<uint4*>(y + i0) = raw;
  }
}

/// Eight bytes as one 8-byte access (p + i0 8-byte aligned).
__device__ __forceinline__ void store_bytes8(std::uint8_t* p, std::int64_t i0,
                                             const std::uint8_t (&b)[kVec]) {
  uint2 w;
  w.x = static_cast<unsigned>(b[0]) | (static_cast<unsigned>(b[1]) << 8) |
        (static_cast<unsigned>(b[2]) << 16) | (static_cast<unsigned>(b[3]) << 24);
  w.y = static_cast<unsigned>(b[4]) | (static_cast<unsigned>(b[5]) << 8) |
        (static_cast<unsigned>(b[6]) << 16) | (static_cast<unsigned>(b[7]) << 24);
  *reinterpret_cast<uint2*>(p + i0) = w;
}

__device__ __forceinline__ void load_bytes8(const std::uint8_t* p, std::int64_t i0,
                                            std::uint8_t (&b)[kVec]) {
  const uint2 w = __ldg(reinterpret_cast<const uint2*>(p + i0));
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    b[j] = static_cast<std::uint8_t>(w.x >> (8 * j));
    b[4 + j] = static_cast<std::uint8_t>(w.y >> (8 * j));
  }
}

/// Eight 4-bit codes (low four bits of each) packed into 4 bytes, element 2i low nibble.
__device__ __forceinline__ unsigned pack8_nibbles(const std::uint8_t (&c)[kVec]) {
  unsigned w = 0;
#pragma unroll
  for (int j = 0; j < kVec; ++j) w |= (static_cast<unsigned>(c[j]) & 0xFu) << (4 * j);
  return w;
}

// ------------------------------------------------------------- division by constants

/// Unsigned division by a run-time constant d >= 1 as a multiply-high, an add and a shift
/// (the round-up method of Granlund and Montgomery, as ATen's IntDivider with 64 bits).
/// Exact for every dividend below 2^63.
struct Divisor {
  std::uint64_t d = 1;
  std::uint64_t magic = 1;
  unsigned shift = 0;

  Divisor() = default;
  __host__ explicit Divisor(std::uint64_t divisor) : d(divisor) {
    shift = 0;
    while (shift < 64 && (std::uint64_t{1} << shift) < d) ++shift;
    const unsigned __int128 two_s = static_cast<unsigned __int128>(1) << shift;
    magic = static_cast<std::uint64_t>(((static_cast<unsigned __int128>(1) << 64) *
                                        (two_s - d)) / d) + 1;
  }
  __device__ __forceinline__ std::uint64_t div(std::uint64_t n) const {
    return (__umul64hi(n, magic) + n) >> shift;
  }
};

// ----------------------------------------------------------------- parameter index

/// The position of an element under a ParamLayout, advanced one element at a time
/// without division.
struct ParamCursor {
  std::int64_t p;  ///< parameter index
  std::int64_t j;  ///< offset inside the segment
  std::int64_t r;  ///< offset inside the run
  std::int64_t k;  ///< segment
};

/// ParamLayout for the device: divisors instead of counts.
struct DeviceLayout {
  std::int64_t run_length = 1;
  std::int64_t segment_length = 1;
  Divisor run;
  Divisor segment;
  int num_levels = 0;
  Divisor level[ParamLayout::kMaxLevels];
  std::int64_t level_stride[ParamLayout::kMaxLevels] = {};
  /// Every aligned group of 8 elements shares one parameter (run_length % 8 == 0).
  bool uniform8 = false;

  DeviceLayout() = default;
  __host__ explicit DeviceLayout(const ParamLayout& l)
      : run_length(l.run_length),
        segment_length(l.segment_length),
        run(static_cast<std::uint64_t>(l.run_length)),
        segment(static_cast<std::uint64_t>(l.segment_length)),
        num_levels(l.num_levels),
        uniform8(l.run_length % kVec == 0) {
    for (int i = 0; i < l.num_levels; ++i) {
      level[i] = Divisor(static_cast<std::uint64_t>(l.level_count[i]));
      level_stride[i] = l.level_param_stride[i];
    }
  }

  __device__ __forceinline__ std::int64_t segment_offset(std::int64_t k) const {
    std::int64_t off = 0;
    auto uk = static_cast<std::uint64_t>(k);
    for (int l = num_levels - 1; l >= 0; --l) {
      const std::uint64_t q = level[l].div(uk);
      off += static_cast<std::int64_t>(uk - q * level[l].d) * level_stride[l];
      uk = q;
    }
    return off;
  }

  __device__ __forceinline__ ParamCursor at(std::int64_t i) const {
    ParamCursor c;
    c.k = static_cast<std::int64_t>(segment.div(static_cast<std::uint64_t>(i)));
    c.j = i - c.k * segment_length;
    const auto q = static_cast<std::int64_t>(run.div(static_cast<std::uint64_t>(c.j)));
    c.r = c.j - q * run_length;
    c.p = segment_offset(c.k) + q;
    return c;
  }

  __device__ __forceinline__ std::int64_t index(std::int64_t i) const { return at(i).p; }

  __device__ __forceinline__ void next(ParamCursor& c) const {
    ++c.j;
    ++c.r;
    if (c.j == segment_length) {
      ++c.k;
      c.j = 0;
      c.r = 0;
      c.p = segment_offset(c.k);
    } else if (c.r == run_length) {
      c.r = 0;
      ++c.p;
    }
  }

  /// The parameter index of each of the n <= 8 elements from i0 (unused entries repeat).
  __device__ __forceinline__ void indices8(std::int64_t i0, int n,
                                           std::int64_t (&p)[kVec]) const {
    if (uniform8) {
      const std::int64_t q = index(i0);
#pragma unroll
      for (int j = 0; j < kVec; ++j) p[j] = q;
      return;
    }
    ParamCursor c = at(i0);
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      p[j] = c.p;
      if (j + 1 < n) next(c);
    }
  }
};

// ------------------------------------------------------------------------- launching

inline bool aligned(const void* p, std::uintptr_t a) {
  return (reinterpret_cast<std::uintptr_t>(p) % a) == 0;
}

/// Blocks of kThreads threads for one thread per 8 elements.
inline unsigned blocks_for(std::int64_t n) {
  const std::int64_t groups = (n + kVec - 1) / kVec;
  return static_cast<unsigned>((groups + kThreads - 1) / kThreads);
}

/// Index of the first of the 8 elements of this thread.
__device__ __forceinline__ std::int64_t first_element() {
  return (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec;
}

/// cudaGetLastError after a launch, as a CudaError.
inline CudaError launch_status() { return static_cast<CudaError>(cudaGetLastError()); }

/// Calls f(T{}) with T the C++ type of an ElementType.
template <class F>
CudaError dispatch_type(ElementType t, F&& f) {
  switch (t) {
    case ElementType::kFloat32: return f(float{});
    case ElementType::kBFloat16: return f(__nv_bfloat16{});
    case ElementType::kFloat16: return f(__half{});
  }
  return static_cast<CudaError>(cudaErrorInvalidValue);
}

}  // namespace coreai_opt::kernels::cuda::detail

namespace coreai_opt::kernels::cuda::detail {

// ------------------------------------------------------------- the elementwise driver

/// Loads the n <= 8 elements of x from i0 as floats (16-byte loads when `full`).
template <typename T>
__device__ __forceinline__ void load_x(const T* x, std::int64_t i0, bool full, int n,
                                       float (&v)[kVec]) {
  if (full) {
    load8(x, i0, v);
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) v[j] = j < n ? to_float<T>(x[i0 + j]) : 0.0f;
}

/// Stores the n <= 8 results from i0 (16-byte stores when `full`).
template <typename T>
__device__ __forceinline__ void store_y(T* y, std::int64_t i0, bool full, int n,
                                        const float (&v)[kVec]) {
  if (full) {
    store8(y, i0, v);
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    if (j < n) y[i0 + j] = from_float<T>(v[j]);
  }
}

/// Stores n <= 8 bytes from i0 (one 8-byte store when `full`).
__device__ __forceinline__ void store_bytes(std::uint8_t* out, std::int64_t i0, bool full,
                                            int n, const std::uint8_t (&b)[kVec]) {
  if (full) {
    store_bytes8(out, i0, b);
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    if (j < n) out[i0 + j] = b[j];
  }
}

/// Loads n <= 8 bytes from i0 (one 8-byte load when `full`).
__device__ __forceinline__ void load_bytes(const std::uint8_t* in, std::int64_t i0, bool full,
                                           int n, std::uint8_t (&b)[kVec]) {
  if (full) {
    load_bytes8(in, i0, b);
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) b[j] = j < n ? in[i0 + j] : std::uint8_t{0};
}

/// Stores the 4-bit codes of n <= 8 elements from i0 (even) two per byte, element 2i in the
/// low nibble, an odd tail with a zero high nibble (one 4-byte store when `full`).
__device__ __forceinline__ void store_nibbles(std::uint8_t* packed, std::int64_t i0, bool full,
                                              int n, const std::uint8_t (&c)[kVec]) {
  if (full) {
    *reinterpret_cast<unsigned*>(packed + i0 / 2) = pack8_nibbles(c);
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; j += 2) {
    if (j < n) {
      const unsigned hi = j + 1 < n ? (c[j + 1] & 0xFu) : 0u;
      packed[(i0 + j) / 2] = static_cast<std::uint8_t>((c[j] & 0xFu) | (hi << 4));
    }
  }
}

/// Loads the 4-bit codes of n <= 8 elements from i0 (even), unsigned in [0, 15].
__device__ __forceinline__ void load_nibbles(const std::uint8_t* packed, std::int64_t i0,
                                             bool full, int n, std::uint8_t (&c)[kVec]) {
  if (full) {
    const unsigned w = __ldg(reinterpret_cast<const unsigned*>(packed + i0 / 2));
#pragma unroll
    for (int j = 0; j < kVec; ++j) c[j] = static_cast<std::uint8_t>((w >> (4 * j)) & 0xFu);
    return;
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const std::uint8_t b = j < n ? packed[(i0 + j) / 2] : std::uint8_t{0};
    c[j] = static_cast<std::uint8_t>((j % 2 == 0 ? b : b >> 4) & 0xF);
  }
}

/// One thread per 8 consecutive elements; op(i0, full, n, p) does the loads, the math and
/// the stores of elements [i0, i0 + n) with their parameter indices p. `vec` says that
/// every pointer of the op is aligned for the 16-byte path; `full` is vec for every thread
/// but a partial last one.
template <class Op>
__global__ void __launch_bounds__(kThreads)
    map_kernel(Op op, DeviceLayout layout, std::int64_t numel, bool vec) {
  const std::int64_t i0 = first_element();
  if (i0 >= numel) return;
  const int n = numel - i0 < kVec ? static_cast<int>(numel - i0) : kVec;
  const bool full = vec && n == kVec;
  std::int64_t p[kVec];
  layout.indices8(i0, n, p);
  op(i0, full, n, p);
}

/// Launches map_kernel over a layout's elements; nothing to do for an empty tensor.
template <class Op>
CudaError launch_map(const Op& op, const ParamLayout& layout, bool vec, CudaStream stream) {
  if (layout.numel <= 0) return 0;
  map_kernel<Op><<<blocks_for(layout.numel), kThreads, 0, stream>>>(op, DeviceLayout(layout),
                                                                    layout.numel, vec);
  return launch_status();
}

}  // namespace coreai_opt::kernels::cuda::detail
