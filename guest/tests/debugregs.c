// SPDX-License-Identifier: MIT
/* Debug registers the guest writes survive many exits unchanged. */
#include "guest.h"

#define EXITS 20000
#define DR7_VALUE 0x00000455UL /* L0-L3 on execute breakpoints, bit 10 reads as 1 */

#define SET_DR(n, v) __asm__ volatile("mov %0, %%db" #n :: "r"((uint64_t)(v)))
#define GET_DR(n, v) __asm__ volatile("mov %%db" #n ", %0" : "=r"(v))

static uint64_t exit_storm(void *arg)
{
	uint32_t a, b, c, d;

	(void)arg;
	for (unsigned int i = 0; i < EXITS; i++) {
		outb(0x5000, (uint8_t)i);
		if (!(i % 64))
			cpuid(0, 0, &a, &b, &c, &d);
	}
	return 0;
}

void guest_main(void)
{
	/* Breakpoint addresses nothing executes: low pages the guest never runs. */
	const uint64_t want[4] = { 0x1000, 0x2000, 0x3000, 0x5000 };
	uint64_t got[4], dr7;

	SET_DR(0, want[0]);
	SET_DR(1, want[1]);
	SET_DR(2, want[2]);
	SET_DR(3, want[3]);
	SET_DR(7, DR7_VALUE);
	user_call(exit_storm, 0);
	GET_DR(0, got[0]);
	GET_DR(1, got[1]);
	GET_DR(2, got[2]);
	GET_DR(3, got[3]);
	GET_DR(7, dr7);
	for (int i = 0; i < 4; i++)
		report(got[i] == want[i], "DR%d reads back 0x%lx after %d exits (got 0x%lx)", i,
		       want[i], EXITS, got[i]);
	report((dr7 & 0xffff) == DR7_VALUE, "DR7 reads back 0x%lx (got 0x%lx)", DR7_VALUE, dr7);
	SET_DR(7, 0x400);
}
