// Device queries of the CUDA layer (kernels/cuda.h).
#include <cuda_runtime.h>

#include "coreai_opt/kernels/cuda.h"

namespace coreai_opt::kernels::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the error, report none
    return 0;
  }
  return n;
}

const char* error_string(CudaError e) { return cudaGetErrorString(static_cast<cudaError_t>(e)); }

}  // namespace coreai_opt::kernels::cuda
