// CUDA kernels for every format of the CPU kernels (kernels/int.h, fp8.h, fp4.h, minmax.h),
// bit-identical to their `reference::` functions.
//
// This header is plain C++: it needs no CUDA headers and compiles without nvcc. A stream
// is passed as `CudaStream`, which is the type `cudaStream_t` names in the CUDA runtime
// (`CUstream_st*`), so a cudaStream_t or c10::cuda::CUDAStream::stream() is passed as is;
// nullptr is the legacy default stream.
//
// Conventions:
//   - Every pointer is a device pointer; each call covers a whole contiguous tensor of
//     `layout.numel` elements (no [begin, end) range: the launch itself is the parallel
//     split). Nothing is allocated and nothing synchronises the host.
//   - Element types: x and y are float32, bfloat16 or float16 (ElementType). A 16-bit input
//     is converted exactly to float and the float kernel math runs on it; a 16-bit output is
//     the float result rounded to nearest even, exactly what the CPU torch layer gets from
//     `input.to(kFloat)` -> kernel -> `.to(input.dtype())`. Parameters (scales, zero
//     points, minvals) are always float32 / int32; masks and codes are bytes.
//   - Element i uses parameter layout.index(i) (ParamLayout below), which covers every
//     granularity of blockwise.h in one launch.
//   - The result of a launcher is a cudaError_t value (0 = success) from the launch; kernel
//     faults surface at the next synchronising call, as usual in CUDA. Launchers never throw.
//   - Fast path: 8 elements per thread with 16-byte loads and stores when the pointers are
//     aligned (x and y to 16 bytes, masks and codes to 8, packed codes to 4); otherwise the
//     same kernel takes an element-by-element path with the same results.
//   - Numerics: every division is x / s correctly rounded as in the reference (never a
//     reciprocal multiply), no fused multiply-add, no flush-to-zero. NaN results compare as
//     NaN (payload and sign of a NaN *output* are unspecified, as on the CPU); NaN *codes*
//     (fp8 sign|0x7F, E8M0 0xFF) are exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/kernels/qparams.h"

struct CUstream_st;

namespace coreai_opt::kernels {

class BlockwiseView;

namespace cuda {

/// The CUDA runtime's cudaStream_t.
using CudaStream = CUstream_st*;

/// A cudaError_t value; 0 is cudaSuccess.
using CudaError = int;

/// Element type of the float inputs and outputs (x, y) of a kernel.
enum class ElementType : std::uint8_t { kFloat32, kBFloat16, kFloat16 };

/// Bytes of one element of `t`.
constexpr std::size_t element_size(ElementType t) { return t == ElementType::kFloat32 ? 4 : 2; }

/// Element -> parameter mapping of a contiguous tensor under a granularity, in the form a
/// kernel evaluates per element without a table: the tensor is a sequence of segments of
/// `segment_length` elements; inside segment k element j uses parameter
///   segment_offset(k) + j / run_length,
///   segment_offset(k) = sum over levels, innermost first, of (k % count) * param_stride,
///                       dividing k by count after each level.
/// This is BlockwiseView's mapping (blockwise.h) with its outer levels made visible.
struct ParamLayout {
  static constexpr int kMaxLevels = 12;
  std::int64_t numel = 0;           ///< elements of the tensor
  std::int64_t num_params = 1;      ///< parameters (scales) of the tensor
  std::int64_t run_length = 1;      ///< consecutive elements sharing one parameter
  std::int64_t segment_length = 1;  ///< elements per segment (a multiple of run_length)
  int num_levels = 0;               ///< outer levels, outermost first
  std::int64_t level_count[kMaxLevels] = {};
  std::int64_t level_param_stride[kMaxLevels] = {};

