// See host_fibers.h. The frame switch_fiber pushes, from the top down: rbp, rbx, r12-r15,
// then 8 bytes with MXCSR (low 4) and the x87 control word (next 2).
#include "cuda/host_fibers.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>

#if !defined(__x86_64__)
#error "host_fibers.cpp switches stacks on x86-64 only"
#endif
// With shadow stacks (CET) enforced, the first `ret` into a fiber and every switch would
// return to an address the shadow stack never saw. tests/cuda/CMakeLists.txt builds this
// file with -fcf-protection=none, which also keeps the linker from marking the test binary
// as shadow-stack compatible.
#if defined(__CET__) && (__CET__ & 2)
#error "build host_fibers.cpp with -fcf-protection=none: its stack switch is not shadow-stack aware"
#endif

asm(R"(
    .text
    .globl coreai_opt_switch_fiber
    .type coreai_opt_switch_fiber, @function
coreai_opt_switch_fiber:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size coreai_opt_switch_fiber, .-coreai_opt_switch_fiber
)");

namespace coreai_opt_host_emulation {

FiberStack::FiberStack(std::size_t bytes) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  bytes_ = (bytes + page - 1) / page * page;
  mapping_bytes_ = bytes_ + page;
  mapping_ =
      mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) throw std::bad_alloc();
  // The stack grows down: the guard page is the lowest one.
  if (mprotect(mapping_, page, PROT_NONE) != 0) {
    munmap(mapping_, mapping_bytes_);
    throw std::runtime_error("mprotect of a fiber stack's guard page failed");
  }
  base_ = static_cast<char*>(mapping_) + page;
}

FiberStack::~FiberStack() { munmap(mapping_, mapping_bytes_); }

void* start_fiber(const FiberStack& stack, void (*entry)()) {
  // `ret` into entry leaves rsp = slot + 8, which the ABI wants at 8 mod 16 on entry; above
  // the slot a zero return address ends any stack walk.
  auto top = reinterpret_cast<std::uintptr_t>(stack.base() + stack.size());
  const std::uintptr_t slot = ((top - 16) & ~std::uintptr_t{15});
  auto* words = reinterpret_cast<std::uint64_t*>(slot);
  words[1] = 0;
  words[0] = reinterpret_cast<std::uint64_t>(entry);
  for (int r = 1; r <= 6; ++r) words[-r] = 0;  // rbp, rbx, r12-r15
  // The power-on defaults: MXCSR round to nearest with every exception masked and no
  // flush to zero; x87 control word extended precision, round to nearest, all masked.
  const std::uint32_t mxcsr = 0x1F80;
  const std::uint16_t fpcw = 0x037F;
  auto* control = reinterpret_cast<unsigned char*>(slot - 7 * 8);
  std::memset(control, 0, 8);
  std::memcpy(control, &mxcsr, 4);
  std::memcpy(control + 4, &fpcw, 2);
  return control;
}

}  // namespace coreai_opt_host_emulation
