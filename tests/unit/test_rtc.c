// SPDX-License-Identifier: MIT
/* The CMOS RTC driven through the I/O bus as a vCPU would, with a clock the
 * test moves by hand and a timer that only records what it was armed for. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "bus/io_bus.h"
#include "devices/rtc.h"

#define NSEC 1000000000LL

struct fake_machine {
	int level[16];
	int rising_edges[16];
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	(void)ctx; (void)reason; (void)status;
	cr_assert_fail("the RTC never stops the machine");
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	struct fake_machine *m = ctx;

	cr_assert_lt(gsi, 16u);
	if (level && !m->level[gsi])
		m->rising_edges[gsi]++;
	m->level[gsi] = level;
}

static struct fake_machine fake;
static struct machine_ops ops = { .stop = fake_stop, .set_irq = fake_irq, .ctx = &fake };
static struct io_bus bus;
static struct rtc rtc;
static int64_t fake_now;       /* the host clock the RTC sees, ns */
static int64_t armed;          /* the timer's deadline, -1: disarmed */
static int arm_calls;

static int64_t clock_now(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void timer_arm(void *ctx, int64_t deadline)
{
	(void)ctx;
	armed = deadline;
	arm_calls++;
}

static int64_t host_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/* The one-shot timer expires: the board's thread would call rtc_service(). */
static void fire(void)
{
	armed = -1;
	rtc_service(&rtc);
}

static void setup(void)
{
	const struct rtc_clock clock = { clock_now, NULL };
	const struct rtc_timer timer = { timer_arm, NULL };

	memset(&fake, 0, sizeof(fake));
	memset(&bus, 0, sizeof(bus));
	/* A moment of the host's clock, 0.1 s into its second. */
	fake_now = (host_realtime() / NSEC) * NSEC + NSEC / 10;
	armed = -1;
	arm_calls = 0;
	rtc_init(&rtc, &ops, &clock, &timer);
	cr_assert_eq(io_bus_register(&bus, RTC_INDEX_PORT, RTC_PORT_LEN, rtc_io, &rtc, "rtc"), 0);
}

static void teardown(void)
{
	rtc_destroy(&rtc);
}

TestSuite(rtc, .init = setup, .fini = teardown);

static uint8_t cmos_read(uint8_t index)
{
	uint8_t data = index;

	io_bus_access(&bus, RTC_INDEX_PORT, &data, 1, true);
	io_bus_access(&bus, RTC_INDEX_PORT + 1, &data, 1, false);
	return data;
}

static void cmos_write(uint8_t index, uint8_t value)
{
	io_bus_access(&bus, RTC_INDEX_PORT, &index, 1, true);
	io_bus_access(&bus, RTC_INDEX_PORT + 1, &value, 1, true);
}

static int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t to_bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* The date and time the chip shows, as the host's gmtime would. */
static void read_tm(struct tm *tm, bool binary)
{
	int (*conv)(uint8_t) = binary ? NULL : from_bcd;
#define FIELD(reg) (conv ? conv(cmos_read(reg)) : cmos_read(reg))
	memset(tm, 0, sizeof(*tm));
	tm->tm_sec = FIELD(RTC_SECONDS);
	tm->tm_min = FIELD(RTC_MINUTES);
	tm->tm_hour = FIELD(RTC_HOURS);
	tm->tm_mday = FIELD(RTC_DAY_OF_MONTH);
	tm->tm_mon = FIELD(RTC_MONTH) - 1;
	tm->tm_year = FIELD(RTC_CENTURY) * 100 + FIELD(RTC_YEAR) - 1900;
	tm->tm_wday = FIELD(RTC_DAY_OF_WEEK) - 1;
#undef FIELD
}

static void assert_shows_host_time(bool binary)
{
	time_t host = (time_t)(fake_now / NSEC);
	struct tm want, got;

	gmtime_r(&host, &want);
	read_tm(&got, binary);
	cr_assert_eq(got.tm_year, want.tm_year);
	cr_assert_eq(got.tm_mon, want.tm_mon);
	cr_assert_eq(got.tm_mday, want.tm_mday);
	cr_assert_eq(got.tm_wday, want.tm_wday, "day of week, 1 = Sunday");
	cr_assert_eq(got.tm_hour, want.tm_hour);
	cr_assert_eq(got.tm_min, want.tm_min);
	cr_assert_eq(got.tm_sec, want.tm_sec);
}

Test(rtc, power_on_is_bcd_24h_with_the_host_time)
{
	cr_assert_eq(cmos_read(RTC_REG_B), RTC_B_24H, "firmware leaves 24-hour BCD");
	cr_assert_eq(cmos_read(RTC_REG_A) & 0x7f, 0x26, "32 kHz divider, 1024 Hz rate");
	cr_assert_eq(cmos_read(RTC_REG_D), RTC_D_VRT, "valid RAM and time");
	assert_shows_host_time(false);
	/* The clock runs with the host's. */
	fake_now += 3723 * NSEC;
	assert_shows_host_time(false);
}

Test(rtc, binary_mode_shows_the_same_time)
{
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_shows_host_time(true);
}

static int64_t real_clock_now(void *ctx)
{
	(void)ctx;
	return host_realtime();
}

Test(rtc, real_host_clock_matches_within_a_second)
{
	const struct rtc_clock real = { real_clock_now, NULL };
	time_t before, after, shown;
	struct tm got;

	rtc_destroy(&rtc);
	rtc_init(&rtc, &ops, &real, NULL);
	before = time(NULL);
	read_tm(&got, false);
	after = time(NULL);
	shown = timegm(&got);
	cr_assert(shown >= before - 1 && shown <= after + 1, "RTC %lld, host %lld..%lld",
		  (long long)shown, (long long)before, (long long)after);
}

Test(rtc, twelve_hour_mode_marks_pm)
{
	time_t host = (time_t)(fake_now / NSEC);
	struct tm tm;
	uint8_t hours;
	int h12;

	gmtime_r(&host, &tm);
	cmos_write(RTC_REG_B, 0); /* BCD, 12-hour */
	hours = cmos_read(RTC_HOURS);
	h12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
	cr_assert_eq(from_bcd(hours & 0x7f), h12);
	cr_assert_eq(!!(hours & 0x80), tm.tm_hour >= 12, "bit 7 is PM");
}

/* Set the time the way Linux's mc146818_set_time does: SET, divider reset,
 * the registers, then both released. */
static void set_time(int year, int mon, int mday, int hour, int min, int sec)
{
	uint8_t b = cmos_read(RTC_REG_B), a = cmos_read(RTC_REG_A) & 0x7f;

	cmos_write(RTC_REG_B, b | RTC_B_SET);
	cmos_write(RTC_REG_A, a | 0x70);
	cmos_write(RTC_YEAR, to_bcd(year % 100));
	cmos_write(RTC_CENTURY, to_bcd(year / 100));
	cmos_write(RTC_MONTH, to_bcd(mon));
	cmos_write(RTC_DAY_OF_MONTH, to_bcd(mday));
	cmos_write(RTC_HOURS, to_bcd(hour));
	cmos_write(RTC_MINUTES, to_bcd(min));
	cmos_write(RTC_SECONDS, to_bcd(sec));
	cmos_write(RTC_REG_B, b);
	cmos_write(RTC_REG_A, a);
}

Test(rtc, setting_the_time_persists_as_an_offset)
{
	struct tm tm;

	set_time(2031, 7, 14, 23, 59, 58);
	read_tm(&tm, false);
	cr_assert_eq(tm.tm_year, 131);
	cr_assert_eq(tm.tm_mon, 6);
	cr_assert_eq(tm.tm_mday, 14);
	cr_assert_eq(tm.tm_hour, 23);
	cr_assert_eq(tm.tm_min, 59);
	cr_assert_eq(tm.tm_sec, 58);
	cr_assert_eq(tm.tm_wday, 1, "14 July 2031 is a Monday");
	/* It keeps running from there: out of divider reset the first
	 * update comes half a second later. */
	fake_now += NSEC / 2;
	cr_assert_eq(cmos_read(RTC_SECONDS), 0x59);
	fake_now += NSEC;
	read_tm(&tm, false);
	cr_assert_eq(tm.tm_mon, 6);
	cr_assert_eq(tm.tm_mday, 15, "midnight passed");
	cr_assert_eq(tm.tm_hour, 0);
	cr_assert_eq(tm.tm_sec, 0);
}

Test(rtc, set_freezes_the_clock)
{
	uint8_t sec;

	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_SET | RTC_B_UIE);
	cr_assert_eq(cmos_read(RTC_REG_B) & RTC_B_UIE, 0, "SET clears UIE");
	sec = cmos_read(RTC_SECONDS);
	fake_now += 5 * NSEC;
	cr_assert_eq(cmos_read(RTC_SECONDS), sec, "no updates while SET");
	cr_assert_eq(cmos_read(RTC_REG_C) & RTC_C_UF, 0);
	cr_assert_eq(cmos_read(RTC_REG_A) & RTC_A_UIP, 0);
}

