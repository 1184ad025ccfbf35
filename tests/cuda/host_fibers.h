// Stackful fibers for the host emulation of the CUDA kernels (host_emulation.h). A fiber is
// a stack and a saved stack pointer: switch_fiber pushes the running code's callee-saved
// registers and floating-point control words onto its own stack, records the stack
// pointer, and pops those of the fiber it resumes. Nothing else is saved (no signal mask,
// unlike swapcontext), so a switch is a few nanoseconds instead of system calls; the
// emulation switches twice per emulated thread. x86-64 System V only: tests/cuda/CMakeLists.txt
// builds the emulation test on x86-64 alone, and compiles this file without control-flow
// protection, since the switch is not shadow-stack aware (see host_fibers.cpp).
#pragma once

#include <cstddef>

extern "C" {
/// Saves the running context's stack pointer in *save and resumes the context whose stack
/// pointer is `resume` (one saved by this function or made by start_fiber).
void coreai_opt_switch_fiber(void** save, void* resume);
}

namespace coreai_opt_host_emulation {

/// A fiber's stack: `bytes` of memory above one inaccessible guard page, so that an
/// overflow faults instead of overwriting the heap.
class FiberStack {
 public:
  explicit FiberStack(std::size_t bytes);
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  ~FiberStack();
  char* base() const { return base_; }
  std::size_t size() const { return bytes_; }

 private:
  void* mapping_ = nullptr;
  std::size_t mapping_bytes_ = 0;
  char* base_ = nullptr;
  std::size_t bytes_ = 0;
};

/// Lays out a first frame on `stack` so that switching to the returned stack pointer calls
/// entry(), which must never return. The fiber starts with the default floating-point
/// environment (round to nearest, no flush to zero, exceptions masked), whatever the
/// creating thread has set: that is the GPU's rounding for the non-ftz operations.
void* start_fiber(const FiberStack& stack, void (*entry)());

}  // namespace coreai_opt_host_emulation
