// fp4 e2m1 (with given scales) and MXFP4 (E8M0 block scales computed in the same pass) on
// CUDA (kernels/cuda.h), bit-identical to reference::fp4_* and reference::mxfp4_*
// (src/kernels/reference/fp4.cpp). e2m1 has no conversion instruction before sm_100, so
// the codec is minifloat.cuh's integer path everywhere.
#include "minifloat_ops.cuh"

namespace coreai_opt::kernels::cuda {
namespace detail {
namespace {

constexpr int kMxBlock = 32;
constexpr int kFp4Emax = 2;  // e8m0_element_emax(kFloat4E2M1FNx2)

/// MXFP4 with 32-element blocks: N = kVecOf<T> elements per thread (one 16-byte load), so
/// 32 / N lanes share a block and exchange their partial amax with log2(32 / N) shuffles;
/// the first lane of a block writes its scale code. numel is a multiple of 32, so the lanes
/// of a block are valid or invalid together; invalid lanes still take part in the shuffles.
///
/// The amax is the largest |x| as bits: for non-NaN values the order of the bits of |x| is
/// the order of the values, and any NaN is above +inf, so a block with a NaN or an infinity
/// gets the code 0xFF from e8m0_code exactly as with fmax over the values plus a NaN flag
/// (the reference's rule), with one integer max per element and one shuffle per step.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    mxfp4_quantize32_kernel(const T* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                            std::int64_t numel, bool vec) {
  constexpr int N = kVecOf<T>;
  constexpr int kLanes = kMxBlock / N;
  constexpr std::int64_t kStride = static_cast<std::int64_t>(kThreads) * N;
  constexpr unsigned kAll = 0xFFFFFFFFu;
  // As map_kernel: kUnroll groups per thread, all loads issued first; threads whose groups
  // are all in range (every block but the last) take the vector path fixed at compile time.
  const std::int64_t base =
      static_cast<std::int64_t>(blockIdx.x) * kTile<N> + static_cast<std::int64_t>(threadIdx.x) * N;
  const bool whole = vec && base + (kUnroll - 1) * kStride + N <= numel;
  Raw<T> raw[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::int64_t i0 = base + u * kStride;
    if (whole) {
      load_raw(x, i0, true, N, raw[u]);
    } else if (i0 < numel) {
      load_raw(x, i0, vec, N, raw[u]);
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) raw[u].w[j] = 0;
    }
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::int64_t i0 = base + u * kStride;
    float v[N];
    unpack(raw[u], v);
    unsigned amax_bits = 0;
#pragma unroll
    for (int j = 0; j < N; ++j) amax_bits = max(amax_bits, float_bits(v[j]) & 0x7FFFFFFFu);
#pragma unroll
    for (int off = 1; off < kLanes; off <<= 1) {
      amax_bits = max(amax_bits, __shfl_xor_sync(kAll, amax_bits, off));
    }
    if (whole || i0 < numel) {
      const std::uint8_t code = e8m0_code(bits_float(amax_bits), kFp4Emax);
      const float inv = e8m0_reciprocal(code);  // x * inv == x / scale exactly (minifloat.cuh)
      std::uint8_t c[N];
#pragma unroll
      for (int j = 0; j < N; ++j) c[j] = encode<E2M1>(__fmul_rn(v[j], inv));
      store_nibbles(packed, i0, whole || vec, N, c);
      if (threadIdx.x % kLanes == 0) scale_codes[i0 / kMxBlock] = code;
    }
  }
}

/// Any even block size: one thread per block, element by element (the reference's loop).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    mxfp4_quantize_any_kernel(const T* x, std::uint8_t* packed, std::uint8_t* scale_codes,
                              std::int64_t num_blocks, std::int64_t block_size) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= num_blocks) return;
  const std::int64_t b0 = b * block_size;
  float amax = 0.0f;
  bool nan = false;
  for (std::int64_t i = b0; i < b0 + block_size; ++i) {
    const float v = to_float<T>(x[i]);
    nan = nan || isnan(v);
    amax = fmaxf(amax, fabsf(v));
  }
  const std::uint8_t code = nan ? std::uint8_t{0xFF} : e8m0_code(amax, kFp4Emax);
  scale_codes[b] = code;
  const float scale = e8m0_value(code);
  for (std::int64_t i = b0; i < b0 + block_size; i += 2) {
    const unsigned lo = encode<E2M1>(__fdiv_rn(to_float<T>(x[i]), scale));
    const unsigned hi = encode<E2M1>(__fdiv_rn(to_float<T>(x[i + 1]), scale));
    packed[i / 2] = static_cast<std::uint8_t>((lo & 0xFu) | ((hi & 0xFu) << 4));
  }
}

