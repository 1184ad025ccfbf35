// CPU implementations of the coreai_opt tensor ops: validation with TORCH_CHECK, the
// blockwise view, at::parallel_for over element ranges, and the torch-free kernels.
#include "torch/ops_impl.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "coreai_opt/errors.h"
#include "coreai_opt/format/dtype.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/fp4.h"
#include "coreai_opt/kernels/fp8.h"
#include "coreai_opt/kernels/int.h"
#include "coreai_opt/kernels/minmax.h"
#include "coreai_opt/kernels/qparams.h"
#include "coreai_opt/torch/ops.h"

namespace coreai_opt::ops::detail {
namespace {

namespace k = coreai_opt::kernels;

// Elements per parallel work unit: even (packed nibbles never straddle two units) and
// large enough that per-unit overhead is negligible.
constexpr int64_t kUnit = 32768;

DType parse_dtype(c10::string_view name) {
  const auto d = dtype_from_name(name);
  TORCH_CHECK(d.has_value(), "coreai_opt: unsupported dtype '", std::string(name),
              "'. Allowed dtypes: int8, int4, int2, uint8, uint4, uint2, float8_e4m3fn, "
              "float8_e5m2, float4_e2m1fn_x2");
  return *d;
}

k::BlockwiseView make_view(IntArrayRef shape, IntArrayRef block_size) {
  try {
    return k::BlockwiseView(shape.vec(), block_size.vec());
  } catch (const coreai_opt::Error& e) {
    TORCH_CHECK(false, "coreai_opt: ", e.what());
  }
}

void check_float_input(const Tensor& t, const char* what) {
  TORCH_CHECK(t.device().is_cpu(), "coreai_opt: ", what, " must be a CPU tensor");
  const auto st = t.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kBFloat16 || st == at::kHalf, "coreai_opt: ", what,
              " must be float32, bfloat16 or float16, got ", st);
}

// Parameters converted to the kernels' types, contiguous, with one entry per block.
struct Params {
  Tensor scale, zero_point, minval;
  int64_t quant_min = 0, quant_max = 0;
};

Params make_params(const k::BlockwiseView& v, DType dtype, const Tensor& scale,
                   const OptTensor& zero_point, const OptTensor& minval, int64_t quant_min,
                   int64_t quant_max) {
  Params p;
  p.scale = scale.to(at::kFloat).contiguous();
  TORCH_CHECK(p.scale.numel() == v.num_params(), "coreai_opt: scale has ", p.scale.numel(),
              " elements, the block size list needs ", v.num_params(), " (parameter shape ",
              IntArrayRef(v.param_shape()), ")");
  if (is_float(dtype)) {
    TORCH_CHECK(!minval.has_value(), "coreai_opt: ", dtype_name(dtype),
                " has no minval formulation");
    const QuantRange r = quant_range(dtype, QuantizationScheme::kSymmetric);
    p.quant_min = static_cast<int64_t>(r.qmin);
    p.quant_max = static_cast<int64_t>(r.qmax);
    return p;
  }
  TORCH_CHECK(quant_min < quant_max, "coreai_opt: quant_min (", quant_min,
              ") must be below quant_max (", quant_max, ")");
  const int n = n_bits(dtype);
  const int64_t lo = is_signed_int(dtype) ? -(int64_t{1} << (n - 1)) : 0;
  const int64_t hi = is_signed_int(dtype) ? (int64_t{1} << (n - 1)) - 1 : (int64_t{1} << n) - 1;
  TORCH_CHECK(quant_min >= lo && quant_max <= hi, "coreai_opt: [", quant_min, ", ", quant_max,
              "] is outside the range of ", dtype_name(dtype), " [", lo, ", ", hi, "]");
  p.quant_min = quant_min;
  p.quant_max = quant_max;
  if (minval.has_value()) {
    p.minval = minval->to(at::kFloat).contiguous();
    TORCH_CHECK(p.minval.numel() == v.num_params(), "coreai_opt: minval has ", p.minval.numel(),
                " elements, expected ", v.num_params());
  } else if (zero_point.has_value()) {
    p.zero_point = zero_point->to(at::kInt).contiguous();
    TORCH_CHECK(p.zero_point.numel() == v.num_params(), "coreai_opt: zero_point has ",
                p.zero_point.numel(), " elements, expected ", v.num_params());
  }
  return p;
}

k::IntQuantParams int_params(const Params& p, int64_t offset, int64_t run_length) {
  k::IntQuantParams ip;
  ip.scale = p.scale.data_ptr<float>() + offset;
  if (p.zero_point.defined()) ip.zero_point = p.zero_point.data_ptr<int32_t>() + offset;
  if (p.minval.defined()) ip.minval = p.minval.data_ptr<float>() + offset;
  ip.quant_min = static_cast<int32_t>(p.quant_min);
  ip.quant_max = static_cast<int32_t>(p.quant_max);
  ip.run_length = static_cast<std::size_t>(run_length);
  return ip;
}

k::FloatQuantParams float_params(const Params& p, int64_t offset, int64_t run_length) {
  return {p.scale.data_ptr<float>() + offset, static_cast<std::size_t>(run_length)};
}

// Runs fn(segment_start, param_offset, begin, end) over every element of the view, split
// across ATen's thread pool in units of `unit` elements; [begin, end) is relative to the
// segment start and never crosses a segment.
template <class Fn>
void parallel_over(const k::BlockwiseView& v, int64_t unit, const Fn& fn) {
  const int64_t n = v.numel();
  if (n == 0) return;
  const int64_t seg = v.segment_length();
  const int64_t units = (n + unit - 1) / unit;
  at::parallel_for(0, units, 1, [&](int64_t u0, int64_t u1) {
    int64_t b = u0 * unit;
    const int64_t e = std::min(n, u1 * unit);
    while (b < e) {
      const int64_t k = b / seg;
      const int64_t start = k * seg;
      const int64_t stop = std::min(e, start + seg);
      fn(start, v.segment_param_offset(k), b - start, stop - start);
      b = stop;
    }
  });
}

std::size_t sz(int64_t v) { return static_cast<std::size_t>(v); }

// Fake-quantizes float32 contiguous x into float32 contiguous y (and mask when defined).
void fake_quantize_float(const Tensor& x, Tensor& y, Tensor* mask, IntArrayRef block_size,
                         DType dtype, const OptTensor& zero_point, const OptTensor& minval,
                         const Tensor& scale, int64_t quant_min, int64_t quant_max) {
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  const Params p = make_params(v, dtype, scale, zero_point, minval, quant_min, quant_max);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  auto* mp = mask != nullptr ? reinterpret_cast<std::uint8_t*>(mask->data_ptr<bool>()) : nullptr;
  const int64_t run = v.run_length();
  parallel_over(v, kUnit, [&](int64_t s, int64_t off, int64_t b, int64_t e) {
    std::uint8_t* m = mp != nullptr ? mp + s : nullptr;
    if (is_float(dtype)) {
      const k::FloatQuantParams fp = float_params(p, off, run);
      if (dtype == DType::kFloat4E2M1FNx2) {
        k::fp4_fake_quantize(xp + s, yp + s, m, sz(b), sz(e), fp);
      } else {
        k::fp8_fake_quantize(dtype, xp + s, yp + s, m, sz(b), sz(e), fp);
      }
    } else {
      k::int_fake_quantize(xp + s, yp + s, m, sz(b), sz(e), int_params(p, off, run));
    }
  });
}

bool is_plain_float(const Tensor& t) { return t.scalar_type() == at::kFloat && t.is_contiguous(); }

at::ScalarType codes_dtype(DType dtype, bool packed) {
  switch (dtype) {
    case DType::kFloat8E4M3FN:
      return at::kFloat8_e4m3fn;
    case DType::kFloat8E5M2:
      return at::kFloat8_e5m2;
    case DType::kFloat4E2M1FNx2:
      return at::kFloat4_e2m1fn_x2;
    default:
      break;
  }
  if (packed) return at::kByte;
  return is_signed_int(dtype) ? at::kChar : at::kByte;
}

std::vector<int64_t> packed_shape(IntArrayRef shape) {
  TORCH_CHECK(!shape.empty() && shape.back() % 2 == 0,
              "coreai_opt: packing two codes per byte needs an even last dimension, got shape ",
              shape);
  std::vector<int64_t> s = shape.vec();
  s.back() /= 2;
  return s;
}

void check_packed_allowed(DType dtype, bool packed) {
  if (dtype == DType::kFloat4E2M1FNx2) {
    TORCH_CHECK(packed, "coreai_opt: float4_e2m1fn_x2 codes are always packed (packed=True)");
  } else if (packed) {
    TORCH_CHECK(dtype == DType::kInt4 || dtype == DType::kUInt4,
                "coreai_opt: only int4, uint4 "
                "and float4_e2m1fn_x2 pack two codes per byte, not ",
                dtype_name(dtype));
  }
}

void quantize_into(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                   const OptTensor& minval, IntArrayRef block_size, DType dtype, int64_t quant_min,
                   int64_t quant_max, bool packed, Tensor& out) {
  check_float_input(input, "input");
  check_packed_allowed(dtype, packed);
  const Tensor x = input.to(at::kFloat).contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  const Params p = make_params(v, dtype, scale, zero_point, minval, quant_min, quant_max);
  const auto expected_shape = packed ? packed_shape(x.sizes()) : x.sizes().vec();
  TORCH_CHECK(out.sizes() == IntArrayRef(expected_shape) &&
                  out.scalar_type() == codes_dtype(dtype, packed) && out.is_contiguous(),
              "coreai_opt: out must be a contiguous ", codes_dtype(dtype, packed),
              " tensor of shape ", IntArrayRef(expected_shape), ", got ", out.scalar_type(), " ",
              out.sizes());
  const float* xp = x.data_ptr<float>();
  auto* op = static_cast<std::uint8_t*>(out.data_ptr());
  const int64_t run = v.run_length();
  parallel_over(v, kUnit, [&](int64_t s, int64_t off, int64_t b, int64_t e) {
    if (dtype == DType::kFloat4E2M1FNx2) {
      k::fp4_quantize_packed(xp + s, op + s / 2, sz(b), sz(e), float_params(p, off, run));
    } else if (is_float(dtype)) {
      k::fp8_quantize(dtype, xp + s, op + s, sz(b), sz(e), float_params(p, off, run));
    } else if (packed) {
      k::int_quantize_packed4(xp + s, op + s / 2, sz(b), sz(e), int_params(p, off, run));
    } else {
      k::int_quantize(xp + s, op + s, sz(b), sz(e), int_params(p, off, run));
    }
  });
}

void dequantize_into(const Tensor& codes_in, const Tensor& scale, const OptTensor& zero_point,
                     const OptTensor& minval, IntArrayRef block_size, DType dtype,
                     int64_t quant_min, int64_t quant_max, bool packed, Tensor& y) {
  check_packed_allowed(dtype, packed);
  TORCH_CHECK(codes_in.scalar_type() == codes_dtype(dtype, packed) ||
                  (codes_in.scalar_type() == at::kByte && (packed || is_float(dtype))),
              "coreai_opt: codes of ", dtype_name(dtype), " must be ", codes_dtype(dtype, packed),
              ", got ", codes_in.scalar_type());
  const Tensor codes = codes_in.contiguous();
  const k::BlockwiseView v = make_view(y.sizes(), block_size);
  if (packed) {
    TORCH_CHECK(codes.sizes() == IntArrayRef(packed_shape(y.sizes())),
                "coreai_opt: packed codes of shape ", codes.sizes(), " do not match ", y.sizes());
  } else {
    TORCH_CHECK(codes.sizes() == y.sizes(), "coreai_opt: codes shape ", codes.sizes(),
                " differs from the output shape ", y.sizes());
  }
  const Params p = make_params(v, dtype, scale, zero_point, minval, quant_min, quant_max);
  const auto* cp = static_cast<const std::uint8_t*>(codes.data_ptr());
  float* yp = y.data_ptr<float>();
  const int64_t run = v.run_length();
  parallel_over(v, kUnit, [&](int64_t s, int64_t off, int64_t b, int64_t e) {
    if (dtype == DType::kFloat4E2M1FNx2) {
      k::fp4_dequantize_packed(cp + s / 2, yp + s, sz(b), sz(e), float_params(p, off, run));
    } else if (is_float(dtype)) {
      k::fp8_dequantize(dtype, cp + s, yp + s, sz(b), sz(e), float_params(p, off, run));
    } else if (packed) {
      k::int_dequantize_packed4(cp + s / 2, yp + s, sz(b), sz(e), int_params(p, off, run));
    } else {
      k::int_dequantize(cp + s, yp + s, sz(b), sz(e), int_params(p, off, run));
    }
  });
}

std::vector<int64_t> unpacked_shape(IntArrayRef packed) {
  TORCH_CHECK(!packed.empty(), "coreai_opt: packed codes need at least one dimension");
  std::vector<int64_t> s = packed.vec();
  s.back() *= 2;
  return s;
}

k::ParamPrecision precision_of(at::ScalarType t) {
  if (t == at::kBFloat16) return k::ParamPrecision::kBFloat16;
  if (t == at::kHalf) return k::ParamPrecision::kFloat16;
  return k::ParamPrecision::kFloat32;
}

// Per-block min/max of float32 contiguous x into float arrays (param order).
void reduce_minmax(const Tensor& x, const k::BlockwiseView& v, float* mins, float* maxs) {
  const int64_t np = v.num_params();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const int threads = at::get_num_threads();
  // One partial per thread: blocks may span work units (per tensor) or repeat in every
  // segment (per channel along the last axis).
  std::vector<float> pmin(static_cast<std::size_t>(threads * np), kInf);
  std::vector<float> pmax(static_cast<std::size_t>(threads * np), -kInf);
  const float* xp = x.data_ptr<float>();
  const int64_t run = v.run_length();
  parallel_over(v, kUnit, [&](int64_t s, int64_t off, int64_t b, int64_t e) {
    const int64_t t = at::get_thread_num();
    k::minmax_update(xp + s, sz(b), sz(e), sz(run), pmin.data() + t * np + off,
                     pmax.data() + t * np + off);
  });
  for (int64_t i = 0; i < np; ++i) {
    float lo = kInf, hi = -kInf;
    for (int t = 0; t < threads; ++t) {
      const float a = pmin[sz(t * np + i)], b = pmax[sz(t * np + i)];
      if (std::isnan(a) || std::isnan(b) || std::isnan(lo)) {
        lo = hi = std::numeric_limits<float>::quiet_NaN();
      } else {
        lo = std::min(lo, a) + 0.0f;
        hi = std::max(hi, b) + 0.0f;
      }
    }
    mins[i] = lo;
    maxs[i] = hi;
  }
}

QuantizationScheme parse_scheme(c10::string_view s) {
  if (s == "symmetric") return QuantizationScheme::kSymmetric;
  if (s == "asymmetric") return QuantizationScheme::kAsymmetric;
  if (s == "symmetric_with_clipping") return QuantizationScheme::kSymmetricWithClipping;
  TORCH_CHECK(false, "coreai_opt: unknown qscheme '", std::string(s),
              "'. Allowed: 'symmetric', 'asymmetric', 'symmetric_with_clipping'");
}

QuantizationFormulation parse_formulation(c10::string_view s) {
  if (s == "zp") return QuantizationFormulation::kZp;
  if (s == "minval") return QuantizationFormulation::kMinval;
  TORCH_CHECK(false, "coreai_opt: unknown qformulation '", std::string(s),
              "'. Allowed: 'zp', 'minval'");
}

k::RangeCalculator parse_calculator(c10::string_view s) {
  if (s == "static") return k::RangeCalculator::kStatic;
  if (s == "moving_average") return k::RangeCalculator::kMovingAverage;
  if (s == "global_minmax") return k::RangeCalculator::kGlobalMinMax;
  TORCH_CHECK(false, "coreai_opt: unknown qparam calculator '", std::string(s),
              "'. Allowed: 'static', 'moving_average', 'global_minmax'");
}

}  // namespace

