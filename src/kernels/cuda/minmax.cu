// Per-parameter min/max reduction on CUDA (kernels/cuda.h), equal to reference::minmax_update
// applied to the whole tensor.
//
// The reference's update, m = (x < m ? x : m) + 0 with NaN absorbing, is associative and
// commutative on values (a zero result is +0 whichever zeros met), so partial results may
// be combined in any order: each thread reduces its elements, lanes and blocks reduce with
// shuffles and shared memory, and partials meet the stored value through a compare-and-swap
// loop with the same combine. A last pass makes mins and maxs of a parameter both NaN when
// either is (the reference's rule for a NaN already stored).
//
// Two shapes of work, chosen from the ParamLayout:
//   rows     every segment is one parameter (run_length == segment_length): per-tensor,
//            per-channel along axis 0, per-block along the last axis. Long rows are split
//            into chunks of one block each; short rows (<= 256 elements) go to groups of
//            1-32 lanes of a warp.
//   columns  parameters change along a segment (per-channel along the last axis, blocks
//            over several axes): threads own 4-8 columns and walk a band of segments, so a
//            parameter is flushed once per band instead of once per element.
#include "common.cuh"

namespace coreai_opt::kernels::cuda {
namespace detail {
namespace {

constexpr unsigned kAll = 0xFFFFFFFFu;
constexpr std::int64_t kChunk = kThreads * 128;  // elements per block of a long row
constexpr std::int64_t kShortRow = 256;                // rows up to this go to lane groups
constexpr std::int64_t kTargetBlocks = 512;            // blocks wanted by the column kernel

__device__ __forceinline__ float nan_value() { return __uint_as_float(0x7FC00000u); }

__device__ __forceinline__ float min_combine(float a, float b) {
  if (isnan(a) || isnan(b)) return nan_value();
  return __fadd_rn(b < a ? b : a, 0.0f);
}

__device__ __forceinline__ float max_combine(float a, float b) {
  if (isnan(a) || isnan(b)) return nan_value();
  return __fadd_rn(b > a ? b : a, 0.0f);
}

/// A partial (min, max) of some elements of one parameter; empty when count == 0.
struct Partial {
  float mn = __builtin_huge_valf();
  float mx = -__builtin_huge_valf();
  bool any = false;

