// SPDX-License-Identifier: MIT
/* The CPU as the guest reads it back: CPUID leaves and MSRs printed for
 * the host-side test to compare with what it asked kiln for, and the
 * features it relies on working when advertised (the TSC-deadline timer
 * fires; ARCH_CAPABILITIES reads). */
#include "guest.h"

#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_MISC_ENABLE       0x1a0
#define MSR_TSC_DEADLINE      0x6e0
#define TIMER_VECTOR          0x40
#define LVT_TIMER             (LAPIC_BASE + 0x320)
#define LVT_TSC_DEADLINE_MODE (2u << 17)
#define DEADLINE_CYCLES       100000u

static const struct { uint32_t leaf, subleaf; } leaves[] = {
	{ 0, 0 }, { 1, 0 }, { 6, 0 }, { 7, 0 }, { 7, 1 }, { 0xd, 1 },
	{ 0x80000000, 0 }, { 0x80000001, 0 },
};

static const uint32_t msrs[] = { MSR_ARCH_CAPABILITIES, MSR_MISC_ENABLE, MSR_TSC_DEADLINE };

static volatile unsigned int timer_fired;

/* RDMSR with a #GP caught: false when the MSR is not there. The MSR index
 * sits in RBX across the call that arms the handler. */
static bool rdmsr_safe(uint32_t msr, uint64_t *value)
{
	uint32_t lo = 0, hi = 0;

	__asm__ volatile("lea 1f(%%rip), %%rdi\n\t"
			 "call fault_expect\n\t"
			 "mov %%ebx, %%ecx\n\t"
			 "rdmsr\n"
			 "1:"
			 : "+a"(lo), "+d"(hi)
			 : "b"(msr)
			 : "rcx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	*value = ((uint64_t)hi << 32) | lo;
	return !fault_last().raised;
}

static void print_leaves(void)
{
	uint32_t a, b, c, d;

	for (unsigned int i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		cpuid(leaves[i].leaf, leaves[i].subleaf, &a, &b, &c, &d);
		report_info("cpuid 0x%x.%u: %08x %08x %08x %08x", leaves[i].leaf,
			    leaves[i].subleaf, a, b, c, d);
	}
}

static void print_msrs(void)
{
	uint64_t value;

	for (unsigned int i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		if (rdmsr_safe(msrs[i], &value))
			report_info("msr 0x%x: %016lx", msrs[i], value);
		else
			report_info("msr 0x%x: #GP", msrs[i]);
	}
}

static void timer_handler(struct regs *r)
{
	(void)r;
	timer_fired++;
	lapic_eoi();
}

/* One-shot TSC-deadline interrupt: arm IA32_TSC_DEADLINE a little ahead
 * and wait for it. */
static void check_tsc_deadline(void)
{
	uint64_t armed;

	idt_set_handler(TIMER_VECTOR, timer_handler);
	mmio_write32(LVT_TIMER, TIMER_VECTOR | LVT_TSC_DEADLINE_MODE);
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + DEADLINE_CYCLES);
	armed = rdmsr(MSR_TSC_DEADLINE);
	/* The interrupt may come before HLT; sti takes effect after hlt starts,
	 * so a pending one still wakes it. A lost one would hang: the test's
	 * timeout catches that. */
	while (!timer_fired)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	report(timer_fired == 1 && armed != 0, "TSC-deadline timer fired once (deadline 0x%lx)",
	       armed);
	report(rdmsr(MSR_TSC_DEADLINE) == 0, "IA32_TSC_DEADLINE reads 0 once it fired");
	mmio_write32(LVT_TIMER, 1u << 16); /* masked */
}

void guest_main(void)
{
	uint32_t a, b, c, d, max_basic;
	uint64_t value;

	cpuid(0, 0, &max_basic, &b, &c, &d);
	print_leaves();
	print_msrs();
	cpuid(1, 0, &a, &b, &c, &d);
	report(max_basic >= 1 && (c & (1u << 31)), "CPUID leaf 1 with the hypervisor bit");
	if (c & (1u << 24))
		check_tsc_deadline();
	else
		report_skip("TSC-deadline not advertised");
	cpuid(7, 0, &a, &b, &c, &d);
	if (max_basic >= 7 && (d & (1u << 29)))
		report(rdmsr_safe(MSR_ARCH_CAPABILITIES, &value),
		       "ARCH_CAPABILITIES advertised and readable");
}
