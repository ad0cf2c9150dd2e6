/* SPDX-License-Identifier: MIT */
/*
 * What a platform device may ask of the machine it sits in: stop it (power
 * off, reset, debug exit) or drive an interrupt line. The VM layer provides
 * these; devices never call KVM themselves.
 */
#ifndef KILN_DEVICES_MACHINE_H
#define KILN_DEVICES_MACHINE_H

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
	void *ctx;
};

static inline void machine_stop(const struct machine_ops *m, enum machine_stop_reason reason,
				int exit_status)
{
	m->stop(m->ctx, reason, exit_status);
}

static inline void machine_set_irq(const struct machine_ops *m, unsigned int gsi, int level)
{
	m->set_irq(m->ctx, gsi, level);
}

#endif
