// SPDX-License-Identifier: MIT
/* PCI configuration space through mechanism #1, usable at CPL3. */
#include "guest.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static uint32_t config_address(unsigned int slot, unsigned int reg)
{
	return 0x80000000u | (slot << 11) | (reg & 0xfc);
}

uint32_t pci_read32(unsigned int slot, unsigned int reg)
{
	outl(PCI_ADDR, config_address(slot, reg));
	return inl(PCI_DATA);
}

void pci_write32(unsigned int slot, unsigned int reg, uint32_t v)
{
	outl(PCI_ADDR, config_address(slot, reg));
	outl(PCI_DATA, v);
}

uint8_t pci_read8(unsigned int slot, unsigned int reg)
{
	return (uint8_t)(pci_read32(slot, reg) >> (8 * (reg & 3)));
}

void pci_write16(unsigned int slot, unsigned int reg, uint16_t v)
{
	uint32_t old = pci_read32(slot, reg & ~3u);
	unsigned int shift = 8 * (reg & 2);

	pci_write32(slot, reg & ~3u, (old & ~(0xffffu << shift)) | ((uint32_t)v << shift));
}

int pci_find(uint16_t vendor, uint16_t device)
{
	for (unsigned int slot = 0; slot < 32; slot++)
		if (pci_read32(slot, 0) == ((uint32_t)device << 16 | vendor))
			return (int)slot;
	return -1;
}

uint64_t pci_bar(unsigned int slot, unsigned int index)
{
	uint32_t lo = pci_read32(slot, 0x10 + 4 * index);
	uint64_t addr = lo & ~0xfu;

	if ((lo & 6) == 4)
		addr |= (uint64_t)pci_read32(slot, 0x14 + 4 * index) << 32;
	return addr;
}

unsigned int pci_find_cap(unsigned int slot, uint8_t id, unsigned int after)
{
	unsigned int off = after ? pci_read8(slot, after + 1) : pci_read8(slot, 0x34);

	for (int guard = 0; off && guard < 48; guard++) {
		if (pci_read8(slot, off) == id)
			return off;
		off = pci_read8(slot, off + 1);
	}
	return 0;
}
