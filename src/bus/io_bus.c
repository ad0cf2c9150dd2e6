// SPDX-License-Identifier: MIT
#include "bus/io_bus.h"

#include <errno.h>
#include <string.h>

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
		    io_handler_fn handler, void *ctx, const char *name)
{
	if (len == 0 || base + len < base || !handler)
		return -EINVAL;
	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		const struct io_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (bus->nr_ranges == IO_BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->nr_ranges++] = (struct io_range){
		.base = base, .len = len, .handler = handler, .ctx = ctx, .name = name,
	};
	return 0;
}

bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data,
		   unsigned int size, bool is_write)
{
	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		const struct io_range *r = &bus->ranges[i];

		if (addr < r->base || addr - r->base >= r->len)
			continue;
		r->handler(r->ctx, addr - r->base, data, size, is_write);
		return true;
	}
	if (!is_write)
		memset(data, 0xff, size);
	return false;
}

uint64_t io_data_get(const uint8_t *data, unsigned int size)
{
	uint64_t value = 0;

	for (unsigned int i = 0; i < size && i < 8; i++)
		value |= (uint64_t)data[i] << (8 * i);
	return value;
}

void io_data_put(uint8_t *data, unsigned int size, uint64_t value)
{
	for (unsigned int i = 0; i < size && i < 8; i++)
		data[i] = (uint8_t)(value >> (8 * i));
}
