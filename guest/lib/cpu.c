// SPDX-License-Identifier: MIT
/* Per-CPU state: TSS (for the stack used when an interrupt arrives at
 * CPL3), syscall MSRs, and the CPL3 round trip. */
#include "guest.h"

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap_base;
	uint8_t iomap[8192 + 1];  /* all ports allowed; the final byte ends it */
} __attribute__((packed));

extern uint64_t gdt_tss[];
extern char user_return_point[];
uint64_t user_call_asm(uint64_t (*fn)(void *), void *arg, void *stack, uint64_t *slot);
__attribute__((noreturn)) void user_return_to_kernel(uint64_t *slot, uint64_t result);

static struct tss64 tss[MAX_CPUS];
static uint8_t irq_stacks[MAX_CPUS][4096] __attribute__((aligned(16)));
static uint8_t user_stacks[MAX_CPUS][STACK_SIZE] __attribute__((aligned(16)));
static uint64_t user_return_rsp[MAX_CPUS];

unsigned int cpu_index(void)
{
	return lapic_id();
}

void gdt_tss_init(unsigned int cpu)
{
	uint64_t base = (uintptr_t)&tss[cpu], limit = sizeof(tss[cpu]) - 1;


	tss[cpu].rsp[0] = (uintptr_t)irq_stacks[cpu] + sizeof(irq_stacks[cpu]);
	/* An all-zero I/O bitmap allows every port at CPL3 even where the
	 * host does not let a guest raise IOPL (PVM). */
	tss[cpu].iomap_base = __builtin_offsetof(struct tss64, iomap);
	tss[cpu].iomap[8192] = 0xff;
	gdt_tss[2 * cpu] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
			   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt_tss[2 * cpu + 1] = base >> 32;
	__asm__ volatile("ltr %w0" :: "r"(SEL_TSS_BASE + 16 * cpu));
}

void user_init(void)
{
}

bool user_return_trap(struct regs *r)
{
	if (r->vector != 6 || (r->cs & 3) != 3 || r->rip != (uintptr_t)user_return_point)
		return false;
	/* rdi holds the slot and rax the body's result, as the trampoline left them. */
	user_return_to_kernel((uint64_t *)r->rdi, r->rax);
}

uint64_t user_call(uint64_t (*fn)(void *), void *arg)
{
	unsigned int cpu = cpu_index();

	return user_call_asm(fn, arg, user_stacks[cpu] + STACK_SIZE, &user_return_rsp[cpu]);
}