Test(rtc, writing_a_field_while_running_moves_only_that_field)
{
	time_t host = (time_t)(fake_now / NSEC);
	struct tm want, got;

	gmtime_r(&host, &want);
	cmos_write(RTC_MINUTES, to_bcd((want.tm_min + 7) % 60));
	read_tm(&got, false);
	cr_assert_eq(got.tm_min, (want.tm_min + 7) % 60);
	cr_assert_eq(got.tm_hour, want.tm_hour);
	cr_assert_eq(got.tm_sec, want.tm_sec);
}

Test(rtc, uip_only_just_before_an_update)
{
	/* 0.1 s into the second: no update in progress. */
	cr_assert_eq(cmos_read(RTC_REG_A) & RTC_A_UIP, 0);
	fake_now += NSEC - NSEC / 10 - RTC_UIP_NS - 1000;
	cr_assert_eq(cmos_read(RTC_REG_A) & RTC_A_UIP, 0, "245 us before");
	fake_now += 2000;
	cr_assert_eq(cmos_read(RTC_REG_A) & RTC_A_UIP, RTC_A_UIP, "243 us before");
	fake_now += RTC_UIP_NS;
	cr_assert_eq(cmos_read(RTC_REG_A) & RTC_A_UIP, 0, "after the update");
}

