/* SPDX-License-Identifier: MIT */
/*
 * CPUID as each vCPU sees it: KVM's supported set with the hypervisor bit,
 * this vCPU's APIC ID and topology, and the KVM paravirtual leaves that make
 * Linux pick kvm-clock. Pure functions over struct kvm_cpuid2: no ioctls.
 */
#ifndef KILN_X86_CPUID_H
#define KILN_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define CPUID_KVM_SIGNATURE_LEAF 0x40000000u
#define CPUID_KVM_FEATURES_LEAF  0x40000001u

/* KVM paravirt feature bits (leaf 0x40000001 EAX), from the KVM API. */
#define KVM_PV_CLOCKSOURCE        (1u << 0)
#define KVM_PV_NOP_IO_DELAY       (1u << 1)
#define KVM_PV_CLOCKSOURCE2       (1u << 3)
#define KVM_PV_CLOCKSOURCE_STABLE (1u << 24)

/*
 * Adjust table (as returned by KVM_GET_SUPPORTED_CPUID, with room for
 * capacity entries) for vCPU vcpu_index of nr_vcpus. Returns 0, or -ENOSPC
 * with err set when a leaf must be added and there is no room.
 */
int cpuid_fixup(struct kvm_cpuid2 *table, unsigned int capacity, unsigned int vcpu_index,
		unsigned int nr_vcpus, struct kiln_err *err);

/* Bits KVM backs but leaves out of KVM_GET_SUPPORTED_CPUID, which a VMM
 * adds itself: TSC-deadline mode of the in-kernel LAPIC timer
 * (CPUID.1:ECX[24]) when KVM_CAP_TSC_DEADLINE_TIMER is present, and ARAT
 * (CPUID.6:EAX[2]: the emulated LAPIC timer never stops in C-states). */
struct cpuid_kvm_extras {
	bool tsc_deadline;
};
void cpuid_add_kvm_backed(struct kvm_cpuid2 *table, const struct cpuid_kvm_extras *extras);

/* The four result registers of an entry, by name in templates and tables. */
enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };
uint32_t *cpuid_reg_ptr(struct kvm_cpuid_entry2 *entry, enum cpuid_reg reg);
/* "eax".."edx" -> the register, or -1. */
int cpuid_reg_from_name(const char *name);
const char *cpuid_reg_name(enum cpuid_reg reg);

/*
 * Drop the entries above the maximum basic (leaf 0 EAX) and extended
 * (0x80000000 EAX) leaves, so the table says what those leaves say: KVM
 * answers a CPUID and decides what a guest may use (XSAVE, ...) from the
 * entries it holds, whatever leaf 0 reports. A template that lowers a
 * maximum thereby hides the leaves above it.
 */
void cpuid_trim_to_max_leaves(struct kvm_cpuid2 *table);

/* The entry for (function, index), added (zeroed, with flags) when absent
 * and there is room in capacity; NULL when there is none. */
struct kvm_cpuid_entry2 *cpuid_get_or_add(struct kvm_cpuid2 *table, unsigned int capacity,
					  uint32_t function, uint32_t index, uint32_t flags);

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *table, uint32_t function,
				    uint32_t index);

/* Physical address bits (leaf 0x80000008 EAX[7:0]), 36 when absent. */
unsigned int cpuid_phys_addr_bits(const struct kvm_cpuid2 *table);

#endif
