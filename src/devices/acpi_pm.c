// SPDX-License-Identifier: MIT
#include "devices/acpi_pm.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>
#include <time.h>

#include "bus/io_bus.h"
#include "util/log.h"
#include "util/state_buf.h"
#include "x86/layout.h"

/* What the enable register holds: TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN,
 * RTC_EN and PCIEXP_WAKE_DIS; the other bits are reserved. */
#define PM1_ENABLE_BITS  0x4721
/* Status bits whose enable raises the SCI. */
#define PM1_SCI_SOURCES  (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | \
			  ACPI_PM1_RTC)

enum {
	PM1_STATUS_OFF = ACPI_PM1A_EVT_BLK - ACPI_PM_BASE,
	PM1_ENABLE_OFF = PM1_STATUS_OFF + 2,
	PM1_CONTROL_OFF = ACPI_PM1A_CNT_BLK - ACPI_PM_BASE,
	PM_TIMER_OFF = ACPI_PM_TMR_BLK - ACPI_PM_BASE,
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void acpi_pm_init(struct acpi_pm *pm, const struct machine_ops *machine)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->machine = machine;
	/* SMI_CMD is 0 in the FADT: the machine is always in ACPI mode. */
	pm->s.pm1_control = ACPI_PM1_SCI_EN;
	pm->timer_origin_ns = monotonic_ns();
}

static uint32_t pm_timer_ticks(const struct acpi_pm *pm)
{
	uint64_t ns = monotonic_ns() - pm->timer_origin_ns;

	/* Split to avoid overflowing ns * 3579545 after ~85 minutes. */
	uint64_t ticks = (ns / 1000000000ULL) * ACPI_PM_TIMER_HZ +
			 (ns % 1000000000ULL) * ACPI_PM_TIMER_HZ / 1000000000ULL;
	return (uint32_t)ticks & 0xffffff; /* 24-bit timer (TMR_VAL_EXT clear) */
}

static uint16_t *pm1_register(struct acpi_pm *pm, uint64_t offset)
{
	switch (offset) {
	case PM1_STATUS_OFF:
		return &pm->s.pm1_status;
	case PM1_ENABLE_OFF:
		return &pm->s.pm1_enable;
	case PM1_CONTROL_OFF:
		return &pm->s.pm1_control;
	default:
		return NULL;
	}
}

/* The SCI is a level: up while SCI_EN and an enabled status bit are set. */
static bool sci_wanted(const struct acpi_pm *pm)
{
	return (pm->s.pm1_control & ACPI_PM1_SCI_EN) &&
	       (pm->s.pm1_status & pm->s.pm1_enable & PM1_SCI_SOURCES);
}

static void update_sci(struct acpi_pm *pm)
{
	bool want = sci_wanted(pm);

	if (want != pm->s.sci_high) {
		pm->s.sci_high = want;
		machine_set_irq(pm->machine, ACPI_SCI_IRQ, want);
	}
}

/* A wake event in S3: back to S0, WAK_STS set, the vCPUs restarted. */
static void wake_locked(struct acpi_pm *pm, const char *why)
{
	pr_info("the guest wakes from ACPI S3 (%s)", why);
	pm->s.sleeping = false;
	pm->s.pm1_status |= ACPI_PM1_WAK_STS;
	machine_wake(pm->machine);
}

/* An enabled wake event already pending when the guest sleeps wakes it
 * again at once, through the waking vector like any other wake. */
static void sleep_locked(struct acpi_pm *pm)
{
	if (!machine_suspend(pm->machine))
		return;
	pm->s.sleeping = true;
	/* --verbose says so: from here the power button wakes it. */
	pr_info("the guest sleeps in ACPI S3");
	if (pm->s.pm1_status & pm->s.pm1_enable & ACPI_PM1_RTC)
		wake_locked(pm, "RTC event already pending");
}

