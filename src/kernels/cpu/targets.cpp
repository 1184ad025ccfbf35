// Target introspection for tests and diagnostics (kernels/targets.h).
#include "coreai_opt/kernels/targets.h"

#include <hwy/highway.h>
#include <hwy/targets.h>

namespace coreai_opt::kernels {

std::vector<std::int64_t> available_targets() {
  // HWY_TARGETS here is the same set the kernel translation units were compiled for.
  std::vector<std::int64_t> out;
  for (std::int64_t t = hwy::SupportedTargets() & HWY_TARGETS; t != 0; t &= t - 1) {
    out.push_back(t & -t);
  }
  return out;
}

std::string active_target_name() {
  const std::int64_t t = hwy::SupportedTargets() & HWY_TARGETS;
  return hwy::TargetName(t & -t);
}

}  // namespace coreai_opt::kernels
