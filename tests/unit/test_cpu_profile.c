// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "x86/cpu_profile.h"
#include "x86/cpuid.h"

Test(cpu_profile, automatic_only_on_pvm)
{
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, true, false, false),
		     CPU_TEMPLATE_PVM_SAFE);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, true, true, false), CPU_TEMPLATE_HOST);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, false, false, false),
		     CPU_TEMPLATE_HOST);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_PVM_SAFE, false, false, false),
		     CPU_TEMPLATE_PVM_SAFE, "asked for explicitly");
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_HOST, true, false, false),
		     CPU_TEMPLATE_HOST);
}

Test(cpu_profile, a_cpu_model_turns_the_automatic_profile_off)
{
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_AUTO, true, false, true), CPU_TEMPLATE_HOST);
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_PVM_SAFE, true, false, true),
		     CPU_TEMPLATE_PVM_SAFE, "an explicit template still applies");
	cr_assert_eq(cpu_template_resolve(CPU_TEMPLATE_CUSTOM, true, false, true),
		     CPU_TEMPLATE_CUSTOM);
}

static void apply_profile(struct kvm_cpuid2 *t, unsigned int capacity, enum cpu_template p)
{
	struct cpu_config config;
	struct kiln_err err = { 0 };

	cr_assert_eq(cpu_profile_template(p, NULL, &config, &err), 0, "%s", err.msg);
	cr_assert_eq(cpu_template_apply_cpuid(t, capacity, &config, &err), 0, "%s", err.msg);
	cpu_template_free(&config);
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
	t->entries[6] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000008 };
	t->nent = 7;
	apply_profile(t, 8, CPU_TEMPLATE_HOST);
	cr_assert_eq(t->nent, 7, "host changes nothing");
	apply_profile(t, 8, CPU_TEMPLATE_PVM_SAFE);
	cr_assert_eq(cpuid_find(t, 0, 0)->eax, 6);
	cr_assert_null(cpuid_find(t, 7, 0), "leaf 7 (SMAP, INVPCID) gone");
	cr_assert_null(cpuid_find(t, 0xd, 0), "leaf 0xD (XSAVE) gone");
	cr_assert_eq(cpuid_find(t, 1, 0)->ecx, 1, "MOVBE cleared, the rest kept");
	cr_assert_not_null(cpuid_find(t, 0x40000001, 0), "KVM leaves stay");
	cr_assert_not_null(cpuid_find(t, 0x80000008, 0), "extended leaves stay");
	free(t);
}

Test(cpu_profile, custom_needs_its_json)
{
	struct cpu_config config;
	struct kiln_err err = { 0 };

	cr_assert_eq(cpu_profile_template(CPU_TEMPLATE_CUSTOM, NULL, &config, &err), -EINVAL);
	cr_assert_eq(cpu_profile_template(CPU_TEMPLATE_CUSTOM, "{\"msr_modifiers\": [{\"addr\": "
					  "\"0x10a\", \"bitmap\": \"0b" "0000000000000000"
					  "0000000000000000" "0000000000000000"
					  "000000000000000x\"}]}", &config, &err), 0, "%s", err.msg);
	cr_assert_eq(config.nr_msrs, 1);
	cr_assert_eq(config.msrs[0].mask, ~1ull);
	cpu_template_free(&config);
}
