// SPDX-License-Identifier: MIT
#include "devices/debug_exit.h"

#include <errno.h>
#include <stdlib.h>

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

static int debug_exit_create(const struct device_env *env, struct kiln_err *err)
{
	struct debug_exit *dev;

	if (!env->cfg->debug_exit)
		return 0;
	dev = device_list_add_new(env->devices, "debug-exit", sizeof(*dev), &device_no_ops, err);
	if (!dev)
		return err->code;
	dev->machine = env->machine;
	return device_register_io(env->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, debug_exit_io, dev,
				  "debug-exit", err);
}

const struct device_kind debug_exit_kind = { "debug-exit", debug_exit_create };
