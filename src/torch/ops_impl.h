// Implementations of the coreai_opt tensor ops (registered in ops.cpp). Internal.
//
// Routing: each op below is registered for every dispatch key it serves (CPU in ops.cpp,
// CUDA in ops_cuda.cpp) with the same function. The function validates its arguments
// and allocates its results (one code path for every device), then hands the kernels
// to the Backend of its tensors' device, chosen in one place (backend_for in
// ops_impl.cpp). A backend only runs kernels.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/qparams.h"

namespace torch {
class Library;
}

namespace coreai_opt::ops::detail {

using at::IntArrayRef;
using at::Tensor;
using OptTensor = std::optional<Tensor>;

// ------------------------------------------------------------------ registered ops

std::tuple<Tensor, Tensor> fake_quantize_with_mask_impl(
    const Tensor& input, const Tensor& scale, const OptTensor& zero_point, const OptTensor& minval,
    IntArrayRef block_size, c10::string_view dtype, int64_t quant_min, int64_t quant_max);
Tensor fake_quantize_impl(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                          const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                          int64_t quant_min, int64_t quant_max);
Tensor& fake_quantize_out_impl(const Tensor& input, const Tensor& scale,
                               const OptTensor& zero_point, const OptTensor& minval,
                               IntArrayRef block_size, c10::string_view dtype, int64_t quant_min,
                               int64_t quant_max, Tensor& out);
Tensor quantize_impl(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                     const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                     int64_t quant_min, int64_t quant_max, bool packed);
Tensor& quantize_out_impl(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                          const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                          int64_t quant_min, int64_t quant_max, bool packed, Tensor& out);
Tensor dequantize_impl(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                       const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                       int64_t quant_min, int64_t quant_max, bool packed,
                       std::optional<at::ScalarType> output_dtype);
Tensor& dequantize_out_impl(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                            const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                            int64_t quant_min, int64_t quant_max, bool packed, Tensor& out);
std::tuple<Tensor, Tensor> mxfp4_quantize_impl(const Tensor& input, int64_t block_size);
std::tuple<Tensor&, Tensor&> mxfp4_quantize_out_impl(const Tensor& input, int64_t block_size,
                                                     Tensor& packed, Tensor& scales);
Tensor mxfp4_dequantize_impl(const Tensor& packed, const Tensor& scales, int64_t block_size,
                             std::optional<at::ScalarType> output_dtype);
std::tuple<Tensor, Tensor> block_minmax_impl(const Tensor& input, IntArrayRef block_size);
// observe_ runs entirely on its tensors' device (observe_step below); choose_qparams runs its
// per-parameter math on the CPU for every device (a utility op, not an observer's path).
void observe_impl(const Tensor& input, Tensor& running_min, Tensor& running_max,
                  Tensor& initialized, IntArrayRef block_size, c10::string_view calculator,
                  double averaging_constant, std::optional<double> range_min,
                  std::optional<double> range_max);
std::tuple<Tensor, Tensor, Tensor> choose_qparams_impl(const Tensor& min_val, const Tensor& max_val,
                                                       c10::string_view dtype,
                                                       c10::string_view qscheme,
                                                       c10::string_view qformulation,
                                                       std::optional<c10::string_view> scale_dtype);

/// m.impl of every op above: the one list both the CPU and the CUDA key register.
void register_kernels(torch::Library& m);

// ------------------------------------------------------------------ observer step

/// The per-parameter tensors of one observer step: float32 (zero_point int32), contiguous,
/// num_params elements, on the input's device. scale, zero_point and minval are used only
/// when the step chooses qparams (zero_point and minval only for integer dtypes).
struct ObserveTensors {
  Tensor running_min, running_max, scale, zero_point, minval;
};

/// kernels::ObserveStep on `x`'s device: the per-block reduction of x under `block_size`,
/// then the step, with no host round trip (CUDA: two launches on the current stream).
/// Whether the range is initialized comes from `initialized_flag` (a one-element bool
/// tensor on x's device) when given, else from `initialized`. `op` names the caller in
/// errors.
void observe_step(const char* op, const Tensor& x, IntArrayRef block_size,
                  const kernels::ObserveStep& step, bool initialized,
                  const Tensor* initialized_flag, ObserveTensors& t);

// ------------------------------------------------------------------------ backends

/// Validated quantization parameters on the input's device: scale float32, zero_point
/// int32 (ZP formulation; undefined = all 0), minval float32 (MINVAL formulation),
/// contiguous, one entry per block of the view; the range is the dtype's (fp) or the
/// checked [quant_min, quant_max] (integers).
struct QuantParams {
  Tensor scale, zero_point, minval;
  int64_t quant_min = 0, quant_max = 0;
};

/// The kernels of one device. Every tensor handed over is contiguous and on that device,
/// shapes and dtypes are validated and numel > 0: x and y are float32, bfloat16 or float16
/// (y of fake_quantize has x's dtype); mask is bool (may be null); codes are bytes of the
/// quantize layout (packed: two per byte along the flattened order); MXFP4 scales are E8M0
/// bytes; mins / maxs are float32 in parameter order. `op` names the op for errors.
struct Backend {
  void (*fake_quantize)(const char* op, const Tensor& x, Tensor& y, Tensor* mask,
                        const kernels::BlockwiseView& v, DType dtype, const QuantParams& p);
  void (*quantize)(const char* op, const Tensor& x, Tensor& codes, const kernels::BlockwiseView& v,
                   DType dtype, const QuantParams& p, bool packed);
  void (*dequantize)(const char* op, const Tensor& codes, Tensor& y,
                     const kernels::BlockwiseView& v, DType dtype, const QuantParams& p,
                     bool packed);
  void (*mxfp4_quantize)(const char* op, const Tensor& x, Tensor& packed, Tensor& scales,
                         int64_t block_size);
  void (*mxfp4_dequantize)(const char* op, const Tensor& packed, const Tensor& scales, Tensor& y,
                           int64_t block_size);
  /// Writes every entry of mins / maxs (+inf / -inf for empty blocks).
  void (*block_minmax)(const char* op, const Tensor& x, const kernels::BlockwiseView& v,
                       Tensor& mins, Tensor& maxs);
  /// kernels::observe_step over the parameters; mins / maxs undefined when the step's
  /// float_range replaces them. `initialized_flag` as in observe_step above.
  void (*observe_step)(const char* op, const Tensor& mins, const Tensor& maxs,
                       const kernels::ObserveStep& step, bool initialized,
                       const Tensor* initialized_flag, ObserveTensors& t);
};

/// The CUDA backend (ops_cuda.cpp); defined only in builds with COREAI_OPT_WITH_CUDA.
const Backend& cuda_backend();

}  // namespace coreai_opt::ops::detail
