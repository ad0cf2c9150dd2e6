// SPDX-License-Identifier: MIT
#include "x86/cpu_features.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EXT 0x80000001u

/* Bit positions from the Intel SDM (vol. 2, CPUID) and the AMD APM (vol. 3,
 * appendix E); names as Linux prints them in /proc/cpuinfo. */
static const struct cpu_feature features[] = {
	/* leaf 1 EDX */
	{ "fpu", 1, 0, CPUID_EDX, 0, NULL }, { "vme", 1, 0, CPUID_EDX, 1, NULL },
	{ "de", 1, 0, CPUID_EDX, 2, NULL }, { "pse", 1, 0, CPUID_EDX, 3, NULL },
	{ "tsc", 1, 0, CPUID_EDX, 4, NULL }, { "msr", 1, 0, CPUID_EDX, 5, NULL },
	{ "pae", 1, 0, CPUID_EDX, 6, NULL }, { "mce", 1, 0, CPUID_EDX, 7, NULL },
	{ "cx8", 1, 0, CPUID_EDX, 8, NULL }, { "apic", 1, 0, CPUID_EDX, 9, NULL },
	{ "sep", 1, 0, CPUID_EDX, 11, NULL }, { "mtrr", 1, 0, CPUID_EDX, 12, NULL },
	{ "pge", 1, 0, CPUID_EDX, 13, NULL }, { "mca", 1, 0, CPUID_EDX, 14, NULL },
	{ "cmov", 1, 0, CPUID_EDX, 15, NULL }, { "pat", 1, 0, CPUID_EDX, 16, NULL },
	{ "pse36", 1, 0, CPUID_EDX, 17, NULL }, { "clflush", 1, 0, CPUID_EDX, 19, NULL },
	{ "dts", 1, 0, CPUID_EDX, 21, NULL }, { "acpi", 1, 0, CPUID_EDX, 22, NULL },
	{ "mmx", 1, 0, CPUID_EDX, 23, NULL }, { "fxsr", 1, 0, CPUID_EDX, 24, NULL },
	{ "sse", 1, 0, CPUID_EDX, 25, NULL }, { "sse2", 1, 0, CPUID_EDX, 26, NULL },
	{ "ss", 1, 0, CPUID_EDX, 27, NULL }, { "ht", 1, 0, CPUID_EDX, 28, NULL },
	{ "tm", 1, 0, CPUID_EDX, 29, NULL }, { "pbe", 1, 0, CPUID_EDX, 31, NULL },
	/* leaf 1 ECX */
	{ "pni", 1, 0, CPUID_ECX, 0, NULL }, { "pclmulqdq", 1, 0, CPUID_ECX, 1, NULL },
	{ "dtes64", 1, 0, CPUID_ECX, 2, NULL }, { "monitor", 1, 0, CPUID_ECX, 3, NULL },
	{ "ds_cpl", 1, 0, CPUID_ECX, 4, NULL }, { "vmx", 1, 0, CPUID_ECX, 5, NULL },
	{ "smx", 1, 0, CPUID_ECX, 6, NULL }, { "est", 1, 0, CPUID_ECX, 7, NULL },
	{ "tm2", 1, 0, CPUID_ECX, 8, NULL }, { "ssse3", 1, 0, CPUID_ECX, 9, NULL },
	{ "cid", 1, 0, CPUID_ECX, 10, NULL }, { "sdbg", 1, 0, CPUID_ECX, 11, NULL },
	{ "fma", 1, 0, CPUID_ECX, 12, "avx" }, { "cx16", 1, 0, CPUID_ECX, 13, NULL },
	{ "xtpr", 1, 0, CPUID_ECX, 14, NULL }, { "pdcm", 1, 0, CPUID_ECX, 15, NULL },
	{ "pcid", 1, 0, CPUID_ECX, 17, NULL }, { "dca", 1, 0, CPUID_ECX, 18, NULL },
	{ "sse4_1", 1, 0, CPUID_ECX, 19, NULL }, { "sse4_2", 1, 0, CPUID_ECX, 20, NULL },
	{ "x2apic", 1, 0, CPUID_ECX, 21, NULL }, { "movbe", 1, 0, CPUID_ECX, 22, NULL },
	{ "popcnt", 1, 0, CPUID_ECX, 23, NULL },
	{ "tsc_deadline_timer", 1, 0, CPUID_ECX, 24, NULL },
	{ "aes", 1, 0, CPUID_ECX, 25, NULL }, { "xsave", 1, 0, CPUID_ECX, 26, NULL },
	{ "avx", 1, 0, CPUID_ECX, 28, "xsave" }, { "f16c", 1, 0, CPUID_ECX, 29, "avx" },
	{ "rdrand", 1, 0, CPUID_ECX, 30, NULL }, { "hypervisor", 1, 0, CPUID_ECX, 31, NULL },
	/* leaf 6 EAX */
	{ "arat", 6, 0, CPUID_EAX, 2, NULL },
	/* leaf 7.0 EBX */
	{ "fsgsbase", 7, 0, CPUID_EBX, 0, NULL }, { "tsc_adjust", 7, 0, CPUID_EBX, 1, NULL },
	{ "sgx", 7, 0, CPUID_EBX, 2, NULL }, { "bmi1", 7, 0, CPUID_EBX, 3, NULL },
	{ "hle", 7, 0, CPUID_EBX, 4, NULL }, { "avx2", 7, 0, CPUID_EBX, 5, "avx" },
	{ "smep", 7, 0, CPUID_EBX, 7, NULL }, { "bmi2", 7, 0, CPUID_EBX, 8, NULL },
	{ "erms", 7, 0, CPUID_EBX, 9, NULL }, { "invpcid", 7, 0, CPUID_EBX, 10, NULL },
	{ "rtm", 7, 0, CPUID_EBX, 11, NULL }, { "mpx", 7, 0, CPUID_EBX, 14, NULL },
	{ "avx512f", 7, 0, CPUID_EBX, 16, "avx" },
	{ "avx512dq", 7, 0, CPUID_EBX, 17, "avx512f" }, { "rdseed", 7, 0, CPUID_EBX, 18, NULL },
	{ "adx", 7, 0, CPUID_EBX, 19, NULL }, { "smap", 7, 0, CPUID_EBX, 20, NULL },
	{ "avx512ifma", 7, 0, CPUID_EBX, 21, "avx512f" },
	{ "clflushopt", 7, 0, CPUID_EBX, 23, NULL }, { "clwb", 7, 0, CPUID_EBX, 24, NULL },
	{ "intel_pt", 7, 0, CPUID_EBX, 25, NULL },
	{ "avx512pf", 7, 0, CPUID_EBX, 26, "avx512f" },
	{ "avx512er", 7, 0, CPUID_EBX, 27, "avx512f" },
	{ "avx512cd", 7, 0, CPUID_EBX, 28, "avx512f" }, { "sha_ni", 7, 0, CPUID_EBX, 29, NULL },
	{ "avx512bw", 7, 0, CPUID_EBX, 30, "avx512f" },
	{ "avx512vl", 7, 0, CPUID_EBX, 31, "avx512f" },
	/* leaf 7.0 ECX */
	{ "avx512vbmi", 7, 0, CPUID_ECX, 1, "avx512f" }, { "umip", 7, 0, CPUID_ECX, 2, NULL },
	{ "pku", 7, 0, CPUID_ECX, 3, "xsave" }, { "waitpkg", 7, 0, CPUID_ECX, 5, NULL },
	{ "avx512_vbmi2", 7, 0, CPUID_ECX, 6, "avx512f" }, { "gfni", 7, 0, CPUID_ECX, 8, NULL },
	{ "vaes", 7, 0, CPUID_ECX, 9, "avx" }, { "vpclmulqdq", 7, 0, CPUID_ECX, 10, "avx" },
	{ "avx512_vnni", 7, 0, CPUID_ECX, 11, "avx512f" },
	{ "avx512_bitalg", 7, 0, CPUID_ECX, 12, "avx512f" },
	{ "avx512_vpopcntdq", 7, 0, CPUID_ECX, 14, "avx512f" },
	{ "la57", 7, 0, CPUID_ECX, 16, NULL }, { "rdpid", 7, 0, CPUID_ECX, 22, NULL },
	{ "bus_lock_detect", 7, 0, CPUID_ECX, 24, NULL },
	{ "cldemote", 7, 0, CPUID_ECX, 25, NULL }, { "movdiri", 7, 0, CPUID_ECX, 27, NULL },
	{ "movdir64b", 7, 0, CPUID_ECX, 28, NULL }, { "enqcmd", 7, 0, CPUID_ECX, 29, NULL },
	/* leaf 7.0 EDX */
	{ "avx512_4vnniw", 7, 0, CPUID_EDX, 2, "avx512f" },
	{ "avx512_4fmaps", 7, 0, CPUID_EDX, 3, "avx512f" },
	{ "fsrm", 7, 0, CPUID_EDX, 4, NULL },
	{ "avx512_vp2intersect", 7, 0, CPUID_EDX, 8, "avx512f" },
	{ "md_clear", 7, 0, CPUID_EDX, 10, NULL }, { "serialize", 7, 0, CPUID_EDX, 14, NULL },
	{ "tsxldtrk", 7, 0, CPUID_EDX, 16, NULL }, { "pconfig", 7, 0, CPUID_EDX, 18, NULL },
	{ "arch_lbr", 7, 0, CPUID_EDX, 19, NULL }, { "ibt", 7, 0, CPUID_EDX, 20, NULL },
	{ "amx_bf16", 7, 0, CPUID_EDX, 22, "amx_tile" },
	{ "avx512_fp16", 7, 0, CPUID_EDX, 23, "avx512bw" },
	{ "amx_tile", 7, 0, CPUID_EDX, 24, "xsave" },
	{ "amx_int8", 7, 0, CPUID_EDX, 25, "amx_tile" },
	{ "flush_l1d", 7, 0, CPUID_EDX, 28, NULL },
	{ "arch_capabilities", 7, 0, CPUID_EDX, 29, NULL },
	/* leaf 7.1 EAX */
	{ "avx_vnni", 7, 1, CPUID_EAX, 4, "avx2" },
	{ "avx512_bf16", 7, 1, CPUID_EAX, 5, "avx512f" },
	/* leaf 0xD.1 EAX */
	{ "xsaveopt", 0xd, 1, CPUID_EAX, 0, "xsave" }, { "xsavec", 0xd, 1, CPUID_EAX, 1, "xsave" },
	{ "xgetbv1", 0xd, 1, CPUID_EAX, 2, "xsave" }, { "xsaves", 0xd, 1, CPUID_EAX, 3, "xsave" },
	/* leaf 0x80000001 ECX */
	{ "lahf_lm", EXT, 0, CPUID_ECX, 0, NULL }, { "cmp_legacy", EXT, 0, CPUID_ECX, 1, NULL },
	{ "svm", EXT, 0, CPUID_ECX, 2, NULL }, { "extapic", EXT, 0, CPUID_ECX, 3, NULL },
	{ "cr8_legacy", EXT, 0, CPUID_ECX, 4, NULL }, { "abm", EXT, 0, CPUID_ECX, 5, NULL },
	{ "sse4a", EXT, 0, CPUID_ECX, 6, NULL }, { "misalignsse", EXT, 0, CPUID_ECX, 7, NULL },
	{ "3dnowprefetch", EXT, 0, CPUID_ECX, 8, NULL }, { "osvw", EXT, 0, CPUID_ECX, 9, NULL },
	{ "ibs", EXT, 0, CPUID_ECX, 10, NULL }, { "xop", EXT, 0, CPUID_ECX, 11, "avx" },
	{ "skinit", EXT, 0, CPUID_ECX, 12, NULL }, { "wdt", EXT, 0, CPUID_ECX, 13, NULL },
	{ "lwp", EXT, 0, CPUID_ECX, 15, NULL }, { "fma4", EXT, 0, CPUID_ECX, 16, "avx" },
	{ "tce", EXT, 0, CPUID_ECX, 17, NULL }, { "nodeid_msr", EXT, 0, CPUID_ECX, 19, NULL },
	{ "tbm", EXT, 0, CPUID_ECX, 21, NULL }, { "topoext", EXT, 0, CPUID_ECX, 22, NULL },
	{ "perfctr_core", EXT, 0, CPUID_ECX, 23, NULL },
	{ "perfctr_nb", EXT, 0, CPUID_ECX, 24, NULL }, { "bpext", EXT, 0, CPUID_ECX, 26, NULL },
	{ "ptsc", EXT, 0, CPUID_ECX, 27, NULL }, { "perfctr_llc", EXT, 0, CPUID_ECX, 28, NULL },
	{ "mwaitx", EXT, 0, CPUID_ECX, 29, NULL },
	/* leaf 0x80000001 EDX */
	{ "syscall", EXT, 0, CPUID_EDX, 11, NULL }, { "mp", EXT, 0, CPUID_EDX, 19, NULL },
	{ "nx", EXT, 0, CPUID_EDX, 20, NULL }, { "mmxext", EXT, 0, CPUID_EDX, 22, NULL },
	{ "fxsr_opt", EXT, 0, CPUID_EDX, 25, NULL }, { "pdpe1gb", EXT, 0, CPUID_EDX, 26, NULL },
	{ "rdtscp", EXT, 0, CPUID_EDX, 27, NULL }, { "lm", EXT, 0, CPUID_EDX, 29, NULL },
	{ "3dnowext", EXT, 0, CPUID_EDX, 30, NULL }, { "3dnow", EXT, 0, CPUID_EDX, 31, NULL },
};