Test(rtc, register_c_reports_and_clears_flags)
{
	cr_assert_eq(cmos_read(RTC_REG_C), 0, "nothing happened yet");
	fake_now += NSEC;
	/* Flags are set whether or not their interrupts are enabled. */
	cr_assert_eq(cmos_read(RTC_REG_C), RTC_C_UF | RTC_C_PF);
	cr_assert_eq(cmos_read(RTC_REG_C), 0, "reading C clears it");
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 0, "no interrupt enabled, none raised");
}

Test(rtc, update_interrupt_once_a_second_on_irq8)
{
	cmos_write(RTC_REG_A, 0x20);   /* periodic off */
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	cr_assert_eq(armed, fake_now - NSEC / 10 + NSEC, "armed for the next update");
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 0);
	fake_now = armed;
	fire();
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 1);
	cr_assert_eq(fake.level[RTC_IRQ], 1);
	cr_assert_eq(armed, -1, "nothing new reaches the line before C is read");
	cr_assert_eq(cmos_read(RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
	cr_assert_eq(fake.level[RTC_IRQ], 0, "reading C lowers IRQ 8");
	cr_assert_eq(armed, fake_now + NSEC);
	fake_now = armed;
	fire();
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 2, "and again a second later");
}

Test(rtc, alarm_match_raises_irq8)
{
	time_t host = (time_t)(fake_now / NSEC);
	struct tm tm;
	int64_t start = fake_now;

	gmtime_r(&host, &tm);
	cmos_write(RTC_REG_A, 0x20);
	/* Alarm at the current hour and minute, every second don't-care: it
	 * fires at the next update. Then the seconds set to 5 s ahead. */
	cmos_write(RTC_HOURS_ALARM, 0xff);
	cmos_write(RTC_MINUTES_ALARM, 0xc0);
	cmos_write(RTC_SECONDS_ALARM, to_bcd((tm.tm_sec + 5) % 60));
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	cr_assert_eq(armed, start - NSEC / 10 + 5 * NSEC, "armed for the alarm");
	fake_now = armed - 1;
	fire();
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 0, "not before the alarm second");
	fake_now = armed;
	fire();
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 1);
	cr_assert_eq(cmos_read(RTC_REG_C) & (RTC_C_IRQF | RTC_C_AF), RTC_C_IRQF | RTC_C_AF);
	cr_assert_eq(armed, start - NSEC / 10 + 65 * NSEC, "next match a minute later");
}

