// SPDX-License-Identifier: MIT
/* PCI enumeration as an OS does it: every function on bus 0, its IDs,
 * class, BARs and capabilities. The host side compares the list. */
#include "guest.h"

static unsigned int count_caps(unsigned int slot, uint8_t id)
{
	unsigned int n = 0;

	for (unsigned int c = pci_find_cap(slot, id, 0); c; c = pci_find_cap(slot, id, c))
		n++;
	return n;
}

void guest_main(void)
{
	unsigned int found = 0, virtio_ok = 0, virtio = 0;

	for (unsigned int slot = 0; slot < 32; slot++) {
		uint32_t id = pci_read32(slot, 0), class = pci_read32(slot, 8) >> 8;
		uint64_t bar4;

		if ((id & 0xffff) == 0xffff)
			continue;
		found++;
		bar4 = pci_bar(slot, 4);
		printf("INFO: pci %02x: %04x:%04x class %06x bar4 0x%lx bar1 0x%lx vendor-caps %u "
		       "msix %u\n", slot, id & 0xffff, id >> 16, class, bar4, pci_bar(slot, 1),
		       count_caps(slot, 0x09), count_caps(slot, 0x11));
		if ((id & 0xffff) != 0x1af4)
			continue;
		virtio++;
		/* A modern virtio function: 64-bit BAR 4, four virtio
		 * structures and MSI-X. */
		virtio_ok += (pci_read32(slot, 0x20) & 6) == 4 && bar4 && count_caps(slot, 0x09) >= 4 &&
			     count_caps(slot, 0x11) == 1 && (id >> 16) >= 0x1040;
	}
	report(found >= 1, "%u functions on bus 0", found);
	report((pci_read32(0, 8) >> 16) == 0x0600, "slot 0 is a host bridge");
	report(virtio_ok == virtio, "%u of %u virtio functions are well-formed modern devices",
	       virtio_ok, virtio);
	report(virtio == cmdline_get_u64("virtio", 0), "found the %lu virtio devices expected",
	       cmdline_get_u64("virtio", 0));
}
