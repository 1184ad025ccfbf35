// Helpers of the CUDA kernel tests: skipping without a device, device buffers, 16-bit
// float conversions on the host, bit comparisons, inputs and granularities.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/cuda.h"

namespace coreai_opt::kernels::cuda::testing {

/// True when a CUDA device can run the kernels (checked once). Under the host emulation
/// (host_emulation.h) the "device" is the host.
inline bool have_device() {
#if defined(COREAI_OPT_CUDA_HOST_EMULATION)
  return true;
#else
  static const bool yes = device_count() > 0;
  return yes;
#endif
}

/// Skips the current test with a message when no CUDA device is present.
#define COREAI_OPT_REQUIRE_CUDA_DEVICE()                                                      \
  do {                                                                                        \
    if (!::coreai_opt::kernels::cuda::testing::have_device()) {                               \
      GTEST_SKIP() << "no CUDA device is present: the CUDA kernels are compiled but not run " \
                      "here (run scripts/gpu_check.sh on a machine with a GPU)";             \
    }                                                                                         \
  } while (0)

/// Fails the test (and returns) when a CUDA call did not succeed.
#define COREAI_OPT_CUDA_OK(expr)                                                       \
  do {                                                                                 \
    const int _e = static_cast<int>(expr);                                             \
    ASSERT_EQ(_e, 0) << #expr << ": " << ::coreai_opt::kernels::cuda::error_string(_e); \
  } while (0)

/// A device allocation of `bytes` bytes (+ `pad` bytes so that a view at an offset fits).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
#if defined(COREAI_OPT_CUDA_HOST_EMULATION)
    ptr_ = std::malloc(bytes == 0 ? 1 : bytes);
#else
    if (cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes) != cudaSuccess) ptr_ = nullptr;
#endif
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
#if defined(COREAI_OPT_CUDA_HOST_EMULATION)
    std::free(ptr_);
#else
    if (ptr_ != nullptr) cudaFree(ptr_);
#endif
  }
  bool ok() const { return ptr_ != nullptr; }
  std::uint8_t* bytes() const { return static_cast<std::uint8_t*>(ptr_); }
  std::size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

