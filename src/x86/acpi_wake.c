// SPDX-License-Identifier: MIT
#include "x86/acpi_wake.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "x86/acpi.h"

#define CR0_PE            (1ULL << 0)
#define CR0_ET            (1ULL << 4)
#define RFLAGS_RESERVED_1 0x2ULL
#define SEG_TYPE_CODE_XRA 0xb
#define SEG_TYPE_DATA_RWA 0x3
#define SEG_TYPE_TSS_BUSY 0xb
#define SEG_TYPE_LDT      0x2
#define WAKE_FLAT_CS      0x08   /* selectors of the cached flat segments */
#define WAKE_FLAT_DS      0x10
#define RESET_CS          0xf000 /* the reset vector, 0xffff0 */
#define RESET_IP          0xfff0

static struct kvm_segment real_segment(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = (uint64_t)selector << 4, .limit = 0xffff, .selector = selector,
		.type = type, .present = 1, .s = 1,
	};
}

static struct kvm_segment flat32_segment(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
}

/* What every wake state shares: no paging, no long mode, the IDT and GDT
 * registers as after reset, interrupts off, general registers zero. */
static void reset_common(struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = RFLAGS_RESERVED_1;
	sregs->cr0 = CR0_ET;
	sregs->cr2 = sregs->cr3 = sregs->cr4 = sregs->cr8 = 0;
	sregs->efer = 0;
	sregs->gdt = (struct kvm_dtable){ .base = 0, .limit = 0xffff };
	sregs->idt = (struct kvm_dtable){ .base = 0, .limit = 0x3ff };
	sregs->tr = (struct kvm_segment){ .limit = 0xffff, .type = SEG_TYPE_TSS_BUSY, .present = 1 };
	sregs->ldt = (struct kvm_segment){ .limit = 0xffff, .type = SEG_TYPE_LDT, .present = 1 };
	/* An interrupt KVM was about to inject belongs to the state before. */
	memset(sregs->interrupt_bitmap, 0, sizeof(sregs->interrupt_bitmap));
}

static void real_mode_at(struct kvm_regs *regs, struct kvm_sregs *sregs, uint16_t cs,
			 uint16_t ip)
{
	struct kvm_segment data = real_segment(0, SEG_TYPE_DATA_RWA);

	reset_common(regs, sregs);
	sregs->cs = real_segment(cs, SEG_TYPE_CODE_XRA);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	regs->rip = ip;
}

int acpi_wake_boot_cpu(const struct guest_memory *mem, uint64_t facs_gpa,
		       struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	struct acpi_facs facs;
	struct kvm_segment data = flat32_segment(WAKE_FLAT_DS, SEG_TYPE_DATA_RWA);

	if (guest_mem_read(mem, facs_gpa, &facs, sizeof(facs)))
		return -EFAULT;
	/* The 64-bit field only counts in a FACS of version 1 or later; kiln's
	 * is 2, but the guest could have rewritten it. */
	if (facs.version >= 1 && facs.x_firmware_waking_vector) {
		if (facs.x_firmware_waking_vector > UINT32_MAX)
			return -ENOEXEC;  /* 32-bit mode cannot reach it */
		reset_common(regs, sregs);
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cs = flat32_segment(WAKE_FLAT_CS, SEG_TYPE_CODE_XRA);
		sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
		regs->rip = facs.x_firmware_waking_vector;
		return 0;
	}
	if (!facs.firmware_waking_vector || facs.firmware_waking_vector > 0xfffff)
		return -ENOEXEC;  /* no vector, or one real mode cannot reach */
	real_mode_at(regs, sregs, (uint16_t)(facs.firmware_waking_vector >> 4),
		     (uint16_t)(facs.firmware_waking_vector & 0xf));
	return 0;
}

void acpi_wake_other_cpu(struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	real_mode_at(regs, sregs, RESET_CS, RESET_IP);
	sregs->cs.base = 0xffff0000;   /* the reset CS base, not selector << 4 */
}
