// SPDX-License-Identifier: MIT
#include "x86/layout.h"

#include <errno.h>

static int push(struct e820_entry *out, int n, int max, uint64_t addr, uint64_t size,
		uint32_t type)
{
	if (n < 0 || n >= max)
		return -EINVAL;
	out[n].addr = addr;
	out[n].size = size;
	out[n].type = type;
	return n + 1;
}

uint64_t layout_low_ram_end(const struct guest_memory *mem)
{
	return mem->nr_slots ? mem->slots[0].gpa + mem->slots[0].size : 0;
}

int layout_e820(const struct guest_memory *mem, struct e820_entry *out, int max)
{
	uint64_t low_end = layout_low_ram_end(mem);
	int n = 0;

	if (!mem->nr_slots || mem->slots[0].gpa != 0 || low_end < LAYOUT_MIN_RAM)
		return -EINVAL;
	n = push(out, n, max, 0, LAYOUT_LOW_RAM_END, E820_RAM);
	n = push(out, n, max, LAYOUT_LOW_RAM_END, LAYOUT_HIGH_MEMORY - LAYOUT_LOW_RAM_END,
		 E820_RESERVED);
	n = push(out, n, max, LAYOUT_HIGH_MEMORY, low_end - LAYOUT_HIGH_MEMORY, E820_RAM);
	for (unsigned int i = 1; i < mem->nr_slots; i++)
		n = push(out, n, max, mem->slots[i].gpa, mem->slots[i].size, E820_RAM);
	return n;
}

unsigned int layout_paging_levels(unsigned int addr_bits, unsigned int page_shift)
{
	if (page_shift <= 3 || addr_bits <= 4)
		return 0;
	return (addr_bits - 4) / (page_shift - 3);
}

uint64_t layout_pci_mmio64(const struct guest_memory *mem)
{
	uint64_t top = guest_mem_top(mem);

	if (top < LAYOUT_PCI_HOLE_END)
		top = LAYOUT_PCI_HOLE_END;
	return (top + LAYOUT_PCI_MMIO64_ALIGN - 1) & ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
}

int layout_check_phys_bits(const struct guest_memory *mem, unsigned int phys_bits)
{
	if (phys_bits >= 64)
		return 0;
	return layout_pci_mmio64(mem) + LAYOUT_PCI_MMIO64_SIZE > (1ULL << phys_bits) ? -ERANGE : 0;
}
