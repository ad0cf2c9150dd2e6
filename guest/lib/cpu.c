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
} __attribute__((packed));

#define MSR_STAR  0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_FMASK 0xc0000084

extern uint64_t gdt_tss[];
extern char syscall_entry[];
uint64_t user_call_asm(uint64_t (*fn)(void *), void *arg, void *stack, uint64_t *slot);

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
	tss[cpu].iomap_base = sizeof(struct tss64); /* no bitmap: IOPL decides */
	gdt_tss[2 * cpu] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
			   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt_tss[2 * cpu + 1] = base >> 32;
	__asm__ volatile("ltr %w0" :: "r"(SEL_TSS_BASE + 16 * cpu));
}

void user_init(void)
{
	/* SYSCALL loads CS from STAR[47:32] and SS from the next selector. */
	wrmsr(MSR_STAR, (uint64_t)SEL_KERNEL_CS << 32);
	wrmsr(MSR_LSTAR, (uintptr_t)syscall_entry);
	wrmsr(MSR_FMASK, 0x3700); /* clear IOPL, IF, TF, DF on the way back */
}

uint64_t user_call(uint64_t (*fn)(void *), void *arg)
{
	unsigned int cpu = cpu_index();

	return user_call_asm(fn, arg, user_stacks[cpu] + STACK_SIZE, &user_return_rsp[cpu]);
}
