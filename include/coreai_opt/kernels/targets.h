// Which Highway SIMD targets the kernels were compiled for, for tests and diagnostics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coreai_opt::kernels {

/// Highway target bits (HWY_AVX2, HWY_AVX3, ...) compiled into the kernels and supported
/// by this CPU, best first is not guaranteed. Tests pin each one with
/// hwy::SetSupportedTargetsForTest to check every fast path.
std::vector<std::int64_t> available_targets();

/// Name of the target the kernels dispatch to now ("AVX3", "AVX2", "EMU128", ...).
std::string active_target_name();

}  // namespace coreai_opt::kernels
