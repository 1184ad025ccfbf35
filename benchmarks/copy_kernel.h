// Streaming copy used as the bandwidth baseline of the benchmarks.
#pragma once

#include <cstddef>

namespace coreai_opt::bench {

/// dst[i] = src[i] for i in [begin, end), with the best SIMD target of this CPU.
void simd_copy(const float* src, float* dst, std::size_t begin, std::size_t end);

}  // namespace coreai_opt::bench
