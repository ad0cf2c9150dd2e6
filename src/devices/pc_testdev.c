// SPDX-License-Identifier: MIT
#include "devices/pc_testdev.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

#include "bus/io_bus.h"
#include "util/state_buf.h"

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

#define PC_TESTDEV_STATE_VERSION 1

/* The scratch register and the MMIO buffer; the interrupt lines it drives
 * are the interrupt controller's state. */
static int pc_testdev_save(struct device *device, struct device_state *out, struct kiln_err *err)
{
	struct pc_testdev *dev = device->priv;
	struct state_writer w = { 0 };

	pthread_mutex_lock(&dev->lock);
	state_put_bytes(&w, dev->scratch, sizeof(dev->scratch));
	state_put_bytes(&w, dev->buffer, sizeof(dev->buffer));
	pthread_mutex_unlock(&dev->lock);
	return device_state_finish(&w, PC_TESTDEV_STATE_VERSION, out, device->name, err);
}

static int pc_testdev_load(struct device *device, const struct device_state *in,
			   struct kiln_err *err)
{
	struct pc_testdev *dev = device->priv, *s;
	struct state_reader r = state_reader_init(in->data, in->len);
	int ret = device_state_check_version(in, PC_TESTDEV_STATE_VERSION, device->name, err);

	if (ret)
		return ret;
	s = malloc(sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, "%s: out of memory", device->name);
	/* Every byte value is one the guest could have written. */
	state_get_bytes(&r, s->scratch, sizeof(s->scratch));
	state_get_bytes(&r, s->buffer, sizeof(s->buffer));
	ret = device_state_check_length(&r, device->name, err);
	if (!ret) {
		pthread_mutex_lock(&dev->lock);
		memcpy(dev->scratch, s->scratch, sizeof(dev->scratch));
		memcpy(dev->buffer, s->buffer, sizeof(dev->buffer));
		pthread_mutex_unlock(&dev->lock);
	}
	free(s);
	return ret;
}

static const struct device_ops pc_testdev_ops = {
	.save = pc_testdev_save, .load = pc_testdev_load,
};

/* Only with --test-devices: a production guest has no use for a scratch
 * register, a 64 KiB MMIO buffer and a way to raise any interrupt line, and
 * each is attack surface. */
static int pc_testdev_create(const struct device_env *env, struct kiln_err *err)
{
	struct pc_testdev *dev;
	int ret;

	if (!env->cfg->test_devices)
		return 0;
	dev = device_list_add_new(env->devices, "pc-testdev", sizeof(*dev), &pc_testdev_ops,
				  err);
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
