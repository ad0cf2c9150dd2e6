// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdlib.h>

#include "x86/cpu_profile.h"
#include "x86/cpuid.h"

Test(cpu_profile, automatic_only_on_pvm)
{
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, true, false), CPU_TEMPLATE_PVM_SAFE);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, true, true), CPU_TEMPLATE_HOST);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, false, false), CPU_TEMPLATE_HOST);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_PVM_SAFE, false, false),
		     CPU_TEMPLATE_PVM_SAFE, "asked for explicitly");
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_HOST, true, false), CPU_TEMPLATE_HOST);
}

Test(cpu_profile, pvm_safe_hides_leaves_above_6)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + 8 * sizeof(t->entries[0]));

	t->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x24 };
	t->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = (1u << 22) | 1 };
	t->entries[2] = (struct kvm_cpuid_entry2){ .function = 7, .ebx = 1u << 20 };
	t->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xd, .eax = 7 };
	t->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 8 };
	t->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x2e };
	t->nent = 6;
	cpu_profile_apply(t, CPU_TEMPLATE_HOST);
	cr_assert_eq(t->nent, 6, "host changes nothing");
	cpu_profile_apply(t, CPU_TEMPLATE_PVM_SAFE);
	cr_assert_eq(cpuid_find(t, 0, 0)->eax, 6);
	cr_assert_null(cpuid_find(t, 7, 0), "leaf 7 (SMAP, INVPCID) gone");
	cr_assert_null(cpuid_find(t, 0xd, 0), "leaf 0xD (XSAVE) gone");
	cr_assert_eq(cpuid_find(t, 1, 0)->ecx, 1, "MOVBE cleared, the rest kept");
	cr_assert_not_null(cpuid_find(t, 0x40000001, 0), "KVM leaves stay");
	cr_assert_not_null(cpuid_find(t, 0x80000008, 0), "extended leaves stay");
	free(t);
}