#define NR_FEATURES (sizeof(features) / sizeof(features[0]))

const struct cpu_feature *cpu_feature_find(const char *name)
{
	for (size_t i = 0; i < NR_FEATURES; i++)
		if (!strcmp(features[i].name, name))
			return &features[i];
	return NULL;
}

static int parse_change(const char *item, struct cpu_feature_spec *spec, struct kiln_err *err)
{
	const struct cpu_feature *feature;

	if (*item != '+' && *item != '-')
		return err_set(err, -EINVAL, "--cpu: '%s' must be +%s (add) or -%s (remove)", item,
			       item, item);
	feature = cpu_feature_find(item + 1);
	if (!feature)
		return err_set(err, -EINVAL, "--cpu: unknown CPU feature '%s'", item + 1);
	if (spec->nr_changes == CPU_MAX_FEATURE_CHANGES)
		return err_set(err, -EINVAL, "--cpu: more than %d feature changes",
			       CPU_MAX_FEATURE_CHANGES);
	spec->changes[spec->nr_changes++] = (struct cpu_feature_change){
		.feature = feature, .enable = *item == '+' };
	return 0;
}

int cpu_feature_spec_parse(const char *text, struct cpu_feature_spec *spec,
			   struct kiln_err *err)
{
	char *copy = strdup(text), *save = NULL, *item;
	int ret = 0;

	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	memset(spec, 0, sizeof(*spec));
	item = strtok_r(copy, ",", &save);
	if (!item || strcmp(item, "host"))
		ret = err_set(err, -EINVAL, "--cpu: unknown CPU model '%s' (kiln has 'host')",
			      item ? item : "");
	while (!ret && (item = strtok_r(NULL, ",", &save)))
		ret = parse_change(item, spec, err);
	free(copy);
	return ret;
}

