/* SPDX-License-Identifier: MIT */
/*
 * Decoding and completing the few instructions a software KVM backend (PVM)
 * refuses to emulate at guest CPL0: INT3, INT n, POPCNT, FWAIT,
 * LDMXCSR/STMXCSR, LOCK CMPXCHG16B, CLAC, STAC and SYSRET. kiln finishes them as the CPU would,
 * memory operands through the page walker, and the guest goes on.
 */
#ifndef KILN_X86_INSN_H
#define KILN_X86_INSN_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm/memory.h"

enum insn_kind {
	INSN_UNKNOWN = 0,
	INSN_INT3,
	INSN_INT,
	INSN_POPCNT,
	INSN_FWAIT,
	INSN_LDMXCSR,
	INSN_STMXCSR,
	INSN_CMPXCHG16B,
	INSN_CLAC,
	INSN_STAC,
	INSN_SYSRET,
	INSN_KINDS,
};

extern const char *const insn_names[INSN_KINDS];

struct insn {
	enum insn_kind kind;
	unsigned int len;
	bool lock, rex_w, opsize16;   /* opsize16: the operand size is 16 bits */
	unsigned int addr_size;       /* address size in bytes: 2, 4 or 8 */
	uint8_t rex;
	uint8_t imm8;            /* INT n */
	/* ModRM operand */
	bool has_modrm, mem;
	unsigned int reg, rm;    /* full 4-bit register numbers */
	int base, index;         /* -1: none; 16: RIP-relative */
	unsigned int scale;
	int64_t disp;
	int seg;                 /* override: -1 none, else 0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS */
};

/* The code the vCPU runs: 64-bit (IA-32e, CS.L), or 32- or 16-bit (CS.D),
 * which sets the default operand and address sizes. */
enum insn_mode { INSN_MODE_16, INSN_MODE_32, INSN_MODE_64 };

enum insn_mode insn_mode_of(const struct kvm_sregs *sregs);

/* The register number (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI,
 * 7 RDI, 8-15 R8-R15) to its field in struct kvm_regs, whose order
 * differs (rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, ...). */
uint64_t *insn_reg(struct kvm_regs *regs, unsigned int number);

/* Decode the bytes at RIP (up to 15) as code of that mode, with the
 * address-size (0x67) and operand-size (0x66) prefixes. Returns 0, or
 * -EINVAL when the instruction is not one kiln completes. */
int insn_decode_mode(const uint8_t *bytes, unsigned int avail, enum insn_mode mode,
		     struct insn *insn);
/* The same for 64-bit code (long_mode) or 32-bit code. */
int insn_decode(const uint8_t *bytes, unsigned int avail, bool long_mode, struct insn *insn);

/*
 * The linear address of a memory operand: the effective address wraps at
 * the address size (16, 32 or 64 bits); outside 64-bit mode the segment's
 * base is added and the sum wraps at 32 bits, as the CPU computes it (only
 * FS and GS have a base in 64-bit mode).
 */
uint64_t insn_address(const struct insn *insn, const struct kvm_regs *regs,
		      const struct kvm_sregs *sregs);

/* The linear address of the instruction byte offset bytes past CS:RIP:
 * IP wraps at 16 bits in 16-bit code, the sum at 32 bits outside 64-bit mode. */
uint64_t insn_code_address(const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			   unsigned int offset);

/* What completing an instruction asks of the vCPU besides new registers. */
struct insn_outcome {
	bool exception;          /* inject this exception instead of retiring */
	uint8_t vector;
	bool has_error;
	uint32_t error_code;
	uint64_t cr2;            /* for #PF */
	bool soft_interrupt;     /* INT n: deliver vector through the IDT */
	bool mxcsr_changed;
	bool sregs_changed;      /* segments too (SYSRET): write them back */
};

/* CPU state outside struct kvm_regs and kvm_sregs, fetched only for the
 * instructions that use it. */
struct insn_state {
	uint32_t mxcsr;          /* LDMXCSR/STMXCSR */
	uint64_t star;           /* MSR_STAR: SYSRET's selectors */
};

/* Complete insn: updates regs (RIP, results, flags), sregs (segments, for
 * SYSRET), state->mxcsr, and guest memory; or fills outcome with the
 * exception to raise. Returns 0, -EFAULT when a table or operand lies
 * outside guest RAM, or -EINVAL for a form kiln does not complete. */
int insn_execute(const struct insn *insn, const struct guest_memory *mem, struct kvm_regs *regs,
		 struct kvm_sregs *sregs, unsigned int phys_bits, struct insn_state *state,
		 struct insn_outcome *outcome);

#endif
