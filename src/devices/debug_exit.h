/* SPDX-License-Identifier: MIT */
/* isa-debug-exit (QEMU's test device): a write of code ends the VM with
 * exit status (code << 1) | 1, so a guest can never exit 0 through it. */
#ifndef KILN_DEVICES_DEBUG_EXIT_H
#define KILN_DEVICES_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/device.h"

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_LEN  4

struct debug_exit {
	const struct machine_ops *machine;
};

void debug_exit_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* The board's entry: isa-debug-exit at 0xf4 with --debug-exit. */
extern const struct device_kind debug_exit_kind;

#endif
