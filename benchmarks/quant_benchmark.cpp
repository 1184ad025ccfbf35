// Quantization throughput: coreai_opt against ATen, the naive ATen expression, our scalar
// reference and a streaming copy of the same bytes (the bandwidth limit).
//
// Names: BM_<op>/<format>/<granularity>/<impl>/<elements>/threads:<T>/<prealloc|alloc>.
// bytes_per_second counts the fp32 side of the op: 4 bytes per element (the input of
// fake-quantize and quantize, the output of dequantize), so every ratio to the `copy`
// row of the same group compares like with like. See docs/performance.md.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "copy_kernel.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/fp4.h"
#include "coreai_opt/torch/ops.h"

namespace coreai_opt::bench {
namespace {

using at::Tensor;
using Runner = std::function<void()>;

const Tensor& input(int64_t n) {
  static std::map<int64_t, Tensor> cache;
  auto it = cache.find(n);
  if (it == cache.end()) {
    at::manual_seed(0);
    it = cache.emplace(n, at::randn({n})).first;
  }
  return it->second;
}

// A granularity as the shapes and parameters each implementation needs.
struct Granularity {
  std::string name;
  std::vector<int64_t> shape, block;  // our view and block-size list
  Tensor scale;                       // parameter shape, for coreai_opt and the naive path
  Tensor aten_view_shape_scales;      // 1-D per-channel scales for ATen (undefined: per tensor)
  std::vector<int64_t> aten_shape;    // shape ATen's per-channel op sees (axis 0)
};

Granularity make_granularity(const std::string& name, int64_t n, float amax_over_q) {
  Granularity g;
  g.name = name;
  if (name == "per_tensor") {
    g.shape = {n};
    g.block = {n};
    g.scale = at::full({1}, amax_over_q);
  } else if (name == "per_channel") {
    g.shape = {4096, n / 4096};
    g.block = {1, n / 4096};
    g.scale = at::rand({4096, 1}) * amax_over_q + amax_over_q / 2;
    g.aten_view_shape_scales = g.scale.flatten();
    g.aten_shape = g.shape;
  } else {  // per_block(32) along the last axis
    g.shape = {n / 4096, 4096};
    g.block = kernels::per_block_block_size(g.shape, 32, 1);
    g.scale = at::rand({n / 4096, 128}) * amax_over_q + amax_over_q / 2;
    g.aten_view_shape_scales = g.scale.flatten();  // one ATen "channel" per block row
    g.aten_shape = {n / 32, 32};
  }
  return g;
}

void add(const std::string& op, const std::string& format, const std::string& gran,
         const std::string& impl, int64_t n, int threads, bool alloc,
         std::function<Runner()> make) {
  const std::string name = "BM_" + op + "/" + format + "/" + gran + "/" + impl + "/" +
                           std::to_string(n) + "/threads:" + std::to_string(threads) + "/" +
                           (alloc ? "alloc" : "prealloc");
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& state) {
                                 at::set_num_threads(threads);
                                 const Runner run = make();
                                 run();  // warm up: touch outputs, fill caches
                                 for (auto _ : state) run();
                                 state.SetBytesProcessed(state.iterations() * n * 4);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->MinTime(n > (1 << 22) ? 1.0 : 0.3);
}

void add_copy(const std::string& op, const std::string& format, const std::string& gran, int64_t n,
              int threads, bool alloc) {
  add(op, format, gran, "copy", n, threads, alloc, [n, alloc]() -> Runner {
    const Tensor x = input(n);
    if (alloc) return [x] { benchmark::DoNotOptimize(x.clone()); };
    Tensor y = at::empty_like(x);
    return [x, y, n] {
      const float* s = x.data_ptr<float>();
      float* d = y.data_ptr<float>();
      at::parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
        simd_copy(s, d, static_cast<std::size_t>(b), static_cast<std::size_t>(e));
      });
      benchmark::ClobberMemory();
    };
  });
}