  __device__ __forceinline__ void add(float v) {
    mn = min_combine(mn, v);
    mx = max_combine(mx, v);
    any = true;
  }
  __device__ __forceinline__ void merge(const Partial& o) {
    if (!o.any) return;
    mn = min_combine(mn, o.mn);
    mx = max_combine(mx, o.mx);
    any = true;
  }
};

template <class Combine>
__device__ void atomic_combine(float* addr, float v, Combine combine) {
  auto* a = reinterpret_cast<unsigned*>(addr);
  unsigned old = *reinterpret_cast<volatile unsigned*>(a);
  while (true) {
    const unsigned next = __float_as_uint(combine(__uint_as_float(old), v));
    if (next == old) return;
    const unsigned prev = atomicCAS(a, old, next);
    if (prev == old) return;
    old = prev;
  }
}

__device__ __forceinline__ void flush(const Partial& part, std::int64_t p, float* mins,
                                      float* maxs) {
  if (!part.any) return;
  atomic_combine(mins + p, part.mn, [](float a, float b) { return min_combine(a, b); });
  atomic_combine(maxs + p, part.mx, [](float a, float b) { return max_combine(a, b); });
}

/// Shuffle-merges partials across `width` lanes (a power of two <= 32, groups aligned).
__device__ __forceinline__ Partial group_reduce(Partial part, int width) {
  for (int off = 1; off < width; off <<= 1) {
    Partial o;
    o.mn = __shfl_xor_sync(kAll, part.mn, off);
    o.mx = __shfl_xor_sync(kAll, part.mx, off);
    o.any = __shfl_xor_sync(kAll, part.any ? 1 : 0, off) != 0;
    part.merge(o);
  }
  return part;
}

/// Adds the n <= kVecOf<T> elements of x at i (one 16-byte load when `full`).
template <typename T>
__device__ __forceinline__ void add_elements(const T* x, std::int64_t i, bool full, int n,
                                             Partial& part) {
  constexpr int N = kVecOf<T>;
  float v[N];
  load_x(x, i, full, n, v);
#pragma unroll
  for (int j = 0; j < N; ++j) {
    if (j < n) part.add(v[j]);
  }
}

/// Rows longer than kShortRow: block b reduces chunk b % chunks of row b / chunks.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    minmax_long_rows_kernel(const T* x, DeviceLayout layout, std::int64_t chunks, bool vec,
                            float* mins, float* maxs) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) / chunks;
  const std::int64_t chunk = static_cast<std::int64_t>(blockIdx.x) - row * chunks;
  const std::int64_t len = layout.segment_length;
  const std::int64_t row_start = row * len;
  const std::int64_t start = row_start + chunk * kChunk;
  const std::int64_t end = min(row_start + len, start + kChunk);
  constexpr int N = kVecOf<T>;
  Partial part;
  for (std::int64_t i = start + threadIdx.x * N; i < end; i += kThreads * N) {
    const int n = end - i < N ? static_cast<int>(end - i) : N;
    add_elements(x, i, vec && n == N, n, part);
  }
  part = group_reduce(part, 32);
  __shared__ float smn[kThreads / 32], smx[kThreads / 32];
  __shared__ int sany[kThreads / 32];
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) smn[warp] = part.mn, smx[warp] = part.mx, sany[warp] = part.any ? 1 : 0;
  __syncthreads();
  if (threadIdx.x == 0) {
    Partial total;
    for (int w = 0; w < kThreads / 32; ++w) {
      Partial o;
      o.mn = smn[w], o.mx = smx[w], o.any = sany[w] != 0;
      total.merge(o);
    }
    flush(total, layout.segment_offset(row), mins, maxs);
  }
}

/// Rows of at most kShortRow elements: `width` lanes (a power of two) per row.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    minmax_short_rows_kernel(const T* x, DeviceLayout layout, std::int64_t rows, int width,
                             bool vec, float* mins, float* maxs) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t row = t / width;
  const int g = static_cast<int>(t - row * width);
  const std::int64_t len = layout.segment_length;
  constexpr int N = kVecOf<T>;
  Partial part;
  if (row < rows) {
    for (std::int64_t c = static_cast<std::int64_t>(g) * N; c < len; c += width * N) {
      const int n = len - c < N ? static_cast<int>(len - c) : N;
      add_elements(x, row * len + c, vec && n == N, n, part);
    }
  }
  part = group_reduce(part, width);
  if (row < rows && g == 0) flush(part, layout.segment_offset(row), mins, maxs);
}

/// Parameters that change along a segment: thread (x) owns columns [c0, c0 + kVecOf<T>) of the
/// segments [k0, k1) of its band (y).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    minmax_columns_kernel(const T* x, DeviceLayout layout, std::int64_t segments,
                          std::int64_t band, bool vec, float* mins, float* maxs) {
  constexpr int N = kVecOf<T>;
  const std::int64_t len = layout.segment_length;
  const std::int64_t c0 =
      (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * N;
  if (c0 >= len) return;
  const int n = len - c0 < N ? static_cast<int>(len - c0) : N;
  const bool full = vec && n == N;
  const std::int64_t k0 = static_cast<std::int64_t>(blockIdx.y) * band;
  const std::int64_t k1 = min(segments, k0 + band);
  std::int64_t column_param[N];
#pragma unroll
  for (int j = 0; j < N; ++j) {
    column_param[j] = static_cast<std::int64_t>(
        layout.run.div(static_cast<std::uint64_t>(j < n ? c0 + j : c0)));
  }
  Partial part[N];
  std::int64_t offset = -1;
  auto flush_all = [&]() {
    // Neighbouring columns of one run share a parameter: merge them before the atomics.
    Partial run = part[0];
#pragma unroll
    for (int j = 1; j < N; ++j) {
      if (j < n && column_param[j] == column_param[j - 1]) {
        run.merge(part[j]);
      } else {
        flush(run, offset + column_param[j - 1], mins, maxs);
        run = j < n ? part[j] : Partial{};
      }
    }
    flush(run, offset + column_param[(n > 0 ? n : 1) - 1], mins, maxs);
#pragma unroll
    for (int j = 0; j < N; ++j) part[j] = Partial{};
  };
  for (std::int64_t k = k0; k < k1; ++k) {
    const std::int64_t off = layout.segment_offset(k);
    if (off != offset) {
      if (offset >= 0) flush_all();
      offset = off;
    }
    float v[N];
    load_x(x, k * len + c0, full, n, v);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      if (j < n) part[j].add(v[j]);
    }
  }
  if (offset >= 0) flush_all();
}

