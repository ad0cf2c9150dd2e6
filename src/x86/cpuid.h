/* SPDX-License-Identifier: MIT */
/*
 * CPUID as each vCPU sees it: KVM's supported set with the hypervisor bit,
 * this vCPU's APIC ID and topology, and the KVM paravirtual leaves that make
 * Linux pick kvm-clock. Pure functions over struct kvm_cpuid2: no ioctls.
 */
#ifndef KILN_X86_CPUID_H
#define KILN_X86_CPUID_H

#include <linux/kvm.h>
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

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *table, uint32_t function,
				    uint32_t index);

/* Physical address bits (leaf 0x80000008 EAX[7:0]), 36 when absent. */
unsigned int cpuid_phys_addr_bits(const struct kvm_cpuid2 *table);

#endif
