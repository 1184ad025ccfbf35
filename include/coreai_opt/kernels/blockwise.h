// Granularity as a blockwise view (reference §1.4).
//
// A granularity is a block-size list with one extent per tensor dimension; each block of
// that shape shares one set of quantization parameters, and the parameter tensor has shape
// shape[i] / block[i] (rank preserved). The functions below turn the granularity classes
// into block-size lists, with the reference's validation and error messages.
//
// BlockwiseView then describes the element -> parameter mapping in the form the kernels
// use: the tensor (row-major, contiguous) is a sequence of equal *segments*; inside
// segment k, element j uses parameter segment_param_offset(k) + j / run_length. Per-tensor
// is one segment with run_length = numel; per-block 32 along the last axis is one segment
// with run_length 32; per-channel along the last axis gives run_length 1 (one parameter per
// element, repeating every row).
//
// Building a view validates and throws (InvalidArgumentError, BlockSizeMismatchError);
// the kernels that consume it never throw. BlockSizeMismatchError (errors.h) is the
// reference's error of that name; the fake-quant layer may catch it and skip the tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coreai_opt/errors.h"

namespace coreai_opt {

namespace kernels {

/// Block sizes of per-tensor granularity: the full shape.
std::vector<std::int64_t> per_tensor_block_size(const std::vector<std::int64_t>& shape);

/// Block sizes of per-channel granularity along `axis` (negative counts from the end):
/// the shape with shape[axis] := 1. Throws InvalidArgumentError when axis is unset or out
/// of [-rank, rank).
std::vector<std::int64_t> per_channel_block_size(const std::vector<std::int64_t>& shape,
                                                 std::optional<std::int64_t> axis);

/// What a quantized tensor is to its op. Single-axis per-block blocks depend on it
/// (reference 0.3.0), and weights get the static calculator for qparam_calculator_cls
/// "default", activations the moving average.
enum class TensorRole : std::uint8_t { kWeight, kActivation };

/// Block sizes of single-axis per-block granularity (reference 0.3.0): block[axis] =
/// block_size with axis in [-rank, rank) (negative counts from the end). A weight's other
/// dims among 0 and 1 get 1 (per channel) and dims >= 2 keep their full size (a conv kernel
/// lies inside every block); an activation's other dims all get 1 (one scale per block and
/// per position, e.g. per token). Throws InvalidArgumentError for an unset or out-of-range
/// axis, BlockSizeMismatchError when block_size does not divide shape[axis].
std::vector<std::int64_t> per_block_block_size(const std::vector<std::int64_t>& shape,
                                               std::int64_t block_size,
                                               std::optional<std::int64_t> axis,
                                               TensorRole role = TensorRole::kWeight);

/// Block sizes of multi-axis per-block granularity: one entry per dimension, each > 0
/// (must divide the dimension) or -1 (the whole dimension).
std::vector<std::int64_t> per_block_block_size(const std::vector<std::int64_t>& shape,
                                               const std::vector<std::int64_t>& block_size);

/// Parameter shape shape[i] / block[i] of a validated block-size list.
std::vector<std::int64_t> param_shape(const std::vector<std::int64_t>& shape,
                                      const std::vector<std::int64_t>& block_size);

/// The element -> parameter mapping of a contiguous tensor under a block-size list.
class BlockwiseView {
 public:
  /// Validates the list (same rank as the shape, every block positive and dividing its
  /// dimension) and builds the view. Throws InvalidArgumentError / BlockSizeMismatchError.
  BlockwiseView(std::vector<std::int64_t> shape, std::vector<std::int64_t> block_size);

  const std::vector<std::int64_t>& shape() const { return shape_; }
  const std::vector<std::int64_t>& block_size() const { return block_size_; }
  const std::vector<std::int64_t>& param_shape() const { return param_shape_; }
  std::int64_t numel() const { return numel_; }
  std::int64_t num_params() const { return num_params_; }
  /// Elements per segment (> 0 unless numel is 0).
  std::int64_t segment_length() const { return segment_length_; }
  std::int64_t num_segments() const { return num_segments_; }
  /// Consecutive elements of a segment that share one parameter.
  std::int64_t run_length() const { return run_length_; }
  /// Index of the parameter used by the first element of segment k.
  std::int64_t segment_param_offset(std::int64_t k) const;
  /// Parameter index of element i (slow; for tests and scalar code).
  std::int64_t param_index(std::int64_t i) const;

 private:
  struct Level {
    std::int64_t count;
    std::int64_t param_stride;
  };
  std::vector<std::int64_t> shape_, block_size_, param_shape_;
  std::int64_t numel_ = 0, num_params_ = 0;
  std::int64_t segment_length_ = 0, num_segments_ = 0, run_length_ = 1;
  std::vector<Level> outer_;  // outermost first, above the segment
};

}  // namespace kernels
}  // namespace coreai_opt