static uint32_t *feature_reg(struct kvm_cpuid2 *table, const struct cpu_feature *feature)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(table, feature->leaf, feature->subleaf);

	return e ? cpuid_reg_ptr(e, feature->reg) : NULL;
}

bool cpu_feature_present(struct kvm_cpuid2 *table, const struct cpu_feature *feature)
{
	uint32_t *reg = feature_reg(table, feature);

	return reg && (*reg >> feature->bit) & 1;
}

/* Whether feature needs ancestor, directly or through others. */
static bool depends_on(const struct cpu_feature *feature, const struct cpu_feature *ancestor)
{
	for (unsigned int depth = 0; feature->needs && depth < NR_FEATURES; depth++) {
		feature = cpu_feature_find(feature->needs);
		if (!feature)
			return false;
		if (feature == ancestor)
			return true;
	}
	return false;
}

static void set_feature(struct kvm_cpuid2 *table, const struct cpu_feature *feature, bool on)
{
	uint32_t *reg = feature_reg(table, feature);

	if (reg && on)
		*reg |= 1u << feature->bit;
	else if (reg)
		*reg &= ~(1u << feature->bit);
}

static void clear_with_dependents(struct kvm_cpuid2 *table, const struct cpu_feature *feature)
{
	set_feature(table, feature, false);
	for (size_t i = 0; i < NR_FEATURES; i++)
		if (depends_on(&features[i], feature))
			set_feature(table, &features[i], false);
}

int cpu_features_apply(struct kvm_cpuid2 *table, const struct cpu_feature_spec *spec,
		       struct kiln_err *err)
{
	const struct cpu_feature_change *c;

	for (c = spec->changes; c < spec->changes + spec->nr_changes; c++)
		if (c->enable && !cpu_feature_present(table, c->feature))
			return err_set(err, -EOPNOTSUPP, "--cpu: KVM cannot provide '%s' on this "
				       "host", c->feature->name);
	for (c = spec->changes; c < spec->changes + spec->nr_changes; c++) {
		if (c->enable)
			set_feature(table, c->feature, true);
		else
			clear_with_dependents(table, c->feature);
	}
	for (c = spec->changes; c < spec->changes + spec->nr_changes; c++) {
		const struct cpu_feature *needed = c->feature->needs ?
			cpu_feature_find(c->feature->needs) : NULL;

		if (c->enable && needed && !cpu_feature_present(table, needed))
			return err_set(err, -EINVAL, "--cpu: '%s' needs '%s', which is off",
				       c->feature->name, needed->name);
	}
	return 0;
}
