// COREAI_OPT_HOST_DEVICE marks a small inline function of the torch-free core that the CUDA
// kernels call too (nvcc compiles it for both sides); for a host compiler it is empty. Such a
// function uses only integer operations, IEEE float arithmetic and C math functions that
// both sides provide, so that host and device give the same bits.
#pragma once

#if defined(__CUDACC__)
#define COREAI_OPT_HOST_DEVICE __host__ __device__
#else
#define COREAI_OPT_HOST_DEVICE
#endif
