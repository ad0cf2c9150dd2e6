// SPDX-License-Identifier: MIT
/*
 * A guest for snapshot tests: it counts ticks forever and prints one line
 * per tick, "tick=N sum=S". Each tick first writes N into one page of a
 * 256 KiB region (a different page each tick, spread over the region) and
 * then hashes the whole region, so S is fixed by the state the guest was
 * in at tick N-1: two machines restored from snapshots of the same moment
 * print the same lines, and a restore that lost a written page prints
 * another sum. Between ticks it waits on the TSC (no memory written), so a
 * person watching sees a few lines a second.
 *
 * fill=MIB (command line) first writes one word into each page of MIB
 * MiB from 32 MiB up: RAM the guest holds but does not touch again, which
 * clones of a snapshot share instead of each holding a copy.
 */
#include "guest.h"

#define REGION_PAGES 64ULL
#define PAGE_WORDS   (4096 / sizeof(uint64_t))
#define TICK_CYCLES  10000000ULL
#define FILL_BASE    (32ULL << 20)          /* identity-mapped RAM above the image */

static uint64_t region_store[REGION_PAGES * PAGE_WORDS] __attribute__((aligned(4096)));

static uint64_t region_hash(const volatile uint64_t *region)
{
	uint64_t hash = 0xcbf29ce484222325ULL;

	for (uint64_t i = 0; i < REGION_PAGES * PAGE_WORDS; i++)
		hash = (hash ^ region[i]) * 0x100000001b3ULL;
	return hash;
}

void guest_main(void)
{
	volatile uint64_t *region = region_store;
	uint64_t tick = 0, fill_mib = cmdline_get_u64("fill", 0);

	for (uint64_t page = 0; page < fill_mib * 256; page++)
		*(volatile uint64_t *)(FILL_BASE + page * 4096) = page + 1;
	for (uint64_t i = 0; i < REGION_PAGES * PAGE_WORDS; i++)
		region[i] = i;
	printf("snapshot-count: ready\n");
	for (;;) {
		uint64_t start = rdtsc();
		/* 613 is odd, prime to 64: the ticks visit every page in turn. */
		uint64_t page = (tick * 613) % REGION_PAGES;

		tick++;
		region[page * PAGE_WORDS + tick % PAGE_WORDS] = tick;
		printf("tick=%lu sum=%016lx\n", tick, region_hash(region));
		while (rdtsc() - start < TICK_CYCLES)
			cpu_relax();
	}
}
