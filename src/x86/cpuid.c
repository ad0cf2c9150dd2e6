// SPDX-License-Identifier: MIT
#include "x86/cpuid.h"

#include <errno.h>
#include <string.h>

#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define LEAF1_EDX_HTT        (1u << 28)
#define LEAF1_ECX_TSC_DEADLINE (1u << 24)
#define LEAF6_EAX_ARAT       (1u << 2)
#define CPUID_EXT_BASE       0x80000000u
#define CPUID_HYPERVISOR_BASE 0x40000000u
#define TOPOLOGY_LEVEL_SMT   1u
#define TOPOLOGY_LEVEL_CORE  2u

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *table, uint32_t function,
				    uint32_t index)
{
	for (uint32_t i = 0; i < table->nent; i++) {
		struct kvm_cpuid_entry2 *e = &table->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

struct kvm_cpuid_entry2 *cpuid_get_or_add(struct kvm_cpuid2 *table, unsigned int capacity,
					  uint32_t function, uint32_t index, uint32_t flags)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(table, function, index);

	if (e)
		return e;
	if (table->nent >= capacity)
		return NULL;
	e = &table->entries[table->nent++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	return e;
}

/* Bits needed to number n things: 1 -> 0, 2 -> 1, 3..4 -> 2, ... */
static unsigned int order_of(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static void fix_leaf1(struct kvm_cpuid2 *table, unsigned int apic_id, unsigned int nr_vcpus)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(table, 1, 0);
	unsigned int logical = 1u << order_of(nr_vcpus);

	if (!e)
		return;
	e->ebx = (e->ebx & 0x0000ffffu) | ((logical & 0xff) << 16) | (apic_id << 24);
	e->ecx |= LEAF1_ECX_HYPERVISOR;
	if (nr_vcpus > 1)
		e->edx |= LEAF1_EDX_HTT;
	else
		e->edx &= ~LEAF1_EDX_HTT;
}

/* Leaf 4 EAX[31:26]: cores per package - 1; EAX[25:14]: sharing threads - 1. */
static void fix_leaf4(struct kvm_cpuid2 *table, unsigned int nr_vcpus)
{
	for (uint32_t i = 0; i < table->nent; i++) {
		struct kvm_cpuid_entry2 *e = &table->entries[i];
		unsigned int cores = (1u << order_of(nr_vcpus)) - 1;

		if (e->function != 4 || !(e->eax & 0x1f))
			continue;
		e->eax = (e->eax & 0x03ffffffu) | ((cores & 0x3f) << 26);
		/* Caches are per core (one thread each) except the last level. */
		if (((e->eax >> 5) & 7) < 3)
			e->eax &= ~(0xfffu << 14);
		else
			e->eax = (e->eax & ~(0xfffu << 14)) | ((cores & 0xfff) << 14);
	}
}

/* Extended topology (0xB, and 0x1F when offered): one thread per core,
 * nr_vcpus cores in one package. */
static void fix_topology_leaf(struct kvm_cpuid2 *table, uint32_t function,
			      unsigned int apic_id, unsigned int nr_vcpus)
{
	for (uint32_t i = 0; i < table->nent; i++) {
		struct kvm_cpuid_entry2 *e = &table->entries[i];

		if (e->function != function)
			continue;
		e->edx = apic_id;
		if (e->index == 0) {
			e->eax = 0; /* SMT: shift 0, one thread per core */
			e->ebx = 1;
			e->ecx = (TOPOLOGY_LEVEL_SMT << 8) | e->index;
		} else if (e->index == 1) {
			e->eax = order_of(nr_vcpus);
			e->ebx = nr_vcpus;
			e->ecx = (TOPOLOGY_LEVEL_CORE << 8) | e->index;
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;
		}
	}
}

static int add_kvm_leaves(struct kvm_cpuid2 *table, unsigned int capacity,
			  struct kiln_err *err)
{
	struct kvm_cpuid_entry2 *sig, *features;

	sig = cpuid_get_or_add(table, capacity, CPUID_KVM_SIGNATURE_LEAF, 0, 0);
	features = sig ? cpuid_get_or_add(table, capacity, CPUID_KVM_FEATURES_LEAF, 0, 0) : NULL;
	if (!features)
		return err_set(err, -ENOSPC, "no room in the CPUID table for the KVM leaves");
	sig->eax = CPUID_KVM_FEATURES_LEAF;
	memcpy(&sig->ebx, "KVMK", 4);
	memcpy(&sig->ecx, "VMKV", 4);
	memcpy(&sig->edx, "M\0\0\0", 4);
	/* Keep what KVM offers; insist on the clock bits Linux looks for. */
	features->eax |= KVM_PV_CLOCKSOURCE | KVM_PV_CLOCKSOURCE2 |
			 KVM_PV_CLOCKSOURCE_STABLE | KVM_PV_NOP_IO_DELAY;
	return 0;
}

int cpuid_fixup(struct kvm_cpuid2 *table, unsigned int capacity, unsigned int vcpu_index,
		unsigned int nr_vcpus, struct kiln_err *err)
{
	if (nr_vcpus == 0 || vcpu_index >= nr_vcpus || vcpu_index > 0xff)
		return err_set(err, -EINVAL, "vCPU %u of %u has no valid APIC ID", vcpu_index,
			       nr_vcpus);
	fix_leaf1(table, vcpu_index, nr_vcpus);
	fix_leaf4(table, nr_vcpus);
	fix_topology_leaf(table, 0xb, vcpu_index, nr_vcpus);
	fix_topology_leaf(table, 0x1f, vcpu_index, nr_vcpus);
	return add_kvm_leaves(table, capacity, err);
}

unsigned int cpuid_phys_addr_bits(const struct kvm_cpuid2 *table)
{
	for (uint32_t i = 0; i < table->nent; i++)
		if (table->entries[i].function == 0x80000008u)
			return table->entries[i].eax & 0xff;
	return 36;
}

void cpuid_add_kvm_backed(struct kvm_cpuid2 *table, const struct cpuid_kvm_extras *extras)
{
	struct kvm_cpuid_entry2 *leaf1 = cpuid_find(table, 1, 0), *leaf6 = cpuid_find(table, 6, 0);

	if (leaf1 && extras->tsc_deadline)
		leaf1->ecx |= LEAF1_ECX_TSC_DEADLINE;
	if (leaf6)
		leaf6->eax |= LEAF6_EAX_ARAT;
}

uint32_t *cpuid_reg_ptr(struct kvm_cpuid_entry2 *entry, enum cpuid_reg reg)
{
	switch (reg) {
	case CPUID_EAX: return &entry->eax;
	case CPUID_EBX: return &entry->ebx;
	case CPUID_ECX: return &entry->ecx;
	default: return &entry->edx;
	}
}

static const char *const reg_names[] = { "eax", "ebx", "ecx", "edx" };

int cpuid_reg_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, reg_names[i]))
			return i;
	return -1;
}

