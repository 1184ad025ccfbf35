// Device side of exhaustive_test.cpp: the encoder the kernels use (the conversion
// instruction on sm_89+) against the integer codec, for every one of the 2^32 floats.
#include <cuda_runtime.h>

#include "cuda/exhaustive_kernels.h"
#include "kernels/cuda/minifloat.cuh"

namespace coreai_opt::kernels::cuda::testing {
namespace {

namespace d = ::coreai_opt::kernels::cuda::detail;

template <class F>
__global__ void compare_all_kernel(unsigned long long* mismatches, unsigned* first) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  unsigned long long bad = 0;
  for (std::uint64_t u = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       u < (std::uint64_t{1} << 32); u += stride) {
    const float x = d::bits_float(static_cast<std::uint32_t>(u));
    if (d::encode<F>(x) != d::soft_encode<F>(x)) {
      ++bad;
      atomicMin(first, static_cast<unsigned>(u));
    }
  }
  if (bad != 0) atomicAdd(mismatches, bad);
}

__global__ void arch_kernel(int* arch) {
#if defined(__CUDA_ARCH__)
  *arch = __CUDA_ARCH__;
#endif
}

}  // namespace

int compare_encoders_exhaustively(int format, ExhaustiveResult* result) {
  unsigned long long* count = nullptr;
  unsigned* first = nullptr;
  int* arch = nullptr;
  cudaError_t e = cudaMalloc(&count, sizeof *count);
  if (e == cudaSuccess) e = cudaMalloc(&first, sizeof *first);
  if (e == cudaSuccess) e = cudaMalloc(&arch, sizeof *arch);
  if (e == cudaSuccess) e = cudaMemset(count, 0, sizeof *count);
  if (e == cudaSuccess) e = cudaMemset(first, 0xFF, sizeof *first);
  if (e == cudaSuccess) e = cudaMemset(arch, 0, sizeof *arch);
  if (e == cudaSuccess) {
    if (format == 0) {
      compare_all_kernel<d::E4M3><<<4096, 256>>>(count, first);
    } else {
      compare_all_kernel<d::E5M2><<<4096, 256>>>(count, first);
    }
    arch_kernel<<<1, 1>>>(arch);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e == cudaSuccess) e = cudaMemcpy(&result->mismatches, count, sizeof *count, cudaMemcpyDeviceToHost);
  if (e == cudaSuccess) e = cudaMemcpy(&result->first_input, first, sizeof *first, cudaMemcpyDeviceToHost);
  if (e == cudaSuccess) e = cudaMemcpy(&result->arch, arch, sizeof *arch, cudaMemcpyDeviceToHost);
  cudaFree(count);
  cudaFree(first);
  cudaFree(arch);
  return static_cast<int>(e);
}

}  // namespace coreai_opt::kernels::cuda::testing
