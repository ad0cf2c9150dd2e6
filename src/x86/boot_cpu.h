/* SPDX-License-Identifier: MIT */
/*
 * The boot CPU's register state for a loaded kernel: flat segments from a
 * GDT kiln writes into guest RAM, and for 64-bit entry identity-mapped page
 * tables covering the first 4 GiB with 2 MiB pages.
 */
#ifndef KILN_X86_BOOT_CPU_H
#define KILN_X86_BOOT_CPU_H

#include <linux/kvm.h>

#include "vm/memory.h"
#include "x86/boot.h"

/* Selectors of the boot GDT (the Linux boot protocol's __BOOT_CS/__BOOT_DS). */
#define BOOT_GDT_CS32 0x08
#define BOOT_GDT_CS64 0x10
#define BOOT_GDT_DS   0x18

/*
 * Fill regs and sregs (sregs as read from KVM, so APIC base and the like are
 * kept) for the entry described by entry; writes the GDT and, for long
 * mode, the page tables. Returns 0 or -EFAULT when RAM cannot hold them.
 */
int boot_cpu_setup(const struct guest_memory *mem, const struct boot_entry *entry,
		   struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
