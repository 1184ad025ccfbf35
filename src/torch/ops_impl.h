// CPU implementations of the coreai_opt tensor ops (registered in ops.cpp). Internal.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

namespace coreai_opt::ops::detail {

using at::IntArrayRef;
using at::Tensor;
using OptTensor = std::optional<Tensor>;

std::tuple<Tensor, Tensor> fake_quantize_with_mask_cpu(
    const Tensor& input, const Tensor& scale, const OptTensor& zero_point, const OptTensor& minval,
    IntArrayRef block_size, c10::string_view dtype, int64_t quant_min, int64_t quant_max);
Tensor fake_quantize_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                         const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                         int64_t quant_min, int64_t quant_max);
Tensor& fake_quantize_out_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                              const OptTensor& minval, IntArrayRef block_size,
                              c10::string_view dtype, int64_t quant_min, int64_t quant_max,
                              Tensor& out);
Tensor quantize_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                    const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                    int64_t quant_min, int64_t quant_max, bool packed);
Tensor& quantize_out_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                         const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                         int64_t quant_min, int64_t quant_max, bool packed, Tensor& out);
Tensor dequantize_cpu(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                      const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                      int64_t quant_min, int64_t quant_max, bool packed,
                      std::optional<at::ScalarType> output_dtype);
Tensor& dequantize_out_cpu(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                           const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype,
                           int64_t quant_min, int64_t quant_max, bool packed, Tensor& out);
std::tuple<Tensor, Tensor> mxfp4_quantize_cpu(const Tensor& input, int64_t block_size);
std::tuple<Tensor&, Tensor&> mxfp4_quantize_out_cpu(const Tensor& input, int64_t block_size,
                                                    Tensor& packed, Tensor& scales);
Tensor mxfp4_dequantize_cpu(const Tensor& packed, const Tensor& scales, int64_t block_size,
                            std::optional<at::ScalarType> output_dtype);
std::tuple<Tensor, Tensor> block_minmax_cpu(const Tensor& input, IntArrayRef block_size);
void observe_cpu(const Tensor& input, Tensor& running_min, Tensor& running_max, Tensor& initialized,
                 IntArrayRef block_size, c10::string_view calculator, double averaging_constant,
                 std::optional<double> range_min, std::optional<double> range_max);
std::tuple<Tensor, Tensor, Tensor> choose_qparams_cpu(const Tensor& min_val, const Tensor& max_val,
                                                      c10::string_view dtype,
                                                      c10::string_view qscheme,
                                                      c10::string_view qformulation,
                                                      std::optional<c10::string_view> scale_dtype);

}  // namespace coreai_opt::ops::detail
