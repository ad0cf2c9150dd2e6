// SPDX-License-Identifier: MIT
/* The guest-physical layout: e820 map, page-table levels, physical-address limits. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "vm/memory.h"
#include "x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct guest_memory mem;

static int e820_for(uint64_t ram, struct e820_entry *e)
{
	cr_assert_eq(guest_mem_plan(&mem, ram, LAYOUT_PCI_HOLE_START), 0);
	return layout_e820(&mem, e, LAYOUT_E820_MAX);
}

/* Sorted, disjoint, and the usable entries add up to RAM minus the legacy
 * area the map reserves below 1 MiB. */
static void check_consistent(const struct e820_entry *e, int n, uint64_t ram)
{
	uint64_t usable = 0;

	for (int i = 0; i < n; i++) {
		cr_assert_gt(e[i].size, 0, "entry %d not empty", i);
		if (i)
			cr_assert_geq(e[i].addr, e[i - 1].addr + e[i - 1].size, "entry %d sorted", i);
		if (e[i].type == E820_RAM)
			usable += e[i].size;
		cr_assert(e[i].addr + e[i].size <= LAYOUT_PCI_HOLE_START ||
			  e[i].addr >= LAYOUT_PCI_HOLE_END, "entry %d clear of the PCI hole", i);
	}
	cr_assert_eq(usable, ram - (LAYOUT_HIGH_MEMORY - LAYOUT_LOW_RAM_END));
}

Test(layout, e820_256_mib)
{
	struct e820_entry e[LAYOUT_E820_MAX];
	int n = e820_for(256 * MiB, e);

	cr_assert_eq(n, 3);
	cr_assert(e[0].addr == 0 && e[0].size == 0x9fc00 && e[0].type == E820_RAM,
		  "low RAM up to the EBDA");
	cr_assert(e[1].addr == 0x9fc00 && e[1].addr + e[1].size == 0x100000 &&
		  e[1].type == E820_RESERVED, "EBDA, VGA, BIOS and the ACPI tables reserved");
	cr_assert(e[2].addr == 0x100000 && e[2].addr + e[2].size == 256 * MiB &&
		  e[2].type == E820_RAM);
	check_consistent(e, n, 256 * MiB);
	cr_assert_eq(layout_low_ram_end(&mem), 256 * MiB);
}

Test(layout, e820_6_gib)
{
	struct e820_entry e[LAYOUT_E820_MAX];
	int n = e820_for(6 * GiB, e);

	cr_assert_eq(n, 4);
	cr_assert(e[2].addr == 0x100000 && e[2].addr + e[2].size == 3 * GiB,
		  "RAM stops at the PCI hole");
	cr_assert(e[3].addr == 4 * GiB && e[3].size == 3 * GiB && e[3].type == E820_RAM,
		  "the rest continues at 4 GiB");
	check_consistent(e, n, 6 * GiB);
	cr_assert_eq(layout_low_ram_end(&mem), 3 * GiB);
}

Test(layout, acpi_tables_sit_in_a_reserved_entry)
{
	struct e820_entry e[LAYOUT_E820_MAX];
	int n = e820_for(256 * MiB, e), found = 0;

	for (int i = 0; i < n; i++)
		if (e[i].addr <= LAYOUT_ACPI_BASE && LAYOUT_ACPI_END <= e[i].addr + e[i].size)
			found = e[i].type == E820_RESERVED || e[i].type == E820_ACPI;
	cr_assert(found, "the guest must not reuse the ACPI tables as RAM");
}

Test(layout, e820_refusals)
{
	struct e820_entry e[LAYOUT_E820_MAX];

	cr_assert_eq(guest_mem_plan(&mem, 6 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_e820(&mem, e, 3), -EINVAL, "too small a table is an error");
	cr_assert_eq(guest_mem_plan(&mem, LAYOUT_MIN_RAM - 4096, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_e820(&mem, e, LAYOUT_E820_MAX), -EINVAL, "below the minimum RAM");
	cr_assert_eq(guest_mem_plan(&mem, LAYOUT_MIN_RAM, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_e820(&mem, e, LAYOUT_E820_MAX), 3, "the minimum itself works");
}

Test(layout, paging_levels)
{
	cr_assert_eq(layout_paging_levels(39, 12), 3, "Sv39-sized space");
	cr_assert_eq(layout_paging_levels(48, 12), 4, "4-level paging");
	cr_assert_eq(layout_paging_levels(57, 12), 5, "LA57");
	cr_assert_eq(layout_paging_levels(32, 12), 3, "(32 - 4) / 9");
	cr_assert_eq(layout_paging_levels(48, 3), 0, "nonsense page size");
}

Test(layout, mmio64_window_above_ram_and_4g)
{
	cr_assert_eq(guest_mem_plan(&mem, 256 * MiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_pci_mmio64(&mem), 4 * GiB, "small guests: right at 4 GiB");
	cr_assert_eq(guest_mem_plan(&mem, 3 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_pci_mmio64(&mem), 4 * GiB, "RAM ends at the hole: still 4 GiB");
	cr_assert_eq(guest_mem_plan(&mem, 28 * GiB + 512 * MiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(guest_mem_top(&mem), 29 * GiB + 512 * MiB);
	cr_assert_eq(layout_pci_mmio64(&mem), 30 * GiB, "next 1 GiB boundary above RAM");
}

Test(layout, physical_address_bits_limit)
{
	/* RAM and then the 32 GiB MMIO64 window must fit below 2^bits. */
	cr_assert_eq(guest_mem_plan(&mem, 28 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(guest_mem_top(&mem), 29 * GiB, "1 GiB of RAM displaced above 4 GiB");
	cr_assert_eq(layout_check_phys_bits(&mem, 36), 0, "window ends at 61 GiB, below 64");
	cr_assert_eq(layout_check_phys_bits(&mem, 35), -ERANGE);
	cr_assert_eq(guest_mem_plan(&mem, 32 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_check_phys_bits(&mem, 36), -ERANGE, "window would end at 65 GiB");
	cr_assert_eq(guest_mem_plan(&mem, 31 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_pci_mmio64(&mem) + LAYOUT_PCI_MMIO64_SIZE, 64 * GiB, "exactly 2^36");
	cr_assert_eq(layout_check_phys_bits(&mem, 36), 0, "the top is exclusive");
	cr_assert_eq(guest_mem_plan(&mem, 256 * MiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_check_phys_bits(&mem, 36), 0);
	cr_assert_eq(layout_check_phys_bits(&mem, 35), -ERANGE, "window 4-36 GiB");
}
