/* SPDX-License-Identifier: MIT */
/*
 * What a platform device may ask of the machine it sits in: stop it (power
 * off, reset, debug exit), put it to sleep and wake it (ACPI S3), or drive
 * an interrupt line. The VM layer provides these; devices never call KVM
 * themselves.
 */
#ifndef KILN_DEVICES_MACHINE_H
#define KILN_DEVICES_MACHINE_H

#include <stdbool.h>

enum machine_stop_reason {
	MACHINE_STOP_NONE = 0,
	MACHINE_STOP_POWEROFF,   /* ACPI S5, KVM system event: status 0 */
	MACHINE_STOP_RESET,      /* i8042 / ACPI reset: status 0 */
	MACHINE_STOP_DEBUG_EXIT, /* isa-debug-exit: status (code << 1) | 1 */
	MACHINE_STOP_SIGNAL,     /* SIGINT/SIGTERM or the quit key: status 0 */
	MACHINE_STOP_ERROR,      /* triple fault, internal error: status 1 */
};

struct machine_ops {
	/* First caller wins; later calls are ignored. Safe from any thread. */
	void (*stop)(void *ctx, enum machine_stop_reason reason, int exit_status);
	/* Drive an ISA/GSI interrupt line to level (0 or 1). */
	void (*set_irq)(void *ctx, unsigned int gsi, int level);
	/* ACPI S3: stop every vCPU with memory kept, until wake. Safe from
	 * any thread, a vCPU's own included (it stops after its exit). */
	void (*suspend)(void *ctx);
	/* Leave S3: every vCPU is reset to its wake state (the boot CPU at the
	 * firmware waking vector, the others waiting for INIT/SIPI). */
	void (*wake)(void *ctx);
	void *ctx;
};

static inline void machine_stop(const struct machine_ops *m, enum machine_stop_reason reason,
				int exit_status)
{
	m->stop(m->ctx, reason, exit_status);
}

/* false when the machine cannot sleep (a test's fake without it). */
static inline bool machine_suspend(const struct machine_ops *m)
{
	if (!m->suspend)
		return false;
	m->suspend(m->ctx);
	return true;
}

static inline void machine_wake(const struct machine_ops *m)
{
	if (m->wake)
		m->wake(m->ctx);
}

static inline void machine_set_irq(const struct machine_ops *m, unsigned int gsi, int level)
{
	m->set_irq(m->ctx, gsi, level);
}

#endif