#if defined(COREAI_OPT_CUDA_HOST_EMULATION)
inline int upload(void* dst, const void* src, std::size_t bytes) {
  if (bytes != 0) std::memcpy(dst, src, bytes);
  return 0;
}
inline int download(void* dst, const void* src, std::size_t bytes) {
  if (bytes != 0) std::memcpy(dst, src, bytes);
  return 0;
}
inline int fill_bytes(void* dst, int value, std::size_t bytes) {
  std::memset(dst, value, bytes);
  return 0;
}
inline int sync() { return 0; }
#else
/// Copies host bytes to the device at `dst`.
inline int upload(void* dst, const void* src, std::size_t bytes) {
  return static_cast<int>(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

/// Copies device bytes at `src` to the host.
inline int download(void* dst, const void* src, std::size_t bytes) {
  return static_cast<int>(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

/// Sets device bytes.
inline int fill_bytes(void* dst, int value, std::size_t bytes) {
  return static_cast<int>(cudaMemset(dst, value, bytes));
}

/// Waits for the device and returns the first error (a kernel fault shows here).
inline int sync() { return static_cast<int>(cudaDeviceSynchronize()); }
#endif

// ---------------------------------------------------------------- element types

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

/// float -> bfloat16 bits, round to nearest even; NaN -> a quiet NaN with the sign.
inline std::uint16_t bf16_from_float(float f) {
  const std::uint32_t u = bits_of(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  const std::uint32_t lsb = (u >> 16) & 1u;
  return static_cast<std::uint16_t>((u + 0x7FFFu + lsb) >> 16);
}

inline float bf16_to_float(std::uint16_t h) { return float_of(static_cast<std::uint32_t>(h) << 16); }

/// float -> float16 bits, round to nearest even (the CUDA host implementation).
inline std::uint16_t f16_from_float(float f) {
  const __half_raw r = __float2half_rn(f);
  return r.x;
}

inline float f16_to_float(std::uint16_t u) {
  __half_raw r;
  r.x = u;
  return __half2float(__half(r));
}

inline const char* type_name(ElementType t) {
  switch (t) {
    case ElementType::kFloat32: return "f32";
    case ElementType::kBFloat16: return "bf16";
    case ElementType::kFloat16: return "f16";
  }
  return "?";
}

/// Host-side values of one element type: `bits` holds what goes to the device (4 or 2 bytes
/// per element), `value` the exact float each element means.
struct TypedArray {
  ElementType type = ElementType::kFloat32;
  std::vector<std::uint8_t> bits;
  std::vector<float> value;

  std::size_t size() const { return value.size(); }
  std::size_t bytes() const { return bits.size(); }
};

/// The values of `x` rounded to type t (exact for float32).
inline TypedArray make_typed(ElementType t, const std::vector<float>& x) {
  TypedArray a;
  a.type = t;
  a.value.resize(x.size());
  a.bits.resize(x.size() * element_size(t));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (t == ElementType::kFloat32) {
      std::memcpy(&a.bits[4 * i], &x[i], 4);
      a.value[i] = x[i];
    } else {
      const std::uint16_t h = t == ElementType::kBFloat16 ? bf16_from_float(x[i]) : f16_from_float(x[i]);
      std::memcpy(&a.bits[2 * i], &h, 2);
      a.value[i] = t == ElementType::kBFloat16 ? bf16_to_float(h) : f16_to_float(h);
    }
  }
  return a;
}

/// Element i of device-format bytes of type t, as a float.
inline float typed_value(ElementType t, const std::vector<std::uint8_t>& bits, std::size_t i) {
  if (t == ElementType::kFloat32) {
    float f;
    std::memcpy(&f, &bits[4 * i], 4);
    return f;
  }
  std::uint16_t h;
  std::memcpy(&h, &bits[2 * i], 2);
  return t == ElementType::kBFloat16 ? bf16_to_float(h) : f16_to_float(h);
}

/// Bits of element i (4 or 2 bytes) as an integer.
inline std::uint32_t typed_bits(ElementType t, const std::vector<std::uint8_t>& bits,
                                std::size_t i) {
  if (t == ElementType::kFloat32) {
    std::uint32_t u;
    std::memcpy(&u, &bits[4 * i], 4);
    return u;
  }
  std::uint16_t h;
  std::memcpy(&h, &bits[2 * i], 2);
  return h;
}

/// The float results of the reference rounded to type t the way the torch layer does
/// (`.to(dtype)`, nearest even), compared with the device's output bits: equal bits, or
/// both NaN. Reports the first difference with its input.
inline ::testing::AssertionResult same_typed(ElementType t, const std::vector<float>& expected,
                                             const std::vector<std::uint8_t>& actual,
                                             const std::vector<float>* input = nullptr) {
  const TypedArray want = make_typed(t, expected);
  if (want.bits.size() != actual.size()) {
    return ::testing::AssertionFailure() << "size differs: " << want.bits.size() << " vs "
                                         << actual.size();
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const float w = want.value[i];
    const float a = typed_value(t, actual, i);
    const bool same = (std::isnan(w) && std::isnan(a)) ||
                      typed_bits(t, want.bits, i) == typed_bits(t, actual, i);
    if (!same) {
      auto f = ::testing::AssertionFailure();
      f << type_name(t) << " element " << i << ": expected " << w << " (0x" << std::hex
        << typed_bits(t, want.bits, i) << "), got " << std::dec << a << " (0x" << std::hex
        << typed_bits(t, actual, i) << ")" << std::dec;
      if (input != nullptr) {
        f << " for input " << (*input)[i] << " (0x" << std::hex << bits_of((*input)[i]) << ")"
          << std::dec;
      }
      return f;
    }
  }
  return ::testing::AssertionSuccess();
}

/// Byte arrays equal; reports the first difference.
inline ::testing::AssertionResult same_bytes(const std::vector<std::uint8_t>& expected,
                                             const std::vector<std::uint8_t>& actual) {
  if (expected.size() != actual.size()) return ::testing::AssertionFailure() << "size differs";
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] != actual[i]) {
      return ::testing::AssertionFailure() << "byte " << i << ": expected 0x" << std::hex
                                           << int{expected[i]} << ", got 0x"
                                           << int{actual[i]} << std::dec;
    }
  }
  return ::testing::AssertionSuccess();
}

/// Float arrays equal bit for bit (or both NaN).
inline ::testing::AssertionResult same_floats(const std::vector<float>& expected,
                                              const std::vector<float>& actual) {
  if (expected.size() != actual.size()) return ::testing::AssertionFailure() << "size differs";
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const bool same = (std::isnan(expected[i]) && std::isnan(actual[i])) ||
                      bits_of(expected[i]) == bits_of(actual[i]);
    if (!same) {
      return ::testing::AssertionFailure()
             << "index " << i << ": expected " << expected[i] << " (0x" << std::hex
             << bits_of(expected[i]) << "), got " << std::dec << actual[i] << " (0x" << std::hex
             << bits_of(actual[i]) << ")" << std::dec;
    }
  }
  return ::testing::AssertionSuccess();
}

