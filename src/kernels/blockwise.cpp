// Granularity block-size lists and the blockwise view (kernels/blockwise.h).
#include "coreai_opt/kernels/blockwise.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace coreai_opt::kernels {
namespace {

std::int64_t rank_of(const std::vector<std::int64_t>& shape) {
  return static_cast<std::int64_t>(shape.size());
}

void check_divides(std::int64_t size, std::int64_t axis, std::int64_t block) {
  if (block <= 0 || size % block != 0) {
    throw BlockSizeMismatchError(fmt::format(
        "Tensor size {} along axis {} is not divisible by block size {}", size, axis, block));
  }
}

// axis in [-rank, rank) as an index (reference text for anything else).
std::size_t normalized_axis(const std::vector<std::int64_t>& shape, std::int64_t axis) {
  const std::int64_t r = rank_of(shape);
  if (axis < -r || axis >= r) {
    throw InvalidArgumentError(fmt::format(
        "axis {} is out of bounds for tensor of rank {}. Allowed axis range is [{}, {})", axis, r,
        -r, r));
  }
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

}  // namespace

std::vector<std::int64_t> per_tensor_block_size(const std::vector<std::int64_t>& shape) {
  return shape;
}

std::vector<std::int64_t> per_channel_block_size(const std::vector<std::int64_t>& shape,
                                                 std::optional<std::int64_t> axis) {
  if (!axis) {
    throw InvalidArgumentError(
        "PerChannelGranularity axis is None and was not resolved to a default. Please specify "
        "axis explicitly.");
  }
  std::vector<std::int64_t> block = shape;
  block[normalized_axis(shape, *axis)] = 1;
  return block;
}

std::vector<std::int64_t> per_block_block_size(const std::vector<std::int64_t>& shape,
                                               std::int64_t block_size,
                                               std::optional<std::int64_t> axis, TensorRole role) {
  if (!axis) throw InvalidArgumentError("axis must be specified when block_size is an int");
  if (block_size <= 0) {
    throw InvalidArgumentError(fmt::format("block_size must be > 0, got {}", block_size));
  }
  const std::size_t a = normalized_axis(shape, *axis);
  check_divides(shape[a], static_cast<std::int64_t>(a), block_size);
  std::vector<std::int64_t> block = shape;
  for (std::size_t i = 0; i < block.size(); ++i) {
    // Weights: only the other of dims 0 / 1 is per channel; activations: every other dim.
    if (i != a && (role == TensorRole::kActivation || i < 2)) block[i] = 1;
  }
  block[a] = block_size;
  return block;
}

std::vector<std::int64_t> per_block_block_size(const std::vector<std::int64_t>& shape,
                                               const std::vector<std::int64_t>& block_size) {
  if (block_size.size() != shape.size()) {
    throw InvalidArgumentError(fmt::format("Rank of block_size ({}) must match rank of tensor ({})",
                                           block_size.size(), shape.size()));
  }
  std::vector<std::int64_t> block(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (block_size[i] == -1) {
      block[i] = shape[i];
    } else if (block_size[i] <= 0) {
      throw InvalidArgumentError(fmt::format("block_size entries must be > 0 or -1, got {} in [{}]",
                                             block_size[i], fmt::join(block_size, ", ")));
    } else {
      try {
        check_divides(shape[i], static_cast<std::int64_t>(i), block_size[i]);
      } catch (const BlockSizeMismatchError& e) {
        // The reference names the whole shape and the tuple (Python's spelling of both).
        throw BlockSizeMismatchError(
            fmt::format("{}. Full tensor size: [{}], block_size tuple: ({}{})", e.what(),
                        fmt::join(shape, ", "), fmt::join(block_size, ", "),
                        block_size.size() == 1 ? "," : ""));
      }
      block[i] = block_size[i];
    }
  }
  return block;
}

std::vector<std::int64_t> param_shape(const std::vector<std::int64_t>& shape,
                                      const std::vector<std::int64_t>& block_size) {
  std::vector<std::int64_t> out(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    out[i] = block_size[i] > 0 ? shape[i] / block_size[i] : 0;
  }
  return out;
}

BlockwiseView::BlockwiseView(std::vector<std::int64_t> shape, std::vector<std::int64_t> block_size)
    : shape_(std::move(shape)), block_size_(std::move(block_size)) {
  if (block_size_.size() != shape_.size()) {
    throw InvalidArgumentError(fmt::format(
        "block size list [{}] has rank {}, tensor shape [{}] "
        "has rank {}",
        fmt::join(block_size_, ", "), block_size_.size(), fmt::join(shape_, ", "), shape_.size()));
  }
  for (std::size_t i = 0; i < shape_.size(); ++i) {
    if (shape_[i] < 0) {
      throw InvalidArgumentError(fmt::format("negative size {} in shape", shape_[i]));
    }
    check_divides(shape_[i], static_cast<std::int64_t>(i), block_size_[i]);
  }
  param_shape_ = kernels::param_shape(shape_, block_size_);
  numel_ = 1;
  num_params_ = 1;
  for (std::size_t i = 0; i < shape_.size(); ++i) {
    numel_ *= shape_[i];
    num_params_ *= param_shape_[i];
  }
  // Every dimension splits into (blocks, param stride) and (block extent, 0). Levels of
  // count 1 are dropped and neighbours merge when they walk memory and parameters in step.
  std::vector<Level> levels;
  std::int64_t pstride = 1;
  std::vector<Level> rev;
  for (std::size_t k = shape_.size(); k-- > 0;) {
    rev.push_back({block_size_[k], 0});
    rev.push_back({param_shape_[k], pstride});
    pstride *= param_shape_[k];
  }
  for (std::size_t k = rev.size(); k-- > 0;) {
    const Level l = rev[k];
    if (l.count == 1) continue;
    if (!levels.empty()) {
      Level& prev = levels.back();
      if (prev.param_stride == l.count * l.param_stride) {
        prev.count *= l.count;
        prev.param_stride = l.param_stride;
        continue;
      }
    }
    levels.push_back(l);
  }
  if (numel_ == 0) {
    segment_length_ = 0;
    num_segments_ = 0;
    run_length_ = 1;
    return;
  }
  run_length_ = 1;
  if (!levels.empty() && levels.back().param_stride == 0) {
    run_length_ = levels.back().count;
    levels.pop_back();
  }
  std::int64_t params_per_segment = 1;
  if (!levels.empty()) {  // the innermost parameter level has stride 1 (see header)
    params_per_segment = levels.back().count;
    levels.pop_back();
  }
  segment_length_ = run_length_ * params_per_segment;
  num_segments_ = numel_ / segment_length_;
  outer_ = std::move(levels);
}

std::int64_t BlockwiseView::segment_param_offset(std::int64_t k) const {
  std::int64_t off = 0;
  for (std::size_t j = outer_.size(); j-- > 0;) {
    off += (k % outer_[j].count) * outer_[j].param_stride;
    k /= outer_[j].count;
  }
  return off;
}

std::int64_t BlockwiseView::param_index(std::int64_t i) const {
  std::int64_t p = 0;
  for (std::size_t d = shape_.size(); d-- > 0;) {
    const std::int64_t j = i % shape_[d];
    i /= shape_[d];
    std::int64_t stride = 1;
    for (std::size_t e = d + 1; e < shape_.size(); ++e) stride *= param_shape_[e];
    p += (j / block_size_[d]) * stride;
  }
  return p;
}

}  // namespace coreai_opt::kernels
