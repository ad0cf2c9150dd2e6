/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware: PM1a event and control blocks and the PM timer, at
 * the ports the FADT advertises (x86/layout.h). Writing SLP_EN with the
 * \_S5 sleep type powers the machine off; with the \_S3 type the machine
 * sleeps (memory kept) until a wake event: the RTC's alarm with RTC_EN set,
 * or the power button, which wakes a sleeping machine whatever PWRBTN_EN
 * says (ACPI 6.5, 4.8.3.1). Waking sets WAK_STS.
 *
 * The SCI (IRQ 9, level) is up while SCI_EN is set and a status bit's
 * enable is set (power button, RTC, the ones kiln raises).
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

/* PM1 status and enable bits (ACPI 6.5, 4.8.3.1). */
#define ACPI_PM1_TMR         (1u << 0)
#define ACPI_PM1_GBL         (1u << 5)
#define ACPI_PM1_PWRBTN      (1u << 8)
#define ACPI_PM1_SLPBTN      (1u << 9)
#define ACPI_PM1_RTC         (1u << 10)
#define ACPI_PM1_WAK_STS     (1u << 15)
/* PM1 control. */
#define ACPI_PM1_SCI_EN      (1u << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7u << ACPI_PM1_SLP_TYP_SHIFT)

/* Everything the guest can observe, in one place for save and load. */
struct acpi_pm_state {
	uint16_t pm1_status, pm1_enable, pm1_control;
	bool sleeping;            /* in S3, waiting for a wake event */
	bool sci_high;            /* the SCI line as last driven */
};

struct acpi_pm {
	pthread_mutex_t lock;
	const struct machine_ops *machine;
	struct acpi_pm_state s;
	uint64_t timer_origin_ns;
};

void acpi_pm_init(struct acpi_pm *pm, const struct machine_ops *machine);
void acpi_pm_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* The RTC raised its interrupt (wired to RTC_STS, as on a PC chipset):
 * a wake event in S3 when RTC_EN is set. Safe from any thread. */
void acpi_pm_rtc_event(void *pm);
/* Press the power button. It only wakes a sleeping machine (true); a
 * running one is left alone (false: kiln's FADT has no fixed power
 * button, so a running guest would not look at PWRBTN_STS). */
bool acpi_pm_power_button_wake(struct acpi_pm *pm);
bool acpi_pm_sleeping(struct acpi_pm *pm);

/* The board's entry: the PM1 block and PM timer at ACPI_PM_BASE. */
extern const struct device_kind acpi_pm_kind;

#endif
