// Timing helpers shared by the CUDA benchmark programs: CUDA-event timing with warm-up and
// the median of repeated runs, and a Markdown table whose bandwidth column is relative to a
// device-to-device copy of the same number of bytes.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace coreai_opt::bench {

/// Exits with a message when a CUDA call fails (benchmarks have no recovery path).
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "error: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

/// Median milliseconds of `reps` timed runs of `fn` on `stream` after `warmup` runs.
inline double median_ms(const std::function<void()>& fn, cudaStream_t stream, int warmup = 3,
                        int reps = 20) {
  for (int i = 0; i < warmup; ++i) fn();
  check(cudaStreamSynchronize(stream), "warm-up");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    fn();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "kernel");
    float t = 0;
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// One table row: `bytes` moved (read + written) in `ms`.
struct Row {
  std::string name;
  long long elements;
  double bytes;
  double ms;
};

/// Prints the rows as a Markdown table; "% of copy" compares each row's GB/s with the
/// copy row of the same element count (the one whose name starts with "copy").
inline void print_table(const std::vector<Row>& rows, std::FILE* out) {
  std::fprintf(out, "| kernel | elements | time (us) | GB/s (read + written) | %% of copy |\n");
  std::fprintf(out, "|---|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    double copy_gbs = 0;
    for (const Row& c : rows) {
      if (c.elements == r.elements && c.name.rfind("copy", 0) == 0) {
        copy_gbs = c.bytes / c.ms / 1e6;
        break;
      }
    }
    const double gbs = r.bytes / r.ms / 1e6;
    std::fprintf(out, "| %s | %lldM | %.1f | %.0f | %.0f%% |\n", r.name.c_str(),
                 r.elements >> 20, r.ms * 1e3, gbs, copy_gbs > 0 ? 100.0 * gbs / copy_gbs : 0.0);
  }
  std::fflush(out);
}

/// Element counts from the command line (in Mi elements), default 16 and 256.
inline std::vector<long long> sizes_from_args(int argc, char** argv) {
  std::vector<long long> sizes;
  for (int i = 1; i < argc; ++i) {
    const long long m = std::atoll(argv[i]);
    if (m > 0) sizes.push_back(m << 20);
  }
  if (sizes.empty()) sizes = {16LL << 20, 256LL << 20};
  return sizes;
}

/// The device's name and memory clock, for the table's heading.
inline std::string device_line() {
  int dev = 0;
  cudaDeviceProp p{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    return "unknown device";
  }
  return std::string(p.name) + ", " + std::to_string(p.multiProcessorCount) + " SMs, " +
         std::to_string(p.totalGlobalMem >> 30) + " GiB, compute capability " +
         std::to_string(p.major) + "." + std::to_string(p.minor);
}

}  // namespace coreai_opt::bench
