// SPDX-License-Identifier: MIT
#include "x86/hyperv.h"

#include <errno.h>
#include <string.h>

/* Dependencies as the TLFS and KVM have them: SynIC messages name the
 * target by VP index; a synthetic timer counts reference time and
 * delivers through SynIC (direct mode still needs the timer MSRs); a
 * flush hypercall's processor mask is made of VP indices. */
const struct hyperv_feature_desc hyperv_features[] = {
	{ "relaxed", HYPERV_RELAXED, 0, HV_CPUID_ENLIGHTENMENTS, CPUID_EAX,
	  HV_RELAXED_TIMING_RECOMMENDED, KVM_CAP_HYPERV, "KVM_CAP_HYPERV" },
	{ "vpindex", HYPERV_VPINDEX, 0, HV_CPUID_FEATURES, CPUID_EAX, HV_ACCESS_VP_INDEX,
	  KVM_CAP_HYPERV_VP_INDEX, "KVM_CAP_HYPERV_VP_INDEX" },
	{ "time", HYPERV_TIME, 0, HV_CPUID_FEATURES, CPUID_EAX,
	  HV_ACCESS_TIME_REF_COUNT | HV_ACCESS_REFERENCE_TSC, KVM_CAP_HYPERV_TIME,
	  "KVM_CAP_HYPERV_TIME" },
	{ "synic", HYPERV_SYNIC, HYPERV_VPINDEX, HV_CPUID_FEATURES, CPUID_EAX, HV_ACCESS_SYNIC,
	  KVM_CAP_HYPERV_SYNIC2, "KVM_CAP_HYPERV_SYNIC2" },
	{ "stimer", HYPERV_STIMER, HYPERV_SYNIC | HYPERV_TIME, HV_CPUID_FEATURES, CPUID_EAX,
	  HV_ACCESS_STIMER, KVM_CAP_HYPERV_SYNIC2, "KVM_CAP_HYPERV_SYNIC2" },
	{ "stimer-direct", HYPERV_STIMER_DIRECT, HYPERV_STIMER, HV_CPUID_FEATURES, CPUID_EDX,
	  HV_STIMER_DIRECT_MODE, KVM_CAP_HYPERV_SYNIC2, "KVM_CAP_HYPERV_SYNIC2" },
	{ "tlbflush", HYPERV_TLBFLUSH, HYPERV_VPINDEX, HV_CPUID_ENLIGHTENMENTS, CPUID_EAX,
	  HV_REMOTE_TLB_FLUSH_RECOMMENDED, KVM_CAP_HYPERV_TLBFLUSH, "KVM_CAP_HYPERV_TLBFLUSH" },
};
const unsigned int hyperv_nr_features = sizeof(hyperv_features) / sizeof(hyperv_features[0]);

#define SYNIC_SINTS   16
#define STIMERS       4
#define MSR_GUEST_OS_ID   0x40000000u
#define MSR_HYPERCALL     0x40000001u
#define MSR_REFERENCE_TSC 0x40000021u
#define MSR_SCONTROL      0x40000080u
#define MSR_SIEFP         0x40000082u
#define MSR_SIMP          0x40000083u
#define MSR_SINT0         0x40000090u
#define MSR_STIMER0_CONFIG 0x400000b0u

#define SINT(n) { MSR_SINT0 + (n), HYPERV_SYNIC }
#define STIMER(n) { MSR_STIMER0_CONFIG + 2 * (n), HYPERV_STIMER }, \
		  { MSR_STIMER0_CONFIG + 2 * (n) + 1, HYPERV_STIMER }
const struct hyperv_msr hyperv_state_msrs[] = {
	{ MSR_GUEST_OS_ID, 0 },
	{ MSR_HYPERCALL, 0 },
	{ HV_MSR_VP_INDEX, HYPERV_VPINDEX },
	{ MSR_REFERENCE_TSC, HYPERV_TIME },
	{ MSR_SCONTROL, HYPERV_SYNIC },
	{ MSR_SIEFP, HYPERV_SYNIC },
	{ MSR_SIMP, HYPERV_SYNIC },
	SINT(0), SINT(1), SINT(2), SINT(3), SINT(4), SINT(5), SINT(6), SINT(7),
	SINT(8), SINT(9), SINT(10), SINT(11), SINT(12), SINT(13), SINT(14), SINT(15),
	STIMER(0), STIMER(1), STIMER(2), STIMER(3),
};
#undef SINT
#undef STIMER
const unsigned int hyperv_nr_state_msrs = sizeof(hyperv_state_msrs) /
					  sizeof(hyperv_state_msrs[0]);
_Static_assert(sizeof(hyperv_state_msrs) / sizeof(hyperv_state_msrs[0]) ==
	       7 + SYNIC_SINTS + 2 * STIMERS, "every SINT and timer register listed");

static const struct hyperv_feature_desc *find_feature(const char *name, size_t len)
{
	for (unsigned int i = 0; i < hyperv_nr_features; i++)
		if (strlen(hyperv_features[i].name) == len &&
		    !strncmp(hyperv_features[i].name, name, len))
			return &hyperv_features[i];
	return NULL;
}

/* Add what each feature needs until nothing changes. */
static unsigned int with_dependencies(unsigned int features)
{
	unsigned int before;

	do {
		before = features;
		for (unsigned int i = 0; i < hyperv_nr_features; i++)
			if (features & hyperv_features[i].feature)
				features |= hyperv_features[i].needs;
	} while (features != before);
	return features;
}

