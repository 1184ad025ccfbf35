// Device-side plumbing shared by the CUDA kernels: element types, 16-byte vector loads and
// stores, division by run-time constants without a divide instruction, the per-element
// parameter index of a ParamLayout, and the launch shape. Only CUDA headers; no LibTorch,
// no Highway.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "coreai_opt/kernels/cuda.h"

#if !defined(__CUDACC__) && !defined(COREAI_OPT_CUDA_HOST_EMULATION)
#error "CUDA kernel source: compile with nvcc, or on the host through tests/cuda/host_emulation.h"
#endif

namespace coreai_opt::kernels::cuda::detail {

/// Elements per thread for element type T: one 16-byte access (4 float32 or 8 16-bit
/// values), so that every load and store instruction of a warp covers contiguous memory.
template <typename T>
inline constexpr int kVecOf = static_cast<int>(16 / sizeof(T));
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
/// float16 -> float, exact; a NaN keeps its sign and payload (as c10::Half's conversion on
/// the CPU), which the conversion instruction does not promise.
template <>
__device__ __forceinline__ float to_float<__half>(__half v) {
  const unsigned b = __half_as_ushort(v);
  if ((b & 0x7FFFu) > 0x7C00u) {
    return __uint_as_float(((b & 0x8000u) << 16) | 0x7FC00000u | ((b & 0x3FFu) << 13));
  }
  return __half2float(v);
}

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

/// The 32 bits of a pair of 16-bit values (element 0 in the low half).
template <typename V2>
__device__ __forceinline__ unsigned pair_bits(const V2& v) {
  static_assert(sizeof(V2) == 4, "two 16-bit values");
  unsigned u;
  memcpy(&u, &v, sizeof u);
  return u;
}

/// kVecOf<T> elements of T as loaded (16 bytes), converted to float only where they are
/// used, so that a thread keeps its loads in flight in 4 registers per group whatever T.
template <typename T>
struct Raw {
  unsigned w[4];
};

/// The elements of a Raw<T> as floats. A bfloat16 is the high half of its float, so its
/// conversion is a shift or a mask.
template <typename T, int N>
__device__ __forceinline__ void unpack(const Raw<T>& r, float (&v)[N]) {
  static_assert(N * sizeof(T) == 16, "one 16-byte group");
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if constexpr (N == 4) {
      v[j] = __uint_as_float(r.w[j]);
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      v[2 * j] = __uint_as_float(r.w[j] << 16);
      v[2 * j + 1] = __uint_as_float(r.w[j] & 0xFFFF0000u);
    } else {
      v[2 * j] = to_float<T>(__ushort_as_half(static_cast<unsigned short>(r.w[j] & 0xFFFFu)));
      v[2 * j + 1] = to_float<T>(__ushort_as_half(static_cast<unsigned short>(r.w[j] >> 16)));
    }
  }
}

/// The n <= kVecOf<T> elements of x from i0 (one 16-byte load when `full`; elements past n
/// read as +0).
template <typename T>
__device__ __forceinline__ void load_raw(const T* x, std::int64_t i0, bool full, int n,
                                         Raw<T>& r) {
  if (full) {
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(x + i0));
    r.w[0] = u.x, r.w[1] = u.y, r.w[2] = u.z, r.w[3] = u.w;
    return;
  }
  constexpr int N = kVecOf<T>;
  const auto* e = reinterpret_cast<const std::uint16_t*>(x + i0);
#pragma unroll
  for (int j = 0; j < 4; ++j) r.w[j] = 0;
#pragma unroll
  for (int j = 0; j < N; ++j) {
    if (j < n) {
      if constexpr (N == 4) {
        r.w[j] = __float_as_uint(reinterpret_cast<const float*>(x + i0)[j]);
      } else {
        r.w[j / 2] |= static_cast<unsigned>(e[j]) << (16 * (j % 2));
      }
    }
  }
}

