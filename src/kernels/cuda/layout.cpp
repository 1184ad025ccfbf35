// ParamLayout: BlockwiseView's element -> parameter mapping with its outer levels spelled
// out, so that a CUDA kernel evaluates it per element (kernels/cuda.h).
#include <string>

#include "coreai_opt/errors.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/cuda.h"

namespace coreai_opt::kernels::cuda {

std::int64_t ParamLayout::segment_offset(std::int64_t k) const {
  std::int64_t off = 0;
  for (int l = num_levels; l-- > 0;) {
    off += (k % level_count[l]) * level_param_stride[l];
    k /= level_count[l];
  }
  return off;
}

std::int64_t ParamLayout::index(std::int64_t i) const {
  const std::int64_t k = i / segment_length;
  return segment_offset(k) + (i - k * segment_length) / run_length;
}

ParamLayout make_param_layout(const BlockwiseView& view) {
  // The same level construction as BlockwiseView's constructor: every dimension splits
  // into (blocks, param stride) and (block extent, 0); levels of count 1 are dropped and
  // neighbours merge when they walk memory and parameters in step.
  struct Level {
    std::int64_t count;
    std::int64_t param_stride;
  };
  const auto& shape = view.shape();
  const auto& block = view.block_size();
  const auto& pshape = view.param_shape();
  std::vector<Level> rev;
  std::int64_t pstride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    rev.push_back({block[d], 0});
    rev.push_back({pshape[d], pstride});
    pstride *= pshape[d];
  }
  std::vector<Level> levels;
  for (std::size_t k = rev.size(); k-- > 0;) {
    const Level l = rev[k];
    if (l.count == 1) continue;
    if (!levels.empty() && levels.back().param_stride == l.count * l.param_stride) {
      levels.back().count *= l.count;
      levels.back().param_stride = l.param_stride;
      continue;
    }
    levels.push_back(l);
  }
  ParamLayout out;
  out.numel = view.numel();
  out.num_params = view.num_params();
  if (out.numel == 0) return out;
  out.run_length = view.run_length();
  out.segment_length = view.segment_length();
  if (!levels.empty() && levels.back().param_stride == 0) levels.pop_back();  // the run
  if (!levels.empty()) levels.pop_back();  // parameters inside a segment (stride 1)
  // Outermost levels of stride 0 add nothing to any offset: drop them, so that for example
  // per-channel along the last axis needs no division per segment.
  std::size_t first = 0;
  while (first < levels.size() && levels[first].param_stride == 0) ++first;
  const std::size_t n = levels.size() - first;
  if (n > static_cast<std::size_t>(ParamLayout::kMaxLevels)) {
    throw UnsupportedError("granularity of tensor rank " + std::to_string(shape.size()) +
                           " needs " + std::to_string(n) + " parameter levels; the CUDA "
                           "kernels support at most " +
                           std::to_string(ParamLayout::kMaxLevels));
  }
  out.num_levels = static_cast<int>(n);
  for (std::size_t l = 0; l < n; ++l) {
    out.level_count[l] = levels[first + l].count;
    out.level_param_stride[l] = levels[first + l].param_stride;
  }
  return out;
}

ParamLayout make_param_layout(const std::vector<std::int64_t>& shape,
                              const std::vector<std::int64_t>& block_size) {
  return make_param_layout(BlockwiseView(shape, block_size));
}

ParamLayout runs_layout(std::int64_t numel, std::int64_t run_length) {
  if (numel < 0 || run_length <= 0) {
    throw InvalidArgumentError("runs_layout needs numel >= 0 and run_length > 0, got numel " +
                               std::to_string(numel) + ", run_length " +
                               std::to_string(run_length));
  }
  ParamLayout out;
  out.numel = numel;
  if (numel == 0) return out;
  out.run_length = run_length;
  out.segment_length = numel;
  out.num_params = (numel + run_length - 1) / run_length;
  return out;
}

}  // namespace coreai_opt::kernels::cuda
