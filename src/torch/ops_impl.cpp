// The coreai_opt tensor ops: validation with TORCH_CHECK and allocation shared by every
// device, the routing to a device's kernels (backend_for, the one place that looks at
// the device), and the CPU backend: at::parallel_for over the torch-free kernels.
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

// ------------------------------------------------------------ shared validation

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

bool is_kernel_float(at::ScalarType st) {
  return st == at::kFloat || st == at::kBFloat16 || st == at::kHalf;
}

void check_float_dtype(const Tensor& t, const char* what) {
  TORCH_CHECK(is_kernel_float(t.scalar_type()), "coreai_opt: ", what,
              " must be float32, bfloat16 or float16, got ", t.scalar_type());
}

// All tensors of one call live on one device: the device of `ref` (the op's main input).
void check_device(const char* op, const Tensor& t, const char* what, const Tensor& ref,
                  const char* ref_what) {
  TORCH_CHECK(t.device() == ref.device(), op, ": ", what, " is on ", t.device(), " but ", ref_what,
              " is on ", ref.device(), "; all tensors of one call must be on one device");
}

QuantParams make_params(const char* op, const Tensor& input, const k::BlockwiseView& v, DType dtype,
                        const Tensor& scale, const OptTensor& zero_point, const OptTensor& minval,
                        int64_t quant_min, int64_t quant_max) {
  check_device(op, scale, "scale", input, "the input");
  QuantParams p;
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
    check_device(op, *minval, "minval", input, "the input");
    p.minval = minval->to(at::kFloat).contiguous();
    TORCH_CHECK(p.minval.numel() == v.num_params(), "coreai_opt: minval has ", p.minval.numel(),
                " elements, expected ", v.num_params());
  } else if (zero_point.has_value()) {
    check_device(op, *zero_point, "zero_point", input, "the input");
    p.zero_point = zero_point->to(at::kInt).contiguous();
    TORCH_CHECK(p.zero_point.numel() == v.num_params(), "coreai_opt: zero_point has ",
                p.zero_point.numel(), " elements, expected ", v.num_params());
  }
  return p;
}

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