int hyperv_parse(const char *list, unsigned int *features, struct kiln_err *err)
{
	const char *p = list;

	*features = 0;
	if (!list || !*list) {
		*features = HYPERV_ALL;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");
		const struct hyperv_feature_desc *f = find_feature(p, len);

		if (!f)
			return err_set(err, -EINVAL, "--hyperv: unknown enlightenment '%.*s' "
				       "(relaxed, vpindex, time, synic, stimer, stimer-direct, "
				       "tlbflush)", (int)len, p);
		*features |= f->feature;
		if (!p[len])
			break;
		p += len + 1;
	}
	*features = with_dependencies(*features);
	return 0;
}

static const struct kvm_cpuid_entry2 *find_const(const struct kvm_cpuid2 *table, uint32_t leaf)
{
	return cpuid_find((struct kvm_cpuid2 *)table, leaf, 0);
}

/* Every asked-for feature's bits must be in KVM's answer. */
static int check_kvm_offers(const struct kvm_cpuid2 *kvm_hv, unsigned int features,
			    struct kiln_err *err)
{
	const struct kvm_cpuid_entry2 *leaf = find_const(kvm_hv, HV_CPUID_FEATURES);

	if (!leaf || !(leaf->eax & HV_ACCESS_HYPERCALL))
		return err_set(err, -EOPNOTSUPP, "--hyperv: KVM offers no Hyper-V hypercall "
			       "interface on this host");
	for (unsigned int i = 0; i < hyperv_nr_features; i++) {
		const struct hyperv_feature_desc *f = &hyperv_features[i];
		const struct kvm_cpuid_entry2 *e = find_const(kvm_hv, f->leaf);

		if (!(features & f->feature))
			continue;
		if (!e || (*cpuid_reg_ptr((struct kvm_cpuid_entry2 *)e, f->reg) & f->bits) !=
			  f->bits)
			return err_set(err, -EOPNOTSUPP, "--hyperv: KVM cannot provide '%s' on "
				       "this host", f->name);
	}
	return 0;
}

/* KVM's own hypervisor leaves (0x40000000-0x400000ff) move up by 0x100. */
static void relocate_kvm_leaves(struct kvm_cpuid2 *table)
{
	for (uint32_t i = 0; i < table->nent; i++) {
		struct kvm_cpuid_entry2 *e = &table->entries[i];

		if (e->function < HV_CPUID_VENDOR || e->function >= HV_CPUID_VENDOR + HV_KVM_LEAVES_OFFSET)
			continue;
		e->function += HV_KVM_LEAVES_OFFSET;
		if (e->function == HV_CPUID_VENDOR + HV_KVM_LEAVES_OFFSET)
			e->eax += HV_KVM_LEAVES_OFFSET; /* its maximum leaf moves too */
	}
}

static void set_entry(struct kvm_cpuid_entry2 *e, uint32_t eax, uint32_t ebx, uint32_t ecx,
		      uint32_t edx)
{
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

/* The asked-for features' bits of one leaf register. */
static uint32_t feature_bits(unsigned int features, uint32_t leaf, enum cpuid_reg reg)
{
	uint32_t bits = 0;

	for (unsigned int i = 0; i < hyperv_nr_features; i++)
		if ((features & hyperv_features[i].feature) && hyperv_features[i].leaf == leaf &&
		    hyperv_features[i].reg == reg)
			bits |= hyperv_features[i].bits;
	return bits;
}

static void fill_hyperv_leaves(struct kvm_cpuid_entry2 *leaves[6],
			       const struct kvm_cpuid2 *kvm_hv, unsigned int features)
{
	const struct kvm_cpuid_entry2 *version = find_const(kvm_hv, HV_CPUID_VERSION);
	const struct kvm_cpuid_entry2 *limits = find_const(kvm_hv, HV_CPUID_LIMITS);
	uint32_t vendor[3];

	memcpy(vendor, "Microsoft Hv", sizeof(vendor));
	set_entry(leaves[0], HV_CPUID_LIMITS, vendor[0], vendor[1], vendor[2]);
	set_entry(leaves[1], HV_CPUID_INTERFACE_EAX, 0, 0, 0);
	if (version)
		set_entry(leaves[2], version->eax, version->ebx, version->ecx, version->edx);
	set_entry(leaves[3],
		  HV_ACCESS_HYPERCALL | feature_bits(features, HV_CPUID_FEATURES, CPUID_EAX),
		  0, 0, feature_bits(features, HV_CPUID_FEATURES, CPUID_EDX));
	set_entry(leaves[4], feature_bits(features, HV_CPUID_ENLIGHTENMENTS, CPUID_EAX),
		  HV_SPINLOCK_NEVER_NOTIFY, 0, 0);
	if (limits)
		set_entry(leaves[5], limits->eax, limits->ebx, limits->ecx, 0);
}

int hyperv_cpuid_apply(struct kvm_cpuid2 *table, unsigned int capacity,
		       const struct kvm_cpuid2 *kvm_hv, unsigned int features,
		       struct kiln_err *err)
{
	struct kvm_cpuid_entry2 *leaves[6];
	int ret = check_kvm_offers(kvm_hv, features, err);

	if (ret)
		return ret;
	relocate_kvm_leaves(table);
	for (unsigned int i = 0; i < 6; i++) {
		leaves[i] = cpuid_get_or_add(table, capacity, HV_CPUID_VENDOR + i, 0, 0);
		if (!leaves[i])
			return err_set(err, -ENOSPC, "no room in the CPUID table for the Hyper-V "
				       "leaves");
	}
	fill_hyperv_leaves(leaves, kvm_hv, features);
	return 0;
}
