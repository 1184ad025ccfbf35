// Host emulation of the CUDA kernels' source, for machines without a GPU: include this
// first, then the .cu files, and compile with the host compiler. The threads of a block run
// as fibers (host_fibers.h) on one OS thread: each runs until it finishes or reaches a warp
// shuffle or __syncthreads, and the scheduler below completes a shuffle when every lane of
// the warp is waiting in it, and a barrier when every live thread of the block is. Blocks run
// one after another; shared memory is a static variable (one block at a time uses it), and
// atomics are plain read-modify-writes (no two threads run at once). The device intrinsics
// are their host equivalents with the same IEEE rounding (round to nearest even, no
// contraction: build with -ffp-contract=off). Device memory is host memory.
//
// The sm_89+ fp8 conversion path runs when COREAI_OPT_CUDA_EMULATE_NATIVE_FP8 is defined
// (minifloat.cuh), on NVIDIA's host models of the instructions in cuda_fp8.hpp; otherwise
// the integer codecs run, as on sm_80. What it cannot show: the instructions themselves
// (tests/cuda/exhaustive_test.cpp compares them with the integer codecs on a GPU), races
// between blocks and timing. What it checks beyond a GPU: a full-warp shuffle that a lane
// has left (returned, or waiting at a barrier), one in a partial warp, or one whose shape
// differs between lanes is an error here (undefined behaviour on a GPU, where it may happen
// to work); so is a launch outside the GPU's limits, as on a GPU.
#pragma once

#if defined(__CUDACC__)
#error "host_emulation.h is for a host compiler"
#endif

#define COREAI_OPT_CUDA_HOST_EMULATION 1

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/host_fibers.h"

#define __launch_bounds__(...)
// One block runs at a time, so a function-local static is the block's shared memory.
#undef __shared__
#define __shared__ static

// Thread and block coordinates of the thread being emulated.
inline uint3 threadIdx{0, 0, 0};
inline uint3 blockIdx{0, 0, 0};
inline dim3 blockDim{1, 1, 1};
inline dim3 gridDim{1, 1, 1};

inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<std::uint64_t>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
// IEEE binary32 operations of the host (SSE), each correctly rounded to nearest even.
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
using std::isnan;
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline std::int64_t min(std::int64_t a, std::int64_t b) { return a < b ? a : b; }
// Threads of the emulation never run at the same time: an atomic is a read-modify-write.
inline unsigned atomicCAS(unsigned* p, unsigned compare, unsigned value) {
  const unsigned old = *p;
  if (old == compare) *p = value;
  return old;
}
namespace coreai_opt_host_emulation {

/// Where a thread of the block being run stands.
enum class State { kReady, kShuffle, kBarrier, kDone };

struct Thread {
  std::unique_ptr<FiberStack> stack;
  void* sp = nullptr;  // saved stack pointer; null until the fiber is started
  State state = State::kDone;
  // The pending shuffle: member mask, lane mask, operand size and bits, result bits.
  unsigned member_mask = 0;
  int lane_mask = 0;
  std::size_t size = 0;
  unsigned char in[8] = {};
  unsigned char out[8] = {};
};

/// Runs the threads of one block as fibers (see the top of this file). Fiber t is emulated
/// thread t of every block: it runs the kernel, marks itself done and waits to be resumed
/// for the next block.
class Scheduler {
 public:
  static Scheduler& get() {
    static Scheduler s;
    return s;
  }

  /// Runs `body` as threads 0..threads-1 of block `block` until all have returned.
  void run_block(const std::function<void()>& body, unsigned threads, uint3 block) {
    if (threads_.size() < threads) threads_.resize(threads);
    body_ = &body;
    blockIdx = block;
    for (unsigned t = 0; t < threads; ++t) {
      Thread& th = threads_[t];
      if (!th.stack) th.stack = std::make_unique<FiberStack>(kStackBytes);
      if (th.sp == nullptr) th.sp = start_fiber(*th.stack, &Scheduler::entry);
      th.state = State::kReady;
    }
    try {
      schedule(threads);
    } catch (...) {
      // Fibers stopped in the middle of the kernel start afresh next time.
      for (Thread& th : threads_) th.sp = nullptr;
      throw;
    }
  }

