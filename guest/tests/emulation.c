// SPDX-License-Identifier: MIT
/*
 * Instructions a software KVM backend (PVM) refuses at CPL0 and kiln
 * completes itself: INT3, INT n, POPCNT, FWAIT, LDMXCSR/STMXCSR and LOCK
 * CMPXCHG16B, each checked for its architectural result. On hardware
 * virtualisation they simply run.
 */
#include "guest.h"

static volatile unsigned int bp_hits, int40_hits;
static volatile uint64_t bp_rip;

static void on_bp(struct regs *r)
{
	bp_hits++;
	bp_rip = r->rip;
}

static void on_int40(struct regs *r)
{
	(void)r;
	int40_hits++;
}

static unsigned __int128 slot __attribute__((aligned(16)));
static uint8_t misaligned_area[32] __attribute__((aligned(16)));

static bool cmpxchg16b(unsigned __int128 *p, uint64_t *lo, uint64_t *hi, uint64_t new_lo,
		       uint64_t new_hi)
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1; sete %0"
			 : "=q"(ok), "+m"(*p), "+a"(*lo), "+d"(*hi)
			 : "b"(new_lo), "c"(new_hi) : "memory", "cc");
	return ok;
}

void guest_main(void)
{
	uint64_t label, count, src = 0xf0f0f0f0f0f0f0f0ULL, flags, lo, hi;
	uint32_t mxcsr_in = 0x7f80, mxcsr_out = 0;
	struct fault f;

	idt_set_handler(3, on_bp);
	idt_set_handler(0x40, on_int40);

	__asm__ volatile("lea 1f(%%rip), %0; int3; 1:" : "=r"(label));
	report(bp_hits == 1 && bp_rip == label, "int3 reached the #BP handler, RIP after it");
	__asm__ volatile("int $0x40");
	report(int40_hits == 1, "int $0x40 reached its handler");

	__asm__ volatile("popcnt %1, %0" : "=r"(count) : "r"(src) : "cc");
	report(count == 32, "popcnt of a register: %lu", count);
	__asm__ volatile("popcnt %1, %0" : "=r"(count) : "m"(src) : "cc");
	report(count == 32, "popcnt of memory: %lu", count);
	src = 0;
	__asm__ volatile("popcnt %2, %0; pushfq; pop %1" : "=r"(count), "=r"(flags) : "r"(src) : "cc");
	report(count == 0 && (flags & 0x40), "popcnt of zero sets ZF");

	__asm__ volatile("fwait");
	report(true, "fwait retired");

	/* Before the OS enables SSE state (CR4.OSFXSR) LDMXCSR is #UD, on
	 * hardware and when kiln completes it alike. */
	__asm__ volatile("lea 1f(%%rip), %%rdi; call fault_expect; ldmxcsr %0; 1:"
			 :: "m"(mxcsr_in)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
	f = fault_last();
	report(f.raised && f.vector == 6, "ldmxcsr without CR4.OSFXSR raises #UD (vector %u)",
	       f.raised ? f.vector : 0);
	__asm__ volatile("mov %%cr4, %%rax; or $0x600, %%rax; mov %%rax, %%cr4" ::: "rax");
	__asm__ volatile("ldmxcsr %0" :: "m"(mxcsr_in));
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr_out));
	report(mxcsr_out == mxcsr_in, "ldmxcsr/stmxcsr round trip: 0x%x", mxcsr_out);

	slot = ((unsigned __int128)2 << 64) | 1;
	lo = 1, hi = 2;
	report(cmpxchg16b(&slot, &lo, &hi, 3, 4) && slot == (((unsigned __int128)4 << 64) | 3),
	       "cmpxchg16b stores when RDX:RAX matches");
	lo = 9, hi = 9;
	report(!cmpxchg16b(&slot, &lo, &hi, 5, 6) && lo == 3 && hi == 4,
	       "cmpxchg16b loads RDX:RAX when it does not");
	__asm__ volatile("lea 1f(%%rip), %%rdi; call fault_expect; xor %%eax, %%eax; xor %%edx, %%edx;"
			 "lock cmpxchg16b (%0); 1:"
			 :: "r"(misaligned_area + 8)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
	f = fault_last();
	report(f.raised && f.vector == 13, "a misaligned cmpxchg16b raises #GP (vector %u)",
	       f.vector);
}
