// SPDX-License-Identifier: MIT
/* ACPI PM1a driven through the I/O bus as a vCPU would: S3 entry on
 * SLP_TYP(\_S3)|SLP_EN, the wake events (RTC with RTC_EN, the power button
 * always), WAK_STS, write-one-to-clear status, and the SCI level. */
#include <criterion/criterion.h>
#include <string.h>

#include "bus/io_bus.h"
#include "devices/acpi_pm.h"
#include "x86/layout.h"

struct fake_machine {
	int stops, suspends, wakes;
	int sci_level, sci_changes;
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	struct fake_machine *m = ctx;

	(void)reason; (void)status;
	m->stops++;
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	struct fake_machine *m = ctx;

	cr_assert_eq(gsi, ACPI_SCI_IRQ, "the PM block drives only the SCI");
	m->sci_level = level;
	m->sci_changes++;
}

static void fake_suspend(void *ctx)
{
	((struct fake_machine *)ctx)->suspends++;
}

static void fake_wake(void *ctx)
{
	((struct fake_machine *)ctx)->wakes++;
}

static struct fake_machine fake;
static const struct machine_ops ops = {
	.stop = fake_stop, .set_irq = fake_irq, .suspend = fake_suspend, .wake = fake_wake,
	.ctx = &fake,
};
static struct io_bus bus;
static struct acpi_pm pm;

#define PM1_STS ACPI_PM1A_EVT_BLK
#define PM1_EN  (ACPI_PM1A_EVT_BLK + 2)
#define PM1_CNT ACPI_PM1A_CNT_BLK
#define S3_SLEEP ((ACPI_SLP_TYP_S3 << ACPI_PM1_SLP_TYP_SHIFT) | ACPI_SLP_EN)

static void out16(uint16_t port, uint16_t value)
{
	uint8_t data[2];

	io_data_put(data, 2, value);
	io_bus_access(&bus, port, data, 2, true);
}

static uint16_t in16(uint16_t port)
{
	uint8_t data[2];

	io_bus_access(&bus, port, data, 2, false);
	return (uint16_t)io_data_get(data, 2);
}

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(&bus, 0, sizeof(bus));
	acpi_pm_init(&pm, &ops);
	cr_assert_eq(io_bus_register(&bus, ACPI_PM_BASE, ACPI_PM_PORT_LEN, acpi_pm_io, &pm, "pm"), 0);
}

TestSuite(acpi_pm, .init = setup);

Test(acpi_pm, s3_sleeps_only_on_its_type_with_slp_en)
{
	out16(PM1_CNT, ACPI_SLP_TYP_S3 << ACPI_PM1_SLP_TYP_SHIFT);
	cr_assert_eq(fake.suspends, 0, "SLP_TYP alone does nothing");
	cr_assert_eq(in16(PM1_CNT) & ACPI_PM1_SLP_TYP_MASK,
		     ACPI_SLP_TYP_S3 << ACPI_PM1_SLP_TYP_SHIFT, "SLP_TYP reads back");
	out16(PM1_CNT, (4u << ACPI_PM1_SLP_TYP_SHIFT) | ACPI_SLP_EN);
	cr_assert_eq(fake.suspends + fake.stops, 0, "a type kiln has no \\_Sx for");
	cr_assert_not(acpi_pm_sleeping(&pm));
	out16(PM1_CNT, S3_SLEEP);
	cr_assert_eq(fake.suspends, 1);
	cr_assert_eq(fake.stops, 0, "S3 is no power-off");
	cr_assert(acpi_pm_sleeping(&pm));
	cr_assert_eq(in16(PM1_CNT) & ACPI_SLP_EN, 0, "SLP_EN reads as 0");
	cr_assert(in16(PM1_CNT) & ACPI_PM1_SCI_EN, "still in ACPI mode");
}