  /// __shfl_xor_sync from the running thread: waits until the warp has arrived.
  template <typename T>
  T shuffle_xor(unsigned member_mask, T value, int lane_mask) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                  "emulated shuffles take trivially copyable values of up to 8 bytes");
    Thread& th = threads_[current_];
    th.member_mask = member_mask;
    th.lane_mask = lane_mask;
    th.size = sizeof(T);
    std::memcpy(th.in, &value, sizeof(T));
    suspend(current_, State::kShuffle);
    T out;
    std::memcpy(&out, threads_[current_].out, sizeof(T));
    return out;
  }

  /// __syncthreads from the running thread.
  void barrier() { suspend(current_, State::kBarrier); }

 private:
  static constexpr std::size_t kStackBytes = 256 * 1024;

  static void entry() {
    Scheduler& s = get();
    const unsigned me = s.current_;
    while (true) {
      try {
        (*s.body_)();
      } catch (const std::exception& e) {
        s.failure_ = lane_name(me) + " threw: " + e.what();
      } catch (...) {
        s.failure_ = lane_name(me) + " threw an exception that is not a std::exception";
      }
      s.suspend(me, State::kDone);
    }
  }

  void schedule(unsigned threads) {
    failure_.clear();
    while (true) {
      for (unsigned t = 0; t < threads; ++t) {
        if (threads_[t].state != State::kReady) continue;
        current_ = t;
        threadIdx = uint3{t, 0, 0};
        coreai_opt_switch_fiber(&main_sp_, threads_[t].sp);
        if (!failure_.empty()) throw std::logic_error(failure_);
      }
      bool done = true;
      for (unsigned t = 0; t < threads; ++t) done = done && threads_[t].state == State::kDone;
      if (done) return;
      if (complete_shuffles(threads)) continue;
      complete_barrier(threads);
    }
  }

  void suspend(unsigned me, State state) {
    threads_[me].state = state;
    coreai_opt_switch_fiber(&threads_[me].sp, main_sp_);
  }

  static std::string lane_name(unsigned t) {
    return "thread " + std::to_string(t) + " (warp " + std::to_string(t / 32) + ", lane " +
           std::to_string(t % 32) + ")";
  }

  /// Completes every shuffle whose whole warp waits in it; false when none could be.
  bool complete_shuffles(unsigned threads) {
    bool any = false;
    for (unsigned w0 = 0; w0 < threads; w0 += 32) {
      const unsigned w1 = w0 + 32 < threads ? w0 + 32 : threads;
      if (!warp_in_shuffle(w0, w1)) continue;
      const Thread& first = threads_[w0];
      for (unsigned t = w0; t < w1; ++t) {
        const unsigned src = w0 + ((t - w0) ^ static_cast<unsigned>(first.lane_mask & 31));
        std::memcpy(threads_[t].out, threads_[src].in, first.size);
      }
      for (unsigned t = w0; t < w1; ++t) threads_[t].state = State::kReady;
      any = true;
    }
    return any;
  }

  /// True when every lane of warp [w0, w1) waits in the same full-warp shuffle; false when
  /// none waits in one or some are still running. Throws where the warp cannot meet.
  bool warp_in_shuffle(unsigned w0, unsigned w1) const {
    bool waiting = false, running = false;
    for (unsigned t = w0; t < w1; ++t) {
      waiting = waiting || threads_[t].state == State::kShuffle;
      running = running || threads_[t].state == State::kReady;
    }
    if (!waiting || running) return false;
    const Thread& first = threads_[w0];
    for (unsigned t = w0; t < w1; ++t) {
      const Thread& th = threads_[t];
      if (th.state != State::kShuffle) {
        throw std::logic_error(
            lane_name(t) + (th.state == State::kDone ? " has exited" : " waits in __syncthreads") +
            " while other lanes of its warp wait in __shfl_xor_sync");
      }
      if (th.member_mask != 0xFFFFFFFFu || th.lane_mask != first.lane_mask ||
          th.size != first.size) {
        throw std::logic_error(lane_name(t) +
                               ": the emulation completes only full-warp shuffles with the same "
                               "lane mask and operand size in every lane");
      }
    }
    if (w1 - w0 != 32) {
      throw std::logic_error("a full-warp shuffle in the partial last warp of a block of " +
                             std::to_string(w1) + " threads");
    }
    return true;
  }

  /// Releases __syncthreads when every thread that has not exited waits in it.
  void complete_barrier(unsigned threads) {
    for (unsigned t = 0; t < threads; ++t) {
      if (threads_[t].state != State::kBarrier && threads_[t].state != State::kDone) {
        throw std::logic_error("deadlock: " + lane_name(t) +
                               " waits while no warp or barrier can complete");
      }
    }
    for (unsigned t = 0; t < threads; ++t) {
      if (threads_[t].state == State::kBarrier) threads_[t].state = State::kReady;
    }
  }

  std::vector<Thread> threads_;
  void* main_sp_ = nullptr;
  unsigned current_ = 0;
  const std::function<void()>* body_ = nullptr;
  std::string failure_;
};

/// The launch limits of every GPU since compute capability 3.0, which a real launch would
/// reject with cudaErrorInvalidConfiguration (z grids are not emulated).
inline void check_launch_configuration(dim3 grid, unsigned threads) {
  if (grid.x == 0 || grid.x > 0x7FFFFFFFu || grid.y == 0 || grid.y > 65535 || grid.z != 1 ||
      threads == 0 || threads > 1024) {
    throw std::logic_error("invalid launch configuration: grid (" + std::to_string(grid.x) + ", " +
                           std::to_string(grid.y) + ", " + std::to_string(grid.z) + "), " +
                           std::to_string(threads) +
                           " threads per block (a GPU takes grid x 1 to 2^31 - 1, y 1 to "
                           "65535, 1 to 1024 threads; the emulation runs z = 1 only)");
  }
}

/// kernel<<<grid, threads>>>(args...): the blocks in turn, each as a block of fibers.
template <class... P>
struct Launch {
  dim3 grid;
  unsigned threads;
  void (*kernel)(P...);

  template <class... A>
  void operator()(A&&... args) const {
    check_launch_configuration(grid, threads);
    gridDim = grid;
    blockDim = dim3(threads, 1, 1);
    const std::function<void()> body = [&] { kernel(args...); };
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        Scheduler::get().run_block(body, threads, uint3{x, y, 0});
      }
    }
  }
};

template <class... P>
Launch<P...> launch(dim3 grid, int threads, void (*kernel)(P...)) {
  return Launch<P...>{grid, static_cast<unsigned>(threads), kernel};
}

}  // namespace coreai_opt_host_emulation

template <typename T>
T __shfl_xor_sync(unsigned member_mask, T value, int lane_mask) {
  return coreai_opt_host_emulation::Scheduler::get().shuffle_xor(member_mask, value, lane_mask);
}
inline void __syncthreads() { coreai_opt_host_emulation::Scheduler::get().barrier(); }
