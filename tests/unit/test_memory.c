// SPDX-License-Identifier: MIT
/* The guest-memory API: the only way from guest addresses to host pointers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "vm/memory.h"
#include "x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

Test(memory, small_ram_is_one_slot)
{
	struct guest_memory mem;

	cr_assert_eq(guest_mem_create(&mem, 64 * MiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(mem.nr_slots, 1);
	cr_assert_eq(guest_mem_top(&mem), 64 * MiB);
	cr_assert_not_null(guest_mem_ptr(&mem, 0, 64 * MiB));
	cr_assert_not_null(guest_mem_ptr(&mem, 64 * MiB - 1, 1));
	cr_assert_null(guest_mem_ptr(&mem, 64 * MiB - 1, 2), "one byte past the end");
	cr_assert_null(guest_mem_ptr(&mem, 64 * MiB, 0), "the end itself is not RAM");
	cr_assert_null(guest_mem_ptr(&mem, 64 * MiB, 1));
	guest_mem_destroy(&mem);
}

Test(memory, overflow_cases_are_refused)
{
	struct guest_memory mem;

	cr_assert_eq(guest_mem_create(&mem, 16 * MiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_null(guest_mem_ptr(&mem, UINT64_MAX - 1, 4));
	cr_assert_null(guest_mem_ptr(&mem, 4096, UINT64_MAX));
	cr_assert_null(guest_mem_ptr(&mem, 4096, UINT64_MAX - 4095), "len wraps to gpa 0");
	cr_assert_null(guest_mem_ptr(&mem, UINT64_MAX, 1));
	cr_assert_eq(guest_mem_read(&mem, UINT64_MAX - 2, (uint8_t[8]){ 0 }, 8), -EFAULT);
	guest_mem_destroy(&mem);
}

Test(memory, split_around_pci_hole_keeps_2m_congruence)
{
	struct guest_memory mem;

	cr_assert_eq(guest_mem_create(&mem, 4 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(mem.nr_slots, 2);
	cr_assert_eq(mem.slots[0].gpa, 0);
	cr_assert_eq(mem.slots[0].size, 3 * GiB);
	cr_assert_eq(mem.slots[1].gpa, 4 * GiB);
	cr_assert_eq(mem.slots[1].size, 1 * GiB);
	cr_assert_eq(guest_mem_top(&mem), 5 * GiB);
	for (unsigned int i = 0; i < mem.nr_slots; i++)
		cr_assert_eq(((uintptr_t)mem.slots[i].hva ^ mem.slots[i].gpa) % (2 * MiB), 0);
	cr_assert_null(guest_mem_ptr(&mem, 3 * GiB, 1), "the hole is not RAM");
	cr_assert_null(guest_mem_ptr(&mem, 3 * GiB - 4, 8), "no pointer across the hole");
	cr_assert_not_null(guest_mem_ptr(&mem, 4 * GiB, 4096));
	guest_mem_destroy(&mem);
}

Test(memory, read_write_round_trip_and_cross_slot_refusal)
{
	struct guest_memory mem;
	uint8_t out[16], in[16];

	cr_assert_eq(guest_mem_create(&mem, 4 * GiB, LAYOUT_PCI_HOLE_START), 0);
	for (unsigned int i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7);
	cr_assert_eq(guest_mem_write(&mem, 0x1234, out, sizeof(out)), 0);
	cr_assert_eq(guest_mem_read(&mem, 0x1234, in, sizeof(in)), 0);
	cr_assert_arr_eq(in, out, sizeof(out));
	cr_assert_eq(guest_mem_write(&mem, 3 * GiB - 8, out, 16), -EFAULT,
		     "a copy must not run into the hole");
	cr_assert_eq(guest_mem_write(&mem, 5 * GiB - 8, out, 16), -EFAULT);
	guest_mem_destroy(&mem);
}

Test(memory, plan_rejects_bad_sizes)
{
	struct guest_memory mem;

	cr_assert_eq(guest_mem_plan(&mem, 0, LAYOUT_PCI_HOLE_START), -EINVAL);
	cr_assert_eq(guest_mem_plan(&mem, 4095, LAYOUT_PCI_HOLE_START), -EINVAL);
	cr_assert_eq(guest_mem_plan(&mem, 64 * MiB, 3 * GiB + 4096), -EINVAL,
		     "the hole must start on a 1 GiB boundary");
	cr_assert_eq(guest_mem_plan(&mem, 64 * MiB, 0), -EINVAL);
}

Test(layout, e820_small_ram)
{
	struct guest_memory mem;
	struct e820_entry e[LAYOUT_E820_MAX];
	int n;

	cr_assert_eq(guest_mem_plan(&mem, 256 * MiB, LAYOUT_PCI_HOLE_START), 0);
	n = layout_e820(&mem, e, LAYOUT_E820_MAX);
	cr_assert_eq(n, 3);
	cr_assert(e[0].addr == 0 && e[0].size == 0x9fc00 && e[0].type == E820_RAM);
	cr_assert(e[1].addr == 0x9fc00 && e[1].addr + e[1].size == 0x100000 &&
		  e[1].type == E820_RESERVED);
	cr_assert(e[2].addr == 0x100000 && e[2].addr + e[2].size == 256 * MiB &&
		  e[2].type == E820_RAM);
}

Test(layout, e820_large_ram_has_high_entry)
{
	struct guest_memory mem;
	struct e820_entry e[LAYOUT_E820_MAX];
	int n;

	cr_assert_eq(guest_mem_plan(&mem, 6 * GiB, LAYOUT_PCI_HOLE_START), 0);
	n = layout_e820(&mem, e, LAYOUT_E820_MAX);
	cr_assert_eq(n, 4);
	cr_assert_eq(e[2].addr + e[2].size, 3 * GiB);
	cr_assert(e[3].addr == 4 * GiB && e[3].size == 3 * GiB && e[3].type == E820_RAM);
	cr_assert_eq(layout_e820(&mem, e, 3), -EINVAL, "too small a table is an error");
}

Test(layout, paging_levels)
{
	cr_assert_eq(layout_paging_levels(39, 12), 3);
	cr_assert_eq(layout_paging_levels(48, 12), 4);
	cr_assert_eq(layout_paging_levels(57, 12), 5);
	cr_assert_eq(layout_paging_levels(32, 12), 3); /* (32-4)/9 = 3 */
}

Test(layout, physical_address_bits_limit)
{
	struct guest_memory mem;

	cr_assert_eq(guest_mem_plan(&mem, 60 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(layout_check_phys_bits(&mem, 36), 0, "top 61 GiB fits in 64 GiB");
	cr_assert_eq(layout_check_phys_bits(&mem, 35), -ERANGE);
	cr_assert_eq(guest_mem_plan(&mem, 64 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(guest_mem_top(&mem), 65 * GiB);
	cr_assert_eq(layout_check_phys_bits(&mem, 36), -ERANGE);
	cr_assert_eq(guest_mem_plan(&mem, 63 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(guest_mem_top(&mem), 64 * GiB, "exactly 2^36: still addressable");
	cr_assert_eq(layout_check_phys_bits(&mem, 36), 0);
}
