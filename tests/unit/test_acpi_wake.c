// SPDX-License-Identifier: MIT
/* The vCPU state for the wake from S3, from a FACS the test writes as an OS
 * would, in plain (non-KVM) guest memory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "x86/acpi.h"
#include "x86/acpi_wake.h"
#include "x86/layout.h"

static struct guest_memory mem;
static struct acpi_facs *facs;

static void setup(void)
{
	cr_assert_eq(guest_mem_create(&mem, 16ULL << 20, LAYOUT_PCI_HOLE_START), 0);
	facs = guest_mem_ptr(&mem, LAYOUT_ACPI_FACS, sizeof(*facs));
	cr_assert_not_null(facs);
	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);
	facs->version = 2;
}

static void teardown(void)
{
	guest_mem_destroy(&mem);
}

TestSuite(acpi_wake, .init = setup, .fini = teardown);

/* What KVM_GET_SREGS gave before the sleep: long mode, paging, a pending
 * interrupt. */
static void stale_state(struct kvm_regs *r, struct kvm_sregs *s)
{
	memset(r, 0x5a, sizeof(*r));
	memset(s, 0, sizeof(*s));
	s->cr0 = 0x80050033;
	s->cr3 = 0x1000;
	s->cr4 = 0x6f0;
	s->efer = 0xd01;
	s->apic_base = 0xfee00900;
	s->interrupt_bitmap[0] = 1ULL << 0x30;
}

Test(acpi_wake, real_mode_at_the_waking_vector)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	stale_state(&r, &s);
	facs->firmware_waking_vector = 0x9a125;
	cr_assert_eq(acpi_wake_boot_cpu(&mem, LAYOUT_ACPI_FACS, &r, &s), 0);
	cr_assert_eq(s.cs.selector, 0x9a12, "CS = vector >> 4");
	cr_assert_eq(s.cs.base, 0x9a120);
	cr_assert_eq(r.rip, 5, "IP = vector & 0xf");
	cr_assert_eq(s.cs.limit, 0xffff);
	cr_assert_eq(s.cr0 & 1, 0, "real mode");
	cr_assert_eq(s.cr0 & 0x80000000, 0, "no paging");
	cr_assert_eq(s.efer, 0, "no long mode");
	cr_assert_eq(s.cr4, 0);
	cr_assert_eq(r.rflags, 2, "interrupts off");
	cr_assert_eq(r.rax | r.rsp | r.rbx, 0, "general registers cleared");
	cr_assert_eq(s.ds.base | s.ss.base | s.es.base, 0);
	cr_assert_eq(s.idt.base, 0);
	cr_assert_eq(s.idt.limit, 0x3ff, "the real-mode IVT");
	cr_assert_eq(s.interrupt_bitmap[0], 0, "no stale interrupt to inject");
	cr_assert_eq(s.apic_base, 0xfee00900, "the APIC base is KVM's to keep");
}

Test(acpi_wake, x_vector_means_flat_32_bit_protected_mode)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	stale_state(&r, &s);
	facs->firmware_waking_vector = 0x9a000;
	facs->x_firmware_waking_vector = 0x200000;
	cr_assert_eq(acpi_wake_boot_cpu(&mem, LAYOUT_ACPI_FACS, &r, &s), 0);
	cr_assert_eq(r.rip, 0x200000, "the X_ vector wins");
	cr_assert_eq(s.cr0 & 0x80000001, 1, "protected mode, paging off");
	cr_assert_eq(s.efer, 0);
	cr_assert(s.cs.db && s.cs.g && s.cs.base == 0 && s.cs.limit == 0xffffffff,
		  "flat 32-bit code");
	cr_assert(s.ds.db && s.ds.base == 0 && s.ss.limit == 0xffffffff, "flat data");
}

Test(acpi_wake, x_vector_ignored_in_a_version_0_facs)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	stale_state(&r, &s);
	facs->version = 0;
	facs->firmware_waking_vector = 0x1000;
	facs->x_firmware_waking_vector = 0x200000;
	cr_assert_eq(acpi_wake_boot_cpu(&mem, LAYOUT_ACPI_FACS, &r, &s), 0);
	cr_assert_eq(s.cs.selector, 0x100);
	cr_assert_eq(r.rip, 0);
	cr_assert_eq(s.cr0 & 1, 0);
}

Test(acpi_wake, refuses_what_cannot_be_entered)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	stale_state(&r, &s);
	cr_assert_eq(acpi_wake_boot_cpu(&mem, LAYOUT_ACPI_FACS, &r, &s), -ENOEXEC, "no vector");
	facs->firmware_waking_vector = 0x100000;
	cr_assert_eq(acpi_wake_boot_cpu(&mem, LAYOUT_ACPI_FACS, &r, &s), -ENOEXEC,
		     "beyond real mode's reach");
	facs->x_firmware_waking_vector = 1ULL << 32;
	cr_assert_eq(acpi_wake_boot_cpu(&mem, LAYOUT_ACPI_FACS, &r, &s), -ENOEXEC,
		     "beyond 32-bit reach");
	cr_assert_eq(acpi_wake_boot_cpu(&mem, 1ULL << 40, &r, &s), -EFAULT, "outside RAM");
}

Test(acpi_wake, other_cpus_wait_at_the_reset_vector)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	stale_state(&r, &s);
	acpi_wake_other_cpu(&r, &s);
	cr_assert_eq(s.cs.selector, 0xf000);
	cr_assert_eq(s.cs.base, 0xffff0000);
	cr_assert_eq(r.rip, 0xfff0);
	cr_assert_eq(s.cr0 & 0x80000001, 0);
	cr_assert_eq(s.efer, 0);
	cr_assert_eq(s.interrupt_bitmap[0], 0);
}