std::tuple<Tensor, Tensor> fake_quantize_with_mask_cpu(
    const Tensor& input, const Tensor& scale, const OptTensor& zero_point, const OptTensor& minval,
    IntArrayRef block_size, c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max) {
  check_float_input(input, "input");
  const DType dtype = parse_dtype(dtype_name_);
  const Tensor x = input.to(at::kFloat).contiguous();
  Tensor y = at::empty_like(x);
  Tensor mask = at::empty(x.sizes(), x.options().dtype(at::kBool));
  fake_quantize_float(x, y, &mask, block_size, dtype, zero_point, minval, scale, quant_min,
                      quant_max);
  return {y.to(input.scalar_type()), mask};
}

Tensor fake_quantize_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                         const OptTensor& minval, IntArrayRef block_size,
                         c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max) {
  check_float_input(input, "input");
  Tensor out =
      at::empty(input.sizes(), input.options().memory_format(at::MemoryFormat::Contiguous));
  return fake_quantize_out_cpu(input, scale, zero_point, minval, block_size, dtype_name_, quant_min,
                               quant_max, out);
}

Tensor& fake_quantize_out_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                              const OptTensor& minval, IntArrayRef block_size,
                              c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max,
                              Tensor& out) {
  check_float_input(input, "input");
  const DType dtype = parse_dtype(dtype_name_);
  TORCH_CHECK(out.sizes() == input.sizes() && out.scalar_type() == input.scalar_type(),
              "coreai_opt: out must have the input's shape ", input.sizes(), " and dtype ",
              input.scalar_type(), ", got ", out.scalar_type(), " ", out.sizes());
  const Tensor x = input.to(at::kFloat).contiguous();
  if (is_plain_float(out)) {
    fake_quantize_float(x, out, nullptr, block_size, dtype, zero_point, minval, scale, quant_min,
                        quant_max);
  } else {
    Tensor y = at::empty_like(x);
    fake_quantize_float(x, y, nullptr, block_size, dtype, zero_point, minval, scale, quant_min,
                        quant_max);
    out.copy_(y);
  }
  return out;
}