/// Stores N = kVecOf<T> results (rounded to T) at y + i0 with one 16-byte store; 16-bit
/// values are rounded in pairs (one conversion instruction per pair, the same rounding as
/// from_float).
template <typename T, int N>
__device__ __forceinline__ void store_vec(T* y, std::int64_t i0, const float (&v)[N]) {
  static_assert(N * sizeof(T) == 16, "one 16-byte access");
  unsigned w[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if constexpr (N == 4) {
      w[j] = __float_as_uint(v[j]);
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      w[j] = pair_bits(__floats2bfloat162_rn(v[2 * j], v[2 * j + 1]));
    } else {
      w[j] = pair_bits(__floats2half2_rn(v[2 * j], v[2 * j + 1]));
    }
  }
  *reinterpret_cast<uint4*>(y + i0) = make_uint4(w[0], w[1], w[2], w[3]);
}

/// N (4 or 8) bytes as one access at p + i0 (aligned to N).
template <int N>
__device__ __forceinline__ void store_bytes_vec(std::uint8_t* p, std::int64_t i0,
                                                const std::uint8_t (&b)[N]) {
  static_assert(N == 4 || N == 8, "4 or 8 bytes");
  unsigned w[2] = {0u, 0u};
#pragma unroll
  for (int j = 0; j < N; ++j) w[j / 4] |= static_cast<unsigned>(b[j]) << (8 * (j % 4));
  if constexpr (N == 4) {
    *reinterpret_cast<unsigned*>(p + i0) = w[0];
  } else {
    *reinterpret_cast<uint2*>(p + i0) = make_uint2(w[0], w[1]);
  }
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

  // The same with 32-bit arithmetic, exact for dividends below 2^31 (divisors then are too).
  std::uint32_t magic32 = 1;
  __host__ void make32() {
    if (d >= (std::uint64_t{1} << 31)) return;
    magic32 = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) *
                                          ((std::uint64_t{1} << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ std::uint32_t div32(std::uint32_t n) const {
    return (__umulhi(n, magic32) + n) >> shift;
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
  /// Every aligned group of a thread's elements shares one parameter (run_length % N == 0).
  bool uniform = false;
  /// Element i0 + j of an aligned group has parameter index(i0) + j (run_length == 1 and
  /// segment_length % N == 0: per-channel along the last axis, blocks of 1 along it).
  bool step = false;
  /// 0: one parameter for the whole tensor; 1: one segment, parameter i / run_length;
  /// 2: the general mapping with segments and levels.
  int kind = 2;
  /// numel < 2^31: every division runs in 32 bits.
  bool small = false;

  DeviceLayout() = default;
  /// The layout for threads of `per_thread` consecutive elements.
  __host__ DeviceLayout(const ParamLayout& l, int per_thread)
      : run_length(l.run_length),
        segment_length(l.segment_length),
        run(static_cast<std::uint64_t>(l.run_length)),
        segment(static_cast<std::uint64_t>(l.segment_length)),
        num_levels(l.num_levels),
        uniform(l.run_length % per_thread == 0),
        step(l.run_length == 1 && l.segment_length % per_thread == 0),
        small(l.numel < (std::int64_t{1} << 31)) {
    for (int i = 0; i < l.num_levels; ++i) {
      level[i] = Divisor(static_cast<std::uint64_t>(l.level_count[i]));
      level_stride[i] = l.level_param_stride[i];
      level[i].make32();
    }
    run.make32();
    segment.make32();
    if (l.num_levels == 0 && l.segment_length >= l.numel) kind = l.run_length >= l.numel ? 0 : 1;
  }

  __device__ __forceinline__ std::uint64_t divide(const Divisor& d, std::uint64_t n) const {
    return small ? d.div32(static_cast<std::uint32_t>(n)) : d.div(n);
  }

  __device__ __forceinline__ std::int64_t segment_offset(std::int64_t k) const {
    std::int64_t off = 0;
    auto uk = static_cast<std::uint64_t>(k);
    for (int l = num_levels - 1; l >= 0; --l) {
      const std::uint64_t q = divide(level[l], uk);
      off += static_cast<std::int64_t>(uk - q * level[l].d) * level_stride[l];
      uk = q;
    }
    return off;
  }

  __device__ __forceinline__ ParamCursor at(std::int64_t i) const {
    ParamCursor c;
    if (kind == 0) {  // one parameter, one run: no division
      c.k = 0;
      c.j = c.r = i;
      c.p = 0;
      return c;
    }
    if (kind == 1) {  // one segment of runs: one division
      c.k = 0;
      c.j = i;
      c.p = static_cast<std::int64_t>(divide(run, static_cast<std::uint64_t>(i)));
      c.r = i - c.p * run_length;
      return c;
    }
    c.k = static_cast<std::int64_t>(divide(segment, static_cast<std::uint64_t>(i)));
    c.j = i - c.k * segment_length;
    const auto q = static_cast<std::int64_t>(divide(run, static_cast<std::uint64_t>(c.j)));
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
};

// ------------------------------------------------------------------------- launching

inline bool aligned(const void* p, std::uintptr_t a) {
  return (reinterpret_cast<std::uintptr_t>(p) % a) == 0;
}

/// cudaGetLastError after a launch, as a CudaError.
inline CudaError launch_status() {
#if defined(COREAI_OPT_CUDA_HOST_EMULATION)
  return 0;
#else
  return static_cast<CudaError>(cudaGetLastError());
#endif
}

/// `COREAI_OPT_LAUNCH(grid, stream, kernel)(args...)` launches `kernel` with kThreads threads
/// per block (`grid`: a count or a dim3). nvcc turns it into
/// `kernel<<<grid, kThreads, 0, stream>>>(args...)`; the host emulation of the tests
/// (tests/cuda/host_emulation.h) runs the blocks in turn and the threads of a block as
/// fibers that meet at warp shuffles and barriers.
#if defined(COREAI_OPT_CUDA_HOST_EMULATION)
#define COREAI_OPT_LAUNCH(grid, stream, ...)                                            \
  (static_cast<void>(stream),                                                          \
   ::coreai_opt_host_emulation::launch((grid), ::coreai_opt::kernels::cuda::detail::kThreads, \
                                       __VA_ARGS__))
#else
#define COREAI_OPT_LAUNCH(grid, stream, ...) \
  __VA_ARGS__<<<(grid), ::coreai_opt::kernels::cuda::detail::kThreads, 0, (stream)>>>
#endif

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

/// Loads the n <= N elements of x from i0 as floats (one 16-byte load when `full`).
template <typename T, int N>
__device__ __forceinline__ void load_x(const T* x, std::int64_t i0, bool full, int n,
                                       float (&v)[N]) {
  Raw<T> r;
  load_raw(x, i0, full, n, r);
  unpack(r, v);
}

/// Stores the n <= N results from i0 (one 16-byte store when `full`).
template <typename T, int N>
__device__ __forceinline__ void store_y(T* y, std::int64_t i0, bool full, int n,
                                        const float (&v)[N]) {
  if (full) {
    store_vec(y, i0, v);
    return;
  }
#pragma unroll
  for (int j = 0; j < N; ++j) {
    if (j < n) y[i0 + j] = from_float<T>(v[j]);
  }
}

/// Stores n <= N bytes from i0 (one N-byte store when `full`).
template <int N>
__device__ __forceinline__ void store_bytes(std::uint8_t* out, std::int64_t i0, bool full,
                                            int n, const std::uint8_t (&b)[N]) {
  if (full) {
    store_bytes_vec(out, i0, b);
    return;
  }
#pragma unroll
  for (int j = 0; j < N; ++j) {
    if (j < n) out[i0 + j] = b[j];
  }
}

/// Stores the 4-bit codes of n <= N elements from i0 (even) two per byte, element 2i in the
/// low nibble, an odd tail with a zero high nibble (one N/2-byte store when `full`).
template <int N>
__device__ __forceinline__ void store_nibbles(std::uint8_t* packed, std::int64_t i0, bool full,
                                              int n, const std::uint8_t (&c)[N]) {
  if (full) {
    unsigned w = 0;
#pragma unroll
    for (int j = 0; j < N; ++j) w |= (static_cast<unsigned>(c[j]) & 0xFu) << (4 * j);
    if constexpr (N == 4) {
      *reinterpret_cast<unsigned short*>(packed + i0 / 2) = static_cast<unsigned short>(w);
    } else {
      *reinterpret_cast<unsigned*>(packed + i0 / 2) = w;
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < N; j += 2) {
    if (j < n) {
      const unsigned hi = j + 1 < n ? (c[j + 1] & 0xFu) : 0u;
      packed[(i0 + j) / 2] = static_cast<std::uint8_t>((c[j] & 0xFu) | (hi << 4));
    }
  }
}

/// The codes of a group of N elements as loaded, kBits (8 or 4) each, element j at bit
/// kBits * j (the storage order of both layouts). Kept packed in 1-2 registers and unpacked
/// where used.
template <int kBits, int N>
struct PackedCodes {
  static constexpr int kBytes = N * kBits / 8;  ///< 2, 4 or 8
  unsigned w[kBytes > 4 ? 2 : 1];

  __device__ __forceinline__ std::uint8_t operator[](int j) const {
    return static_cast<std::uint8_t>((w[(j * kBits) / 32] >> ((j * kBits) % 32)) &
                                     ((1u << kBits) - 1u));
  }

  /// Loads the codes of the n <= N elements from element i0 of p (i0 even for 4-bit codes;
  /// one kBytes access when `full`). Otherwise only the bytes holding those elements are
  /// read: codes past them read as 0, except the high nibble of an odd 4-bit tail's last
  /// byte, which is read as stored and never used.
  __device__ __forceinline__ void load(const std::uint8_t* p, std::int64_t i0, bool full,
                                       int n) {
    const std::uint8_t* b = p + i0 * kBits / 8;
    if (full) {
      if constexpr (kBytes == 2) {
        w[0] = __ldg(reinterpret_cast<const unsigned short*>(b));
      } else if constexpr (kBytes == 4) {
        w[0] = __ldg(reinterpret_cast<const unsigned*>(b));
      } else {
        const uint2 u = __ldg(reinterpret_cast<const uint2*>(b));
        w[0] = u.x;
        w[1] = u.y;
      }
      return;
    }
    // Bytes that hold at least one of the n elements; a 4-bit odd tail's high nibble is 0.
    const int nb = (n * kBits + 7) / 8;
#pragma unroll
    for (int k = 0; k < (kBytes > 4 ? 2 : 1); ++k) w[k] = 0;
#pragma unroll
    for (int k = 0; k < kBytes; ++k) {
      if (k < nb) w[k / 4] |= static_cast<unsigned>(b[k]) << (8 * (k % 4));
    }
  }
};

/// Codes stored one per byte.
struct ByteCodes {
  static constexpr int kBits = 8;
  template <int N>
  using Group = PackedCodes<8, N>;
  /// Alignment of the code pointer for the vector path with groups of N elements.
  static constexpr std::uintptr_t alignment(int n) { return static_cast<std::uintptr_t>(n); }
  template <int N>
  __device__ __forceinline__ static void store(std::uint8_t* p, std::int64_t i0, bool full,
                                               int n, const std::uint8_t (&c)[N]) {
    store_bytes(p, i0, full, n, c);
  }
};

/// 4-bit codes stored two per byte, element 2i in the low nibble.
struct NibbleCodes {
  static constexpr int kBits = 4;
  template <int N>
  using Group = PackedCodes<4, N>;
  static constexpr std::uintptr_t alignment(int n) { return static_cast<std::uintptr_t>(n / 2); }
  template <int N>
  __device__ __forceinline__ static void store(std::uint8_t* p, std::int64_t i0, bool full,
                                               int n, const std::uint8_t (&c)[N]) {
    store_nibbles(p, i0, full, n, c);
  }
};

/// Vectors per thread in map_kernel: their loads are all issued before the first is used,
/// so that each thread keeps several 16-byte loads in flight (one per thread leaves the
/// memory system underused on H100/H200).
inline constexpr int kUnroll = 4;

/// Elements one block of map_kernel covers.
template <int N>
inline constexpr std::int64_t kTile = static_cast<std::int64_t>(kThreads) * N * kUnroll;

/// How map_kernel finds the parameters of a group of N elements, fixed at compile time so
/// that the common cases carry no code (and no registers) for the general mapping:
///   kOne   one parameter for the whole tensor, loaded once per thread;
///   kSame  the N elements of an aligned group share one parameter (run_length % N == 0);
///   kStep  element j of an aligned group has the group's first parameter + j
///          (DeviceLayout::step: per-channel along the last axis);
///   kAny   any layout: one parameter per element, advanced by a cursor.
/// kOne, kSame and kStep are launched only when every pointer is aligned for the vector path.
enum class Walk { kOne, kSame, kStep, kAny };

/// The parameters of the n <= N elements from i0 under walk W.
template <Walk W, class Op, int N>
__device__ __forceinline__ void group_params(const Op& op, const DeviceLayout& layout,
                                             std::int64_t i0, int n,
                                             typename Op::Param (&prm)[N]) {
  if (W == Walk::kStep) {
    const std::int64_t p0 = layout.index(i0);
#pragma unroll
    for (int j = 0; j < N; ++j) prm[j] = op.param(j < n ? p0 + j : p0);
    return;
  }
  if (W == Walk::kOne || W == Walk::kSame || layout.uniform) {
    const typename Op::Param p0 = op.param(W == Walk::kOne ? 0 : layout.index(i0));
#pragma unroll
    for (int j = 0; j < N; ++j) prm[j] = p0;
    return;
  }
  ParamCursor c = layout.at(i0);
#pragma unroll
  for (int j = 0; j < N; ++j) {
    prm[j] = op.param(c.p);
    if (j + 1 < n) layout.next(c);
  }
}

/// Each thread handles kUnroll groups of Op::kN (= kVecOf<T>) consecutive elements, the
/// groups kThreads * kN apart so that every warp access is contiguous. An op provides
///   Input                         what a group loads (Raw<T> or PackedCodes),
///   load(i0, full, n, in)         loads the group of elements [i0, i0 + n),
///   Param, param(p)               the values of parameter p (a scale, a zero point, ...),
///   op(i0, full, n, prm, in)      the math and the stores of the group, prm[j] being the
///                                 parameter of element i0 + j.
/// `vec` says that every pointer of the op is aligned for the vector path; `full` is vec for
/// every group but a partial last one. Threads whose groups are all in range take a path
/// with the vector accesses fixed at compile time; only the last block takes the other.
template <class Op, Walk W>
__global__ void __launch_bounds__(kThreads)
    map_kernel(Op op, DeviceLayout layout, std::int64_t numel, bool vec) {
  constexpr int N = Op::kN;
  using Param = typename Op::Param;
  constexpr std::int64_t kStride = static_cast<std::int64_t>(kThreads) * N;
  const std::int64_t base =
      static_cast<std::int64_t>(blockIdx.x) * kTile<N> + static_cast<std::int64_t>(threadIdx.x) * N;
  typename Op::Input in[kUnroll];
  if (W != Walk::kAny && base + (kUnroll - 1) * kStride + N <= numel) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) op.load(base + u * kStride, true, N, in[u]);
    Param prm[N];
    if (W == Walk::kOne) group_params<W>(op, layout, 0, N, prm);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i0 = base + u * kStride;
      if (W != Walk::kOne) group_params<W>(op, layout, i0, N, prm);
      op(i0, true, N, prm, in[u]);
    }
    return;
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::int64_t i0 = base + u * kStride;
    if (i0 < numel) {
      const int n = numel - i0 < N ? static_cast<int>(numel - i0) : N;
      op.load(i0, vec && n == N, n, in[u]);
    }
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::int64_t i0 = base + u * kStride;
    if (i0 < numel) {
      const int n = numel - i0 < N ? static_cast<int>(numel - i0) : N;
      Param prm[N];
      group_params<W>(op, layout, i0, n, prm);
      op(i0, vec && n == N, n, prm, in[u]);
    }
  }
}

/// Launches map_kernel over a layout's elements with the cheapest walk that fits; nothing
/// to do for an empty tensor.
template <class Op>
CudaError launch_map(const Op& op, const ParamLayout& layout, bool vec, CudaStream stream) {
  if (layout.numel <= 0) return 0;
  const DeviceLayout dl(layout, Op::kN);
  const auto grid = static_cast<unsigned>((layout.numel + kTile<Op::kN> - 1) / kTile<Op::kN>);
  if (vec && dl.kind == 0) {
    COREAI_OPT_LAUNCH(grid, stream, map_kernel<Op, Walk::kOne>)(op, dl, layout.numel, true);
  } else if (vec && dl.uniform) {
    COREAI_OPT_LAUNCH(grid, stream, map_kernel<Op, Walk::kSame>)(op, dl, layout.numel, true);
  } else if (vec && dl.step) {
    COREAI_OPT_LAUNCH(grid, stream, map_kernel<Op, Walk::kStep>)(op, dl, layout.numel, true);
  } else {
    COREAI_OPT_LAUNCH(grid, stream, map_kernel<Op, Walk::kAny>)(op, dl, layout.numel, vec);
  }
  return launch_status();
}

}  // namespace coreai_opt::kernels::cuda::detail
