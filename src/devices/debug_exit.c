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

static void debug_exit_free(struct device *dev)
{
	free(dev->priv);
}

static const struct device_ops debug_exit_ops = { .destroy = debug_exit_free };

static int debug_exit_create(const struct device_env *env, struct kiln_err *err)
{
	struct debug_exit *dev;
	int ret;

	if (!env->cfg->debug_exit)
		return 0;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return err_set(err, -ENOMEM, "out of memory for debug-exit");
	dev->machine = env->machine;
	ret = device_list_add(env->devices, "debug-exit", &debug_exit_ops, dev);
	if (ret) {
		free(dev);
		return err_set_errno(err, ret, "cannot add debug-exit");
	}
	return device_register_io(env->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, debug_exit_io, dev,
				  "debug-exit", err);
}

const struct device_kind debug_exit_kind = { "debug-exit", debug_exit_create };
