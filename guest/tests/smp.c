// SPDX-License-Identifier: MIT
/* Every CPU the VMM reports through fw_cfg starts with INIT/SIPI, runs
 * work at CPL0 and at CPL3, and has a distinct APIC ID. */
#include "guest.h"

static volatile uint64_t seen_mask;
static volatile unsigned int user_runs;

static uint64_t user_body(void *arg)
{
	return (uint64_t)(uintptr_t)arg * 2 + 1;
}

static void check_in(void *arg)
{
	(void)arg;
	__atomic_or_fetch(&seen_mask, 1ULL << lapic_id(), __ATOMIC_RELAXED);
	if (user_call(user_body, (void *)(uintptr_t)lapic_id()) == lapic_id() * 2 + 1)
		__atomic_add_fetch(&user_runs, 1, __ATOMIC_RELAXED);
}

void guest_main(void)
{
	unsigned int expected = (unsigned int)fw_cfg_read(FW_CFG_NB_CPUS, 2);
	unsigned int up = smp_start(expected);

	report_info("fw_cfg reports %u CPUs", expected);
	report(expected >= 1, "fw_cfg CPU count");
	report(up == expected, "%u of %u CPUs checked in", up, expected);
	for (unsigned int i = 0; i < up; i++)
		on_cpu(i, check_in, 0);
	report(seen_mask == (up >= 64 ? ~0ULL : (1ULL << up) - 1),
	       "APIC IDs 0..%u each ran work (mask 0x%lx)", up - 1, seen_mask);
	report(user_runs == up, "every CPU ran code at CPL3 and came back (%u)", user_runs);
}
