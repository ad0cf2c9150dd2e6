// SPDX-License-Identifier: MIT
#include "x86/boot_cpu.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "x86/control_regs.h"
#include "x86/layout.h"

#define RFLAGS_RESERVED_1 0x2ULL

#define PTE_PRESENT (1ULL << 0)
#define PTE_WRITE   (1ULL << 1)
#define PTE_HUGE    (1ULL << 7)
#define PAGE_SIZE   0x1000ULL
#define PT_ENTRIES  512ULL
#define IDENTITY_PDS 4ULL    /* 4 x 1 GiB of 2 MiB pages */
#define PT_PAGES    (2 + IDENTITY_PDS)

#define SEG_TYPE_CODE_XRA 0xb  /* execute/read, accessed */
#define SEG_TYPE_DATA_RWA 0x3  /* read/write, accessed */

_Static_assert(LAYOUT_BOOT_GDT + BOOT_GDT_ENTRIES * 8 <= LAYOUT_BOOT_GDT_END,
	       "boot GDT fits its area");

/* GDT descriptor from the fields KVM's segment cache holds. */
static uint64_t gdt_entry(const struct kvm_segment *seg)
{
	uint64_t limit = seg->g ? seg->limit >> 12 : seg->limit;

	return (limit & 0xffff) | ((seg->base & 0xffffffULL) << 16) |
	       ((uint64_t)seg->type << 40) | ((uint64_t)seg->s << 44) |
	       ((uint64_t)seg->dpl << 45) | ((uint64_t)seg->present << 47) |
	       (((limit >> 16) & 0xf) << 48) | ((uint64_t)seg->avl << 52) |
	       ((uint64_t)seg->l << 53) | ((uint64_t)seg->db << 54) |
	       ((uint64_t)seg->g << 55) | (((seg->base >> 24) & 0xff) << 56);
}

/* Base 0, limit 4 GiB, ring 0; a 64-bit code segment has L=1 and D=0. */
static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool long_code)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = long_code ? 0 : 1, .s = 1,
		.l = long_code ? 1 : 0, .g = 1,
	};
}

static int write_gdt(const struct guest_memory *mem, const struct kvm_segment *cs,
		     const struct kvm_segment *ds, struct kvm_sregs *sregs)
{
	uint64_t gdt[BOOT_GDT_ENTRIES] = { 0 };

	gdt[BOOT_GDT_CS / 8] = gdt_entry(cs);
	gdt[BOOT_GDT_DS / 8] = gdt_entry(ds);
	if (guest_mem_write(mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt)))
		return -EFAULT;
	sregs->gdt.base = LAYOUT_BOOT_GDT;
	sregs->gdt.limit = sizeof(gdt) - 1;
	return 0;
}

/* PML4 -> PDPT -> 4 page directories of 2 MiB pages: identity for 4 GiB. */
static int write_page_tables(const struct guest_memory *mem, uint64_t *cr3)
{
	uint64_t pml4 = LAYOUT_PAGE_TABLES, pdpt = pml4 + PAGE_SIZE, pd = pdpt + PAGE_SIZE;
	uint64_t *table = guest_mem_ptr(mem, pml4, PT_PAGES * PAGE_SIZE);

	if (!table)
		return -EFAULT;
	memset(table, 0, PT_PAGES * PAGE_SIZE);
	table[0] = pdpt | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < IDENTITY_PDS; i++)
		table[PT_ENTRIES + i] = (pd + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < IDENTITY_PDS * PT_ENTRIES; i++)
		table[2 * PT_ENTRIES + i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
	*cr3 = pml4;
	return 0;
}

/* Both entry modes start with addresses below 4 GiB: 32-bit code cannot
 * reach further and the boot page tables map only that much. */
static bool entry_reachable(const struct boot_entry *entry)
{
	return entry->rip <= UINT32_MAX && entry->rsi <= UINT32_MAX &&
	       entry->rbx <= UINT32_MAX;
}

int boot_cpu_setup(const struct guest_memory *mem, const struct boot_entry *entry,
		   struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	bool long_mode = entry->mode == BOOT_MODE_LONG64;
	struct kvm_segment cs = flat_segment(BOOT_GDT_CS, SEG_TYPE_CODE_XRA, long_mode);
	struct kvm_segment ds = flat_segment(BOOT_GDT_DS, SEG_TYPE_DATA_RWA, false);
	uint64_t cr3 = 0;
	int ret;

	if (!entry_reachable(entry))
		return -ERANGE;
	ret = write_gdt(mem, &cs, &ds, sregs);
	if (ret)
		return ret;
	if (long_mode && (ret = write_page_tables(mem, &cr3)))
		return ret;
	sregs->cs = cs;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = ds;
	sregs->cr0 = CR0_PE | CR0_ET | (long_mode ? CR0_PG : 0);
	sregs->cr3 = cr3;
	sregs->cr4 = long_mode ? CR4_PAE : 0;
	sregs->efer = long_mode ? EFER_LME | EFER_LMA : 0;

	memset(regs, 0, sizeof(*regs));
	regs->rflags = RFLAGS_RESERVED_1; /* interrupts off */
	regs->rip = entry->rip;
	regs->rsi = entry->rsi;
	regs->rax = entry->rax;
	regs->rbx = entry->rbx;
	return 0;
}