/// Both NaN where either is (the reference's rule for a NaN already stored).
__global__ void __launch_bounds__(kThreads)
    minmax_nan_fixup_kernel(float* mins, float* maxs, std::int64_t num_params) {
  const std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= num_params) return;
  if (isnan(mins[p]) || isnan(maxs[p])) mins[p] = maxs[p] = nan_value();
}

}  // namespace
}  // namespace detail

CudaError minmax_update(ElementType t, const void* x, const ParamLayout& layout, float* mins,
                        float* maxs, CudaStream stream) {
  using namespace detail;
  if (layout.numel <= 0) return 0;
  if (mins == nullptr || maxs == nullptr) return cudaErrorInvalidValue;
  // One segment of whole runs (per-block along the last axis) is the rows shape with one
  // parameter per run: segment k = run k, offset k.
  ParamLayout l = layout;
  if (l.num_levels == 0 && l.segment_length == l.numel && l.run_length < l.numel &&
      l.numel % l.run_length == 0) {
    l.segment_length = l.run_length;
    l.num_levels = 1;
    l.level_count[0] = l.numel / l.run_length;
    l.level_param_stride[0] = 1;
  }
  const std::int64_t len = l.segment_length;
  const std::int64_t segments = l.numel / len;
  const CudaError e = dispatch_type(t, [&](auto tag) {
    using T = decltype(tag);
    constexpr int N = kVecOf<T>;
    const bool vec = aligned(x, 16) && len % N == 0;
    const DeviceLayout dl(l, N);
    const T* xt = static_cast<const T*>(x);
    if (l.run_length == len) {
      if (len > kShortRow) {
        const std::int64_t chunks = (len + kChunk - 1) / kChunk;
        COREAI_OPT_LAUNCH(static_cast<unsigned>(segments * chunks), stream,
                          minmax_long_rows_kernel<T>)(xt, dl, chunks, vec, mins, maxs);
      } else {
        int width = 1;
        while (width < 32 && static_cast<std::int64_t>(width) * N < len) width *= 2;
        const std::int64_t threads = segments * width;
        COREAI_OPT_LAUNCH(static_cast<unsigned>((threads + kThreads - 1) / kThreads), stream,
                          minmax_short_rows_kernel<T>)(xt, dl, segments, width, vec, mins, maxs);
      }
    } else {
      const std::int64_t gx = (len + kThreads * N - 1) / (kThreads * N);
      std::int64_t gy = (kTargetBlocks + gx - 1) / gx;
      gy = gy < segments ? gy : segments;
      std::int64_t band = (segments + gy - 1) / gy;
      if ((segments + band - 1) / band > 65535) band = (segments + 65534) / 65535;
      gy = (segments + band - 1) / band;
      COREAI_OPT_LAUNCH(dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), stream,
                        minmax_columns_kernel<T>)(xt, dl, segments, band, vec, mins, maxs);
    }
    return launch_status();
  });
  if (e != 0) return e;
  const auto grid = static_cast<unsigned>((layout.num_params + kThreads - 1) / kThreads);
  COREAI_OPT_LAUNCH(grid, stream, minmax_nan_fixup_kernel)(mins, maxs, layout.num_params);
  return launch_status();
}

}  // namespace coreai_opt::kernels::cuda
