// SPDX-License-Identifier: MIT
/* --cpu host[,+f|-f]...: names, parsing, and what the changes do to a
 * synthetic CPUID table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpu_features.h"

#define LEAF1_ECX_X2APIC   (1u << 21)
#define LEAF1_ECX_XSAVE    (1u << 26)
#define LEAF1_ECX_AVX      (1u << 28)
#define LEAF1_ECX_FMA      (1u << 12)
#define LEAF7_EBX_AVX2     (1u << 5)
#define LEAF7_EBX_AVX512F  (1u << 16)
#define LEAF7_EBX_SMAP     (1u << 20)
#define LEAF7_ECX_LA57     (1u << 16)
#define EXT1_EDX_RDTSCP    (1u << 27)

/* A table as a host with x2APIC, XSAVE, AVX, FMA, AVX2, SMAP, RDTSCP and
 * the XSAVE extensions would have, after kiln's fix-ups. */
static struct kvm_cpuid2 *table(void)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + 8 * sizeof(t->entries[0]));
	struct kvm_cpuid_entry2 e[] = {
		{ .function = 0, .eax = 0xd },
		{ .function = 1, .ecx = LEAF1_ECX_X2APIC | LEAF1_ECX_XSAVE | LEAF1_ECX_AVX |
					LEAF1_ECX_FMA | (1u << 31) | (1u << 24) },
		{ .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ebx = LEAF7_EBX_AVX2 | LEAF7_EBX_SMAP },
		{ .function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0xf },
		{ .function = 0x80000001, .edx = EXT1_EDX_RDTSCP | (1u << 29) },
	};

	t->nent = sizeof(e) / sizeof(e[0]);
	memcpy(t->entries, e, sizeof(e));
	return t;
}

static int apply(struct kvm_cpuid2 *t, const char *spec_text, struct kiln_err *err)
{
	struct cpu_feature_spec spec;
	int ret = cpu_feature_spec_parse(spec_text, &spec, err);

	cr_assert_eq(ret, 0, "%s: %s", spec_text, err->msg);
	return cpu_features_apply(t, &spec, err);
}

Test(cpu_features, names_map_to_the_documented_bits)
{
	static const struct { const char *name; uint32_t leaf, subleaf; enum cpuid_reg reg;
			      unsigned int bit; } expected[] = {
		{ "x2apic", 1, 0, CPUID_ECX, 21 }, { "tsc_deadline_timer", 1, 0, CPUID_ECX, 24 },
		{ "movbe", 1, 0, CPUID_ECX, 22 }, { "xsave", 1, 0, CPUID_ECX, 26 },
		{ "hypervisor", 1, 0, CPUID_ECX, 31 }, { "sse2", 1, 0, CPUID_EDX, 26 },
		{ "avx2", 7, 0, CPUID_EBX, 5 }, { "smap", 7, 0, CPUID_EBX, 20 },
		{ "pku", 7, 0, CPUID_ECX, 3 }, { "la57", 7, 0, CPUID_ECX, 16 },
		{ "arch_capabilities", 7, 0, CPUID_EDX, 29 }, { "xsaves", 0xd, 1, CPUID_EAX, 3 },
		{ "rdtscp", 0x80000001, 0, CPUID_EDX, 27 }, { "lahf_lm", 0x80000001, 0, CPUID_ECX, 0 },
		{ "avx512_bf16", 7, 1, CPUID_EAX, 5 },
	};

	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const struct cpu_feature *f = cpu_feature_find(expected[i].name);

		cr_assert_not_null(f, "%s", expected[i].name);
		cr_assert(f->leaf == expected[i].leaf && f->subleaf == expected[i].subleaf &&
			  f->reg == expected[i].reg && f->bit == expected[i].bit, "%s",
			  expected[i].name);
	}
	cr_assert_null(cpu_feature_find("x2APIC"), "names are Linux's, lower case");
	cr_assert_null(cpu_feature_find(""));
}

Test(cpu_features, every_name_is_unique_and_every_prerequisite_known)
{
	static const char *const sample[] = { "fpu", "avx", "avx512f", "xsaveopt", "3dnow" };

	for (size_t i = 0; i < sizeof(sample) / sizeof(sample[0]); i++) {
		const struct cpu_feature *f = cpu_feature_find(sample[i]);

		cr_assert_not_null(f);
		if (f->needs)
			cr_assert_not_null(cpu_feature_find(f->needs), "%s needs %s", f->name,
					   f->needs);
	}
}

Test(cpu_features, parse_errors_say_what_is_wrong)
{
	static const struct { const char *text, *message; } bad[] = {
		{ "host,+foo", "--cpu: unknown CPU feature 'foo'" },
		{ "host,-bar", "--cpu: unknown CPU feature 'bar'" },
		{ "host,x2apic", "--cpu: 'x2apic' must be +x2apic (add) or -x2apic (remove)" },
		{ "max", "--cpu: unknown CPU model 'max' (kiln has 'host')" },
		{ "", "--cpu: unknown CPU model '' (kiln has 'host')" },
		{ "+x2apic", "--cpu: unknown CPU model '+x2apic' (kiln has 'host')" },
	};
	struct cpu_feature_spec spec;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kiln_err err = { 0 };

		cr_assert_eq(cpu_feature_spec_parse(bad[i].text, &spec, &err), -EINVAL, "%s",
			     bad[i].text);
		cr_assert_str_eq(err.msg, bad[i].message);
	}
}

