// SPDX-License-Identifier: MIT
/* --hyperv: the names it takes, and the CPUID leaves built from a fake
 * KVM_GET_SUPPORTED_HV_CPUID answer. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "x86/cpuid.h"
#include "x86/hyperv.h"

#define CAPACITY 24

/* Shaped like what KVM answers: more than kiln offers in every leaf
 * (VP runtime, reset, frequency MSRs, crash MSRs, post-message rights,
 * APIC-access hints, ...), so that the tests see those bits dropped. */
static struct kvm_cpuid2 *fake_kvm_hv(uint32_t features_edx)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + 8 * sizeof(t->entries[0]));
	struct kvm_cpuid_entry2 e[] = {
		{ .function = 0x40000000, .eax = 0x4000000a, .ebx = 0x756e694c, .ecx = 0x564b2078,
		  .edx = 0x7648204d },
		{ .function = 0x40000001, .eax = HV_CPUID_INTERFACE_EAX },
		{ .function = 0x40000002, .eax = 0x3839, .ebx = 0xa0000 },
		{ .function = 0x40000003, .eax = 0x00007fff, .ebx = 0x00000030,
		  .edx = features_edx },
		{ .function = 0x40000004, .eax = 0x0004062c, .ebx = 0x00000fff },
		{ .function = 0x40000005, .eax = 1024, .ebx = 64 },
		{ .function = 0x4000000a, .eax = 0x0002020e },
	};

	t->nent = sizeof(e) / sizeof(e[0]);
	memcpy(t->entries, e, sizeof(e));
	return t;
}

#define KVM_EDX_ALL (HV_STIMER_DIRECT_MODE | (1u << 4) | (1u << 8) | (1u << 10))

/* A vCPU's table after cpuid_fixup: KVM's own leaves at 0x40000000. */
static struct kvm_cpuid2 *fixed_up_table(void)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + CAPACITY * sizeof(t->entries[0]));
	struct kiln_err err = { 0 };

	t->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	t->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0x80202001 };
	t->entries[2] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x01007efb };
	t->nent = 3;
	cr_assert_eq(cpuid_fixup(t, CAPACITY, 0, 1, &err), 0, "%s", err.msg);
	return t;
}

static void assert_signature(struct kvm_cpuid2 *t, uint32_t leaf, const char *sig)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(t, leaf, 0);
	char got[13] = { 0 };

	cr_assert_not_null(e, "leaf 0x%x present", leaf);
	memcpy(got, &e->ebx, 4);
	memcpy(got + 4, &e->ecx, 4);
	memcpy(got + 8, &e->edx, 4);
	cr_assert_str_eq(got, sig, "leaf 0x%x's signature", leaf);
}

static struct kvm_cpuid2 *apply(unsigned int features, uint32_t kvm_edx, int expect)
{
	struct kvm_cpuid2 *t = fixed_up_table(), *hv = fake_kvm_hv(kvm_edx);
	struct kiln_err err = { 0 };

	cr_assert_eq(hyperv_cpuid_apply(t, CAPACITY, hv, features, &err), expect, "%s", err.msg);
	free(hv);
	return t;
}

Test(hyperv, every_feature_gets_its_bits_and_no_others)
{
	struct kvm_cpuid2 *t = apply(HYPERV_ALL, KVM_EDX_ALL, 0);
	struct kvm_cpuid_entry2 *features = cpuid_find(t, HV_CPUID_FEATURES, 0);
	struct kvm_cpuid_entry2 *hints = cpuid_find(t, HV_CPUID_ENLIGHTENMENTS, 0);

	assert_signature(t, 0x40000000, "Microsoft Hv");
	cr_assert_eq(cpuid_find(t, 0x40000000, 0)->eax, 0x40000005, "Hyper-V's maximum leaf");
	cr_assert_eq(cpuid_find(t, 0x40000001, 0)->eax, HV_CPUID_INTERFACE_EAX, "Hv#1");
	cr_assert_eq(features->eax, HV_ACCESS_HYPERCALL | HV_ACCESS_TIME_REF_COUNT |
		     HV_ACCESS_REFERENCE_TSC | HV_ACCESS_SYNIC | HV_ACCESS_STIMER |
		     HV_ACCESS_VP_INDEX, "privileges: 0x%x", features->eax);
	cr_assert_eq(features->ebx, 0, "no hypercall rights kiln does not serve");
	cr_assert_eq(features->edx, HV_STIMER_DIRECT_MODE, "only direct mode of KVM's EDX");
	cr_assert_eq(hints->eax, HV_RELAXED_TIMING_RECOMMENDED | HV_REMOTE_TLB_FLUSH_RECOMMENDED,
		     "hints: 0x%x", hints->eax);
	cr_assert_eq(hints->ebx, HV_SPINLOCK_NEVER_NOTIFY);
	cr_assert_eq(cpuid_find(t, 0x40000002, 0)->ebx, 0xa0000, "KVM's version kept");
	cr_assert_eq(cpuid_find(t, 0x40000005, 0)->eax, 1024, "KVM's limits kept");
	cr_assert_null(cpuid_find(t, 0x4000000a, 0), "no nested leaf");
	free(t);
}

Test(hyperv, kvm_leaves_move_to_0x40000100)
{
	struct kvm_cpuid2 *t = apply(HYPERV_RELAXED, 0, 0);
	struct kvm_cpuid_entry2 *kvm_features = cpuid_find(t, 0x40000101, 0);

	assert_signature(t, 0x40000100, "KVMKVMKVM");
	cr_assert_eq(cpuid_find(t, 0x40000100, 0)->eax, 0x40000101, "KVM's maximum leaf moved");
	cr_assert_not_null(kvm_features);
	cr_assert_eq(kvm_features->eax & 0x01007efb, 0x01007efb, "KVM's features kept");
	cr_assert(kvm_features->eax & KVM_PV_CLOCKSOURCE2, "kvm-clock still offered");
	free(t);
}