// Integer fake quantization: coreai_opt, ATen's dedicated op and the naive expression.
void add_int_fake_quantize(const std::string& format, const std::string& gran, int64_t n,
                           int threads, bool alloc) {
  const int qmin = format == "int8" ? -128 : -8, qmax = format == "int8" ? 127 : 7;
  const DType dtype = format == "int8" ? DType::kInt8 : DType::kInt4;
  const float aq = 4.0f / static_cast<float>(qmax);
  const std::string op = "fake_quantize";
  add_copy(op, format, gran, n, threads, alloc);
  add(op, format, gran, "coreai_opt", n, threads, alloc, [=]() -> Runner {
    const Granularity g = make_granularity(gran, n, aq);
    const Tensor x = input(n).view(g.shape);
    if (alloc) {
      return [=] {
        benchmark::DoNotOptimize(
            ops::fake_quantize(x, g.scale, std::nullopt, std::nullopt, g.block, dtype, qmin, qmax));
      };
    }
    Tensor y = at::empty_like(x);
    return [=]() mutable {
      ops::fake_quantize_out(x, g.scale, std::nullopt, std::nullopt, g.block, dtype, qmin, qmax, y);
      benchmark::ClobberMemory();
    };
  });
  if (alloc) {  // ATen's fake-quant ops have no out= form
    add(op, format, gran, "aten", n, threads, true, [=]() -> Runner {
      const Granularity g = make_granularity(gran, n, aq);
      if (gran == "per_tensor") {
        const Tensor x = input(n);
        const double s = g.scale.item<float>();
        return [=] {
          benchmark::DoNotOptimize(at::fake_quantize_per_tensor_affine(x, s, 0, qmin, qmax));
        };
      }
      const Tensor x = input(n).view(g.aten_shape);
      const Tensor zp = at::zeros({g.aten_view_shape_scales.numel()}, at::kInt);
      return [=] {
        benchmark::DoNotOptimize(
            at::fake_quantize_per_channel_affine(x, g.aten_view_shape_scales, zp, 0, qmin, qmax));
      };
    });
  }
  add(op, format, gran, "aten_naive", n, threads, alloc, [=]() -> Runner {
    const Granularity g = make_granularity(gran, n, aq);
    const std::vector<int64_t> shape = gran == "per_block" ? g.aten_shape : g.shape;
    const Tensor x = input(n).view(shape);
    const Tensor s = gran == "per_tensor" ? g.scale : g.scale.reshape({shape[0], -1});
    if (alloc) {
      return [=] { benchmark::DoNotOptimize((x / s).round().clamp(qmin, qmax) * s); };
    }
    Tensor y = at::empty_like(x);
    return [=]() mutable {
      at::div_out(y, x, s);
      y.round_().clamp_(qmin, qmax).mul_(s);
      benchmark::ClobberMemory();
    };
  });
}

void add_fp8_fake_quantize(int64_t n, int threads, bool alloc) {
  const std::string op = "fake_quantize", fmt = "fp8_e4m3", gran = "per_tensor";
  add_copy(op, fmt, gran, n, threads, alloc);
  add(op, fmt, gran, "coreai_opt", n, threads, alloc, [=]() -> Runner {
    const Tensor x = input(n);
    const Tensor s = at::full({1}, 4.0f / 448.0f);
    const std::vector<int64_t> block = {n};
    if (alloc) {
      return [=] {
        benchmark::DoNotOptimize(
            ops::fake_quantize(x, s, std::nullopt, std::nullopt, block, DType::kFloat8E4M3FN));
      };
    }
    Tensor y = at::empty_like(x);
    return [=]() mutable {
      ops::fake_quantize_out(x, s, std::nullopt, std::nullopt, block, DType::kFloat8E4M3FN, 0, 0,
                             y);
      benchmark::ClobberMemory();
    };
  });
  // The ATen spelling of fp8 fake quantization (torchao's): scale, clamp, cast, cast back.
  add(op, fmt, gran, "aten_naive", n, threads, alloc, [=]() -> Runner {
    const Tensor x = input(n);
    const double s = 4.0 / 448.0;
    if (alloc) {
      return [=] {
        benchmark::DoNotOptimize((x / s).clamp(-448, 448).to(at::kFloat8_e4m3fn).to(at::kFloat) *
                                 s);
      };
    }
    Tensor y = at::empty_like(x);
    Tensor q = at::empty({n}, x.options().dtype(at::kFloat8_e4m3fn));
    return [=]() mutable {
      at::div_out(y, x, at::scalar_tensor(s));
      y.clamp_(-448, 448);
      q.copy_(y);
      y.copy_(q);
      y.mul_(s);
      benchmark::ClobberMemory();
    };
  });
}