// ------------------------------------------------------------------------- inputs

/// A random value that exercises rounding relative to `unit` (the quantization step) and
/// `range` (the largest representable magnitude in units): exact ties k + 0.5 and their
/// neighbours, values past the range, +-0, +-inf, NaN, subnormals and huge values.
inline float edge_value(std::mt19937& rng, float unit, float range) {
  std::uniform_int_distribution<int> kind(0, 19);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int k = std::uniform_int_distribution<int>(-static_cast<int>(range) - 8,
                                                   static_cast<int>(range) + 8)(rng);
  switch (kind(rng)) {
    case 0: return (static_cast<float>(k) + 0.5f) * unit;
    case 1: return std::nextafter((static_cast<float>(k) + 0.5f) * unit, 0.0f);
    case 2: return std::nextafter((static_cast<float>(k) + 0.5f) * unit, 1e30f);
    case 3: return static_cast<float>(k) * unit;
    case 4: {
      const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN(), 1e-40f, -1e-40f,
                                3e38f, -3e38f, 1e-30f, -std::numeric_limits<float>::quiet_NaN()};
      return specials[std::uniform_int_distribution<int>(0, 10)(rng)];
    }
    case 5: return u(rng) * range * unit * 4.0f;  // well past the range
    case 6: return u(rng) * unit * 1e-3f;          // rounds to zero, keeps its sign
    default: return u(rng) * range * unit * 1.2f;
  }
}

/// The granularities exercised for a shape, as block-size lists: per-tensor, per-channel
/// on the first and last axis, per-block along the last and the first axis, and two random
/// multi-axis block lists.
inline std::vector<std::pair<std::string, std::vector<std::int64_t>>> granularities(
    const std::vector<std::int64_t>& shape, std::mt19937& rng) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  auto divisor = [&](std::int64_t n, bool proper) {
    std::vector<std::int64_t> ds;
    for (std::int64_t d = 1; d <= n; ++d) {
      if (n % d == 0 && (!proper || (d != 1 && d != n))) ds.push_back(d);
    }
    if (ds.empty()) return n;
    return ds[std::uniform_int_distribution<std::size_t>(0, ds.size() - 1)(rng)];
  };
  const std::size_t r = shape.size();
  out.emplace_back("per_tensor", per_tensor_block_size(shape));
  out.emplace_back("per_channel_0", per_channel_block_size(shape, 0));
  if (r > 1) out.emplace_back("per_channel_last", per_channel_block_size(shape, -1));
  {
    std::vector<std::int64_t> b(r, 1);
    b[r - 1] = shape[r - 1] % 32 == 0 ? 32 : divisor(shape[r - 1], true);
    out.emplace_back("per_block_last", b);
  }
  if (r > 1) {
    std::vector<std::int64_t> b = shape;
    b[0] = divisor(shape[0], true);
    b[1] = 1;
    out.emplace_back("per_block_first", b);
  }
  for (int k = 0; k < 2; ++k) {
    std::vector<std::int64_t> b(r);
    for (std::size_t d = 0; d < r; ++d) b[d] = divisor(shape[d], false);
    out.emplace_back("blocks_random_" + std::to_string(k), b);
  }
  return out;
}