std::vector<int64_t> unpacked_shape(IntArrayRef packed) {
  TORCH_CHECK(!packed.empty(), "coreai_opt: packed codes need at least one dimension");
  std::vector<int64_t> s = packed.vec();
  s.back() *= 2;
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

void check_mxfp4_block_size(int64_t block_size) {
  TORCH_CHECK(block_size > 0 && block_size % 2 == 0,
              "coreai_opt: MXFP4 block_size must be a "
              "positive even number, got ",
              block_size);
}

k::ParamPrecision precision_of(at::ScalarType t) {
  if (t == at::kBFloat16) return k::ParamPrecision::kBFloat16;
  if (t == at::kHalf) return k::ParamPrecision::kFloat16;
  return k::ParamPrecision::kFloat32;
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

// A contiguous tensor to compute into: `out` itself, or a fresh one of its shape,
// dtype and device whose values finish() copies back.
Tensor contiguous_target(const Tensor& out) {
  return out.is_contiguous()
             ? out
             : at::empty(out.sizes(), out.options().memory_format(at::MemoryFormat::Contiguous));
}

void finish(Tensor& out, const Tensor& target) {
  if (!target.is_same(out)) out.copy_(target);
}

// ------------------------------------------------------------------- CPU backend

k::IntQuantParams int_params(const QuantParams& p, int64_t offset, int64_t run_length) {
  k::IntQuantParams ip;
  ip.scale = p.scale.data_ptr<float>() + offset;
  if (p.zero_point.defined()) ip.zero_point = p.zero_point.data_ptr<int32_t>() + offset;
  if (p.minval.defined()) ip.minval = p.minval.data_ptr<float>() + offset;
  ip.quant_min = static_cast<int32_t>(p.quant_min);
  ip.quant_max = static_cast<int32_t>(p.quant_max);
  ip.run_length = static_cast<std::size_t>(run_length);
  return ip;
}

k::FloatQuantParams float_params(const QuantParams& p, int64_t offset, int64_t run_length) {
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

// The CPU kernels work in float32: 16-bit inputs are converted exactly, 16-bit outputs
// are the float32 results rounded to nearest even (the CUDA kernels do the same inside).
Tensor float_input(const Tensor& x) { return x.to(at::kFloat); }

Tensor float_output(const Tensor& y) {
  return y.scalar_type() == at::kFloat ? y : at::empty(y.sizes(), y.options().dtype(at::kFloat));
}

void cpu_fake_quantize(const char*, const Tensor& x_in, Tensor& y, Tensor* mask,
                       const k::BlockwiseView& v, DType dtype, const QuantParams& p) {
  const Tensor x = float_input(x_in);
  Tensor yf = float_output(y);
  const float* xp = x.data_ptr<float>();
  float* yp = yf.data_ptr<float>();
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
  finish(y, yf);
}

void cpu_quantize(const char*, const Tensor& x_in, Tensor& codes, const k::BlockwiseView& v,
                  DType dtype, const QuantParams& p, bool packed) {
  const Tensor x = float_input(x_in);
  const float* xp = x.data_ptr<float>();
  auto* op = static_cast<std::uint8_t*>(codes.data_ptr());
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

void cpu_dequantize(const char*, const Tensor& codes, Tensor& y, const k::BlockwiseView& v,
                    DType dtype, const QuantParams& p, bool packed) {
  Tensor yf = float_output(y);
  const auto* cp = static_cast<const std::uint8_t*>(codes.data_ptr());
  float* yp = yf.data_ptr<float>();
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
  finish(y, yf);
}

void cpu_mxfp4_quantize(const char*, const Tensor& x_in, Tensor& packed, Tensor& scales,
                        int64_t block_size) {
  const Tensor x = float_input(x_in);
  const float* xp = x.data_ptr<float>();
  auto* pp = static_cast<std::uint8_t*>(packed.data_ptr());
  auto* sp = static_cast<std::uint8_t*>(scales.data_ptr());
  const int64_t n = x.numel();
  const int64_t unit = block_size * std::max<int64_t>(1, kUnit / block_size);
  at::parallel_for(0, (n + unit - 1) / unit, 1, [&](int64_t u0, int64_t u1) {
    k::mxfp4_quantize(xp, pp, sp, sz(u0 * unit), sz(std::min(n, u1 * unit)), sz(block_size));
  });
}

void cpu_mxfp4_dequantize(const char*, const Tensor& packed, const Tensor& scales, Tensor& y,
                          int64_t block_size) {
  Tensor yf = float_output(y);
  const auto* pp = static_cast<const std::uint8_t*>(packed.data_ptr());
  const auto* sp = static_cast<const std::uint8_t*>(scales.data_ptr());
  float* yp = yf.data_ptr<float>();
  const int64_t n = yf.numel();
  const int64_t unit = block_size * std::max<int64_t>(1, kUnit / block_size);
  at::parallel_for(0, (n + unit - 1) / unit, 1, [&](int64_t u0, int64_t u1) {
    k::mxfp4_dequantize(pp, sp, yp, sz(u0 * unit), sz(std::min(n, u1 * unit)), sz(block_size));
  });
  finish(y, yf);
}

void cpu_block_minmax(const char*, const Tensor& x_in, const k::BlockwiseView& v, Tensor& mins_t,
                      Tensor& maxs_t) {
  const Tensor x = float_input(x_in);
  float* mins = mins_t.data_ptr<float>();
  float* maxs = maxs_t.data_ptr<float>();
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

void cpu_observe_step(const char*, const Tensor& mins, const Tensor& maxs,
                      const k::ObserveStep& step, bool initialized, const Tensor* initialized_flag,
                      ObserveTensors& t) {
  if (initialized_flag != nullptr) initialized = *initialized_flag->data_ptr<bool>();
  const auto ptr = [](const Tensor& v) { return v.defined() ? v.data_ptr<float>() : nullptr; };
  k::observe_step(step, initialized, ptr(mins), ptr(maxs), sz(t.running_min.numel()),
                  t.running_min.data_ptr<float>(), t.running_max.data_ptr<float>(), ptr(t.scale),
                  t.zero_point.defined() ? t.zero_point.data_ptr<int32_t>() : nullptr,
                  ptr(t.minval));
}

const Backend kCpuBackend{&cpu_fake_quantize,  &cpu_quantize,         &cpu_dequantize,
                          &cpu_mxfp4_quantize, &cpu_mxfp4_dequantize, &cpu_block_minmax,
                          &cpu_observe_step};

// ---------------------------------------------------------------------- routing

// The one place that picks the kernels for a device: `t` is the op's main input, every
// other tensor has been checked to be on its device.
const Backend& backend_for(const Tensor& t, const char* op) {
  if (t.device().is_cpu()) return kCpuBackend;
#if COREAI_OPT_WITH_CUDA
  if (t.device().is_cuda()) return cuda_backend();
  constexpr const char* kDevices = "CPU and CUDA";
#else
  constexpr const char* kDevices = "CPU (built without COREAI_OPT_WITH_CUDA)";
#endif
  TORCH_CHECK(false, op, ": tensors on ", t.device(), " are not supported; coreai_opt runs on ",
              kDevices);
}

// ------------------------------------------------------------------- op bodies

// Fake-quantizes `input` into `out` (input's shape, dtype and device; any strides).
void fake_quantize_into(const char* op, const Tensor& input, const Tensor& scale,
                        const OptTensor& zero_point, const OptTensor& minval,
                        IntArrayRef block_size, c10::string_view dtype_name_, int64_t quant_min,
                        int64_t quant_max, Tensor& out, Tensor* mask) {
  const Backend& be = backend_for(input, op);
  check_float_dtype(input, "input");
  const DType dtype = parse_dtype(dtype_name_);
  check_device(op, out, "out", input, "the input");
  TORCH_CHECK(out.sizes() == input.sizes() && out.scalar_type() == input.scalar_type(),
              "coreai_opt: out must have the input's shape ", input.sizes(), " and dtype ",
              input.scalar_type(), ", got ", out.scalar_type(), " ", out.sizes());
  const Tensor x = input.contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  const QuantParams p =
      make_params(op, x, v, dtype, scale, zero_point, minval, quant_min, quant_max);
  if (v.numel() == 0) return;
  Tensor y = contiguous_target(out);
  be.fake_quantize(op, x, y, mask, v, dtype, p);
  finish(out, y);
}

void quantize_into(const char* op, const Tensor& input, const Tensor& scale,
                   const OptTensor& zero_point, const OptTensor& minval, IntArrayRef block_size,
                   DType dtype, int64_t quant_min, int64_t quant_max, bool packed, Tensor& out) {
  const Backend& be = backend_for(input, op);
  check_float_dtype(input, "input");
  check_packed_allowed(dtype, packed);
  check_device(op, out, "out", input, "the input");
  const Tensor x = input.contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  const QuantParams p =
      make_params(op, x, v, dtype, scale, zero_point, minval, quant_min, quant_max);
  const auto expected_shape = packed ? packed_shape(x.sizes()) : x.sizes().vec();
  TORCH_CHECK(out.sizes() == IntArrayRef(expected_shape) &&
                  out.scalar_type() == codes_dtype(dtype, packed) && out.is_contiguous(),
              "coreai_opt: out must be a contiguous ", codes_dtype(dtype, packed),
              " tensor of shape ", IntArrayRef(expected_shape), ", got ", out.scalar_type(), " ",
              out.sizes());
  if (v.numel() == 0) return;
  be.quantize(op, x, out, v, dtype, p, packed);
}

// Dequantizes into `out` (float32, bfloat16 or float16, on the codes' device, any strides).
void dequantize_into(const char* op, const Tensor& codes_in, const Tensor& scale,
                     const OptTensor& zero_point, const OptTensor& minval, IntArrayRef block_size,
                     DType dtype, int64_t quant_min, int64_t quant_max, bool packed, Tensor& out) {
  const Backend& be = backend_for(codes_in, op);
  check_packed_allowed(dtype, packed);
  check_float_dtype(out, "out");
  check_device(op, out, "out", codes_in, "codes");
  TORCH_CHECK(codes_in.scalar_type() == codes_dtype(dtype, packed) ||
                  (codes_in.scalar_type() == at::kByte && (packed || is_float(dtype))),
              "coreai_opt: codes of ", dtype_name(dtype), " must be ", codes_dtype(dtype, packed),
              ", got ", codes_in.scalar_type());
  const Tensor codes = codes_in.contiguous();
  const k::BlockwiseView v = make_view(out.sizes(), block_size);
  if (packed) {
    TORCH_CHECK(codes.sizes() == IntArrayRef(packed_shape(out.sizes())),
                "coreai_opt: packed codes of shape ", codes.sizes(), " do not match ", out.sizes());
  } else {
    TORCH_CHECK(codes.sizes() == out.sizes(), "coreai_opt: codes shape ", codes.sizes(),
                " differs from the output shape ", out.sizes());
  }
  const QuantParams p =
      make_params(op, codes, v, dtype, scale, zero_point, minval, quant_min, quant_max);
  if (v.numel() == 0) return;
  Tensor y = contiguous_target(out);
  be.dequantize(op, codes, y, v, dtype, p, packed);
  finish(out, y);
}

// Float output of a requested dtype: the kernels write float32 / bfloat16 / float16
// directly; any other dtype is converted from float32.
Tensor empty_output(IntArrayRef shape, const Tensor& like, std::optional<at::ScalarType> od) {
  const at::ScalarType st = od.value_or(at::kFloat);
  return at::empty(shape, like.options().dtype(is_kernel_float(st) ? st : at::kFloat));
}

Tensor as_output_dtype(const Tensor& y, std::optional<at::ScalarType> od) {
  const at::ScalarType st = od.value_or(at::kFloat);
  return y.scalar_type() == st ? y : y.to(st);
}

}  // namespace

// --------------------------------------------------------------- registered ops

std::tuple<Tensor, Tensor> fake_quantize_with_mask_impl(
    const Tensor& input, const Tensor& scale, const OptTensor& zero_point, const OptTensor& minval,
    IntArrayRef block_size, c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max) {
  Tensor y = at::empty(input.sizes(), input.options());
  Tensor mask = at::empty(input.sizes(), input.options().dtype(at::kBool));
  fake_quantize_into("coreai_opt::fake_quantize_with_mask", input, scale, zero_point, minval,
                     block_size, dtype_name_, quant_min, quant_max, y, &mask);
  return {y, mask};
}

Tensor fake_quantize_impl(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                          const OptTensor& minval, IntArrayRef block_size,
                          c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max) {
  Tensor out = at::empty(input.sizes(), input.options());
  fake_quantize_into("coreai_opt::fake_quantize", input, scale, zero_point, minval, block_size,
                     dtype_name_, quant_min, quant_max, out, nullptr);
  return out;
}

Tensor& fake_quantize_out_impl(const Tensor& input, const Tensor& scale,
                               const OptTensor& zero_point, const OptTensor& minval,
                               IntArrayRef block_size, c10::string_view dtype_name_,
                               int64_t quant_min, int64_t quant_max, Tensor& out) {
  fake_quantize_into("coreai_opt::fake_quantize.out", input, scale, zero_point, minval, block_size,
                     dtype_name_, quant_min, quant_max, out, nullptr);
  return out;
}

Tensor quantize_impl(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                     const OptTensor& minval, IntArrayRef block_size, c10::string_view dtype_name_,
                     int64_t quant_min, int64_t quant_max, bool packed) {
  const DType dtype = parse_dtype(dtype_name_);
  check_packed_allowed(dtype, packed);
  const auto shape = packed ? packed_shape(input.sizes()) : input.sizes().vec();
  Tensor out = at::empty(shape, input.options().dtype(codes_dtype(dtype, packed)));
  quantize_into("coreai_opt::quantize", input, scale, zero_point, minval, block_size, dtype,
                quant_min, quant_max, packed, out);
  return out;
}

Tensor& quantize_out_impl(const Tensor& input, const Tensor& scale, const OptTensor& zero_point,
                          const OptTensor& minval, IntArrayRef block_size,
                          c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max,
                          bool packed, Tensor& out) {
  quantize_into("coreai_opt::quantize.out", input, scale, zero_point, minval, block_size,
                parse_dtype(dtype_name_), quant_min, quant_max, packed, out);
  return out;
}

Tensor dequantize_impl(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                       const OptTensor& minval, IntArrayRef block_size,
                       c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max,
                       bool packed, std::optional<at::ScalarType> output_dtype) {
  const auto shape = packed ? unpacked_shape(codes.sizes()) : codes.sizes().vec();
  Tensor y = empty_output(shape, codes, output_dtype);
  dequantize_into("coreai_opt::dequantize", codes, scale, zero_point, minval, block_size,
                  parse_dtype(dtype_name_), quant_min, quant_max, packed, y);
  return as_output_dtype(y, output_dtype);
}

Tensor& dequantize_out_impl(const Tensor& codes, const Tensor& scale, const OptTensor& zero_point,
                            const OptTensor& minval, IntArrayRef block_size,
                            c10::string_view dtype_name_, int64_t quant_min, int64_t quant_max,
                            bool packed, Tensor& out) {
  dequantize_into("coreai_opt::dequantize.out", codes, scale, zero_point, minval, block_size,
                  parse_dtype(dtype_name_), quant_min, quant_max, packed, out);
  return out;
}

std::tuple<Tensor&, Tensor&> mxfp4_quantize_out_impl(const Tensor& input, int64_t block_size,
                                                     Tensor& packed, Tensor& scales) {
  constexpr const char* op = "coreai_opt::mxfp4_quantize";
  const Backend& be = backend_for(input, op);
  check_float_dtype(input, "input");
  check_mxfp4_block_size(block_size);
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) % block_size == 0,
              "coreai_opt: MXFP4 needs the last dimension to be a multiple of the block size ",
              block_size, ", got shape ", input.sizes());
  check_device(op, packed, "packed", input, "the input");
  check_device(op, scales, "scales", input, "the input");
  const Tensor x = input.contiguous();
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
  if (x.numel() > 0) be.mxfp4_quantize(op, x, packed, scales, block_size);
  return {packed, scales};
}

std::tuple<Tensor, Tensor> mxfp4_quantize_impl(const Tensor& input, int64_t block_size) {
  TORCH_CHECK(input.dim() >= 1 && block_size > 0,
              "coreai_opt: MXFP4 needs a tensor with at "
              "least one dimension and a positive block size");
  auto pshape = input.sizes().vec();
  pshape.back() /= 2;
  auto sshape = input.sizes().vec();
  sshape.back() /= block_size;
  Tensor packed = at::empty(pshape, input.options().dtype(at::kFloat4_e2m1fn_x2));
  Tensor scales = at::empty(sshape, input.options().dtype(at::kFloat8_e8m0fnu));
  mxfp4_quantize_out_impl(input, block_size, packed, scales);
  return {packed, scales};
}

Tensor mxfp4_dequantize_impl(const Tensor& packed_in, const Tensor& scales_in, int64_t block_size,
                             std::optional<at::ScalarType> output_dtype) {
  constexpr const char* op = "coreai_opt::mxfp4_dequantize";
  const Backend& be = backend_for(packed_in, op);
  check_mxfp4_block_size(block_size);
  check_device(op, scales_in, "scales", packed_in, "packed");
  const Tensor packed = packed_in.contiguous();
  const Tensor scales = scales_in.contiguous();
  auto shape = unpacked_shape(packed.sizes());
  TORCH_CHECK(shape.back() % block_size == 0 && scales.numel() * block_size == packed.numel() * 2,
              "coreai_opt: ", scales.numel(), " MXFP4 scales do not match ", packed.numel() * 2,
              " elements in blocks of ", block_size);
  Tensor y = empty_output(shape, packed, output_dtype);
  if (y.numel() > 0) be.mxfp4_dequantize(op, packed, scales, y, block_size);
  return as_output_dtype(y, output_dtype);
}

std::tuple<Tensor, Tensor> block_minmax_impl(const Tensor& input, IntArrayRef block_size) {
  constexpr const char* op = "coreai_opt::block_minmax";
  const Backend& be = backend_for(input, op);
  check_float_dtype(input, "input");
  const Tensor x = input.contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  Tensor mins = at::empty(v.param_shape(), x.options().dtype(at::kFloat));
  Tensor maxs = at::empty(v.param_shape(), x.options().dtype(at::kFloat));
  be.block_minmax(op, x, v, mins, maxs);
  // Min/max of bf16/fp16 values are themselves exact in that dtype.
  return {mins.to(input.scalar_type()), maxs.to(input.scalar_type())};
}

void observe_step(const char* op, const Tensor& input, IntArrayRef block_size,
                  const k::ObserveStep& step, bool initialized, const Tensor* initialized_flag,
                  ObserveTensors& t) {
  const Backend& be = backend_for(input, op);
  check_float_dtype(input, "input");
  const Tensor x = input.contiguous();
  const k::BlockwiseView v = make_view(x.sizes(), block_size);
  const int64_t np = v.num_params();
  const auto check = [&](const Tensor& p, const char* name, at::ScalarType type) {
    if (!p.defined()) return;
    check_device(op, p, name, input, "the input");
    TORCH_CHECK(p.numel() == np && p.scalar_type() == type && p.is_contiguous(), op, ": ", name,
                " must be a contiguous ", type, " tensor of ", np, " elements (parameter shape ",
                IntArrayRef(v.param_shape()), "), got ", p.scalar_type(), " ", p.sizes());
  };
  TORCH_CHECK(t.running_min.defined() && t.running_max.defined(), op,
              ": running_min and running_max are required");
  check(t.running_min, "running_min", at::kFloat);
  check(t.running_max, "running_max", at::kFloat);
  if (step.qparams) {
    const bool is_int = !is_float(step.qparams->dtype);
    TORCH_CHECK(t.scale.defined() && (!is_int || (t.zero_point.defined() && t.minval.defined())),
                op, ": choosing qparams needs scale (and zero_point and minval for integers)");
    check(t.scale, "scale", at::kFloat);
    check(t.zero_point, "zero_point", at::kInt);
    check(t.minval, "minval", at::kFloat);
  }
  if (initialized_flag != nullptr) {
    check_device(op, *initialized_flag, "initialized", input, "the input");
    TORCH_CHECK(initialized_flag->numel() == 1 && initialized_flag->scalar_type() == at::kBool, op,
                ": initialized must be a bool tensor with one element");
  }
  Tensor mins, maxs;
  if (!(step.range.min && step.range.max) && np > 0) {
    mins = at::empty({np}, x.options().dtype(at::kFloat));
    maxs = at::empty({np}, x.options().dtype(at::kFloat));
    be.block_minmax(op, x, v, mins, maxs);
  }
  if (np > 0) be.observe_step(op, mins, maxs, step, initialized, initialized_flag, t);
}

void observe_impl(const Tensor& input, Tensor& running_min, Tensor& running_max,
                  Tensor& initialized, IntArrayRef block_size, c10::string_view calculator,
                  double averaging_constant, std::optional<double> range_min,
                  std::optional<double> range_max) {
  // Devices, sizes and the initialized flag are checked by observe_step.
  constexpr const char* op = "coreai_opt::observe_";
  k::ObserveStep step;
  step.calculator = parse_calculator(calculator);
  step.averaging_constant = static_cast<float>(averaging_constant);
  if (range_min) step.range.min = static_cast<float>(*range_min);
  if (range_max) step.range.max = static_cast<float>(*range_max);
  try {
    k::validate_float_range(step.range);
  } catch (const coreai_opt::Error& e) {
    TORCH_CHECK(false, "coreai_opt: ", e.what());
  }
  TORCH_CHECK(running_min.scalar_type() == running_max.scalar_type() &&
                  at::isFloatingType(running_min.scalar_type()),
              "coreai_opt: running_min and running_max must share one float dtype, got ",
              running_min.scalar_type(), " and ", running_max.scalar_type());
  // The update runs in the running tensors' dtype, on float32 working copies when they
  // are of another dtype or layout (device ops: no host round trip either way).
  step.precision = precision_of(running_min.scalar_type());
  const auto working = [](const Tensor& r) {
    return r.scalar_type() == at::kFloat && r.is_contiguous() ? r : r.to(at::kFloat).contiguous();
  };
  ObserveTensors t{working(running_min), working(running_max), {}, {}, {}};
  observe_step(op, input, block_size, step, false, &initialized, t);
  if (!t.running_min.is_same(running_min))
    running_min.copy_(t.running_min.view(running_min.sizes()));
  if (!t.running_max.is_same(running_max))
    running_max.copy_(t.running_max.view(running_max.sizes()));
  initialized.fill_(true);
}

std::tuple<Tensor, Tensor, Tensor> choose_qparams_impl(
    const Tensor& min_val, const Tensor& max_val, c10::string_view dtype_name_,
    c10::string_view qscheme, c10::string_view qformulation,
    std::optional<c10::string_view> scale_dtype) {
  constexpr const char* op = "coreai_opt::choose_qparams";
  backend_for(min_val, op);  // a supported device; the math below runs on the CPU
  check_device(op, max_val, "max_val", min_val, "min_val");
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
  const Tensor mn = min_val.to(at::kCPU, at::kFloat).contiguous();
  const Tensor mx = max_val.to(at::kCPU, at::kFloat).contiguous();
  Tensor scale = at::empty(mn.sizes(), mn.options());
  Tensor zp = at::zeros(mn.sizes(), mn.options().dtype(at::kInt));
  Tensor mv = at::zeros(mn.sizes(), mn.options());
  k::choose_qparams(c, mn.data_ptr<float>(), mx.data_ptr<float>(), sz(mn.numel()),
                    scale.data_ptr<float>(), zp.data_ptr<int32_t>(), mv.data_ptr<float>());
  const at::Device d = min_val.device();
  return {scale.to(d), zp.to(d), mv.to(d)};
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
