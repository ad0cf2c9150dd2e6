/* SPDX-License-Identifier: MIT */
/*
 * Address-range dispatch for port I/O and MMIO. Devices register a range and
 * a handler; the vCPU loop hands every exit here. Devices never see
 * struct kvm_run. Registration happens before vCPUs start; lookups after
 * that are read-only, so no lock is needed on the hot path.
 */
#ifndef KILN_BUS_IO_BUS_H
#define KILN_BUS_IO_BUS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * offset is relative to the start of the registered range. data holds size
 * bytes (1, 2, 4 or 8), little-endian; for reads the handler fills it.
 */
typedef void (*io_handler_fn)(void *ctx, uint64_t offset, uint8_t *data,
			      unsigned int size, bool is_write);

struct io_range {
	uint64_t base;
	uint64_t len;
	io_handler_fn handler;
	void *ctx;
	const char *name;
};

#define IO_BUS_MAX_RANGES 64

struct io_bus {
	struct io_range ranges[IO_BUS_MAX_RANGES];
	unsigned int nr_ranges;
};

/* Returns 0, -EEXIST when the range overlaps one already registered,
 * -ENOSPC when full, -EINVAL for an empty or wrapping range. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
		    io_handler_fn handler, void *ctx, const char *name);

/*
 * Dispatch one access. Returns true when a device handled it; otherwise
 * reads are filled with all-ones (what an empty bus returns on a PC) and
 * writes are dropped, and false is returned.
 */
bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data,
		   unsigned int size, bool is_write);

/* Little-endian helpers for handlers. */
uint64_t io_data_get(const uint8_t *data, unsigned int size);
void io_data_put(uint8_t *data, unsigned int size, uint64_t value);

#endif
