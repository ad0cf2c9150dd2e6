// SPDX-License-Identifier: MIT
#include "devices/acpi_pm.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>
#include <time.h>

#include "bus/io_bus.h"
#include "x86/layout.h"

#define PM1_SCI_EN       0x0001
#define PM1_SLP_TYP_MASK (7u << 10)

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
	pm->pm1_control = PM1_SCI_EN;
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
		return &pm->pm1_status;
	case PM1_ENABLE_OFF:
		return &pm->pm1_enable;
	case PM1_CONTROL_OFF:
		return &pm->pm1_control;
	default:
		return NULL;
	}
}

static void pm1_write(struct acpi_pm *pm, uint64_t offset, uint16_t value)
{
	uint16_t *reg = pm1_register(pm, offset);

	if (!reg)
		return;
	if (offset == PM1_STATUS_OFF) {
		pm->pm1_status &= (uint16_t)~value; /* write-one-to-clear */
		return;
	}
	if (offset != PM1_CONTROL_OFF) {
		*reg = value;
		return;
	}
	pm->pm1_control = (uint16_t)((value & ~ACPI_SLP_EN) | PM1_SCI_EN);
	if ((value & ACPI_SLP_EN) &&
	    ((value & PM1_SLP_TYP_MASK) >> 10) == ACPI_SLP_TYP_S5)
		machine_stop(pm->machine, MACHINE_STOP_POWEROFF, 0);
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

static int acpi_pm_create(const struct device_env *env, struct kiln_err *err)
{
	struct acpi_pm *pm = device_list_add_new(env->devices, "acpi-pm", sizeof(*pm),
						 &device_no_ops, err);

	if (!pm)
		return err->code;
	acpi_pm_init(pm, env->machine);
	return device_register_io(env->pio, ACPI_PM_BASE, ACPI_PM_PORT_LEN, acpi_pm_io, pm,
				  "acpi-pm", err);
}

const struct device_kind acpi_pm_kind = { "acpi-pm", acpi_pm_create };