inline std::string shape_string(const std::vector<std::int64_t>& s) {
  std::ostringstream o;
  o << "[";
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

/// Shapes with odd sizes, partial vectors of 8 and several ranks.
inline const std::vector<std::vector<std::int64_t>>& test_shapes() {
  static const std::vector<std::vector<std::int64_t>> s = {
      {1}, {37}, {4099}, {5, 67}, {64, 96}, {3, 8, 33}, {2, 3, 4, 10}, {96, 520}};
  return s;
}

/// Calls fn(segment k, first element, first parameter, run_length, segment_length) for every
/// segment of the view (BlockwiseView's own mapping: the reference side of every test).
template <class Fn>
void for_each_segment(const BlockwiseView& v, Fn&& fn) {
  for (std::int64_t k = 0; k < v.num_segments(); ++k) {
    fn(k, k * v.segment_length(), v.segment_param_offset(k), v.run_length(),
       v.segment_length());
  }
}

/// Test-name suffix of an ElementType parameter.
inline std::string element_type_param_name(const ::testing::TestParamInfo<ElementType>& i) {
  return type_name(i.param);
}

inline constexpr ElementType kAllElementTypes[] = {ElementType::kFloat32,
                                                   ElementType::kBFloat16,
                                                   ElementType::kFloat16};

}  // namespace coreai_opt::kernels::cuda::testing

namespace coreai_opt::kernels::cuda::testing {

/// A device array `offset` bytes into its allocation (an offset that is not a multiple of
/// 16 sends the kernels down their element-by-element path). Output arrays start filled
/// with 0xCD bytes so that an element the kernel forgot shows up.
class Staged {
 public:
  Staged(const void* host, std::size_t bytes, std::size_t offset = 0)
      : buf_(bytes + offset + 16), bytes_(bytes), off_(offset) {
    if (buf_.ok()) status_ = upload(buf_.bytes() + off_, host, bytes);
  }
  template <typename T>
  explicit Staged(const std::vector<T>& host, std::size_t offset = 0)
      : Staged(host.data(), host.size() * sizeof(T), offset) {}
  /// An output array of `bytes` bytes.
  static Staged output(std::size_t bytes, std::size_t offset = 0) {
    return Staged(bytes, offset, 0);
  }
  Staged(Staged&&) = delete;

  bool ok() const { return buf_.ok() && status_ == 0; }
  void* ptr() const { return buf_.bytes() + off_; }
  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(buf_.bytes() + off_);
  }
  /// The array's bytes, back on the host (empty on a copy error).
  std::vector<std::uint8_t> get() const {
    std::vector<std::uint8_t> out(bytes_);
    if (download(out.data(), ptr(), bytes_) != 0) out.clear();
    return out;
  }
  std::vector<float> get_floats() const {
    const std::vector<std::uint8_t> b = get();
    std::vector<float> out(b.size() / 4);
    if (!out.empty()) std::memcpy(out.data(), b.data(), out.size() * 4);
    return out;
  }

 private:
  Staged(std::size_t bytes, std::size_t offset, int)
      : buf_(bytes + offset + 16), bytes_(bytes), off_(offset) {
    if (buf_.ok()) status_ = fill_bytes(buf_.bytes(), 0xCD, buf_.size());
  }
  DeviceBuffer buf_;
  std::size_t bytes_;
  std::size_t off_;
  int status_ = 1;
};

}  // namespace coreai_opt::kernels::cuda::testing
