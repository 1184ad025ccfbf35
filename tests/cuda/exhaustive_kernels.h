// Exhaustive device comparisons (exhaustive_kernels.cu), callable from plain C++ tests.
#pragma once

#include <cstdint>

namespace coreai_opt::kernels::cuda::testing {

struct ExhaustiveResult {
  unsigned long long mismatches = 0;
  std::uint32_t first_input = 0;  ///< bits of the smallest mismatching input
  int arch = 0;                   ///< __CUDA_ARCH__ of the code that ran
};

/// Runs the kernels' fp8 encoder (format 0: e4m3fn, 1: e5m2) and the integer codec on all
/// 2^32 float bit patterns on the current device; returns a cudaError_t value.
int compare_encoders_exhaustively(int format, ExhaustiveResult* result);

}  // namespace coreai_opt::kernels::cuda::testing
