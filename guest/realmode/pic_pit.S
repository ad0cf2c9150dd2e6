/* SPDX-License-Identifier: MIT */
/*
 * A guest that runs in real mode, as a PC BIOS hands over: entered through
 * multiboot in 32-bit protected mode, it drops to real mode and, without
 * touching the 8259s' vector bases or the PIT, turns interrupts on and
 * waits with HLT. It checks that
 *   - PIT channel 0 is in mode 2 or 3 with LSB/MSB access (read-back status),
 *   - timer ticks arrive on IRQ 0 at vector 0x08 (three of them),
 *   - a pulse on ISA line 3 arrives at vector 0x0b and one on line 12 at
 *     vector 0x74 (pc-testdev's IRQ ports at 0x2000 + line), once each,
 *   - nothing else arrives,
 * then prints PASS/FAIL lines and a SUMMARY and exits through isa-debug-exit
 * (0: pass, 1: failures). With no timer state set up it waits for ever.
 */
#define COM1          0x3f8
#define COM1_LSR      0x3fd
#define LSR_THR_EMPTY 0x20
#define PIC1_CMD      0x20
#define PIC1_DATA     0x21
#define PIC2_CMD      0xa0
#define PIC2_DATA     0xa1
#define PIC_EOI       0x20
#define PIT_CH0       0x40
#define PIT_CMD       0x43
#define PIT_READBACK_STATUS_CH0 0xe2   /* read-back: status only, channel 0 */
#define ELCR1         0x4d0
#define ELCR2         0x4d1
#define TESTDEV_IRQ   0x2000
#define DEBUG_EXIT    0xf4
#define TICKS_WANTED  3

	.section .multiboot, "a"
	.balign 4
	.long 0x1badb002, 0, -0x1badb002

	.text
	.code32
	.globl _start
_start:
	cli
	lgdt gdt_descriptor
	ljmp $0x08, $protected16

	.code16
protected16:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl %cr0, %eax
	andl $~1, %eax
	movl %eax, %cr0
	ljmp $0, $real_mode

real_mode:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x7c00, %sp
	lidt ivt_descriptor
	call install_vectors
	movw $msg_hello, %si
	call puts

	/* What the 8259s and ELCR hold: information, not a check. */
	movw $msg_masks, %si
	call puts
	inb $PIC1_DATA, %al
	call puthex8
	inb $PIC2_DATA, %al
	call puthex8
	movw $msg_elcr, %si
	call puts
	movw $ELCR1, %dx
	inb %dx, %al
	call puthex8
	movw $ELCR2, %dx
	inb %dx, %al
	call puthex8
	call newline

	call check_pit_mode
	call check_ticks
	call check_pulses
	call check_unexpected
	jmp summary_and_exit

/* PIT channel 0's status byte: bits 1-3 mode, bits 4-5 access (3: LSB/MSB). */
check_pit_mode:
	movb $PIT_READBACK_STATUS_CH0, %al
	outb %al, $PIT_CMD
	inb $PIT_CH0, %al
	movb %al, %bl
	movw $msg_pit, %si
	andb $0x3e, %al
	cmpb $0x34, %al           /* access 3, mode 2 */
	je 1f
	cmpb $0x36, %al           /* access 3, mode 3 */
	je 1f
	call fail
	movb %bl, %al
	call puthex8
	jmp newline
1:	jmp pass_line

/* sti; hlt until three ticks have been counted. */
check_ticks:
	sti
1:	hlt
	cmpw $TICKS_WANTED, ticks
	jb 1b
	cli
	movw $msg_ticks, %si
	jmp pass_line

/* Unmask lines 3 and 12 (and the cascade), pulse each, wait for it. */
check_pulses:
	inb $PIC1_DATA, %al
	andb $~((1 << 3) | (1 << 2)), %al
	outb %al, $PIC1_DATA
	inb $PIC2_DATA, %al
	andb $~(1 << (12 - 8)), %al
	outb %al, $PIC2_DATA
	movw $TESTDEV_IRQ + 3, %dx
	call pulse_and_wait
	movw $TESTDEV_IRQ + 12, %dx
	call pulse_and_wait
	movw $msg_counts, %si
	call puts
	movb irq3_count, %al
	call puthex8
	movb irq12_count, %al
	call puthex8
	movb unexpected_count, %al
	call puthex8
	call newline
	movw $msg_irq3, %si
	cmpw $1, irq3_count
	call pass_if_equal
	movw $msg_irq12, %si
	cmpw $1, irq12_count
	jmp pass_if_equal

/* Raise and lower the line at port dx, then wait for an interrupt. */
pulse_and_wait:
	movb $1, %al
	outb %al, %dx
	xorb %al, %al
	outb %al, %dx
	sti
	hlt
	cli
	ret

check_unexpected:
	movw $msg_unexpected, %si
	cmpw $0, unexpected_count
	jmp pass_if_equal

/* PASS when the last compare found equal, else FAIL; line si. */
pass_if_equal:
	jne fail_line
