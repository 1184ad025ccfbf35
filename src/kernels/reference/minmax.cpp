// Scalar specification of the per-block min/max reduction (kernels/minmax.h).
#include "coreai_opt/kernels/minmax.h"

#include <cmath>
#include <limits>

namespace coreai_opt::kernels::reference {

void minmax_update(const float* x, std::size_t begin, std::size_t end, std::size_t run_length,
                   float* mins, float* maxs) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t i = begin; i < end; ++i) {
    const std::size_t b = i / run_length;
    if (std::isnan(x[i]) || std::isnan(mins[b]) || std::isnan(maxs[b])) {
      mins[b] = maxs[b] = kNaN;
    } else {
      // "+ 0.0f" makes a zero result +0 whatever the order of -0 and +0.
      mins[b] = (x[i] < mins[b] ? x[i] : mins[b]) + 0.0f;
      maxs[b] = (x[i] > maxs[b] ? x[i] : maxs[b]) + 0.0f;
    }
  }
}

}  // namespace coreai_opt::kernels::reference
