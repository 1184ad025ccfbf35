// Per-block min/max reductions feeding the observers. Conventions: kernels/int.h.
#pragma once

#include <cstddef>

namespace coreai_opt::kernels {

/// For every i in [begin, end) with block b = i / run_length: mins[b] = min(mins[b], x[i])
/// and maxs[b] = max(maxs[b], x[i]). NaN propagates like torch.amin/amax: a NaN element,
/// or a NaN already in mins[b]/maxs[b], makes both results of the block NaN. Start from
/// +inf / -inf to reduce from scratch. A zero result is always +0.
void minmax_update(const float* x, std::size_t begin, std::size_t end, std::size_t run_length,
                   float* mins, float* maxs);

namespace reference {
/// Scalar specification of kernels::minmax_update.
void minmax_update(const float* x, std::size_t begin, std::size_t end, std::size_t run_length,
                   float* mins, float* maxs);
}  // namespace reference

}  // namespace coreai_opt::kernels