Test(cpu_features, parse_keeps_the_order)
{
	struct cpu_feature_spec spec;
	struct kiln_err err = { 0 };

	cr_assert_eq(cpu_feature_spec_parse("host,-x2apic,+rdtscp,-x2apic", &spec, &err), 0);
	cr_assert_eq(spec.nr_changes, 3);
	cr_assert_str_eq(spec.changes[0].feature->name, "x2apic");
	cr_assert_not(spec.changes[0].enable);
	cr_assert_str_eq(spec.changes[1].feature->name, "rdtscp");
	cr_assert(spec.changes[1].enable);
	cr_assert_eq(cpu_feature_spec_parse("host", &spec, &err), 0);
	cr_assert_eq(spec.nr_changes, 0);
}

Test(cpu_features, too_many_changes)
{
	char text[8 + 8 * (CPU_MAX_FEATURE_CHANGES + 1)] = "host";
	struct cpu_feature_spec spec;
	struct kiln_err err = { 0 };

	for (int i = 0; i <= CPU_MAX_FEATURE_CHANGES; i++)
		strcat(text, ",-fpu");
	cr_assert_eq(cpu_feature_spec_parse(text, &spec, &err), -EINVAL);
	cr_assert(strstr(err.msg, "more than"), "%s", err.msg);
}

Test(cpu_features, minus_clears_only_that_bit)
{
	struct kvm_cpuid2 *t = table();
	struct kiln_err err = { 0 };
	uint32_t ecx = cpuid_find(t, 1, 0)->ecx;

	cr_assert_eq(apply(t, "host,-x2apic,-rdtscp", &err), 0, "%s", err.msg);
	cr_assert_eq(cpuid_find(t, 1, 0)->ecx, ecx & ~LEAF1_ECX_X2APIC);
	cr_assert_eq(cpuid_find(t, 0x80000001, 0)->edx, 1u << 29, "rdtscp gone, lm kept");
	cr_assert_eq(apply(t, "host,-la57", &err), 0, "clearing an absent bit is fine");
	free(t);
}

Test(cpu_features, clearing_xsave_clears_what_needs_it)
{
	struct kvm_cpuid2 *t = table();
	struct kiln_err err = { 0 };

	cr_assert_eq(apply(t, "host,-xsave", &err), 0, "%s", err.msg);
	cr_assert_eq(cpuid_find(t, 1, 0)->ecx & (LEAF1_ECX_XSAVE | LEAF1_ECX_AVX | LEAF1_ECX_FMA),
		     0, "xsave, avx, fma");
	cr_assert_eq(cpuid_find(t, 7, 0)->ebx, LEAF7_EBX_SMAP, "avx2 gone, smap kept");
	cr_assert_eq(cpuid_find(t, 0xd, 1)->eax, 0, "xsaveopt, xsavec, xgetbv1, xsaves");
	cr_assert(cpuid_find(t, 1, 0)->ecx & LEAF1_ECX_X2APIC, "unrelated bits stay");
	free(t);
}

Test(cpu_features, plus_needs_what_kvm_backs)
{
	struct kvm_cpuid2 *t = table();
	struct kiln_err err = { 0 };
	uint32_t ebx = cpuid_find(t, 7, 0)->ebx;

	cr_assert_eq(apply(t, "host,+avx2,+tsc_deadline_timer,+hypervisor", &err), 0, "%s",
		     err.msg);
	cr_assert_eq(cpuid_find(t, 7, 0)->ebx, ebx);
	cr_assert_eq(apply(t, "host,-x2apic,+avx512f", &err), -EOPNOTSUPP);
	cr_assert_str_eq(err.msg, "--cpu: KVM cannot provide 'avx512f' on this host");
	cr_assert(cpuid_find(t, 1, 0)->ecx & LEAF1_ECX_X2APIC, "nothing applied on error");
	cr_assert_eq(apply(t, "host,+la57", &err), -EOPNOTSUPP);
	free(t);
}

Test(cpu_features, plus_can_restore_what_minus_took_and_needs_its_prerequisite)
{
	struct kvm_cpuid2 *t = table();
	struct kiln_err err = { 0 };

	cr_assert_eq(apply(t, "host,-x2apic,+x2apic", &err), 0, "%s", err.msg);
	cr_assert(cpuid_find(t, 1, 0)->ecx & LEAF1_ECX_X2APIC, "the last change wins");
	cr_assert_eq(apply(t, "host,-avx,+avx2", &err), -EINVAL);
	cr_assert_str_eq(err.msg, "--cpu: 'avx2' needs 'avx', which is off");
	free(t);
}

Test(cpu_features, a_missing_leaf_is_not_provided)
{
	struct kvm_cpuid2 *t = table();
	struct kiln_err err = { 0 };

	t->nent = 2; /* leaf 7 and above gone */
	cr_assert_eq(apply(t, "host,+smap", &err), -EOPNOTSUPP);
	cr_assert_not(cpu_feature_present(t, cpu_feature_find("smap")));
	free(t);
}
