// SPDX-License-Identifier: MIT
#include "devices/debug_exit.h"

#include "bus/io_bus.h"

void debug_exit_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct debug_exit *dev = ctx;
	uint64_t code;

	(void)offset;
	if (!is_write) {
		io_data_put(data, size, ~0ULL);
		return;
	}
	code = io_data_get(data, size);
	/* The OS keeps only the low 8 bits of an exit status. */
	machine_stop(dev->machine, MACHINE_STOP_DEBUG_EXIT, (int)(((code << 1) | 1) & 0xff));
}