Tensor quantize_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                    const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype_name_,
                    int64_t quant_min, int64_t quant_max, bool packed) {
  const DType dtype = parse_dtype(dtype_name_);
  check_packed_allowed(dtype, packed);
  const auto shape = packed ? packed_shape(input.sizes()) : input.sizes().vec();
  Tensor out = at::empty(shape, input.options().dtype(codes_dtype(dtype, packed)));
  quantize_into(input, scale, zero_point, minval, block_size, dtype, quant_min, quant_max, packed,
                out);
  return out;
}

Tensor& quantize_out_cpu(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                         const OptTensor& minval, IntArrayRef block_size,
                         c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max,
                         bool packed, Tensor& out) {
  quantize_into(input, scale, zero_point, minval, block_size, parse_dtype(dtype_name_), quant_min,
                quant_max, packed, out);
  return out;
}

Tensor dequantize_cpu(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                      const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype_name_,
                      int64_t quant_min, int64_t quant_max, bool packed,
                      std::optional<at::ScalarType> output_dtype) {
  const auto shape = packed ? unpacked_shape(codes.sizes()) : codes.sizes().vec();
  Tensor y = at::empty(shape, codes.options().dtype(at::kFloat));
  dequantize_into(codes, scale, zero_point, minval, block_size, parse_dtype(dtype_name_), quant_min,
                  quant_max, packed, y);
  const auto od = output_dtype.value_or(at::kFloat);
  return od == at::kFloat ? y : y.to(od);
}

