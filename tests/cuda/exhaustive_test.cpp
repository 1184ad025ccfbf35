// On the device: the fp8 encoder the kernels use (on sm_89+ the conversion instruction
// with saturation, plus the NaN sign fix) equals the integer codec for all 2^32 floats.
// The integer codec equals the specification on the host (codec_test.cpp), so the chain
// covers the native instruction for every input. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <cstdio>

#include "cuda/cuda_test_util.h"
#include "cuda/exhaustive_kernels.h"

namespace coreai_opt::kernels::cuda {
namespace {

void check_format(int format, const char* name) {
  testing::ExhaustiveResult r;
  COREAI_OPT_CUDA_OK(testing::compare_encoders_exhaustively(format, &r));
  std::printf("[ info ] %s: device code sm_%d, %s encoder, %llu mismatches over 2^32 inputs\n",
              name, r.arch / 10, r.arch >= 890 ? "native (cvt.rn.satfinite)" : "integer",
              r.mismatches);
  EXPECT_EQ(r.mismatches, 0u) << "first mismatching input bits 0x" << std::hex << r.first_input;
}

TEST(CudaExhaustive, E4M3NativeEqualsIntegerCodec) {
  COREAI_OPT_REQUIRE_CUDA_DEVICE();
  check_format(0, "float8_e4m3fn");
}

TEST(CudaExhaustive, E5M2NativeEqualsIntegerCodec) {
  COREAI_OPT_REQUIRE_CUDA_DEVICE();
  check_format(1, "float8_e5m2");
}

}  // namespace
}  // namespace coreai_opt::kernels::cuda
