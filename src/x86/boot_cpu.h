/* SPDX-License-Identifier: MIT */
/*
 * The boot CPU's register state for a loaded kernel: flat segments from a
 * GDT kiln writes into guest RAM, and for 64-bit entry identity-mapped page
 * tables covering the first 4 GiB with 2 MiB pages. Only struct layouts come
 * from <linux/kvm.h>; the caller moves the state in and out of KVM.
 */
#ifndef KILN_X86_BOOT_CPU_H
#define KILN_X86_BOOT_CPU_H

#include <linux/kvm.h>

#include "vm/memory.h"
#include "x86/boot.h"

/*
 * The boot GDT at LAYOUT_BOOT_GDT, laid out like the Linux boot protocol's:
 * entries 0 and 1 null, __BOOT_CS = 0x10 (a 64-bit code segment for
 * BOOT_MODE_LONG64, a flat 32-bit one for BOOT_MODE_PROTECTED32) and
 * __BOOT_DS = 0x18 (flat 32-bit read/write data).
 */
#define BOOT_GDT_CS      0x10
#define BOOT_GDT_DS      0x18
#define BOOT_GDT_ENTRIES 4

/*
 * Fill regs and sregs for the entry described by entry. sregs must be as
 * read with KVM_GET_SREGS: fields this does not set (APIC base, TR, LDT,
 * IDT, interrupt bitmap) keep KVM's reset values. Writes the GDT and, for
 * long mode, the page tables at LAYOUT_PAGE_TABLES. Returns 0, -EFAULT when
 * RAM cannot hold them, or -ERANGE when an entry register lies at or above
 * 4 GiB, beyond what the entry mode can reach.
 */
int boot_cpu_setup(const struct guest_memory *mem, const struct boot_entry *entry,
		   struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
