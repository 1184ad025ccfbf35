// LibTorch tensor ops of coreai_opt: fake-quantize, quantize, dequantize, MXFP4 and the
// observers' range updates. The same ops are registered with TORCH_LIBRARY(coreai_opt, m)
// (torch.ops.coreai_opt.* in TorchScript and saved models); these functions call them
// through the dispatcher, so fake_quantize records the straight-through-estimator
// gradient (reference §2.8) when autograd is on.
//
// Conventions:
//   - `block_size` is the full block-size list of the granularity (one entry per input
//     dimension; see kernels/blockwise.h for per_tensor/per_channel/per_block helpers).
//     scale / zero_point / minval have one element per block (the parameter shape).
//   - Inputs may be float32, bfloat16 or float16; they are quantized in float32 and
//     results are returned in the input's dtype (reference §2.1).
//   - Integer ops take quant_min/quant_max; fp8 / fp4 ops ignore them (+-max finite).
//   - zero_point (int32) selects the ZP formulation; minval (float) selects MINVAL.
//   - `*_out` variants write into a caller's buffer (no allocation) and do not record
//     gradients, like ATen's out= ops.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <tuple>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/kernels/qparams.h"

namespace coreai_opt::ops {

/// Fake quantization x -> dequantize(quantize(x)), differentiable (dy * in_range mask).
at::Tensor fake_quantize(const at::Tensor& input, const at::Tensor& scale,
                         const std::optional<at::Tensor>& zero_point,
                         const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                         DType dtype, std::int64_t quant_min = 0, std::int64_t quant_max = 0);

/// fake_quantize into `out` (same shape and dtype as input); returns out.
at::Tensor& fake_quantize_out(const at::Tensor& input, const at::Tensor& scale,
                              const std::optional<at::Tensor>& zero_point,
                              const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                              DType dtype, std::int64_t quant_min, std::int64_t quant_max,
                              at::Tensor& out);

/// Fake quantization plus the bool mask of elements whose rounded code was in range.
std::tuple<at::Tensor, at::Tensor> fake_quantize_with_mask(
    const at::Tensor& input, const at::Tensor& scale, const std::optional<at::Tensor>& zero_point,
    const std::optional<at::Tensor>& minval, at::IntArrayRef block_size, DType dtype,
    std::int64_t quant_min = 0, std::int64_t quant_max = 0);

/// Codes: int8 (signed ranges) or uint8 tensors of the input's shape; fp8 dtypes as
/// float8_e4m3fn / float8_e5m2. `packed` (int4/uint4 and fp4, required for fp4) packs two
/// codes per byte along the last dimension, which must be even: uint8 [..., last / 2] for
/// ints, float4_e2m1fn_x2 for fp4.
at::Tensor quantize(const at::Tensor& input, const at::Tensor& scale,
                    const std::optional<at::Tensor>& zero_point,
                    const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                    DType dtype, std::int64_t quant_min = 0, std::int64_t quant_max = 0,
                    bool packed = false);

/// quantize into a preallocated codes tensor of the shape and dtype quantize() returns.
at::Tensor& quantize_out(const at::Tensor& input, const at::Tensor& scale,
                         const std::optional<at::Tensor>& zero_point,
                         const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                         DType dtype, std::int64_t quant_min, std::int64_t quant_max, bool packed,
                         at::Tensor& out);

/// Inverse of quantize: float values (`output_dtype`) of the unpacked shape.
at::Tensor dequantize(const at::Tensor& codes, const at::Tensor& scale,
                      const std::optional<at::Tensor>& zero_point,
                      const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                      DType dtype, std::int64_t quant_min = 0, std::int64_t quant_max = 0,
                      bool packed = false, at::ScalarType output_dtype = at::kFloat);

/// dequantize into a preallocated float tensor `out` (float32, bfloat16 or float16).
at::Tensor& dequantize_out(const at::Tensor& codes, const at::Tensor& scale,
                           const std::optional<at::Tensor>& zero_point,
                           const std::optional<at::Tensor>& minval, at::IntArrayRef block_size,
                           DType dtype, std::int64_t quant_min, std::int64_t quant_max, bool packed,
                           at::Tensor& out);

/// MXFP4 along the last dimension (a multiple of block_size): packed float4_e2m1fn_x2
/// [..., last / 2] and E8M0 scales float8_e8m0fnu [..., last / block_size].
std::tuple<at::Tensor, at::Tensor> mxfp4_quantize(const at::Tensor& input,
                                                  std::int64_t block_size = 32);

/// mxfp4_quantize into preallocated packed / scales tensors.
void mxfp4_quantize_out(const at::Tensor& input, std::int64_t block_size, at::Tensor& packed,
                        at::Tensor& scales);

/// Inverse of mxfp4_quantize.
at::Tensor mxfp4_dequantize(const at::Tensor& packed, const at::Tensor& scales,
                            std::int64_t block_size = 32, at::ScalarType output_dtype = at::kFloat);

/// Per-block amin and amax (parameter shape, input dtype); NaN propagates.
std::tuple<at::Tensor, at::Tensor> block_minmax(const at::Tensor& input,
                                                at::IntArrayRef block_size);

/// One observer step (reference §2.2-2.3): per-block range of `input`, float_range
/// overrides, then the calculator's update of running_min / running_max (parameter shape,
/// any float dtype: the observed bounds and the update round to it). `initialized` is a
/// bool scalar tensor, read on the device and set true. All state lives in these tensors,
/// so it can be a module buffer; everything runs on the input's device, with no host read.
void observe_(const at::Tensor& input, at::Tensor& running_min, at::Tensor& running_max,
              at::Tensor& initialized, at::IntArrayRef block_size,
              kernels::RangeCalculator calculator,
              double averaging_constant = kernels::kDefaultAveragingConstant,
              std::optional<double> range_min = std::nullopt,
              std::optional<double> range_max = std::nullopt);

/// Scale (float32), zero point (int32) and minval (float32) from observed ranges; the math
/// runs in min_val's dtype (reference §2.4). For fp dtypes zero_point and minval are zeros.
std::tuple<at::Tensor, at::Tensor, at::Tensor> choose_qparams(const at::Tensor& min_val,
                                                              const at::Tensor& max_val,
                                                              const kernels::QParamsConfig& config);

/// Diagnostic: runs at::parallel_for over `units` work items inside this library and
/// returns how many distinct pool threads took part. at::parallel_for is a header template
/// that silently runs serially in code built without OpenMP; this shows it does not.
int parallel_threads_used(std::int64_t units);

}  // namespace coreai_opt::ops
