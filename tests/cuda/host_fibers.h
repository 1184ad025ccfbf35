// Stackful fibers for the host emulation of the CUDA kernels (host_emulation.h). A fiber is
// a stack and a saved stack pointer: switch_fiber pushes the running code's callee-saved
// registers and floating-point control words onto its own stack, records the stack
// pointer, and pops those of the fiber it resumes. Nothing else is saved (no signal mask,
// unlike swapcontext), so a switch is a few nanoseconds instead of system calls; the
// emulation switches twice per emulated thread. x86-64 System V only: tests/cuda/CMakeLists.txt
// builds the emulation test on x86-64 alone.
#pragma once

#include <cstddef>

extern "C" {
/// Saves the running context's stack pointer in *save and resumes the context whose stack
/// pointer is `resume` (one saved by this function or made by start_fiber).
void coreai_opt_switch_fiber(void** save, void* resume);
}

namespace coreai_opt_host_emulation {

/// Lays out a first frame on the stack [base, base + bytes) so that switching to the
/// returned stack pointer calls entry(), which must never return.
void* start_fiber(char* base, std::size_t bytes, void (*entry)());

}  // namespace coreai_opt_host_emulation
