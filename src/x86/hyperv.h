/* SPDX-License-Identifier: MIT */
/*
 * Hyper-V enlightenments (--hyperv): which ones a user asked for, and the
 * CPUID leaves that offer them, per Microsoft's Hypervisor Top Level
 * Functional Specification (TLFS). Hyper-V's leaves take 0x40000000 and
 * KVM's own move to 0x40000100 (where Linux and Windows both look for a
 * second hypervisor interface). Pure functions over struct kvm_cpuid2; the
 * KVM side (KVM_GET_SUPPORTED_HV_CPUID, SynIC, VP index) is cpu_setup.c's.
 */
#ifndef KILN_X86_HYPERV_H
#define KILN_X86_HYPERV_H

#include <linux/kvm.h>
#include <stdint.h>

#include "util/error.h"
#include "x86/cpuid.h"

/* Hyper-V's CPUID leaves (TLFS 2.4). */
#define HV_CPUID_VENDOR      0x40000000u  /* max leaf; "Microsoft Hv" */
#define HV_CPUID_INTERFACE   0x40000001u  /* "Hv#1" */
#define HV_CPUID_VERSION     0x40000002u
#define HV_CPUID_FEATURES    0x40000003u  /* partition privileges, features */
#define HV_CPUID_ENLIGHTENMENTS 0x40000004u /* recommendations */
#define HV_CPUID_LIMITS      0x40000005u
#define HV_CPUID_INTERFACE_EAX 0x31237648u /* "Hv#1" */
/* With Hyper-V at 0x40000000, KVM's signature and features leaves. */
#define HV_KVM_LEAVES_OFFSET 0x100u

/* The vCPU's index as the guest's SynIC and flush masks name it. */
#define HV_MSR_VP_INDEX 0x40000002u

/* Leaf 0x40000003 EAX: partition privileges (MSR access). */
#define HV_ACCESS_TIME_REF_COUNT (1u << 1)
#define HV_ACCESS_SYNIC          (1u << 2)
#define HV_ACCESS_STIMER         (1u << 3)
#define HV_ACCESS_HYPERCALL      (1u << 5)  /* guest OS ID and hypercall page */
#define HV_ACCESS_VP_INDEX       (1u << 6)
#define HV_ACCESS_REFERENCE_TSC  (1u << 9)
/* Leaf 0x40000003 EDX. */
#define HV_STIMER_DIRECT_MODE    (1u << 19)
/* Leaf 0x40000004 EAX. */
#define HV_REMOTE_TLB_FLUSH_RECOMMENDED (1u << 2)
#define HV_RELAXED_TIMING_RECOMMENDED   (1u << 5)
/* Leaf 0x40000004 EBX: spinlock retries before a notification; all ones:
 * never notify (kiln offers no paravirtual spinlocks). */
#define HV_SPINLOCK_NEVER_NOTIFY 0xffffffffu

/* The enlightenments --hyperv knows, as bits of a mask. */
enum hyperv_feature {
	HYPERV_RELAXED = 1u << 0,        /* no watchdog on a descheduled vCPU */
	HYPERV_VPINDEX = 1u << 1,        /* HV_X64_MSR_VP_INDEX */
	HYPERV_TIME = 1u << 2,           /* reference counter and TSC page */
	HYPERV_SYNIC = 1u << 3,          /* synthetic interrupt controller */
	HYPERV_STIMER = 1u << 4,         /* synthetic timers, message mode */
	HYPERV_STIMER_DIRECT = 1u << 5,  /* synthetic timers, direct mode */
	HYPERV_TLBFLUSH = 1u << 6,       /* PV TLB flush hypercalls */
};
#define HYPERV_ALL 0x7fu

struct hyperv_feature_desc {
	const char *name;          /* --hyperv's word */
	unsigned int feature;      /* enum hyperv_feature */
	unsigned int needs;        /* features it cannot work without */
	uint32_t leaf;             /* where its CPUID bits are */
	enum cpuid_reg reg;
	uint32_t bits;
	int kvm_cap;               /* the KVM capability behind it */
	const char *kvm_cap_name;
};
extern const struct hyperv_feature_desc hyperv_features[];
extern const unsigned int hyperv_nr_features;

/*
 * --hyperv's value: NULL or "" for every enlightenment, else a comma list
 * of names; each brings what it needs (stimer brings synic and time, ...).
 * 0, or -EINVAL with err for an unknown or empty name.
 */
int hyperv_parse(const char *list, unsigned int *features, struct kiln_err *err);

/*
 * Give table (a vCPU's CPUID, KVM's leaves already at 0x40000000) the
 * Hyper-V leaves for features: KVM's hypervisor leaves move up by 0x100,
 * and 0x40000000-0x40000005 come from kvm_hv (KVM_GET_SUPPORTED_HV_CPUID's
 * answer) with only the asked-for feature bits set. 0, -EOPNOTSUPP with
 * err when KVM's answer lacks a bit a feature needs, or -ENOSPC.
 */
int hyperv_cpuid_apply(struct kvm_cpuid2 *table, unsigned int capacity,
		       const struct kvm_cpuid2 *kvm_hv, unsigned int features,
		       struct kiln_err *err);

/*
 * Hyper-V MSRs that hold a vCPU's enlightenment state, for save and
 * restore (snapshots): each with the feature that makes it exist (0: any
 * --hyperv). The reference counter (0x40000020) is not among them: KVM
 * derives it from kvm-clock, which is saved on its own.
 */
struct hyperv_msr {
	uint32_t index;
	unsigned int feature;
};
extern const struct hyperv_msr hyperv_state_msrs[];
extern const unsigned int hyperv_nr_state_msrs;

#endif