pass_line:
	incw tests
	pushw %si
	movw $msg_pass, %si
	call puts
	popw %si
	call puts
	jmp newline
fail_line:
	call fail
	jmp newline
fail:
	incw tests
	incw failures
	pushw %si
	movw $msg_fail, %si
	call puts
	popw %si
	jmp puts

summary_and_exit:
	movw $msg_summary, %si
	call puts
	movw tests, %ax
	call putdec
	movw $msg_tests, %si
	call puts
	cmpw $0, failures
	je 1f
	movw $msg_comma, %si
	call puts
	movw failures, %ax
	call putdec
	movw $msg_unexpected_failures, %si
	call puts
1:	call newline
	movw failures, %ax
	testw %ax, %ax
	setnz %al
	outb %al, $DEBUG_EXIT
2:	cli
	hlt
	jmp 2b

/* Interrupt vectors: all to `unexpected`, then the three the test wants. */
install_vectors:
	xorw %di, %di
	movw $256, %cx
1:	movw $unexpected, (%di)
	movw $0, 2(%di)
	addw $4, %di
	loop 1b
	movw $timer_tick, 0x08 * 4
	movw $irq3, 0x0b * 4
	movw $irq12, 0x74 * 4
	ret

timer_tick:
	incw ticks
	jmp eoi_master
irq3:
	incw irq3_count
	jmp eoi_master
irq12:
	incw irq12_count
	jmp eoi_both
unexpected:
	incw unexpected_count
eoi_both:
	pushw %ax
	movb $PIC_EOI, %al
	outb %al, $PIC2_CMD
	popw %ax
eoi_master:
	pushw %ax
	movb $PIC_EOI, %al
	outb %al, $PIC1_CMD
	popw %ax
	iret

/* COM1 output: puts (si, NUL-terminated), putc (al), puthex8 (al), putdec (ax). */
putc:
	pushw %ax
	pushw %dx
	movb %al, %ah
	movw $COM1_LSR, %dx
1:	inb %dx, %al
	testb $LSR_THR_EMPTY, %al
	jz 1b
	movw $COM1, %dx
	movb %ah, %al
	outb %al, %dx
	popw %dx
	popw %ax
	ret
puts:
	pushw %ax
1:	lodsb
	testb %al, %al
	jz 2f
	call putc
	jmp 1b
2:	popw %ax
	ret
newline:
	pushw %ax
	movb $'\n', %al
	call putc
	popw %ax
	ret
puthex8:
	pushw %ax
	pushw %bx
	movb %al, %bl
	movb $' ', %al
	call putc
	movb %bl, %al
	shrb $4, %al
	call 1f
	movb %bl, %al
	call 1f
	popw %bx
	popw %ax
	ret
1:	andb $0xf, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 2f
	addb $('a' - '9' - 1), %al
2:	jmp putc
putdec:
	pushw %ax
	pushw %bx
	pushw %cx
	pushw %dx
	movw $10, %bx
	xorw %cx, %cx
1:	xorw %dx, %dx
	divw %bx
	pushw %dx
	incw %cx
	testw %ax, %ax
	jnz 1b
2:	popw %ax
	addb $'0', %al
	call putc
	loop 2b
	popw %dx
	popw %cx
	popw %bx
	popw %ax
	ret

	.section .rodata
	.balign 8
gdt:
	.quad 0
	.quad 0x00009a000000ffff   /* 0x08: 16-bit code, base 0, 64 KiB */
	.quad 0x000092000000ffff   /* 0x10: 16-bit data, base 0, 64 KiB */
gdt_end:
gdt_descriptor:
	.word gdt_end - gdt - 1
	.long gdt
ivt_descriptor:
	.word 0x3ff
	.long 0

msg_hello:      .asciz "INFO: realmode: in real mode\n"
msg_masks:      .asciz "INFO: PIC masks"
msg_elcr:       .asciz ", ELCR"
msg_counts:     .asciz "INFO: interrupts at 0x0b, 0x74, elsewhere:"
msg_pit:        .asciz "PIT channel 0 periodic (mode 2 or 3), LSB/MSB access"
msg_ticks:      .asciz "timer ticks arrive on IRQ 0 at vector 0x08 after sti; hlt"
msg_irq3:       .asciz "ISA line 3 pulse arrives once at vector 0x0b"
msg_irq12:      .asciz "ISA line 12 pulse arrives once at vector 0x74"
msg_unexpected: .asciz "no interrupt at any other vector"
msg_pass:       .asciz "PASS: "
msg_fail:       .asciz "FAIL: "
msg_summary:    .asciz "SUMMARY: "
msg_tests:      .asciz " tests"
msg_comma:      .asciz ", "
msg_unexpected_failures: .asciz " unexpected failures"

	.data
	.balign 2
ticks:            .word 0
irq3_count:       .word 0
irq12_count:      .word 0
unexpected_count: .word 0
tests:            .word 0
failures:         .word 0