Tensor& dequantize_out_cpu(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                           const OptTensor& minval, IntArrayRef block_size,
                           c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max,
                           bool packed, Tensor& out) {
  check_float_input(out, "out");
  if (is_plain_float(out)) {
    dequantize_into(codes, scale, zero_point, minval, block_size, parse_dtype(dtype_name_),
                    quant_min, quant_max, packed, out);
  } else {
    Tensor y = at::empty(out.sizes(), out.options().dtype(at::kFloat));
    dequantize_into(codes, scale, zero_point, minval, block_size, parse_dtype(dtype_name_),
                    quant_min, quant_max, packed, y);
    out.copy_(y);
  }
  return out;
}

std::tuple<Tensor&, Tensor&> mxfp4_quantize_out_cpu(const Tensor& input, int64_t block_size,
                                                    Tensor& packed, Tensor& scales) {
  check_float_input(input, "input");
  TORCH_CHECK(block_size > 0 && block_size % 2 == 0,
              "coreai_opt: MXFP4 block_size must be a "
              "positive even number, got ",
              block_size);
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) % block_size == 0,
              "coreai_opt: MXFP4 needs the last dimension to be a multiple of the block size ",
              block_size, ", got shape ", input.sizes());
  const Tensor x = input.to(at::kFloat).contiguous();
  auto pshape = x.sizes().vec();
  pshape.back() /= 2;
  auto sshape = x.sizes().vec();
  sshape.back() /= block_size;
  TORCH_CHECK(
      packed.sizes() == IntArrayRef(pshape) && packed.is_contiguous() &&
          (packed.scalar_type() == at::kFloat4_e2m1fn_x2 || packed.scalar_type() == at::kByte),
      "coreai_opt: packed must be a contiguous float4_e2m1fn_x2 (or uint8) tensor of "
      "shape ",
      IntArrayRef(pshape));
  TORCH_CHECK(
      scales.sizes() == IntArrayRef(sshape) && scales.is_contiguous() &&
          (scales.scalar_type() == at::kFloat8_e8m0fnu || scales.scalar_type() == at::kByte),
      "coreai_opt: scales must be a contiguous float8_e8m0fnu (or uint8) tensor of "
      "shape ",
      IntArrayRef(sshape));
  const float* xp = x.data_ptr<float>();
  auto* pp = static_cast<std::uint8_t*>(packed.data_ptr());
  auto* sp = static_cast<std::uint8_t*>(scales.data_ptr());
  const int64_t n = x.numel();
  const int64_t unit = block_size * std::max<int64_t>(1, kUnit / block_size);
  at::parallel_for(0, (n + unit - 1) / unit, 1, [&](int64_t u0, int64_t u1) {
    k::mxfp4_quantize(xp, pp, sp, sz(u0 * unit), sz(std::min(n, u1 * unit)), sz(block_size));
  });
  return {packed, scales};
}

