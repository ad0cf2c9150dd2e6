/* SPDX-License-Identifier: MIT */
/*
 * Everything KVM holds for a vCPU and for the VM's in-kernel devices, read
 * out of a paused machine and written into a new one: the machine-state
 * half of a snapshot (issue 13). The file format lives elsewhere; this is
 * the KVM side only, so it is the one place that knows the order KVM needs.
 */
#ifndef KILN_VM_SAVED_STATE_H
#define KILN_VM_SAVED_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct vcpu;
struct vm;

/* The most MSRs one vCPU saves; KVM lists about 100 on current kernels. */
#define VCPU_SAVED_MAX_MSRS 512

struct vcpu_saved_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	/* struct kvm_xsave's region: the legacy 4 KiB XSAVE area (FPU, SSE,
	 * AVX); a plain array, as kvm_xsave ends in a flexible member. */
	uint32_t xsave[1024];
	struct kvm_xcrs xcrs;
	bool has_xcrs;                   /* KVM_CAP_XCRS: XCR0 and friends */
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp_state;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[VCPU_SAVED_MAX_MSRS];
};

/* The VM's in-kernel devices and clock. */
struct vm_saved_state {
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/*
 * Read every piece of vcpu's state; the vCPU must not be running (paused
 * or not started). msr_indices lists the MSRs to try (kvm_get_msr_lists):
 * those this vCPU cannot read are left out, as KVM lists some only a given
 * CPU model has.
 */
int vcpu_save_state(struct vcpu *vcpu, const uint32_t *msr_indices, unsigned int nr_msrs,
		    struct vcpu_saved_state *out, struct kiln_err *err);
/* Write state into a vCPU whose CPUID is already set (KVM checks MSRs and
 * XSAVE against it). */
int vcpu_restore_state(struct vcpu *vcpu, const struct vcpu_saved_state *state, struct kiln_err *err);

/* The PICs, IOAPIC, PIT and kvm-clock of a paused VM, and back. */
int vm_save_state(struct vm *vm, struct vm_saved_state *out, struct kiln_err *err);
int vm_restore_state(struct vm *vm, const struct vm_saved_state *state, struct kiln_err *err);

#endif
