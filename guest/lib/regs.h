/* SPDX-License-Identifier: MIT */
/*
 * The register-save area the interrupt entry stubs build on the stack. The
 * REGS_* offsets are what isr.S uses; the static asserts in regs_layout.c
 * tie them to this struct so the two cannot drift apart.
 */
#ifndef GUEST_REGS_H
#define GUEST_REGS_H

#define REGS_R15    0x00
#define REGS_R14    0x08
#define REGS_R13    0x10
#define REGS_R12    0x18
#define REGS_R11    0x20
#define REGS_R10    0x28
#define REGS_R9     0x30
#define REGS_R8     0x38
#define REGS_RBP    0x40
#define REGS_RDI    0x48
#define REGS_RSI    0x50
#define REGS_RDX    0x58
#define REGS_RCX    0x60
#define REGS_RBX    0x68
#define REGS_RAX    0x70
#define REGS_VECTOR 0x78
#define REGS_ERROR  0x80
#define REGS_RIP    0x88
#define REGS_CS     0x90
#define REGS_RFLAGS 0x98
#define REGS_RSP    0xa0
#define REGS_SS     0xa8
#define REGS_SIZE   0xb0

#ifndef __ASSEMBLER__
#include <stdint.h>

struct regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	/* pushed by the CPU */
	uint64_t rip, cs, rflags, rsp, ss;
};
#endif

#endif