std::tuple<Tensor, Tensor> mxfp4_quantize_cpu(const Tensor& input, int64_t block_size) {
  TORCH_CHECK(input.dim() >= 1 && block_size > 0,
              "coreai_opt: MXFP4 needs a tensor with at "
              "least one dimension and a positive block size");
  auto pshape = input.sizes().vec();
  pshape.back() /= 2;
  auto sshape = input.sizes().vec();
  sshape.back() /= block_size;
  Tensor packed = at::empty(pshape, input.options().dtype(at::kFloat4_e2m1fn_x2));
  Tensor scales = at::empty(sshape, input.options().dtype(at::kFloat8_e8m0fnu));
  mxfp4_quantize_out_cpu(input, block_size, packed, scales);
  return {packed, scales};
}

Tensor mxfp4_dequantize_cpu(const Tensor& packed_in, const Tensor& scales_in, int64_t block_size,
                            std::optional<at::ScalarType> output_dtype) {
  TORCH_CHECK(block_size > 0 && block_size % 2 == 0,
              "coreai_opt: MXFP4 block_size must be a "
              "positive even number, got ",
              block_size);
  const Tensor packed = packed_in.contiguous();
  const Tensor scales = scales_in.contiguous();
  auto shape = unpacked_shape(packed.sizes());
  TORCH_CHECK(shape.back() % block_size == 0 && scales.numel() * block_size == packed.numel() * 2,
              "coreai_opt: ", scales.numel(), " MXFP4 scales do not match ", packed.numel() * 2,
              " elements in blocks of ", block_size);
  Tensor y = at::empty(shape, packed.options().dtype(at::kFloat));
  const auto* pp = static_cast<const std::uint8_t*>(packed.data_ptr());
  const auto* sp = static_cast<const std::uint8_t*>(scales.data_ptr());
  float* yp = y.data_ptr<float>();
  const int64_t n = y.numel();
  const int64_t unit = block_size * std::max<int64_t>(1, kUnit / block_size);
  at::parallel_for(0, (n + unit - 1) / unit, 1, [&](int64_t u0, int64_t u1) {
    k::mxfp4_dequantize(pp, sp, yp, sz(u0 * unit), sz(std::min(n, u1 * unit)), sz(block_size));
  });
  const auto od = output_dtype.value_or(at::kFloat);
  return od == at::kFloat ? y : y.to(od);
}

