// SPDX-License-Identifier: MIT
/* Compile-time proof that isr.S and struct regs agree. */
#include <stddef.h>

#include "regs.h"

#define CHECK(field, off) _Static_assert(offsetof(struct regs, field) == (off), #field)
CHECK(r15, REGS_R15);
CHECK(r14, REGS_R14);
CHECK(r13, REGS_R13);
CHECK(r12, REGS_R12);
CHECK(r11, REGS_R11);
CHECK(r10, REGS_R10);
CHECK(r9, REGS_R9);
CHECK(r8, REGS_R8);
CHECK(rbp, REGS_RBP);
CHECK(rdi, REGS_RDI);
CHECK(rsi, REGS_RSI);
CHECK(rdx, REGS_RDX);
CHECK(rcx, REGS_RCX);
CHECK(rbx, REGS_RBX);
CHECK(rax, REGS_RAX);
CHECK(vector, REGS_VECTOR);
CHECK(error_code, REGS_ERROR);
CHECK(rip, REGS_RIP);
CHECK(cs, REGS_CS);
CHECK(rflags, REGS_RFLAGS);
CHECK(rsp, REGS_RSP);
CHECK(ss, REGS_SS);
_Static_assert(sizeof(struct regs) == REGS_SIZE, "struct regs size");
