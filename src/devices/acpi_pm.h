/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware: PM1a event and control blocks and the PM timer, at
 * the ports the FADT advertises (x86/layout.h). Writing SLP_EN with the
 * \_S5 sleep type powers the machine off.
 */
#ifndef KILN_DEVICES_ACPI_PM_H
#define KILN_DEVICES_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/device.h"

#define ACPI_PM_PORT_LEN 12
#define ACPI_PM_TIMER_HZ 3579545ULL

struct acpi_pm {
	pthread_mutex_t lock;
	const struct machine_ops *machine;
	uint16_t pm1_status, pm1_enable, pm1_control;
	uint64_t timer_origin_ns;
};

void acpi_pm_init(struct acpi_pm *pm, const struct machine_ops *machine);
void acpi_pm_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* The board's entry: the PM1 block and PM timer at ACPI_PM_BASE. */
extern const struct device_kind acpi_pm_kind;

#endif
