// SPDX-License-Identifier: MIT
/* Port I/O exits from CPL3: iterations=N writes to an unclaimed port, each
 * a full exit to the VMM and back. bench/ times this loop. */
#include "guest.h"

#define UNCLAIMED_PORT 0x5000

static uint64_t pio_loop(void *arg)
{
	uint64_t n = *(uint64_t *)arg;

	for (uint64_t i = 0; i < n; i++)
		outb(UNCLAIMED_PORT, (uint8_t)i);
	return n;
}

static uint64_t pio_read(void *arg)
{
	(void)arg;
	return inb(UNCLAIMED_PORT);
}

void guest_main(void)
{
	uint64_t n = cmdline_get_u64("iterations", 100000);
	uint64_t t0 = rdtsc(), done = user_call(pio_loop, &n), t1 = rdtsc();

	report(done == n, "%lu port writes at CPL3 came back (%lu TSC cycles each)", done,
	       n ? (t1 - t0) / n : 0);
	report(user_call(pio_read, 0) == 0xff, "a read of an unclaimed port is all-ones");
}
