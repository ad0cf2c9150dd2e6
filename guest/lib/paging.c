// SPDX-License-Identifier: MIT
/* Identity mappings beyond the boot-time 4 GiB: for MMIO that firmware (or
 * kiln) placed in the 64-bit PCI window above RAM. */
#include "guest.h"

#define PTE_PRESENT  0x01ULL
#define PTE_WRITE    0x02ULL
#define PTE_USER     0x04ULL
#define PTE_PWT      0x08ULL
#define PTE_PCD      0x10ULL
#define PTE_LARGE    0x80ULL
#define GIB          (1ULL << 30)
#define EXTRA_GIBS   8   /* 1 GiB regions above 4 GiB that can be mapped */

extern uint64_t pdpt[512];
static uint64_t extra_pd[EXTRA_GIBS][512] __attribute__((aligned(4096)));
static unsigned int extra_used;

/* Map the 1 GiB region holding phys with uncached 2 MiB pages, user
 * accessible so CPL3 drivers reach it too. A new entry replaces a
 * not-present one, which no TLB holds, so nothing needs flushing. */
static bool map_gib(uint64_t gib)
{
	uint64_t *pd;

	if (gib >= 512)
		return false;           /* beyond the first PML4 entry */
	if (pdpt[gib] & PTE_PRESENT)
		return true;
	if (extra_used == EXTRA_GIBS)
		return false;
	pd = extra_pd[extra_used++];
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (gib * GIB + (i << 21)) | PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_PWT |
			PTE_PCD | PTE_LARGE;
	__atomic_store_n(&pdpt[gib], (uintptr_t)pd | PTE_PRESENT | PTE_WRITE | PTE_USER,
			 __ATOMIC_RELEASE);
	return true;
}

void *map_phys(uint64_t phys, uint64_t size)
{
	if (!size)
		return (void *)(uintptr_t)phys;
	for (uint64_t gib = phys / GIB; gib <= (phys + size - 1) / GIB; gib++)
		if (!map_gib(gib)) {
			report(false, "cannot map 0x%lx (+0x%lx)", phys, size);
			return NULL;
		}
	return (void *)(uintptr_t)phys;
}
