// SPDX-License-Identifier: MIT
#include "devices/i8042.h"

#include <errno.h>
#include <stdlib.h>

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

static void i8042_free(struct device *dev)
{
	free(dev->priv);
}

static const struct device_ops i8042_ops = { .destroy = i8042_free };

static int i8042_create(const struct device_env *env, struct kiln_err *err)
{
	struct i8042 *dev = calloc(1, sizeof(*dev));
	int ret;

	if (!dev)
		return err_set(err, -ENOMEM, "out of memory for the i8042");
	dev->machine = env->machine;
	ret = device_list_add(env->devices, "i8042", &i8042_ops, dev);
	if (ret) {
		free(dev);
		return err_set_errno(err, ret, "cannot add the i8042");
	}
	ret = device_register_io(env->pio, I8042_DATA_PORT, 1, i8042_data_io, dev, "i8042", err);
	if (!ret)
		ret = device_register_io(env->pio, I8042_COMMAND_PORT, 1, i8042_command_io, dev,
					 "i8042", err);
	return ret;
}

const struct device_kind i8042_kind = { "i8042", i8042_create };