static int tap_calls;

static void count_tap(void *ctx)
{
	cr_assert_eq(ctx, &rtc);
	tap_calls++;
}

Test(rtc, irq8_rising_edges_reach_the_tap)
{
	tap_calls = 0;
	rtc_set_irq_tap(&rtc, &(struct rtc_irq_tap){ count_tap, &rtc });
	cmos_write(RTC_REG_A, 0x20);
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	fake_now = armed;
	fire();
	cr_assert_eq(tap_calls, 1, "the update interrupt's edge");
	fake_now += NSEC;
	fire();
	cr_assert_eq(tap_calls, 1, "no new edge while IRQF is up");
	cmos_read(RTC_REG_C);
	fake_now = armed;
	fire();
	cr_assert_eq(tap_calls, 2, "the next edge after C was read");
}

Test(rtc, alarm_found_after_a_long_quiet_time)
{
	cmos_write(RTC_HOURS_ALARM, 0x03);
	cmos_write(RTC_MINUTES_ALARM, 0x00);
	cmos_write(RTC_SECONDS_ALARM, 0x00);
	cmos_read(RTC_REG_C);
	fake_now += 2 * 86400 * NSEC;
	cr_assert_eq(cmos_read(RTC_REG_C) & RTC_C_AF, RTC_C_AF, "03:00:00 passed in two days");
}

Test(rtc, alarm_with_invalid_value_never_matches)
{
	cmos_write(RTC_SECONDS_ALARM, 0x7a); /* no BCD number */
	cmos_write(RTC_MINUTES_ALARM, 0xc0);
	cmos_write(RTC_HOURS_ALARM, 0xc0);
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	cr_assert_eq(armed, -1, "no timer for an alarm that cannot fire");
	fake_now += 86400 * NSEC;
	cr_assert_eq(cmos_read(RTC_REG_C) & RTC_C_AF, 0);
}

Test(rtc, periodic_interrupt_at_the_rate_of_register_a)
{
	static const struct { uint8_t rs; int64_t hz; } rates[] = {
		{ 3, 8192 }, { 6, 1024 }, { 15, 2 }, { 1, 256 }, { 2, 128 },
	};

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		int64_t first, second;

		cmos_write(RTC_REG_B, RTC_B_24H);
		cmos_read(RTC_REG_C);
		cmos_write(RTC_REG_A, 0x20 | rates[i].rs);
		cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
		first = armed;
		cr_assert_gt(first, fake_now);
		fake_now = first;
		fire();
		cr_assert_eq(cmos_read(RTC_REG_C), RTC_C_IRQF | RTC_C_PF, "rate select %u",
			     rates[i].rs);
		second = armed;
		/* One period apart, to the nanosecond's rounding. */
		cr_assert(second - first >= NSEC / rates[i].hz - 1 &&
			  second - first <= NSEC / rates[i].hz + 1,
			  "rate select %u: %lld ns apart", rates[i].rs,
			  (long long)(second - first));
	}
}

Test(rtc, no_timer_without_an_enabled_interrupt)
{
	cmos_write(RTC_REG_A, 0x2f);  /* fastest-but-one periodic rate, PIE off */
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_SQWE);
	fake_now += 10 * NSEC;
	cmos_read(RTC_SECONDS);
	cr_assert_eq(armed, -1);
	cr_assert_eq(arm_calls, 0, "the timer was never armed");
	/* Enabling and disabling arms and disarms it. */
	cmos_read(RTC_REG_C);
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	cr_assert_neq(armed, -1);
	cmos_write(RTC_REG_B, RTC_B_24H);
	cr_assert_eq(armed, -1);
}

