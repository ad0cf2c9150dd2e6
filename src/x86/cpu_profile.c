// SPDX-License-Identifier: MIT
#include "x86/cpu_profile.h"

#include "x86/cpuid.h"

#define LEAF1_ECX_MOVBE (1u << 22)

enum cpu_template cpu_template_resolve(enum cpu_template requested, bool pvm_host,
				       bool no_pvm_profile)
{
	if (requested != CPU_TEMPLATE_AUTO)
		return requested;
	return pvm_host && !no_pvm_profile ? CPU_TEMPLATE_PVM_SAFE : CPU_TEMPLATE_HOST;
}

void cpu_profile_apply(struct kvm_cpuid2 *table, enum cpu_template profile)
{
	struct kvm_cpuid_entry2 *leaf0 = cpuid_find(table, 0, 0), *leaf1 = cpuid_find(table, 1, 0);
	uint32_t out = 0;

	if (profile != CPU_TEMPLATE_PVM_SAFE)
		return;
	if (leaf0 && leaf0->eax > PVM_SAFE_MAX_BASIC_LEAF)
		leaf0->eax = PVM_SAFE_MAX_BASIC_LEAF;
	if (leaf1)
		leaf1->ecx &= ~LEAF1_ECX_MOVBE; /* inside the supported set: clearable */
	/* Drop the basic leaves above the new maximum too, so the table says
	 * the same as leaf 0. */
	for (uint32_t i = 0; i < table->nent; i++) {
		uint32_t f = table->entries[i].function;

		if (f < 0x40000000u && f > PVM_SAFE_MAX_BASIC_LEAF)
			continue;
		table->entries[out++] = table->entries[i];
	}
	table->nent = out;
}
