/* SPDX-License-Identifier: MIT */
/*
 * QEMU's pc-testdev, which some kvm-unit-tests use: a 32-bit scratch
 * register at ports 0xe0-0xe3 (mirrored at 0xe8-0xeb), an ignored port 0xe4,
 * interrupt-line control at 0x2000-0x2017 (a byte write sets line
 * port - 0x2000 to value != 0), and a 64 KiB scratch buffer at 0xff000000
 * that is served by MMIO exits, not RAM.
 */
#ifndef KILN_DEVICES_PC_TESTDEV_H
#define KILN_DEVICES_PC_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/device.h"

#define PC_TESTDEV_SCRATCH_PORT 0xe0
#define PC_TESTDEV_SCRATCH_LEN  0x0c     /* 0xe0-0xeb: scratch, 0xe4 sink, mirror */
#define PC_TESTDEV_IRQ_PORT     0x2000
#define PC_TESTDEV_IRQ_LINES    24
#define PC_TESTDEV_MMIO_BASE    0xff000000ULL
#define PC_TESTDEV_MMIO_LEN     0x10000ULL

struct pc_testdev {
	pthread_mutex_t lock;
	const struct machine_ops *machine;
	uint8_t scratch[4];
	uint8_t buffer[PC_TESTDEV_MMIO_LEN];
};

void pc_testdev_init(struct pc_testdev *dev, const struct machine_ops *machine);
void pc_testdev_port_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
			bool is_write);
void pc_testdev_irq_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
		       bool is_write);
void pc_testdev_mmio(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
		     bool is_write);

/* The board's entry: QEMU's test device, for kvm-unit-tests-style guests,
 * with --test-devices only. */
extern const struct device_kind pc_testdev_kind;

#endif