void add_mxfp4(int64_t n, int threads, bool alloc) {
  const std::string fmt = "mxfp4", gran = "per_block";
  add_copy("quantize", fmt, gran, n, threads, alloc);
  add("quantize", fmt, gran, "coreai_opt", n, threads, alloc, [=]() -> Runner {
    const Tensor x = input(n).view({n / 4096, 4096});
    if (alloc) return [=] { benchmark::DoNotOptimize(ops::mxfp4_quantize(x)); };
    Tensor p = at::empty({n / 4096, 2048}, x.options().dtype(at::kFloat4_e2m1fn_x2));
    Tensor s = at::empty({n / 4096, 128}, x.options().dtype(at::kFloat8_e8m0fnu));
    return [=]() mutable {
      ops::mxfp4_quantize_out(x, 32, p, s);
      benchmark::ClobberMemory();
    };
  });
  if (threads == 1 && !alloc) {  // the scalar reference, for the 10x target
    add("quantize", fmt, gran, "scalar", n, 1, false, [=]() -> Runner {
      const Tensor x = input(n);
      Tensor p = at::empty({n / 2}, x.options().dtype(at::kByte));
      Tensor s = at::empty({n / 32}, x.options().dtype(at::kByte));
      return [=]() mutable {
        kernels::reference::mxfp4_quantize(x.data_ptr<float>(), p.data_ptr<std::uint8_t>(),
                                           s.data_ptr<std::uint8_t>(), 0,
                                           static_cast<std::size_t>(n), 32);
        benchmark::ClobberMemory();
      };
    });
  }
  add_copy("dequantize", fmt, gran, n, threads, alloc);
  add("dequantize", fmt, gran, "coreai_opt", n, threads, alloc, [=]() -> Runner {
    const auto [p, s] = ops::mxfp4_quantize(input(n).view({n / 4096, 4096}));
    if (alloc) return [p = p, s = s] { benchmark::DoNotOptimize(ops::mxfp4_dequantize(p, s)); };
    Tensor y = at::empty({n}, at::kFloat);
    const Tensor pc = p.view(at::kByte), sc = s.view(at::kByte);
    return [=]() mutable {
      const int64_t unit = 32768;
      at::parallel_for(0, n / unit, 1, [&](int64_t b, int64_t e) {
        kernels::mxfp4_dequantize(pc.data_ptr<std::uint8_t>(), sc.data_ptr<std::uint8_t>(),
                                  y.data_ptr<float>(), static_cast<std::size_t>(b * unit),
                                  static_cast<std::size_t>(e * unit), 32);
      });
      benchmark::ClobberMemory();
    };
  });
}

void register_all() {
  const int all = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<int> thread_counts = {1};
  if (all > 1) thread_counts.push_back(all);
  for (int64_t n : {int64_t{1} << 20, int64_t{1} << 26}) {
    for (int t : thread_counts) {
      for (bool alloc : {false, true}) {
        add_int_fake_quantize("int8", "per_tensor", n, t, alloc);
        add_int_fake_quantize("int8", "per_channel", n, t, alloc);
        add_int_fake_quantize("int8", "per_block", n, t, alloc);
        add_int_fake_quantize("int4", "per_block", n, t, alloc);
        add_fp8_fake_quantize(n, t, alloc);
        add_mxfp4(n, t, alloc);
      }
    }
  }
}

}  // namespace
}  // namespace coreai_opt::bench

int main(int argc, char** argv) {
  coreai_opt::bench::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
