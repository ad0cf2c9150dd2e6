/* SPDX-License-Identifier: MIT */
/* Just enough of the PS/2 controller for a guest to reset the machine
 * (command 0xfe, pulse reset line) and for probes to see an idle device. */
#ifndef KILN_DEVICES_I8042_H
#define KILN_DEVICES_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/device.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64

struct i8042 {
	const struct machine_ops *machine;
};

void i8042_data_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);
void i8042_command_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* The board's entry: the keyboard controller at 0x60/0x64. */
extern const struct device_kind i8042_kind;

#endif
