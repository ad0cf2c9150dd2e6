// SPDX-License-Identifier: MIT
#include "devices/i8042.h"

#include "bus/io_bus.h"

#define I8042_CMD_PULSE_RESET 0xfe

void i8042_data_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	(void)ctx;
	(void)offset;
	/* No keyboard: reads see an empty output buffer, writes are dropped. */
	if (!is_write)
		io_data_put(data, size, 0);
}

void i8042_command_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct i8042 *dev = ctx;

	(void)offset;
	if (!is_write) {
		io_data_put(data, size, 0); /* status: both buffers empty */
		return;
	}
	if ((data[0] & 0xff) == I8042_CMD_PULSE_RESET)
		machine_stop(dev->machine, MACHINE_STOP_RESET, 0);
}
