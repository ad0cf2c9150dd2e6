/* SPDX-License-Identifier: MIT */
/*
 * Test-guest start-up: multiboot header, 32-bit entry (protected mode,
 * paging off), identity page tables, long mode, then C. Also the AP
 * trampoline (copied to physical 0 and started by SIPI) and the CPL3
 * round trip (iretq down, #UD back).
 */
#include "layout.h"

	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long 0                              /* flags: nothing asked */
	.long -(MB_HEADER_MAGIC)

	.section .data
	.align 16
gdt:
	.quad 0                              /* null */
	.quad 0x00af9b000000ffff             /* 0x08 kernel code, 64-bit */
	.quad 0x00cf93000000ffff             /* 0x10 kernel data */
	.quad 0x00cf9b000000ffff             /* 0x18 kernel code, 32-bit */
	.quad 0x00cff3000000ffff             /* 0x20 user data, DPL 3 */
	.quad 0x00affb000000ffff             /* 0x28 user code, 64-bit, DPL 3 */
	.globl gdt_tss
gdt_tss:
	.fill MAX_CPUS * 2, 8, 0             /* 0x30: a TSS descriptor per CPU */
gdt_end:
	.globl gdt_desc
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt

	.section .bss
	.align 4096
	.globl pml4
pml4:	.fill 512, 8, 0
	.globl pdpt
pdpt:	.fill 512, 8, 0
pd:	.fill 512 * IDENTITY_MAP_GIB, 8, 0
	.align 16
	.globl cpu_stacks
cpu_stacks:
	.fill MAX_CPUS * STACK_SIZE, 1, 0
	.globl mb_magic, mb_info
mb_magic: .long 0
mb_info:  .long 0

	.section .text
	.code32
	.globl _start
_start:
	cli
	mov %eax, mb_magic
	mov %ebx, mb_info
	lgdt gdt_desc
	/* Identity map: 4 GiB with 2 MiB pages, present|write|user. */
	mov $pd, %edi
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x87, %eax
	mov %eax, (%edi,%ecx,8)
	mov %ecx, %eax
	shr $11, %eax
	mov %eax, 4(%edi,%ecx,8)
	inc %ecx
	cmp $512 * IDENTITY_MAP_GIB, %ecx
	jne 1b
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $12, %eax
	add $pd, %eax                        /* the ecx-th page directory */
	or $0x7, %eax
	mov %eax, pdpt(,%ecx,8)
	inc %ecx
	cmp $IDENTITY_MAP_GIB, %ecx
	jne 2b
	mov $pdpt, %eax
	or $0x7, %eax
	mov %eax, pml4
	xor %ebp, %ebp                       /* CPU index 0 */
	jmp enter_long_mode

	/* Reached by the boot CPU above and by every AP from the trampoline,
	 * with EBP = CPU index. */
	.globl enter_long_mode
enter_long_mode:
	mov $SEL_KERNEL_DS, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $0x20, %eax                       /* PAE */
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx                /* EFER: LME, SCE, NXE */
	rdmsr
	or $0x901, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80010001, %eax                 /* PG, WP, PE */
	mov %eax, %cr0
	ljmp $SEL_KERNEL_CS, $long_mode

	.code64
long_mode:
	mov $SEL_KERNEL_DS, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	mov %ebp, %ebp                       /* upper half undefined after the switch */
	/* Stack: top of this CPU's kernel stack. */
	mov %rbp, %rax
	inc %rax
	imul $STACK_SIZE, %rax
	lea cpu_stacks(%rax), %rsp
	mov %rbp, %rdi
	test %rbp, %rbp
	jnz 3f
	call guest_start
	jmp halt_forever
3:	call ap_main
halt_forever:
	cli
	hlt
	jmp halt_forever

/*
 * AP trampoline, 16-bit real mode at physical 0 (CS=0). Copied there by
 * smp.c with the CPU index patched in by the BSP, one AP at a time.
 */
	.code16
	.globl trampoline_start, trampoline_end, trampoline_cpu
trampoline_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl (trampoline_gdt_desc - trampoline_start)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $SEL_KERNEL_CS32, $ap_protected
	.align 4
trampoline_cpu:
	.long 0
trampoline_gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
trampoline_end:

	.code32
ap_protected:
	mov $SEL_KERNEL_DS, %ax
	mov %ax, %ds
	mov (trampoline_cpu - trampoline_start), %ebp
	jmp enter_long_mode

/*
 * uint64_t user_call(uint64_t (*fn)(void *), void *arg, void *user_stack_top)
 * Run fn(arg) at CPL3 with IOPL 3 and return its result at CPL0. The
 * kernel context is kept in the per-CPU slot user_return_rsp[cpu] (gs is
 * not used: the CPU index is in this function's caller-saved state).
 */
	.code64
	.globl user_call_asm
user_call_asm:                           /* rdi=fn rsi=arg rdx=stack rcx=slot */
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, (%rcx)                     /* where syscall comes back to */
	mov %rcx, %r15
	pushq $(SEL_USER_DS | 3)
	push %rdx
	pushq $0x3202                        /* IOPL 3, IF, reserved bit 1 */
	pushq $(SEL_USER_CS | 3)
	lea user_trampoline(%rip), %rax
	push %rax
	mov %rdi, %rax
	mov %rsi, %rdi
	mov %r15, %rsi                       /* slot, passed back by syscall */
	iretq

user_trampoline:                         /* CPL3: rax=fn rdi=arg rsi=slot */
	push %rsi
	sub $8, %rsp
	call *%rax
	add $8, %rsp
	pop %rdi                             /* slot */
	/* Back to CPL0 through an exception: isr_dispatch recognises #UD at
	 * exactly this address. (SYSCALL would do, but PVM hosts do not take
	 * it from a guest that is not PVM-aware.) */
	.globl user_return_point
user_return_point:
	ud2

/* user_return_to_kernel(slot, result): resume user_call_asm's caller. */
	.globl user_return_to_kernel
user_return_to_kernel:
	mov (%rdi), %rsp
	mov %rsi, %rax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
