// SPDX-License-Identifier: MIT
#include "devices/pc_testdev.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

#include "bus/io_bus.h"

#define SINK_OFFSET 4 /* ports 0xe4-0xe7: one ignored 32-bit register */

void pc_testdev_init(struct pc_testdev *dev, const struct machine_ops *machine)
{
	memset(dev, 0, sizeof(*dev));
	pthread_mutex_init(&dev->lock, NULL);
	dev->machine = machine;
}

void pc_testdev_port_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
			bool is_write)
{
	struct pc_testdev *dev = ctx;

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < size; i++) {
		uint64_t port = offset + i;

		/* Bytes past 0xeb (a wide access at the mirror's end) and the
		 * sink at 0xe4 belong to no register; the mirror must not wrap
		 * them into the scratch bytes. */
		if (port >= PC_TESTDEV_SCRATCH_LEN ||
		    (port >= SINK_OFFSET && port < SINK_OFFSET + 4)) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		/* 0xe8-0xeb are the same four bytes as 0xe0-0xe3. */
		if (is_write)
			dev->scratch[port & 3] = data[i];
		else
			data[i] = dev->scratch[port & 3];
	}
	pthread_mutex_unlock(&dev->lock);
}

void pc_testdev_irq_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
		       bool is_write)
{
	struct pc_testdev *dev = ctx;

	if (!is_write) {
		io_data_put(data, size, ~0ULL);
		return;
	}
	machine_set_irq(dev->machine, (unsigned int)offset, data[0] != 0);
}

void pc_testdev_mmio(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
		     bool is_write)
{
	struct pc_testdev *dev = ctx;

	/* An access straddling the end is clipped, not allowed past it. */
	if (offset >= PC_TESTDEV_MMIO_LEN)
		return;
	if (size > PC_TESTDEV_MMIO_LEN - offset)
		size = (unsigned int)(PC_TESTDEV_MMIO_LEN - offset);
	pthread_mutex_lock(&dev->lock);
	if (is_write)
		memcpy(dev->buffer + offset, data, size);
	else
		memcpy(data, dev->buffer + offset, size);
	pthread_mutex_unlock(&dev->lock);
}

/* Only with --test-devices: a production guest has no use for a scratch
 * register, a 64 KiB MMIO buffer and a way to raise any interrupt line, and
 * each is attack surface. */
static int pc_testdev_create(const struct device_env *env, struct kiln_err *err)
{
	struct pc_testdev *dev;
	int ret;

	if (!env->cfg->test_devices)
		return 0;
	dev = device_list_add_new(env->devices, "pc-testdev", sizeof(*dev), &device_no_ops, err);
	if (!dev)
		return err->code;
	pc_testdev_init(dev, env->machine);
	ret = device_register_io(env->pio, PC_TESTDEV_SCRATCH_PORT, PC_TESTDEV_SCRATCH_LEN,
				 pc_testdev_port_io, dev, "pc-testdev", err);
	if (!ret)
		ret = device_register_io(env->pio, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LINES,
					 pc_testdev_irq_io, dev, "pc-testdev-irq", err);
	if (!ret)
		ret = device_register_io(env->mmio, PC_TESTDEV_MMIO_BASE, PC_TESTDEV_MMIO_LEN,
					 pc_testdev_mmio, dev, "pc-testdev-mmio", err);
	return ret;
}

const struct device_kind pc_testdev_kind = { "pc-testdev", pc_testdev_create };