  /// Parameter index of element i (host side; the kernels compute the same).
  std::int64_t index(std::int64_t i) const;
  /// Parameter index of the first element of segment k.
  std::int64_t segment_offset(std::int64_t k) const;
};

/// The layout of a validated BlockwiseView (same mapping as view.param_index(i)).
ParamLayout make_param_layout(const BlockwiseView& view);

/// The layout of a tensor of `shape` under a block-size list (validates like BlockwiseView
/// and throws its errors).
ParamLayout make_param_layout(const std::vector<std::int64_t>& shape,
                              const std::vector<std::int64_t>& block_size);

/// One segment of `numel` elements, parameter i / run_length (the CPU kernels' run_length):
/// per-tensor (run_length = numel), per-channel along axis 0, per-block along the last axis.
ParamLayout runs_layout(std::int64_t numel, std::int64_t run_length);

/// Integer affine parameters (format/int.h, kernels/int.h): device pointers, one entry per
/// parameter of the layout.
struct IntParams {
  const float* scale = nullptr;              ///< > 0
  const std::int32_t* zero_point = nullptr;  ///< ZP formulation; nullptr means all 0
  const float* minval = nullptr;             ///< non-null selects the MINVAL formulation
  std::int32_t quant_min = -128;
  std::int32_t quant_max = 127;
};

/// Number of CUDA devices visible to this process; 0 when there is no device or no driver
/// (never an error).
int device_count();

/// The CUDA runtime's text for a CudaError.
const char* error_string(CudaError e);

// ------------------------------------------------------------------ integer (int.cu)

/// y = dequantize(quantize(x)); mask[i] = 1 when the rounded code lies in [quant_min,
/// quant_max] before clamping (the straight-through gradient mask). `mask` may be null.
/// Same as reference::int_fake_quantize per element.
CudaError int_fake_quantize(ElementType t, const void* x, void* y, std::uint8_t* mask,
                            const ParamLayout& layout, const IntParams& p, CudaStream stream);

/// codes[i] = quantize(x[i]), one byte per element (reference::int_quantize).
CudaError int_quantize(ElementType t, const void* x, std::uint8_t* codes,
                       const ParamLayout& layout, const IntParams& p, CudaStream stream);

/// y[i] = dequantize(codes[i]) (reference::int_dequantize); y of type t.
CudaError int_dequantize(ElementType t, const std::uint8_t* codes, void* y,
                         const ParamLayout& layout, const IntParams& p, CudaStream stream);

/// 4-bit codes two per byte, element i in packed[i / 2], low nibble when i is even; an odd
/// numel leaves the last high nibble zero (reference::int_quantize_packed4).
CudaError int_quantize_packed4(ElementType t, const void* x, std::uint8_t* packed,
                               const ParamLayout& layout, const IntParams& p,
                               CudaStream stream);

/// Inverse of int_quantize_packed4 (reference::int_dequantize_packed4).
CudaError int_dequantize_packed4(ElementType t, const std::uint8_t* packed, void* y,
                                 const ParamLayout& layout, const IntParams& p,
                                 CudaStream stream);

// ----------------------------------------------------------------------- fp8 (fp8.cu)

/// Fake quantization through `format` (kFloat8E4M3FN or kFloat8E5M2) with one float scale
/// per parameter (reference::fp8_fake_quantize). `mask` may be null.
CudaError fp8_fake_quantize(DType format, ElementType t, const void* x, void* y,
                            std::uint8_t* mask, const ParamLayout& layout, const float* scale,
                            CudaStream stream);

/// codes[i] = encode(x[i] / s) (reference::fp8_quantize).
CudaError fp8_quantize(DType format, ElementType t, const void* x, std::uint8_t* codes,
                       const ParamLayout& layout, const float* scale, CudaStream stream);

/// y[i] = decode(codes[i]) * s (reference::fp8_dequantize).
CudaError fp8_dequantize(DType format, ElementType t, const std::uint8_t* codes, void* y,
                         const ParamLayout& layout, const float* scale, CudaStream stream);

// --------------------------------------------------------------- fp4 / MXFP4 (fp4.cu)

/// Fake quantization through fp4 e2m1 with given scales (reference::fp4_fake_quantize).
CudaError fp4_fake_quantize(ElementType t, const void* x, void* y, std::uint8_t* mask,
                            const ParamLayout& layout, const float* scale, CudaStream stream);

/// e2m1 codes packed two per byte (reference::fp4_quantize_packed).
CudaError fp4_quantize_packed(ElementType t, const void* x, std::uint8_t* packed,
                              const ParamLayout& layout, const float* scale,
                              CudaStream stream);

/// Inverse of fp4_quantize_packed (reference::fp4_dequantize_packed).
CudaError fp4_dequantize_packed(ElementType t, const std::uint8_t* packed, void* y,
                                const ParamLayout& layout, const float* scale,
                                CudaStream stream);

/// MXFP4 in one pass: per block of `block_size` consecutive elements (32 for OCP MX; any
/// even size, numel a multiple of it) the E8M0 scale code from the block's amax
/// (format/e8m0.h) and the packed e2m1 codes against that scale (reference::mxfp4_quantize).
CudaError mxfp4_quantize(ElementType t, const void* x, std::uint8_t* packed,
                         std::uint8_t* scale_codes, std::int64_t numel, std::int64_t block_size,
                         CudaStream stream);

/// Inverse of mxfp4_quantize (reference::mxfp4_dequantize); scale code 0xFF gives NaN.
/// The same block rules: block_size even and positive, numel >= 0 a multiple of it, else
/// cudaErrorInvalidValue before any work.
CudaError mxfp4_dequantize(ElementType t, const std::uint8_t* packed,
                           const std::uint8_t* scale_codes, void* y, std::int64_t numel,
                           std::int64_t block_size, CudaStream stream);

// -------------------------------------------------------------------- min/max (minmax.cu)

/// For every element: mins[p] = min(mins[p], x), maxs[p] = max(maxs[p], x) with p =
/// layout.index(i); a NaN element, or a NaN already in mins[p] or maxs[p], makes both NaN;
/// a zero result is +0 (reference::minmax_update over the whole tensor). mins and maxs are
/// float32 arrays of layout.num_params entries; start from +inf / -inf to reduce from
/// scratch. The result does not depend on the order of the updates.
CudaError minmax_update(ElementType t, const void* x, const ParamLayout& layout, float* mins,
                        float* maxs, CudaStream stream);

// ------------------------------------------------------------------ observer (qparams.cu)

/// kernels::observe_step on device memory (qparams.h), bit-identical to the host loop: n
/// parameters, amin / amax the blocks' minima and maxima (either may be null when its
/// float_range bound is set), running_min / running_max read when initialized and always
/// written, scale / zero_point / minval written as observe_step writes them. Whether the
/// range is initialized comes from `initialized_flag`, a device byte (nonzero: yes), when
/// it is not null, else from `initialized`: either way the host never waits for the device.
CudaError observe_step(const ObserveStep& step, const std::uint8_t* initialized_flag,
                       bool initialized, const float* amin, const float* amax, std::int64_t n,
                       float* running_min, float* running_max, float* scale,
                       std::int32_t* zero_point, float* minval, CudaStream stream);

}  // namespace cuda
}  // namespace coreai_opt::kernels
