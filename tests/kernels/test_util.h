// Helpers of the kernel tests: run a body once per compiled Highway target, compare
// float arrays bit for bit, and generate inputs that hit rounding edge cases.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "coreai_opt/kernels/targets.h"

namespace coreai_opt::kernels::testing {

/// Every Highway target compiled into the kernels that this CPU supports.
inline const std::vector<std::int64_t>& targets() {
  static const std::vector<std::int64_t> t = available_targets();
  return t;
}

/// Fixture parameterised by a Highway target: the kernels dispatch to it during the test.
class PerTarget : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

inline std::string target_param_name(const ::testing::TestParamInfo<std::int64_t>& info) {
  return hwy::TargetName(info.param);
}

#define COREAI_OPT_INSTANTIATE_PER_TARGET(suite)                                           \
  INSTANTIATE_TEST_SUITE_P(Targets, suite,                                                 \
                           ::testing::ValuesIn(::coreai_opt::kernels::testing::targets()), \
                           ::coreai_opt::kernels::testing::target_param_name)

inline std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Same bits, or both NaN (NaN payloads are not specified).
inline bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || bits_of(a) == bits_of(b);
}

/// Gtest assertion: arrays equal under same_float; reports the first difference.
inline ::testing::AssertionResult same_floats(const std::vector<float>& expected,
                                              const std::vector<float>& actual,
                                              const std::vector<float>* input = nullptr) {
  if (expected.size() != actual.size()) return ::testing::AssertionFailure() << "size differs";
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (!same_float(expected[i], actual[i])) {
      auto f = ::testing::AssertionFailure();
      f << "index " << i << ": expected " << expected[i] << " (0x" << std::hex
        << bits_of(expected[i]) << "), got " << std::dec << actual[i] << " (0x" << std::hex
        << bits_of(actual[i]) << ")" << std::dec;
      if (input != nullptr)
        f << " for input " << (*input)[i] << " (0x" << std::hex << bits_of((*input)[i]) << ")";
      return f;
    }
  }
  return ::testing::AssertionSuccess();
}

/// Gtest assertion: byte arrays equal; reports the first difference.
inline ::testing::AssertionResult same_bytes(const std::vector<std::uint8_t>& expected,
                                             const std::vector<std::uint8_t>& actual) {
  if (expected.size() != actual.size()) return ::testing::AssertionFailure() << "size differs";
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] != actual[i]) {
      return ::testing::AssertionFailure() << "byte " << i << ": expected 0x" << std::hex
                                           << int{expected[i]} << ", got 0x" << int{actual[i]};
    }
  }
  return ::testing::AssertionSuccess();
}

/// n values that exercise rounding: uniform and normal values scaled by `magnitude`,
/// exact ties k + 0.5 and their float neighbours (times `unit`), +-0, +-inf, NaN,
/// subnormals and huge values.
inline std::vector<float> edge_inputs(std::size_t n, float unit, float magnitude,
                                      std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> kind(0, 15), k(-300, 300);
  std::vector<float> x(n);
  for (auto& v : x) {
    switch (kind(rng)) {
      case 0:
        v = (static_cast<float>(k(rng)) + 0.5f) * unit;
        break;
      case 1:
        v = std::nextafter((static_cast<float>(k(rng)) + 0.5f), 0.0f) * unit;
        break;
      case 2:
        v = std::nextafter((static_cast<float>(k(rng)) + 0.5f), 1e9f) * unit;
        break;
      case 3:
        v = static_cast<float>(k(rng)) * unit;
        break;
      case 4: {
        const float specials[] = {0.0f,
                                  -0.0f,
                                  std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<float>::quiet_NaN(),
                                  1e-40f,
                                  -1e-40f,
                                  3e38f,
                                  -3e38f,
                                  1e-30f};
        v = specials[std::uniform_int_distribution<int>(0, 9)(rng)];
        break;
      }
      default:
        v = normal(rng) * magnitude;
        break;
    }
  }
  return x;
}

}  // namespace coreai_opt::kernels::testing
