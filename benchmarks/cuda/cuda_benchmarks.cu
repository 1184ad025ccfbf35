// build/bin/coreai_opt_cuda_benchmarks [MiB-elements...]: the CUDA kernels against a
// device-to-device copy of the same bytes, at 16M and 256M elements by default. Prints a
// Markdown table (median of 20 CUDA-event-timed runs after 3 warm-ups). Torch-free; the
// torch baselines are in cuda_torch_baselines.cpp.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "coreai_opt/kernels/cuda.h"

namespace {

namespace k = coreai_opt::kernels::cuda;
using coreai_opt::bench::check;
using coreai_opt::bench::median_ms;
using coreai_opt::bench::Row;

__global__ void fill_kernel(float* x, long long n) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  // A deterministic spread of magnitudes in [-8, 8) with every low mantissa pattern.
  const unsigned h = static_cast<unsigned>(i) * 2654435761u;
  x[i] = (static_cast<float>(h >> 8) / 16777216.0f - 0.5f) * 16.0f;
}

void bench_size(long long n, cudaStream_t s, std::vector<Row>& rows) {
  float *x = nullptr, *y = nullptr, *scale = nullptr, *mins = nullptr, *maxs = nullptr;
  std::uint8_t *mask = nullptr, *codes = nullptr, *scales8 = nullptr;
  std::int32_t* zp = nullptr;
  const auto un = static_cast<std::size_t>(n);
  const long long cols = 4096, rows_ = n / cols;
  const auto nparams = static_cast<std::size_t>(n / 32);  // the most of any row below
  check(cudaMalloc(&x, un * 4), "cudaMalloc x");
  check(cudaMalloc(&y, un * 4), "cudaMalloc y");
  check(cudaMalloc(&mask, un), "cudaMalloc mask");
  check(cudaMalloc(&codes, un), "cudaMalloc codes");
  check(cudaMalloc(&scales8, un / 32), "cudaMalloc scales");
  check(cudaMalloc(&scale, nparams * 4), "cudaMalloc scale");
  check(cudaMalloc(&zp, nparams * 4), "cudaMalloc zp");
  check(cudaMalloc(&mins, static_cast<std::size_t>(rows_) * 4), "cudaMalloc mins");
  check(cudaMalloc(&maxs, static_cast<std::size_t>(rows_) * 4), "cudaMalloc maxs");
  fill_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, s>>>(x, n);
  {
    std::vector<float> sc(nparams, 8.0f / 127.0f);
    std::vector<std::int32_t> z(sc.size(), 3);
    check(cudaMemcpy(scale, sc.data(), sc.size() * 4, cudaMemcpyHostToDevice), "scale");
    check(cudaMemcpy(zp, z.data(), z.size() * 4, cudaMemcpyHostToDevice), "zp");
  }
  const double f = static_cast<double>(n);
  auto run = [&](const char* name, double bytes, auto&& fn) {
    const double ms = median_ms([&] { check(cudaError_t(fn()), name); }, s);
    rows.push_back({name, n, bytes, ms});
  };
  const k::ParamLayout per_tensor = k::runs_layout(n, n);
  const k::ParamLayout per_row = k::runs_layout(n, cols);  // per-channel, axis 0 of [n/4096, 4096]
  const k::ParamLayout per_col = k::make_param_layout({rows_, cols}, {rows_, 1});
  k::IntParams p;
  p.scale = scale;
  p.zero_point = zp;
  p.quant_min = -128;
  p.quant_max = 127;
  const auto f32 = k::ElementType::kFloat32;

  run("copy fp32 (cudaMemcpyAsync)", 8 * f,
      [&] { return cudaMemcpyAsync(y, x, un * 4, cudaMemcpyDeviceToDevice, s); });
  run("int8 fake-quant per-tensor, y", 8 * f,
      [&] { return k::int_fake_quantize(f32, x, y, nullptr, per_tensor, p, s); });
  run("int8 fake-quant per-tensor, y + mask", 9 * f,
      [&] { return k::int_fake_quantize(f32, x, y, mask, per_tensor, p, s); });
  run("int8 fake-quant per-channel axis 0, y", 8 * f,
      [&] { return k::int_fake_quantize(f32, x, y, nullptr, per_row, p, s); });
  run("int8 fake-quant per-channel axis 0, y + mask", 9 * f,
      [&] { return k::int_fake_quantize(f32, x, y, mask, per_row, p, s); });
  run("int8 fake-quant per-channel last axis, y + mask", 9 * f,
      [&] { return k::int_fake_quantize(f32, x, y, mask, per_col, p, s); });
  run("int8 quantize per-channel axis 0 (codes)", 5 * f,
      [&] { return k::int_quantize(f32, x, codes, per_row, p, s); });
  run("int8 dequantize per-channel axis 0", 5 * f,
      [&] { return k::int_dequantize(f32, codes, y, per_row, p, s); });
  run("int4 quantize packed per-block 32", 4.5 * f, [&] {
    k::IntParams p4 = p;
    p4.quant_min = -8;
    p4.quant_max = 7;
    return k::int_quantize_packed4(f32, x, codes, k::runs_layout(n, 32), p4, s);
  });
  run("fp8 e4m3 fake-quant per-tensor, y", 8 * f, [&] {
    return k::fp8_fake_quantize(coreai_opt::DType::kFloat8E4M3FN, f32, x, y, nullptr,
                                per_tensor, scale, s);
  });
  run("fp8 e4m3 fake-quant per-tensor, y + mask", 9 * f, [&] {
    return k::fp8_fake_quantize(coreai_opt::DType::kFloat8E4M3FN, f32, x, y, mask, per_tensor,
                                scale, s);
  });
  run("fp8 e4m3 quantize per-tensor (codes)", 5 * f, [&] {
    return k::fp8_quantize(coreai_opt::DType::kFloat8E4M3FN, f32, x, codes, per_tensor, scale, s);
  });
  run("mxfp4 quantize (block 32)", 4 * f + f / 2 + f / 32,
      [&] { return k::mxfp4_quantize(f32, x, codes, scales8, n, 32, s); });
  run("mxfp4 dequantize (block 32)", 4 * f + f / 2 + f / 32,
      [&] { return k::mxfp4_dequantize(f32, codes, scales8, y, n, 32, s); });
  run("minmax per-channel axis 0", 4 * f,
      [&] { return k::minmax_update(f32, x, per_row, mins, maxs, s); });
  // bf16 input: half the bytes; its copy row is the fp32 one, so compare GB/s.
  run("bf16 int8 fake-quant per-tensor, y", 4 * f, [&] {
    return k::int_fake_quantize(k::ElementType::kBFloat16, x, y, nullptr, per_tensor, p, s);
  });
  for (void* ptr : {static_cast<void*>(x), static_cast<void*>(y), static_cast<void*>(mask),
                    static_cast<void*>(codes), static_cast<void*>(scales8),
                    static_cast<void*>(scale), static_cast<void*>(zp), static_cast<void*>(mins),
                    static_cast<void*>(maxs)}) {
    cudaFree(ptr);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (k::device_count() == 0) {
    std::printf("no CUDA device is present: nothing to benchmark\n");
    return 0;
  }
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  std::vector<Row> rows;
  for (long long n : coreai_opt::bench::sizes_from_args(argc, argv)) bench_size(n, s, rows);
  std::printf("coreai_opt CUDA kernels, float32 input, %s\n\n",
              coreai_opt::bench::device_line().c_str());
  coreai_opt::bench::print_table(rows, stdout);
  cudaStreamDestroy(s);
  return 0;
}
