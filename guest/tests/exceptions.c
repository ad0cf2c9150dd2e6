// SPDX-License-Identifier: MIT
/* #UD, #GP and #PF reach the guest's own handlers with the right error
 * code and CR2, at CPL0 and at CPL3. */
#include "guest.h"

#define UNMAPPED_ADDR 0x200000000ULL  /* 8 GiB: beyond the identity map */
#define NONCANONICAL  0x8000000000000000ULL

/* Run one faulting instruction with a resume point right after it. */
#define TRY(insn, ...)                                                        \
	do {                                                                  \
		__asm__ volatile("lea 1f(%%rip), %%rdi\n\t"                   \
				 "call fault_expect\n\t"                      \
				 insn "\n"                                    \
				 "1:"                                          \
				 :: __VA_ARGS__                               \
				 : "rax", "rcx", "rdx", "rsi", "rdi", "r8",    \
				   "r9", "r10", "r11", "memory");             \
	} while (0)

static void check(struct fault f, unsigned int vector, uint64_t error, const char *what)
{
	report(f.raised && f.vector == vector && f.error_code == error,
	       "%s: vector %u error 0x%lx (expected %u, 0x%lx)", what, f.vector, f.error_code,
	       vector, error);
}

static struct fault user_faults[2];

static uint64_t user_body(void *arg)
{
	(void)arg;
	TRY("ud2", "i"(0));
	user_faults[0] = fault_last();
	TRY("movq (%0), %%rax", "b"(UNMAPPED_ADDR));
	user_faults[1] = fault_last();
	return 0;
}

void guest_main(void)
{
	struct fault f;

	TRY("ud2", "i"(0));
	check(fault_last(), 6, 0, "#UD from ud2");

	TRY("movq (%0), %%rax", "b"(NONCANONICAL));
	check(fault_last(), 13, 0, "#GP from a non-canonical address");

	TRY("movq (%0), %%rax", "b"(UNMAPPED_ADDR));
	f = fault_last();
	check(f, 14, 0, "#PF on read of a not-present page");
	report(f.cr2 == UNMAPPED_ADDR, "#PF CR2 0x%lx is the faulting address", f.cr2);

	TRY("movq $1, (%0)", "b"(UNMAPPED_ADDR + 8));
	f = fault_last();
	check(f, 14, 2, "#PF on write: W bit in the error code");
	report(f.cr2 == UNMAPPED_ADDR + 8, "#PF CR2 on write");

	user_call(user_body, 0);
	check(user_faults[0], 6, 0, "#UD at CPL3");
	check(user_faults[1], 14, 4, "#PF at CPL3: U bit in the error code");
	report(user_faults[1].cr2 == UNMAPPED_ADDR, "#PF at CPL3: CR2");
}
