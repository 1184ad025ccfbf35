// See host_fibers.h. The frame switch_fiber pushes, from the top down: rbp, rbx, r12-r15,
// then 8 bytes with MXCSR (low 4) and the x87 control word (next 2).
#include "cuda/host_fibers.h"

#include <cstdint>
#include <cstring>

#if !defined(__x86_64__)
#error "host_fibers.cpp switches stacks on x86-64 only"
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

void* start_fiber(char* base, std::size_t bytes, void (*entry)()) {
  // `ret` into entry leaves rsp = slot + 8, which the ABI wants at 8 mod 16 on entry; above
  // the slot a zero return address ends any stack walk.
  auto top = reinterpret_cast<std::uintptr_t>(base + bytes);
  const std::uintptr_t slot = ((top - 16) & ~std::uintptr_t{15});
  auto* words = reinterpret_cast<std::uint64_t*>(slot);
  words[1] = 0;
  words[0] = reinterpret_cast<std::uint64_t>(entry);
  for (int r = 1; r <= 6; ++r) words[-r] = 0;  // rbp, rbx, r12-r15
  // MXCSR and the x87 control word of the creating thread (round to nearest, no traps).
  std::uint32_t mxcsr = 0;
  std::uint16_t fpcw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  auto* control = reinterpret_cast<unsigned char*>(slot - 7 * 8);
  std::memset(control, 0, 8);
  std::memcpy(control, &mxcsr, 4);
  std::memcpy(control + 4, &fpcw, 2);
  return control;
}

}  // namespace coreai_opt_host_emulation