Test(hyperv, leaves_stay_as_before_without_hyperv)
{
	struct kvm_cpuid2 *t = fixed_up_table();

	assert_signature(t, 0x40000000, "KVMKVMKVM");
	cr_assert_null(cpuid_find(t, 0x40000100, 0));
	cr_assert_null(cpuid_find(t, 0x40000003, 0));
	free(t);
}

Test(hyperv, bits_not_asked_for_are_clear)
{
	struct kvm_cpuid2 *t = apply(HYPERV_RELAXED, KVM_EDX_ALL, 0);

	cr_assert_eq(cpuid_find(t, HV_CPUID_FEATURES, 0)->eax, HV_ACCESS_HYPERCALL);
	cr_assert_eq(cpuid_find(t, HV_CPUID_FEATURES, 0)->edx, 0);
	cr_assert_eq(cpuid_find(t, HV_CPUID_ENLIGHTENMENTS, 0)->eax,
		     HV_RELAXED_TIMING_RECOMMENDED);
	free(t);
}

Test(hyperv, a_feature_kvm_lacks_is_named)
{
	struct kvm_cpuid2 *t = fixed_up_table(), *hv = fake_kvm_hv(0);
	struct kiln_err err = { 0 };

	cr_assert_eq(hyperv_cpuid_apply(t, CAPACITY, hv, HYPERV_ALL, &err), -EOPNOTSUPP);
	cr_assert_str_eq(err.msg, "--hyperv: KVM cannot provide 'stimer-direct' on this host");
	assert_signature(t, 0x40000000, "KVMKVMKVM"); /* untouched on failure */
	free(hv);
	free(t);
}

Test(hyperv, no_room_is_an_error)
{
	struct kvm_cpuid2 *t = fixed_up_table(), *hv = fake_kvm_hv(KVM_EDX_ALL);
	struct kiln_err err = { 0 };

	cr_assert_eq(hyperv_cpuid_apply(t, t->nent + 2, hv, HYPERV_ALL, &err), -ENOSPC);
	free(hv);
	free(t);
}

Test(hyperv, names_bring_what_they_need)
{
	struct kiln_err err = { 0 };
	unsigned int f;

	cr_assert_eq(hyperv_parse(NULL, &f, &err), 0);
	cr_assert_eq(f, HYPERV_ALL);
	cr_assert_eq(hyperv_parse("relaxed", &f, &err), 0);
	cr_assert_eq(f, HYPERV_RELAXED);
	cr_assert_eq(hyperv_parse("stimer", &f, &err), 0);
	cr_assert_eq(f, HYPERV_STIMER | HYPERV_SYNIC | HYPERV_TIME | HYPERV_VPINDEX);
	cr_assert_eq(hyperv_parse("stimer-direct,relaxed", &f, &err), 0);
	cr_assert_eq(f, HYPERV_STIMER_DIRECT | HYPERV_STIMER | HYPERV_SYNIC | HYPERV_TIME |
		     HYPERV_VPINDEX | HYPERV_RELAXED);
	cr_assert_eq(hyperv_parse("tlbflush", &f, &err), 0);
	cr_assert_eq(f, HYPERV_TLBFLUSH | HYPERV_VPINDEX);
	cr_assert_eq(hyperv_parse("time,bogus", &f, &err), -EINVAL);
	cr_assert(strstr(err.msg, "--hyperv: unknown enlightenment 'bogus'"), "%s", err.msg);
	cr_assert_eq(hyperv_parse("relaxed,", &f, &err), -EINVAL, "an empty name");
}

#define ARGV(...) ((char *[]){ "kiln", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "kiln", __VA_ARGS__ }) / sizeof(char *)))

Test(hyperv, command_line)
{
	struct kiln_config cfg;
	struct kiln_err err = { 0 };

	cr_assert_eq(cli_parse(ARGC("run", "--kernel", "k"), ARGV("run", "--kernel", "k"), &cfg,
			       &err), 0);
	cr_assert_eq(cfg.hyperv, 0, "off unless asked for");
	cr_assert_eq(cli_parse(ARGC("run", "--kernel", "k", "--hyperv"),
			       ARGV("run", "--kernel", "k", "--hyperv"), &cfg, &err), 0);
	cr_assert_eq(cfg.hyperv, HYPERV_ALL);
	cr_assert_eq(cli_parse(ARGC("run", "--kernel", "k", "--hyperv=vpindex"),
			       ARGV("run", "--kernel", "k", "--hyperv=vpindex"), &cfg, &err), 0);
	cr_assert_eq(cfg.hyperv, HYPERV_VPINDEX);
	cr_assert_eq(cli_parse(ARGC("run", "--kernel", "k", "--hyperv=hv-time"),
			       ARGV("run", "--kernel", "k", "--hyperv=hv-time"), &cfg, &err),
		     -EINVAL);
}

Test(hyperv, state_msrs_are_listed_once)
{
	bool simp = false, stimer3_count = false, sint15 = false;

	for (unsigned int i = 0; i < hyperv_nr_state_msrs; i++) {
		uint32_t msr = hyperv_state_msrs[i].index;

		for (unsigned int j = i + 1; j < hyperv_nr_state_msrs; j++)
			cr_assert_neq(msr, hyperv_state_msrs[j].index, "0x%x twice", msr);
		simp |= msr == 0x40000083;
		sint15 |= msr == 0x4000009f;
		stimer3_count |= msr == 0x400000b7;
		cr_assert_neq(msr, 0x40000020, "the reference counter is kvm-clock's");
	}
	cr_assert(simp && sint15 && stimer3_count);
}
