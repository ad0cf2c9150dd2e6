/* SPDX-License-Identifier: MIT */
/*
 * Each vCPU's CPUID and template MSRs, in this order: KVM's supported
 * table, the bits KVM backs but leaves out (TSC-deadline when
 * KVM_CAP_TSC_DEADLINE_TIMER is present), kiln's per-vCPU fix-ups
 * (hypervisor bit, APIC IDs, topology, KVM leaves), with --hyperv the
 * Hyper-V leaves (KVM's moved to 0x40000100), the --cpu feature
 * changes, then the CPU template's CPUID modifiers; after KVM_SET_CPUID2,
 * the Hyper-V set-up (SynIC, VP index) and the template's MSR modifiers
 * (only MSRs KVM lists for a VMM).
 */
#ifndef KILN_X86_CPU_SETUP_H
#define KILN_X86_CPU_SETUP_H

#include "util/error.h"
#include "vm/vm.h"
#include "x86/cpu_profile.h"

struct cpu_setup {
	int kvm_fd;
	enum cpu_template profile;   /* resolved */
	const char *custom_json;     /* CPU_TEMPLATE_CUSTOM's CpuConfig */
	const char *features;        /* --cpu's value, or NULL */
	unsigned int hyperv;         /* --hyperv: enum hyperv_feature mask; 0: none */
};

/* 0, or a negative errno with err: a feature KVM cannot provide, an MSR
 * KVM does not list or refuses, no room in the table, a failed ioctl. */
int cpu_setup_vcpus(struct vm *vm, const struct cpu_setup *setup, struct kiln_err *err);

#endif