Test(rtc, enabling_an_interrupt_with_its_flag_up_raises_it)
{
	fake_now += NSEC;
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	cr_assert_eq(fake.rising_edges[RTC_IRQ], 1, "UF was already set");
}

Test(rtc, nmi_mask_bit_reads_back)
{
	uint8_t data = RTC_NMI_DISABLE | RTC_REG_D;

	io_bus_access(&bus, RTC_INDEX_PORT, &data, 1, true);
	data = 0;
	io_bus_access(&bus, RTC_INDEX_PORT, &data, 1, false);
	cr_assert_eq(data, RTC_NMI_DISABLE | RTC_REG_D);
	cr_assert_eq(rtc.s.index_byte & RTC_NMI_DISABLE, RTC_NMI_DISABLE, "recorded");
	/* The mask bit does not change which register is selected. */
	io_bus_access(&bus, RTC_INDEX_PORT + 1, &data, 1, false);
	cr_assert_eq(data, RTC_D_VRT);
}

Test(rtc, cmos_ram_reads_back_what_was_written)
{
	for (unsigned int i = 0x0e; i < RTC_CMOS_SIZE; i++)
		if (i != RTC_CENTURY)
			cmos_write((uint8_t)i, (uint8_t)(i * 7 + 3));
	for (unsigned int i = 0x0e; i < RTC_CMOS_SIZE; i++)
		if (i != RTC_CENTURY)
			cr_assert_eq(cmos_read((uint8_t)i), (uint8_t)(i * 7 + 3), "byte 0x%x", i);
}

Test(rtc, index_wraps_to_128_bytes_and_wide_accesses_split)
{
	uint8_t pair[2] = { 0x40 | 0x80, 0x5a };
	uint8_t data;

	/* Bit 7 is the NMI mask, so 0xc0 selects byte 0x40. */
	io_bus_access(&bus, RTC_INDEX_PORT, pair, 2, true);
	cr_assert_eq(cmos_read(0x40), 0x5a, "a 16-bit write sets index then data");
	/* Register C and D are read-only. */
	cmos_write(RTC_REG_D, 0x00);
	cr_assert_eq(cmos_read(RTC_REG_D), RTC_D_VRT);
	cmos_write(RTC_REG_C, 0xff);
	cr_assert_eq(cmos_read(RTC_REG_C), 0);
	/* Index 0xff is byte 0x7f with NMI masked. */
	cmos_write(0x7f, 0x33);
	data = 0xff;
	io_bus_access(&bus, RTC_INDEX_PORT, &data, 1, true);
	io_bus_access(&bus, RTC_INDEX_PORT + 1, &data, 1, false);
	cr_assert_eq(data, 0x33);
}

Test(rtc, memory_size_bytes)
{
	rtc_set_memory_size(&rtc, 3ULL << 30, 1ULL << 30);
	cr_assert_eq(cmos_read(0x15) | cmos_read(0x16) << 8, 640);
	cr_assert_eq(cmos_read(0x17) | cmos_read(0x18) << 8, 0xfc00, "capped at 63 MiB");
	cr_assert_eq(cmos_read(0x34) | cmos_read(0x35) << 8, ((3ULL << 30) - (16 << 20)) >> 16);
	cr_assert_eq(cmos_read(0x5b) | cmos_read(0x5c) << 8 | cmos_read(0x5d) << 16,
		     (1 << 30) >> 16);
}

Test(rtc, reset_turns_interrupts_off_and_keeps_the_time)
{
	set_time(2040, 1, 2, 3, 4, 5);
	cmos_write(RTC_REG_B, RTC_B_24H | RTC_B_UIE | RTC_B_PIE);
	fake_now += NSEC;
	fire();
	cr_assert_eq(fake.level[RTC_IRQ], 1);
	rtc_reset(&rtc);
	cr_assert_eq(fake.level[RTC_IRQ], 0);
	cr_assert_eq(cmos_read(RTC_REG_B), RTC_B_24H);
	cr_assert_eq(cmos_read(RTC_YEAR), 0x40);
	cr_assert_eq(armed, -1);
}