const char *cpuid_reg_name(enum cpuid_reg reg)
{
	return reg_names[reg & 3];
}

static bool leaf_beyond_max(uint32_t function, uint32_t max_basic, uint32_t max_extended)
{
	if (function < CPUID_HYPERVISOR_BASE)
		return function > max_basic;
	if (function > CPUID_EXT_BASE && function < CPUID_EXT_BASE + 0x10000u)
		return function > max_extended;
	return false; /* hypervisor and other ranges: their own maxima */
}

void cpuid_trim_to_max_leaves(struct kvm_cpuid2 *table)
{
	struct kvm_cpuid_entry2 *basic = cpuid_find(table, 0, 0);
	struct kvm_cpuid_entry2 *extended = cpuid_find(table, CPUID_EXT_BASE, 0);
	/* No leaf 0 (or 0x80000000): nothing says where that range ends. */
	uint32_t max_basic = basic ? basic->eax : UINT32_MAX;
	uint32_t max_extended = extended ? extended->eax : UINT32_MAX;
	uint32_t out = 0;

	for (uint32_t i = 0; i < table->nent; i++) {
		if (leaf_beyond_max(table->entries[i].function, max_basic, max_extended))
			continue;
		table->entries[out++] = table->entries[i];
	}
	table->nent = out;
}
