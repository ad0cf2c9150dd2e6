/* SPDX-License-Identifier: MIT */
/*
 * Interrupt entry stubs: each pushes a dummy error code where the CPU does
 * not, then its vector, then the general registers in the order of
 * struct regs (regs.h), and calls isr_dispatch(struct regs *).
 */
#include "regs.h"

	.code64
	.text

/* One 16-byte stub per vector; the CPU pushes an error code itself for
 * vectors 8, 10-14, 17, 21, 29 and 30. */
	.altmacro
	.macro stub v
	.align 16
	.if !((\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
	pushq $0
	.endif
	pushq $\v
	jmp isr_common
	.endm

	.globl isr_stubs
	.align 16
isr_stubs:
	.set vec, 0
	.rept 256
	stub %vec
	.set vec, vec + 1
	.endr

isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	mov %rsp, %rbx
	and $-16, %rsp                       /* ABI stack alignment for C */
	cld
	call isr_dispatch
	mov %rbx, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp                        /* vector and error code */
	iretq