std::tuple<Tensor, Tensor> block_minmax_cpu(const Tensor& input, IntArrayRef block_size) {
  check_float_input(input, "input");
  const Tensor x = input.to(at::kFloat).contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  Tensor mins = at::empty(v.param_shape(), x.options());
  Tensor maxs = at::empty(v.param_shape(), x.options());
  reduce_minmax(x, v, mins.data_ptr<float>(), maxs.data_ptr<float>());
  // Min/max of bf16/fp16 values are themselves exact in that dtype.
  return {mins.to(input.scalar_type()), maxs.to(input.scalar_type())};
}

void observe_cpu(const Tensor& input, Tensor& running_min, Tensor& running_max, Tensor& initialized,
                 IntArrayRef block_size, c10::string_view calculator, double averaging_constant,
                 std::optional<double> range_min, std::optional<double> range_max) {
  check_float_input(input, "input");
  const k::RangeCalculator calc = parse_calculator(calculator);
  k::FloatRange range;
  if (range_min) range.min = static_cast<float>(*range_min);
  if (range_max) range.max = static_cast<float>(*range_max);
  try {
    k::validate_float_range(range);
  } catch (const coreai_opt::Error& e) {
    TORCH_CHECK(false, "coreai_opt: ", e.what());
  }
  TORCH_CHECK(initialized.numel() == 1 && initialized.scalar_type() == at::kBool,
              "coreai_opt: initialized must be a bool tensor with one element");
  const Tensor x = input.to(at::kFloat).contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  const int64_t np = v.num_params();
  TORCH_CHECK(running_min.numel() == np && running_max.numel() == np,
              "coreai_opt: running_min / running_max need ", np, " elements (parameter shape ",
              IntArrayRef(v.param_shape()), ")");
  std::vector<float> amin(sz(np)), amax(sz(np)), mn(sz(np)), mx(sz(np));
  if (!(range.min && range.max)) reduce_minmax(x, v, amin.data(), amax.data());
  k::observed_range(amin.data(), amax.data(), sz(np), range, mn.data(), mx.data());
  Tensor rmin = running_min.to(at::kFloat).contiguous();
  Tensor rmax = running_max.to(at::kFloat).contiguous();
  const bool init = initialized.item<bool>();
  k::update_running_range(calc, static_cast<float>(averaging_constant),
                          precision_of(running_min.scalar_type()), init, mn.data(), mx.data(),
                          sz(np), rmin.data_ptr<float>(), rmax.data_ptr<float>());
  running_min.copy_(rmin.view(running_min.sizes()));
  running_max.copy_(rmax.view(running_max.sizes()));
  initialized.fill_(true);
}

