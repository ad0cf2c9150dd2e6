// SPDX-License-Identifier: MIT
/*
 * MMIO to an address no device claims: writes and reads of 1, 2, 4 and 8
 * bytes. The host side (kiln --trace-mmio) checks one exit per access with
 * the right direction, size, address and data; here the guest checks what
 * the reads returned (all-ones under kiln, with mmio_ones=1).
 */
#include "guest.h"

#define UNBACKED_MMIO 0xe0000000UL

void guest_main(void)
{
	volatile uint8_t *b = (volatile uint8_t *)(UNBACKED_MMIO + 0x00);
	volatile uint16_t *w = (volatile uint16_t *)(UNBACKED_MMIO + 0x10);
	volatile uint32_t *l = (volatile uint32_t *)(UNBACKED_MMIO + 0x20);
	volatile uint64_t *q = (volatile uint64_t *)(UNBACKED_MMIO + 0x30);
	bool ones = cmdline_get_u64("mmio_ones", 0);
	uint64_t rb, rw, rl, rq;

	*b = 0x11;
	*w = 0x2233;
	*l = 0x44556677;
	*q = 0x8899aabbccddeeffULL;
	rb = *b;
	rw = *w;
	rl = *l;
	rq = *q;
	report_info("reads: 0x%lx 0x%lx 0x%lx 0x%lx", rb, rw, rl, rq);
	if (ones) {
		report(rb == 0xff, "1-byte read of unbacked MMIO is all-ones");
		report(rw == 0xffff, "2-byte read of unbacked MMIO is all-ones");
		report(rl == 0xffffffff, "4-byte read of unbacked MMIO is all-ones");
		report(rq == ~0ULL, "8-byte read of unbacked MMIO is all-ones");
	} else {
		report(rb == *b && rw == *w && rl == *l && rq == *q,
		       "unbacked MMIO reads are stable");
	}
}
