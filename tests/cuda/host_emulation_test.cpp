// The host emulation itself (host_emulation.h): shuffles exchange the right lanes' values,
// __syncthreads orders shared memory, blocks of a 2-D grid see their coordinates, and a warp
// that cannot meet is an error that names the thread instead of a hang or a wrong result.
#include "cuda/host_emulation.h"

#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

using coreai_opt_host_emulation::launch;

void xor_kernel(const int* in, int* out, int lane_mask) {
  const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
  out[t] = __shfl_xor_sync(0xFFFFFFFFu, in[t], lane_mask);
}

TEST(HostEmulation, ShuffleXorReadsTheLaneAtTheXoredIndex) {
  std::vector<int> in(128), out(128, -1);
  for (int i = 0; i < 128; ++i) in[i] = 1000 + i;
  for (int m : {1, 2, 16, 31}) {
    launch(2, 64, xor_kernel)(in.data(), out.data(), m);
    for (int i = 0; i < 128; ++i) {
      const int warp0 = i / 32 * 32;
      ASSERT_EQ(out[i], 1000 + warp0 + ((i - warp0) ^ m)) << "thread " << i << " mask " << m;
    }
  }
}

void butterfly_sum_kernel(float* out) {
  float v = static_cast<float>(threadIdx.x % 32);
  for (int off = 1; off < 32; off <<= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  out[threadIdx.x] = v;
}

TEST(HostEmulation, RepeatedShufflesKeepTheirRounds) {
  std::vector<float> out(64, 0.0f);
  launch(1, 64, butterfly_sum_kernel)(out.data());
  for (float v : out) EXPECT_EQ(v, 496.0f);  // 0 + 1 + ... + 31 in every lane
}

void reverse_kernel(int* data) {
  __shared__ int tile[64];
  tile[threadIdx.x] = data[blockIdx.x * 64 + threadIdx.x];
  __syncthreads();
  data[blockIdx.x * 64 + threadIdx.x] = tile[63 - threadIdx.x];
}

TEST(HostEmulation, SyncthreadsOrdersSharedMemory) {
  std::vector<int> data(192);
  for (int i = 0; i < 192; ++i) data[i] = i;
  launch(3, 64, reverse_kernel)(data.data());
  for (int i = 0; i < 192; ++i) ASSERT_EQ(data[i], i / 64 * 64 + 63 - i % 64) << i;
}

void grid_kernel(unsigned* out) {
  const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
  out[b * blockDim.x + threadIdx.x] = blockIdx.y * 1000000 + blockIdx.x * 1000 + threadIdx.x;
}

TEST(HostEmulation, TwoDimensionalGrid) {
  std::vector<unsigned> out(3 * 2 * 32);
  launch(dim3(3, 2), 32, grid_kernel)(out.data());
  for (unsigned y = 0; y < 2; ++y) {
    for (unsigned x = 0; x < 3; ++x) {
      for (unsigned t = 0; t < 32; ++t) {
        ASSERT_EQ(out[(y * 3 + x) * 32 + t], y * 1000000 + x * 1000 + t);
      }
    }
  }
}

void early_exit_kernel(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xFFFFFFFFu, 1, 1);
}

void split_warp_kernel(int* out) {
  if (threadIdx.x == 40) {
    __syncthreads();
    return;
  }
  out[threadIdx.x] = __shfl_xor_sync(0xFFFFFFFFu, 1, 1);
  __syncthreads();
}

std::string launch_error(void (*kernel)(int*), unsigned threads) {
  std::vector<int> out(threads);
  try {
    launch(1, static_cast<int>(threads), kernel)(out.data());
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(HostEmulation, ShuffleWithAnExitedLaneIsAnError) {
  EXPECT_EQ(launch_error(early_exit_kernel, 32),
            "thread 5 (warp 0, lane 5) has exited while other lanes of its warp wait in "
            "__shfl_xor_sync");
  // The emulation recovers: the next launch runs normally.
  std::vector<float> out(32, 0.0f);
  launch(1, 32, butterfly_sum_kernel)(out.data());
  EXPECT_EQ(out[7], 496.0f);
}

TEST(HostEmulation, WarpSplitBetweenShuffleAndBarrierIsAnError) {
  EXPECT_EQ(launch_error(split_warp_kernel, 64),
            "thread 40 (warp 1, lane 8) waits in __syncthreads while other lanes of its warp "
            "wait in __shfl_xor_sync");
}

TEST(HostEmulation, InvalidLaunchConfigurationIsAnError) {
  std::vector<float> out(32);
  auto error = [&](dim3 grid, int threads) -> std::string {
    try {
      launch(grid, threads, butterfly_sum_kernel)(out.data());
    } catch (const std::logic_error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error(dim3(1), 2048),
            "invalid launch configuration: grid (1, 1, 1), 2048 threads per block (a GPU takes "
            "grid x 1 to 2^31 - 1, y 1 to 65535, 1 to 1024 threads; the emulation runs z = 1 "
            "only)");
  const std::string limits =
      " threads per block (a GPU takes grid x 1 to 2^31 - 1, y 1 to 65535, 1 to 1024 threads; "
      "the emulation runs z = 1 only)";
  EXPECT_EQ(error(dim3(0), 32), "invalid launch configuration: grid (0, 1, 1), 32" + limits);
  EXPECT_EQ(error(dim3(1, 65536), 32),
            "invalid launch configuration: grid (1, 65536, 1), 32" + limits);
  EXPECT_EQ(error(dim3(1, 1, 2), 32), "invalid launch configuration: grid (1, 1, 2), 32" + limits);
}

void subnormal_kernel(const float* a, const float* b, float* out) {
  out[threadIdx.x] = __fmul_rn(a[threadIdx.x], b[threadIdx.x]);
}

TEST(HostEmulation, ThreadsRunWithTheDefaultFloatingPointEnvironment) {
  // Flush-to-zero and denormals-are-zero set by the caller must not reach the emulated
  // threads: a GPU's non-ftz multiply keeps subnormals. The failed launch first makes the
  // fibers start afresh, under the caller's FTZ | DAZ.
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u);  // FTZ | DAZ
  ASSERT_NE(launch_error(early_exit_kernel, 32), "no error");
  std::vector<float> a(32, 0x1p-100f), b(32, 0x1p-30f), out(32, 0.0f);
  a[1] = 0x1p-140f;  // a subnormal input
  b[1] = 0x1p10f;
  launch(1, 32, subnormal_kernel)(a.data(), b.data(), out.data());
  const unsigned after = _mm_getcsr();
  _mm_setcsr(saved);
  EXPECT_EQ(out[0], 0x1p-130f);  // a subnormal result, not flushed to zero
  EXPECT_EQ(out[1], 0x1p-130f);  // a subnormal input, not read as zero
  EXPECT_EQ(after & 0x8040u, 0x8040u) << "the caller's environment is restored";
}

TEST(HostEmulation, ShuffleInAPartialWarpIsAnError) {
  EXPECT_EQ(
      launch_error([](int* out) { out[threadIdx.x] = __shfl_xor_sync(0xFFFFFFFFu, 1, 1); }, 48),
      "a full-warp shuffle in the partial last warp of a block of 48 threads");
}

}  // namespace
