// SPDX-License-Identifier: MIT
/* CPUID fix-ups over a fake KVM_GET_SUPPORTED_CPUID table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpuid.h"

#define CAPACITY 16

static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + CAPACITY * sizeof(t->entries[0]));
	struct kvm_cpuid_entry2 e[] = {
		{ .function = 0, .eax = 0xd },
		{ .function = 1, .eax = 0x806f8, .ebx = 0x00010800, .ecx = 0x80202001,
		  .edx = 0x178bfbff },
		{ .function = 4, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0x1c004121 },
		{ .function = 4, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0x1c03c163 },
		{ .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0x40000001, .eax = 0x01007efb & ~(1u << 3) },
		{ .function = 0x80000008, .eax = 0x3039 },
	};

	t->nent = sizeof(e) / sizeof(e[0]);
	memcpy(t->entries, e, sizeof(e));
	return t;
}

Test(cpuid, hypervisor_bit_and_apic_id_per_vcpu)
{
	for (unsigned int vcpu = 0; vcpu < 4; vcpu++) {
		struct kvm_cpuid2 *t = fake_supported();
		struct kiln_err err = { 0 };
		struct kvm_cpuid_entry2 *e;

		cr_assert_eq(cpuid_fixup(t, CAPACITY, vcpu, 4, &err), 0, "%s", err.msg);
		e = cpuid_find(t, 1, 0);
		cr_assert(e->ecx & (1u << 31), "hypervisor bit");
		cr_assert_eq(e->ebx >> 24, vcpu, "APIC ID of vCPU %u", vcpu);
		cr_assert_eq((e->ebx >> 16) & 0xff, 4, "logical processor count");
		cr_assert(e->edx & (1u << 28), "HTT with several CPUs");
		cr_assert_eq(e->eax, 0x806f8, "family/model untouched");
		cr_assert_eq(cpuid_find(t, 0xb, 0)->edx, vcpu, "x2APIC ID in leaf 0xB");
		cr_assert_eq(cpuid_find(t, 0xb, 1)->ebx, 4, "4 logical CPUs at the core level");
		cr_assert_eq((cpuid_find(t, 0xb, 1)->ecx >> 8) & 0xff, 2, "core level type");
		cr_assert_eq(cpuid_find(t, 0xb, 0)->ebx, 1, "one thread per core");
		cr_assert_eq(cpuid_find(t, 4, 0)->eax >> 26, 3, "cores per package - 1");
		free(t);
	}
}

Test(cpuid, single_cpu_has_no_htt)
{
	struct kvm_cpuid2 *t = fake_supported();

	cr_assert_eq(cpuid_fixup(t, CAPACITY, 0, 1, NULL), 0);
	cr_assert_eq(cpuid_find(t, 1, 0)->edx & (1u << 28), 0);
	cr_assert_eq(cpuid_find(t, 4, 0)->eax >> 26, 0);
	free(t);
}

Test(cpuid, kvm_leaves_present_with_clocksource2)
{
	struct kvm_cpuid2 *t = fake_supported();
	struct kvm_cpuid_entry2 *sig, *feat;
	char name[13] = { 0 };

	cr_assert_eq(cpuid_fixup(t, CAPACITY, 0, 1, NULL), 0);
	sig = cpuid_find(t, 0x40000000, 0);
	feat = cpuid_find(t, 0x40000001, 0);
	cr_assert_not_null(sig, "signature leaf added");
	memcpy(name, &sig->ebx, 4);
	memcpy(name + 4, &sig->ecx, 4);
	memcpy(name + 8, &sig->edx, 4);
	cr_assert_str_eq(name, "KVMKVMKVM");
	cr_assert_geq(sig->eax, 0x40000001);
	cr_assert(feat->eax & KVM_PV_CLOCKSOURCE2, "clocksource2 added");
	cr_assert(feat->eax & KVM_PV_CLOCKSOURCE);
	cr_assert(feat->eax & (1u << 4), "what KVM offered is kept (async PF)");
	free(t);
}

Test(cpuid, full_table_is_an_error)
{
	struct kvm_cpuid2 *t = fake_supported();
	struct kiln_err err = { 0 };
	unsigned int capacity = t->nent; /* no room for the signature leaf */

	cr_assert_eq(cpuid_fixup(t, capacity, 0, 1, &err), -ENOSPC);
	cr_assert(strstr(err.msg, "KVM leaves"), "%s", err.msg);
	free(t);
}

Test(cpuid, bad_vcpu_index)
{
	struct kvm_cpuid2 *t = fake_supported();

	cr_assert_eq(cpuid_fixup(t, CAPACITY, 4, 4, NULL), -EINVAL);
	cr_assert_eq(cpuid_fixup(t, CAPACITY, 0, 0, NULL), -EINVAL);
	free(t);
}

Test(cpuid, physical_address_bits)
{
	struct kvm_cpuid2 *t = fake_supported();

	cr_assert_eq(cpuid_phys_addr_bits(t), 0x39);
	t->nent = 1; /* leaf 0x80000008 gone */
	cr_assert_eq(cpuid_phys_addr_bits(t), 36);
	free(t);
}

Test(cpuid, kvm_backed_bits_added)
{
	struct kvm_cpuid2 *t = fake_supported();
	struct cpuid_kvm_extras without = { .tsc_deadline = false }, with = { .tsc_deadline = true };

	cpuid_add_kvm_backed(t, &without);
	cr_assert_eq(cpuid_find(t, 1, 0)->ecx & (1u << 24), 0, "no TSC-deadline without the cap");
	cpuid_add_kvm_backed(t, &with);
	cr_assert(cpuid_find(t, 1, 0)->ecx & (1u << 24), "TSC-deadline with the cap");
	free(t);
}

Test(cpuid, trim_keeps_the_table_as_leaf_0_says)
{
	struct kvm_cpuid2 *t = fake_supported();
	unsigned int before = t->nent;

	cpuid_trim_to_max_leaves(t);
	cr_assert_eq(t->nent, before, "KVM's own table is consistent");
	cpuid_find(t, 0, 0)->eax = 4;
	cpuid_trim_to_max_leaves(t);
	cr_assert_not_null(cpuid_find(t, 4, 0));
	cr_assert_null(cpuid_find(t, 0xb, 0), "leaf 0xB above the maximum 4");
	cr_assert_not_null(cpuid_find(t, 0x40000001, 0), "hypervisor leaves stay");
	cr_assert_not_null(cpuid_find(t, 0x80000008, 0), "no 0x80000000 leaf: extended stay");
	free(t);
}

Test(cpuid, register_names)
{
	struct kvm_cpuid_entry2 e = { .eax = 1, .ebx = 2, .ecx = 3, .edx = 4 };

	for (int r = CPUID_EAX; r <= CPUID_EDX; r++) {
		cr_assert_eq(cpuid_reg_from_name(cpuid_reg_name((enum cpuid_reg)r)), r);
		cr_assert_eq(*cpuid_reg_ptr(&e, (enum cpuid_reg)r), (uint32_t)r + 1);
	}
	cr_assert_eq(cpuid_reg_from_name("EAX"), -1, "Firecracker's names are lower case");
}