Test(acpi_pm, rtc_wakes_only_with_rtc_en)
{
	out16(PM1_CNT, S3_SLEEP);
	acpi_pm_rtc_event(&pm);
	cr_assert_eq(fake.wakes, 0, "RTC_EN clear: no wake");
	cr_assert(acpi_pm_sleeping(&pm));
	cr_assert_eq(in16(PM1_STS), ACPI_PM1_RTC, "RTC_STS is set all the same");

	setup();
	out16(PM1_EN, ACPI_PM1_RTC);
	out16(PM1_CNT, S3_SLEEP);
	cr_assert_eq(fake.wakes, 0);
	acpi_pm_rtc_event(&pm);
	cr_assert_eq(fake.wakes, 1);
	cr_assert_not(acpi_pm_sleeping(&pm));
	cr_assert_eq(in16(PM1_STS), ACPI_PM1_WAK_STS | ACPI_PM1_RTC);
}

Test(acpi_pm, status_bits_clear_by_writing_one)
{
	out16(PM1_EN, ACPI_PM1_RTC);
	out16(PM1_CNT, S3_SLEEP);
	acpi_pm_rtc_event(&pm);
	out16(PM1_STS, ACPI_PM1_WAK_STS);
	cr_assert_eq(in16(PM1_STS), ACPI_PM1_RTC, "only the bit written is cleared");
	out16(PM1_STS, 0);
	cr_assert_eq(in16(PM1_STS), ACPI_PM1_RTC, "writing 0 keeps it");
	out16(PM1_STS, ACPI_PM1_RTC);
	cr_assert_eq(in16(PM1_STS), 0);
}

Test(acpi_pm, power_button_wakes_a_sleeping_machine_whatever_pwrbtn_en)
{
	cr_assert_not(acpi_pm_power_button_wake(&pm), "a running machine is not woken");
	cr_assert_eq(in16(PM1_STS), 0, "nor is PWRBTN_STS set in S0");
	cr_assert_eq(fake.wakes, 0);
	out16(PM1_CNT, S3_SLEEP);
	cr_assert(acpi_pm_power_button_wake(&pm));
	cr_assert_eq(fake.wakes, 1);
	cr_assert_not(acpi_pm_sleeping(&pm));
	cr_assert_eq(in16(PM1_STS), ACPI_PM1_WAK_STS | ACPI_PM1_PWRBTN);
	cr_assert_not(acpi_pm_power_button_wake(&pm), "awake again: a second press is no wake");
	cr_assert_eq(fake.wakes, 1);
}

Test(acpi_pm, a_wake_event_pending_at_sleep_wakes_at_once)
{
	out16(PM1_EN, ACPI_PM1_RTC);
	acpi_pm_rtc_event(&pm);               /* RTC_STS left set by the guest */
	out16(PM1_CNT, S3_SLEEP);
	cr_assert_eq(fake.suspends, 1, "it still goes through the sleep");
	cr_assert_eq(fake.wakes, 1, "and wakes through the waking vector");
	cr_assert_not(acpi_pm_sleeping(&pm));
	cr_assert(in16(PM1_STS) & ACPI_PM1_WAK_STS);
}

Test(acpi_pm, sci_is_the_level_of_enabled_status)
{
	acpi_pm_rtc_event(&pm);
	cr_assert_eq(fake.sci_level, 0, "RTC_STS without RTC_EN: no SCI");
	out16(PM1_EN, ACPI_PM1_RTC);
	cr_assert_eq(fake.sci_level, 1, "enabling a set status raises the SCI");
	out16(PM1_STS, ACPI_PM1_RTC);
	cr_assert_eq(fake.sci_level, 0, "clearing the status lowers it");
	cr_assert_eq(fake.sci_changes, 2);
	out16(PM1_STS, ACPI_PM1_WAK_STS);
	cr_assert_eq(fake.sci_changes, 2, "WAK_STS raises no SCI");
}

Test(acpi_pm, enable_keeps_only_defined_bits)
{
	out16(PM1_EN, 0xffff);
	cr_assert_eq(in16(PM1_EN), 0x4721, "TMR, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE_DIS");
}

Test(acpi_pm, a_machine_that_cannot_sleep_stays_awake)
{
	static const struct machine_ops no_sleep = { .stop = fake_stop, .set_irq = fake_irq,
						     .ctx = &fake };

	acpi_pm_init(&pm, &no_sleep);
	out16(PM1_CNT, S3_SLEEP);
	cr_assert_not(acpi_pm_sleeping(&pm));
	cr_assert_eq(fake.stops, 0);
}