std::tuple<Tensor, Tensor, Tensor> choose_qparams_cpu(const Tensor& min_val, const Tensor& max_val,
                                                      c10::string_view dtype_name_,
                                                      c10::string_view qscheme,
                                                      c10::string_view qformulation,
                                                      std::optional<c10::string_view> scale_dtype) {
  TORCH_CHECK(min_val.sizes() == max_val.sizes(), "coreai_opt: min_val ", min_val.sizes(),
              " and max_val ", max_val.sizes(), " differ in shape");
  k::QParamsConfig c;
  c.dtype = parse_dtype(dtype_name_);
  c.scheme = parse_scheme(qscheme);
  c.formulation = parse_formulation(qformulation);
  if (scale_dtype.has_value()) {
    TORCH_CHECK(*scale_dtype == "float8_e8m0fnu" || *scale_dtype == "float8_e8m0",
                "coreai_opt: Unsupported scale_dtype: ", std::string(*scale_dtype),
                ". Only None or torch.float8_e8m0fnu are supported.");
    c.scale_kind = k::ScaleKind::kE8M0;
  } else if (c.dtype == DType::kFloat4E2M1FNx2) {
    c.scale_kind = k::ScaleKind::kE8M0;  // fp4 always uses E8M0 scales
  }
  c.precision = precision_of(min_val.scalar_type());
  try {
    k::validate_qparams_config(c);
  } catch (const coreai_opt::Error& e) {
    TORCH_CHECK(false, "coreai_opt: ", e.what());
  }
  const Tensor mn = min_val.to(at::kFloat).contiguous();
  const Tensor mx = max_val.to(at::kFloat).contiguous();
  Tensor scale = at::empty(mn.sizes(), mn.options());
  Tensor zp = at::zeros(mn.sizes(), mn.options().dtype(at::kInt));
  Tensor mv = at::zeros(mn.sizes(), mn.options());
  k::choose_qparams(c, mn.data_ptr<float>(), mx.data_ptr<float>(), sz(mn.numel()),
                    scale.data_ptr<float>(), zp.data_ptr<int32_t>(), mv.data_ptr<float>());
  return {scale, zp, mv};
}

}  // namespace coreai_opt::ops::detail

namespace coreai_opt::ops {

int parallel_threads_used(std::int64_t units) {
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(at::get_num_threads()));
  at::parallel_for(0, units, 1, [&](int64_t b, int64_t e) {
    // Enough work per item that the pool's other threads get to take some.
    volatile double sink = 0;
    for (int64_t i = b; i < e; ++i) {
      for (int j = 0; j < 200000; ++j) sink = sink + 1.0;
    }
    seen[static_cast<std::size_t>(at::get_thread_num())].store(1);
  });
  int n = 0;
  for (const auto& s : seen) n += s.load();
  return n;
}

}  // namespace coreai_opt::ops