static void pm1_control_write(struct acpi_pm *pm, uint16_t value)
{
	unsigned int type = (value & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;

	/* SLP_EN is write-only (reads 0); SCI_EN stays set: no legacy mode. */
	pm->s.pm1_control = (uint16_t)((value & ~ACPI_SLP_EN) | ACPI_PM1_SCI_EN);
	if (!(value & ACPI_SLP_EN))
		return;
	if (type == ACPI_SLP_TYP_S5)
		machine_stop(pm->machine, MACHINE_STOP_POWEROFF, 0);
	else if (type == ACPI_SLP_TYP_S3)
		sleep_locked(pm);
}

static void pm1_write(struct acpi_pm *pm, uint64_t offset, uint16_t value)
{
	switch (offset) {
	case PM1_STATUS_OFF:
		pm->s.pm1_status &= (uint16_t)~value; /* write-one-to-clear */
		break;
	case PM1_ENABLE_OFF:
		pm->s.pm1_enable = value & PM1_ENABLE_BITS;
		break;
	case PM1_CONTROL_OFF:
		pm1_control_write(pm, value);
		break;
	default:
		return;
	}
	update_sci(pm);
}

void acpi_pm_rtc_event(void *ctx)
{
	struct acpi_pm *pm = ctx;

	pthread_mutex_lock(&pm->lock);
	pm->s.pm1_status |= ACPI_PM1_RTC;
	if (pm->s.sleeping && (pm->s.pm1_enable & ACPI_PM1_RTC))
		wake_locked(pm, "RTC interrupt");
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

bool acpi_pm_power_button_wake(struct acpi_pm *pm)
{
	bool woke;

	pthread_mutex_lock(&pm->lock);
	woke = pm->s.sleeping;
	if (woke) {
		pm->s.pm1_status |= ACPI_PM1_PWRBTN;
		wake_locked(pm, "power button");
		update_sci(pm);
	}
	pthread_mutex_unlock(&pm->lock);
	return woke;
}

bool acpi_pm_sleeping(struct acpi_pm *pm)
{
	bool sleeping;

	pthread_mutex_lock(&pm->lock);
	sleeping = pm->s.sleeping;
	pthread_mutex_unlock(&pm->lock);
	return sleeping;
}

void acpi_pm_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct acpi_pm *pm = ctx;
	uint16_t *reg;

	pthread_mutex_lock(&pm->lock);
	if (offset == PM_TIMER_OFF) {
		if (!is_write)
			io_data_put(data, size, pm_timer_ticks(pm));
	} else if (is_write) {
		pm1_write(pm, offset, (uint16_t)io_data_get(data, size < 2 ? size : 2));
	} else {
		reg = pm1_register(pm, offset);
		io_data_put(data, size, reg ? *reg : 0xffff);
	}
	pthread_mutex_unlock(&pm->lock);
}

#define ACPI_PM_STATE_VERSION 1
/* Status bits kiln ever sets, and WAK_STS. */
#define PM1_STATUS_BITS (PM1_SCI_SOURCES | ACPI_PM1_WAK_STS)

/* The registers and the PM timer's value as the guest reads it now: a
 * restored timer counts on from there, whenever the machine is restored. */
static int acpi_pm_save(struct device *dev, struct device_state *out, struct kiln_err *err)
{
	struct acpi_pm *pm = dev->priv;
	struct state_writer w = { 0 };

	pthread_mutex_lock(&pm->lock);
	state_put_u16(&w, pm->s.pm1_status);
	state_put_u16(&w, pm->s.pm1_enable);
	state_put_u16(&w, pm->s.pm1_control);
	state_put_u8(&w, pm->s.sleeping);
	state_put_u32(&w, pm_timer_ticks(pm));
	pthread_mutex_unlock(&pm->lock);
	return device_state_finish(&w, ACPI_PM_STATE_VERSION, out, dev->name, err);
}

static int acpi_pm_check(const struct acpi_pm_state *s, uint32_t ticks, bool bad,
			 const char *name, struct kiln_err *err)
{
	if (s->pm1_status & ~PM1_STATUS_BITS)
		return device_state_bad_field(name, "PM1 status", s->pm1_status, err);
	if (s->pm1_enable & ~PM1_ENABLE_BITS)
		return device_state_bad_field(name, "PM1 enable", s->pm1_enable, err);
	if (!(s->pm1_control & ACPI_PM1_SCI_EN) || (s->pm1_control & ACPI_SLP_EN))
		return device_state_bad_field(name, "PM1 control", s->pm1_control, err);
	if (bad)
		return device_state_bad_field(name, "sleeping flag", 2, err);
	if (ticks > 0xffffff)
		return device_state_bad_field(name, "PM timer", ticks, err);
	return 0;
}

static int acpi_pm_load(struct device *dev, const struct device_state *in, struct kiln_err *err)
{
	struct acpi_pm *pm = dev->priv;
	struct state_reader r = state_reader_init(in->data, in->len);
	struct acpi_pm_state s = { 0 };
	bool bad = false;
	uint32_t ticks;
	int ret;

	if ((ret = device_state_check_version(in, ACPI_PM_STATE_VERSION, dev->name, err)))
		return ret;
	s.pm1_status = state_get_u16(&r);
	s.pm1_enable = state_get_u16(&r);
	s.pm1_control = state_get_u16(&r);
	s.sleeping = state_get_bool(&r, &bad);
	ticks = state_get_u32(&r);
	if ((ret = device_state_check_length(&r, dev->name, err)) ||
	    (ret = acpi_pm_check(&s, ticks, bad, dev->name, err)))
		return ret;
	pthread_mutex_lock(&pm->lock);
	pm->s = s;
	/* ticks < 2^24, so ticks * 1e9 fits in 64 bits. */
	pm->timer_origin_ns = monotonic_ns() - (uint64_t)ticks * 1000000000ULL / ACPI_PM_TIMER_HZ;
	/* Drive the SCI to what the registers say, whatever it was. */
	pm->s.sci_high = !sci_wanted(pm);
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	/* A machine saved in S3 sleeps on until a wake event. */
	if (s.sleeping)
		machine_suspend(pm->machine);
	return 0;
}

static const struct device_ops acpi_pm_ops = { .save = acpi_pm_save, .load = acpi_pm_load };

static int acpi_pm_create(const struct device_env *env, struct kiln_err *err)
{
	struct acpi_pm *pm = device_list_add_new(env->devices, "acpi-pm", sizeof(*pm),
						 &acpi_pm_ops, err);

	if (!pm)
		return err->code;
	acpi_pm_init(pm, env->machine);
	return device_register_io(env->pio, ACPI_PM_BASE, ACPI_PM_PORT_LEN, acpi_pm_io, pm,
				  "acpi-pm", err);
}

const struct device_kind acpi_pm_kind = { "acpi-pm", acpi_pm_create };
