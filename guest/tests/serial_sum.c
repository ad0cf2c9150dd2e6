// SPDX-License-Identifier: MIT
/*
 * COM1 input in bulk: bytes=N are read from COM1 at CPL3, polling the line
 * status register, and their FNV-1a hash is printed, for the host to
 * compare with what it piped in. Input lost on the way (a VMM that drops
 * what overflows the 16-byte FIFO) shows as a wrong hash, or as a guest
 * still waiting when the host's input has ended.
 */
#include "guest.h"

#define COM1 0x3f8
#define LSR_DATA_READY 0x01

static uint64_t receive(void *arg)
{
	uint64_t n = *(uint64_t *)arg, hash = 0xcbf29ce484222325ULL;

	for (uint64_t i = 0; i < n; i++) {
		while (!(inb(COM1 + 5) & LSR_DATA_READY))
			cpu_relax();
		hash = (hash ^ inb(COM1)) * 0x100000001b3ULL;
	}
	return hash;
}

void guest_main(void)
{
	uint64_t n = cmdline_get_u64("bytes", 0);

	printf("serial-sum: receiving %lu bytes\n", n);
	printf("serial-sum: fnv1a %016lx\n", user_call(receive, &n));
	report(true, "received %lu bytes from COM1", n);
}
