// SPDX-License-Identifier: MIT
/* The ACPI PM timer as a running tick count: the 24-bit counter wraps every
 * 4.7 s, so each read adds the ticks since the last one. Works at CPL3. */
#include "guest.h"

#define PM_TIMER_MASK 0xffffffu

void pm_clock_start(struct pm_clock *c, uint16_t port)
{
	c->port = port;
	c->last = inl(port) & PM_TIMER_MASK;
	c->ticks = 0;
}

uint64_t pm_clock_ticks(struct pm_clock *c)
{
	uint32_t now = inl(c->port) & PM_TIMER_MASK;

	c->ticks += (now - c->last) & PM_TIMER_MASK;
	c->last = now;
	return c->ticks;
}
