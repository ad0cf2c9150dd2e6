// SPDX-License-Identifier: MIT
/*
 * The CMOS RTC as a guest driver uses it: the date and time read the way
 * Linux's mc146818_get_time does (wait out UIP, BCD, 24-hour), checked
 * against the host's clock at launch (hosttime=SECONDS on the command line,
 * to a minute), then its interrupts on ISA line 8 routed through the IOAPIC
 * to vector 0x48: two update-ended interrupts, an alarm two seconds ahead,
 * and the periodic interrupt at 2 Hz, each seen in register C.
 */
#include "guest.h"

#define RTC_INDEX    0x70
#define RTC_DATA     0x71
#define REG_A        0x0a
#define REG_B        0x0b
#define REG_C        0x0c
#define A_UIP        0x80
#define B_PIE        0x40
#define B_AIE        0x20
#define B_UIE        0x10
#define B_BINARY     0x04
#define B_24H        0x02
#define C_IRQF       0x80
#define C_PF         0x40
#define C_AF         0x20
#define C_UF         0x10
#define ALARM_ANY    0xff

#define IOAPIC_BASE  0xfec00000UL
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define RTC_PIN      8
#define RTC_VECTOR   0x48

static volatile unsigned int interrupts;
static volatile uint8_t flags_seen;

static uint8_t cmos_read(uint8_t index)
{
	outb(RTC_INDEX, index);
	return inb(RTC_DATA);
}

static void cmos_write(uint8_t index, uint8_t value)
{
	outb(RTC_INDEX, index);
	outb(RTC_DATA, value);
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

struct date {
	unsigned int year, mon, day, hour, min, sec;
};

static void read_date(struct date *d)
{
	uint8_t sec;

	do {
		while (cmos_read(REG_A) & A_UIP)
			cpu_relax();
		sec = cmos_read(0x00);
		d->min = from_bcd(cmos_read(0x02));
		d->hour = from_bcd(cmos_read(0x04));
		d->day = from_bcd(cmos_read(0x07));
		d->mon = from_bcd(cmos_read(0x08));
		d->year = from_bcd(cmos_read(0x32)) * 100 + from_bcd(cmos_read(0x09));
	} while (sec != cmos_read(0x00));   /* an update came between: again */
	d->sec = from_bcd(sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static uint64_t days_from_civil(unsigned int y, unsigned int m, unsigned int d)
{
	uint64_t yy = m <= 2 ? y - 1 : y, era = yy / 400, yoe = yy - era * 400;
	uint64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static uint64_t epoch_seconds(const struct date *d)
{
	return days_from_civil(d->year, d->mon, d->day) * 86400 + d->hour * 3600 + d->min * 60 +
	       d->sec;
}

static void rtc_interrupt(struct regs *r)
{
	(void)r;
	flags_seen |= cmos_read(REG_C);   /* reading C acknowledges it */
	interrupts++;
	lapic_eoi();
}

static void ioapic_route(unsigned int pin, uint8_t vector)
{
	volatile uint32_t *sel = (volatile uint32_t *)IOAPIC_BASE;
	volatile uint32_t *win = (volatile uint32_t *)(IOAPIC_BASE + 0x10);

	/* Edge, active high, fixed delivery to APIC ID 0. */
	*sel = IOAPIC_REDTBL(pin) + 1;
	*win = 0;
	*sel = IOAPIC_REDTBL(pin);
	*win = vector;
}

/* Enable the interrupts in enable and wait with HLT until count of them
 * have arrived; returns the register C flags they carried. */
static uint8_t wait_for(uint8_t enable, unsigned int count)
{
	uint8_t b = cmos_read(REG_B) & (uint8_t)~(B_PIE | B_AIE | B_UIE);

	cmos_read(REG_C);
	interrupts = 0;
	flags_seen = 0;
	cmos_write(REG_B, b | enable);
	while (interrupts < count)
		__asm__ volatile("sti; hlt; cli");
	cmos_write(REG_B, b);
	cmos_read(REG_C);
	return flags_seen;
}

void guest_main(void)
{
	uint64_t host = cmdline_get_u64("hosttime", 0), rtc;
	struct date d;
	uint8_t b = cmos_read(REG_B), flags;

	report((b & (B_24H | B_BINARY)) == B_24H, "RTC in 24-hour BCD mode as firmware leaves it "
	       "(B = 0x%02x)", b);
	read_date(&d);
	rtc = epoch_seconds(&d);
	report_info("rtc %04u-%02u-%02u %02u:%02u:%02u (%lu)", d.year, d.mon, d.day, d.hour, d.min,
		    d.sec, (unsigned long)rtc);
	report(host && rtc + 60 >= host && rtc <= host + 60,
	       "RTC time within a minute of the host's at launch (%lu)", (unsigned long)host);

	map_phys(IOAPIC_BASE, 0x1000);
	idt_set_handler(RTC_VECTOR, rtc_interrupt);
	ioapic_route(RTC_PIN, RTC_VECTOR);

	flags = wait_for(B_UIE, 2);
	report(flags & C_UF, "update-ended interrupts on IRQ 8 (flags 0x%02x)", flags);

	read_date(&d);
	cmos_write(0x05, ALARM_ANY);
	cmos_write(0x03, ALARM_ANY);
	cmos_write(0x01, (uint8_t)((((d.sec + 2) % 60) / 10) << 4 | ((d.sec + 2) % 10)));
	flags = wait_for(B_AIE, 1);
	report((flags & (C_IRQF | C_AF)) == (C_IRQF | C_AF), "alarm interrupt two seconds ahead "
	       "(flags 0x%02x)", flags);

	cmos_write(REG_A, (cmos_read(REG_A) & 0x70) | 0x0f);   /* rate 15: 2 Hz */
	flags = wait_for(B_PIE, 2);
	report(flags & C_PF, "periodic interrupts at 2 Hz (flags 0x%02x)", flags);
}
