/* SPDX-License-Identifier: MIT */
/*
 * The vCPU state after the wake from ACPI S3, as a PC's firmware leaves it
 * when it hands back to the OS (ACPI 6.5, 7.4.4 and 16.3): the boot CPU at
 * the FACS's waking vector, the others reset and waiting for INIT/SIPI.
 * Only struct layouts come from <linux/kvm.h>; the caller moves the state
 * into KVM.
 */
#ifndef KILN_X86_ACPI_WAKE_H
#define KILN_X86_ACPI_WAKE_H

#include <linux/kvm.h>

#include "vm/memory.h"

/*
 * The boot CPU's registers from the FACS at facs_gpa: with an
 * X_Firmware_Waking_Vector (kiln's FACS offers no 64-bit wake) 32-bit flat
 * protected mode at it, paging off; else real mode with CS = vector >> 4
 * and IP = vector & 0xf. sregs must be as read with KVM_GET_SREGS (APIC
 * base and the interrupt bitmap are kept). 0, -EFAULT when RAM does not
 * hold the FACS, -ENOEXEC when the OS left no waking vector.
 */
int acpi_wake_boot_cpu(const struct guest_memory *mem, uint64_t facs_gpa,
		       struct kvm_regs *regs, struct kvm_sregs *sregs);

/* Another CPU after the reset S3 means: real mode at the reset vector,
 * for KVM_MP_STATE_INIT_RECEIVED (the OS's INIT/SIPI restarts it). */
void acpi_wake_other_cpu(struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
