// Host emulation of the CUDA kernels' source, for machines without a GPU: include this
// first, then the .cu files, and compile with the host compiler. Every thread of a launch
// runs as a plain function call, one after another (COREAI_OPT_LAUNCH in
// src/kernels/cuda/common.cuh), and the device intrinsics are their host equivalents with
// the same IEEE rounding (round to nearest even, no contraction: build with
// -ffp-contract=off). Device memory is host memory.
//
// This is exact for kernels whose threads do not talk to each other: the elementwise
// kernels (integer, fp8, fp4 fake-quantize / quantize / dequantize, MXFP4 dequantize and
// MXFP4 quantize with block sizes other than 32). Not emulated: warp shuffles (MXFP4 block
// 32: __shfl_xor_sync throws), shared memory (min/max, not compiled here) and the sm_89+
// conversion instructions (only nvcc compiles them; the integer codecs they replace run
// here, and tests/cuda/exhaustive_test.cpp compares both on a GPU).
#pragma once

#if defined(__CUDACC__)
#error "host_emulation.h is for a host compiler"
#endif

#define COREAI_OPT_CUDA_HOST_EMULATION 1

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#define __launch_bounds__(...)

// Thread and block coordinates of the thread being emulated.
inline uint3 threadIdx{0, 0, 0};
inline uint3 blockIdx{0, 0, 0};
inline dim3 blockDim{1, 1, 1};
inline dim3 gridDim{1, 1, 1};

inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<std::uint64_t>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
// IEEE binary32 operations of the host (SSE), each correctly rounded to nearest even.
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
using std::isnan;
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
template <typename T>
T __shfl_xor_sync(unsigned, T, int) {
  throw std::logic_error("warp shuffles are not emulated on the host");
}

namespace coreai_opt_host_emulation {

/// kernel<<<grid, threads>>>(args...) as nested loops over blocks and threads.
template <class... P>
struct Launch {
  unsigned grid;
  unsigned threads;
  void (*kernel)(P...);

  template <class... A>
  void operator()(A&&... args) const {
    gridDim = dim3(grid, 1, 1);
    blockDim = dim3(threads, 1, 1);
    for (unsigned b = 0; b < grid; ++b) {
      for (unsigned t = 0; t < threads; ++t) {
        blockIdx = uint3{b, 0, 0};
        threadIdx = uint3{t, 0, 0};
        kernel(args...);
      }
    }
  }
};

template <class... P>
Launch<P...> launch(unsigned grid, int threads, void (*kernel)(P...)) {
  return Launch<P...>{grid, static_cast<unsigned>(threads), kernel};
}

}  // namespace coreai_opt_host_emulation
