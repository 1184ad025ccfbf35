// The quantized data types, schemes and formulations, shared by the config model
// and the kernels. Names are those of the Python coreai_opt package.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace coreai_opt {

/// The nine quantized dtypes a QuantizationSpec may name.
enum class DType : std::uint8_t {
  kInt8,
  kInt4,
  kInt2,
  kUInt8,
  kUInt4,
  kUInt2,
  kFloat8E4M3FN,    ///< fp8, 4 exponent bits, 3 mantissa bits, no inf, max 448
  kFloat8E5M2,      ///< fp8, 5 exponent bits, 2 mantissa bits, max 57344
  kFloat4E2M1FNx2,  ///< fp4 e2m1 (MXFP4 element), two per byte when packed, max 6
};

/// All DType values, in declaration order.
inline constexpr DType kAllDTypes[] = {
    DType::kInt8,  DType::kInt4,         DType::kInt2,       DType::kUInt8,          DType::kUInt4,
    DType::kUInt2, DType::kFloat8E4M3FN, DType::kFloat8E5M2, DType::kFloat4E2M1FNx2,
};

/// Symmetric or asymmetric quantization.
enum class QuantizationScheme : std::uint8_t {
  kSymmetric,
  kAsymmetric,
  kSymmetricWithClipping,  ///< symmetric, and for signed ints qmin = -qmax
};

/// How the integer offset is expressed: a zero point, or the float minimum.
enum class QuantizationFormulation : std::uint8_t { kZp, kMinval };

/// Python name of a dtype (`int8`, `float8_e4m3fn`, `float4_e2m1fn_x2`, ...).
constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::kInt8: return "int8";
    case DType::kInt4: return "int4";
    case DType::kInt2: return "int2";
    case DType::kUInt8: return "uint8";
    case DType::kUInt4: return "uint4";
    case DType::kUInt2: return "uint2";
    case DType::kFloat8E4M3FN: return "float8_e4m3fn";
    case DType::kFloat8E5M2: return "float8_e5m2";
    case DType::kFloat4E2M1FNx2: return "float4_e2m1fn_x2";
  }
  return "?";
}

/// Python name of a scheme (`symmetric`, `asymmetric`, `symmetric_with_clipping`).
constexpr std::string_view scheme_name(QuantizationScheme s) {
  switch (s) {
    case QuantizationScheme::kSymmetric: return "symmetric";
    case QuantizationScheme::kAsymmetric: return "asymmetric";
    case QuantizationScheme::kSymmetricWithClipping: return "symmetric_with_clipping";
  }
  return "?";
}

/// Python name of a formulation (`zp`, `minval`).
constexpr std::string_view formulation_name(QuantizationFormulation f) {
  return f == QuantizationFormulation::kZp ? "zp" : "minval";
}

/// Parses a dtype name or one of its aliases (`float8_e4m3`, `float4_e2m1fn`),
/// case-sensitively. nullopt when the name is not one of the nine.
constexpr std::optional<DType> dtype_from_name(std::string_view s) {
  for (DType d : kAllDTypes) {
    if (dtype_name(d) == s) return d;
  }
  if (s == "float8_e4m3") return DType::kFloat8E4M3FN;
  if (s == "float4_e2m1fn") return DType::kFloat4E2M1FNx2;
  return std::nullopt;
}

constexpr bool is_float(DType d) {
  return d == DType::kFloat8E4M3FN || d == DType::kFloat8E5M2 || d == DType::kFloat4E2M1FNx2;
}
constexpr bool is_signed_int(DType d) {
  return d == DType::kInt8 || d == DType::kInt4 || d == DType::kInt2;
}
constexpr bool is_unsigned_int(DType d) {
  return d == DType::kUInt8 || d == DType::kUInt4 || d == DType::kUInt2;
}

/// Bit width of one element (fp4 counts 4).
constexpr int n_bits(DType d) {
  switch (d) {
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E5M2: return 8;
    case DType::kInt4:
    case DType::kUInt4:
    case DType::kFloat4E2M1FNx2: return 4;
    case DType::kInt2:
    case DType::kUInt2: return 2;
  }
  return 0;
}

/// The dtype quantize() stores codes in (the reference's `target_dtype`): int8 for
/// signed ints, uint8 for unsigned ints, float8_e4m3fn for fp4, else itself.
/// Returned as its Python name because int8/uint8 storage of int4/uint2 etc. is
/// not itself one of the nine spec dtypes.
constexpr std::string_view target_dtype_name(DType d) {
  if (is_signed_int(d)) return "int8";
  if (is_unsigned_int(d)) return "uint8";
  if (d == DType::kFloat4E2M1FNx2) return "float8_e4m3fn";
  return dtype_name(d);
}

/// Quantized range [qmin, qmax] of a dtype under a scheme. Integers: signed
/// [-2^(n-1), 2^(n-1)-1] (clipping: qmin = -qmax), unsigned [0, 2^n-1]. Floats:
/// +-max finite value (fp4 6, e4m3fn 448, e5m2 57344) whatever the scheme.
struct QuantRange {
  double qmin;
  double qmax;
};
constexpr QuantRange quant_range(DType d, QuantizationScheme scheme) {
  switch (d) {
    case DType::kFloat8E4M3FN: return {-448.0, 448.0};
    case DType::kFloat8E5M2: return {-57344.0, 57344.0};
    case DType::kFloat4E2M1FNx2: return {-6.0, 6.0};
    default: break;
  }
  const int n = n_bits(d);
  if (is_unsigned_int(d)) return {0.0, static_cast<double>((1 << n) - 1)};
  const double qmax = static_cast<double>((1 << (n - 1)) - 1);
  if (scheme == QuantizationScheme::kSymmetricWithClipping) return {-qmax, qmax};
  return {-qmax - 1.0, qmax};
}

}  // namespace coreai_opt