template <typename T>
struct MxDequantizeOp {
  static constexpr int kN = kVecOf<T>;
  const std::uint8_t* packed;
  const std::uint8_t* scale_codes;
  T* y;

  using Input = PackedCodes<4, kN>;
  using Param = float;
  __device__ __forceinline__ void load(std::int64_t i0, bool full, int n, Input& in) const {
    in.load(packed, i0, full, n);
  }
  __device__ __forceinline__ Param param(std::int64_t p) const {
    return e8m0_value(__ldg(scale_codes + p));
  }
  __device__ __forceinline__ void operator()(std::int64_t i0, bool full, int n,
                                             const Param (&s)[kN], const Input& in) const {
    float v[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) v[j] = __fmul_rn(soft_decode<E2M1>(in[j]), s[j]);
    store_y(y, i0, full, n, v);
  }
};

}  // namespace
}  // namespace detail

using detail::aligned;
using detail::E2M1;

using Fp4 = detail::MiniLaunch<E2M1, detail::NibbleCodes>;

CudaError fp4_fake_quantize(ElementType t, const void* x, void* y, std::uint8_t* mask,
                            const ParamLayout& layout, const float* scale, CudaStream stream) {
  return Fp4::fake_quantize(t, x, y, mask, layout, scale, stream);
}

CudaError fp4_quantize_packed(ElementType t, const void* x, std::uint8_t* packed,
                              const ParamLayout& layout, const float* scale,
                              CudaStream stream) {
  return Fp4::quantize(t, x, packed, layout, scale, stream);
}

CudaError fp4_dequantize_packed(ElementType t, const std::uint8_t* packed, void* y,
                                const ParamLayout& layout, const float* scale,
                                CudaStream stream) {
  return Fp4::dequantize(t, packed, y, layout, scale, stream);
}

CudaError mxfp4_quantize(ElementType t, const void* x, std::uint8_t* packed,
                         std::uint8_t* scale_codes, std::int64_t numel, std::int64_t block_size,
                         CudaStream stream) {
  if (numel < 0 || block_size <= 0 || block_size % 2 != 0 || numel % block_size != 0) {
    return cudaErrorInvalidValue;
  }
  if (numel == 0) return 0;
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    if (block_size == detail::kMxBlock) {
      const bool vec = aligned(x, 16) && aligned(packed, detail::kVecOf<T> / 2);
      constexpr std::int64_t kTile = detail::kTile<detail::kVecOf<T>>;
      const auto grid = static_cast<unsigned>((numel + kTile - 1) / kTile);
      COREAI_OPT_LAUNCH(grid, stream, detail::mxfp4_quantize32_kernel<T>)(xt, packed, scale_codes,
                                                                         numel, vec);
    } else {
      const std::int64_t blocks = numel / block_size;
      const auto grid = static_cast<unsigned>((blocks + detail::kThreads - 1) / detail::kThreads);
      COREAI_OPT_LAUNCH(grid, stream, detail::mxfp4_quantize_any_kernel<T>)(
          xt, packed, scale_codes, blocks, block_size);
    }
    return detail::launch_status();
  });
}

CudaError mxfp4_dequantize(ElementType t, const std::uint8_t* packed,
                           const std::uint8_t* scale_codes, void* y, std::int64_t numel,
                           std::int64_t block_size, CudaStream stream) {
  if (numel < 0 || block_size <= 0 || block_size % 2 != 0 || numel % block_size != 0) {
    return cudaErrorInvalidValue;
  }
  if (numel == 0) return 0;
  const ParamLayout layout = runs_layout(numel, block_size);
  return detail::dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = aligned(packed, detail::kVecOf<T> / 2) && aligned(y, 16);
    return detail::launch_map(
        detail::MxDequantizeOp<T>{packed, scale_codes, static_cast<T*>(y)}, layout, vec, stream);
  });
}

}  // namespace coreai_opt::kernels::cuda
