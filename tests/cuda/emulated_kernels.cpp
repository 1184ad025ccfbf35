// The CUDA kernels' source compiled for the host (host_emulation.h): the launchers of
// int.cu, fp8.cu, fp4.cu, minmax.cu and qparams.cu with every thread run on the CPU, plus the two
// device queries the tests use. Linked into coreai_opt_cuda_emulation_test instead of the CUDA
// library.
#include "cuda/host_emulation.h"
// clang-format off: the shim must come first
#include "kernels/cuda/fp4.cu"
#include "kernels/cuda/fp8.cu"
#include "kernels/cuda/int.cu"
#include "kernels/cuda/minmax.cu"
#include "kernels/cuda/qparams.cu"
// clang-format on

namespace coreai_opt::kernels::cuda {

int device_count() { return 1; }

const char* error_string(CudaError e) {
  return e == 0 ? "no error" : "invalid argument (host emulation)";
}

}  // namespace coreai_opt::kernels::cuda
