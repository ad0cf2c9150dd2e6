// SPDX-License-Identifier: MIT
/* The local APIC in xAPIC (MMIO) mode. */
#include "guest.h"

#define APIC_ID      0x20
#define APIC_EOI     0xb0
#define APIC_SVR     0xf0
#define APIC_ICR_LO  0x300
#define APIC_ICR_HI  0x310
#define APIC_LVT_TMR 0x320
#define APIC_TMR_INIT 0x380
#define APIC_TMR_DIV 0x3e0
#define APIC_ICR_BUSY (1u << 12)

static uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }

void lapic_enable(void)
{
	lapic_write(APIC_SVR, 0x1ff); /* software enable, spurious vector 0xff */
}

uint32_t lapic_id(void)
{
	return lapic_read(APIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
}

void lapic_timer(uint8_t vector, uint32_t count, bool periodic)
{
	lapic_write(APIC_TMR_DIV, 0xb); /* divide by 1 */
	lapic_write(APIC_LVT_TMR, vector | (periodic ? (1u << 17) : 0));
	lapic_write(APIC_TMR_INIT, count);
}

void lapic_timer_stop(void)
{
	lapic_write(APIC_TMR_INIT, 0);
	lapic_write(APIC_LVT_TMR, 1u << 16); /* masked */
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
	lapic_write(APIC_ICR_HI, apic_id << 24);
	lapic_write(APIC_ICR_LO, icr_low);
	while (lapic_read(APIC_ICR_LO) & APIC_ICR_BUSY)
		cpu_relax();
}
