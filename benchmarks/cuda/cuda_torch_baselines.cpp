// build/bin/coreai_opt_cuda_torch_baselines [MiB-elements...]: LibTorch's own CUDA
// fake-quantize and float8 cast next to the coreai_opt kernels on the same tensors, with a
// copy of the same bytes (the limit), at 16M and 256M elements by default. Median of 20
// CUDA-event-timed runs on torch's current stream. Kept apart from cuda_benchmarks.cu so
// that the .cu files stay free of LibTorch.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "coreai_opt/kernels/cuda.h"

namespace {

namespace k = coreai_opt::kernels::cuda;
using coreai_opt::bench::check;
using coreai_opt::bench::median_ms;
using coreai_opt::bench::Row;

void bench_size(long long n, std::vector<Row>& rows) {
  const cudaStream_t s = at::cuda::getCurrentCUDAStream().stream();
  const long long cols = 4096, nrows = n / cols;
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  const at::Tensor x = at::randn({nrows, cols}, opts) * 3.0;
  at::Tensor y = at::empty_like(x);
  at::Tensor mask = at::empty({nrows, cols}, opts.dtype(at::kBool));
  const float scale = 8.0f / 127.0f;
  const at::Tensor scale_row = at::full({nrows}, scale, opts);
  const at::Tensor zp_row = at::full({nrows}, 3, opts.dtype(at::kInt));
  const at::Tensor scale_t = at::full({1}, scale, opts);
  const at::Tensor zp_t = at::full({1}, 3, opts.dtype(at::kInt));
  const double f = static_cast<double>(n);
  auto run = [&](const char* name, double bytes, auto&& fn) {
    rows.push_back({name, n, bytes, median_ms([&] { fn(); }, s)});
  };
  k::IntParams p;
  p.scale = scale_t.data_ptr<float>();
  p.zero_point = zp_t.data_ptr<int>();
  p.quant_min = -128;
  p.quant_max = 127;
  k::IntParams pr = p;
  pr.scale = scale_row.data_ptr<float>();
  pr.zero_point = zp_row.data_ptr<int>();
  const auto f32 = k::ElementType::kFloat32;

  run("copy fp32 (Tensor::copy_)", 8 * f, [&] { y.copy_(x); });
  run("torch fake_quantize_per_tensor_affine", 8 * f,
      [&] { y = at::fake_quantize_per_tensor_affine(x, scale, 3, -128, 127); });
  run("coreai_opt int8 fake-quant per-tensor, y", 8 * f, [&] {
    check(cudaError_t(k::int_fake_quantize(f32, x.data_ptr(), y.data_ptr(), nullptr,
                                            k::runs_layout(n, n), p, s)), "int_fake_quantize");
  });
  run("torch fake_quantize_per_tensor_affine_cachemask (y + mask)", 9 * f, [&] {
    auto r = at::fake_quantize_per_tensor_affine_cachemask(x, scale, 3, -128, 127);
    y = std::get<0>(r);
  });
  run("coreai_opt int8 fake-quant per-tensor, y + mask", 9 * f, [&] {
    check(cudaError_t(k::int_fake_quantize(f32, x.data_ptr(), y.data_ptr(),
                                            static_cast<std::uint8_t*>(mask.data_ptr()),
                                            k::runs_layout(n, n), p, s)), "int_fake_quantize");
  });
  run("torch fake_quantize_per_channel_affine (axis 0)", 8 * f, [&] {
    y = at::fake_quantize_per_channel_affine(x, scale_row, zp_row, 0, -128, 127);
  });
  run("coreai_opt int8 fake-quant per-channel axis 0, y", 8 * f, [&] {
    check(cudaError_t(k::int_fake_quantize(f32, x.data_ptr(), y.data_ptr(), nullptr,
                                            k::runs_layout(n, cols), pr, s)), "int_fake_quantize");
  });
  run("torch x.to(float8_e4m3fn) (fp8 codes)", 5 * f, [&] { (void)x.to(at::kFloat8_e4m3fn); });
  run("torch clamp(x/s).to(float8_e4m3fn).to(float)*s (fake-quant)", 8 * f, [&] {
    y = (x / scale).clamp(-448.0, 448.0).to(at::kFloat8_e4m3fn).to(at::kFloat) * scale;
  });
  run("coreai_opt fp8 e4m3 fake-quant per-tensor, y", 8 * f, [&] {
    check(cudaError_t(k::fp8_fake_quantize(coreai_opt::DType::kFloat8E4M3FN, f32, x.data_ptr(),
                                            y.data_ptr(), nullptr, k::runs_layout(n, n),
                                            scale_t.data_ptr<float>(), s)),
          "fp8_fake_quantize");
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (!torch::cuda::is_available()) {
    std::printf("no CUDA device is present: nothing to benchmark\n");
    return 0;
  }
  std::vector<Row> rows;
  for (long long n : coreai_opt::bench::sizes_from_args(argc, argv)) bench_size(n, rows);
  std::printf("LibTorch %s baselines and coreai_opt, float32 input, %s\n\n", TORCH_VERSION,
              coreai_opt::bench::device_line().c_str());
  coreai_opt::bench::print_table(rows, stdout);
  return 0;
}
